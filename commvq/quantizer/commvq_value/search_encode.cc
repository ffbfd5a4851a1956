#include "commvq/quantizer/commvq_value/search_encode.h"

#include <algorithm>
#include <cstring>

#include "commvq/base/thread_pool.h"
#include "commvq/quantizer/commvq_value/cholesky.h"
#include "commvq/quantizer/commvq_value/search_rules.h"
#include "commvq/quantizer/commvq_value/value_codebook.h"

namespace commvq {
namespace {

// Rows per ParallelFor chunk at least (a row costs O(Nc^2) at most).
constexpr int64_t kGrain = 16;
// Ridge of the relaxed start, relative to the mean diagonal of G.
constexpr double kRelaxedRidge = 1e-3;

// Vectorizes under this library's copts (the sum may be reassociated).
float Dot(const float* a, const float* b, int64_t n) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

}  // namespace

ValueSearchEncoder::ValueSearchEncoder(const float* codebook,
                                       int64_t num_code_bits, int64_t dim,
                                       ValueSearchOptions options,
                                       const float* channel_weights)
    : num_code_bits_(num_code_bits),
      dim_(dim),
      options_(options),
      weighted_(codebook, codebook + num_code_bits * dim),
      weights_(dim, 1.0f),
      gram_(num_code_bits * num_code_bits) {
  if (channel_weights != nullptr) {
    weights_.assign(channel_weights, channel_weights + dim);
  }
  for (int64_t i = 0; i < num_code_bits; ++i) {
    for (int64_t c = 0; c < dim; ++c) weighted_[i * dim + c] *= weights_[c];
  }
  for (int64_t i = 0; i < num_code_bits; ++i) {
    for (int64_t j = i; j < num_code_bits; ++j) {
      double g = 0.0;
      for (int64_t c = 0; c < dim; ++c) {
        g += double{weighted_[i * dim + c]} * codebook[j * dim + c];
      }
      gram_[i * num_code_bits + j] = static_cast<float>(g);
      gram_[j * num_code_bits + i] = static_cast<float>(g);
    }
  }
  if (!options_.relaxed_start) return;
  const int64_t nc = num_code_bits;
  double trace = 0.0;
  for (int64_t i = 0; i < nc; ++i) trace += gram_[i * nc + i];
  const double ridge = kRelaxedRidge * (trace > 0.0 ? trace / nc : 1.0);
  factor_.assign(gram_.begin(), gram_.end());
  for (int64_t i = 0; i < nc; ++i) factor_[i * nc + i] += ridge;
  // A Gram matrix plus a positive ridge is definite; should rounding still
  // break the factorization, the relaxed start is simply not used.
  if (!CholeskyInPlace(factor_, nc)) factor_.clear();
}

void ValueSearchEncoder::RelaxedStart(const float* b, uint8_t* bits) const {
  std::vector<double> y(b, b + num_code_bits_);
  CholeskySolve(factor_, num_code_bits_, y.data());
  for (int64_t i = 0; i < num_code_bits_; ++i) bits[i] = y[i] > 0.5 ? 1 : 0;
}

void ValueSearchEncoder::Descend(Scratch* scratch) const {
  const int64_t nc = num_code_bits_;
  const float* gram = gram_.data();
  const float* b = scratch->b.data();
  float* r = scratch->r.data();
  uint8_t* s = scratch->s.data();
  for (int sweep = 0; sweep < options_.sweeps; ++sweep) {
    bool changed = false;
    for (int64_t i = 0; i < nc; i += 2) {
      const int64_t j = i + 1;
      const uint8_t si = s[i];
      const uint8_t sj = s[j];
      const double gii = gram[i * nc + i];
      const double gjj = gram[j * nc + j];
      const double gij = gram[i * nc + j];
      // r without this group's own contribution.
      const double ri = r[i] - gii * si - gij * sj;
      const double rj = r[j] - gij * si - gjj * sj;
      const double on_i = gii + 2.0 * (ri - b[i]);
      const double on_j = gjj + 2.0 * (rj - b[j]);
      // Objective change against the group at (0, 0), by category.
      const double cost[4] = {on_i, on_j, on_i + on_j + 2.0 * gij, 0.0};
      const int best = BestCategory(cost, ValueCategoryOf(si, sj));
      const uint8_t ti = kValueCategoryBits[best][0];
      const uint8_t tj = kValueCategoryBits[best][1];
      if (ti == si && tj == sj) continue;
      changed = true;
      const float di = static_cast<float>(ti - si);
      const float dj = static_cast<float>(tj - sj);
      const float* gi = gram + i * nc;
      const float* gj = gram + j * nc;
      for (int64_t k = 0; k < nc; ++k) r[k] += di * gi[k] + dj * gj[k];
      s[i] = ti;
      s[j] = tj;
    }
    if (!changed) break;
  }
}

void ValueSearchEncoder::Project(const float* x, Scratch* scratch) const {
  scratch->b.resize(num_code_bits_);
  for (int64_t i = 0; i < num_code_bits_; ++i) {
    scratch->b[i] = Dot(&weighted_[i * dim_], x, dim_);
  }
}

void ValueSearchEncoder::FirstStart(const float* x, uint8_t* bits) const {
  Scratch scratch;
  Project(x, &scratch);
  if (factor_.empty()) {
    StartBits(0, num_code_bits_, bits);
  } else {
    RelaxedStart(scratch.b.data(), bits);
  }
}

double ValueSearchEncoder::Encode(const float* x, uint8_t* bits,
                                  Scratch* scratch) const {
  const int64_t nc = num_code_bits_;
  Project(x, scratch);
  scratch->r.resize(nc);
  scratch->s.resize(nc);
  double norm2 = 0.0;
  for (int64_t c = 0; c < dim_; ++c) norm2 += double{weights_[c]} * x[c] * x[c];
  double best = 0.0;
  const bool relaxed = !factor_.empty();
  // The first start is the relaxed one (or zeros without it); restarts
  // 1, 2, ... start from random bits.
  for (int restart = 0; restart <= options_.restarts; ++restart) {
    uint8_t* s = scratch->s.data();
    if (restart == 0 && relaxed) {
      RelaxedStart(scratch->b.data(), s);
    } else {
      StartBits(restart, nc, s);
    }
    // r = G s: the rows of the bits that are on.
    float* r = scratch->r.data();
    std::fill(r, r + nc, 0.0f);
    for (int64_t i = 0; i < nc; ++i) {
      if (!s[i]) continue;
      const float* gi = &gram_[i * nc];
      for (int64_t k = 0; k < nc; ++k) r[k] += gi[k];
    }
    Descend(scratch);
    // ||x||^2 - 2 s.b + s.(G s).
    double objective = norm2;
    for (int64_t i = 0; i < nc; ++i) {
      if (s[i]) objective += double{scratch->r[i]} - 2.0 * scratch->b[i];
    }
    if (restart == 0 || objective < best) {
      best = objective;
      std::memcpy(bits, s, nc);
    }
  }
  return std::max(best, 0.0);
}

double ValueSearchEncoder::EncodeBatch(const float* x, int64_t n, uint8_t* bits,
                                       ThreadPool* pool) const {
  std::vector<double> errors(n);
  const auto run = [&](int64_t begin, int64_t end) {
    Scratch scratch;
    for (int64_t v = begin; v < end; ++v) {
      errors[v] = Encode(x + v * dim_, bits + v * num_code_bits_, &scratch);
    }
  };
  if (pool == nullptr) {
    run(0, n);
  } else {
    pool->ParallelFor(0, n, kGrain, run);
  }
  double sum = 0.0;
  for (double e : errors) sum += e;
  return sum;
}

}  // namespace commvq
