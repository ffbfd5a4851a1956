#include "commvq/quantizer/commvq_value/search_encode.h"

#include <algorithm>
#include <cstring>

#include "commvq/base/random.h"
#include "commvq/base/thread_pool.h"
#include "commvq/quantizer/commvq_value/value_codebook.h"

namespace commvq {
namespace {

// Rows per ParallelFor chunk at least (a row costs O(Nc^2) at most).
constexpr int64_t kGrain = 16;

double Dot(const float* a, const float* b, int64_t n) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += double{a[i]} * b[i];
  return sum;
}

// The category whose bits are (lo, hi).
int CategoryOf(uint8_t lo, uint8_t hi) {
  for (int k = 0; k < 4; ++k) {
    if (kValueCategoryBits[k][0] == lo && kValueCategoryBits[k][1] == hi) {
      return k;
    }
  }
  return 3;
}

// The starting bits of restart k: zeros for k = 0, else the stream Rng(k).
void StartBits(int restart, int64_t num_code_bits, uint8_t* s) {
  if (restart == 0) {
    std::fill(s, s + num_code_bits, 0);
    return;
  }
  Rng rng(static_cast<uint64_t>(restart));
  for (int64_t i = 0; i < num_code_bits; ++i) {
    s[i] = static_cast<uint8_t>(rng.NextU64() & 1);
  }
}

// The index of the lowest of four costs; `current` wins ties, and otherwise
// the first lowest one.
int BestCategory(const double cost[4], int current) {
  int best = current;
  for (int k = 0; k < 4; ++k) {
    if (cost[k] < cost[best]) best = k;
  }
  return best;
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
      const float g = static_cast<float>(
          Dot(&weighted_[i * dim], &codebook[j * dim], dim));
      gram_[i * num_code_bits + j] = g;
      gram_[j * num_code_bits + i] = g;
    }
  }
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
      const int best = BestCategory(cost, CategoryOf(si, sj));
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

double ValueSearchEncoder::Encode(const float* x, uint8_t* bits,
                                  Scratch* scratch) const {
  const int64_t nc = num_code_bits_;
  scratch->b.resize(nc);
  scratch->r.resize(nc);
  scratch->s.resize(nc);
  for (int64_t i = 0; i < nc; ++i) {
    scratch->b[i] = static_cast<float>(Dot(&weighted_[i * dim_], x, dim_));
  }
  double norm2 = 0.0;
  for (int64_t c = 0; c < dim_; ++c) norm2 += double{weights_[c]} * x[c] * x[c];
  double best = 0.0;
  for (int restart = 0; restart <= options_.restarts; ++restart) {
    uint8_t* s = scratch->s.data();
    StartBits(restart, nc, s);
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

double ValueSearchEncoder::EncodeBatch(const float* x, int64_t n,
                                       uint8_t* bits, ThreadPool* pool) const {
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

double ValueCodeSquaredError(const float* codebook, int64_t num_code_bits,
                             int64_t dim, const uint8_t* bits, const float* x,
                             const float* channel_weights) {
  std::vector<double> y(dim, 0.0);
  for (int64_t i = 0; i < num_code_bits; ++i) {
    if (!bits[i]) continue;
    for (int64_t c = 0; c < dim; ++c) y[c] += codebook[i * dim + c];
  }
  double error = 0.0;
  for (int64_t c = 0; c < dim; ++c) {
    const double diff = x[c] - y[c];
    error += (channel_weights != nullptr ? channel_weights[c] : 1.0) * diff *
             diff;
  }
  return error;
}

double ReferenceValueSearch(const float* codebook, int64_t num_code_bits,
                            int64_t dim, ValueSearchOptions options,
                            const float* x, uint8_t* bits,
                            const float* channel_weights) {
  std::vector<uint8_t> s(num_code_bits);
  double best = 0.0;
  for (int restart = 0; restart <= options.restarts; ++restart) {
    StartBits(restart, num_code_bits, s.data());
    for (int sweep = 0; sweep < options.sweeps; ++sweep) {
      bool changed = false;
      for (int64_t i = 0; i < num_code_bits; i += 2) {
        const int current = CategoryOf(s[i], s[i + 1]);
        double cost[4];
        for (int k = 0; k < 4; ++k) {
          s[i] = kValueCategoryBits[k][0];
          s[i + 1] = kValueCategoryBits[k][1];
          cost[k] = ValueCodeSquaredError(codebook, num_code_bits, dim,
                                          s.data(), x, channel_weights);
        }
        const int chosen = BestCategory(cost, current);
        s[i] = kValueCategoryBits[chosen][0];
        s[i + 1] = kValueCategoryBits[chosen][1];
        changed |= chosen != current;
      }
      if (!changed) break;
    }
    const double objective = ValueCodeSquaredError(
        codebook, num_code_bits, dim, s.data(), x, channel_weights);
    if (restart == 0 || objective < best) {
      best = objective;
      std::copy(s.begin(), s.end(), bits);
    }
  }
  return best;
}

}  // namespace commvq
