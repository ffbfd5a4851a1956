#include "commvq/quantizer/commvq_key/hard_fit.h"

#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "commvq/base/random.h"
#include "commvq/base/status_macros.h"
#include "commvq/base/pair_layout.h"
#include "commvq/quantizer/commvq_key/structured_encode.h"

namespace commvq {

absl::StatusOr<KeyCodebook> InitKeyCodebookFromRows(
    const KeyCodebookShape& shape, const float* residuals, int64_t num_rows,
    Rng* rng) {
  CVQ_RETURN_IF_ERROR(ValidateKeyCodebookShape(shape));
  if (num_rows < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("key codebook initialization: ", num_rows,
                     " rows: expected at least 1"));
  }
  const int values = shape.num_values();
  std::vector<float> z(shape.num_floats());
  for (int v = 0; v < values; ++v) {
    const float* row = residuals + rng->UniformInt(num_rows) * shape.head_dim;
    for (int64_t j = 0; j < shape.num_pairs(); ++j) {
      const float p1 = row[PairFirstChannel(shape.layout, shape.head_dim, j)];
      const float p2 = row[PairSecondChannel(shape.layout, shape.head_dim, j)];
      // (p1 + i p2)(1 - i) / 2.
      z[(j * values + v) * 2] = 0.5f * (p1 + p2);
      z[(j * values + v) * 2 + 1] = 0.5f * (p2 - p1);
    }
  }
  return KeyCodebook::Create(shape, std::move(z));
}

namespace {

// Weight of the ridge term lambda * ||z - z_old||^2, relative to one row.
constexpr double kRidge = 1e-3;

// Solves m u = rhs for symmetric positive definite m ([size, size],
// overwritten by its Cholesky factor) and every column of rhs ([size, cols],
// overwritten by the solutions).
void CholeskySolve(int size, int cols, std::vector<double>& m,
                   std::vector<double>& rhs) {
  for (int i = 0; i < size; ++i) {
    for (int k = 0; k < i; ++k) {
      double sum = m[i * size + k];
      for (int l = 0; l < k; ++l) sum -= m[i * size + l] * m[k * size + l];
      m[i * size + k] = sum / m[k * size + k];
    }
    double diagonal = m[i * size + i];
    for (int l = 0; l < i; ++l) diagonal -= m[i * size + l] * m[i * size + l];
    m[i * size + i] = std::sqrt(diagonal);
  }
  for (int c = 0; c < cols; ++c) {
    // L w = rhs, then L^T u = w.
    for (int i = 0; i < size; ++i) {
      double sum = rhs[i * cols + c];
      for (int l = 0; l < i; ++l) sum -= m[i * size + l] * rhs[l * cols + c];
      rhs[i * cols + c] = sum / m[i * size + i];
    }
    for (int i = size - 1; i >= 0; --i) {
      double sum = rhs[i * cols + c];
      for (int l = i + 1; l < size; ++l) {
        sum -= m[l * size + i] * rhs[l * cols + c];
      }
      rhs[i * cols + c] = sum / m[i * size + i];
    }
  }
}

// One least-squares refit of `codebook` to rows ([num_rows, head_dim]) coded
// as `codes` ([num_rows]). Unknowns u = (x_0..x_{K-1}, y_0..y_{K-1}) per
// pair, K = 2^h; a row coded (a, b) with pair (t1, t2) contributes the
// equations x_a - y_b = t1 and y_a + x_b = t2.
absl::StatusOr<KeyCodebook> Refit(const KeyCodebook& codebook,
                                  const float* rows, int64_t num_rows,
                                  const std::vector<uint16_t>& codes) {
  const KeyCodebookShape& shape = codebook.shape();
  const int values = shape.num_values();
  const int size = 2 * values;
  const int pairs = static_cast<int>(shape.num_pairs());
  std::vector<double> m(size * size, 0.0);
  // [size, pairs]: column j is pair j's right-hand side.
  std::vector<double> rhs(size * pairs, 0.0);
  for (int i = 0; i < size; ++i) m[i * size + i] = kRidge;
  for (int j = 0; j < pairs; ++j) {
    for (int v = 0; v < values; ++v) {
      rhs[v * pairs + j] = kRidge * codebook.x(j, v);
      rhs[(values + v) * pairs + j] = kRidge * codebook.y(j, v);
    }
  }
  for (int64_t r = 0; r < num_rows; ++r) {
    const int a = KeyCodeA(codes[r], shape.half_bits);
    const int b = KeyCodeB(codes[r], shape.half_bits);
    const int xa = a;
    const int ya = values + a;
    const int xb = b;
    const int yb = values + b;
    // First equation: +x_a - y_b; second: +y_a + x_b.
    m[xa * size + xa] += 1.0;
    m[yb * size + yb] += 1.0;
    m[xa * size + yb] -= 1.0;
    m[yb * size + xa] -= 1.0;
    m[ya * size + ya] += 1.0;
    m[xb * size + xb] += 1.0;
    m[ya * size + xb] += 1.0;
    m[xb * size + ya] += 1.0;
    const float* row = rows + r * shape.head_dim;
    for (int j = 0; j < pairs; ++j) {
      const double t1 = row[PairFirstChannel(shape.layout, shape.head_dim, j)];
      const double t2 = row[PairSecondChannel(shape.layout, shape.head_dim, j)];
      rhs[xa * pairs + j] += t1;
      rhs[yb * pairs + j] -= t1;
      rhs[ya * pairs + j] += t2;
      rhs[xb * pairs + j] += t2;
    }
  }
  CholeskySolve(size, pairs, m, rhs);
  std::vector<float> z(shape.num_floats());
  for (int j = 0; j < pairs; ++j) {
    for (int v = 0; v < values; ++v) {
      z[(j * values + v) * 2] = static_cast<float>(rhs[v * pairs + j]);
      z[(j * values + v) * 2 + 1] =
          static_cast<float>(rhs[(values + v) * pairs + j]);
    }
  }
  return KeyCodebook::Create(shape, std::move(z));
}

}  // namespace

absl::StatusOr<KeyCodebook> HardFitKeyCodebook(const KeyCodebookShape& shape,
                                               const float* residuals,
                                               int64_t num_rows,
                                               int iterations, Rng* rng) {
  CVQ_ASSIGN_OR_RETURN(
      KeyCodebook codebook,
      InitKeyCodebookFromRows(shape, residuals, num_rows, rng));
  std::vector<uint16_t> codes(num_rows);
  for (int it = 0; it < iterations; ++it) {
    const StructuredKeyEncoder encoder(absl::MakeConstSpan(&codebook, 1));
    for (int64_t r = 0; r < num_rows; ++r) {
      encoder.Encode(residuals + r * shape.head_dim, &codes[r]);
    }
    CVQ_ASSIGN_OR_RETURN(codebook,
                         Refit(codebook, residuals, num_rows, codes));
  }
  return codebook;
}

}  // namespace commvq
