#include "commvq/quantizer/fp8_quantizer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "commvq/base/float16.h"

namespace commvq {
namespace {

// Largest finite E4M3FN magnitude, S.1111.110 = 1.75 * 2^8, and its code.
constexpr float kE4m3Max = 448.0f;
constexpr uint8_t kE4m3MaxBits = 0x7e;
// S.1111.111: the only NaN; E4M3FN has no infinities.
constexpr uint8_t kE4m3NanBits = 0x7f;
// Smallest normal E4M3 magnitude; below it the spacing stays 2^-9.
constexpr float kE4m3MinNormal = 0x1p-6f;

// Side data per vector: the fp16 scale.
constexpr int64_t kScaleBytes = sizeof(uint16_t);

class Fp8Quantizer final : public Quantizer {
 public:
  Fp8Quantizer(std::string spec, int64_t dim)
      : Quantizer(std::move(spec),
                  CodeLayout{dim, 8 * dim, dim, kScaleBytes, 1}) {}

  int64_t ParameterBytes() const override { return 0; }

  // Each scaled element v = x / scale rounds to E4M3 within half a unit in
  // the last place: |v| * 2^-4 for normal values (3 mantissa bits), 2^-10
  // below the smallest normal, plus whatever exceeds 448 and saturates (the
  // fp16 rounding of the scale can push max |v| slightly past 448), with a
  // 1e-6 relative margin for the float division that forms v.
  double SquaredErrorBound(const float* block) const override {
    const double scale = HalfBitsToFloat(ScaleBits(MaxAbs(block)));
    if (scale == 0.0) return 0.0;  // an all-zero vector is exact
    double bound = 0.0;
    for (int64_t c = 0; c < dim(); ++c) {
      const double v = std::abs(double{block[c]}) / scale;
      const double e = (1.0 + 1e-6) * scale *
                       (std::max(v * 0x1p-4, 0x1p-10) +
                        std::max(0.0, v - double{kE4m3Max}));
      bound += e * e;
    }
    return bound;
  }

 protected:
  absl::Status EncodeBlocks(const float* x, int64_t num_vectors,
                            uint8_t* codes, uint8_t* side) const override {
    for (int64_t v = 0; v < num_vectors; ++v) {
      const float* row = x + v * dim();
      const float max_abs = MaxAbs(row);
      const uint16_t scale_bits = ScaleBits(max_abs);
      const float scale = HalfBitsToFloat(scale_bits);
      if (!std::isfinite(scale)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "fp8 quantizer: a vector with max |x| = ", max_abs,
            " needs a scale max|x| / 448 beyond the fp16 range: expected "
            "max |x| below 448 * 65520 = 29352960"));
      }
      uint8_t* row_codes = codes + v * layout().code_bytes;
      for (int64_t c = 0; c < dim(); ++c) {
        // Dividing (not multiplying by 1 / scale) rounds once, so multiples
        // of the scale encode exactly.
        row_codes[c] = scale > 0.0f ? FloatToE4m3Bits(row[c] / scale) : 0;
      }
      std::memcpy(side + v * kScaleBytes, &scale_bits, kScaleBytes);
    }
    return absl::OkStatus();
  }

  absl::Status DecodeBlocks(const uint8_t* codes, const uint8_t* side,
                            int64_t num_vectors, float* out) const override {
    for (int64_t v = 0; v < num_vectors; ++v) {
      uint16_t scale_bits;
      std::memcpy(&scale_bits, side + v * kScaleBytes, kScaleBytes);
      const float scale = HalfBitsToFloat(scale_bits);
      const uint8_t* row_codes = codes + v * layout().code_bytes;
      float* row = out + v * dim();
      for (int64_t c = 0; c < dim(); ++c) {
        row[c] = scale * E4m3BitsToFloat(row_codes[c]);
      }
    }
    return absl::OkStatus();
  }

  float MaxAbs(const float* row) const {
    float max_abs = 0.0f;
    for (int64_t c = 0; c < dim(); ++c) {
      max_abs = std::max(max_abs, std::abs(row[c]));
    }
    return max_abs;
  }

  // The fp16 scale max|x| / 448 that encoding uses (and decoding reads). A
  // nonzero vector whose scale would round to zero (max|x| below
  // 448 * 2^-25) would decode as all zeros; the smallest fp16 subnormal keeps
  // it, and its elements then stay below 224, within range.
  static uint16_t ScaleBits(float max_abs) {
    const uint16_t bits = FloatToHalfBits(max_abs / kE4m3Max);
    return bits == 0 && max_abs > 0.0f ? uint16_t{1} : bits;
  }

  absl::StatusOr<std::string> SerializePayload() const override {
    return std::string();
  }
};

class Fp8QuantizerFactory final : public QuantizerFactory {
 public:
  Fp8QuantizerFactory() {
    description_.name = "fp8";
    description_.summary =
        "FP8 E4M3 (OCP E4M3FN) elements with an fp16 scale per vector "
        "(8 + 16 / dim bits per element)";
  }

  const QuantizerDescription& description() const override {
    return description_;
  }

  absl::StatusOr<std::unique_ptr<Quantizer>> Train(
      const ResolvedOptions& options, const TensorView& samples,
      const TrainOptions& train) const override {
    return std::unique_ptr<Quantizer>(
        std::make_unique<Fp8Quantizer>(options.canonical_spec(),
                                       samples.dim(1)));
  }

  absl::StatusOr<std::unique_ptr<Quantizer>> Deserialize(
      const ResolvedOptions& options, int64_t dim,
      absl::string_view payload) const override {
    if (!payload.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "fp8 quantizer: expected an empty payload, got ", payload.size(),
          " bytes"));
    }
    return std::unique_ptr<Quantizer>(
        std::make_unique<Fp8Quantizer>(options.canonical_spec(), dim));
  }

 private:
  QuantizerDescription description_;
};

}  // namespace

uint8_t FloatToE4m3Bits(float value) {
  const uint8_t sign = std::signbit(value) ? 0x80 : 0x00;
  if (std::isnan(value)) return sign | kE4m3NanBits;
  const float magnitude = std::abs(value);
  // [448, 464) rounds down to 448 (464 is a tie and 448 the even side);
  // everything above saturates to it.
  if (magnitude >= kE4m3Max) return sign | kE4m3MaxBits;
  // In the binade [2^e, 2^(e+1)) E4M3 values are 2^(e-3) apart, and below
  // the smallest normal they stay 2^-9 apart as for e = -6. Scaling by a
  // power of two is exact, so rounding the scaled value to an integer with
  // nearbyint (ties to even in the default rounding mode) rounds
  // `magnitude` to the nearest E4M3 value.
  const int e = magnitude < kE4m3MinNormal ? -6 : std::ilogb(magnitude);
  const int units =
      static_cast<int>(std::nearbyint(std::ldexp(magnitude, 3 - e)));
  // A normal gets units 8..16 and code (e + 7) * 8 + (units - 8): units 16
  // (rounding carried into the next binade) lands on that binade's first
  // code. Below the smallest normal the code is units itself (0..8). Both
  // are (e + 6) * 8 + units.
  return sign | static_cast<uint8_t>((e + 6) * 8 + units);
}

float E4m3BitsToFloat(uint8_t bits) {
  const int exponent = (bits >> 3) & 0xf;
  const int mantissa = bits & 0x7;
  float magnitude;
  if ((bits & 0x7f) == kE4m3NanBits) {
    magnitude = std::numeric_limits<float>::quiet_NaN();
  } else if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), -9);
  } else {
    magnitude = std::ldexp(static_cast<float>(8 + mantissa), exponent - 10);
  }
  return std::copysign(magnitude, (bits & 0x80) != 0 ? -1.0f : 1.0f);
}

std::unique_ptr<QuantizerFactory> MakeFp8QuantizerFactory() {
  return std::make_unique<Fp8QuantizerFactory>();
}

}  // namespace commvq
