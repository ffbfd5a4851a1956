#include "commvq/quantizer/kivi_quantizer.h"

#include "commvq/quantizer/grouped_int_quantizer.h"

namespace commvq {
namespace {

class KiviQuantizerFactory final : public QuantizerFactory {
 public:
  KiviQuantizerFactory() {
    description_.name = "kivi";
    description_.summary =
        "KIVI: asymmetric k-bit integers with fp16 scale and zero point, "
        "keys grouped per channel over tokens, values per token over "
        "channels";
    OptionDef mode;
    mode.name = "mode";
    mode.type = OptionType::kString;
    mode.help =
        "key: per channel over blocks of group_size tokens; value: per token "
        "over groups of group_size channels";
    mode.choices = {"key", "value"};
    description_.options = {
        mode,
        {"bits", OptionType::kInt, "2", "code bits per element", 1, 8, {}},
        {"group_size", OptionType::kInt, "32",
         "tokens (mode=key) or channels (mode=value, must divide dim) sharing "
         "one scale and zero point",
         1, 65536, {}},
    };
    description_.example_specs = {"kivi:mode=key,bits=2", "kivi:mode=value,bits=2",
                                  "kivi:mode=key,bits=1",
                                  "kivi:mode=value,bits=1"};
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
    if (auto s = CheckEmptyPayload("kivi", payload); !s.ok()) return s;
    return Make(options, dim);
  }

 private:
  static absl::StatusOr<std::unique_ptr<Quantizer>> Make(
      const ResolvedOptions& options, int64_t dim) {
    return MakeGroupedIntQuantizer(
        options.canonical_spec(), dim,
        options.GetString("mode") == "key" ? IntGrouping::kTokensOfChannel
                                           : IntGrouping::kChannelsOfToken,
        static_cast<int>(options.GetInt("bits")), options.GetInt("group_size"));
  }

  QuantizerDescription description_;
};

}  // namespace

std::unique_ptr<QuantizerFactory> MakeKiviQuantizerFactory() {
  return std::make_unique<KiviQuantizerFactory>();
}

}  // namespace commvq
