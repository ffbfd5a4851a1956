#include "commvq/report/json.h"

#include <cmath>
#include <cstdlib>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace commvq {

JsonValue JsonValue::Bool(bool value) {
  JsonValue v;
  v.type_ = Type::kBool;
  v.bool_ = value;
  return v;
}

JsonValue JsonValue::Number(double value) {
  if (!std::isfinite(value)) return JsonValue();
  JsonValue v;
  v.type_ = Type::kNumber;
  v.number_ = value;
  return v;
}

JsonValue JsonValue::String(std::string value) {
  JsonValue v;
  v.type_ = Type::kString;
  v.string_ = std::move(value);
  return v;
}

JsonValue JsonValue::Array() {
  JsonValue v;
  v.type_ = Type::kArray;
  return v;
}

JsonValue JsonValue::Object() {
  JsonValue v;
  v.type_ = Type::kObject;
  return v;
}

JsonValue& JsonValue::Append(JsonValue value) {
  items_.push_back(std::move(value));
  return items_.back();
}

JsonValue& JsonValue::Set(absl::string_view key, JsonValue value) {
  for (auto& [name, member] : members_) {
    if (name == key) return member = std::move(value);
  }
  members_.emplace_back(std::string(key), std::move(value));
  return members_.back().second;
}

const JsonValue* JsonValue::Find(absl::string_view key) const {
  for (const auto& [name, member] : members_) {
    if (name == key) return &member;
  }
  return nullptr;
}

namespace {

void AppendQuoted(absl::string_view s, std::string* out) {
  out->push_back('"');
  for (const char c : s) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppendFormat(out, "\\u%04x", c);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

}  // namespace

void JsonValue::SerializeTo(int indent, int depth, std::string* out) const {
  const auto newline = [&](int level) {
    if (indent == 0) return;
    out->push_back('\n');
    out->append(static_cast<size_t>(indent * level), ' ');
  };
  switch (type_) {
    case Type::kNull: out->append("null"); return;
    case Type::kBool: out->append(bool_ ? "true" : "false"); return;
    case Type::kNumber:
      // %.10g round-trips every value the report holds to ~10 digits and
      // keeps integers integral.
      absl::StrAppendFormat(out, "%.10g", number_);
      return;
    case Type::kString: AppendQuoted(string_, out); return;
    case Type::kArray:
      out->push_back('[');
      for (size_t i = 0; i < items_.size(); ++i) {
        if (i > 0) out->push_back(',');
        newline(depth + 1);
        items_[i].SerializeTo(indent, depth + 1, out);
      }
      if (!items_.empty()) newline(depth);
      out->push_back(']');
      return;
    case Type::kObject:
      out->push_back('{');
      for (size_t i = 0; i < members_.size(); ++i) {
        if (i > 0) out->push_back(',');
        newline(depth + 1);
        AppendQuoted(members_[i].first, out);
        out->append(indent == 0 ? ":" : ": ");
        members_[i].second.SerializeTo(indent, depth + 1, out);
      }
      if (!members_.empty()) newline(depth);
      out->push_back('}');
      return;
  }
}

std::string JsonValue::Serialize(int indent) const {
  std::string out;
  SerializeTo(indent, 0, &out);
  return out;
}

namespace {

constexpr int kMaxDepth = 64;

class Parser {
 public:
  explicit Parser(absl::string_view text) : text_(text) {}

  absl::StatusOr<JsonValue> Document() {
    absl::StatusOr<JsonValue> value = Value(0);
    if (!value.ok()) return value;
    SkipSpace();
    if (pos_ != text_.size()) return Error("the end of the document");
    return value;
  }

 private:
  absl::Status Error(absl::string_view expected) const {
    return absl::InvalidArgumentError(absl::StrCat(
        "malformed JSON at byte ", pos_, ": expected ", expected,
        pos_ < text_.size() ? absl::StrCat(", got '", text_.substr(pos_, 1), "'")
                            : ", got the end of the text"));
  }

  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\r' || text_[pos_] == '\t')) {
      ++pos_;
    }
  }

  bool Consume(absl::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  absl::StatusOr<JsonValue> Value(int depth) {
    if (depth > kMaxDepth) return Error("at most 64 levels of nesting");
    SkipSpace();
    if (pos_ >= text_.size()) return Error("a value");
    const char c = text_[pos_];
    if (c == '{') return ObjectValue(depth);
    if (c == '[') return ArrayValue(depth);
    if (c == '"') {
      absl::StatusOr<std::string> s = StringToken();
      if (!s.ok()) return s.status();
      return JsonValue::String(*std::move(s));
    }
    if (Consume("true")) return JsonValue::Bool(true);
    if (Consume("false")) return JsonValue::Bool(false);
    if (Consume("null")) return JsonValue();
    return NumberValue();
  }

  absl::StatusOr<JsonValue> NumberValue() {
    const size_t start = pos_;
    const auto digits = [&] {
      const size_t before = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
        ++pos_;
      }
      return pos_ > before;
    };
    if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
    if (!digits()) return Error("a value");
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      if (!digits()) return Error("digits after '.'");
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) {
        ++pos_;
      }
      if (!digits()) return Error("exponent digits");
    }
    const std::string token(text_.substr(start, pos_ - start));
    return JsonValue::Number(std::strtod(token.c_str(), nullptr));
  }

  absl::StatusOr<std::string> StringToken() {
    ++pos_;  // the opening quote
    std::string out;
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) {
        --pos_;
        return Error("no control character inside a string");
      }
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= text_.size()) break;
      const char e = text_[pos_++];
      switch (e) {
        case '"': case '\\': case '/': out.push_back(e); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          if (pos_ + 4 > text_.size()) return Error("4 hex digits after \\u");
          const std::string hex(text_.substr(pos_, 4));
          char* end = nullptr;
          const unsigned long code = std::strtoul(hex.c_str(), &end, 16);
          if (end != hex.c_str() + 4) return Error("4 hex digits after \\u");
          pos_ += 4;
          AppendUtf8(static_cast<uint32_t>(code), &out);
          break;
        }
        default:
          --pos_;
          return Error("an escape character (\"\\/bfnrtu)");
      }
    }
    return Error("a closing '\"'");
  }

  // Surrogate halves are kept as separate 3-byte sequences: the pipeline's
  // own documents never contain them, and nothing is lost for its purposes.
  static void AppendUtf8(uint32_t code, std::string* out) {
    if (code < 0x80) {
      out->push_back(static_cast<char>(code));
    } else if (code < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (code >> 6)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xE0 | (code >> 12)));
      out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
    }
  }

  absl::StatusOr<JsonValue> ArrayValue(int depth) {
    ++pos_;
    JsonValue array = JsonValue::Array();
    SkipSpace();
    if (Consume("]")) return array;
    while (true) {
      absl::StatusOr<JsonValue> item = Value(depth + 1);
      if (!item.ok()) return item.status();
      array.Append(*std::move(item));
      SkipSpace();
      if (Consume("]")) return array;
      if (!Consume(",")) return Error("',' or ']'");
    }
  }

  absl::StatusOr<JsonValue> ObjectValue(int depth) {
    ++pos_;
    JsonValue object = JsonValue::Object();
    SkipSpace();
    if (Consume("}")) return object;
    while (true) {
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != '"') {
        return Error("a member name in quotes");
      }
      absl::StatusOr<std::string> key = StringToken();
      if (!key.ok()) return key.status();
      SkipSpace();
      if (!Consume(":")) return Error("':'");
      absl::StatusOr<JsonValue> value = Value(depth + 1);
      if (!value.ok()) return value.status();
      object.Set(*key, *std::move(value));
      SkipSpace();
      if (Consume("}")) return object;
      if (!Consume(",")) return Error("',' or '}'");
    }
  }

  absl::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

absl::StatusOr<JsonValue> ParseJson(absl::string_view text) {
  return Parser(text).Document();
}

absl::StatusOr<double> GetJsonNumber(const JsonValue& object,
                                     absl::string_view key) {
  const JsonValue* member = object.Find(key);
  if (member == nullptr || member->type() != JsonValue::Type::kNumber) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected a number in JSON member \"", key, "\", got ",
        member == nullptr ? "no such member" : member->Serialize()));
  }
  return member->number();
}

}  // namespace commvq
