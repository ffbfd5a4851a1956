#include "commvq/quantizer/serialized_quantizer.h"

#include <string>

#include "commvq/base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

TEST(SerializedQuantizerTest, RoundTrip) {
  const std::string payload("\x01\x00\xff codebook", 12);
  const std::string bytes = FrameQuantizer("int:bits=2", 192, payload);
  CVQ_ASSERT_OK_AND_ASSIGN(FramedQuantizer framed, UnframeQuantizer(bytes));
  EXPECT_EQ(framed.spec, "int:bits=2");
  EXPECT_EQ(framed.dim, 192);
  EXPECT_EQ(framed.payload, payload);
}

TEST(SerializedQuantizerTest, EveryTruncationIsAnErrorNotACrash) {
  const std::string bytes = FrameQuantizer("int:bits=2", 64, "payload");
  for (size_t size = 0; size < bytes.size(); ++size) {
    EXPECT_THAT(UnframeQuantizer(bytes.substr(0, size)),
                StatusIs(kInvalid, ::testing::_))
        << "size " << size;
  }
}

TEST(SerializedQuantizerTest, CorruptionIsNamed) {
  const std::string bytes = FrameQuantizer("int:bits=2", 64, "payload");
  std::string magic = bytes;
  magic[0] = 'X';
  EXPECT_THAT(UnframeQuantizer(magic),
              StatusIs(kInvalid, HasSubstr("bad magic 'XVQQ'")));
  std::string version = bytes;
  version[4] = 9;
  EXPECT_THAT(UnframeQuantizer(version),
              StatusIs(kInvalid, HasSubstr("unsupported version 9")));
  for (size_t i = 8; i < bytes.size(); ++i) {
    std::string flipped = bytes;
    flipped[i] ^= 0x04;
    EXPECT_THAT(UnframeQuantizer(flipped), StatusIs(kInvalid, ::testing::_))
        << "byte " << i;
  }
  EXPECT_THAT(UnframeQuantizer(bytes + "x"),
              StatusIs(kInvalid, HasSubstr("checksum mismatch")));
}

TEST(SerializedQuantizerTest, InconsistentFieldsBehindAValidChecksum) {
  EXPECT_THAT(UnframeQuantizer(FrameQuantizer("int", 0, "")),
              StatusIs(kInvalid, HasSubstr("dim 0 is invalid")));
  EXPECT_THAT(UnframeQuantizer(FrameQuantizer("int", -3, "")),
              StatusIs(kInvalid, HasSubstr("dim -3")));
}

}  // namespace
}  // namespace commvq
