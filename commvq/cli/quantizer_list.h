// `commvq list`: what each registered quantizer is and which options its
// spec accepts, so users can write specs without reading the source.
#ifndef COMMVQ_CLI_QUANTIZER_LIST_H_
#define COMMVQ_CLI_QUANTIZER_LIST_H_

#include <ostream>

#include "commvq/registry/registry.h"

namespace commvq {
namespace cli {

// Every quantizer of `registry` in name order: its summary and a table of
// its options (name, type, default or "required", help).
void PrintQuantizerList(const QuantizerRegistry& registry, std::ostream& out);

}  // namespace cli
}  // namespace commvq

#endif  // COMMVQ_CLI_QUANTIZER_LIST_H_
