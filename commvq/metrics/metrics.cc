#include "commvq/metrics/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "commvq/base/status_macros.h"
#include "commvq/base/thread_pool.h"

namespace commvq {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// InvalidArgument naming the first NaN or Inf in `tensor`, which must have
// passed CheckTensor as an f32 [rows, cols] tensor. Checked up front because
// a single NaN would otherwise silently turn every metric into NaN.
absl::Status CheckFinite(const TensorView& tensor, absl::string_view name) {
  const absl::Span<const float> data = tensor.span<float>();
  for (size_t i = 0; i < data.size(); ++i) {
    if (std::isfinite(data[i])) continue;
    const int64_t index = static_cast<int64_t>(i);
    const int64_t cols = tensor.dim(1);
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": element ", index, " (row ", index / cols, ", column ",
        index % cols, ") is ", data[i], ", expected a finite value"));
  }
  return absl::OkStatus();
}

// error_sq / reference_sq for two sums of squares. A zero reference means an
// all-zero reference tensor (a nonzero f32 squared never underflows in
// double), against which no error is 0 and any error is infinitely large.
double RelativeError(double error_sq, double reference_sq) {
  if (reference_sq > 0.0) return error_sq / reference_sq;
  return error_sq == 0.0 ? 0.0 : kInf;
}

// cos(x, y) from x.y, |x|^2 and |y|^2; see ReconstructionError::mean_cosine
// for the zero-vector cases.
double Cosine(double dot, double norm_sq_x, double norm_sq_y) {
  if (norm_sq_x == 0.0 && norm_sq_y == 0.0) return 1.0;
  if (norm_sq_x == 0.0 || norm_sq_y == 0.0) return 0.0;
  // One sqrt of the product rather than a product of two sqrts: for x == y,
  // sqrt(|x|^2 * |x|^2) rounds back to exactly |x|^2, giving exactly 1. The
  // clamp catches rounding just past +-1 for nearly parallel vectors.
  return std::clamp(dot / std::sqrt(norm_sq_x * norm_sq_y), -1.0, 1.0);
}

// Writes log softmax_j(scale * query . keys_j) for j in [0, count).
//   query:     [d].
//   keys:      [count, d], row-major.
//   log_probs: [count] (or longer; the rest is left alone).
// Working in log space keeps log p_j finite where p_j itself underflows to 0,
// which is what keeps KL(p || p') finite.
void LogSoftmax(const float* query, const float* keys, int64_t d,
                int64_t count, double scale, double* log_probs) {
  double max_score = -kInf;
  for (int64_t j = 0; j < count; ++j) {
    const float* key = keys + j * d;
    double dot = 0.0;
    for (int64_t c = 0; c < d; ++c) {
      dot += static_cast<double>(query[c]) * key[c];
    }
    log_probs[j] = scale * dot;
    max_score = std::max(max_score, log_probs[j]);
  }
  // Shifting by the maximum makes every exp() <= 1 (no overflow) and the
  // largest exactly 1 (the sum cannot underflow to 0).
  double sum = 0.0;
  for (int64_t j = 0; j < count; ++j) {
    log_probs[j] -= max_score;
    sum += std::exp(log_probs[j]);
  }
  const double log_sum = std::log(sum);
  for (int64_t j = 0; j < count; ++j) log_probs[j] -= log_sum;
}

// One query's contribution to AttentionError, kept per query so the totals
// can be summed in query order whatever the thread split.
struct QueryError {
  double kl = 0.0;
  double error_sq = 0.0;   // ||o - o'||^2.
  double output_sq = 0.0;  // ||o||^2.
  double max_abs = 0.0;
};

}  // namespace

absl::StatusOr<ReconstructionError> MeasureReconstruction(
    const TensorView& original, const TensorView& reconstruction) {
  CVQ_RETURN_IF_ERROR(
      CheckTensor(original, "original", DType::kF32, {kAnyDim, kAnyDim}));
  CVQ_RETURN_IF_ERROR(CheckTensor(reconstruction, "reconstruction",
                                  DType::kF32, {kAnyDim, kAnyDim}));
  if (reconstruction.shape() != original.shape()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "reconstruction: shape ", ShapeToString(reconstruction.shape()),
        " differs from original's shape ", ShapeToString(original.shape())));
  }
  CVQ_RETURN_IF_ERROR(CheckFinite(original, "original"));
  CVQ_RETURN_IF_ERROR(CheckFinite(reconstruction, "reconstruction"));

  const int64_t n = original.dim(0);
  const int64_t d = original.dim(1);
  const float* x = original.span<float>().data();
  const float* y = reconstruction.span<float>().data();
  double error_sq = 0.0;
  double original_sq = 0.0;
  double cosine_sum = 0.0;
  double max_abs = 0.0;
  for (int64_t row = 0; row < n; ++row) {
    double dot = 0.0, x_sq = 0.0, y_sq = 0.0;
    for (int64_t i = row * d; i < (row + 1) * d; ++i) {
      const double xi = x[i];
      const double yi = y[i];
      const double diff = xi - yi;
      error_sq += diff * diff;
      max_abs = std::max(max_abs, std::abs(diff));
      dot += xi * yi;
      x_sq += xi * xi;
      y_sq += yi * yi;
    }
    original_sq += x_sq;
    cosine_sum += Cosine(dot, x_sq, y_sq);
  }

  ReconstructionError result;
  result.count = n * d;
  result.mse = result.count == 0 ? 0.0 : error_sq / result.count;
  result.relative_mse = RelativeError(error_sq, original_sq);
  result.mean_cosine = n == 0 ? 1.0 : cosine_sum / n;
  result.max_abs_error = max_abs;
  return result;
}

absl::StatusOr<AttentionError> MeasureAttention(
    const TensorView& queries, const TensorView& keys,
    const TensorView& values, const TensorView& reconstructed_keys,
    const TensorView& reconstructed_values,
    const AttentionErrorOptions& options) {
  CVQ_RETURN_IF_ERROR(
      CheckTensor(queries, "queries", DType::kF32, {kAnyDim, kAnyDim}));
  const int64_t m = queries.dim(0);
  const int64_t d = queries.dim(1);
  if (d < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "queries: expected a head dimension of at least 1, got shape ",
        ShapeToString(queries.shape())));
  }
  CVQ_RETURN_IF_ERROR(CheckTensor(keys, "keys", DType::kF32, {kAnyDim, d}));
  const int64_t n = keys.dim(0);
  if (n < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("keys: expected at least one key to attend, got shape ",
                     ShapeToString(keys.shape())));
  }
  CVQ_RETURN_IF_ERROR(
      CheckTensor(values, "values", DType::kF32, {n, kAnyDim}));
  const int64_t dv = values.dim(1);
  CVQ_RETURN_IF_ERROR(CheckTensor(reconstructed_keys, "reconstructed_keys",
                                  DType::kF32, {n, d}));
  CVQ_RETURN_IF_ERROR(CheckTensor(reconstructed_values, "reconstructed_values",
                                  DType::kF32, {n, dv}));
  if (!std::isfinite(options.scale)) {
    return absl::InvalidArgumentError(
        absl::StrCat("options.scale: expected a finite value, got ",
                     options.scale));
  }
  if (options.causal && m > n) {
    return absl::InvalidArgumentError(absl::StrCat(
        "causal attention places the queries at the last positions, so it "
        "needs at most as many queries as keys: queries has shape ",
        ShapeToString(queries.shape()), ", keys ",
        ShapeToString(keys.shape())));
  }
  CVQ_RETURN_IF_ERROR(CheckFinite(queries, "queries"));
  CVQ_RETURN_IF_ERROR(CheckFinite(keys, "keys"));
  CVQ_RETURN_IF_ERROR(CheckFinite(values, "values"));
  CVQ_RETURN_IF_ERROR(CheckFinite(reconstructed_keys, "reconstructed_keys"));
  CVQ_RETURN_IF_ERROR(
      CheckFinite(reconstructed_values, "reconstructed_values"));

  const double scale = options.scale == 0.0f
                           ? 1.0 / std::sqrt(static_cast<double>(d))
                           : static_cast<double>(options.scale);
  const float* q = queries.span<float>().data();
  const float* k = keys.span<float>().data();
  const float* v = values.span<float>().data();
  const float* k_rec = reconstructed_keys.span<float>().data();
  const float* v_rec = reconstructed_values.span<float>().data();

  std::vector<QueryError> per_query(m);
  const auto measure_queries = [&](int64_t begin, int64_t end) {
    std::vector<double> log_p(n), log_p_rec(n), out(dv), out_rec(dv);
    for (int64_t i = begin; i < end; ++i) {
      const int64_t visible = options.causal ? n - m + i + 1 : n;
      LogSoftmax(q + i * d, k, d, visible, scale, log_p.data());
      LogSoftmax(q + i * d, k_rec, d, visible, scale, log_p_rec.data());
      std::fill(out.begin(), out.end(), 0.0);
      std::fill(out_rec.begin(), out_rec.end(), 0.0);
      QueryError& error = per_query[i];
      for (int64_t j = 0; j < visible; ++j) {
        const double p = std::exp(log_p[j]);
        const double p_rec = std::exp(log_p_rec[j]);
        // Both logs are finite, so a p_rec that underflowed to 0 still gives
        // a finite (large) term instead of log(p / 0).
        error.kl += p * (log_p[j] - log_p_rec[j]);
        for (int64_t c = 0; c < dv; ++c) {
          out[c] += p * v[j * dv + c];
          out_rec[c] += p_rec * v_rec[j * dv + c];
        }
      }
      // KL >= 0 in exact arithmetic; rounding can leave a tiny negative sum
      // when p and p_rec nearly agree.
      error.kl = std::max(error.kl, 0.0);
      for (int64_t c = 0; c < dv; ++c) {
        const double diff = out[c] - out_rec[c];
        error.error_sq += diff * diff;
        error.output_sq += out[c] * out[c];
        error.max_abs = std::max(error.max_abs, std::abs(diff));
      }
    }
  };
  if (options.pool == nullptr) {
    measure_queries(0, m);
  } else {
    // Enough queries per chunk to outweigh the cost of handing it to a
    // worker; estimated in double because n * (d + dv) can overflow int64.
    constexpr double kMinWorkPerChunk = 1 << 16;
    const double work_per_query = 2.0 * n * (static_cast<double>(d) + dv) + 1;
    const int64_t grain = static_cast<int64_t>(
        std::max(1.0, kMinWorkPerChunk / work_per_query));
    options.pool->ParallelFor(0, m, grain, measure_queries);
  }

  double kl_sum = 0.0;
  double error_sq = 0.0;
  double output_sq = 0.0;
  AttentionError result;
  for (const QueryError& error : per_query) {
    kl_sum += error.kl;
    error_sq += error.error_sq;
    output_sq += error.output_sq;
    result.max_abs_output_error =
        std::max(result.max_abs_output_error, error.max_abs);
  }
  result.softmax_kl = m == 0 ? 0.0 : kl_sum / m;
  result.output_relative_error = RelativeError(error_sq, output_sq);
  return result;
}

}  // namespace commvq
