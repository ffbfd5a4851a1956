#include "commvq/model/tokenizer/byte_level.h"

#include <set>

#include "gtest/gtest.h"

namespace commvq {
namespace {

TEST(ByteLevelTest, PrintableBytesSpellThemselves) {
  EXPECT_EQ(ByteToCodepoint('A'), U'A');
  EXPECT_EQ(ByteToCodepoint('!'), U'!');
  EXPECT_EQ(ByteToCodepoint('~'), U'~');
  EXPECT_EQ(ByteToCodepoint(0xA1), U'\u00A1');
  EXPECT_EQ(ByteToCodepoint(0xFF), U'\u00FF');
}

TEST(ByteLevelTest, OtherBytesSpellU0100Onwards) {
  EXPECT_EQ(ByteToCodepoint(0x00), U'\u0100');  // Ā
  EXPECT_EQ(ByteToCodepoint('\n'), U'\u010A');  // Ċ
  EXPECT_EQ(ByteToCodepoint(' '), U'\u0120');   // Ġ
  EXPECT_EQ(ByteToCodepoint(0x7F), U'\u0121');  // ġ
  EXPECT_EQ(ByteToCodepoint(0xA0), U'\u0142');  // ł (NBSP)
  EXPECT_EQ(ByteToCodepoint(0xAD), U'\u0143');  // Ń (soft hyphen)
}

TEST(ByteLevelTest, IsABijection) {
  std::set<char32_t> seen;
  for (int byte = 0; byte < 256; ++byte) {
    const char32_t cp = ByteToCodepoint(byte);
    EXPECT_TRUE(seen.insert(cp).second) << byte;
    EXPECT_EQ(CodepointToByte(cp), byte);
  }
  int spelled = 0;
  for (char32_t cp = 0; cp < 0x1000; ++cp) spelled += CodepointToByte(cp) >= 0;
  EXPECT_EQ(spelled, 256);
  EXPECT_EQ(CodepointToByte(' '), -1);
  EXPECT_EQ(CodepointToByte(0x144), -1);
  EXPECT_EQ(CodepointToByte(0x110000), -1);
}

}  // namespace
}  // namespace commvq
