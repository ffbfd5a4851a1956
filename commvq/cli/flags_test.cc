#include "commvq/cli/flags.h"

#include <string>
#include <vector>

#include "commvq/base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace cli {
namespace {

using ::commvq::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::vector<FlagDef> TestDefs() {
  FlagDef tokens;
  tokens.name = "tokens";
  tokens.type = FlagType::kInt;
  tokens.value_name = "N";
  tokens.help = "Tokens.";
  tokens.default_value = "4096";
  tokens.min = 2;
  tokens.max = 1000000;

  FlagDef threads;
  threads.name = "threads";
  threads.type = FlagType::kInt;
  threads.value_name = "N";
  threads.help = "Threads.";
  threads.min = 1;
  threads.max = 64;

  FlagDef spec;
  spec.name = "spec";
  spec.value_name = "SPEC";
  spec.help = "A spec.";
  spec.repeatable = true;

  FlagDef name;
  name.name = "name";
  name.value_name = "NAME";
  name.help = "A name.";

  FlagDef help;
  help.name = "help";
  help.type = FlagType::kBool;
  help.help = "Help.";
  return {tokens, threads, spec, name, help};
}

absl::StatusOr<ParsedFlags> Parse(std::vector<std::string> args) {
  return ParseFlags(TestDefs(), args);
}

TEST(ParseFlagsTest, AcceptsEqualsAndSeparateValueForms) {
  CVQ_ASSERT_OK_AND_ASSIGN(ParsedFlags flags,
                           Parse({"--tokens=256", "--threads", "4"}));
  EXPECT_EQ(flags.GetInt("tokens"), 256);
  EXPECT_EQ(flags.GetInt("threads"), 4);
}

TEST(ParseFlagsTest, IntFlagFallsBackToDefault) {
  CVQ_ASSERT_OK_AND_ASSIGN(ParsedFlags flags, Parse({}));
  EXPECT_FALSE(flags.Has("tokens"));
  EXPECT_EQ(flags.GetInt("tokens"), 4096);
  EXPECT_FALSE(flags.Has("threads"));
}

TEST(ParseFlagsTest, RepeatableFlagKeepsEveryValueInOrder) {
  CVQ_ASSERT_OK_AND_ASSIGN(ParsedFlags flags,
                           Parse({"--spec=int:bits=4", "--spec", "fp16"}));
  EXPECT_THAT(flags.GetStrings("spec"), ElementsAre("int:bits=4", "fp16"));
  EXPECT_THAT(flags.GetStrings("name"), IsEmpty());
}

TEST(ParseFlagsTest, ValueMayContainEquals) {
  CVQ_ASSERT_OK_AND_ASSIGN(ParsedFlags flags, Parse({"--name=a=b"}));
  EXPECT_THAT(flags.GetStrings("name"), ElementsAre("a=b"));
}

TEST(ParseFlagsTest, BoolFlagTakesNoValue) {
  CVQ_ASSERT_OK_AND_ASSIGN(ParsedFlags flags, Parse({"--help", "--tokens=8"}));
  EXPECT_TRUE(flags.Has("help"));
  EXPECT_EQ(flags.GetInt("tokens"), 8);
  EXPECT_THAT(Parse({"--help=yes"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--help takes no value")));
}

TEST(ParseFlagsTest, UnknownFlagIsNamed) {
  EXPECT_THAT(Parse({"--tokens=8", "--tokenz=8"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("unknown flag --tokenz"),
                             HasSubstr("--tokens=N"))));
}

TEST(ParseFlagsTest, MissingValueIsNamed) {
  const auto missing = StatusIs(absl::StatusCode::kInvalidArgument,
                                HasSubstr("flag --tokens needs a value"));
  EXPECT_THAT(Parse({"--tokens"}), missing);
  EXPECT_THAT(Parse({"--tokens="}), missing);
  // A following flag is not taken as the value.
  EXPECT_THAT(Parse({"--tokens", "--help"}), missing);
}

TEST(ParseFlagsTest, NonIntegerValueIsNamed) {
  for (const char* value : {"abc", "12x", "1.5", "0x10"}) {
    EXPECT_THAT(Parse({std::string("--tokens=") + value}),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("flag --tokens"),
                               HasSubstr("an integer in [2, 1000000]"),
                               HasSubstr(value))))
        << value;
  }
}

TEST(ParseFlagsTest, OutOfRangeValueIsNamed) {
  struct Case {
    std::vector<std::string> args;
    std::string bad_value;
  };
  for (const Case& c : std::vector<Case>{
           {{"--tokens=0"}, "0"},
           {{"--tokens=1"}, "1"},
           {{"--tokens=-5"}, "-5"},
           {{"--tokens", "-5"}, "-5"},
           {{"--tokens=1000001"}, "1000001"},
           {{"--tokens=99999999999999999999"}, "99999999999999999999"}}) {
    EXPECT_THAT(Parse(c.args),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("flag --tokens: expected an integer in "
                                   "[2, 1000000], got '" +
                                   c.bad_value + "'")))
        << c.bad_value;
  }
  EXPECT_THAT(Parse({"--threads=0"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("flag --threads: expected an integer in "
                                 "[1, 64], got '0'")));
}

TEST(ParseFlagsTest, NonRepeatableFlagGivenTwiceIsRejected) {
  EXPECT_THAT(Parse({"--tokens=8", "--tokens=9"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("flag --tokens given more than once")));
}

TEST(ParseFlagsTest, PositionalArgumentIsRejected) {
  EXPECT_THAT(Parse({"--tokens=8", "extra"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unexpected argument 'extra'")));
  EXPECT_THAT(Parse({"-h"}), StatusIs(absl::StatusCode::kInvalidArgument,
                                      HasSubstr("unexpected argument '-h'")));
}

TEST(FlagUsageTest, AlignsFlagsAndShowsDefaults) {
  EXPECT_EQ(FlagUsage(TestDefs(), "  "),
            "  --tokens=N    Tokens. (default: 4096)\n"
            "  --threads=N   Threads.\n"
            "  --spec=SPEC   A spec.\n"
            "  --name=NAME   A name.\n"
            "  --help        Help.\n");
}

}  // namespace
}  // namespace cli
}  // namespace commvq
