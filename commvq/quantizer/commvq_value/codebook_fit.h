// Training pieces of the CommVQ value quantizer shared by the registry's
// light trainer (commvq_value_quantizer.cc) and the full trainer
// (training/value/): the per-channel scale and prescale, the least-squares
// codebook for given codes, and its alternation with the search encoder.
#ifndef COMMVQ_QUANTIZER_COMMVQ_VALUE_CODEBOOK_FIT_H_
#define COMMVQ_QUANTIZER_COMMVQ_VALUE_CODEBOOK_FIT_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "commvq/quantizer/commvq_value/search_encode.h"

namespace commvq {

class ThreadPool;

// Mean |x| of each channel over rows [n, dim] (the official frozen scale);
// channels whose mean is zero (or not a normal float) get 1.
std::vector<float> ValueChannelScale(const float* x, int64_t n, int64_t dim);

// u = x / scale and returns p = ||u||; writes unit = u / p, or zeros when p
// is 0. All [dim].
double PrescaleToUnit(const float* x, const float* scale, int64_t dim,
                      float* unit);

// The codebook C ([nc, dim]) minimizing
//   sum_n ||targets_n - bits_n C||^2 + ridge * n * ||C||^2
// (bits: [n, nc] 0/1 bytes, targets: [n, dim]), by Cholesky on the normal
// equations (S^T S + ridge n I) C = S^T U in double. ridge > 0 keeps
// the system definite even for bits that are never on (their rows are 0).
// Deterministic whatever `pool`. InvalidArgument for ridge <= 0 or n < 1.
absl::StatusOr<std::vector<float>> FitValueCodebook(const uint8_t* bits,
                                                    const float* targets,
                                                    int64_t n, int64_t nc,
                                                    int64_t dim, double ridge,
                                                    ThreadPool* pool);

// Starting codes correlated with the data: bit i of row n is
// [u_n . w_i > 0] for a Gaussian w_i drawn from Rng(seed).Fork(i).
void InitialValueCodes(const float* units, int64_t n, int64_t dim, int64_t nc,
                       uint64_t seed, uint8_t* bits);

struct ValueCodebookTrainOptions {
  // Rounds of (least squares, then search), >= 1.
  int iterations = 6;
  double ridge = 1e-3;
  ValueSearchOptions search;
  // Per-channel weights of the search objective ([dim]; empty = all 1):
  // channel_scale^2, as the quantizer encodes.
  std::vector<float> channel_weights;
  uint64_t seed = 0;
  ThreadPool* pool = nullptr;  // not owned; results do not depend on it
  std::function<void(double)> progress;  // completed fraction; may be empty
};

struct ValueCodebookTrainResult {
  std::vector<float> codebook;  // [nc, dim]
  std::vector<uint8_t> bits;    // [n, nc]: the search codes for `codebook`
  // Mean (weighted) ||u - s C||^2 over the rows after each round's search.
  std::vector<double> mse;
};

// Alternates least squares (FitValueCodebook) and the search encoder on the
// rows `units` ([n, dim], typically PrescaleToUnit outputs), starting from
// InitialValueCodes. InvalidArgument for bad sizes or options.
absl::StatusOr<ValueCodebookTrainResult> TrainValueCodebookBySearch(
    const float* units, int64_t n, int64_t dim, int64_t nc,
    const ValueCodebookTrainOptions& options);

}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_COMMVQ_VALUE_CODEBOOK_FIT_H_
