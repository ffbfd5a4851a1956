#include "commvq/quantizer/float_quantizer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "commvq/base/float16.h"

namespace commvq {
namespace {

class FloatQuantizer final : public Quantizer {
 public:
  FloatQuantizer(std::string spec, int64_t dim, DType dtype)
      : Quantizer(std::move(spec),
                  CodeLayout{dim, 16 * dim, 2 * dim, /*side_bytes=*/0, 1}),
        dtype_(dtype) {}

  int64_t ParameterBytes() const override { return 0; }

  // Round-to-nearest is off by at most half a unit in the last place:
  // |x| * 2^-(precision) for normal values, half the smallest subnormal below.
  double SquaredErrorBound(const float* block) const override {
    const bool half = dtype_ == DType::kF16;
    const double relative = half ? 0x1p-11 : 0x1p-8;
    const double absolute = half ? 0x1p-25 : 0x1p-134;
    double bound = 0.0;
    for (int64_t i = 0; i < dim(); ++i) {
      const double e = std::max(std::abs(double{block[i]}) * relative, absolute);
      bound += e * e;
    }
    return bound;
  }

 protected:
  absl::Status EncodeBlocks(const float* x, int64_t num_vectors,
                            uint8_t* codes, uint8_t* side) const override {
    const int64_t n = num_vectors * dim();
    std::vector<uint16_t> bits(n);
    if (dtype_ == DType::kF16) {
      for (int64_t i = 0; i < n; ++i) {
        // fp16 tops out at 65504; storing inf would silently destroy the
        // vector, so it is an error the caller can act on.
        if (std::abs(x[i]) >= 65520.0f) {
          return absl::InvalidArgumentError(absl::StrCat(
              "fp16 quantizer: element [", i / dim(), ", ", i % dim(), "] = ",
              x[i], " is outside the fp16 range (|x| <= 65504)"));
        }
      }
      FloatsToHalves(absl::MakeConstSpan(x, n), absl::MakeSpan(bits));
    } else {
      FloatsToBfloat16s(absl::MakeConstSpan(x, n), absl::MakeSpan(bits));
    }
    std::memcpy(codes, bits.data(), n * sizeof(uint16_t));
    return absl::OkStatus();
  }

  absl::Status DecodeBlocks(const uint8_t* codes, const uint8_t* side,
                            int64_t num_vectors, float* out) const override {
    const int64_t n = num_vectors * dim();
    std::vector<uint16_t> bits(n);
    std::memcpy(bits.data(), codes, n * sizeof(uint16_t));
    if (dtype_ == DType::kF16) {
      HalvesToFloats(bits, absl::MakeSpan(out, n));
    } else {
      Bfloat16sToFloats(bits, absl::MakeSpan(out, n));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> SerializePayload() const override {
    return std::string();
  }

 private:
  DType dtype_;
};

class FloatQuantizerFactory final : public QuantizerFactory {
 public:
  explicit FloatQuantizerFactory(DType dtype) : dtype_(dtype) {
    description_.name = std::string(DTypeName(dtype) == "f16" ? "fp16" : "bf16");
    description_.summary =
        absl::StrCat("identity baseline: every element stored as ",
                     DTypeName(dtype), " (16 bits per element)");
  }

  const QuantizerDescription& description() const override {
    return description_;
  }

  absl::StatusOr<std::unique_ptr<Quantizer>> Train(
      const ResolvedOptions& options, const TensorView& samples,
      const TrainOptions& train) const override {
    return std::unique_ptr<Quantizer>(std::make_unique<FloatQuantizer>(
        options.canonical_spec(), samples.dim(1), dtype_));
  }

  absl::StatusOr<std::unique_ptr<Quantizer>> Deserialize(
      const ResolvedOptions& options, int64_t dim,
      absl::string_view payload) const override {
    if (!payload.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(description_.name, " quantizer: expected an empty "
                       "payload, got ", payload.size(), " bytes"));
    }
    return std::unique_ptr<Quantizer>(
        std::make_unique<FloatQuantizer>(options.canonical_spec(), dim, dtype_));
  }

 private:
  DType dtype_;
  QuantizerDescription description_;
};

}  // namespace

std::unique_ptr<QuantizerFactory> MakeFp16QuantizerFactory() {
  return std::make_unique<FloatQuantizerFactory>(DType::kF16);
}

std::unique_ptr<QuantizerFactory> MakeBf16QuantizerFactory() {
  return std::make_unique<FloatQuantizerFactory>(DType::kBF16);
}

}  // namespace commvq
