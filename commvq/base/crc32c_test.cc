#include "commvq/base/crc32c.h"

#include <string>

#include "gtest/gtest.h"

namespace commvq {
namespace {

TEST(Crc32cTest, KnownVectors) {
  // Check values from RFC 3720, appendix B.4, and the common "123456789".
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  EXPECT_EQ(Crc32c(""), 0u);
}

TEST(Crc32cTest, ExtendingEqualsOneShot) {
  const std::string text = "commutative vector quantization";
  EXPECT_EQ(Crc32c(text.substr(7), Crc32c(text.substr(0, 7))), Crc32c(text));
  std::string flipped = text;
  flipped[3] ^= 0x10;
  EXPECT_NE(Crc32c(flipped), Crc32c(text));
}

}  // namespace
}  // namespace commvq
