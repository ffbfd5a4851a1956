#include "training/key_em_bench.h"

#include <chrono>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "commvq/base/random.h"
#include "commvq/base/status_macros.h"
#include "commvq/base/thread_pool.h"
#include "training/key_em.h"
#include "training/key_em_dense.h"

namespace commvq {
namespace {

constexpr int kPairs = 64;
constexpr int kHalfBits = 6;

std::vector<float> KeyLikeData(int64_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<double> scale(kPairs);
  for (double& s : scale) s = std::exp(0.7 * rng.Normal());
  const double target = 1.0 / std::sqrt(8.0);
  std::vector<float> data(n * 2 * kPairs);
  std::vector<double> x(2 * kPairs);
  for (int64_t i = 0; i < n; ++i) {
    double norm = 0.0;
    for (int k = 0; k < 2 * kPairs; ++k) {
      x[k] = scale[k / 2] * rng.Normal();
      norm += x[k] * x[k];
    }
    const double f = target / std::sqrt(norm);
    for (int k = 0; k < 2 * kPairs; ++k) {
      data[i * 2 * kPairs + k] = static_cast<float>(x[k] * f);
    }
  }
  return data;
}

struct Timed {
  KeyEmResult result;
  double seconds_per_iter = 0.0;
};

template <typename Train>
absl::StatusOr<Timed> Time(const Train& train, absl::Span<const float> data,
                           int64_t n, const KeyEmOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  CVQ_ASSIGN_OR_RETURN(KeyEmResult result, train(data, n, kPairs, options));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  // Every iteration runs one E-step and one M-step; the extra scoring
  // E-step of the last iterate is counted in.
  const double per_iter = seconds / result.iterations_run;
  return Timed{std::move(result), per_iter};
}

}  // namespace

absl::StatusOr<KeyEmBenchResult> RunKeyEmBench(
    const KeyEmBenchOptions& options) {
  const int64_t values = int64_t{1} << kHalfBits;
  if (options.vectors < values) {
    return absl::InvalidArgumentError(
        absl::StrCat("bench key-em: vectors is ", options.vectors,
                     ": expected at least ", values));
  }
  if (options.dense_vectors < values ||
      options.dense_vectors > options.vectors) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bench key-em: dense vectors is ", options.dense_vectors, ": expected ",
        values, " to vectors (", options.vectors, ")"));
  }
  if (options.iterations < 1 || options.threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("bench key-em: iterations ", options.iterations,
                     " and threads ", options.threads, ": expected both >= 1"));
  }
  const int64_t n = options.vectors;
  const int64_t dense_n = options.dense_vectors;
  const std::vector<float> data = KeyLikeData(n, options.seed);
  ThreadPool pool(options.threads);
  KeyEmOptions em;
  em.half_bits = kHalfBits;
  em.iterations = options.iterations;
  // No early stop: every run does the same number of iterations.
  em.patience = options.iterations + 1;
  em.pool = &pool;
  const absl::Span<const float> sub =
      absl::MakeConstSpan(data).subspan(0, dense_n * 2 * kPairs);

  CVQ_ASSIGN_OR_RETURN(const Timed full, Time(TrainKeyStage, data, n, em));
  CVQ_ASSIGN_OR_RETURN(const Timed structured_sub,
                       Time(TrainKeyStage, sub, dense_n, em));
  CVQ_ASSIGN_OR_RETURN(const Timed dense,
                       Time(TrainKeyStageDense, sub, dense_n, em));
  const KeyEmStats terms = ComputeKeyEmStats(data, n, kPairs, kHalfBits,
                                             full.result.z, em.t_start, &pool);

  KeyEmBenchResult result;
  result.seconds_per_iter = full.seconds_per_iter;
  result.dense_seconds_per_iter =
      dense.seconds_per_iter * static_cast<double>(n) / dense_n;
  result.mse = structured_sub.result.mse;
  result.dense_mse = dense.result.mse;
  result.mse_full_n = full.result.mse;
  result.softmax_terms_kept = static_cast<double>(terms.evaluated_terms) /
                              static_cast<double>(n * values * values);
  result.t_start = em.t_start;
  result.t_end = em.t_end;
  return result;
}

}  // namespace commvq
