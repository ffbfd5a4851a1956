#include "commvq/metrics/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "commvq/base/random.h"
#include "commvq/base/status_matchers.h"
#include "commvq/base/thread_pool.h"
#include "commvq/tensor/tensor_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::StatusIs;
using ::testing::AllOf;
using ::testing::DoubleEq;
using ::testing::DoubleNear;
using ::testing::HasSubstr;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;
constexpr double kInf = std::numeric_limits<double>::infinity();

// A row-major f32 [rows, cols] matrix owning its data.
struct Matrix {
  Matrix(int64_t rows, int64_t cols, std::vector<float> data)
      : rows(rows), cols(cols), data(std::move(data)) {}
  Matrix(int64_t rows, int64_t cols) : Matrix(rows, cols, {}) {
    data.resize(rows * cols);
  }

  TensorView view() const {
    return TensorView(data.data(), DType::kF32, {rows, cols});
  }
  float& at(int64_t r, int64_t c) { return data[r * cols + c]; }
  float at(int64_t r, int64_t c) const { return data[r * cols + c]; }

  int64_t rows;
  int64_t cols;
  std::vector<float> data;
};

Matrix RandomMatrix(int64_t rows, int64_t cols, Rng& rng) {
  Matrix m(rows, cols);
  rng.FillNormal(absl::MakeSpan(m.data), 0.0f, 1.0f);
  return m;
}

// `m` plus N(0, stddev^2) noise: a stand-in for a quantizer's output.
Matrix Perturbed(const Matrix& m, float stddev, Rng& rng) {
  Matrix noisy = m;
  for (float& x : noisy.data) x += static_cast<float>(stddev * rng.Normal());
  return noisy;
}

Matrix Scaled(const Matrix& m, float factor) {
  Matrix scaled = m;
  for (float& x : scaled.data) x *= factor;
  return scaled;
}

// ---------------------------------------------------------------------------
// MeasureReconstruction
// ---------------------------------------------------------------------------

TEST(MeasureReconstructionTest, HandComputedExample) {
  // x = [[3, 4], [1, 0]], y = [[3, 4], [0, 1]]; x - y = [[0, 0], [1, -1]].
  //   mse          = (0 + 0 + 1 + 1) / 4        = 0.5
  //   relative_mse = 2 / (9 + 16 + 1 + 0)       = 1/13
  //   cosines      = row 0: 25 / (5 * 5)        = 1
  //                  row 1: 0 / (1 * 1)         = 0,  mean 0.5
  //   max_abs      = 1
  const Matrix x(2, 2, {3, 4, 1, 0});
  const Matrix y(2, 2, {3, 4, 0, 1});
  CVQ_ASSERT_OK_AND_ASSIGN(ReconstructionError error,
                           MeasureReconstruction(x.view(), y.view()));
  EXPECT_THAT(error.mse, DoubleEq(0.5));
  EXPECT_THAT(error.relative_mse, DoubleEq(1.0 / 13.0));
  EXPECT_THAT(error.mean_cosine, DoubleEq(0.5));
  EXPECT_THAT(error.max_abs_error, DoubleEq(1.0));
  EXPECT_EQ(error.count, 4);
}

TEST(MeasureReconstructionTest, HandComputedCosines) {
  // Row 0: x = [1, 0], y = [1, 1]:   cos = 1 / (1 * sqrt(2)) = 1/sqrt(2).
  // Row 1: x = [1, 1], y = [-2, -2]: cos = -4 / (sqrt(2) * sqrt(8)) = -1.
  // Row 2: x = [0, 2], y = [2, 0]:   cos = 0.
  // x - y = [[0, -1], [3, 3], [-2, 2]]: sum of squares 1 + 18 + 8 = 27 over 6
  // elements; sum x^2 = 1 + 2 + 4 = 7; max |x - y| = 3.
  const Matrix x(3, 2, {1, 0, 1, 1, 0, 2});
  const Matrix y(3, 2, {1, 1, -2, -2, 2, 0});
  CVQ_ASSERT_OK_AND_ASSIGN(ReconstructionError error,
                           MeasureReconstruction(x.view(), y.view()));
  EXPECT_THAT(error.mean_cosine, DoubleEq((1.0 / std::sqrt(2.0) - 1.0) / 3.0));
  EXPECT_THAT(error.mse, DoubleEq(27.0 / 6.0));
  EXPECT_THAT(error.relative_mse, DoubleEq(27.0 / 7.0));
  EXPECT_THAT(error.max_abs_error, DoubleEq(3.0));
  EXPECT_EQ(error.count, 6);
}

TEST(MeasureReconstructionTest, IdenticalInputsHaveNoError) {
  Rng rng(1);
  const Matrix x = RandomMatrix(17, 33, rng);
  CVQ_ASSERT_OK_AND_ASSIGN(ReconstructionError error,
                           MeasureReconstruction(x.view(), x.view()));
  EXPECT_EQ(error.mse, 0.0);
  EXPECT_EQ(error.relative_mse, 0.0);
  EXPECT_EQ(error.max_abs_error, 0.0);
  EXPECT_EQ(error.mean_cosine, 1.0);
  EXPECT_EQ(error.count, 17 * 33);
}

TEST(MeasureReconstructionTest, ZeroRowCosines) {
  // Row 0: both zero -> 1. Row 1: zero original, nonzero reconstruction -> 0.
  // Row 2: nonzero original, zero reconstruction -> 0. Row 3: equal -> 1.
  const Matrix x(4, 2, {0, 0, 0, 0, 1, 2, 5, 6});
  const Matrix y(4, 2, {0, 0, 3, 0, 0, 0, 5, 6});
  CVQ_ASSERT_OK_AND_ASSIGN(ReconstructionError error,
                           MeasureReconstruction(x.view(), y.view()));
  EXPECT_THAT(error.mean_cosine, DoubleEq(0.5));
}

TEST(MeasureReconstructionTest, AllZeroOriginal) {
  const Matrix zeros(2, 3, {0, 0, 0, 0, 0, 0});
  CVQ_ASSERT_OK_AND_ASSIGN(ReconstructionError exact,
                           MeasureReconstruction(zeros.view(), zeros.view()));
  EXPECT_EQ(exact.relative_mse, 0.0);
  EXPECT_EQ(exact.mean_cosine, 1.0);

  const Matrix off(2, 3, {0, 0, 0, 0, 0, 0.5f});
  CVQ_ASSERT_OK_AND_ASSIGN(ReconstructionError error,
                           MeasureReconstruction(zeros.view(), off.view()));
  EXPECT_EQ(error.relative_mse, kInf);
  EXPECT_THAT(error.mse, DoubleEq(0.25 / 6.0));
  EXPECT_THAT(error.mean_cosine, DoubleEq(0.5));
  EXPECT_THAT(error.max_abs_error, DoubleEq(0.5));
}

TEST(MeasureReconstructionTest, RelativeMetricsAreInvariantToScaling) {
  Rng rng(2);
  const Matrix x = RandomMatrix(8, 16, rng);
  const Matrix y = Perturbed(x, 0.3f, rng);
  CVQ_ASSERT_OK_AND_ASSIGN(ReconstructionError base,
                           MeasureReconstruction(x.view(), y.view()));

  // A power of two scales every float, square and sum exactly.
  CVQ_ASSERT_OK_AND_ASSIGN(
      ReconstructionError by_eight,
      MeasureReconstruction(Scaled(x, 8.0f).view(), Scaled(y, 8.0f).view()));
  EXPECT_EQ(by_eight.relative_mse, base.relative_mse);
  EXPECT_EQ(by_eight.mean_cosine, base.mean_cosine);
  EXPECT_EQ(by_eight.mse, 64.0 * base.mse);
  EXPECT_EQ(by_eight.max_abs_error, 8.0 * base.max_abs_error);

  // Any other factor only up to the rounding of the scaled floats.
  CVQ_ASSERT_OK_AND_ASSIGN(
      ReconstructionError by_other,
      MeasureReconstruction(Scaled(x, 3.7f).view(), Scaled(y, 3.7f).view()));
  EXPECT_THAT(by_other.relative_mse,
              DoubleNear(base.relative_mse, 1e-5 * base.relative_mse));
  EXPECT_THAT(by_other.mean_cosine, DoubleNear(base.mean_cosine, 1e-6));
}

TEST(MeasureReconstructionTest, EmptyInputs) {
  for (const Matrix& empty : {Matrix(0, 4), Matrix(3, 0)}) {
    CVQ_ASSERT_OK_AND_ASSIGN(ReconstructionError error,
                             MeasureReconstruction(empty.view(), empty.view()));
    EXPECT_EQ(error.count, 0);
    EXPECT_EQ(error.mse, 0.0);
    EXPECT_EQ(error.relative_mse, 0.0);
    EXPECT_EQ(error.max_abs_error, 0.0);
    // Rows of length 0 are zero vectors on both sides.
    EXPECT_EQ(error.mean_cosine, 1.0);
  }
}

TEST(MeasureReconstructionTest, RejectsMismatchedShapesAndDtypes) {
  const Matrix x(2, 4);
  const Matrix y(2, 3);
  EXPECT_THAT(MeasureReconstruction(x.view(), y.view()),
              StatusIs(kInvalid, AllOf(HasSubstr("reconstruction"),
                                       HasSubstr("[2, 3]"),
                                       HasSubstr("original's shape [2, 4]"))));
  EXPECT_THAT(
      MeasureReconstruction(x.view(),
                            TensorView(x.data.data(), DType::kF32, {8})),
      StatusIs(kInvalid,
               HasSubstr("reconstruction: expected shape [*, *], got [8]")));
  EXPECT_THAT(
      MeasureReconstruction(TensorView(x.data.data(), DType::kF16, {2, 4}),
                            x.view()),
      StatusIs(kInvalid, HasSubstr("original: expected dtype f32, got f16")));
}

TEST(MeasureReconstructionTest, RejectsNonFiniteValues) {
  Matrix x(2, 3, {1, 2, 3, 4, 5, 6});
  Matrix y = x;
  x.at(1, 1) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THAT(MeasureReconstruction(x.view(), y.view()),
              StatusIs(kInvalid, HasSubstr("original: element 4 (row 1, "
                                           "column 1) is nan")));
  x.at(1, 1) = 5;
  y.at(0, 2) = -std::numeric_limits<float>::infinity();
  EXPECT_THAT(MeasureReconstruction(x.view(), y.view()),
              StatusIs(kInvalid, HasSubstr("reconstruction: element 2 (row 0, "
                                           "column 2) is -inf")));
}

// ---------------------------------------------------------------------------
// MeasureAttention
// ---------------------------------------------------------------------------

// The attention metrics computed the obvious way, in long double: softmax as
// exp(s - max) / sum and KL as sum p log(p / p').
AttentionError BruteForceAttention(const Matrix& q, const Matrix& k,
                                   const Matrix& v, const Matrix& k_rec,
                                   const Matrix& v_rec, bool causal,
                                   long double scale) {
  const int64_t m = q.rows, n = k.rows, d = q.cols, dv = v.cols;
  const auto softmax = [&](const Matrix& keys, int64_t i, int64_t visible) {
    std::vector<long double> p(visible);
    for (int64_t j = 0; j < visible; ++j) {
      long double dot = 0;
      for (int64_t c = 0; c < d; ++c) {
        dot += static_cast<long double>(q.at(i, c)) * keys.at(j, c);
      }
      p[j] = scale * dot;
    }
    const long double max = *std::max_element(p.begin(), p.end());
    long double sum = 0;
    for (long double& x : p) sum += (x = std::exp(x - max));
    for (long double& x : p) x /= sum;
    return p;
  };
  long double kl = 0, error_sq = 0, output_sq = 0, max_abs = 0;
  for (int64_t i = 0; i < m; ++i) {
    const int64_t visible = causal ? n - m + i + 1 : n;
    const std::vector<long double> p = softmax(k, i, visible);
    const std::vector<long double> p_rec = softmax(k_rec, i, visible);
    for (int64_t j = 0; j < visible; ++j) kl += p[j] * std::log(p[j] / p_rec[j]);
    for (int64_t c = 0; c < dv; ++c) {
      long double o = 0, o_rec = 0;
      for (int64_t j = 0; j < visible; ++j) {
        o += p[j] * v.at(j, c);
        o_rec += p_rec[j] * v_rec.at(j, c);
      }
      error_sq += (o - o_rec) * (o - o_rec);
      output_sq += o * o;
      max_abs = std::max(max_abs, std::abs(o - o_rec));
    }
  }
  AttentionError error;
  error.softmax_kl = static_cast<double>(kl / m);
  error.output_relative_error = static_cast<double>(error_sq / output_sq);
  error.max_abs_output_error = static_cast<double>(max_abs);
  return error;
}

void ExpectNear(const AttentionError& actual, const AttentionError& expected,
                double relative_tolerance) {
  EXPECT_THAT(actual.softmax_kl,
              DoubleNear(expected.softmax_kl,
                         relative_tolerance * expected.softmax_kl));
  EXPECT_THAT(actual.output_relative_error,
              DoubleNear(expected.output_relative_error,
                         relative_tolerance * expected.output_relative_error));
  EXPECT_THAT(actual.max_abs_output_error,
              DoubleNear(expected.max_abs_output_error,
                         relative_tolerance * expected.max_abs_output_error));
}

void ExpectIdentical(const AttentionError& actual,
                     const AttentionError& expected) {
  EXPECT_EQ(actual.softmax_kl, expected.softmax_kl);
  EXPECT_EQ(actual.output_relative_error, expected.output_relative_error);
  EXPECT_EQ(actual.max_abs_output_error, expected.max_abs_output_error);
}

// Random queries, keys and values with noisy reconstructions.
struct AttentionInputs {
  AttentionInputs(int64_t m, int64_t n, int64_t d, int64_t dv, uint64_t seed)
      : rng(seed),
        q(RandomMatrix(m, d, rng)),
        k(RandomMatrix(n, d, rng)),
        v(RandomMatrix(n, dv, rng)),
        k_rec(Perturbed(k, 0.2f, rng)),
        v_rec(Perturbed(v, 0.2f, rng)) {}

  absl::StatusOr<AttentionError> Measure(
      const AttentionErrorOptions& options = {}) const {
    return MeasureAttention(q.view(), k.view(), v.view(), k_rec.view(),
                            v_rec.view(), options);
  }

  Rng rng;
  Matrix q, k, v, k_rec, v_rec;
};

TEST(MeasureAttentionTest, HandComputedExample) {
  // d = 1, so the default scale is 1. Two queries, two keys, dv = 1:
  //   q = [[1], [0]], K = [[0], [0]], K' = [[1], [0]], V = V' = [[2], [0]].
  // Query 0: scores q K^T = (0, 0), q K'^T = (1, 0), so
  //   p = (1/2, 1/2), p' = (e, 1) / (1 + e),
  //   KL(p || p') = 1/2 ln((1 + e) / (2e)) + 1/2 ln((1 + e) / 2)
  //               = ln(1 + e) - ln 2 - 1/2  (~0.120115),
  //   o = 1/2 * 2 = 1, o' = 2e / (1 + e)   (~1.462117).
  // Query 1: all scores 0, so p = p' = (1/2, 1/2), KL 0, o = o' = 1.
  // Mean KL = (ln(1 + e) - ln 2 - 1/2) / 2;
  // output error = (o' - 1)^2 / (1^2 + 1^2); max abs = o' - 1.
  const Matrix q(2, 1, {1, 0});
  const Matrix k(2, 1, {0, 0});
  const Matrix k_rec(2, 1, {1, 0});
  const Matrix v(2, 1, {2, 0});
  CVQ_ASSERT_OK_AND_ASSIGN(
      AttentionError error,
      MeasureAttention(q.view(), k.view(), v.view(), k_rec.view(), v.view()));
  const double e = std::exp(1.0);
  const double o_rec = 2 * e / (1 + e);
  EXPECT_THAT(error.softmax_kl,
              DoubleNear((std::log(1 + e) - std::log(2.0) - 0.5) / 2, 1e-15));
  EXPECT_THAT(error.output_relative_error,
              DoubleNear((o_rec - 1) * (o_rec - 1) / 2, 1e-15));
  EXPECT_THAT(error.max_abs_output_error, DoubleNear(o_rec - 1, 1e-15));
}

TEST(MeasureAttentionTest, DefaultScaleIsInverseSqrtOfHeadDim) {
  const AttentionInputs inputs(/*m=*/3, /*n=*/7, /*d=*/16, /*dv=*/5, 3);
  CVQ_ASSERT_OK_AND_ASSIGN(AttentionError by_default, inputs.Measure());
  AttentionErrorOptions options;
  options.scale = 0.25f;
  CVQ_ASSERT_OK_AND_ASSIGN(AttentionError explicit_scale,
                           inputs.Measure(options));
  ExpectIdentical(by_default, explicit_scale);
  options.scale = 1.0f;
  CVQ_ASSERT_OK_AND_ASSIGN(AttentionError unscaled, inputs.Measure(options));
  EXPECT_NE(unscaled.softmax_kl, by_default.softmax_kl);
}

TEST(MeasureAttentionTest, IdenticalReconstructionHasNoError) {
  const AttentionInputs inputs(/*m=*/5, /*n=*/9, /*d=*/8, /*dv=*/4, 4);
  for (bool causal : {false, true}) {
    AttentionErrorOptions options;
    options.causal = causal;
    CVQ_ASSERT_OK_AND_ASSIGN(
        AttentionError error,
        MeasureAttention(inputs.q.view(), inputs.k.view(), inputs.v.view(),
                         inputs.k.view(), inputs.v.view(), options));
    EXPECT_EQ(error.softmax_kl, 0.0);
    EXPECT_EQ(error.output_relative_error, 0.0);
    EXPECT_EQ(error.max_abs_output_error, 0.0);
  }
}

TEST(MeasureAttentionTest, MatchesLongDoubleBruteForce) {
  const AttentionInputs inputs(/*m=*/6, /*n=*/23, /*d=*/12, /*dv=*/7, 5);
  CVQ_ASSERT_OK_AND_ASSIGN(AttentionError error, inputs.Measure());
  ExpectNear(error,
             BruteForceAttention(inputs.q, inputs.k, inputs.v, inputs.k_rec,
                                 inputs.v_rec, /*causal=*/false,
                                 1 / std::sqrt(12.0L)),
             1e-9);

  AttentionErrorOptions options;
  options.scale = 1.5f;  // Sharper softmax: larger, more varied KL terms.
  CVQ_ASSERT_OK_AND_ASSIGN(AttentionError sharp, inputs.Measure(options));
  ExpectNear(sharp,
             BruteForceAttention(inputs.q, inputs.k, inputs.v, inputs.k_rec,
                                 inputs.v_rec, /*causal=*/false, 1.5L),
             1e-9);
  EXPECT_GT(sharp.softmax_kl, error.softmax_kl);
}

TEST(MeasureAttentionTest, CausalMatchesLongDoubleBruteForce) {
  // m < n (a chunk at the end of the cache) and m == n (prefill).
  for (int64_t m : {4, 11}) {
    const AttentionInputs inputs(m, /*n=*/11, /*d=*/8, /*dv=*/6, 6);
    AttentionErrorOptions options;
    options.causal = true;
    CVQ_ASSERT_OK_AND_ASSIGN(AttentionError causal, inputs.Measure(options));
    ExpectNear(causal,
               BruteForceAttention(inputs.q, inputs.k, inputs.v, inputs.k_rec,
                                   inputs.v_rec, /*causal=*/true,
                                   1 / std::sqrt(8.0L)),
               1e-9);
    CVQ_ASSERT_OK_AND_ASSIGN(AttentionError full, inputs.Measure());
    EXPECT_NE(causal.softmax_kl, full.softmax_kl);
  }
}

TEST(MeasureAttentionTest, CausalIgnoresKeysAfterTheQueryPosition) {
  // m = 4 queries at positions 6..9 of n = 10 keys: only query 3 (position
  // 9) sees key 9. The KL summed over queries 0..2 is the total minus query
  // 3's share, which is measured alone (one query sees every key).
  constexpr int64_t kM = 4, kN = 10;
  AttentionInputs inputs(kM, kN, /*d=*/8, /*dv=*/4, 7);
  AttentionErrorOptions causal;
  causal.causal = true;
  const auto kl_of_first_queries =
      [&](const AttentionErrorOptions& options) -> double {
    const AttentionError all = inputs.Measure(options).value();
    const AttentionError last =
        MeasureAttention(inputs.q.view().Rows(kM - 1, 1), inputs.k.view(),
                         inputs.v.view(), inputs.k_rec.view(),
                         inputs.v_rec.view(), options)
            .value();
    return kM * all.softmax_kl - last.softmax_kl;
  };
  const double causal_before = kl_of_first_queries(causal);
  const double full_before = kl_of_first_queries({});

  // Queries 0..2 alone with keys 0..8 sit at the same positions 6..8, so
  // they see exactly what they saw among all ten keys.
  CVQ_ASSERT_OK_AND_ASSIGN(
      AttentionError prefix,
      MeasureAttention(inputs.q.view().Rows(0, kM - 1),
                       inputs.k.view().Rows(0, kN - 1),
                       inputs.v.view().Rows(0, kN - 1),
                       inputs.k_rec.view().Rows(0, kN - 1),
                       inputs.v_rec.view().Rows(0, kN - 1), causal));
  EXPECT_THAT(causal_before,
              DoubleNear((kM - 1) * prefix.softmax_kl, 1e-12 * causal_before));

  // Rewrite key 9 (after the first queries' positions) on both sides.
  for (int64_t c = 0; c < 8; ++c) {
    inputs.k.at(kN - 1, c) = 3.0f;
    inputs.k_rec.at(kN - 1, c) = -2.0f;
  }
  for (int64_t c = 0; c < 4; ++c) {
    inputs.v.at(kN - 1, c) = 5.0f;
    inputs.v_rec.at(kN - 1, c) = -5.0f;
  }
  EXPECT_THAT(kl_of_first_queries(causal),
              DoubleNear(causal_before, 1e-10 * causal_before));
  // Without the mask the same rewrite is visible to every query.
  EXPECT_GT(std::abs(kl_of_first_queries({}) - full_before),
            0.1 * full_before);
}

TEST(MeasureAttentionTest, KlStaysFiniteWhenReconstructedProbabilityUnderflows) {
  // d = 1, scale 1, q = [[100]]. K = [[0], [0]] gives p = (1/2, 1/2);
  // K' = [[10], [-10]] gives scores (1000, -1000), so p'_1 = e^-2000 / (...)
  // underflows to 0 in double while log p'_1 = -2000 exactly (to rounding).
  // KL = 1/2 (ln 1/2 - 0) + 1/2 (ln 1/2 - (-2000)) = ln 1/2 + 1000.
  const Matrix q(1, 1, {100});
  const Matrix k(2, 1, {0, 0});
  const Matrix k_rec(2, 1, {10, -10});
  const Matrix v(2, 1, {1, -1});
  CVQ_ASSERT_OK_AND_ASSIGN(
      AttentionError error,
      MeasureAttention(q.view(), k.view(), v.view(), k_rec.view(), v.view()));
  EXPECT_TRUE(std::isfinite(error.softmax_kl));
  EXPECT_THAT(error.softmax_kl, DoubleNear(1000 + std::log(0.5), 1e-9));
  // o = 0, o' = 1: the relative error is infinite, the absolute one is 1.
  EXPECT_EQ(error.output_relative_error, kInf);
  EXPECT_THAT(error.max_abs_output_error, DoubleEq(1.0));
}

TEST(MeasureAttentionTest, AllZeroValues) {
  AttentionInputs inputs(/*m=*/3, /*n=*/5, /*d=*/4, /*dv=*/2, 8);
  std::fill(inputs.v.data.begin(), inputs.v.data.end(), 0.0f);
  CVQ_ASSERT_OK_AND_ASSIGN(
      AttentionError exact,
      MeasureAttention(inputs.q.view(), inputs.k.view(), inputs.v.view(),
                       inputs.k_rec.view(), inputs.v.view()));
  EXPECT_EQ(exact.output_relative_error, 0.0);
  EXPECT_EQ(exact.max_abs_output_error, 0.0);
  EXPECT_GT(exact.softmax_kl, 0.0);
  CVQ_ASSERT_OK_AND_ASSIGN(AttentionError off, inputs.Measure());
  EXPECT_EQ(off.output_relative_error, kInf);
  EXPECT_GT(off.max_abs_output_error, 0.0);
}

TEST(MeasureAttentionTest, NoQueries) {
  const AttentionInputs inputs(/*m=*/0, /*n=*/5, /*d=*/4, /*dv=*/3, 9);
  for (bool causal : {false, true}) {
    AttentionErrorOptions options;
    options.causal = causal;
    CVQ_ASSERT_OK_AND_ASSIGN(AttentionError error, inputs.Measure(options));
    EXPECT_EQ(error.softmax_kl, 0.0);
    EXPECT_EQ(error.output_relative_error, 0.0);
    EXPECT_EQ(error.max_abs_output_error, 0.0);
  }
}

TEST(MeasureAttentionTest, RejectsBadShapes) {
  const AttentionInputs in(/*m=*/3, /*n=*/5, /*d=*/4, /*dv=*/2, 10);
  const Matrix wide(5, 6);
  const Matrix short_keys(4, 4);
  EXPECT_THAT(MeasureAttention(in.q.view(), wide.view(), in.v.view(),
                               in.k_rec.view(), in.v_rec.view()),
              StatusIs(kInvalid,
                       HasSubstr("keys: expected shape [*, 4], got [5, 6]")));
  EXPECT_THAT(MeasureAttention(in.q.view(), in.k.view(), wide.view(),
                               in.k_rec.view(), in.v_rec.view()),
              StatusIs(kInvalid, HasSubstr("reconstructed_values: expected "
                                           "shape [5, 6], got [5, 2]")));
  EXPECT_THAT(MeasureAttention(in.q.view(), in.k.view(), in.v.view(),
                               short_keys.view(), in.v_rec.view()),
              StatusIs(kInvalid, HasSubstr("reconstructed_keys: expected "
                                           "shape [5, 4], got [4, 4]")));
  EXPECT_THAT(MeasureAttention(in.q.view(), in.k.view(), short_keys.view(),
                               in.k_rec.view(), in.v_rec.view()),
              StatusIs(kInvalid,
                       HasSubstr("values: expected shape [5, *], got [4, 4]")));
  EXPECT_THAT(
      MeasureAttention(TensorView(in.q.data.data(), DType::kF32, {12}),
                       in.k.view(), in.v.view(), in.k_rec.view(),
                       in.v_rec.view()),
      StatusIs(kInvalid, HasSubstr("queries: expected shape [*, *], got [12]")));
  const Matrix no_dims(3, 0);
  EXPECT_THAT(MeasureAttention(no_dims.view(), no_dims.view(), in.v.view(),
                               no_dims.view(), in.v_rec.view()),
              StatusIs(kInvalid, HasSubstr("queries: expected a head "
                                           "dimension of at least 1, got "
                                           "shape [3, 0]")));
  const Matrix no_keys(0, 4);
  const Matrix no_values(0, 2);
  EXPECT_THAT(MeasureAttention(in.q.view(), no_keys.view(), no_values.view(),
                               no_keys.view(), no_values.view()),
              StatusIs(kInvalid, HasSubstr("keys: expected at least one key "
                                           "to attend, got shape [0, 4]")));

  AttentionErrorOptions causal;
  causal.causal = true;
  const Matrix many_queries(6, 4);
  EXPECT_THAT(MeasureAttention(many_queries.view(), in.k.view(), in.v.view(),
                               in.k_rec.view(), in.v_rec.view(), causal),
              StatusIs(kInvalid, AllOf(HasSubstr("at most as many queries as "
                                                 "keys"),
                                       HasSubstr("queries has shape [6, 4]"),
                                       HasSubstr("keys [5, 4]"))));
}

TEST(MeasureAttentionTest, RejectsNonFiniteInputsAndScale) {
  AttentionInputs in(/*m=*/3, /*n=*/5, /*d=*/4, /*dv=*/2, 11);
  in.k_rec.at(2, 3) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THAT(in.Measure(),
              StatusIs(kInvalid, HasSubstr("reconstructed_keys: element 11 "
                                           "(row 2, column 3) is nan")));
  in.k_rec.at(2, 3) = 0.0f;
  in.q.at(0, 1) = std::numeric_limits<float>::infinity();
  EXPECT_THAT(in.Measure(),
              StatusIs(kInvalid,
                       HasSubstr("queries: element 1 (row 0, column 1) is inf")));
  in.q.at(0, 1) = 0.0f;
  in.v.at(4, 0) = -std::numeric_limits<float>::infinity();
  EXPECT_THAT(in.Measure(),
              StatusIs(kInvalid,
                       HasSubstr("values: element 8 (row 4, column 0) is "
                                 "-inf")));
  in.v.at(4, 0) = 0.0f;

  AttentionErrorOptions options;
  options.scale = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THAT(in.Measure(options),
              StatusIs(kInvalid, HasSubstr("options.scale: expected a finite "
                                           "value, got nan")));
}

TEST(MeasureAttentionTest, ThreadingGivesIdenticalResults) {
  // Large enough that every pool below splits the queries into many chunks.
  const AttentionInputs inputs(/*m=*/61, /*n=*/300, /*d=*/32, /*dv=*/32, 12);
  for (bool causal : {false, true}) {
    AttentionErrorOptions options;
    options.causal = causal;
    CVQ_ASSERT_OK_AND_ASSIGN(AttentionError serial, inputs.Measure(options));
    for (int threads : {1, 2, 3, 8}) {
      SCOPED_TRACE(threads);
      ThreadPool pool(threads);
      options.pool = &pool;
      CVQ_ASSERT_OK_AND_ASSIGN(AttentionError parallel,
                               inputs.Measure(options));
      ExpectIdentical(parallel, serial);
    }
  }
}

}  // namespace
}  // namespace commvq
