#include "training/key_em.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "commvq/base/random.h"
#include "commvq/base/status_macros.h"
#include "commvq/base/thread_pool.h"

// Derivation of the M-step (one pair j; (u_n, w_n) = x_nj; sums over n, a, b
// implied; S, R, C as in key_em.h). The weighted loss is
//   L = sum_n sum_ab W[n][ab] ((u_n - x_a + y_b)^2 + (w_n - y_a - x_b)^2).
// dL/dx_v = 0 gathers the first coordinate of the centres (v, b) and the
// second of the centres (a, v):
//   (R[v] + C[v]) x_v - sum_b S[v][b] y_b + sum_a S[a][v] y_a
//       = sum_n sum_b W[n][vb] u_n + sum_n sum_a W[n][av] w_n,
// and dL/dy_v = 0 the first coordinate of (a, v) and the second of (v, b):
//   (R[v] + C[v]) y_v + sum_b S[v][b] x_b - sum_a S[a][v] x_a
//       = sum_n sum_b W[n][vb] w_n - sum_n sum_a W[n][av] u_n.
// These are T^T S T phi = T^T S m. The matrix needs only S; the right-hand
// side needs only the two marginal sums
//   row_sums[v] = sum_n (sum_b W[n][vb]) x_n,
//   col_sums[v] = sum_n (sum_a W[n][av]) x_n,
// i.e. per vector the V-entry marginals of W over b and over a, each times
// x_n: O(N V^2) for S and the marginals plus O(N P V) for the sums, instead
// of the O(N V^2 d) soft means of every centre.

namespace commvq {
namespace {

// Vectors are split into at most kMaxBlocks ranges of at least kMinBlock
// vectors; the split depends on N only, so sums do not depend on threads.
constexpr int64_t kMaxBlocks = 64;
constexpr int64_t kMinBlock = 256;

// Ridge of the M-step, relative to the mean diagonal of T^T S T.
constexpr double kRidge = 1e-9;

// Relative improvement of the hard MSE below which an iteration is stale.
constexpr double kPlateau = 1e-6;

struct Blocks {
  int64_t size;
  int64_t count;
};

Blocks SplitIntoBlocks(int64_t n) {
  const int64_t size =
      std::max(kMinBlock, (n + kMaxBlocks - 1) / kMaxBlocks);
  return {size, (n + size - 1) / size};
}

void RunBlocks(ThreadPool* pool, int64_t count,
               const std::function<void(int64_t)>& fn) {
  const auto range = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) fn(i);
  };
  if (pool == nullptr) {
    range(0, count);
  } else {
    pool->ParallelFor(0, count, 1, range);
  }
}

// Per-block partial statistics and scratch of the structured E-step.
struct BlockStats {
  std::vector<double> counts;    // [V, V]
  std::vector<double> row_sums;  // [V, P, 2]
  std::vector<double> col_sums;  // [V, P, 2]
  double hard_sse = 0.0;
  int64_t evaluated_terms = 0;
};

// Softmax terms with -dist/T more than kSkipLogGap below the row maximum are
// skipped. Each skipped term has weight <= exp(-kSkipLogGap) relative to the
// maximum term (weight 1), there are fewer than V^2 of them and the row sum is
// >= 1, so the skipped mass is below V^2 exp(-kSkipLogGap) of the row; with
// kSkipLogGap = ln(V^2) + ln(1e12) that is < 1e-12. The survivors are
// renormalized, so each kept weight is off by < 1e-12 relative too.
double SkipLogGap(int values) {
  return std::log(static_cast<double>(values) * values) + std::log(1e12);
}

}  // namespace

KeyEmStats ComputeKeyEmStats(absl::Span<const float> residuals, int64_t n,
                             int pairs, int half_bits,
                             absl::Span<const float> z, double temperature,
                             ThreadPool* pool) {
  const int values = 1 << half_bits;
  const int64_t v2 = int64_t{values} * values;
  const int64_t dim = int64_t{2} * pairs;

  // zx, zy: [P, V] (so the per-vector tables run along v); cn: [V, V], the
  // squared norms ||c_ab||^2 = A[a] + A[b] + X[a][b].
  std::vector<double> zx(pairs * values), zy(pairs * values);
  std::vector<double> norm_a(values, 0.0);
  for (int j = 0; j < pairs; ++j) {
    for (int v = 0; v < values; ++v) {
      const double x = z[(int64_t{j} * values + v) * 2];
      const double y = z[(int64_t{j} * values + v) * 2 + 1];
      zx[j * values + v] = x;
      zy[j * values + v] = y;
      norm_a[v] += x * x + y * y;
    }
  }
  // X[a][b] = sum_j 2 (y_a x_b - x_a y_b): the cross term of
  // (x_a - y_b)^2 + (y_a + x_b)^2.
  std::vector<double> cn(v2);
  for (int a = 0; a < values; ++a) {
    for (int b = 0; b < values; ++b) cn[a * values + b] = norm_a[a] + norm_a[b];
  }
  for (int j = 0; j < pairs; ++j) {
    const double* x = &zx[j * values];
    const double* y = &zy[j * values];
    for (int a = 0; a < values; ++a) {
      double* row = &cn[a * values];
      for (int b = 0; b < values; ++b) {
        row[b] += 2.0 * (y[a] * x[b] - x[a] * y[b]);
      }
    }
  }

  const bool hard = !(temperature > 0.0);
  const double gap = hard ? 0.0 : SkipLogGap(values) * temperature;
  const Blocks blocks = SplitIntoBlocks(n);
  std::vector<BlockStats> partial(blocks.count);
  KeyEmStats stats;
  stats.pairs = pairs;
  stats.values = values;
  stats.codes.resize(n);

  RunBlocks(pool, blocks.count, [&](int64_t block) {
    BlockStats& out = partial[block];
    out.counts.assign(v2, 0.0);
    out.row_sums.assign(values * dim, 0.0);
    out.col_sums.assign(values * dim, 0.0);
    // f[a] = <x, z_a>, g[b] = <x, i z_b>: <x, c_ab> = f[a] + g[b].
    std::vector<double> f(values), g(values), xd(dim);
    std::vector<double> sq(v2);
    std::vector<double> row_mass(values, 0.0), col_mass(values, 0.0);
    std::vector<int32_t> kept;
    std::vector<double> weight;
    const int64_t end = std::min(n, (block + 1) * blocks.size);
    for (int64_t i = block * blocks.size; i < end; ++i) {
      const float* x = &residuals[i * dim];
      double norm_x = 0.0;
      for (int64_t k = 0; k < dim; ++k) {
        xd[k] = x[k];
        norm_x += xd[k] * xd[k];
      }
      std::fill(f.begin(), f.end(), 0.0);
      std::fill(g.begin(), g.end(), 0.0);
      for (int j = 0; j < pairs; ++j) {
        const double u = xd[2 * j], w = xd[2 * j + 1];
        const double* zxj = &zx[j * values];
        const double* zyj = &zy[j * values];
        for (int v = 0; v < values; ++v) {
          f[v] += u * zxj[v] + w * zyj[v];
          g[v] += w * zxj[v] - u * zyj[v];
        }
      }
      // ||x - c_ab||^2 = ||x||^2 - 2 f[a] - 2 g[b] + ||c_ab||^2.
      double best = std::numeric_limits<double>::infinity();
      for (int a = 0; a < values; ++a) {
        const double base = norm_x - 2.0 * f[a];
        const double* cn_row = &cn[a * values];
        double* sq_row = &sq[a * values];
        double row_best = std::numeric_limits<double>::infinity();
        for (int b = 0; b < values; ++b) {
          const double s = base + cn_row[b] - 2.0 * g[b];
          sq_row[b] = s;
          row_best = std::min(row_best, s);
        }
        best = std::min(best, row_best);
      }
      const int32_t code = static_cast<int32_t>(
          std::find(sq.begin(), sq.end(), best) - sq.begin());
      stats.codes[i] = code;
      const double best_sq = std::max(best, 0.0);
      out.hard_sse += best_sq;

      kept.clear();
      weight.clear();
      if (hard) {
        kept.push_back(code);
        weight.push_back(1.0);
      } else {
        const double best_dist = std::sqrt(best_sq);
        const double bound = best_dist + gap;
        const double bound_sq = bound * bound;
        double total = 0.0;
        for (int64_t c = 0; c < v2; ++c) {
          if (sq[c] > bound_sq) continue;
          const double dist = std::sqrt(std::max(sq[c], 0.0));
          const double e = std::exp((best_dist - dist) / temperature);
          kept.push_back(static_cast<int32_t>(c));
          weight.push_back(e);
          total += e;
        }
        for (double& e : weight) e /= total;
      }
      out.evaluated_terms += static_cast<int64_t>(kept.size());
      for (size_t k = 0; k < kept.size(); ++k) {
        const int32_t c = kept[k];
        out.counts[c] += weight[k];
        row_mass[c / values] += weight[k];
        col_mass[c % values] += weight[k];
      }
      for (int v = 0; v < values; ++v) {
        if (row_mass[v] != 0.0) {
          double* r = &out.row_sums[v * dim];
          for (int64_t k = 0; k < dim; ++k) r[k] += row_mass[v] * xd[k];
          row_mass[v] = 0.0;
        }
        if (col_mass[v] != 0.0) {
          double* r = &out.col_sums[v * dim];
          for (int64_t k = 0; k < dim; ++k) r[k] += col_mass[v] * xd[k];
          col_mass[v] = 0.0;
        }
      }
    }
  });

  stats.counts.assign(v2, 0.0);
  stats.row_sums.assign(values * dim, 0.0);
  stats.col_sums.assign(values * dim, 0.0);
  for (const BlockStats& p : partial) {
    for (int64_t c = 0; c < v2; ++c) stats.counts[c] += p.counts[c];
    for (int64_t k = 0; k < values * dim; ++k) {
      stats.row_sums[k] += p.row_sums[k];
      stats.col_sums[k] += p.col_sums[k];
    }
    stats.hard_sse += p.hard_sse;
    stats.evaluated_terms += p.evaluated_terms;
  }
  return stats;
}

std::vector<double> KeyNormalMatrix(absl::Span<const double> counts,
                                    int values) {
  const int m = 2 * values;
  std::vector<double> h(m * m, 0.0);
  for (int a = 0; a < values; ++a) {
    for (int b = 0; b < values; ++b) {
      const double s = counts[a * values + b];
      // R[a] and C[b] on the diagonals of both blocks.
      h[a * m + a] += s;
      h[b * m + b] += s;
      h[(values + a) * m + values + a] += s;
      h[(values + b) * m + values + b] += s;
      // [x_v, y_u] gets S[u][v] - S[v][u]: here S[a][b] adds to [x_b, y_a]
      // and subtracts from [x_a, y_b]; the y-x block mirrors it.
      h[b * m + values + a] += s;
      h[(values + a) * m + b] += s;
      h[a * m + values + b] -= s;
      h[(values + b) * m + a] -= s;
    }
  }
  return h;
}

std::vector<double> KeyNormalRhs(const KeyEmStats& stats) {
  const int values = stats.values;
  const int pairs = stats.pairs;
  const int64_t dim = int64_t{2} * pairs;
  std::vector<double> rhs(int64_t{pairs} * 2 * values);
  for (int j = 0; j < pairs; ++j) {
    double* out = &rhs[int64_t{j} * 2 * values];
    for (int v = 0; v < values; ++v) {
      const double* r = &stats.row_sums[v * dim + 2 * j];
      const double* k = &stats.col_sums[v * dim + 2 * j];
      out[v] = r[0] + k[1];
      out[values + v] = r[1] - k[0];
    }
  }
  return rhs;
}

absl::StatusOr<std::vector<float>> SolveKeyMStep(
    const KeyEmStats& stats, absl::Span<const float> z_old) {
  const int values = stats.values;
  const int pairs = stats.pairs;
  const int m = 2 * values;
  std::vector<double> l = KeyNormalMatrix(stats.counts, values);
  double trace = 0.0;
  for (int i = 0; i < m; ++i) trace += l[i * m + i];
  const double lambda = kRidge * trace / m;
  for (int i = 0; i < m; ++i) l[i * m + i] += lambda;
  // In-place Cholesky: the lower triangle becomes L with L L^T = H.
  for (int c = 0; c < m; ++c) {
    double diag = l[c * m + c];
    for (int k = 0; k < c; ++k) diag -= l[c * m + k] * l[c * m + k];
    if (!(diag > 0.0) || !std::isfinite(diag)) {
      return absl::InternalError(absl::StrCat(
          "M-step matrix not positive definite at column ", c, " (pivot ",
          diag, ", ridge ", lambda, ")"));
    }
    const double root = std::sqrt(diag);
    l[c * m + c] = root;
    for (int r = c + 1; r < m; ++r) {
      double s = l[r * m + c];
      for (int k = 0; k < c; ++k) s -= l[r * m + k] * l[c * m + k];
      l[r * m + c] = s / root;
    }
  }
  std::vector<double> rhs = KeyNormalRhs(stats);
  std::vector<float> z(z_old.size());
  for (int j = 0; j < pairs; ++j) {
    double* phi = &rhs[int64_t{j} * m];
    for (int v = 0; v < values; ++v) {
      phi[v] += lambda * z_old[(int64_t{j} * values + v) * 2];
      phi[values + v] += lambda * z_old[(int64_t{j} * values + v) * 2 + 1];
    }
    for (int r = 0; r < m; ++r) {
      double s = phi[r];
      for (int k = 0; k < r; ++k) s -= l[r * m + k] * phi[k];
      phi[r] = s / l[r * m + r];
    }
    for (int r = m - 1; r >= 0; --r) {
      double s = phi[r];
      for (int k = r + 1; k < m; ++k) s -= l[k * m + r] * phi[k];
      phi[r] = s / l[r * m + r];
    }
    for (int v = 0; v < values; ++v) {
      z[(int64_t{j} * values + v) * 2] = static_cast<float>(phi[v]);
      z[(int64_t{j} * values + v) * 2 + 1] =
          static_cast<float>(phi[values + v]);
    }
  }
  return z;
}

absl::Status ValidateKeyEmInputs(absl::Span<const float> residuals, int64_t n,
                                 int pairs, const KeyEmOptions& options) {
  if (options.half_bits < 1 || options.half_bits > 8) {
    return absl::InvalidArgumentError(absl::StrCat(
        "half_bits must be in [1, 8], got ", options.half_bits));
  }
  if (pairs < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("pairs must be >= 1, got ", pairs));
  }
  const int64_t values = int64_t{1} << options.half_bits;
  if (n < values) {
    return absl::InvalidArgumentError(absl::StrCat(
        "need at least V = ", values, " vectors to initialize, got n = ", n));
  }
  if (n > std::numeric_limits<int64_t>::max() / (2 * pairs) ||
      static_cast<int64_t>(residuals.size()) != n * 2 * pairs) {
    return absl::InvalidArgumentError(
        absl::StrCat("residuals has ", residuals.size(),
                     " elements, expected n * pairs * 2 = ", n, " * ", pairs,
                     " * 2"));
  }
  if (options.iterations < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "iterations must be >= 0, got ", options.iterations));
  }
  if (!(options.t_start > 0.0) || !(options.t_end > 0.0) ||
      !(options.temperature_scale > 0.0) || !std::isfinite(options.t_start) ||
      !std::isfinite(options.t_end) ||
      !std::isfinite(options.temperature_scale)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "temperatures must be finite and > 0, got t_start = ",
        options.t_start, ", t_end = ", options.t_end,
        ", temperature_scale = ", options.temperature_scale));
  }
  if (options.patience < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("patience must be >= 1, got ", options.patience));
  }
  if (options.init != KeyEmOptions::kRandomPoints &&
      options.init != KeyEmOptions::kKMeansPlusPlus) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown init ", static_cast<int>(options.init)));
  }
  for (size_t i = 0; i < residuals.size(); ++i) {
    if (!std::isfinite(residuals[i])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "residuals[", i, "] (vector ", i / (2 * pairs), ") is not finite: ",
          residuals[i]));
    }
  }
  return absl::OkStatus();
}

namespace {

// Indices of V seed vectors, as KeyEmOptions::Init describes.
std::vector<int64_t> PickSeeds(absl::Span<const float> residuals, int64_t n,
                               int64_t dim, int values,
                               const KeyEmOptions& options, Rng* rng) {
  std::vector<int64_t> seeds;
  if (options.init == KeyEmOptions::kRandomPoints) {
    // Floyd's algorithm: `values` distinct indices in O(values^2).
    for (int64_t top = n - values; top < n; ++top) {
      const int64_t t = rng->UniformInt(top + 1);
      const bool taken = std::find(seeds.begin(), seeds.end(), t) != seeds.end();
      seeds.push_back(taken ? top : t);
    }
    return seeds;
  }
  std::vector<double> d2(n, std::numeric_limits<double>::infinity());
  seeds.push_back(rng->UniformInt(n));
  const Blocks blocks = SplitIntoBlocks(n);
  while (static_cast<int>(seeds.size()) < values) {
    const float* s = &residuals[seeds.back() * dim];
    // Per-vector updates only, so the thread split cannot change them.
    RunBlocks(options.pool, blocks.count, [&](int64_t block) {
      const int64_t end = std::min(n, (block + 1) * blocks.size);
      for (int64_t i = block * blocks.size; i < end; ++i) {
        const float* x = &residuals[i * dim];
        double sum = 0.0;
        for (int64_t k = 0; k < dim; ++k) {
          const double diff = static_cast<double>(x[k]) - s[k];
          sum += diff * diff;
        }
        d2[i] = std::min(d2[i], sum);
      }
    });
    double total = 0.0;
    for (double d : d2) total += d;
    if (!(total > 0.0)) {
      // Every vector coincides with a seed: draw uniformly.
      seeds.push_back(rng->UniformInt(n));
      continue;
    }
    const double target = rng->Uniform() * total;
    double cumulative = 0.0;
    int64_t pick = -1;
    for (int64_t i = 0; i < n; ++i) {
      if (d2[i] <= 0.0) continue;
      cumulative += d2[i];
      pick = i;
      if (cumulative > target) break;
    }
    seeds.push_back(pick);
  }
  return seeds;
}

}  // namespace

absl::StatusOr<KeyEmResult> TrainKeyStageWith(
    absl::Span<const float> residuals, int64_t n, int pairs,
    const KeyEmOptions& options, const KeyEmStatsFn& stats_fn) {
  CVQ_RETURN_IF_ERROR(ValidateKeyEmInputs(residuals, n, pairs, options));
  const int values = 1 << options.half_bits;
  const int64_t dim = int64_t{2} * pairs;
  Rng rng(options.seed);
  const std::vector<int64_t> seeds =
      PickSeeds(residuals, n, dim, values, options, &rng);
  // Seed p_v becomes the diagonal centre: z_j[v] = p_vj (1 - i) / 2.
  std::vector<float> z(int64_t{pairs} * values * 2);
  for (int v = 0; v < values; ++v) {
    const float* p = &residuals[seeds[v] * dim];
    for (int j = 0; j < pairs; ++j) {
      const double u = p[2 * j], w = p[2 * j + 1];
      z[(int64_t{j} * values + v) * 2] = static_cast<float>(0.5 * (u + w));
      z[(int64_t{j} * values + v) * 2 + 1] = static_cast<float>(0.5 * (w - u));
    }
  }

  KeyEmResult result;
  result.mse = std::numeric_limits<double>::infinity();
  double plateau_mse = std::numeric_limits<double>::infinity();
  int stale = 0;
  const double ratio = options.t_end / options.t_start;
  for (int it = 0;; ++it) {
    const bool last = it == options.iterations;
    // The iterate after the last M-step only needs scoring: hard E-step.
    const double temperature =
        last ? 0.0
             : options.temperature_scale * options.t_start *
                   std::pow(ratio, options.iterations > 1
                                       ? static_cast<double>(it) /
                                             (options.iterations - 1)
                                       : 0.0);
    KeyEmStats stats =
        stats_fn(residuals, n, pairs, options.half_bits, z, temperature,
                 options.pool);
    const double mse = stats.hard_sse / (static_cast<double>(n) * dim);
    if (options.progress) options.progress(it, mse);
    if (mse < result.mse) {
      result.mse = mse;
      result.z = z;
      result.codes = std::move(stats.codes);
      result.best_iteration = it;
    }
    if (mse < plateau_mse * (1.0 - kPlateau)) {
      plateau_mse = mse;
      stale = 0;
    } else {
      ++stale;
    }
    if (last || stale >= options.patience) break;
    CVQ_ASSIGN_OR_RETURN(z, SolveKeyMStep(stats, z));
    result.iterations_run = it + 1;
  }
  return result;
}

absl::StatusOr<KeyEmResult> TrainKeyStage(absl::Span<const float> residuals,
                                          int64_t n, int pairs,
                                          const KeyEmOptions& options) {
  return TrainKeyStageWith(residuals, n, pairs, options, ComputeKeyEmStats);
}

}  // namespace commvq
