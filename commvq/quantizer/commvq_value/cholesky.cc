#include "commvq/quantizer/commvq_value/cholesky.h"

#include <algorithm>
#include <cmath>

namespace commvq {

bool CholeskyInPlace(std::vector<double>& a, int64_t m) {
  for (int64_t j = 0; j < m; ++j) {
    double d = a[j * m + j];
    for (int64_t k = 0; k < j; ++k) d -= a[j * m + k] * a[j * m + k];
    if (!(d > 0.0)) return false;
    const double l = std::sqrt(d);
    a[j * m + j] = l;
    for (int64_t i = j + 1; i < m; ++i) {
      double v = a[i * m + j];
      const double* ri = &a[i * m];
      const double* rj = &a[j * m];
      for (int64_t k = 0; k < j; ++k) v -= ri[k] * rj[k];
      a[i * m + j] = v / l;
    }
  }
  return true;
}

void CholeskySolve(const std::vector<double>& l, int64_t m, double* y) {
  for (int64_t i = 0; i < m; ++i) {
    double v = y[i];
    const double* row = &l[i * m];
    for (int64_t k = 0; k < i; ++k) v -= row[k] * y[k];
    y[i] = v / row[i];
  }
  for (int64_t i = m - 1; i >= 0; --i) {
    double v = y[i];
    for (int64_t k = i + 1; k < m; ++k) v -= l[k * m + i] * y[k];
    y[i] = v / l[i * m + i];
  }
}

void CholeskySolveColumns(const std::vector<double>& l, int64_t m, double* y,
                          int64_t k) {
  // Columns per chunk: a whole chunk row is a few vector registers.
  constexpr int64_t kChunk = 16;
  std::vector<double> part(m * kChunk);
  for (int64_t c0 = 0; c0 < k; c0 += kChunk) {
    const int64_t w = std::min(kChunk, k - c0);
    std::fill(part.begin(), part.end(), 0.0);
    for (int64_t i = 0; i < m; ++i) {
      std::copy_n(y + i * k + c0, w, &part[i * kChunk]);
    }
    for (int64_t i = 0; i < m; ++i) {
      double* pi = &part[i * kChunk];
      const double* row = &l[i * m];
      for (int64_t p = 0; p < i; ++p) {
        const double f = row[p];
        const double* pp = &part[p * kChunk];
        for (int64_t c = 0; c < kChunk; ++c) pi[c] -= f * pp[c];
      }
      for (int64_t c = 0; c < kChunk; ++c) pi[c] /= row[i];
    }
    for (int64_t i = m - 1; i >= 0; --i) {
      double* pi = &part[i * kChunk];
      for (int64_t p = i + 1; p < m; ++p) {
        const double f = l[p * m + i];
        const double* pp = &part[p * kChunk];
        for (int64_t c = 0; c < kChunk; ++c) pi[c] -= f * pp[c];
      }
      for (int64_t c = 0; c < kChunk; ++c) pi[c] /= l[i * m + i];
    }
    for (int64_t i = 0; i < m; ++i) {
      std::copy_n(&part[i * kChunk], w, y + i * k + c0);
    }
  }
}

}  // namespace commvq
