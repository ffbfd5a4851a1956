#include "commvq/model/tokenizer/pre_tokenizer.h"

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "commvq/model/tokenizer/unicode_class.h"
#include "commvq/model/tokenizer/utf8.h"

namespace commvq {
namespace {

struct ClassifiedChar {
  CharClass char_class;
  size_t size;
};

inline ClassifiedChar ClassifyAt(absl::string_view text, size_t pos) {
  const unsigned char byte = text[pos];
  if (byte < 0x80) return {ClassifyCodepoint(byte), 1};
  const Utf8Char c = DecodeUtf8(text.substr(pos));
  return {ClassifyCodepoint(c.codepoint), static_cast<size_t>(c.size)};
}

// The end of the run of `char_class` characters that starts at `pos`.
size_t RunEnd(absl::string_view text, size_t pos, CharClass char_class) {
  while (pos < text.size()) {
    const ClassifiedChar c = ClassifyAt(text, pos);
    if (c.char_class != char_class) break;
    pos += c.size;
  }
  return pos;
}

// The length of the gpt2 regex's match at the start of non-empty `text`. The
// alternatives are tried in the regex's order, so the first that matches
// wins, and each one is greedy.
size_t MatchGpt2(absl::string_view text) {
  // 's|'t|'re|'ve|'m|'ll|'d (case-sensitive, as in the regex).
  if (text[0] == '\'' && text.size() >= 2) {
    const char c1 = text[1];
    if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
    if (text.size() >= 3) {
      const char c2 = text[2];
      if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') ||
          (c1 == 'l' && c2 == 'l')) {
        return 3;
      }
    }
  }
  // ` ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+`: a space joins the run of the
  // non-space character after it; a space before whitespace (or at the end)
  // matches none of these and falls through to the whitespace alternatives.
  const ClassifiedChar first = ClassifyAt(text, 0);
  if (text[0] == ' ' && text.size() > 1) {
    const CharClass next = ClassifyAt(text, 1).char_class;
    if (next != CharClass::kWhitespace) return RunEnd(text, 1, next);
  }
  if (first.char_class != CharClass::kWhitespace) {
    return RunEnd(text, 0, first.char_class);
  }
  // `\s+(?!\S)|\s+`: a whitespace run followed by a non-space character
  // leaves its last character to start the next match (" word"), unless the
  // run is that one character; at the end of the text it is taken whole.
  size_t end = 0;
  size_t last_start = 0;
  while (end < text.size()) {
    const ClassifiedChar c = ClassifyAt(text, end);
    if (c.char_class != CharClass::kWhitespace) break;
    last_start = end;
    end += c.size;
  }
  if (end < text.size() && last_start > 0) return last_start;
  return end;
}

void SplitGpt2(absl::string_view text,
               absl::FunctionRef<void(absl::string_view)> emit) {
  while (!text.empty()) {
    const size_t size = MatchGpt2(text);
    emit(text.substr(0, size));
    text.remove_prefix(size);
  }
}

void SplitDigitsThenGpt2(absl::string_view text,
                         absl::FunctionRef<void(absl::string_view)> emit) {
  size_t stretch_start = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const ClassifiedChar c = ClassifyAt(text, pos);
    if (c.char_class == CharClass::kNumber) {
      SplitGpt2(text.substr(stretch_start, pos - stretch_start), emit);
      emit(text.substr(pos, c.size));
      stretch_start = pos + c.size;
    }
    pos += c.size;
  }
  SplitGpt2(text.substr(stretch_start), emit);
}

}  // namespace

absl::StatusOr<PreTokenizerType> PreTokenizerFromName(absl::string_view name) {
  if (name == "gpt2" || name == "gpt-2") return PreTokenizerType::kGpt2;
  if (name == "smollm") return PreTokenizerType::kSmolLm;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown pre-tokenizer \"", name,
                   "\": expected one of \"gpt2\", \"gpt-2\", \"smollm\""));
}

void PreTokenize(PreTokenizerType type, absl::string_view text,
                 absl::FunctionRef<void(absl::string_view)> emit) {
  switch (type) {
    case PreTokenizerType::kGpt2:
      SplitGpt2(text, emit);
      return;
    case PreTokenizerType::kSmolLm:
      SplitDigitsThenGpt2(text, emit);
      return;
  }
}

}  // namespace commvq
