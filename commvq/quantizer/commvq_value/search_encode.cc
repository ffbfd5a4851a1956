#include "commvq/quantizer/commvq_value/search_encode.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "commvq/base/thread_pool.h"
#include "commvq/quantizer/commvq_value/cholesky.h"
#include "commvq/quantizer/commvq_value/search_rules.h"
#include "commvq/quantizer/commvq_value/value_codebook.h"

namespace commvq {
namespace {

// Ridge of the relaxed start, relative to the mean diagonal of G.
constexpr double kRelaxedRidge = 1e-3;

using Tables = ValueSearchEncoder::Tables;
using Scratch = ValueSearchEncoder::Scratch;

// Partial sums per dot product: enough independent vector accumulators to
// hide the multiply-add latency (the sums may be reassociated under this
// library's copts).
constexpr int64_t kLanes = 32;

inline float Dot(const float* a, const float* b, int64_t n) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int64_t l = 0; l < kLanes; ++l) acc[l] += a[i + l] * b[i + l];
  }
  float sum = 0.0f;
  for (; i < n; ++i) sum += a[i] * b[i];
  for (int64_t l = 0; l < kLanes; ++l) sum += acc[l];
  return sum;
}

// y += a x + b z ([n] each), reading only the rows whose coefficient is
// not 0: a change often moves one bit of its group, and the rows (of G
// above all) come from memory.
inline void AddRows(float a, const float* x, float b, const float* z, int64_t n,
                    float* y) {
  if (a != 0.0f && b != 0.0f) {
    for (int64_t k = 0; k < n; ++k) y[k] += a * x[k] + b * z[k];
  } else if (a != 0.0f) {
    for (int64_t k = 0; k < n; ++k) y[k] += a * x[k];
  } else {
    for (int64_t k = 0; k < n; ++k) y[k] += b * z[k];
  }
}

// The starts of one restart for `count` vectors x into s ([count, Nc]).
inline void Starts(const Tables& t, int restart, const float* x, int64_t count,
                   Scratch* scratch) {
  const int64_t nc = t.num_code_bits;
  const int64_t d = t.dim;
  uint8_t* s = scratch->s.data();
  if (restart == 0 && t.relaxed != nullptr) {
    // y = (G + eps I)^-1 C W x, rounded; each row of the matrix serves the
    // whole block.
    for (int64_t i = 0; i < nc; ++i) {
      const float* row = t.relaxed + i * d;
      for (int64_t v = 0; v < count; ++v) {
        s[v * nc + i] = Dot(row, x + v * d, d) > 0.5f ? 1 : 0;
      }
    }
    return;
  }
  StartBits(restart, nc, s);
  for (int64_t v = 1; v < count; ++v) std::memcpy(s + v * nc, s, nc);
}

// Sweeps of iterated conditional modes over the block: s ([count, Nc]),
// e = x - s C ([count, d]) and h = C W e ([count, Nc]) are updated in place.
// A vector stops sweeping after a sweep that changes nothing, as it would
// alone.
inline void Descend(const Tables& t, int64_t count, Scratch* scratch) {
  const int64_t nc = t.num_code_bits;
  const int64_t d = t.dim;
  uint8_t* s = scratch->s.data();
  float* residual = scratch->residual.data();
  float* dots = scratch->dots.data();
  uint8_t* active = scratch->active.data();
  std::fill(active, active + count, 1);
  uint8_t changed[ValueSearchEncoder::kBlockVectors];
  for (int sweep = 0; sweep < t.options.sweeps; ++sweep) {
    std::fill(changed, changed + count, 0);
    for (int64_t g = 0; g < nc / 2; ++g) {
      const int64_t i = 2 * g;
      const int64_t j = i + 1;
      const double gii = t.gram[i * nc + i];
      const double gjj = t.gram[j * nc + j];
      const double gij = t.gram[i * nc + j];
      for (int64_t v = 0; v < count; ++v) {
        if (!active[v]) continue;
        uint8_t* sv = s + v * nc;
        float* h = dots + v * nc;
        const uint8_t si = sv[i];
        const uint8_t sj = sv[j];
        // (C W)_i . e0 with e0 = e + s_i C_i + s_j C_j, the residual
        // without this group.
        const double a0i = h[i] + gii * si + gij * sj;
        const double a0j = h[j] + gij * si + gjj * sj;
        const double on_i = gii - 2.0 * a0i;
        const double on_j = gjj - 2.0 * a0j;
        // Objective change against the group at (0, 0), by category.
        const double cost[4] = {on_i, on_j, on_i + on_j + 2.0 * gij, 0.0};
        const int best = BestCategory(cost, ValueCategoryOf(si, sj));
        const uint8_t ti = kValueCategoryBits[best][0];
        const uint8_t tj = kValueCategoryBits[best][1];
        if (ti == si && tj == sj) continue;
        changed[v] = 1;
        const float di = static_cast<float>(si - ti);
        const float dj = static_cast<float>(sj - tj);
        // e += di C_i + dj C_j, so h += di G_i + dj G_j.
        AddRows(di, t.codebook + i * d, dj, t.codebook + j * d, d,
                residual + v * d);
        AddRows(di, t.gram + i * nc, dj, t.gram + j * nc, nc, h);
        sv[i] = ti;
        sv[j] = tj;
      }
    }
    bool any = false;
    for (int64_t v = 0; v < count; ++v) {
      active[v] = changed[v];
      any |= changed[v] != 0;
    }
    if (!any) break;
  }
}

// Encodes up to kBlockVectors vectors x ([count, d]) into bits
// ([count, Nc]) and errors ([count]); with start_only, writes the first
// starts into bits and stops.
inline void EncodeBlockKernel(const Tables& t, const float* x, int64_t count,
                              bool start_only, uint8_t* bits, double* errors,
                              Scratch* scratch) {
  const int64_t nc = t.num_code_bits;
  const int64_t d = t.dim;
  scratch->s.resize(ValueSearchEncoder::kBlockVectors * nc);
  scratch->residual.resize(ValueSearchEncoder::kBlockVectors * d);
  scratch->dots.resize(ValueSearchEncoder::kBlockVectors * nc);
  scratch->active.resize(ValueSearchEncoder::kBlockVectors);
  for (int restart = 0; restart <= t.options.restarts; ++restart) {
    Starts(t, restart, x, count, scratch);
    const uint8_t* s = scratch->s.data();
    if (start_only) {
      std::memcpy(bits, s, count * nc);
      return;
    }
    // e = x - s C, row by row of C for the whole block.
    float* residual = scratch->residual.data();
    std::memcpy(residual, x, count * d * sizeof(float));
    for (int64_t i = 0; i < nc; ++i) {
      const float* row = t.codebook + i * d;
      for (int64_t v = 0; v < count; ++v) {
        if (!s[v * nc + i]) continue;
        float* e = residual + v * d;
        for (int64_t c = 0; c < d; ++c) e[c] -= row[c];
      }
    }
    // h = C W e, row by row of C W for the whole block.
    float* dots = scratch->dots.data();
    for (int64_t i = 0; i < nc; ++i) {
      const float* row = t.weighted + i * d;
      for (int64_t v = 0; v < count; ++v) {
        dots[v * nc + i] = Dot(row, residual + v * d, d);
      }
    }
    Descend(t, count, scratch);
    for (int64_t v = 0; v < count; ++v) {
      const float* e = residual + v * d;
      double objective = 0.0;
      for (int64_t c = 0; c < d; ++c) {
        objective += double{t.weights[c]} * e[c] * e[c];
      }
      if (restart == 0 || objective < errors[v]) {
        errors[v] = objective;
        std::memcpy(bits + v * nc, s + v * nc, nc);
      }
    }
  }
}

using EncodeBlockFn = void (*)(const Tables&, const float*, int64_t, bool,
                               uint8_t*, double*, Scratch*);

void EncodeBlockBaseline(const Tables& t, const float* x, int64_t count,
                         bool start_only, uint8_t* bits, double* errors,
                         Scratch* scratch) {
  EncodeBlockKernel(t, x, count, start_only, bits, errors, scratch);
}

#if defined(__x86_64__) && defined(__GNUC__)
#define CVQ_VALUE_SEARCH_HAS_AVX2 1
// `flatten` compiles the whole kernel for AVX2 + FMA; the rest of the file
// stays baseline. Dispatch is an explicit CPU check (target_clones' ifunc
// resolver runs before the sanitizer runtimes start).
__attribute__((target("avx2,fma"), flatten)) void EncodeBlockAvx2(
    const Tables& t, const float* x, int64_t count, bool start_only,
    uint8_t* bits, double* errors, Scratch* scratch) {
  EncodeBlockKernel(t, x, count, start_only, bits, errors, scratch);
}
#else
#define CVQ_VALUE_SEARCH_HAS_AVX2 0
#endif

EncodeBlockFn PickEncodeBlock() {
#if CVQ_VALUE_SEARCH_HAS_AVX2
  static const EncodeBlockFn fn = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
               ? &EncodeBlockAvx2
               : &EncodeBlockBaseline;
  }();
  return fn;
#else
  return &EncodeBlockBaseline;
#endif
}

// (G + eps I)^-1 C W ([nc, d]) for G = C W C^T, by the push-through
// identity (C' C'^T + eps I)^-1 C' = C' (C'^T C' + eps I)^-1 with
// C' = C W^(1/2): a d x d system instead of an Nc x Nc one. Empty should
// the factorization fail (rounding on a degenerate codebook).
std::vector<float> RelaxedStartMatrix(const std::vector<float>& codebook,
                                      const std::vector<float>& weights,
                                      int64_t nc, int64_t d) {
  // C'^T: [d, nc].
  std::vector<float> scaled_t(d * nc);
  for (int64_t i = 0; i < nc; ++i) {
    for (int64_t c = 0; c < d; ++c) {
      scaled_t[c * nc + i] = codebook[i * d + c] * std::sqrt(weights[c]);
    }
  }
  std::vector<double> k(d * d);
  double trace = 0.0;
  for (int64_t a = 0; a < d; ++a) {
    for (int64_t b = a; b < d; ++b) {
      const double v = Dot(&scaled_t[a * nc], &scaled_t[b * nc], nc);
      k[a * d + b] = v;
      k[b * d + a] = v;
    }
    trace += k[a * d + a];
  }
  // trace(C'^T C') = trace(G).
  const double ridge = kRelaxedRidge * (trace > 0.0 ? trace / nc : 1.0);
  for (int64_t a = 0; a < d; ++a) k[a * d + a] += ridge;
  if (!CholeskyInPlace(k, d)) return {};
  // Z = (C'^T C' + eps I)^-1 C'^T: [d, nc]; the matrix is W^(1/2) Z,
  // transposed.
  std::vector<double> z(scaled_t.begin(), scaled_t.end());
  CholeskySolveColumns(k, d, z.data(), nc);
  std::vector<float> relaxed(nc * d);
  for (int64_t c = 0; c < d; ++c) {
    const double root = std::sqrt(weights[c]);
    for (int64_t i = 0; i < nc; ++i) {
      relaxed[i * d + c] = static_cast<float>(root * z[c * nc + i]);
    }
  }
  return relaxed;
}

}  // namespace

ValueSearchEncoder::ValueSearchEncoder(const float* codebook,
                                       int64_t num_code_bits, int64_t dim,
                                       ValueSearchOptions options,
                                       const float* channel_weights)
    : num_code_bits_(num_code_bits),
      dim_(dim),
      options_(options),
      codebook_(codebook, codebook + num_code_bits * dim),
      weighted_(codebook_),
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
      const float g = Dot(&weighted_[i * dim], &codebook_[j * dim], dim);
      gram_[i * num_code_bits + j] = g;
      gram_[j * num_code_bits + i] = g;
    }
  }
  if (options_.relaxed_start) {
    relaxed_ = RelaxedStartMatrix(codebook_, weights_, num_code_bits, dim);
  }
}

ValueSearchEncoder::Tables ValueSearchEncoder::tables() const {
  return {num_code_bits_,   dim_,
          options_,         codebook_.data(),
          weighted_.data(), weights_.data(),
          gram_.data(),     relaxed_.empty() ? nullptr : relaxed_.data()};
}

void ValueSearchEncoder::RestartStart(int restart, int64_t num_code_bits,
                                      uint8_t* bits) {
  StartBits(restart, num_code_bits, bits);
}

void ValueSearchEncoder::FirstStart(const float* x, uint8_t* bits) const {
  Scratch scratch;
  double error = 0.0;
  PickEncodeBlock()(tables(), x, 1, true, bits, &error, &scratch);
}

double ValueSearchEncoder::Encode(const float* x, uint8_t* bits,
                                  Scratch* scratch) const {
  double error = 0.0;
  EncodeRows(x, 1, bits, &error, scratch);
  return error;
}

void ValueSearchEncoder::EncodeRows(const float* x, int64_t n, uint8_t* bits,
                                    double* errors, Scratch* scratch) const {
  const Tables t = tables();
  const EncodeBlockFn encode = PickEncodeBlock();
  double block_errors[kBlockVectors];
  for (int64_t v = 0; v < n; v += kBlockVectors) {
    const int64_t count = std::min(kBlockVectors, n - v);
    encode(t, x + v * dim_, count, false, bits + v * num_code_bits_,
           block_errors, scratch);
    if (errors != nullptr) std::copy_n(block_errors, count, errors + v);
  }
}

double ValueSearchEncoder::EncodeBatch(const float* x, int64_t n, uint8_t* bits,
                                       ThreadPool* pool) const {
  std::vector<double> errors(n);
  const auto run = [&](int64_t begin, int64_t end) {
    Scratch scratch;
    EncodeRows(x + begin * dim_, end - begin, bits + begin * num_code_bits_,
               &errors[begin], &scratch);
  };
  if (pool == nullptr) {
    run(0, n);
  } else {
    pool->ParallelFor(0, n, kBlockVectors, run);
  }
  double sum = 0.0;
  for (double e : errors) sum += e;
  return sum;
}

}  // namespace commvq
