// Full-precision attention of one query, in double, and RoPE over a
// sequence: the ground truth that attention errors are measured against
// (kv_quality.h) and that the value trainer's attention term weighs tokens
// by (training/value/value_attention_blocks.h).
#ifndef COMMVQ_EVAL_EXACT_ATTENTION_H_
#define COMMVQ_EVAL_EXACT_ATTENTION_H_

#include <cstdint>
#include <vector>

namespace commvq {

class Rope;

// Applies RoPE at positions 0..n-1 to x: [n, heads, rope.head_dim()] in
// place.
void RotateSequence(const Rope& rope, int64_t n, int64_t heads,
                    std::vector<float>& x);

// p = softmax(scale q . k_j) over the n keys and o = sum_j p_j v_j, in
// double. q: [d]; key j at keys + j * stride and value j at
// values + j * stride ([d] each); weights: [n] (written, may be null);
// output: [d] (written).
void ExactAttention(const float* q, const float* keys, const float* values,
                    int64_t n, int64_t d, int64_t stride, double scale,
                    double* weights, double* output);

}  // namespace commvq

#endif  // COMMVQ_EVAL_EXACT_ATTENTION_H_
