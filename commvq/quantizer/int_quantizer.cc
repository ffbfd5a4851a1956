#include "commvq/quantizer/int_quantizer.h"

#include "commvq/quantizer/grouped_int_quantizer.h"

namespace commvq {
namespace {

QuantizerDescription IntDescription() {
  QuantizerDescription description;
  description.name = "int";
  description.summary =
      "per-token asymmetric k-bit integers, fp16 scale and zero point per "
      "group of channels";
  description.options = {
      {"bits", OptionType::kInt, "2", "code bits per element", 1, 8, {}},
      {"group_size",
       OptionType::kInt,
       "32",
       "channels sharing one scale and zero point; must divide dim",
       1,
       65536,
       {}},
  };
  description.example_specs = {"int:bits=8", "int:bits=4", "int:bits=2",
                               "int:bits=1,group_size=16"};
  return description;
}

class IntQuantizerFactory final : public GroupedIntQuantizerFactory {
 public:
  IntQuantizerFactory() : GroupedIntQuantizerFactory(IntDescription()) {}

 protected:
  IntGrouping Grouping(const ResolvedOptions& options) const override {
    return IntGrouping::kChannelsOfToken;
  }
};

}  // namespace

std::unique_ptr<QuantizerFactory> MakeIntQuantizerFactory() {
  return std::make_unique<IntQuantizerFactory>();
}

}  // namespace commvq
