#include "commvq/cli/quantizer_list.h"

#include "commvq/cli/text_table.h"
#include "commvq/quantizer/options.h"

namespace commvq {
namespace cli {

void PrintQuantizerList(const QuantizerRegistry& registry, std::ostream& out) {
  out << "Quantizers (spec syntax: NAME or NAME:KEY=VALUE,...):\n";
  for (const QuantizerDescription* description : registry.List()) {
    out << "\n" << description->name << ": " << description->summary << "\n";
    if (description->options.empty()) {
      out << "  no options\n";
      continue;
    }
    TextTable table({{"option"}, {"type"}, {"default"}, {"help"}});
    for (const OptionDef& def : description->options) {
      table.AddRow({def.name, DescribeOptionType(def),
                    def.default_value.value_or("required"), def.help});
    }
    table.Print(out, "  ");
  }
}

}  // namespace cli
}  // namespace commvq
