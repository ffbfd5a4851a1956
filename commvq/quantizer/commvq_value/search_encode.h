// The `search` encoder of the CommVQ value quantizer: no network, a local
// search for the code bits s in {0,1}^Nc that minimize ||x - s C||^2
// (docs/METHOD.md section 2), also the quality reference for the `mlp`
// encoder.
//
// With per-channel weights w (optional; all 1 otherwise) the objective is
// sum_c w_c (x - s C)_c^2: the quantizer passes channel_scale^2, so that the
// search minimizes the error of the decoded values, not of the scaled ones.
//
// A sweep visits the groups of two bits (2g, 2g + 1) in order and gives each
// the best of its four categories with the other groups fixed (iterated
// conditional modes), starting from the relaxed start below or from s = 0
// (greedy on the first sweep). The residual e = x - s C and its weighted
// dot products with every codebook row, h = C W e, are kept up to date:
// scoring a group's four categories reads h_i, h_j and the group's 2 x 2
// block of G = C W C^T (O(1)), and a change adds two rows of C to e and two
// rows of G to h (O(d + Nc)). Real values change few groups per sweep (about
// 100 changes in 8 sweeps over 192 groups at d = 192, 2 bits), so a vector
// costs about the O(Nc d) of computing h once, not O(Nc d) per sweep.
// Sweeps stop early once one changes nothing; every sweep can only lower
// the objective. Restart k >= 1 starts from bits drawn from the fixed stream
// Rng(k) (the same for every vector, so encoding stays a function of x
// alone) and the best result is kept.
//
// Speed: vectors are encoded in blocks of kBlockVectors that sweep together,
// so each codebook row read from memory serves the whole block; the hot
// loops are vectorized, and built for AVX2 + FMA too, picked at run time.
// Every vector's decisions are those it would get alone, so results do not
// depend on the blocking or the threads; search_reference.h is the scalar
// reference the tests compare against.
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
  // (G = C W C^T, b = C W x) instead of s = 0 (15% lower error at 2 bits on
  // real values, with enough sweeps to settle).
  bool relaxed_start = true;
};

class ValueSearchEncoder {
 public:
  // Vectors searched together (see Speed above).
  static constexpr int64_t kBlockVectors = 16;

  // codebook: [num_code_bits, dim] row-major (copied); num_code_bits even.
  // channel_weights: [dim], > 0 (copied), or null for all 1.
  ValueSearchEncoder(const float* codebook, int64_t num_code_bits, int64_t dim,
                     ValueSearchOptions options,
                     const float* channel_weights = nullptr);

  int64_t num_code_bits() const { return num_code_bits_; }
  int64_t dim() const { return dim_; }

  // Per-thread working memory of the encoding calls.
  struct Scratch {
    std::vector<float> residual, dots;
    std::vector<uint8_t> s, active;
  };

  // The first start for x ([dim]): the relaxed one when
  // options.relaxed_start, else zeros ([num_code_bits] 0/1 bytes).
  void FirstStart(const float* x, uint8_t* bits) const;

  // Writes the bits (one 0/1 byte each, [num_code_bits]) found for x
  // ([dim]) and returns the weighted ||x - s C||^2 for them.
  double Encode(const float* x, uint8_t* bits, Scratch* scratch) const;

  // Encode for rows x [n, dim] on the calling thread, in blocks: bits
  // [n, num_code_bits]; errors [n] (may be null) get the objectives.
  void EncodeRows(const float* x, int64_t n, uint8_t* bits, double* errors,
                  Scratch* scratch) const;

  // EncodeRows over `pool` (may be null); returns the sum of the squared
  // errors. The result does not depend on `pool`.
  double EncodeBatch(const float* x, int64_t n, uint8_t* bits,
                     ThreadPool* pool) const;

  // The encoder's precomputed tables: the view of the block kernel
  // (search_encode.cc) and of the GPU search (kernels/cuda/value_codec.h),
  // which uploads them rather than recomputing them.
  struct Tables {
    int64_t num_code_bits, dim;
    ValueSearchOptions options;
    const float* codebook;  // C: [Nc, d]
    const float* weighted;  // C W: [Nc, d]
    const float* weights;   // W: [d]
    const float* gram;      // G = C W C^T: [Nc, Nc]
    const float* relaxed;   // (G + eps I)^-1 C W: [Nc, d], or null
  };
  // Valid while the encoder lives.
  Tables tables() const;

  // The starting bits ([num_code_bits] 0/1 bytes) of restart k >= 1, the
  // same for every vector.
  static void RestartStart(int restart, int64_t num_code_bits, uint8_t* bits);

 private:
  int64_t num_code_bits_;
  int64_t dim_;
  ValueSearchOptions options_;
  std::vector<float> codebook_;
  std::vector<float> weighted_;
  std::vector<float> weights_;
  std::vector<float> gram_;
  // Empty without the relaxed start (or should its factorization fail).
  std::vector<float> relaxed_;
};

}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_COMMVQ_VALUE_SEARCH_ENCODE_H_
