// A small JSON value with a strict parser and a writer, for the reproduction
// pipeline: it reads the `--json` output of the commands it runs as stages
// (eval-ppl, eval-kv, ...) and writes report.json. Numbers are doubles;
// objects keep their keys in insertion order so written files are stable.
#ifndef COMMVQ_REPORT_JSON_H_
#define COMMVQ_REPORT_JSON_H_

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace commvq {

class JsonValue {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  JsonValue() = default;  // null
  static JsonValue Bool(bool value);
  // A non-finite number is written as null (JSON has no NaN).
  static JsonValue Number(double value);
  static JsonValue String(std::string value);
  static JsonValue Array();
  static JsonValue Object();

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool bool_value() const { return bool_; }
  double number() const { return number_; }
  const std::string& string_value() const { return string_; }
  const std::vector<JsonValue>& items() const { return items_; }
  const std::vector<std::pair<std::string, JsonValue>>& members() const {
    return members_;
  }

  // Arrays: appends. Objects: sets `key` (replacing an existing member).
  JsonValue& Append(JsonValue value);
  JsonValue& Set(absl::string_view key, JsonValue value);

  // Objects: the member named `key`, or null when absent (or not an object).
  const JsonValue* Find(absl::string_view key) const;

  // Compact when indent == 0, else pretty-printed with `indent` spaces.
  std::string Serialize(int indent = 0) const;

 private:
  void SerializeTo(int indent, int depth, std::string* out) const;

  Type type_ = Type::kNull;
  bool bool_ = false;
  double number_ = 0.0;
  std::string string_;
  std::vector<JsonValue> items_;
  std::vector<std::pair<std::string, JsonValue>> members_;
};

// Parses one JSON document (surrounding whitespace allowed). InvalidArgument
// naming the byte offset and what was expected on malformed input; nesting
// deeper than 64 levels is refused.
absl::StatusOr<JsonValue> ParseJson(absl::string_view text);

// A member that must be a number: InvalidArgument naming `key` otherwise.
absl::StatusOr<double> GetJsonNumber(const JsonValue& object,
                                     absl::string_view key);

}  // namespace commvq

#endif  // COMMVQ_REPORT_JSON_H_
