// Per-vector normalization shared by the learned quantizers (rvq,
// commvq_key): they code x / ||x|| and store ||x|| as fp16 side data.
#ifndef COMMVQ_QUANTIZER_VECTOR_NORM_H_
#define COMMVQ_QUANTIZER_VECTOR_NORM_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace commvq {

// Writes x / ||x|| to `unit` (x, unit: [dim]; zeros when the fp16 norm is
// zero) and returns ||x|| as fp16 bits. Dividing by the rounded norm makes
// the codes the best for what decoding multiplies by. InvalidArgument,
// prefixed with `quantizer` and naming `what`, for a norm beyond fp16.
absl::StatusOr<uint16_t> NormalizeToUnit(const float* x, int64_t dim,
                                         float* unit,
                                         absl::string_view quantizer,
                                         absl::string_view what);

// Decoding's inverse: multiplies `row` ([dim]) by the fp16 norm stored at
// `norm_bytes` (2 bytes, as NormalizeToUnit returned it).
void ScaleByStoredNorm(const uint8_t* norm_bytes, float* row, int64_t dim);

}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_VECTOR_NORM_H_
