#include "commvq/quantizer/commvq_key/structured_encode.h"

#include <algorithm>
#include <vector>

#include "commvq/base/pair_layout.h"
#include "commvq/base/thread_pool.h"

namespace commvq {

StructuredKeyEncoder::StructuredKeyEncoder(
    absl::Span<const KeyCodebook> stages)
    : stages_(stages) {
  for (const KeyCodebook& codebook : stages_) {
    const KeyCodebookShape& shape = codebook.shape();
    const int values = shape.num_values();
    std::vector<double> norms(values, 0.0);
    std::vector<double> cross(values * values, 0.0);
    for (int64_t j = 0; j < shape.num_pairs(); ++j) {
      for (int a = 0; a < values; ++a) {
        const double xa = codebook.x(j, a);
        const double ya = codebook.y(j, a);
        norms[a] += xa * xa + ya * ya;
        for (int b = 0; b < values; ++b) {
          cross[a * values + b] +=
              2.0 * (ya * double{codebook.x(j, b)} -
                     xa * double{codebook.y(j, b)});
        }
      }
    }
    norms_.push_back(std::move(norms));
    cross_.push_back(std::move(cross));
  }
}

uint16_t StructuredKeyEncoder::Nearest(int stage, const float* residual,
                                       double* halves) const {
  const KeyCodebook& codebook = stages_[stage];
  const KeyCodebookShape& shape = codebook.shape();
  const int values = shape.num_values();
  // f(a) and g(b) first, accumulated pair by pair over all values at once.
  double* f = halves;
  double* g = halves + values;
  std::fill(halves, halves + 2 * values, 0.0);
  const float* z = codebook.z().data();
  for (int64_t j = 0; j < shape.num_pairs(); ++j) {
    const double r1 =
        residual[PairFirstChannel(shape.layout, shape.head_dim, j)];
    const double r2 =
        residual[PairSecondChannel(shape.layout, shape.head_dim, j)];
    const float* zj = z + j * values * 2;
    for (int v = 0; v < values; ++v) {
      const double x = zj[2 * v];
      const double y = zj[2 * v + 1];
      f[v] += r1 * x + r2 * y;
      g[v] += r2 * x - r1 * y;
    }
  }
  // Then the per-half score terms A - 2f and A - 2g.
  const std::vector<double>& norms = norms_[stage];
  for (int v = 0; v < values; ++v) {
    f[v] = norms[v] - 2.0 * f[v];
    g[v] = norms[v] - 2.0 * g[v];
  }
  const double* cross = cross_[stage].data();
  int best = 0;
  double best_score = f[0] + g[0] + cross[0];
  // Code order with a strict comparison: ties keep the lowest code.
  for (int a = 0; a < values; ++a) {
    const double* row = cross + a * values;
    for (int b = 0; b < values; ++b) {
      const double score = f[a] + g[b] + row[b];
      if (score < best_score) {
        best_score = score;
        best = a * values + b;
      }
    }
  }
  return static_cast<uint16_t>(best);
}

void StructuredKeyEncoder::Encode(const float* head, uint16_t* codes,
                                  float* residual) const {
  const KeyCodebookShape& shape = this->shape();
  std::vector<float> r(head, head + shape.head_dim);
  std::vector<double> halves(2 * shape.num_values());
  for (int s = 0; s < num_stages(); ++s) {
    codes[s] = Nearest(s, r.data(), halves.data());
    stages_[s].SubtractCentre(KeyCodeA(codes[s], shape.half_bits),
                              KeyCodeB(codes[s], shape.half_bits), r.data());
  }
  if (residual != nullptr) std::copy(r.begin(), r.end(), residual);
}

void SubtractNearestCentres(const KeyCodebook& codebook, float* residuals,
                            int64_t rows, ThreadPool* pool) {
  // Rows per task: each is a full structured search, so small tasks pay.
  constexpr int64_t kGrain = 64;
  const StructuredKeyEncoder encoder(absl::MakeConstSpan(&codebook, 1));
  const int64_t head_dim = codebook.shape().head_dim;
  const auto subtract = [&](int64_t begin, int64_t end) {
    uint16_t code;
    for (int64_t i = begin; i < end; ++i) {
      float* row = residuals + i * head_dim;
      encoder.Encode(row, &code, row);
    }
  };
  if (pool != nullptr) {
    pool->ParallelFor(0, rows, kGrain, subtract);
  } else {
    subtract(0, rows);
  }
}

}  // namespace commvq
