// Spec strings name a quantizer and its options: `name:key=value,...`.
//
// Grammar (whitespace is not allowed anywhere):
//   spec  := name [ ":" [ option ( "," option )* ] ]
//   name  := [a-z0-9_]+            key := [a-z0-9_]+
//   option:= key "=" value          value := [A-Za-z0-9_.+-]+
// Keys may not repeat. The parser only checks syntax; what each key means is
// the business of the quantizer's OptionSchema (options.h).
#ifndef COMMVQ_QUANTIZER_QUANTIZER_SPEC_H_
#define COMMVQ_QUANTIZER_QUANTIZER_SPEC_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace commvq {

// Longer specs are rejected before parsing (no spec needs this much).
inline constexpr size_t kMaxSpecLength = 4096;

struct QuantizerSpec {
  std::string name;
  // In the order written.
  std::vector<std::pair<std::string, std::string>> options;

  // `name` or `name:k=v,...` in the stored order; parses back to *this.
  std::string ToString() const;
};

// InvalidArgument naming the offending character, position or key.
absl::StatusOr<QuantizerSpec> ParseQuantizerSpec(absl::string_view text);

}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_QUANTIZER_SPEC_H_
