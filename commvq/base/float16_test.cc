#include "commvq/base/float16.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace commvq {
namespace {

constexpr int kNumRandom = 1 << 20;

uint32_t Bits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

float FromBits(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

bool IsHalfNan(uint16_t bits) { return (bits & 0x7fff) > 0x7c00; }
bool IsBfloat16Nan(uint16_t bits) { return (bits & 0x7fff) > 0x7f80; }

// Independent oracle: GCC's own float -> _Float16 conversion (F16C or
// libgcc's soft-float routine), used only here.
uint16_t CompilerHalf(float value) {
  const _Float16 half = static_cast<_Float16>(value);
  uint16_t bits;
  std::memcpy(&bits, &half, sizeof(bits));
  return bits;
}

float CompilerHalfToFloat(uint16_t bits) {
  _Float16 half;
  std::memcpy(&half, &bits, sizeof(half));
  return static_cast<float>(half);
}

// Brute-force bfloat16 rounding: pick the nearer of the two bfloat16
// neighbours of |value| (computed exactly in double), ties to the even one.
// Above the largest bfloat16 the upper neighbour is 2^128, i.e. infinity.
uint16_t OracleBfloat16(float value) {
  const uint32_t bits = Bits(value);
  const uint16_t sign = (bits >> 16) & 0x8000;
  const uint32_t abs = bits & 0x7fffffff;
  if (abs >= 0x7f800000) return bits >> 16;  // inf (NaNs are not passed)
  const uint16_t lo = abs >> 16;
  const uint16_t hi = lo + 1;
  const double x = FromBits(abs);
  const double lo_value = FromBits(static_cast<uint32_t>(lo) << 16);
  const double hi_value = hi == 0x7f80
                              ? std::ldexp(1.0, 128)
                              : FromBits(static_cast<uint32_t>(hi) << 16);
  const double below = x - lo_value;
  const double above = hi_value - x;
  if (below < above || (below == above && lo % 2 == 0)) return sign | lo;
  return sign | hi;
}

// Random float bit patterns: half uniform over all 2^32, half with the
// exponent near binary16's range so rounding and subnormals are exercised.
std::vector<float> RandomFloats(uint64_t seed) {
  std::mt19937_64 engine(seed);
  std::vector<float> values(kNumRandom);
  for (int i = 0; i < kNumRandom; ++i) {
    uint32_t bits = static_cast<uint32_t>(engine());
    if (i % 2 == 1) {
      const uint32_t exponent = 98 + (bits >> 23) % 48;  // 2^-29 .. 2^18
      bits = (bits & 0x807fffff) | (exponent << 23);
    }
    values[i] = FromBits(bits);
  }
  return values;
}

TEST(Float16Test, EveryHalfRoundTrips) {
  for (uint32_t i = 0; i < 0x10000; ++i) {
    const uint16_t half = i;
    const float value = HalfBitsToFloat(half);
    EXPECT_EQ(std::signbit(value), (half & 0x8000) != 0) << std::hex << i;
    if (IsHalfNan(half)) {
      EXPECT_TRUE(std::isnan(value)) << std::hex << i;
      EXPECT_EQ(FloatToHalfBits(value), half | 0x0200) << std::hex << i;
    } else {
      EXPECT_EQ(Bits(value), Bits(CompilerHalfToFloat(half))) << std::hex << i;
      EXPECT_EQ(FloatToHalfBits(value), half) << std::hex << i;
    }
  }
}

TEST(Float16Test, FloatToHalfMatchesCompiler) {
  for (float value : RandomFloats(1)) {
    const uint16_t half = FloatToHalfBits(value);
    if (std::isnan(value)) {
      EXPECT_TRUE(IsHalfNan(half)) << std::hex << Bits(value);
      EXPECT_EQ(half & 0x8000u, (Bits(value) >> 16) & 0x8000u);
    } else {
      ASSERT_EQ(half, CompilerHalf(value)) << std::hex << Bits(value);
    }
  }
}

TEST(Float16Test, FloatToHalfEdgeValues) {
  const float kInf = std::numeric_limits<float>::infinity();
  const struct {
    float value;
    uint16_t half;
  } kCases[] = {
      {0.0f, 0x0000},
      {-0.0f, 0x8000},
      {1.0f, 0x3c00},
      {-2.0f, 0xc000},
      {65504.0f, 0x7bff},   // largest half
      {65519.99f, 0x7bff},  // just below the rounding boundary
      {65520.0f, 0x7c00},   // tie between 65504 and 2^16: inf
      {1e10f, 0x7c00},
      {kInf, 0x7c00},
      {-kInf, 0xfc00},
      {0x1p-14f, 0x0400},  // smallest normal
      {0x1p-24f, 0x0001},  // smallest subnormal
      {0x1p-25f, 0x0000},  // tie between 0 and 2^-24: even is 0
      {-0x1p-25f, 0x8000},
      {0x1.000002p-25f, 0x0001},  // just above the tie
      {0x1.8p-24f, 0x0002},       // 1.5 units: tie, to even 2
      {0x1.4p-23f, 0x0002},       // 2.5 units: tie, to even 2
      {0x1.002p+0f, 0x3c00},      // 1 + 2^-11: tie, to even 1
      {0x1.006p+0f, 0x3c02},      // 1 + 3 * 2^-11: tie, to even
      {0x1.ffcp-15f, 0x0400},     // largest subnormal + half unit: tie
      {std::numeric_limits<float>::denorm_min(), 0x0000},
  };
  for (const auto& c : kCases) {
    EXPECT_EQ(FloatToHalfBits(c.value), c.half) << c.value;
    EXPECT_EQ(CompilerHalf(c.value), c.half) << c.value;
  }
  EXPECT_EQ(FloatToHalfBits(std::numeric_limits<float>::quiet_NaN()), 0x7e00);
  EXPECT_EQ(FloatToHalfBits(-std::numeric_limits<float>::quiet_NaN()), 0xfe00);
  // A NaN whose payload lies only in bits that are dropped stays NaN.
  EXPECT_TRUE(IsHalfNan(FloatToHalfBits(FromBits(0x7f800001))));
}

TEST(Bfloat16Test, EveryBfloat16RoundTrips) {
  for (uint32_t i = 0; i < 0x10000; ++i) {
    const uint16_t bf16 = i;
    const float value = Bfloat16BitsToFloat(bf16);
    EXPECT_EQ(Bits(value), i << 16);
    if (IsBfloat16Nan(bf16)) {
      EXPECT_TRUE(IsBfloat16Nan(FloatToBfloat16Bits(value))) << std::hex << i;
    } else {
      EXPECT_EQ(FloatToBfloat16Bits(value), bf16) << std::hex << i;
    }
  }
}

TEST(Bfloat16Test, FloatToBfloat16MatchesOracle) {
  std::mt19937_64 engine(2);
  for (int i = 0; i < kNumRandom; ++i) {
    uint32_t bits = static_cast<uint32_t>(engine());
    // Every fourth value is an exact tie between two bfloat16 values.
    if (i % 4 == 1) bits = (bits & 0xffff0000) | 0x8000;
    const float value = FromBits(bits);
    const uint16_t bf16 = FloatToBfloat16Bits(value);
    if (std::isnan(value)) {
      EXPECT_TRUE(IsBfloat16Nan(bf16)) << std::hex << bits;
      EXPECT_EQ(bf16 & 0x8000u, (bits >> 16) & 0x8000u);
    } else {
      ASSERT_EQ(bf16, OracleBfloat16(value)) << std::hex << bits;
    }
  }
}

TEST(Bfloat16Test, EdgeValues) {
  const float kInf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(FloatToBfloat16Bits(kInf), 0x7f80);
  EXPECT_EQ(FloatToBfloat16Bits(-kInf), 0xff80);
  EXPECT_EQ(FloatToBfloat16Bits(std::numeric_limits<float>::max()), 0x7f80);
  EXPECT_EQ(FloatToBfloat16Bits(-std::numeric_limits<float>::max()), 0xff80);
  EXPECT_EQ(FloatToBfloat16Bits(FromBits(0x7f7f8000)), 0x7f80);  // tie to inf
  EXPECT_EQ(FloatToBfloat16Bits(FromBits(0x7f7f7fff)), 0x7f7f);
  EXPECT_EQ(FloatToBfloat16Bits(FromBits(0x3f808000)), 0x3f80);  // tie, even
  EXPECT_EQ(FloatToBfloat16Bits(FromBits(0x3f818000)), 0x3f82);  // tie, even
  EXPECT_EQ(FloatToBfloat16Bits(FromBits(0x3f808001)), 0x3f81);
  EXPECT_EQ(FloatToBfloat16Bits(FromBits(0x00008000)), 0x0000);  // subnormal
  EXPECT_EQ(FloatToBfloat16Bits(-0.0f), 0x8000);
  // NaNs that plain rounding would turn into infinity or wrap around.
  for (uint32_t nan :
       {0x7f800001u, 0x7f808000u, 0x7fffffffu, 0xffffffffu, 0xff800001u}) {
    const uint16_t bf16 = FloatToBfloat16Bits(FromBits(nan));
    EXPECT_TRUE(IsBfloat16Nan(bf16)) << std::hex << nan;
    EXPECT_EQ(bf16 & 0x8000u, (nan >> 16) & 0x8000u) << std::hex << nan;
  }
}

TEST(Float16Test, BulkConversionsMatchScalar) {
  const std::vector<float> values = RandomFloats(3);
  std::vector<uint16_t> halves(values.size()), bf16s(values.size());
  std::vector<float> back(values.size());
  FloatsToHalves(values, absl::MakeSpan(halves));
  FloatsToBfloat16s(values, absl::MakeSpan(bf16s));
  for (size_t i = 0; i < values.size(); ++i) {
    ASSERT_EQ(halves[i], FloatToHalfBits(values[i]));
    ASSERT_EQ(bf16s[i], FloatToBfloat16Bits(values[i]));
  }
  HalvesToFloats(halves, absl::MakeSpan(back));
  for (size_t i = 0; i < values.size(); ++i) {
    ASSERT_EQ(Bits(back[i]), Bits(HalfBitsToFloat(halves[i])));
  }
  Bfloat16sToFloats(bf16s, absl::MakeSpan(back));
  for (size_t i = 0; i < values.size(); ++i) {
    ASSERT_EQ(Bits(back[i]), Bits(Bfloat16BitsToFloat(bf16s[i])));
  }
}

}  // namespace
}  // namespace commvq
