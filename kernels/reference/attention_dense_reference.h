// Scalar oracles for the dense parts of attention: scores against full
// precision (or decoded) keys, the max-subtracted softmax, and the weighted
// sum of values. The compressed cache uses them for its full-precision window
// and for quantizers it can only decode; the optimized kernels are tested
// against them. Plain arrays only, so CPU and CUDA kernels share them as
// oracles.
#ifndef KERNELS_REFERENCE_ATTENTION_DENSE_REFERENCE_H_
#define KERNELS_REFERENCE_ATTENTION_DENSE_REFERENCE_H_

#include <cstdint>

namespace commvq {

// scores[t] = scale * dot(query, keys + t * key_stride) for t in [0, n).
// query: [head_dim]; keys: n rows of head_dim floats, key_stride apart.
void DenseScoresReference(const float* query, const float* keys,
                          int64_t key_stride, int64_t head_dim, int64_t n,
                          float scale, float* scores);

// Turns scores[0, n) into softmax weights in place: exp(s - max) / sum.
// n >= 1. Subtracting the maximum keeps every exp <= 1, so long contexts
// cannot overflow.
void SoftmaxReference(float* scores, int64_t n);

// out[c] += sum_t weights[t] * values[t * value_stride + c], c < head_dim.
void DenseWeightedSumReference(const float* weights, const float* values,
                               int64_t value_stride, int64_t head_dim,
                               int64_t n, float* out);

// Decode attention of `group` query heads sharing one KV head over n dense
// tokens (the fp32 / fp16 baselines of the attention benchmark): scores,
// softmax and weighted sum, reading each key and value once for the group.
// queries: [group, head_dim], rotated; keys, values: [n, head_dim] (one KV
// head, rotated keys), f32 or fp16 bits; scores: [group, n] scratch;
// out: [group, head_dim] (written). n >= 1.
void DenseGroupAttentionF32Reference(const float* queries, int group,
                                     const float* keys, const float* values,
                                     int64_t head_dim, int64_t n, float scale,
                                     float* scores, float* out);
void DenseGroupAttentionF16Reference(const float* queries, int group,
                                     const uint16_t* keys,
                                     const uint16_t* values, int64_t head_dim,
                                     int64_t n, float scale, float* scores,
                                     float* out);

}  // namespace commvq

#endif  // KERNELS_REFERENCE_ATTENTION_DENSE_REFERENCE_H_
