#include "commvq/quantizer/commvq_key/structured_encode.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "commvq/base/pair_layout.h"
#include "commvq/base/thread_pool.h"
#include "commvq/quantizer/commvq_key/key_score_filter.h"

namespace commvq {
namespace {

// f32 unit roundoff.
constexpr double kF32Roundoff = 1.0 / (1 << 24);

}  // namespace

struct StructuredKeyEncoder::Scratch {
  explicit Scratch(int64_t pairs, int padded)
      : r1(pairs), r2(pairs), fa(padded), gb(padded), row_best(padded) {}
  std::vector<float> r1, r2, fa, gb, row_best;
  // Codes the filter could not rule out.
  std::vector<int> candidates;
};

StructuredKeyEncoder::StructuredKeyEncoder(absl::Span<const KeyCodebook> stages)
    : stages_(stages), filter_(PickKeyFilter()) {
  const KeyCodebookShape& shape = this->shape();
  const int64_t pairs = shape.num_pairs();
  const int values = shape.num_values();
  padded_ = (values + kKeyFilterLanes - 1) / kKeyFilterLanes * kKeyFilterLanes;
  for (int64_t j = 0; j < pairs; ++j) {
    first_.push_back(PairFirstChannel(shape.layout, shape.head_dim, j));
    second_.push_back(PairSecondChannel(shape.layout, shape.head_dim, j));
  }
  for (const KeyCodebook& codebook : stages_) {
    Tables t;
    t.norms.assign(values, 0.0);
    t.cross.assign(values * values, 0.0);
    t.xt.assign(pairs * padded_, 0.0f);
    t.yt.assign(pairs * padded_, 0.0f);
    t.by_value.resize(values * pairs * 2);
    for (int64_t j = 0; j < pairs; ++j) {
      for (int a = 0; a < values; ++a) {
        const double xa = codebook.x(j, a);
        const double ya = codebook.y(j, a);
        t.xt[j * padded_ + a] = codebook.x(j, a);
        t.yt[j * padded_ + a] = codebook.y(j, a);
        t.by_value[(a * pairs + j) * 2] = codebook.x(j, a);
        t.by_value[(a * pairs + j) * 2 + 1] = codebook.y(j, a);
        t.norms[a] += xa * xa + ya * ya;
        for (int b = 0; b < values; ++b) {
          t.cross[a * values + b] += 2.0 * (ya * double{codebook.x(j, b)} -
                                            xa * double{codebook.y(j, b)});
        }
      }
    }
    t.norms_f.assign(padded_, std::numeric_limits<float>::infinity());
    t.cross_f.assign(values * padded_, 0.0f);
    for (int a = 0; a < values; ++a) {
      t.norms_f[a] = static_cast<float>(t.norms[a]);
      t.max_norm2 = std::max(t.max_norm2, t.norms[a]);
      for (int b = 0; b < values; ++b) {
        t.cross_f[a * padded_ + b] =
            static_cast<float>(t.cross[a * values + b]);
        t.max_cross = std::max(t.max_cross, std::abs(t.cross[a * values + b]));
      }
    }
    tables_.push_back(std::move(t));
  }
}

double StructuredKeyEncoder::HalfTerm(int stage, const Scratch& scratch, int v,
                                      bool second_half) const {
  const Tables& t = tables_[stage];
  const int64_t pairs = static_cast<int64_t>(first_.size());
  const float* z = t.by_value.data() + v * pairs * 2;
  double sum = 0.0;
  for (int64_t j = 0; j < pairs; ++j) {
    const double r1 = scratch.r1[j];
    const double r2 = scratch.r2[j];
    const double x = z[2 * j];
    const double y = z[2 * j + 1];
    sum += second_half ? r2 * x - r1 * y : r1 * x + r2 * y;
  }
  return t.norms[v] - 2.0 * sum;
}

uint16_t StructuredKeyEncoder::Nearest(int stage, const float* residual,
                                       Scratch* scratch) const {
  const Tables& t = tables_[stage];
  const int values = shape().num_values();
  const int64_t pairs = static_cast<int64_t>(first_.size());
  double r_norm2 = 0.0;
  for (int64_t j = 0; j < pairs; ++j) {
    scratch->r1[j] = residual[first_[j]];
    scratch->r2[j] = residual[second_[j]];
    r_norm2 += double{scratch->r1[j]} * scratch->r1[j] +
               double{scratch->r2[j]} * scratch->r2[j];
  }
  const KeyFilterArgs args{pairs,
                           values,
                           padded_,
                           t.xt.data(),
                           t.yt.data(),
                           t.norms_f.data(),
                           t.cross_f.data(),
                           scratch->r1.data(),
                           scratch->r2.data(),
                           scratch->fa.data(),
                           scratch->gb.data(),
                           scratch->row_best.data()};
  const float best = filter_(args);
  // Error bound of every f32 score (see structured_encode.h): f and g are
  // length-head_dim dot products bounded by ||r|| sqrt(max A); the stored
  // A and X and the three additions round once each.
  const double half_max = t.max_norm2 + 2.0 * std::sqrt(r_norm2 * t.max_norm2);
  const double magnitude = 2.0 * half_max + t.max_cross;
  const double bound = 2.0 * (2 * pairs + 16) * kF32Roundoff * 2.0 * magnitude;
  const double limit = best + 2.0 * bound;
  // Candidates: every code whose f32 score is within `limit`, in code
  // order. The double minimum and all codes tied with it are among them, so
  // a single candidate is the answer without rescoring.
  std::vector<int>& candidates = scratch->candidates;
  candidates.clear();
  for (int a = 0; a < values; ++a) {
    if (scratch->row_best[a] > limit) continue;
    const float* row = t.cross_f.data() + a * padded_;
    for (int b = 0; b < values; ++b) {
      if (scratch->fa[a] + (scratch->gb[b] + row[b]) <= limit) {
        candidates.push_back(a * values + b);
      }
    }
  }
  if (candidates.size() == 1) return static_cast<uint16_t>(candidates[0]);
  // Exact rescoring in code order with a strict comparison: ties keep the
  // lowest code, as the double scan over all codes did.
  int best_code = -1;
  double best_score = 0.0;
  int fa_of = -1;
  double fa = 0.0;
  for (const int code : candidates) {
    const int a = code / values;
    const int b = code % values;
    if (a != fa_of) {
      fa = HalfTerm(stage, *scratch, a, /*second_half=*/false);
      fa_of = a;
    }
    const double score =
        fa + HalfTerm(stage, *scratch, b, /*second_half=*/true) + t.cross[code];
    if (best_code < 0 || score < best_score) {
      best_score = score;
      best_code = code;
    }
  }
  return static_cast<uint16_t>(best_code);
}

void StructuredKeyEncoder::Encode(const float* head, uint16_t* codes,
                                  float* residual) const {
  const KeyCodebookShape& shape = this->shape();
  std::vector<float> r(head, head + shape.head_dim);
  Scratch scratch(shape.num_pairs(), padded_);
  for (int s = 0; s < num_stages(); ++s) {
    codes[s] = Nearest(s, r.data(), &scratch);
    stages_[s].SubtractCentre(KeyCodeA(codes[s], shape.half_bits),
                              KeyCodeB(codes[s], shape.half_bits), r.data());
  }
  if (residual != nullptr) std::copy(r.begin(), r.end(), residual);
}

void StructuredKeyEncoder::EncodeRows(const float* heads, int64_t n,
                                      uint16_t* codes) const {
  // Rows encoded stage by stage together: one stage's tables (48 KiB at
  // h = 6, head_dim 128) serve all of them while in cache, instead of
  // every stage's tables (1 MiB for 21 stages) cycling through per row.
  constexpr int64_t kBlockRows = 16;
  const KeyCodebookShape& shape = this->shape();
  const int64_t d = shape.head_dim;
  const int stages = num_stages();
  std::vector<float> residuals(kBlockRows * d);
  Scratch scratch(shape.num_pairs(), padded_);
  for (int64_t block = 0; block < n; block += kBlockRows) {
    const int64_t rows = std::min(kBlockRows, n - block);
    std::copy(heads + block * d, heads + (block + rows) * d, residuals.begin());
    for (int s = 0; s < stages; ++s) {
      for (int64_t r = 0; r < rows; ++r) {
        float* residual = &residuals[r * d];
        const uint16_t code = Nearest(s, residual, &scratch);
        codes[(block + r) * stages + s] = code;
        stages_[s].SubtractCentre(KeyCodeA(code, shape.half_bits),
                                  KeyCodeB(code, shape.half_bits), residual);
      }
    }
  }
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
