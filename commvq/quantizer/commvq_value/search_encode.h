// The `search` encoder of the CommVQ value quantizer: no network, a local
// search for the code bits s in {0,1}^Nc that minimize ||x - s C||^2
// (docs/METHOD.md section 2), also the quality reference for the `mlp`
// encoder.
//
// With per-channel weights w (optional; all 1 otherwise) the objective is
// sum_c w_c (x - s C)_c^2: the quantizer passes channel_scale^2, so that the
// search minimizes the error of the decoded values, not of the scaled ones.
//
// The objective is ||x||^2 - 2 s.b + s G s with b = C W x and G = C W C^T, so a
// sweep visits the groups of two bits (2g, 2g + 1) in order and gives each
// the best of its four categories with the other groups fixed (iterated
// conditional modes), starting from the relaxed start below or from s = 0
// (greedy on the first sweep). r = G s is kept
// up to date incrementally, so choosing costs O(1) per group and a change
// O(Nc). Sweeps stop early once one changes nothing; every sweep can only
// lower the objective. Restart k >= 1 starts from bits drawn from the fixed
// stream Rng(k) (the same for every vector, so encoding stays a function of
// x alone) and the best result is kept.
#ifndef COMMVQ_QUANTIZER_COMMVQ_VALUE_SEARCH_ENCODE_H_
#define COMMVQ_QUANTIZER_COMMVQ_VALUE_SEARCH_ENCODE_H_

#include <cstdint>
#include <vector>

namespace commvq {

class ThreadPool;

struct ValueSearchOptions {
  int sweeps = 16;   // >= 1
  int restarts = 0;  // extra random starts, >= 0
  // Start from the rounded least-squares solution [(G + eps I)^-1 b > 1/2]
  // instead of s = 0 (15% lower error at 2 bits on real values, with
  // enough sweeps to settle).
  bool relaxed_start = true;
};

class ValueSearchEncoder {
 public:
  // codebook: [num_code_bits, dim] row-major (copied); num_code_bits even.
  // channel_weights: [dim], > 0 (copied), or null for all 1.
  ValueSearchEncoder(const float* codebook, int64_t num_code_bits, int64_t dim,
                     ValueSearchOptions options,
                     const float* channel_weights = nullptr);

  int64_t num_code_bits() const { return num_code_bits_; }
  int64_t dim() const { return dim_; }

  // Per-thread working memory of Encode.
  struct Scratch {
    std::vector<float> b, r;
    std::vector<uint8_t> s;
  };

  // The first start for x ([dim]): the relaxed one when
  // options.relaxed_start, else zeros ([num_code_bits] 0/1 bytes).
  void FirstStart(const float* x, uint8_t* bits) const;

  // Writes the bits (one 0/1 byte each, [num_code_bits]) found for x
  // ([dim]) and returns the weighted ||x - s C||^2 for them.
  double Encode(const float* x, uint8_t* bits, Scratch* scratch) const;

  // Encode for rows [n, dim] into bits [n, num_code_bits]; returns the sum
  // of the squared errors. The result does not depend on `pool`.
  double EncodeBatch(const float* x, int64_t n, uint8_t* bits,
                     ThreadPool* pool) const;

 private:
  // One descent from the bits in scratch->s (with r = G s in scratch->r).
  void Descend(Scratch* scratch) const;
  // b = C W x into scratch->b.
  void Project(const float* x, Scratch* scratch) const;
  // Bits [(G + eps I)^-1 b > 1/2].
  void RelaxedStart(const float* b, uint8_t* bits) const;

  int64_t num_code_bits_;
  int64_t dim_;
  ValueSearchOptions options_;
  std::vector<float> weighted_;  // C W: [Nc, d]
  std::vector<float> weights_;   // W: [d]
  std::vector<float> gram_;      // C W C^T: [Nc, Nc]
  // Cholesky factor of G + eps I when relaxed_start (empty otherwise).
  std::vector<double> factor_;
};

}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_COMMVQ_VALUE_SEARCH_ENCODE_H_
