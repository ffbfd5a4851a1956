// The benchmark behind `commvq bench key-em`: one key-codebook EM stage
// (head_dim 128, h = 6) with the structured statistics of key_em.h against
// the dense official algorithm of key_em_dense.h, timed in one process.
//
// The data are synthetic key-like residuals of stage 0: Gaussian with
// per-pair scales spread log-normally (keys have outlier channels), each
// vector normalized to norm 1 / sqrt(8) (its share of a layer key normalized
// over 8 KV heads). The dense E-step costs O(N V^2 d), so it runs on the
// first `dense_vectors` vectors only and its time per iteration is scaled
// by N / dense_vectors (the cost is linear in N); the two MSEs compared come
// from that same subsample, trained with the same options.
#ifndef COMMVQ_TRAINING_KEY_EM_BENCH_H_
#define COMMVQ_TRAINING_KEY_EM_BENCH_H_

#include <cstdint>

#include "absl/status/statusor.h"

namespace commvq {

struct KeyEmBenchOptions {
  int64_t vectors = 65536;       // N, >= 2^6
  int64_t dense_vectors = 4096;  // in [2^6, N]
  int iterations = 4;            // EM iterations of every run, >= 1
  int threads = 2;               // >= 1
  uint64_t seed = 1;
};

struct KeyEmBenchResult {
  // Structured, on all N vectors.
  double seconds_per_iter = 0.0;
  // Dense, timed on dense_vectors and scaled to N.
  double dense_seconds_per_iter = 0.0;
  // Hard MSE after training on the dense subsample: structured and dense.
  double mse = 0.0;
  double dense_mse = 0.0;
  // Hard MSE of the structured run on all N vectors.
  double mse_full_n = 0.0;
  // Fraction of the N V^2 softmax terms the structured E-step evaluates at
  // the first temperature (the rest are provably negligible).
  double softmax_terms_kept = 0.0;
  // The annealing range the runs used.
  double t_start = 0.0;
  double t_end = 0.0;
};

// InvalidArgument naming a bad option; errors of the training runs.
absl::StatusOr<KeyEmBenchResult> RunKeyEmBench(
    const KeyEmBenchOptions& options);

}  // namespace commvq

#endif  // COMMVQ_TRAINING_KEY_EM_BENCH_H_
