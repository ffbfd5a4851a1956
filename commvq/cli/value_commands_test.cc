// `commvq bench value-encode` at a tiny shape: the JSON carries the issue's
// fields with sane values; bad flags are refused.
#include "commvq/cli/value_commands.h"

#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "commvq/cli/flags.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace cli {
namespace {

// The value of "key" in a flat JSON object of numbers; NaN when absent.
double Field(const std::string& json, const std::string& key) {
  const std::string label = "\"" + key + "\": ";
  const size_t at = json.find(label);
  if (at == std::string::npos) return std::nan("");
  const size_t begin = at + label.size();
  const size_t end = json.find_first_of(",}", begin);
  double value = 0.0;
  if (!absl::SimpleAtod(json.substr(begin, end - begin), &value)) {
    return std::nan("");
  }
  return value;
}

TEST(ValueCommandsTest, BenchValueEncodeJson) {
  const std::vector<std::string> args = {
      "--kv_heads=2", "--head_dim=8",       "--train_tokens=64",
      "--tokens=32",  "--iters=1",          "--hidden=16",
      "--epochs=1",   "--distill_epochs=1", "--json"};
  absl::StatusOr<ParsedFlags> flags = ParseFlags(BenchValueEncodeFlags(), args);
  ASSERT_TRUE(flags.ok()) << flags.status();
  std::ostringstream out, err;
  ASSERT_TRUE(RunBenchValueEncode(*flags, "", {out, err, false}).ok());
  const std::string json = out.str();
  for (const std::string suffix : {"", "_2bit"}) {
    SCOPED_TRACE(suffix);
    EXPECT_GT(Field(json, "mlp_tokens_per_s" + suffix), 0.0) << json;
    EXPECT_GT(Field(json, "search_tokens_per_s" + suffix), 0.0) << json;
    const double search = Field(json, "search_rel_mse" + suffix);
    EXPECT_GT(search, 0.0) << json;
    EXPECT_LT(search, 1.0) << json;
    EXPECT_GE(Field(json, "mlp_rel_mse" + suffix), 0.0) << json;
    EXPECT_NEAR(Field(json, "mlp_speedup_vs_search" + suffix),
                Field(json, "mlp_tokens_per_s" + suffix) /
                    Field(json, "search_tokens_per_s" + suffix),
                0.01 * Field(json, "mlp_speedup_vs_search" + suffix) + 0.01);
  }
}

TEST(ValueCommandsTest, BenchRefusesBadShapes) {
  EXPECT_FALSE(ParseFlags(BenchValueEncodeFlags(), {"--kv_heads=0"}).ok());
  EXPECT_FALSE(ParseFlags(BenchValueEncodeFlags(), {"--head_dim=1"}).ok());
}

}  // namespace
}  // namespace cli
}  // namespace commvq
