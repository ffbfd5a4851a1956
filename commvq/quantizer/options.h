// Typed options of a quantizer: each quantizer declares an OptionSchema; the
// registry resolves a parsed spec against it before the quantizer sees it, so
// unknown keys, bad values and missing required keys are rejected the same
// way everywhere (built-ins and plugins alike).
#ifndef COMMVQ_QUANTIZER_OPTIONS_H_
#define COMMVQ_QUANTIZER_OPTIONS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "commvq/quantizer/quantizer_spec.h"

namespace commvq {

enum class OptionType { kInt, kFloat, kString, kBool };

struct OptionDef {
  std::string name;
  OptionType type = OptionType::kInt;
  // Textual default; std::nullopt makes the option required.
  std::optional<std::string> default_value;
  std::string help;
  // Inclusive bounds for kInt and kFloat.
  double min = -1e300;
  double max = 1e300;
  // For kString: the accepted values (empty = any value the grammar allows).
  std::vector<std::string> choices;
};

using OptionSchema = std::vector<OptionDef>;

// "int in [1, 8]", "one of half|interleaved", ... for help and errors.
std::string DescribeOptionType(const OptionDef& def);

// Options of one spec after validation, defaults filled in.
class ResolvedOptions {
 public:
  // The getters require a name declared in the schema with that type
  // (a programming error otherwise, checked by assert).
  int64_t GetInt(absl::string_view name) const;
  double GetFloat(absl::string_view name) const;
  const std::string& GetString(absl::string_view name) const;
  bool GetBool(absl::string_view name) const;

  // `name:k=v,...` with every option of the schema, in schema order: two
  // specs that resolve to the same options have the same canonical form.
  const std::string& canonical_spec() const { return canonical_spec_; }

 private:
  friend absl::StatusOr<ResolvedOptions> ResolveOptions(
      const OptionSchema&, const QuantizerSpec&);
  std::map<std::string, std::string, std::less<>> text_;
  std::map<std::string, double, std::less<>> numbers_;
  std::string canonical_spec_;
};

// InvalidArgument naming the key for: an unknown key (and listing the known
// ones), a value of the wrong type or out of range (with the expected type),
// a missing required key.
absl::StatusOr<ResolvedOptions> ResolveOptions(const OptionSchema& schema,
                                               const QuantizerSpec& spec);

}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_OPTIONS_H_
