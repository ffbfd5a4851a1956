// UTF-8 decoding and encoding for the tokenizer, which must accept any byte
// string: an ill-formed sequence decodes as one byte that is no character.
#ifndef COMMVQ_MODEL_TOKENIZER_UTF8_H_
#define COMMVQ_MODEL_TOKENIZER_UTF8_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace commvq {

// The codepoint of a byte that starts no well-formed UTF-8 sequence: above
// U+10FFFF, so no Unicode property holds for it.
inline constexpr char32_t kNotUtf8 = 0x110000;

struct Utf8Char {
  char32_t codepoint;  // kNotUtf8 for an ill-formed sequence.
  int size;            // Bytes consumed: 1..4 (1 when ill-formed).
};

// Decodes the character at the start of non-empty `text`. Well-formed means
// Unicode's Table 3-7: no overlong forms, surrogates or code points above
// U+10FFFF, and no truncated sequences.
inline Utf8Char DecodeUtf8(absl::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  const unsigned char b0 = p[0];
  if (b0 < 0x80) return {b0, 1};
  auto is_continuation = [&](size_t i, unsigned char low = 0x80,
                             unsigned char high = 0xBF) {
    return i < n && p[i] >= low && p[i] <= high;
  };
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    if (is_continuation(1))
      return {char32_t(b0 & 0x1F) << 6 | (p[1] & 0x3F), 2};
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    // E0 excludes overlong forms, ED excludes the surrogates D800..DFFF.
    const unsigned char low = b0 == 0xE0 ? 0xA0 : 0x80;
    const unsigned char high = b0 == 0xED ? 0x9F : 0xBF;
    if (is_continuation(1, low, high) && is_continuation(2)) {
      return {char32_t(b0 & 0x0F) << 12 | char32_t(p[1] & 0x3F) << 6 |
                  (p[2] & 0x3F),
              3};
    }
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    // F0 excludes overlong forms, F4 code points above U+10FFFF.
    const unsigned char low = b0 == 0xF0 ? 0x90 : 0x80;
    const unsigned char high = b0 == 0xF4 ? 0x8F : 0xBF;
    if (is_continuation(1, low, high) && is_continuation(2) &&
        is_continuation(3)) {
      return {char32_t(b0 & 0x07) << 18 | char32_t(p[1] & 0x3F) << 12 |
                  char32_t(p[2] & 0x3F) << 6 | (p[3] & 0x3F),
              4};
    }
  }
  return {kNotUtf8, 1};
}

// Appends the UTF-8 encoding of `cp`, which must be a Unicode scalar value.
void AppendUtf8(char32_t cp, std::string* out);

bool IsWellFormedUtf8(absl::string_view text);

// `text` with each byte that DecodeUtf8 finds ill-formed replaced by U+FFFD,
// as llama.cpp does before tokenizing.
std::string ReplaceIllFormedUtf8(absl::string_view text);

}  // namespace commvq

#endif  // COMMVQ_MODEL_TOKENIZER_UTF8_H_
