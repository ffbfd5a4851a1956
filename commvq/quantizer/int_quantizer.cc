#include "commvq/quantizer/int_quantizer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "commvq/base/bit_packing.h"
#include "commvq/base/float16.h"
#include "commvq/base/status_macros.h"

namespace commvq {
namespace {

// Side data per group: fp16 scale, then fp16 zero point.
constexpr int64_t kSideBytesPerGroup = 4;

class IntQuantizer final : public Quantizer {
 public:
  IntQuantizer(std::string spec, int64_t dim, int bits, int64_t group_size)
      : Quantizer(std::move(spec),
                  CodeLayout{dim, dim * bits, PackedBytes(dim, bits),
                             (dim / group_size) * kSideBytesPerGroup, 1}),
        bits_(bits),
        group_size_(group_size) {}

  int64_t ParameterBytes() const override { return 0; }

 protected:
  absl::Status EncodeBlocks(const float* x, int64_t num_vectors,
                            uint8_t* codes, uint8_t* side) const override {
    const int64_t groups = dim() / group_size_;
    const float max_code = static_cast<float>((1 << bits_) - 1);
    std::vector<uint16_t> q(dim());
    std::vector<uint16_t> params(2 * groups);
    for (int64_t v = 0; v < num_vectors; ++v) {
      const float* row = x + v * dim();
      for (int64_t g = 0; g < groups; ++g) {
        const float* group = row + g * group_size_;
        const auto [lo, hi] = std::minmax_element(group, group + group_size_);
        // Quantize with the fp16-rounded parameters that decode will see, so
        // the codes are optimal for what is actually stored.
        const uint16_t zero_bits = FloatToHalfBits(*lo);
        const uint16_t scale_bits = FloatToHalfBits((*hi - *lo) / max_code);
        const float zero = HalfBitsToFloat(zero_bits);
        const float scale = HalfBitsToFloat(scale_bits);
        if (!std::isfinite(zero) || !std::isfinite(scale)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "int quantizer: vector ", v, ", channels [", g * group_size_,
              ", ", (g + 1) * group_size_, ") span [", *lo, ", ", *hi,
              "], beyond the fp16 range of the stored scale and zero point"));
        }
        const float inv_scale = scale > 0.0f ? 1.0f / scale : 0.0f;
        for (int64_t c = 0; c < group_size_; ++c) {
          const float level = std::nearbyint((group[c] - zero) * inv_scale);
          q[g * group_size_ + c] =
              static_cast<uint16_t>(std::clamp(level, 0.0f, max_code));
        }
        params[2 * g] = scale_bits;
        params[2 * g + 1] = zero_bits;
      }
      CVQ_RETURN_IF_ERROR(PackCodes(
          q, bits_, absl::MakeSpan(codes + v * layout().code_bytes,
                                   layout().code_bytes)));
      std::memcpy(side + v * layout().side_bytes, params.data(),
                  layout().side_bytes);
    }
    return absl::OkStatus();
  }

  absl::Status DecodeBlocks(const uint8_t* codes, const uint8_t* side,
                            int64_t num_vectors, float* out) const override {
    const int64_t groups = dim() / group_size_;
    std::vector<uint16_t> q(dim());
    std::vector<uint16_t> params(2 * groups);
    for (int64_t v = 0; v < num_vectors; ++v) {
      CVQ_RETURN_IF_ERROR(UnpackCodes(
          absl::MakeConstSpan(codes + v * layout().code_bytes,
                              layout().code_bytes),
          bits_, absl::MakeSpan(q)));
      std::memcpy(params.data(), side + v * layout().side_bytes,
                  layout().side_bytes);
      float* row = out + v * dim();
      for (int64_t g = 0; g < groups; ++g) {
        const float scale = HalfBitsToFloat(params[2 * g]);
        const float zero = HalfBitsToFloat(params[2 * g + 1]);
        for (int64_t c = g * group_size_; c < (g + 1) * group_size_; ++c) {
          row[c] = zero + scale * static_cast<float>(q[c]);
        }
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> SerializePayload() const override {
    return std::string();
  }

 private:
  int bits_;
  int64_t group_size_;
};

class IntQuantizerFactory final : public QuantizerFactory {
 public:
  IntQuantizerFactory() {
    description_.name = "int";
    description_.summary =
        "per-token asymmetric k-bit integers, fp16 scale and zero point per "
        "group of channels";
    description_.options = {
        {"bits", OptionType::kInt, "2", "code bits per element", 1, 8, {}},
        {"group_size", OptionType::kInt, "32",
         "channels sharing one scale and zero point; must divide dim", 1,
         65536, {}},
    };
  }

  const QuantizerDescription& description() const override {
    return description_;
  }

  absl::StatusOr<std::unique_ptr<Quantizer>> Train(
      const ResolvedOptions& options, const TensorView& samples,
      const TrainOptions& train) const override {
    return Make(options, samples.dim(1));
  }

  absl::StatusOr<std::unique_ptr<Quantizer>> Deserialize(
      const ResolvedOptions& options, int64_t dim,
      absl::string_view payload) const override {
    if (!payload.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "int quantizer: expected an empty payload, got ", payload.size(),
          " bytes"));
    }
    return Make(options, dim);
  }

 private:
  absl::StatusOr<std::unique_ptr<Quantizer>> Make(
      const ResolvedOptions& options, int64_t dim) const {
    const int64_t group_size = options.GetInt("group_size");
    if (dim % group_size != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "int quantizer: group_size ", group_size, " does not divide dim ",
          dim));
    }
    return std::unique_ptr<Quantizer>(std::make_unique<IntQuantizer>(
        options.canonical_spec(), dim, static_cast<int>(options.GetInt("bits")),
        group_size));
  }

  QuantizerDescription description_;
};

}  // namespace

std::unique_ptr<QuantizerFactory> MakeIntQuantizerFactory() {
  return std::make_unique<IntQuantizerFactory>();
}

}  // namespace commvq
