#include "commvq/quantizer/options.h"

#include "commvq/base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

OptionSchema TestSchema() {
  return {
      {"bits", OptionType::kInt, "2", "code bits", 1, 8, {}},
      {"head_dim", OptionType::kInt, std::nullopt, "required", 2, 1024, {}},
      {"tau", OptionType::kFloat, "0.5", "temperature", 0.0, 10.0, {}},
      {"layout", OptionType::kString, "half", "pairs", -1e300, 1e300,
       {"half", "interleaved"}},
      {"normalize", OptionType::kBool, "true", "", -1e300, 1e300, {}},
  };
}

absl::StatusOr<ResolvedOptions> Resolve(absl::string_view text) {
  absl::StatusOr<QuantizerSpec> spec = ParseQuantizerSpec(text);
  if (!spec.ok()) return spec.status();
  return ResolveOptions(TestSchema(), *spec);
}

TEST(OptionsTest, FillsDefaultsAndTypes) {
  CVQ_ASSERT_OK_AND_ASSIGN(ResolvedOptions options,
                           Resolve("q:head_dim=64,layout=interleaved"));
  EXPECT_EQ(options.GetInt("bits"), 2);
  EXPECT_EQ(options.GetInt("head_dim"), 64);
  EXPECT_DOUBLE_EQ(options.GetFloat("tau"), 0.5);
  EXPECT_EQ(options.GetString("layout"), "interleaved");
  EXPECT_TRUE(options.GetBool("normalize"));
  EXPECT_EQ(options.canonical_spec(),
            "q:bits=2,head_dim=64,tau=0.5,layout=interleaved,normalize=true");
}

TEST(OptionsTest, CanonicalSpecIgnoresOrderAndSpelling) {
  CVQ_ASSERT_OK_AND_ASSIGN(ResolvedOptions a,
                           Resolve("q:normalize=1,head_dim=064,bits=2"));
  CVQ_ASSERT_OK_AND_ASSIGN(ResolvedOptions b, Resolve("q:head_dim=64"));
  EXPECT_EQ(a.canonical_spec(), b.canonical_spec());
  EXPECT_FALSE(Resolve("q:head_dim=64,normalize=false")->GetBool("normalize"));
}

TEST(OptionsTest, ErrorsNameTheKeyAndTheExpectation) {
  EXPECT_THAT(Resolve("q:head_dim=64,bitz=3"),
              StatusIs(kInvalid, HasSubstr("unknown option 'bitz' for "
                                           "quantizer 'q': expected one of "
                                           "bits, head_dim")));
  EXPECT_THAT(Resolve("q:bits=2"),
              StatusIs(kInvalid, HasSubstr("missing required option "
                                           "'head_dim'")));
  EXPECT_THAT(Resolve("q:head_dim=64,bits=9"),
              StatusIs(kInvalid, HasSubstr("option 'bits' of quantizer 'q': "
                                           "expected an integer in [1, 8], "
                                           "got '9'")));
  EXPECT_THAT(Resolve("q:head_dim=64,bits=two"),
              StatusIs(kInvalid, HasSubstr("got 'two'")));
  EXPECT_THAT(Resolve("q:head_dim=64,bits=2.5"),
              StatusIs(kInvalid, HasSubstr("expected an integer")));
  EXPECT_THAT(Resolve("q:head_dim=64,tau=-1"),
              StatusIs(kInvalid, HasSubstr("expected a number in [0, 10]")));
  EXPECT_THAT(Resolve("q:head_dim=64,tau=nan"),
              StatusIs(kInvalid, HasSubstr("'tau'")));
  EXPECT_THAT(Resolve("q:head_dim=64,layout=diagonal"),
              StatusIs(kInvalid, HasSubstr("expected one of "
                                           "half|interleaved, got "
                                           "'diagonal'")));
  EXPECT_THAT(Resolve("q:head_dim=64,normalize=yes"),
              StatusIs(kInvalid, HasSubstr("expected true or false")));
}

TEST(OptionsTest, NoOptionsSchema) {
  CVQ_ASSERT_OK_AND_ASSIGN(QuantizerSpec spec, ParseQuantizerSpec("fp16:x=1"));
  EXPECT_THAT(ResolveOptions({}, spec),
              StatusIs(kInvalid, HasSubstr("it takes no options")));
}

}  // namespace
}  // namespace commvq
