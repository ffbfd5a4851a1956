#include "commvq/quantizer/vector_norm.h"

#include <cmath>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "commvq/base/float16.h"

namespace commvq {

absl::StatusOr<uint16_t> NormalizeToUnit(const float* x, int64_t dim,
                                         float* unit,
                                         absl::string_view quantizer,
                                         absl::string_view what) {
  // Squares in f64: those of large finite f32 values overflow f32.
  double squared_norm = 0.0;
  for (int64_t j = 0; j < dim; ++j) {
    squared_norm += static_cast<double>(x[j]) * x[j];
  }
  const double exact_norm = std::sqrt(squared_norm);
  const uint16_t norm_bits = FloatToHalfBits(static_cast<float>(exact_norm));
  const float norm = HalfBitsToFloat(norm_bits);
  if (!std::isfinite(norm)) {
    return absl::InvalidArgumentError(absl::StrCat(
        quantizer, " quantizer: ", what, " has norm ", exact_norm,
        ", beyond the fp16 range (at most 65504) of the stored norm"));
  }
  const float inverse = norm > 0.0f ? 1.0f / norm : 0.0f;
  for (int64_t j = 0; j < dim; ++j) unit[j] = x[j] * inverse;
  return norm_bits;
}

void ScaleByStoredNorm(const uint8_t* norm_bytes, float* row, int64_t dim) {
  uint16_t norm_bits;
  std::memcpy(&norm_bits, norm_bytes, sizeof(norm_bits));
  const float norm = HalfBitsToFloat(norm_bits);
  for (int64_t j = 0; j < dim; ++j) row[j] *= norm;
}

}  // namespace commvq
