#include "commvq/cli/codebook_info.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "commvq/base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace cli {
namespace {

using ::commvq::testing::IsOk;
using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

std::string GoldenSmall() {
  return std::string(std::getenv("TEST_SRCDIR")) +
         "/commvq/testing/golden/codebook_v1_small.cvqcb";
}

TEST(CodebookInfoTest, ShowsHeaderTensorsAndQuantizers) {
  std::ostringstream out;
  ASSERT_THAT(PrintCodebookInfo(GoldenSmall(), QuantizerRegistry::Default(), out),
              IsOk());
  const std::string text = out.str();
  EXPECT_THAT(text, HasSubstr("format version 1"));
  EXPECT_THAT(text, HasSubstr("golden-model"));
  EXPECT_THAT(text, HasSubstr("KV heads 2, head_dim 4, rope_theta 500000, "
                              "pairs half"));
  EXPECT_THAT(text, HasSubstr("seed 42"));
  EXPECT_THAT(text, HasSubstr("purpose: format golden file"));
  EXPECT_THAT(text, HasSubstr("codebook"));
  EXPECT_THAT(text, HasSubstr("[2, 4]"));
  EXPECT_THAT(text, HasSubstr("layer.0.key"));
  EXPECT_THAT(text, HasSubstr("int:bits=2,group_size=4"));
  // int:bits=2 with groups of 4: 2 bits + 32 bits of scale/zero per 4.
  EXPECT_THAT(text, HasSubstr("10.000"));
  EXPECT_THAT(text, HasSubstr("16.000"));  // fp16
}

TEST(CodebookInfoTest, BadFileIsTheReadersError) {
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/bad.cvqcb";
  std::ofstream(path) << "CVQCODEB garbage";
  std::ostringstream out;
  EXPECT_THAT(PrintCodebookInfo(path, QuantizerRegistry::Default(), out),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("bad.cvqcb: codebook file")));
  EXPECT_EQ(out.str(), "");
  EXPECT_THAT(PrintCodebookInfo(path + ".missing", QuantizerRegistry::Default(),
                                out),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(".missing")));
}

}  // namespace
}  // namespace cli
}  // namespace commvq
