#include "training/key_em_dense.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/types/span.h"
#include "commvq/base/thread_pool.h"

namespace commvq {
namespace {

// The same fixed split of the vectors as key_em.cc, for thread-count
// independent sums.
constexpr int64_t kMaxBlocks = 64;
constexpr int64_t kMinBlock = 256;

}  // namespace

std::vector<double> MaterializeKeyCentres(absl::Span<const float> z, int pairs,
                                          int half_bits) {
  const int values = 1 << half_bits;
  std::vector<double> centres(int64_t{values} * values * pairs * 2);
  for (int a = 0; a < values; ++a) {
    for (int b = 0; b < values; ++b) {
      double* c = &centres[(int64_t{a} * values + b) * pairs * 2];
      for (int j = 0; j < pairs; ++j) {
        const float* za = &z[(int64_t{j} * values + a) * 2];
        const float* zb = &z[(int64_t{j} * values + b) * 2];
        c[2 * j] = static_cast<double>(za[0]) - zb[1];
        c[2 * j + 1] = static_cast<double>(za[1]) + zb[0];
      }
    }
  }
  return centres;
}

KeyEmStats ComputeKeyEmStatsDense(absl::Span<const float> residuals, int64_t n,
                                  int pairs, int half_bits,
                                  absl::Span<const float> z,
                                  double temperature, ThreadPool* pool,
                                  std::vector<double>* centre_sums) {
  const int values = 1 << half_bits;
  const int64_t v2 = int64_t{values} * values;
  const int64_t dim = int64_t{2} * pairs;
  const std::vector<double> centres = MaterializeKeyCentres(z, pairs, half_bits);
  const bool hard = !(temperature > 0.0);
  const int64_t block_size =
      std::max(kMinBlock, (n + kMaxBlocks - 1) / kMaxBlocks);
  const int64_t num_blocks = (n + block_size - 1) / block_size;
  // Per block: [V^2] counts, [V^2, d] soft sums, the hard SSE.
  std::vector<std::vector<double>> counts(num_blocks), sums(num_blocks);
  std::vector<double> sse(num_blocks, 0.0);
  KeyEmStats stats;
  stats.pairs = pairs;
  stats.values = values;
  stats.codes.resize(n);
  const auto run = [&](int64_t first, int64_t last) {
    for (int64_t block = first; block < last; ++block) {
      counts[block].assign(v2, 0.0);
      sums[block].assign(v2 * dim, 0.0);
      std::vector<double> dist(v2), w(v2);
      const int64_t end = std::min(n, (block + 1) * block_size);
      for (int64_t i = block * block_size; i < end; ++i) {
        const float* x = &residuals[i * dim];
        int64_t code = 0;
        for (int64_t c = 0; c < v2; ++c) {
          const double* centre = &centres[c * dim];
          double s = 0.0;
          for (int64_t k = 0; k < dim; ++k) {
            const double diff = x[k] - centre[k];
            s += diff * diff;
          }
          dist[c] = s;
          if (s < dist[code]) code = c;
        }
        stats.codes[i] = static_cast<int32_t>(code);
        sse[block] += dist[code];
        if (hard) {
          std::fill(w.begin(), w.end(), 0.0);
          w[code] = 1.0;
        } else {
          // softmax(-sqrt(dist) / T), shifted by its maximum.
          const double shift = std::sqrt(dist[code]);
          double total = 0.0;
          for (int64_t c = 0; c < v2; ++c) {
            w[c] = std::exp((shift - std::sqrt(dist[c])) / temperature);
            total += w[c];
          }
          for (double& e : w) e /= total;
        }
        for (int64_t c = 0; c < v2; ++c) {
          counts[block][c] += w[c];
          double* s = &sums[block][c * dim];
          for (int64_t k = 0; k < dim; ++k) s[k] += w[c] * x[k];
        }
      }
    }
  };
  if (pool == nullptr) {
    run(0, num_blocks);
  } else {
    pool->ParallelFor(0, num_blocks, 1, run);
  }

  std::vector<double> total_sums(v2 * dim, 0.0);
  stats.counts.assign(v2, 0.0);
  for (int64_t block = 0; block < num_blocks; ++block) {
    for (int64_t c = 0; c < v2; ++c) stats.counts[c] += counts[block][c];
    for (int64_t k = 0; k < v2 * dim; ++k) total_sums[k] += sums[block][k];
    stats.hard_sse += sse[block];
  }
  // The marginals of the soft sums: row_sums[a] = sum_b, col_sums[b] = sum_a.
  stats.row_sums.assign(values * dim, 0.0);
  stats.col_sums.assign(values * dim, 0.0);
  for (int a = 0; a < values; ++a) {
    for (int b = 0; b < values; ++b) {
      const double* s = &total_sums[(int64_t{a} * values + b) * dim];
      for (int64_t k = 0; k < dim; ++k) {
        stats.row_sums[a * dim + k] += s[k];
        stats.col_sums[b * dim + k] += s[k];
      }
    }
  }
  stats.evaluated_terms = hard ? n : n * v2;
  if (centre_sums != nullptr) *centre_sums = std::move(total_sums);
  return stats;
}

std::vector<double> LiteralKeyNormalMatrix(absl::Span<const double> counts,
                                           int values) {
  const int m = 2 * values;
  const int64_t rows = int64_t{2} * values * values;
  // T: row 2c is the first coordinate of centre c = a V + b (x_a - y_b), row
  // 2c + 1 its second (y_a + x_b).
  std::vector<double> t(rows * m, 0.0);
  for (int a = 0; a < values; ++a) {
    for (int b = 0; b < values; ++b) {
      const int64_t c = int64_t{a} * values + b;
      t[(2 * c) * m + a] += 1.0;
      t[(2 * c) * m + values + b] -= 1.0;
      t[(2 * c + 1) * m + values + a] += 1.0;
      t[(2 * c + 1) * m + b] += 1.0;
    }
  }
  std::vector<double> h(m * m, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const double s = counts[r / 2];
    for (int p = 0; p < m; ++p) {
      if (t[r * m + p] == 0.0) continue;
      for (int q = 0; q < m; ++q) h[p * m + q] += t[r * m + p] * s * t[r * m + q];
    }
  }
  return h;
}

absl::StatusOr<KeyEmResult> TrainKeyStageDense(
    absl::Span<const float> residuals, int64_t n, int pairs,
    const KeyEmOptions& options) {
  return TrainKeyStageWith(
      residuals, n, pairs, options,
      [](absl::Span<const float> r, int64_t count, int p, int half_bits,
         absl::Span<const float> z, double temperature, ThreadPool* pool) {
        return ComputeKeyEmStatsDense(r, count, p, half_bits, z, temperature,
                                      pool);
      });
}

}  // namespace commvq
