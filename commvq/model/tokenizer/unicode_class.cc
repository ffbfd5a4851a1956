#include "commvq/model/tokenizer/unicode_class.h"

#include <algorithm>
#include <array>
#include <cstddef>

namespace commvq {
namespace {

struct ClassRange {
  char32_t first;
  char32_t last;
  CharClass char_class;
};

constexpr ClassRange kClassRanges[] = {
#include "commvq/model/tokenizer/unicode_class_table.inc"
};

// ASCII dominates most text: one array load instead of a binary search.
constexpr std::array<CharClass, 128> MakeAsciiClasses() {
  std::array<CharClass, 128> classes{};
  for (const ClassRange& range : kClassRanges) {
    for (char32_t cp = range.first; cp <= range.last && cp < 128; ++cp) {
      classes[cp] = range.char_class;
    }
  }
  return classes;
}

constexpr std::array<CharClass, 128> kAsciiClasses = MakeAsciiClasses();

}  // namespace

CharClass ClassifyCodepoint(char32_t cp) {
  if (cp < 128) return kAsciiClasses[cp];
  // The first range whose last code point is >= cp holds cp if any does.
  const ClassRange* range = std::lower_bound(
      std::begin(kClassRanges), std::end(kClassRanges), cp,
      [](const ClassRange& r, char32_t value) { return r.last < value; });
  if (range != std::end(kClassRanges) && range->first <= cp) {
    return range->char_class;
  }
  return CharClass::kOther;
}

}  // namespace commvq
