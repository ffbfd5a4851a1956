#include "commvq/model/tokenizer/unicode_class.h"

#include <initializer_list>

#include "gtest/gtest.h"

namespace commvq {
namespace {

TEST(UnicodeClassTest, Ascii) {
  EXPECT_EQ(ClassifyCodepoint('a'), CharClass::kLetter);
  EXPECT_EQ(ClassifyCodepoint('Z'), CharClass::kLetter);
  EXPECT_EQ(ClassifyCodepoint('0'), CharClass::kNumber);
  EXPECT_EQ(ClassifyCodepoint('9'), CharClass::kNumber);
  for (char32_t cp :
       std::initializer_list<char32_t>{' ', '\t', '\n', '\v', '\f', '\r'}) {
    EXPECT_EQ(ClassifyCodepoint(cp), CharClass::kWhitespace) << cp;
  }
  for (char32_t cp : std::initializer_list<char32_t>{'\'', '!', '_', '~', '\0',
                                                     '\x1c', '\x7f'}) {
    EXPECT_EQ(ClassifyCodepoint(cp), CharClass::kOther) << cp;
  }
}

TEST(UnicodeClassTest, Letters) {
  for (char32_t cp : std::initializer_list<char32_t>{
           0xE9, 0xDF, 0x3A9, 0x436, 0x5D0, 0x627, 0x4E2D, 0xD55C, 0x3042,
           0x2C6, 0x1C89, 0x20000}) {
    EXPECT_EQ(ClassifyCodepoint(cp), CharClass::kLetter) << std::hex << cp;
  }
}

TEST(UnicodeClassTest, Numbers) {
  // Arabic-Indic 3, superscript 2, vulgar half, Roman numeral 12, a Unicode
  // 16 Garay digit.
  for (char32_t cp : std::initializer_list<char32_t>{0x663, 0xB2, 0xBD, 0x216B,
                                                     0xFF11, 0x10D40}) {
    EXPECT_EQ(ClassifyCodepoint(cp), CharClass::kNumber) << std::hex << cp;
  }
}

TEST(UnicodeClassTest, WhitespaceIsTheWhiteSpaceProperty) {
  for (char32_t cp : std::initializer_list<char32_t>{0x85, 0xA0, 0x1680, 0x2000,
                                                     0x200A, 0x2028, 0x2029,
                                                     0x202F, 0x205F, 0x3000}) {
    EXPECT_EQ(ClassifyCodepoint(cp), CharClass::kWhitespace) << std::hex << cp;
  }
  // Zero-width space, BOM and Mongolian vowel separator are not White_Space.
  for (char32_t cp : std::initializer_list<char32_t>{0x200B, 0xFEFF, 0x180E}) {
    EXPECT_EQ(ClassifyCodepoint(cp), CharClass::kOther) << std::hex << cp;
  }
}

TEST(UnicodeClassTest, Other) {
  // Combining acute, em dash, emoji, skin tone, ZWJ, private use,
  // unassigned, noncharacter, out of range.
  for (char32_t cp : std::initializer_list<char32_t>{
           0x301, 0x2014, 0x1F600, 0x1F3FD, 0x200D, 0xE000, 0x378, 0xFFFF,
           0x10FFFF, 0x110000, 0xFFFFFFFF}) {
    EXPECT_EQ(ClassifyCodepoint(cp), CharClass::kOther) << std::hex << cp;
  }
}

}  // namespace
}  // namespace commvq
