// Exact conversions between float and the 16-bit storage formats of KV
// caches: IEEE binary16 ("half") and bfloat16, as raw bit patterns.
//
// Written with integer arithmetic only, so results are bit-identical on every
// compiler and CPU and do not depend on F16C or on `_Float16` support.
#ifndef COMMVQ_BASE_FLOAT16_H_
#define COMMVQ_BASE_FLOAT16_H_

#include <cstdint>

#include "absl/types/span.h"

namespace commvq {

// float -> binary16, rounding to nearest even. Values that round above 65504
// become infinity; tiny values become subnormals or signed zero. A NaN stays
// a quiet NaN with the same sign and the top bits of its payload.
uint16_t FloatToHalfBits(float value);

// binary16 -> float; exact for every finite value and infinity. A NaN
// becomes a quiet NaN with the same sign and payload.
float HalfBitsToFloat(uint16_t bits);

// float -> bfloat16, rounding to nearest even; values that round past the
// largest bfloat16 become infinity. A NaN stays a quiet NaN with the same
// sign (truncating alone could otherwise turn a NaN into infinity).
uint16_t FloatToBfloat16Bits(float value);

// bfloat16 -> float; always exact (bfloat16 is the top half of a float).
float Bfloat16BitsToFloat(uint16_t bits);

// Element-wise versions of the above. Precondition: in.size() == out.size().
void FloatsToHalves(absl::Span<const float> in, absl::Span<uint16_t> out);
void HalvesToFloats(absl::Span<const uint16_t> in, absl::Span<float> out);
void FloatsToBfloat16s(absl::Span<const float> in, absl::Span<uint16_t> out);
void Bfloat16sToFloats(absl::Span<const uint16_t> in, absl::Span<float> out);

}  // namespace commvq

#endif  // COMMVQ_BASE_FLOAT16_H_
