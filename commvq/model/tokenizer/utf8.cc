#include "commvq/model/tokenizer/utf8.h"

#include <cassert>

namespace commvq {

void AppendUtf8(char32_t cp, std::string* out) {
  assert(cp < 0xD800 || (cp > 0xDFFF && cp <= 0x10FFFF));
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | cp >> 6));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | cp >> 12));
    out->push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | cp >> 18));
    out->push_back(static_cast<char>(0x80 | (cp >> 12 & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool IsWellFormedUtf8(absl::string_view text) {
  while (!text.empty()) {
    const Utf8Char c = DecodeUtf8(text);
    if (c.codepoint == kNotUtf8) return false;
    text.remove_prefix(c.size);
  }
  return true;
}

std::string ReplaceIllFormedUtf8(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    const Utf8Char c = DecodeUtf8(text);
    if (c.codepoint == kNotUtf8) {
      AppendUtf8(0xFFFD, &out);
    } else {
      out.append(text.data(), c.size);
    }
    text.remove_prefix(c.size);
  }
  return out;
}

}  // namespace commvq
