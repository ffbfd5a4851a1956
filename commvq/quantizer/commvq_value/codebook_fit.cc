#include "commvq/quantizer/commvq_value/codebook_fit.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "commvq/base/random.h"
#include "commvq/base/status_macros.h"
#include "commvq/base/thread_pool.h"
#include "commvq/quantizer/commvq_value/cholesky.h"

namespace commvq {
namespace {

void ParallelRange(ThreadPool* pool, int64_t n, int64_t grain,
                   const std::function<void(int64_t, int64_t)>& fn) {
  if (pool == nullptr) {
    fn(0, n);
  } else {
    pool->ParallelFor(0, n, grain, fn);
  }
}

}  // namespace

std::vector<float> ValueChannelScale(const float* x, int64_t n, int64_t dim) {
  std::vector<double> sum(dim, 0.0);
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 0; c < dim; ++c) sum[c] += std::fabs(x[r * dim + c]);
  }
  std::vector<float> scale(dim, 1.0f);
  for (int64_t c = 0; c < dim; ++c) {
    const float mean = n > 0 ? static_cast<float>(sum[c] / n) : 0.0f;
    if (std::isnormal(mean)) scale[c] = mean;
  }
  return scale;
}

double PrescaleToUnit(const float* x, const float* scale, int64_t dim,
                      float* unit) {
  double norm2 = 0.0;
  for (int64_t c = 0; c < dim; ++c) {
    const double u = double{x[c]} / scale[c];
    norm2 += u * u;
  }
  const double norm = std::sqrt(norm2);
  for (int64_t c = 0; c < dim; ++c) {
    unit[c] =
        norm > 0.0 ? static_cast<float>(double{x[c]} / scale[c] / norm) : 0.0f;
  }
  return norm;
}

absl::StatusOr<std::vector<float>> FitValueCodebook(const uint8_t* bits,
                                                    const float* targets,
                                                    int64_t n, int64_t nc,
                                                    int64_t dim, double ridge,
                                                    ThreadPool* pool) {
  if (!(ridge > 0.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("value codebook fit: ridge is ", ridge, ": expected > 0"));
  }
  if (n < 1 || nc < 1 || dim < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("value codebook fit: ", n, " rows of ", nc,
                     " bits and dim ", dim, ": expected all >= 1"));
  }
  // Row i of S^T S (integer counts, exact) and of S^T U, one row per task:
  // each sums the rows in order, so the result does not depend on `pool`.
  std::vector<double> a(nc * nc);
  std::vector<double> rhs(nc * dim);
  ParallelRange(pool, nc, 8, [&](int64_t begin, int64_t end) {
    std::vector<int32_t> counts(nc);
    for (int64_t i = begin; i < end; ++i) {
      std::fill(counts.begin(), counts.end(), 0);
      double* out = &rhs[i * dim];
      for (int64_t r = 0; r < n; ++r) {
        const uint8_t* row = bits + r * nc;
        if (!row[i]) continue;
        for (int64_t j = 0; j < nc; ++j) counts[j] += row[j];
        const float* t = targets + r * dim;
        for (int64_t c = 0; c < dim; ++c) out[c] += t[c];
      }
      for (int64_t j = 0; j < nc; ++j) a[i * nc + j] = counts[j];
      a[i * nc + i] += ridge * static_cast<double>(n);
    }
  });
  if (!CholeskyInPlace(a, nc)) {
    return absl::InternalError(
        "value codebook fit: the normal equations are not definite");
  }
  // Solve L L^T C = rhs for ranges of columns (columns are independent,
  // and a column's arithmetic does not depend on its range).
  std::vector<float> codebook(nc * dim);
  ParallelRange(pool, dim, 16, [&](int64_t begin, int64_t end) {
    const int64_t w = end - begin;
    std::vector<double> y(nc * w);
    for (int64_t i = 0; i < nc; ++i) {
      std::copy_n(&rhs[i * dim + begin], w, &y[i * w]);
    }
    CholeskySolveColumns(a, nc, y.data(), w);
    for (int64_t i = 0; i < nc; ++i) {
      for (int64_t c = 0; c < w; ++c) {
        codebook[i * dim + begin + c] = static_cast<float>(y[i * w + c]);
      }
    }
  });
  return codebook;
}

void InitialValueCodes(const float* units, int64_t n, int64_t dim, int64_t nc,
                       uint64_t seed, uint8_t* bits) {
  const Rng root(seed);
  std::vector<float> w(nc * dim);
  for (int64_t i = 0; i < nc; ++i) {
    Rng rng = root.Fork(static_cast<uint64_t>(i));
    rng.FillNormal(absl::MakeSpan(&w[i * dim], dim), 0.0f, 1.0f);
  }
  for (int64_t r = 0; r < n; ++r) {
    const float* u = units + r * dim;
    for (int64_t i = 0; i < nc; ++i) {
      double dot = 0.0;
      for (int64_t c = 0; c < dim; ++c) dot += double{u[c]} * w[i * dim + c];
      bits[r * nc + i] = dot > 0.0 ? 1 : 0;
    }
  }
}

absl::StatusOr<ValueCodebookTrainResult> TrainValueCodebookBySearch(
    const float* units, int64_t n, int64_t dim, int64_t nc,
    const ValueCodebookTrainOptions& options) {
  if (options.iterations < 1 || options.search.sweeps < 1 ||
      options.search.restarts < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "value codebook training: iterations ", options.iterations, ", sweeps ",
        options.search.sweeps, ", restarts ", options.search.restarts,
        ": expected >= 1, >= 1 and >= 0"));
  }
  if (!options.channel_weights.empty() &&
      static_cast<int64_t>(options.channel_weights.size()) != dim) {
    return absl::InvalidArgumentError(absl::StrCat(
        "value codebook training: ", options.channel_weights.size(),
        " channel weights: expected dim ", dim));
  }
  if (nc < 2 || nc % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("value codebook training: ", nc,
                     " code bits: expected an even number >= 2"));
  }
  ValueCodebookTrainResult result;
  result.bits.resize(n * nc);
  InitialValueCodes(units, n, dim, nc, options.seed, result.bits.data());
  for (int it = 0; it < options.iterations; ++it) {
    CVQ_ASSIGN_OR_RETURN(result.codebook,
                         FitValueCodebook(result.bits.data(), units, n, nc, dim,
                                          options.ridge, options.pool));
    const ValueSearchEncoder encoder(
        result.codebook.data(), nc, dim, options.search,
        options.channel_weights.empty() ? nullptr
                                        : options.channel_weights.data());
    result.mse.push_back(
        encoder.EncodeBatch(units, n, result.bits.data(), options.pool) /
        static_cast<double>(n));
    if (options.progress) {
      options.progress(static_cast<double>(it + 1) / options.iterations);
    }
  }
  return result;
}

}  // namespace commvq
