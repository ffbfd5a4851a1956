#include "commvq/quantizer/quantizer_spec.h"

#include <string>

#include "commvq/base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

TEST(QuantizerSpecTest, ParsesNameAndOptionsInOrder) {
  CVQ_ASSERT_OK_AND_ASSIGN(QuantizerSpec spec,
                           ParseQuantizerSpec("commvq_key:bits=2,layout=half"));
  EXPECT_EQ(spec.name, "commvq_key");
  EXPECT_THAT(spec.options,
              ElementsAre(Pair("bits", "2"), Pair("layout", "half")));
  EXPECT_EQ(spec.ToString(), "commvq_key:bits=2,layout=half");
}

TEST(QuantizerSpecTest, NameOnlyAndEmptyOptionList) {
  CVQ_ASSERT_OK_AND_ASSIGN(QuantizerSpec bare, ParseQuantizerSpec("fp16"));
  EXPECT_EQ(bare.name, "fp16");
  EXPECT_TRUE(bare.options.empty());
  CVQ_ASSERT_OK_AND_ASSIGN(QuantizerSpec colon, ParseQuantizerSpec("fp16:"));
  EXPECT_TRUE(colon.options.empty());
  EXPECT_EQ(colon.ToString(), "fp16");
}

TEST(QuantizerSpecTest, ValuesAllowNumbersWithSignsAndDots) {
  CVQ_ASSERT_OK_AND_ASSIGN(QuantizerSpec spec,
                           ParseQuantizerSpec("x:t=-1.5e+3,m=A_b"));
  EXPECT_THAT(spec.options, ElementsAre(Pair("t", "-1.5e+3"), Pair("m", "A_b")));
}

TEST(QuantizerSpecTest, MalformedSpecsNameTheProblem) {
  EXPECT_THAT(ParseQuantizerSpec(""),
              StatusIs(kInvalid, HasSubstr("empty name at position 0")));
  EXPECT_THAT(ParseQuantizerSpec(":bits=2"),
              StatusIs(kInvalid, HasSubstr("empty name")));
  EXPECT_THAT(ParseQuantizerSpec("Int"),
              StatusIs(kInvalid, HasSubstr("unexpected 'I' in name at "
                                           "position 0")));
  EXPECT_THAT(ParseQuantizerSpec("int bits"),
              StatusIs(kInvalid, HasSubstr("unexpected ' '")));
  EXPECT_THAT(ParseQuantizerSpec("int:bits"),
              StatusIs(kInvalid, HasSubstr("option 'bits' at position 4 has "
                                           "no '='")));
  EXPECT_THAT(ParseQuantizerSpec("int:bits="),
              StatusIs(kInvalid, HasSubstr("empty value at position 9")));
  EXPECT_THAT(ParseQuantizerSpec("int:=2"),
              StatusIs(kInvalid, HasSubstr("empty key at position 4")));
  EXPECT_THAT(ParseQuantizerSpec("int:bits=2,"),
              StatusIs(kInvalid, HasSubstr("no '='")));
  EXPECT_THAT(ParseQuantizerSpec("int:bits=2,,g=3"),
              StatusIs(kInvalid, HasSubstr("no '='")));
  EXPECT_THAT(ParseQuantizerSpec("int:bits=2,bits=3"),
              StatusIs(kInvalid, HasSubstr("option 'bits' is given twice")));
  EXPECT_THAT(ParseQuantizerSpec("int:bits=2:3"),
              StatusIs(kInvalid, HasSubstr("unexpected ':' in value")));
  EXPECT_THAT(ParseQuantizerSpec("int:bits=a=b"),
              StatusIs(kInvalid, HasSubstr("unexpected '='")));
  EXPECT_THAT(ParseQuantizerSpec(std::string("in\0t", 4)),
              StatusIs(kInvalid, HasSubstr("byte 0x0")));
  EXPECT_THAT(ParseQuantizerSpec(std::string(kMaxSpecLength + 1, 'a')),
              StatusIs(kInvalid, HasSubstr("the limit is 4096")));
}

}  // namespace
}  // namespace commvq
