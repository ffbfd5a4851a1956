// Times one key-codebook EM stage (N = 65536 vectors, d = 128, h = 6, 2
// threads) with the structured statistics of key_em.h against the dense
// reference of key_em_dense.h, and prints one JSON object.
//
// The data are synthetic key-like residuals of stage 0: Gaussian with
// per-pair scales spread log-normally (keys have outlier channels), each
// vector normalized to norm 1 / sqrt(8) (its share of a layer key normalized
// over 8 KV heads). The dense E-step costs O(N V^2 d), so it runs on the
// first `dense_n` vectors only and its time per iteration is scaled by
// N / dense_n; both MSEs in the JSON come from that same subsample, trained
// with the same options.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "commvq/base/random.h"
#include "commvq/base/thread_pool.h"
#include "training/key_em.h"
#include "training/key_em_dense.h"

namespace commvq {
namespace {

constexpr int64_t kN = 65536;
constexpr int kPairs = 64;
constexpr int kHalfBits = 6;
constexpr int kIterations = 4;
constexpr int kThreads = 2;

std::vector<float> KeyLikeData(int64_t n, int pairs, uint64_t seed) {
  Rng rng(seed);
  std::vector<double> scale(pairs);
  for (double& s : scale) s = std::exp(0.7 * rng.Normal());
  const double target = 1.0 / std::sqrt(8.0);
  std::vector<float> data(n * 2 * pairs);
  std::vector<double> x(2 * pairs);
  for (int64_t i = 0; i < n; ++i) {
    double norm = 0.0;
    for (int k = 0; k < 2 * pairs; ++k) {
      x[k] = scale[k / 2] * rng.Normal();
      norm += x[k] * x[k];
    }
    const double f = target / std::sqrt(norm);
    for (int k = 0; k < 2 * pairs; ++k) {
      data[i * 2 * pairs + k] = static_cast<float>(x[k] * f);
    }
  }
  return data;
}

struct Timed {
  KeyEmResult result;
  double seconds_per_iter;
};

template <typename Train>
Timed Time(const Train& train, absl::Span<const float> data, int64_t n,
           const KeyEmOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<KeyEmResult> result = train(data, n, kPairs, options);
  const double seconds = std::chrono::duration<double>(
                             std::chrono::steady_clock::now() - start)
                             .count();
  if (!result.ok()) {
    std::fprintf(stderr, "%s\n", result.status().ToString().c_str());
    std::exit(1);
  }
  // Every iteration runs one E-step and one M-step; the extra scoring
  // E-step of the last iterate is counted in.
  const double per_iter = seconds / result->iterations_run;
  return {*std::move(result), per_iter};
}

int Main(int argc, char** argv) {
  const int64_t dense_n = argc > 1 ? std::atoll(argv[1]) : 4096;
  const std::vector<float> data = KeyLikeData(kN, kPairs, 1);
  ThreadPool pool(kThreads);
  KeyEmOptions options;
  options.half_bits = kHalfBits;
  options.iterations = kIterations;
  options.patience = kIterations + 1;
  options.pool = &pool;
  const absl::Span<const float> sub =
      absl::MakeConstSpan(data).subspan(0, dense_n * 2 * kPairs);

  const Timed full = Time(TrainKeyStage, data, kN, options);
  const Timed structured_sub = Time(TrainKeyStage, sub, dense_n, options);
  const Timed dense = Time(TrainKeyStageDense, sub, dense_n, options);
  const KeyEmStats terms = ComputeKeyEmStats(
      data, kN, kPairs, kHalfBits, full.result.z, options.t_start, &pool);

  const double dense_scaled =
      dense.seconds_per_iter * static_cast<double>(kN) / dense_n;
  std::printf(
      "%s\n",
      absl::StrCat(
          "{\"seconds_per_iter\": ", full.seconds_per_iter,
          ", \"dense_seconds_per_iter\": ", dense_scaled,
          ", \"speedup\": ", dense_scaled / full.seconds_per_iter,
          ", \"mse\": ", structured_sub.result.mse,
          ", \"dense_mse\": ", dense.result.mse,
          ", \"mse_full_n\": ", full.result.mse,
          ", \"softmax_terms_kept_at_t_start\": ",
          static_cast<double>(terms.evaluated_terms) / (kN << (2 * kHalfBits)),
          ", \"n\": ", kN, ", \"dim\": ", 2 * kPairs, ", \"half_bits\": ",
          kHalfBits, ", \"threads\": ", kThreads, ", \"iterations\": ",
          kIterations,
          ", \"note\": \"dense timed on the first ", dense_n,
          " vectors and scaled by N / ", dense_n,
          "; mse and dense_mse both trained on that subsample; T from ",
          options.t_start, " to ", options.t_end, " over ", kIterations,
          " iterations\"}")
          .c_str());
  return 0;
}

}  // namespace
}  // namespace commvq

int main(int argc, char** argv) { return commvq::Main(argc, argv); }
