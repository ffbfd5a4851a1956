// `fp8`: every element stored as an 8-bit float, FP8 E4M3 in the OCP
// "E4M3FN" variant (1 sign, 4 exponent bits with bias 7, 3 mantissa bits; no
// infinities; largest finite magnitude 448; S.1111.111 is NaN), after
// dividing the vector by a per-vector scale stored as fp16:
//   scale = fp16(max|x| / 448),  code = e4m3(x / scale),  x ~= scale * code
// Stored per vector: 8 * dim code bits + 2 bytes of scale, i.e. 8 + 16 / dim
// bits per element. No trained parameters.
#ifndef COMMVQ_QUANTIZER_FP8_QUANTIZER_H_
#define COMMVQ_QUANTIZER_FP8_QUANTIZER_H_

#include <cstdint>
#include <memory>

#include "commvq/quantizer/quantizer.h"

namespace commvq {

std::unique_ptr<QuantizerFactory> MakeFp8QuantizerFactory();

// float -> E4M3FN, rounding to nearest even. Saturating: magnitudes that
// round above 448, infinities included, become +-448, so finite input never
// yields NaN. Magnitudes up to 2^-10 become signed zero. NaN stays NaN.
uint8_t FloatToE4m3Bits(float value);

// E4M3FN -> float; exact (every E4M3 value is a float). The two NaN codes
// (0x7F, 0xFF) become a quiet NaN of the same sign.
float E4m3BitsToFloat(uint8_t bits);

}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_FP8_QUANTIZER_H_
