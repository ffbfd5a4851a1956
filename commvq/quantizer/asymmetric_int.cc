#include "commvq/quantizer/asymmetric_int.h"

#include <algorithm>
#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "commvq/base/float16.h"

namespace commvq {

absl::StatusOr<AsymmetricParams> QuantizeAsymmetric(const float* x,
                                                    int64_t count,
                                                    int64_t stride, int bits,
                                                    uint16_t* q) {
  float lo = x[0];
  float hi = x[0];
  for (int64_t i = 1; i < count; ++i) {
    lo = std::min(lo, x[i * stride]);
    hi = std::max(hi, x[i * stride]);
  }
  const float max_level = static_cast<float>((1 << bits) - 1);
  AsymmetricParams params;
  params.zero_bits = FloatToHalfBits(lo);
  params.scale_bits = FloatToHalfBits((hi - lo) / max_level);
  const float zero = HalfBitsToFloat(params.zero_bits);
  const float scale = HalfBitsToFloat(params.scale_bits);
  if (!std::isfinite(zero) || !std::isfinite(scale)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "values span [", lo, ", ", hi, "], beyond the fp16 range of the "
        "stored scale and zero point: expected |min| and (max - min) / ",
        max_level, " below 65520"));
  }
  const float inv_scale = scale > 0.0f ? 1.0f / scale : 0.0f;
  for (int64_t i = 0; i < count; ++i) {
    const float level = std::nearbyint((x[i * stride] - zero) * inv_scale);
    q[i * stride] = static_cast<uint16_t>(std::clamp(level, 0.0f, max_level));
  }
  return params;
}

double AsymmetricSquaredErrorBound(const float* x, int64_t count,
                                   int64_t stride, int bits) {
  double lo = x[0];
  double hi = x[0];
  for (int64_t i = 1; i < count; ++i) {
    lo = std::min<double>(lo, x[i * stride]);
    hi = std::max<double>(hi, x[i * stride]);
  }
  const int max_level = (1 << bits) - 1;
  const double zero = HalfBitsToFloat(FloatToHalfBits(static_cast<float>(lo)));
  const double scale = HalfBitsToFloat(
      FloatToHalfBits(static_cast<float>((hi - lo) / max_level)));
  const double top = zero + scale * max_level;
  const double slack = 16 * 0x1p-24 * (std::abs(lo) + std::abs(hi) + std::abs(top));
  const double worst =
      std::max({0.5 * scale, zero - lo, hi - top, 0.0}) + slack;
  return static_cast<double>(count) * worst * worst;
}

void DequantizeAsymmetric(const uint16_t* q, int64_t count, int64_t stride,
                          AsymmetricParams params, float* out) {
  const float scale = HalfBitsToFloat(params.scale_bits);
  const float zero = HalfBitsToFloat(params.zero_bits);
  for (int64_t i = 0; i < count; ++i) {
    out[i * stride] = zero + scale * static_cast<float>(q[i * stride]);
  }
}

}  // namespace commvq
