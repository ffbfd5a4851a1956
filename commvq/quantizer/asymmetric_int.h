// Asymmetric k-bit integer quantization of one group of values with an fp16
// scale and an fp16 zero point (the group minimum), the scheme the `kivi`
// quantizer applies to groups of channels (values) and of tokens (keys):
//   x ~= zero + scale * q,  q in [0, 2^k - 1],  scale = (max - min) / (2^k - 1)
// A group is `count` values `stride` floats apart, so one routine serves
// groups of consecutive channels of a token (stride 1) and groups of tokens
// of one channel (stride dim).
#ifndef COMMVQ_QUANTIZER_ASYMMETRIC_INT_H_
#define COMMVQ_QUANTIZER_ASYMMETRIC_INT_H_

#include <cstdint>

#include "absl/status/statusor.h"

namespace commvq {

// A group's side data as stored: binary16 bit patterns.
struct AsymmetricParams {
  uint16_t scale_bits = 0;
  uint16_t zero_bits = 0;
};

// Quantizes x[i * stride] into q[i * stride] for i in [0, count), count >= 1,
// with 1 <= bits <= 8. The scale and zero point are rounded to fp16 before
// the levels are chosen, so the levels are the best ones for what decoding
// reads. InvalidArgument showing the group's range when the scale or the
// zero point does not fit in fp16.
absl::StatusOr<AsymmetricParams> QuantizeAsymmetric(const float* x,
                                                    int64_t count,
                                                    int64_t stride, int bits,
                                                    uint16_t* q);

// An upper bound on sum_i (x[i * stride] - decoded)^2 for the group, from
// its range alone (not by running the quantizer): each element is within
// half a step of a level, or within the distance by which fp16 rounding of
// the zero point and scale moved the end levels inside [min, max], plus a
// few float ulps of arithmetic.
double AsymmetricSquaredErrorBound(const float* x, int64_t count,
                                   int64_t stride, int bits);

// out[i * stride] = zero + scale * q[i * stride] for i in [0, count).
void DequantizeAsymmetric(const uint16_t* q, int64_t count, int64_t stride,
                          AsymmetricParams params, float* out);

}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_ASYMMETRIC_INT_H_
