#include "commvq/quantizer/commvq_value/codebook_fit.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "commvq/base/random.h"
#include "commvq/base/status_matchers.h"
#include "commvq/base/thread_pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

std::vector<float> Normals(int64_t n, float stddev, uint64_t seed) {
  std::vector<float> v(n);
  Rng rng(seed);
  rng.FillNormal(absl::MakeSpan(v), 0.0f, stddev);
  return v;
}

std::vector<uint8_t> RandomBits(int64_t n, uint64_t seed) {
  std::vector<uint8_t> bits(n);
  Rng rng(seed);
  for (uint8_t& b : bits) b = rng.NextU64() & 1;
  return bits;
}

TEST(ValueChannelScaleTest, MeanAbsoluteValueWithOneForEmptyChannels) {
  const std::vector<float> x = {1, -2, 0, -3, 4, 0};
  EXPECT_THAT(ValueChannelScale(x.data(), 2, 3),
              ::testing::ElementsAre(2.0f, 3.0f, 1.0f));
}

TEST(PrescaleToUnitTest, DividesByScaleThenNorm) {
  const std::vector<float> x = {6, 8};
  const std::vector<float> scale = {2, 2};
  std::vector<float> unit(2);
  EXPECT_DOUBLE_EQ(PrescaleToUnit(x.data(), scale.data(), 2, unit.data()), 5.0);
  EXPECT_FLOAT_EQ(unit[0], 0.6f);
  EXPECT_FLOAT_EQ(unit[1], 0.8f);
  const std::vector<float> zero = {0, 0};
  EXPECT_EQ(PrescaleToUnit(zero.data(), scale.data(), 2, unit.data()), 0.0);
  EXPECT_EQ(unit, std::vector<float>(2, 0.0f));
}

TEST(FitValueCodebookTest, RecoversAnExactCodebook) {
  constexpr int64_t kN = 400, kBits = 10, kDim = 6;
  const std::vector<float> truth = Normals(kBits * kDim, 1.0f, 1);
  const std::vector<uint8_t> bits = RandomBits(kN * kBits, 2);
  std::vector<float> targets(kN * kDim, 0.0f);
  for (int64_t r = 0; r < kN; ++r) {
    for (int64_t i = 0; i < kBits; ++i) {
      if (!bits[r * kBits + i]) continue;
      for (int64_t c = 0; c < kDim; ++c) {
        targets[r * kDim + c] += truth[i * kDim + c];
      }
    }
  }
  CVQ_ASSERT_OK_AND_ASSIGN(const std::vector<float> fit,
                           FitValueCodebook(bits.data(), targets.data(), kN,
                                            kBits, kDim, 1e-9, nullptr));
  for (int64_t k = 0; k < kBits * kDim; ++k) {
    EXPECT_NEAR(fit[k], truth[k], 1e-4) << k;
  }
}

TEST(FitValueCodebookTest, SolvesTheRegularizedNormalEquations) {
  constexpr int64_t kN = 100, kBits = 8, kDim = 5;
  constexpr double kRidge = 0.05;
  const std::vector<uint8_t> bits = RandomBits(kN * kBits, 3);
  const std::vector<float> targets = Normals(kN * kDim, 1.0f, 4);
  ThreadPool pool(3);
  CVQ_ASSERT_OK_AND_ASSIGN(const std::vector<float> c,
                           FitValueCodebook(bits.data(), targets.data(), kN,
                                            kBits, kDim, kRidge, &pool));
  // Gradient of the objective: S^T (S C - U) + ridge n C = 0.
  for (int64_t i = 0; i < kBits; ++i) {
    for (int64_t col = 0; col < kDim; ++col) {
      double grad = kRidge * kN * c[i * kDim + col];
      for (int64_t r = 0; r < kN; ++r) {
        if (!bits[r * kBits + i]) continue;
        double pred = 0.0;
        for (int64_t j = 0; j < kBits; ++j) {
          if (bits[r * kBits + j]) pred += c[j * kDim + col];
        }
        grad += pred - targets[r * kDim + col];
      }
      EXPECT_NEAR(grad, 0.0, 1e-3) << i << ", " << col;
    }
  }
  CVQ_ASSERT_OK_AND_ASSIGN(const std::vector<float> serial,
                           FitValueCodebook(bits.data(), targets.data(), kN,
                                            kBits, kDim, kRidge, nullptr));
  EXPECT_EQ(serial, c);
}

TEST(FitValueCodebookTest, RejectsBadArguments) {
  const std::vector<uint8_t> bits(4, 1);
  const std::vector<float> targets(4, 1.0f);
  EXPECT_THAT(
      FitValueCodebook(bits.data(), targets.data(), 2, 2, 2, 0.0, nullptr),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ridge is 0")));
  EXPECT_THAT(
      FitValueCodebook(bits.data(), targets.data(), 0, 2, 2, 0.1, nullptr),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0 rows")));
}

// Unit rows of a low-dimensional family, as real values are.
std::vector<float> LowRankUnits(int64_t n, int64_t dim, uint64_t seed) {
  const std::vector<float> basis = Normals(3 * dim, 1.0f, seed);
  const std::vector<float> coef = Normals(n * 3, 1.0f, seed + 1);
  std::vector<float> units(n * dim);
  for (int64_t r = 0; r < n; ++r) {
    double norm2 = 0.0;
    for (int64_t c = 0; c < dim; ++c) {
      float v = 0.3f;
      for (int k = 0; k < 3; ++k) v += coef[r * 3 + k] * basis[k * dim + c];
      units[r * dim + c] = v;
      norm2 += double{v} * v;
    }
    for (int64_t c = 0; c < dim; ++c) {
      units[r * dim + c] /= static_cast<float>(std::sqrt(norm2));
    }
  }
  return units;
}

TEST(TrainValueCodebookBySearchTest, ErrorFallsAndIsSmall) {
  constexpr int64_t kN = 300, kDim = 16, kBits = 16;
  const std::vector<float> units = LowRankUnits(kN, kDim, 5);
  ValueCodebookTrainOptions options;
  options.iterations = 5;
  CVQ_ASSERT_OK_AND_ASSIGN(
      const ValueCodebookTrainResult result,
      TrainValueCodebookBySearch(units.data(), kN, kDim, kBits, options));
  ASSERT_EQ(result.mse.size(), 5u);
  EXPECT_LT(result.mse.back(), result.mse.front());
  // Unit rows: 1.0 would be decoding zeros.
  EXPECT_LT(result.mse.back(), 0.05);
}

TEST(TrainValueCodebookBySearchTest, DeterministicForASeedWhateverThePool) {
  constexpr int64_t kN = 200, kDim = 8, kBits = 8;
  const std::vector<float> units = LowRankUnits(kN, kDim, 6);
  ValueCodebookTrainOptions options;
  options.iterations = 3;
  options.seed = 9;
  CVQ_ASSERT_OK_AND_ASSIGN(
      const ValueCodebookTrainResult serial,
      TrainValueCodebookBySearch(units.data(), kN, kDim, kBits, options));
  ThreadPool pool(4);
  options.pool = &pool;
  CVQ_ASSERT_OK_AND_ASSIGN(
      const ValueCodebookTrainResult pooled,
      TrainValueCodebookBySearch(units.data(), kN, kDim, kBits, options));
  EXPECT_EQ(serial.codebook, pooled.codebook);
  EXPECT_EQ(serial.bits, pooled.bits);
}

TEST(TrainValueCodebookBySearchTest, RejectsOddCodeBits) {
  const std::vector<float> units(8, 0.5f);
  EXPECT_THAT(
      TrainValueCodebookBySearch(units.data(), 2, 4, 3, {}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("3 code bits")));
}

}  // namespace
}  // namespace commvq
