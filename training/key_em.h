// EM training of one residual stage of the RoPE-commutative key codebook of
// one KV head (METHOD.md section 3), with structured statistics that never
// materialize the V^2 centres (section 7).
//
// The codebook of a stage: head_dim d = 2P (P pairs), half-code bits h,
// V = 2^h. Parameters z[j][v] = (x, y) for pair j in [0, P) and v in [0, V),
// stored as f32 [P, V, 2]. A code is (a, b) in [0, V)^2 and the centre of
// pair j is c_j(a, b) = z_j[a] + i z_j[b] = (x_a - y_b, y_a + x_b); a data
// vector gets one code shared by all its pairs. Codes are returned as
// a * V + b.
//
// One EM iteration, at temperature T:
//   E-step: W[n][(a,b)] = softmax over the V^2 centres of -||x_n - c_ab|| / T
//     (the L2 distance, not squared, as in the official code).
//   M-step: z minimizing sum_n sum_ab W[n][(a,b)] ||x_n - c_ab||^2, a linear
//     least-squares problem in the 2V numbers of each pair whose matrix
//     depends only on the soft counts, so one Cholesky factorization serves
//     all pairs (see KeyNormalMatrix).
//
// Training is deterministic for a seed whatever the thread count: vectors are
// split into fixed ranges that depend only on N, and partial sums are added
// in range order.
#ifndef COMMVQ_TRAINING_KEY_EM_H_
#define COMMVQ_TRAINING_KEY_EM_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace commvq {

class ThreadPool;

struct KeyEmOptions {
  // h: each half of a code has h bits, V = 2^h values; in [1, 8].
  int half_bits = 6;
  // M-steps at most (the iterate after the last one is scored too); >= 0.
  int iterations = 100;
  // The temperature of iteration i in [0, iterations) decays exponentially:
  // temperature_scale * t_start * (t_end / t_start)^(i / (iterations - 1)).
  // Both > 0.
  double t_start = 1e-3;
  double t_end = 1e-5;
  // > 0. The caller divides it by 10 after stage 0 and after every 4th stage
  // (residuals shrink from stage to stage, and so do distance gaps).
  double temperature_scale = 1.0;
  // Stops once the hard MSE has not improved by more than 1e-6 relative for
  // this many consecutive iterations; >= 1.
  int patience = 10;
  uint64_t seed = 0;
  enum Init {
    // V distinct data points drawn uniformly.
    kRandomPoints,
    // V data points drawn by k-means++ D^2 sampling (Euclidean in R^d).
    kKMeansPlusPlus,
  };
  // Either way point p_v becomes the diagonal centre c_vv: z_j[v] =
  // p_vj (1 - i) / 2, since c_vv = (1 + i) z_v.
  Init init = kRandomPoints;
  // Not owned; null runs on the calling thread.
  ThreadPool* pool = nullptr;
  // If set, called after scoring each iterate (iteration 0 is the
  // initialization) with its hard MSE.
  std::function<void(int iteration, double hard_mse)> progress;
};

struct KeyEmResult {
  // [P, V, 2]: the iterate with the lowest hard MSE.
  std::vector<float> z;
  // Its hard MSE: mean over the N * d elements of the squared error to the
  // nearest centre.
  double mse = 0.0;
  // [N]: a * V + b of each vector's nearest centre under `z` (ties to the
  // lowest code).
  std::vector<int32_t> codes;
  // Index of the iterate kept (0 = the initialization) and the number of
  // M-steps run.
  int best_iteration = 0;
  int iterations_run = 0;
};

// Sufficient statistics of one E-step for the M-step, in double.
struct KeyEmStats {
  int pairs = 0;
  int values = 0;  // V
  // [V, V]: S[a][b] = sum_n W[n][(a,b)].
  std::vector<double> counts;
  // [V, P, 2]: row_sums[a] = sum_n (sum_b W[n][(a,b)]) x_n.
  std::vector<double> row_sums;
  // [V, P, 2]: col_sums[b] = sum_n (sum_a W[n][(a,b)]) x_n.
  std::vector<double> col_sums;
  // sum_n min_ab ||x_n - c_ab||^2.
  double hard_sse = 0.0;
  // [N]: a * V + b of the nearest centre, ties to the lowest code.
  std::vector<int32_t> codes;
  // Softmax terms exp(.) evaluated; the rest were provably negligible.
  int64_t evaluated_terms = 0;
};

// Computes the E-step statistics of `residuals` ([n, pairs, 2] f32, finite)
// under `z` ([pairs, V, 2], V = 2^half_bits) at `temperature`; a temperature
// <= 0 is hard EM (all weight on the nearest centre). Inputs must be valid
// (TrainKeyStage checks them). Works from per-vector tables in
// O(P V + V^2) per vector; skips softmax terms whose total weight is below
// 1e-12 of the row (see key_em.cc).
KeyEmStats ComputeKeyEmStats(absl::Span<const float> residuals, int64_t n,
                             int pairs, int half_bits,
                             absl::Span<const float> z, double temperature,
                             ThreadPool* pool);

// The normal matrix T^T S T ([2V, 2V] row-major) of the M-step for the counts
// S ([V, V]); unknowns ordered (x_0 .. x_{V-1}, y_0 .. y_{V-1}) of one pair.
// With R[v] = sum_b S[v][b] and C[v] = sum_a S[a][v]:
//   [x_v, x_v] = [y_v, y_v] = R[v] + C[v],
//   [x_v, y_u] = [y_u, x_v] = S[u][v] - S[v][u], all else 0.
std::vector<double> KeyNormalMatrix(absl::Span<const double> counts,
                                    int values);

// The right-hand sides T^T S m ([P, 2V], same unknown order) of `stats`: with
// row_sums[v] = (r_u, r_w) and col_sums[v] = (k_u, k_w) at pair j,
//   [x_v] = r_u + k_w,   [y_v] = r_w - k_u.
std::vector<double> KeyNormalRhs(const KeyEmStats& stats);

// The M-step: solves (T^T S T + lambda I) phi = T^T S m + lambda phi_old per
// pair with one Cholesky factorization, lambda = 1e-9 times the mean of the
// diagonal. The ridge, pulling towards `z_old` ([P, V, 2]), makes the system
// definite when some value v has no mass (it then keeps its old value) and
// keeps hard EM monotone: the solution lowers the weighted loss below its
// value at z_old. Returns [P, V, 2] rounded to f32; Internal if the matrix is
// not positive definite (non-finite statistics).
absl::StatusOr<std::vector<float>> SolveKeyMStep(const KeyEmStats& stats,
                                                 absl::Span<const float> z_old);

// Validates the inputs of TrainKeyStage: InvalidArgument naming the value.
absl::Status ValidateKeyEmInputs(absl::Span<const float> residuals, int64_t n,
                                 int pairs, const KeyEmOptions& options);

// Trains one stage on `residuals` ([n, pairs, 2] f32, finite; n >= V,
// pairs >= 1) with structured statistics.
absl::StatusOr<KeyEmResult> TrainKeyStage(absl::Span<const float> residuals,
                                          int64_t n, int pairs,
                                          const KeyEmOptions& options);

// The E-step used by TrainKeyStageWith: same contract as ComputeKeyEmStats.
using KeyEmStatsFn = std::function<KeyEmStats(
    absl::Span<const float> residuals, int64_t n, int pairs, int half_bits,
    absl::Span<const float> z, double temperature, ThreadPool* pool)>;

// The EM loop of TrainKeyStage (validation, initialization, annealing,
// best-iterate tracking, early stop) around any E-step; the dense reference
// plugs in its own.
absl::StatusOr<KeyEmResult> TrainKeyStageWith(
    absl::Span<const float> residuals, int64_t n, int pairs,
    const KeyEmOptions& options, const KeyEmStatsFn& stats_fn);

}  // namespace commvq

#endif  // COMMVQ_TRAINING_KEY_EM_H_
