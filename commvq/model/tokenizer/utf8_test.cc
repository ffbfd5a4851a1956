#include "commvq/model/tokenizer/utf8.h"

#include <string>

#include "gtest/gtest.h"

namespace commvq {
namespace {

TEST(Utf8Test, DecodesWellFormedSequences) {
  struct Case {
    std::string text;
    char32_t codepoint;
    int size;
  };
  for (const Case& c : std::vector<Case>{
           {"a", 'a', 1},
           {std::string(1, '\0'), 0, 1},
           {"\xC2\x80", 0x80, 2},
           {"\xDF\xBF", 0x7FF, 2},
           {"\xE0\xA0\x80", 0x800, 3},
           {"\xED\x9F\xBF", 0xD7FF, 3},
           {"\xEE\x80\x80", 0xE000, 3},
           {"\xEF\xBF\xBF", 0xFFFF, 3},
           {"\xF0\x90\x80\x80", 0x10000, 4},
           {"\xF4\x8F\xBF\xBF", 0x10FFFF, 4},
           {"\xE4\xB8\xADxyz", 0x4E2D, 3},
       }) {
    const Utf8Char decoded = DecodeUtf8(c.text);
    EXPECT_EQ(decoded.codepoint, c.codepoint) << c.text;
    EXPECT_EQ(decoded.size, c.size) << c.text;
  }
}

TEST(Utf8Test, IllFormedSequencesDecodeAsOneByte) {
  for (const std::string& text : {
           std::string("\x80"),  // Lone continuation byte.
           std::string("\xBF"),
           std::string("\xC0\x80"),  // Overlong.
           std::string("\xC1\xBF"),
           std::string("\xE0\x9F\xBF"),      // Overlong.
           std::string("\xED\xA0\x80"),      // Surrogate U+D800.
           std::string("\xF0\x8F\xBF\xBF"),  // Overlong.
           std::string("\xF4\x90\x80\x80"),  // Above U+10FFFF.
           std::string("\xF5\x80\x80\x80"), std::string("\xFF"),
           std::string("\xC3"),  // Truncated.
           std::string("\xE4\xB8"), std::string("\xF0\x9F\x98"),
           std::string("\xE4"
                       "a"
                       "\xAD"),  // Interrupted.
       }) {
    const Utf8Char decoded = DecodeUtf8(text);
    EXPECT_EQ(decoded.codepoint, kNotUtf8) << testing::PrintToString(text);
    EXPECT_EQ(decoded.size, 1) << testing::PrintToString(text);
  }
}

TEST(Utf8Test, AppendThenDecodeRoundTripsEveryScalarValue) {
  for (char32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    if (cp == 0xD800) cp = 0xE000;
    std::string text;
    AppendUtf8(cp, &text);
    const Utf8Char decoded = DecodeUtf8(text);
    ASSERT_EQ(decoded.codepoint, cp);
    ASSERT_EQ(decoded.size, static_cast<int>(text.size()));
  }
}

TEST(Utf8Test, ReplacesEachIllFormedByte) {
  EXPECT_TRUE(IsWellFormedUtf8(""));
  EXPECT_TRUE(IsWellFormedUtf8("caf\u00E9 \U0001F600"));
  EXPECT_FALSE(IsWellFormedUtf8("caf\xC3"));
  EXPECT_EQ(ReplaceIllFormedUtf8("caf\u00E9"), "caf\u00E9");
  // A truncated sequence is one U+FFFD per byte, like llama.cpp.
  EXPECT_EQ(ReplaceIllFormedUtf8("a\xE4\xB8"
                                 "b\xFF\xED\xA0\x80"),
            "a\uFFFD\uFFFD"
            "b\uFFFD\uFFFD\uFFFD\uFFFD");
}

}  // namespace
}  // namespace commvq
