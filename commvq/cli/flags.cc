#include "commvq/cli/flags.h"

#include <algorithm>
#include <cassert>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/str_join.h"

namespace commvq {
namespace cli {
namespace {

std::string DescribeIntRange(const FlagDef& def) {
  if (def.min == std::numeric_limits<int64_t>::min() &&
      def.max == std::numeric_limits<int64_t>::max()) {
    return "an integer";
  }
  if (def.max == std::numeric_limits<int64_t>::max()) {
    return absl::StrCat("an integer >= ", def.min);
  }
  return absl::StrCat("an integer in [", def.min, ", ", def.max, "]");
}

absl::StatusOr<int64_t> ParseIntValue(const FlagDef& def,
                                      absl::string_view text) {
  int64_t value;
  if (!absl::SimpleAtoi(text, &value) || value < def.min || value > def.max) {
    return absl::InvalidArgumentError(
        absl::StrCat("flag --", def.name, ": expected ", DescribeIntRange(def),
                     ", got '", text, "'"));
  }
  return value;
}

std::string FlagSyntax(const FlagDef& def) {
  if (def.type == FlagType::kBool) return absl::StrCat("--", def.name);
  return absl::StrCat("--", def.name, "=", def.value_name);
}

const FlagDef* FindDef(absl::Span<const FlagDef> defs, absl::string_view name) {
  for (const FlagDef& def : defs) {
    if (def.name == name) return &def;
  }
  return nullptr;
}

}  // namespace

bool ParsedFlags::Has(absl::string_view name) const {
  return given_.find(name) != given_.end();
}

int64_t ParsedFlags::GetInt(absl::string_view name) const {
  auto it = ints_.find(name);
  assert(it != ints_.end());
  return it->second;
}

std::vector<std::string> ParsedFlags::GetStrings(absl::string_view name) const {
  auto it = given_.find(name);
  return it == given_.end() ? std::vector<std::string>() : it->second;
}

absl::StatusOr<ParsedFlags> ParseFlags(absl::Span<const FlagDef> defs,
                                       absl::Span<const std::string> args) {
  ParsedFlags flags;
  for (const FlagDef& def : defs) {
    if (def.type == FlagType::kInt && !def.default_value.empty()) {
      auto value = ParseIntValue(def, def.default_value);
      if (!value.ok()) {
        return absl::InternalError(
            absl::StrCat("default value: ", value.status().message()));
      }
      flags.ints_[def.name] = *value;
    }
  }
  for (size_t i = 0; i < args.size(); ++i) {
    const absl::string_view arg = args[i];
    if (!absl::StartsWith(arg, "--") || arg.size() == 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unexpected argument '", arg, "': expected flags (--name=value)"));
    }
    const absl::string_view body = arg.substr(2);
    const size_t equals = body.find('=');
    const absl::string_view name = body.substr(0, equals);
    const FlagDef* def = FindDef(defs, name);
    if (def == nullptr) {
      std::vector<std::string> known;
      for (const FlagDef& d : defs) known.push_back(FlagSyntax(d));
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag --", name,
                       "; expected one of: ", absl::StrJoin(known, ", ")));
    }
    std::string value;
    if (def->type == FlagType::kBool) {
      if (equals != absl::string_view::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("flag --", name, " takes no value, got '", arg, "'"));
      }
    } else if (equals != absl::string_view::npos) {
      value = std::string(body.substr(equals + 1));
    } else if (i + 1 < args.size() && !absl::StartsWith(args[i + 1], "--")) {
      value = args[++i];
    }
    if (def->type != FlagType::kBool && value.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("flag --", name, " needs a value: ", FlagSyntax(*def)));
    }
    if (!def->repeatable && flags.Has(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("flag --", name, " given more than once"));
    }
    if (def->type == FlagType::kInt) {
      auto parsed = ParseIntValue(*def, value);
      if (!parsed.ok()) return parsed.status();
      flags.ints_[def->name] = *parsed;
    }
    flags.given_[def->name].push_back(std::move(value));
  }
  return flags;
}

std::string FlagUsage(absl::Span<const FlagDef> defs,
                      absl::string_view indent) {
  size_t width = 0;
  for (const FlagDef& def : defs) {
    width = std::max(width, FlagSyntax(def).size());
  }
  std::string usage;
  for (const FlagDef& def : defs) {
    const std::string syntax = FlagSyntax(def);
    absl::StrAppend(&usage, indent, syntax,
                    std::string(width - syntax.size() + 3, ' '), def.help);
    if (!def.default_value.empty()) {
      absl::StrAppend(&usage, " (default: ", def.default_value, ")");
    }
    absl::StrAppend(&usage, "\n");
  }
  return usage;
}

FlagDef IntFlag(std::string name, std::string help, std::string default_value,
                int64_t min, int64_t max) {
  FlagDef def;
  def.name = std::move(name);
  def.type = FlagType::kInt;
  def.value_name = "N";
  def.help = std::move(help);
  def.default_value = std::move(default_value);
  def.min = min;
  def.max = max;
  return def;
}

FlagDef StringFlag(std::string name, std::string value_name, std::string help,
                   std::string default_value) {
  FlagDef def;
  def.name = std::move(name);
  def.type = FlagType::kString;
  def.value_name = std::move(value_name);
  def.help = std::move(help);
  def.default_value = std::move(default_value);
  return def;
}

FlagDef BoolFlag(std::string name, std::string help) {
  FlagDef def;
  def.name = std::move(name);
  def.type = FlagType::kBool;
  def.help = std::move(help);
  return def;
}

std::string GetStringOr(const ParsedFlags& flags, absl::string_view name,
                        absl::string_view fallback) {
  const std::vector<std::string> values = flags.GetStrings(name);
  return values.empty() ? std::string(fallback) : values.back();
}

absl::StatusOr<std::vector<int>> GetIntList(const ParsedFlags& flags,
                                            absl::string_view name) {
  std::vector<int> values;
  const std::string text = GetStringOr(flags, name, "");
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int value = 0;
    if (!absl::SimpleAtoi(item, &value) || value < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, "=", text, ": '", item,
                       "' is not a non-negative integer (expected e.g. "
                       "0,10,20)"));
    }
    values.push_back(value);
  }
  return values;
}

}  // namespace cli
}  // namespace commvq
