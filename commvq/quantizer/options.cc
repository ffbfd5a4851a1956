#include "commvq/quantizer/options.h"

#include <cassert>
#include <algorithm>
#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace commvq {
namespace {

// Parses `text` as `def` requires; returns the numeric value (bools as 0/1,
// strings as 0) or an error naming the key and the expectation.
absl::StatusOr<double> ParseOptionValue(const OptionDef& def,
                                        absl::string_view quantizer,
                                        absl::string_view text) {
  auto bad = [&]() {
    return absl::InvalidArgumentError(
        absl::StrCat("option '", def.name, "' of quantizer '", quantizer,
                     "': expected ", DescribeOptionType(def), ", got '", text,
                     "'"));
  };
  switch (def.type) {
    case OptionType::kInt: {
      int64_t value;
      if (!absl::SimpleAtoi(text, &value)) return bad();
      if (value < def.min || value > def.max) return bad();
      return static_cast<double>(value);
    }
    case OptionType::kFloat: {
      double value;
      if (!absl::SimpleAtod(text, &value) || !std::isfinite(value)) {
        return bad();
      }
      if (value < def.min || value > def.max) return bad();
      return value;
    }
    case OptionType::kBool:
      if (text == "true" || text == "1") return 1.0;
      if (text == "false" || text == "0") return 0.0;
      return bad();
    case OptionType::kString:
      if (!def.choices.empty() &&
          std::find(def.choices.begin(), def.choices.end(), text) ==
              def.choices.end()) {
        return bad();
      }
      return 0.0;
  }
  return bad();
}

}  // namespace

std::string DescribeOptionType(const OptionDef& def) {
  auto bound = [](double v) {
    return std::abs(v) >= 1e300 ? std::string(v < 0 ? "-inf" : "inf")
                                : absl::StrCat(v);
  };
  switch (def.type) {
    case OptionType::kInt:
      return absl::StrCat("an integer in [", bound(def.min), ", ",
                          bound(def.max), "]");
    case OptionType::kFloat:
      return absl::StrCat("a number in [", bound(def.min), ", ",
                          bound(def.max), "]");
    case OptionType::kBool:
      return "true or false";
    case OptionType::kString:
      if (def.choices.empty()) return "a string";
      return absl::StrCat("one of ", absl::StrJoin(def.choices, "|"));
  }
  return "?";
}

int64_t ResolvedOptions::GetInt(absl::string_view name) const {
  auto it = numbers_.find(name);
  assert(it != numbers_.end());
  return static_cast<int64_t>(it->second);
}

double ResolvedOptions::GetFloat(absl::string_view name) const {
  auto it = numbers_.find(name);
  assert(it != numbers_.end());
  return it->second;
}

const std::string& ResolvedOptions::GetString(absl::string_view name) const {
  auto it = text_.find(name);
  assert(it != text_.end());
  return it->second;
}

bool ResolvedOptions::GetBool(absl::string_view name) const {
  return GetFloat(name) != 0.0;
}

absl::StatusOr<ResolvedOptions> ResolveOptions(const OptionSchema& schema,
                                               const QuantizerSpec& spec) {
  for (const auto& [key, value] : spec.options) {
    bool known = false;
    for (const OptionDef& def : schema) known = known || def.name == key;
    if (!known) {
      std::vector<std::string> names;
      for (const OptionDef& def : schema) names.push_back(def.name);
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown option '", key, "' for quantizer '", spec.name, "': ",
          names.empty() ? std::string("it takes no options")
                        : absl::StrCat("expected one of ",
                                       absl::StrJoin(names, ", "))));
    }
  }
  ResolvedOptions resolved;
  QuantizerSpec canonical{spec.name, {}};
  for (const OptionDef& def : schema) {
    const std::string* text = nullptr;
    for (const auto& [key, value] : spec.options) {
      if (key == def.name) text = &value;
    }
    if (text == nullptr) {
      if (!def.default_value.has_value()) {
        return absl::InvalidArgumentError(
            absl::StrCat("missing required option '", def.name,
                         "' for quantizer '", spec.name, "' (",
                         DescribeOptionType(def), ")"));
      }
      text = &*def.default_value;
    }
    absl::StatusOr<double> number = ParseOptionValue(def, spec.name, *text);
    if (!number.ok()) return number.status();
    // Integers and bools are written in one form ("bits=02" -> "bits=2") so
    // equal options give equal canonical specs.
    std::string normalized = *text;
    if (def.type == OptionType::kInt) {
      normalized = absl::StrCat(static_cast<int64_t>(*number));
    } else if (def.type == OptionType::kBool) {
      normalized = *number != 0.0 ? "true" : "false";
    }
    resolved.numbers_[def.name] = *number;
    resolved.text_[def.name] = normalized;
    canonical.options.emplace_back(def.name, normalized);
  }
  resolved.canonical_spec_ = canonical.ToString();
  return resolved;
}

}  // namespace commvq
