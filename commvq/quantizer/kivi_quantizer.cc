#include "commvq/quantizer/kivi_quantizer.h"

#include "commvq/quantizer/grouped_int_quantizer.h"

namespace commvq {
namespace {

QuantizerDescription KiviDescription() {
  QuantizerDescription description;
  description.name = "kivi";
  description.summary =
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
  description.options = {
      mode,
      {"bits", OptionType::kInt, "2", "code bits per element", 1, 8, {}},
      {"group_size",
       OptionType::kInt,
       "32",
       "tokens (mode=key) or channels (mode=value, must divide dim) sharing "
       "one scale and zero point",
       1,
       65536,
       {}},
  };
  description.example_specs = {"kivi:mode=key,bits=2", "kivi:mode=value,bits=2",
                               "kivi:mode=key,bits=1",
                               "kivi:mode=value,bits=1"};
  return description;
}

class KiviQuantizerFactory final : public GroupedIntQuantizerFactory {
 public:
  KiviQuantizerFactory() : GroupedIntQuantizerFactory(KiviDescription()) {}

 protected:
  IntGrouping Grouping(const ResolvedOptions& options) const override {
    return options.GetString("mode") == "key" ? IntGrouping::kTokensOfChannel
                                              : IntGrouping::kChannelsOfToken;
  }
};

}  // namespace

std::unique_ptr<QuantizerFactory> MakeKiviQuantizerFactory() {
  return std::make_unique<KiviQuantizerFactory>();
}

}  // namespace commvq
