#include "commvq/quantizer/grouped_int_quantizer.h"

#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "commvq/base/bit_packing.h"
#include "commvq/base/status_macros.h"
#include "commvq/quantizer/asymmetric_int.h"

namespace commvq {
namespace {

// Side data per group: fp16 scale, then fp16 zero point, in group order.
constexpr int64_t kSideBytesPerGroup = 4;
static_assert(sizeof(AsymmetricParams) == kSideBytesPerGroup,
              "side data is copied as an array of AsymmetricParams");

// How the groups tile a block of [block_vectors, dim] elements: group g is
// the group_size elements starting at g * group_step, `stride` apart. Both
// groupings share one encode/decode loop through this.
struct Tiling {
  int64_t block_vectors;
  int64_t num_groups;
  int64_t group_step;
  int64_t stride;
};

Tiling MakeTiling(IntGrouping grouping, int64_t dim, int64_t group_size) {
  if (grouping == IntGrouping::kTokensOfChannel) {
    return {group_size, dim, 1, dim};
  }
  return {1, dim / group_size, group_size, 1};
}

class GroupedIntQuantizer final : public Quantizer {
 public:
  GroupedIntQuantizer(std::string spec, int64_t dim, IntGrouping grouping,
                      int bits, int64_t group_size)
      : Quantizer(
            std::move(spec),
            CodeLayout{dim, dim * bits, PackedBytes(dim, bits),
                       MakeTiling(grouping, dim, group_size).num_groups *
                           kSideBytesPerGroup,
                       MakeTiling(grouping, dim, group_size).block_vectors}),
        grouping_(grouping),
        bits_(bits),
        group_size_(group_size),
        tiling_(MakeTiling(grouping, dim, group_size)) {}

  int64_t ParameterBytes() const override { return 0; }

  double SquaredErrorBound(const float* block) const override {
    double bound = 0.0;
    for (int64_t g = 0; g < tiling_.num_groups; ++g) {
      bound += AsymmetricSquaredErrorBound(block + g * tiling_.group_step,
                                           group_size_, tiling_.stride, bits_);
    }
    return bound;
  }

 protected:
  absl::Status EncodeBlocks(const float* x, int64_t num_vectors, uint8_t* codes,
                            uint8_t* side) const override {
    const int64_t block_elements = tiling_.block_vectors * dim();
    std::vector<uint16_t> q(block_elements);
    std::vector<AsymmetricParams> params(tiling_.num_groups);
    for (int64_t b = 0; b < num_vectors / tiling_.block_vectors; ++b) {
      const float* block = x + b * block_elements;
      for (int64_t g = 0; g < tiling_.num_groups; ++g) {
        const int64_t first = g * tiling_.group_step;
        absl::StatusOr<AsymmetricParams> group =
            QuantizeAsymmetric(block + first, group_size_, tiling_.stride,
                               bits_, q.data() + first);
        if (!group.ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat(name(), " quantizer: ", DescribeGroup(g), ": ",
                           group.status().message()));
        }
        params[g] = *group;
      }
      for (int64_t t = 0; t < tiling_.block_vectors; ++t) {
        const int64_t v = b * tiling_.block_vectors + t;
        CVQ_RETURN_IF_ERROR(
            PackCodes(absl::MakeConstSpan(q).subspan(t * dim(), dim()), bits_,
                      absl::MakeSpan(codes + v * layout().code_bytes,
                                     layout().code_bytes)));
      }
      std::memcpy(side + b * layout().side_bytes, params.data(),
                  layout().side_bytes);
    }
    return absl::OkStatus();
  }

  absl::Status DecodeBlocks(const uint8_t* codes, const uint8_t* side,
                            int64_t num_vectors, float* out) const override {
    const int64_t block_elements = tiling_.block_vectors * dim();
    std::vector<uint16_t> q(block_elements);
    std::vector<AsymmetricParams> params(tiling_.num_groups);
    for (int64_t b = 0; b < num_vectors / tiling_.block_vectors; ++b) {
      for (int64_t t = 0; t < tiling_.block_vectors; ++t) {
        const int64_t v = b * tiling_.block_vectors + t;
        CVQ_RETURN_IF_ERROR(
            UnpackCodes(absl::MakeConstSpan(codes + v * layout().code_bytes,
                                            layout().code_bytes),
                        bits_, absl::MakeSpan(q).subspan(t * dim(), dim())));
      }
      std::memcpy(params.data(), side + b * layout().side_bytes,
                  layout().side_bytes);
      float* block = out + b * block_elements;
      for (int64_t g = 0; g < tiling_.num_groups; ++g) {
        const int64_t first = g * tiling_.group_step;
        DequantizeAsymmetric(q.data() + first, group_size_, tiling_.stride,
                             params[g], block + first);
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> SerializePayload() const override {
    return std::string();
  }

 private:
  // Where group g lies, for errors. The row is not known here: the hooks see
  // a range of blocks, not its position in the caller's input.
  std::string DescribeGroup(int64_t g) const {
    if (grouping_ == IntGrouping::kTokensOfChannel) {
      return absl::StrCat("channel ", g, " over a block of ", group_size_,
                          " vectors");
    }
    return absl::StrCat("channels [", g * group_size_, ", ",
                        (g + 1) * group_size_, ") of a vector");
  }

  IntGrouping grouping_;
  int bits_;
  int64_t group_size_;
  Tiling tiling_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Quantizer>> MakeGroupedIntQuantizer(
    std::string spec, int64_t dim, IntGrouping grouping, int bits,
    int64_t group_size) {
  if (grouping == IntGrouping::kChannelsOfToken && dim % group_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        spec.substr(0, spec.find(':')), " quantizer: group_size ", group_size,
        " does not divide dim ", dim, " (groups of channels)"));
  }
  return std::unique_ptr<Quantizer>(std::make_unique<GroupedIntQuantizer>(
      std::move(spec), dim, grouping, bits, group_size));
}

absl::StatusOr<std::unique_ptr<Quantizer>> GroupedIntQuantizerFactory::Train(
    const ResolvedOptions& options, const TensorView& samples,
    const TrainOptions& train) const {
  return Make(options, samples.dim(1));
}

absl::StatusOr<std::unique_ptr<Quantizer>>
GroupedIntQuantizerFactory::Deserialize(const ResolvedOptions& options,
                                        int64_t dim,
                                        absl::string_view payload) const {
  if (!payload.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        description_.name, " quantizer: expected an empty payload, got ",
        payload.size(), " bytes"));
  }
  return Make(options, dim);
}

absl::StatusOr<std::unique_ptr<Quantizer>> GroupedIntQuantizerFactory::Make(
    const ResolvedOptions& options, int64_t dim) const {
  return MakeGroupedIntQuantizer(
      options.canonical_spec(), dim, Grouping(options),
      static_cast<int>(options.GetInt("bits")), options.GetInt("group_size"));
}

}  // namespace commvq
