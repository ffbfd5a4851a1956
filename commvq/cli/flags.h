// A small command-line flag parser for the commvq tool: each subcommand
// declares its flags as FlagDefs; ParseFlags checks the arguments against
// them (unknown flags, missing or malformed values, ranges) so every
// subcommand reports bad flags the same way, naming the flag.
//
// Accepted forms: `--name=value`, `--name value`, and `--name` alone for
// boolean flags. Positional arguments are not accepted.
#ifndef COMMVQ_CLI_FLAGS_H_
#define COMMVQ_CLI_FLAGS_H_

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace commvq {
namespace cli {

enum class FlagType { kBool, kInt, kString };

struct FlagDef {
  std::string name;  // without the leading "--"
  FlagType type = FlagType::kString;
  std::string value_name;  // placeholder in usage, e.g. "N" in --tokens=N
  std::string help;
  // Shown in usage; for kInt flags also the value GetInt returns when the
  // flag is not given. Empty: no default.
  std::string default_value;
  // Inclusive bounds of kInt values.
  int64_t min = std::numeric_limits<int64_t>::min();
  int64_t max = std::numeric_limits<int64_t>::max();
  // Whether the flag may be given more than once (GetStrings returns all).
  bool repeatable = false;
};

class ParsedFlags {
 public:
  // Whether the flag was given on the command line.
  bool Has(absl::string_view name) const;
  // The given value of a kInt flag, or its default. Requires a kInt flag
  // that was given or has a default (a programming error otherwise, checked
  // by assert).
  int64_t GetInt(absl::string_view name) const;
  // Every value given for the flag, in command-line order.
  std::vector<std::string> GetStrings(absl::string_view name) const;

 private:
  friend absl::StatusOr<ParsedFlags> ParseFlags(absl::Span<const FlagDef>,
                                                absl::Span<const std::string>);
  std::map<std::string, std::vector<std::string>, std::less<>> given_;
  std::map<std::string, int64_t, std::less<>> ints_;
};

// InvalidArgument naming the flag for: an unknown flag (listing the known
// ones), a positional argument, a missing value, a value given to a boolean
// flag, a non-integer or out-of-range value of a kInt flag, and a
// non-repeatable flag given twice.
absl::StatusOr<ParsedFlags> ParseFlags(absl::Span<const FlagDef> defs,
                                       absl::Span<const std::string> args);

// Builders for the common kinds of flags.
FlagDef IntFlag(std::string name, std::string help, std::string default_value,
                int64_t min, int64_t max);
// `value_name` is the placeholder shown in usage (e.g. "PATH").
FlagDef StringFlag(std::string name, std::string value_name, std::string help,
                   std::string default_value = "");
FlagDef BoolFlag(std::string name, std::string help);

// The flag's comma-separated non-negative integers ("0,10,20"); empty when
// the flag was not given. InvalidArgument naming the bad item.
absl::StatusOr<std::vector<int>> GetIntList(const ParsedFlags& flags,
                                            absl::string_view name);

// The flag's last given value, or `fallback` when it was not given.
std::string GetStringOr(const ParsedFlags& flags, absl::string_view name,
                        absl::string_view fallback);

// One line per flag, `indent` first, flag names aligned:
//   --tokens=N   Tokens of synthetic data (default: 4096).
std::string FlagUsage(absl::Span<const FlagDef> defs, absl::string_view indent);

}  // namespace cli
}  // namespace commvq

#endif  // COMMVQ_CLI_FLAGS_H_
