#include "commvq/base/float16.h"

#include <cassert>
#include <cstring>

namespace commvq {
namespace {

uint32_t FloatBits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

float BitsToFloat(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

// Drops the low `shift` bits of `value`, rounding to nearest even. A carry
// out of the mantissa correctly bumps the exponent (up to infinity).
uint32_t ShiftRightRoundEven(uint32_t value, int shift) {
  const uint32_t kept = value >> shift;
  const uint32_t rest = value & ((1u << shift) - 1);
  const uint32_t half = 1u << (shift - 1);
  return kept + (rest > half || (rest == half && (kept & 1)));
}

template <typename From, typename To, typename Convert>
void ConvertAll(absl::Span<const From> in, absl::Span<To> out,
                Convert convert) {
  assert(in.size() == out.size());
  for (size_t i = 0; i < in.size(); ++i) out[i] = convert(in[i]);
}

}  // namespace

uint16_t FloatToHalfBits(float value) {
  const uint32_t bits = FloatBits(value);
  const uint16_t sign = (bits >> 16) & 0x8000;
  const uint32_t abs = bits & 0x7fffffff;
  if (abs > 0x7f800000) return sign | 0x7e00 | ((abs >> 13) & 0x3ff);  // NaN
  if (abs >= 0x47800000) return sign | 0x7c00;  // >= 2^16: inf (or was inf)
  if (abs >= 0x38800000) {
    // Normal half: rebias the exponent from 127 to 15 and round the mantissa
    // from 23 to 10 bits.
    return sign | ShiftRightRoundEven(abs - 0x38000000, 13);
  }
  // Below 2^-25 (and 2^-25 itself, a tie with zero) everything rounds to 0.
  if (abs <= 0x33000000) return sign;
  // Subnormal half: the result counts units of 2^-24. The float is
  // mantissa * 2^(exponent - 150) with the implicit bit made explicit.
  const int exponent = abs >> 23;
  const uint32_t mantissa = (abs & 0x7fffff) | 0x800000;
  return sign | ShiftRightRoundEven(mantissa, 126 - exponent);
}

float HalfBitsToFloat(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1f;
  const uint32_t mantissa = bits & 0x3ff;
  if (exponent == 0x1f) {
    // Infinity, or NaN with the quiet bit set.
    return BitsToFloat(sign | 0x7f800000 | (mantissa << 13) |
                       (mantissa != 0 ? 0x400000 : 0));
  }
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24 is exact in float.
    return BitsToFloat(sign |
                       FloatBits(static_cast<float>(mantissa) * 0x1p-24f));
  }
  return BitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

uint16_t FloatToBfloat16Bits(float value) {
  const uint32_t bits = FloatBits(value);
  if ((bits & 0x7fffffff) > 0x7f800000) return (bits >> 16) | 0x0040;  // NaN
  return ShiftRightRoundEven(bits, 16);
}

float Bfloat16BitsToFloat(uint16_t bits) {
  return BitsToFloat(static_cast<uint32_t>(bits) << 16);
}

void FloatsToHalves(absl::Span<const float> in, absl::Span<uint16_t> out) {
  ConvertAll(in, out, FloatToHalfBits);
}

void HalvesToFloats(absl::Span<const uint16_t> in, absl::Span<float> out) {
  ConvertAll(in, out, HalfBitsToFloat);
}

void FloatsToBfloat16s(absl::Span<const float> in, absl::Span<uint16_t> out) {
  ConvertAll(in, out, FloatToBfloat16Bits);
}

void Bfloat16sToFloats(absl::Span<const uint16_t> in, absl::Span<float> out) {
  ConvertAll(in, out, Bfloat16BitsToFloat);
}

}  // namespace commvq
