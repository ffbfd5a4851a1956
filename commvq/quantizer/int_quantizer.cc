#include "commvq/quantizer/int_quantizer.h"

#include "commvq/quantizer/grouped_int_quantizer.h"

namespace commvq {
namespace {

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
    description_.example_specs = {"int:bits=8", "int:bits=4", "int:bits=2",
                                  "int:bits=1,group_size=16"};
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
    if (auto s = CheckEmptyPayload("int", payload); !s.ok()) return s;
    return Make(options, dim);
  }

 private:
  static absl::StatusOr<std::unique_ptr<Quantizer>> Make(
      const ResolvedOptions& options, int64_t dim) {
    return MakeGroupedIntQuantizer(
        options.canonical_spec(), dim, IntGrouping::kChannelsOfToken,
        static_cast<int>(options.GetInt("bits")), options.GetInt("group_size"));
  }

  QuantizerDescription description_;
};

}  // namespace

std::unique_ptr<QuantizerFactory> MakeIntQuantizerFactory() {
  return std::make_unique<IntQuantizerFactory>();
}

}  // namespace commvq
