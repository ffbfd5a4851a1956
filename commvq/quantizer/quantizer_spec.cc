#include "commvq/quantizer/quantizer_spec.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace commvq {
namespace {

bool IsNameChar(char c) {
  return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_';
}

bool IsValueChar(char c) {
  return absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '+' || c == '-';
}

// Printable form of a byte for error messages (specs come from users and
// fuzzers, so bytes may be anything).
std::string Quote(char c) {
  if (absl::ascii_isprint(c)) return absl::StrCat("'", std::string(1, c), "'");
  return absl::StrCat("byte 0x", absl::Hex(static_cast<unsigned char>(c)));
}

// Checks that `token` (starting at `offset` in the spec) is a non-empty run
// of characters accepted by `ok`.
template <typename Pred>
absl::Status CheckToken(absl::string_view token, size_t offset,
                        absl::string_view what, Pred ok) {
  if (token.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("quantizer spec: empty ", what, " at position ", offset));
  }
  for (size_t i = 0; i < token.size(); ++i) {
    if (!ok(token[i])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "quantizer spec: unexpected ", Quote(token[i]), " in ", what,
          " at position ", offset + i,
          what == "value" ? ": values use [A-Za-z0-9_.+-]"
                          : ": names and keys use [a-z0-9_]"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string QuantizerSpec::ToString() const {
  std::string out = name;
  for (size_t i = 0; i < options.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? ":" : ",", options[i].first, "=",
                    options[i].second);
  }
  return out;
}

absl::StatusOr<QuantizerSpec> ParseQuantizerSpec(absl::string_view text) {
  if (text.size() > kMaxSpecLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("quantizer spec is ", text.size(),
                     " bytes long: the limit is ", kMaxSpecLength));
  }
  QuantizerSpec spec;
  const size_t colon = text.find(':');
  const absl::string_view name = text.substr(0, colon);
  if (auto s = CheckToken(name, 0, "name", IsNameChar); !s.ok()) return s;
  spec.name = std::string(name);
  if (colon == absl::string_view::npos) return spec;

  absl::string_view rest = text.substr(colon + 1);
  if (rest.empty()) return spec;  // "name:" is the same as "name".
  size_t offset = colon + 1;
  for (absl::string_view option : absl::StrSplit(rest, ',')) {
    const size_t eq = option.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "quantizer spec: option '", option, "' at position ", offset,
          " has no '=': expected key=value"));
    }
    const absl::string_view key = option.substr(0, eq);
    const absl::string_view value = option.substr(eq + 1);
    if (auto s = CheckToken(key, offset, "key", IsNameChar); !s.ok()) return s;
    if (auto s = CheckToken(value, offset + eq + 1, "value", IsValueChar);
        !s.ok()) {
      return s;
    }
    for (const auto& [existing, unused] : spec.options) {
      if (existing == key) {
        return absl::InvalidArgumentError(absl::StrCat(
            "quantizer spec: option '", key, "' is given twice"));
      }
    }
    spec.options.emplace_back(std::string(key), std::string(value));
    offset += option.size() + 1;
  }
  return spec;
}

}  // namespace commvq
