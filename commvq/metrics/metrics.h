// Quality metrics comparing a quantizer's reconstruction with the original
// tensors: element-wise reconstruction error, and the error it causes in
// single-head attention for given queries. Shared by tests, the CLI and the
// benchmarks so they all report the same numbers.
//
// Inputs are f32 but every product and sum is accumulated in double: a good
// quantizer's error can be far below the rounding error of an f32 sum over
// a large tensor, which would otherwise swamp it.
#ifndef COMMVQ_METRICS_METRICS_H_
#define COMMVQ_METRICS_METRICS_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "commvq/tensor/tensor_view.h"

namespace commvq {

class ThreadPool;

// Element-wise error of a reconstruction y of an original x, both [n, d].
struct ReconstructionError {
  // sum (x - y)^2 / count; 0 when count is 0.
  double mse = 0.0;
  // sum (x - y)^2 / sum x^2. For an all-zero (or empty) original this is 0
  // when the reconstruction is exactly equal to it and +inf otherwise: any
  // error is infinitely large relative to nothing.
  double relative_mse = 0.0;
  // Mean over the n rows of cos(x_i, y_i), in [-1, 1]. A row where both
  // vectors are zero counts as 1 (reproduced exactly), a row where exactly
  // one is zero counts as 0 (no direction in common). 1 when n is 0.
  double mean_cosine = 1.0;
  // max |x - y| over all elements; 0 when count is 0.
  double max_abs_error = 0.0;
  // Number of elements compared: n * d.
  int64_t count = 0;
};

// Compares `reconstruction` with `original`.
//   original:       f32 [n, d].
//   reconstruction: f32 [n, d], the same shape as `original`.
// InvalidArgument when either is not a rank-2 f32 tensor, when the shapes
// differ (naming both), or when either holds NaN or Inf (naming the argument
// and the element's index).
absl::StatusOr<ReconstructionError> MeasureReconstruction(
    const TensorView& original, const TensorView& reconstruction);

struct AttentionErrorOptions {
  // Queries are the last m of the n positions: query i (0-based) attends
  // keys [0, n - m + i] only. Requires m <= n.
  bool causal = false;
  // Multiplies q.k before the softmax. 0 (the default) means 1 / sqrt(d),
  // the usual scaled dot-product attention; any other finite value is used
  // as given.
  float scale = 0.0f;
  // Not owned; null runs on the calling thread. Splits the queries; the
  // results are bitwise identical for any pool or none.
  ThreadPool* pool = nullptr;
};

// How much replacing keys K and values V by their reconstructions K', V'
// changes single-head attention for the given queries, with
// p = softmax(scale * q K^T) and p' = softmax(scale * q K'^T) per query
// (masked when causal) and outputs O = p V, O' = p' V'.
struct AttentionError {
  // Mean over queries of KL(p || p') in nats; finite and >= 0, also when
  // some p'_j underflows to 0 (it is computed from log-softmax directly).
  // 0 when there are no queries.
  double softmax_kl = 0.0;
  // ||O - O'||_F^2 / ||O||_F^2. When O is all zero (e.g. all-zero values, or
  // no queries) this is 0 if O' is too and +inf otherwise, as for
  // ReconstructionError::relative_mse.
  double output_relative_error = 0.0;
  // max |O - O'| over all output elements; 0 when there are none.
  double max_abs_output_error = 0.0;
};

// Measures attention error; every tensor is f32:
//   queries:              [m, d], m >= 0, d >= 1.
//   keys:                 [n, d], n >= 1 (a softmax needs a key to attend).
//   values:               [n, dv].
//   reconstructed_keys:   [n, d], the reconstruction of `keys`.
//   reconstructed_values: [n, dv], the reconstruction of `values`.
// InvalidArgument naming the argument for a wrong shape or dtype, for NaN or
// Inf in any input (with the element's index), for a non-finite
// options.scale, and for causal attention with more queries than keys.
absl::StatusOr<AttentionError> MeasureAttention(
    const TensorView& queries, const TensorView& keys,
    const TensorView& values, const TensorView& reconstructed_keys,
    const TensorView& reconstructed_values,
    const AttentionErrorOptions& options = {});

}  // namespace commvq

#endif  // COMMVQ_METRICS_METRICS_H_
