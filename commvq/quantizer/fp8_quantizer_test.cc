#include "commvq/quantizer/fp8_quantizer.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "commvq/base/float16.h"
#include "commvq/base/random.h"
#include "commvq/base/status_matchers.h"
#include "commvq/quantizer/options.h"
#include "commvq/quantizer/quantizer_spec.h"
#include "commvq/quantizer/quantizer_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::Encoded;
using ::commvq::testing::IsOk;
using ::commvq::testing::MakeUntrainedQuantizer;
using ::commvq::testing::RandomRows;
using ::commvq::testing::RoundTrip;
using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

// The E4M3FN value of a non-NaN code from its definition:
// (-1)^S * 2^(E - 7) * (1 + M / 8), or (-1)^S * 2^-6 * (M / 8) for E = 0.
double ReferenceE4m3(int code) {
  const int e = (code >> 3) & 0xf;
  const int m = code & 0x7;
  const double magnitude = e == 0 ? std::pow(2.0, -6) * (m / 8.0)
                                  : std::pow(2.0, e - 7) * (1.0 + m / 8.0);
  return (code & 0x80) != 0 ? -magnitude : magnitude;
}

bool IsNanCode(int code) { return (code & 0x7f) == 0x7f; }

TEST(E4m3Test, HandCheckedCodes) {
  EXPECT_EQ(E4m3BitsToFloat(0x7e), 448.0f);
  EXPECT_EQ(E4m3BitsToFloat(0xfe), -448.0f);
  EXPECT_EQ(E4m3BitsToFloat(0x08), 0x1p-6f);
  EXPECT_EQ(E4m3BitsToFloat(0x01), 0x1p-9f);
  EXPECT_EQ(E4m3BitsToFloat(0x07), 7 * 0x1p-9f);
  EXPECT_EQ(E4m3BitsToFloat(0x38), 1.0f);
  EXPECT_EQ(E4m3BitsToFloat(0x3c), 1.5f);
  EXPECT_EQ(E4m3BitsToFloat(0x77), 240.0f);
  EXPECT_EQ(E4m3BitsToFloat(0x78), 256.0f);
  EXPECT_EQ(E4m3BitsToFloat(0x00), 0.0f);
  EXPECT_FALSE(std::signbit(E4m3BitsToFloat(0x00)));
  EXPECT_EQ(E4m3BitsToFloat(0x80), 0.0f);
  EXPECT_TRUE(std::signbit(E4m3BitsToFloat(0x80)));
  EXPECT_TRUE(std::isnan(E4m3BitsToFloat(0x7f)));
  EXPECT_TRUE(std::isnan(E4m3BitsToFloat(0xff)));
}

TEST(E4m3Test, AllCodesDecodeToTheirDefinedValue) {
  for (int code = 0; code < 256; ++code) {
    if (IsNanCode(code)) continue;
    EXPECT_EQ(E4m3BitsToFloat(code), ReferenceE4m3(code)) << "code " << code;
    EXPECT_EQ(std::signbit(E4m3BitsToFloat(code)), (code & 0x80) != 0);
  }
  // Positive codes are in increasing order of value.
  for (int code = 0; code < 0x7e; ++code) {
    EXPECT_LT(E4m3BitsToFloat(code), E4m3BitsToFloat(code + 1))
        << "code " << code;
  }
}

TEST(E4m3Test, EveryValueReencodesToItsCode) {
  for (int code = 0; code < 256; ++code) {
    if (IsNanCode(code)) continue;
    EXPECT_EQ(FloatToE4m3Bits(E4m3BitsToFloat(code)), code) << "code " << code;
  }
}

TEST(E4m3Test, RoundsToNearestEvenBetweenConsecutiveCodes) {
  for (int code = 0; code < 0x7e; ++code) {
    for (const uint8_t sign : {0x00, 0x80}) {
      const float lo = E4m3BitsToFloat(sign | code);
      const float hi = E4m3BitsToFloat(sign | (code + 1));
      // Exact: E4M3 values have 4 significant bits, the midpoint 5.
      const float mid = (lo + hi) / 2;
      const uint8_t even = sign | (code % 2 == 0 ? code : code + 1);
      EXPECT_EQ(FloatToE4m3Bits(mid), even) << "between " << lo << ", " << hi;
      EXPECT_EQ(FloatToE4m3Bits(std::nextafter(mid, lo)), sign | code)
          << "just below the midpoint " << mid;
      EXPECT_EQ(FloatToE4m3Bits(std::nextafter(mid, hi)), sign | (code + 1))
          << "just above the midpoint " << mid;
    }
  }
}

// Nearest finite E4M3 code to a finite `value` by search over all codes,
// ties to the even code, magnitudes beyond 448 saturated.
uint8_t BruteForceE4m3(float value) {
  const uint8_t sign = std::signbit(value) ? 0x80 : 0x00;
  const double magnitude =
      std::min(std::abs(static_cast<double>(value)), 448.0);
  int best = 0;
  for (int code = 1; code < 0x7f; ++code) {
    const double d = std::abs(ReferenceE4m3(code) - magnitude);
    const double best_d = std::abs(ReferenceE4m3(best) - magnitude);
    if (d < best_d || (d == best_d && code % 2 == 0)) best = code;
  }
  return sign | best;
}

TEST(E4m3Test, MatchesNearestCodeSearchOnRandomFloats) {
  Rng rng(1);
  for (int i = 0; i < 20000; ++i) {
    // Random bit patterns with exponents around E4M3's range [2^-11, 2^10).
    const uint32_t bits = static_cast<uint32_t>(rng.NextU64());
    const uint32_t exponent = 116 + static_cast<uint32_t>(rng.UniformInt(21));
    const uint32_t pattern = (bits & 0x807fffff) | (exponent << 23);
    float value;
    std::memcpy(&value, &pattern, sizeof(value));
    ASSERT_EQ(FloatToE4m3Bits(value), BruteForceE4m3(value)) << value;
  }
}

TEST(E4m3Test, SaturatesAndNeverProducesNanFromFiniteInput) {
  const float big[] = {448.0f,
                       463.99f,
                       464.0f,
                       480.0f,
                       1e9f,
                       std::numeric_limits<float>::max(),
                       std::numeric_limits<float>::infinity()};
  for (float value : big) {
    EXPECT_EQ(FloatToE4m3Bits(value), 0x7e) << value;
    EXPECT_EQ(FloatToE4m3Bits(-value), 0xfe) << value;
  }
  EXPECT_EQ(FloatToE4m3Bits(447.0f), 0x7e);  // rounds to 448 from below
  EXPECT_EQ(FloatToE4m3Bits(432.0f), 0x7e);  // tie of 416 (odd) and 448
  EXPECT_TRUE(IsNanCode(FloatToE4m3Bits(std::nanf(""))));
}

TEST(E4m3Test, TinyValuesRoundToZeroOrTheSmallestSubnormal) {
  // 2^-10 is the tie between 0 and 2^-9; zero is even.
  EXPECT_EQ(FloatToE4m3Bits(0x1p-10f), 0x00);
  EXPECT_EQ(FloatToE4m3Bits(std::nextafter(0x1p-10f, 1.0f)), 0x01);
  EXPECT_EQ(FloatToE4m3Bits(1e-30f), 0x00);
  EXPECT_EQ(FloatToE4m3Bits(std::numeric_limits<float>::denorm_min()), 0x00);
  EXPECT_EQ(FloatToE4m3Bits(-1e-30f), 0x80);
  EXPECT_EQ(FloatToE4m3Bits(0.0f), 0x00);
  EXPECT_EQ(FloatToE4m3Bits(-0.0f), 0x80);
  // Rounding up out of the subnormals gives the smallest normal.
  EXPECT_EQ(FloatToE4m3Bits(std::nextafter(0x1p-6f, 0.0f)), 0x08);
}

TEST(Fp8QuantizerTest, LayoutCountsCodesAndScale) {
  auto factory = MakeFp8QuantizerFactory();
  CVQ_ASSERT_OK_AND_ASSIGN(auto q,
                           MakeUntrainedQuantizer(*factory, "fp8", 128));
  EXPECT_EQ(q->spec(), "fp8");
  EXPECT_EQ(q->layout().code_bits, 8 * 128);
  EXPECT_EQ(q->layout().code_bytes, 128);
  EXPECT_EQ(q->layout().side_bytes, 2);
  EXPECT_EQ(q->layout().block_vectors, 1);
  EXPECT_DOUBLE_EQ(q->layout().BitsPerElement(), 8.0 + 16.0 / 128);
  EXPECT_EQ(q->StoredBytes(10), 10 * (128 + 2));
  EXPECT_EQ(q->ParameterBytes(), 0);
}

TEST(Fp8QuantizerTest, ExactOnScaledE4m3Values) {
  auto factory = MakeFp8QuantizerFactory();
  CVQ_ASSERT_OK_AND_ASSIGN(auto q, MakeUntrainedQuantizer(*factory, "fp8", 4));
  // max|x| = 448 * 0.25: the scale 0.25 is exact in fp16.
  const std::vector<float> x = {112.0f, -0.25f * 0x1p-9f, 0.25f * 1.375f,
                                -0.25f * 240.0f};
  const Encoded e = RoundTrip(*q, x);
  EXPECT_EQ(e.decoded, x);
  uint16_t scale_bits;
  std::memcpy(&scale_bits, e.side.data(), 2);
  EXPECT_EQ(HalfBitsToFloat(scale_bits), 0.25f);
  EXPECT_EQ(e.codes, (std::vector<uint8_t>{0x7e, 0x81, 0x3b, 0xf7}));
}

TEST(Fp8QuantizerTest, CodesAreTheE4m3OfTheScaledVector) {
  auto factory = MakeFp8QuantizerFactory();
  constexpr int64_t kDim = 64;
  CVQ_ASSERT_OK_AND_ASSIGN(auto q,
                           MakeUntrainedQuantizer(*factory, "fp8", kDim));
  const std::vector<float> x = RandomRows(50, kDim, 3);
  const Encoded e = RoundTrip(*q, x);
  for (int64_t row = 0; row < 50; ++row) {
    const float* v = x.data() + row * kDim;
    float max_abs = 0;
    for (int64_t c = 0; c < kDim; ++c)
      max_abs = std::max(max_abs, std::abs(v[c]));
    uint16_t scale_bits;
    std::memcpy(&scale_bits, e.side.data() + 2 * row, 2);
    ASSERT_EQ(scale_bits, FloatToHalfBits(max_abs / 448.0f)) << "row " << row;
    const float scale = HalfBitsToFloat(scale_bits);
    for (int64_t c = 0; c < kDim; ++c) {
      const int64_t i = row * kDim + c;
      ASSERT_EQ(e.codes[i], FloatToE4m3Bits(v[c] / scale)) << "element " << i;
      // Half an E4M3 spacing: 2^-4 relative for normals, 2^-10 * scale below.
      const float bound =
          std::max(0x1p-4f * std::abs(v[c]), 0x1p-10f * scale) * 1.0001f;
      EXPECT_LE(std::abs(e.decoded[i] - v[c]), bound) << "element " << i;
    }
  }
}

TEST(Fp8QuantizerTest, ZeroVectorHasZeroScaleAndCodes) {
  auto factory = MakeFp8QuantizerFactory();
  CVQ_ASSERT_OK_AND_ASSIGN(auto q, MakeUntrainedQuantizer(*factory, "fp8", 3));
  const std::vector<float> x = {0.0f, -0.0f, 0.0f};
  const Encoded e = RoundTrip(*q, x);
  EXPECT_EQ(e.codes, (std::vector<uint8_t>{0, 0, 0}));
  EXPECT_EQ(e.side, (std::vector<uint8_t>{0, 0}));
  EXPECT_EQ(e.decoded, (std::vector<float>{0.0f, 0.0f, 0.0f}));
}

TEST(Fp8QuantizerTest, TinyVectorKeepsTheSmallestScaleInsteadOfZero) {
  auto factory = MakeFp8QuantizerFactory();
  CVQ_ASSERT_OK_AND_ASSIGN(auto q, MakeUntrainedQuantizer(*factory, "fp8", 2));
  // max|x| / 448 is below 2^-25 and would round to an fp16 zero.
  const std::vector<float> x = {3e-6f, -1e-6f};
  const Encoded e = RoundTrip(*q, x);
  uint16_t scale_bits;
  std::memcpy(&scale_bits, e.side.data(), 2);
  EXPECT_EQ(scale_bits, 1);  // 2^-24, the smallest fp16 subnormal
  for (int c = 0; c < 2; ++c) {
    EXPECT_NEAR(e.decoded[c], x[c], 0x1p-4f * std::abs(x[c])) << c;
  }
}

TEST(Fp8QuantizerTest, ScaleBeyondFp16IsAnError) {
  auto factory = MakeFp8QuantizerFactory();
  CVQ_ASSERT_OK_AND_ASSIGN(auto q, MakeUntrainedQuantizer(*factory, "fp8", 2));
  const std::vector<float> x = {1.0f, -3e7f};
  std::vector<uint8_t> codes(2), side(2);
  EXPECT_THAT(
      q->Encode(TensorView(x.data(), DType::kF32, {1, 2}),
                MutableTensorView(codes.data(), DType::kU8, {1, 2}),
                MutableTensorView(side.data(), DType::kU8, {1, 2})),
      StatusIs(kInvalid, HasSubstr("max |x| = 3e+07 needs a scale max|x| / "
                                   "448 beyond the fp16 range")));
}

TEST(Fp8QuantizerTest, DeserializeNeedsAnEmptyPayload) {
  auto factory = MakeFp8QuantizerFactory();
  CVQ_ASSERT_OK_AND_ASSIGN(QuantizerSpec spec, ParseQuantizerSpec("fp8"));
  CVQ_ASSERT_OK_AND_ASSIGN(
      ResolvedOptions options,
      ResolveOptions(factory->description().options, spec));
  CVQ_ASSERT_OK_AND_ASSIGN(auto q, factory->Deserialize(options, 16, ""));
  EXPECT_EQ(q->dim(), 16);
  EXPECT_EQ(q->spec(), "fp8");
  EXPECT_THAT(factory->Deserialize(options, 16, "x"),
              StatusIs(kInvalid, HasSubstr("fp8 quantizer: expected an empty "
                                           "payload, got 1 bytes")));
}

}  // namespace
}  // namespace commvq
