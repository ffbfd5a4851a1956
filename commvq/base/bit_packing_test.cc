#include "commvq/base/bit_packing.h"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "commvq/base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::StatusIs;
using ::testing::AllOf;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Bit-by-bit reference straight from the layout definition in the header.
std::vector<uint8_t> ReferencePack(const std::vector<uint16_t>& codes,
                                   int bits) {
  std::vector<uint8_t> out(PackedBytes(codes.size(), bits), 0);
  for (size_t i = 0; i < codes.size(); ++i) {
    for (int j = 0; j < bits; ++j) {
      const size_t b = i * bits + j;
      out[b / 8] |= ((codes[i] >> j) & 1) << (b % 8);
    }
  }
  return out;
}

std::vector<uint16_t> Unpack(const std::vector<uint8_t>& packed, int bits,
                             size_t num_codes) {
  std::vector<uint16_t> codes(num_codes);
  CVQ_EXPECT_OK(UnpackCodes(packed, bits, absl::MakeSpan(codes)));
  return codes;
}

TEST(BitPackingTest, PackedBytes) {
  EXPECT_EQ(PackedBytes(0, 5), 0);
  EXPECT_EQ(PackedBytes(1, 1), 1);
  EXPECT_EQ(PackedBytes(8, 1), 1);
  EXPECT_EQ(PackedBytes(9, 1), 2);
  EXPECT_EQ(PackedBytes(4, 3), 2);
  EXPECT_EQ(PackedBytes(3, 16), 6);
  EXPECT_EQ(PackedBytes(1000, 7), 875);
}

TEST(BitPackingTest, KnownBytes) {
  // 3 bits: 001 010 011 100, LSB first: stream bits 100 010 110 001 (+ 0000)
  // -> byte 0 = 0b11010001, byte 1 = 0b00001000.
  std::vector<uint8_t> out(2);
  CVQ_ASSERT_OK(PackCodes({1, 2, 3, 4}, 3, absl::MakeSpan(out)));
  EXPECT_THAT(out, ElementsAre(0xD1, 0x08));
  EXPECT_THAT(Unpack(out, 3, 4), ElementsAre(1, 2, 3, 4));

  out.resize(2);
  CVQ_ASSERT_OK(PackCodes({0xA, 0x5, 0xF}, 4, absl::MakeSpan(out)));
  EXPECT_THAT(out, ElementsAre(0x5A, 0x0F));

  CVQ_ASSERT_OK(PackCodes({1, 0, 1, 1, 0, 0, 0, 0, 1}, 1, absl::MakeSpan(out)));
  EXPECT_THAT(out, ElementsAre(0x0D, 0x01));

  out.resize(4);
  CVQ_ASSERT_OK(PackCodes({0x1234, 0xFFFF}, 16, absl::MakeSpan(out)));
  EXPECT_THAT(out, ElementsAre(0x34, 0x12, 0xFF, 0xFF));
}

TEST(BitPackingTest, RoundTripsEveryWidthAndLength) {
  std::mt19937 engine(7);
  for (int bits = 1; bits <= 16; ++bits) {
    for (size_t length : {0, 1, 2, 3, 5, 7, 8, 9, 15, 31, 32, 33, 63, 64, 65,
                          127, 999, 1000, 1001}) {
      SCOPED_TRACE(::testing::Message()
                   << bits << " bits, " << length << " codes");
      std::vector<uint16_t> codes(length);
      for (uint16_t& code : codes) code = engine() & ((1u << bits) - 1);
      // The largest code exercises every bit of its slot.
      if (length > 0) codes.back() = (1u << bits) - 1;
      const std::vector<uint8_t> expected = ReferencePack(codes, bits);
      std::vector<uint8_t> packed(PackedBytes(length, bits), 0xAA);
      CVQ_ASSERT_OK(PackCodes(codes, bits, absl::MakeSpan(packed)));
      ASSERT_EQ(packed, expected);
      ASSERT_EQ(Unpack(packed, bits, length), codes);
      // Garbage in the unused high bits of the last byte is ignored.
      if (length * bits % 8 != 0) {
        packed.back() |= 0xFF << (length * bits % 8);
        ASSERT_EQ(Unpack(packed, bits, length), codes);
      }
    }
  }
}

TEST(BitPackingTest, RejectsBadWidth) {
  std::vector<uint16_t> codes(4, 0);
  std::vector<uint8_t> packed(8, 0);
  for (int bits : {-1, 0, 17}) {
    const std::string named = "bits is " + std::to_string(bits);
    EXPECT_THAT(PackCodes(codes, bits, absl::MakeSpan(packed)),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr(named), HasSubstr("1..16"))));
    EXPECT_THAT(UnpackCodes(packed, bits, absl::MakeSpan(codes)),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr(named), HasSubstr("1..16"))));
  }
}

TEST(BitPackingTest, RejectsCodeTooWideAndLeavesOutputAlone) {
  std::vector<uint8_t> out(2, 0xAA);
  EXPECT_THAT(PackCodes({1, 8, 3, 4}, 3, absl::MakeSpan(out)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("code 8 at index 1"),
                             HasSubstr("expected < 8"))));
  EXPECT_THAT(out, Each(0xAA));
  std::vector<uint8_t> wide(6);
  EXPECT_THAT(PackCodes({0, 0, 0x8000}, 15, absl::MakeSpan(wide)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("code 32768 at index 2")));
}

TEST(BitPackingTest, RejectsWrongSizes) {
  std::vector<uint8_t> out(3);
  EXPECT_THAT(
      PackCodes({1, 2, 3, 4}, 3, absl::MakeSpan(out)),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("out has 3 bytes"), HasSubstr("expected 2"))));
  std::vector<uint16_t> codes(4, 7);
  EXPECT_THAT(UnpackCodes(std::vector<uint8_t>(1), 3, absl::MakeSpan(codes)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("packed has 1 bytes"),
                             HasSubstr("expected 2"))));
  EXPECT_THAT(codes, Each(7));
}

}  // namespace
}  // namespace commvq
