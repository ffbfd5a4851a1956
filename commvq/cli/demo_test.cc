#include "commvq/cli/demo.h"

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "commvq/base/status_matchers.h"
#include "commvq/base/thread_pool.h"
#include "commvq/registry/registry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace cli {
namespace {

using ::commvq::testing::StatusIs;
using ::testing::AllOf;
using ::testing::DoubleEq;
using ::testing::HasSubstr;
using ::testing::Lt;
using ::testing::SizeIs;

DemoOptions TinyOptions() {
  DemoOptions options;
  options.tokens = 256;
  options.min_timing_seconds = 0.0;
  return options;
}

TEST(DemoTest, TableHasARowPerSpecAndErrorFallsWithMoreBits) {
  ThreadPool pool(2);
  CVQ_ASSERT_OK_AND_ASSIGN(
      std::vector<DemoRow> rows,
      RunDemo(TinyOptions(), QuantizerRegistry::Default(), &pool));
  ASSERT_THAT(rows, SizeIs(DefaultDemoSpecs().size()));

  std::ostringstream out;
  PrintDemoTable(rows, out);
  const std::string table = out.str();
  EXPECT_THAT(table, HasSubstr("key rel MSE"));
  EXPECT_THAT(table, HasSubstr("value rel MSE"));
  for (const std::string& spec : DefaultDemoSpecs()) {
    EXPECT_THAT(table, HasSubstr("\n" + spec + " ")) << spec;
  }

  // Default order: fp16, bf16, int:bits=8, 4, 2, 1.
  EXPECT_EQ(rows[2].spec, "int:bits=8");
  EXPECT_EQ(rows[4].spec, "int:bits=2");
  for (int i = 2; i < 5; ++i) {
    EXPECT_LT(rows[i].key_relative_mse, rows[i + 1].key_relative_mse) << i;
    EXPECT_LT(rows[i].value_relative_mse, rows[i + 1].value_relative_mse) << i;
  }
  EXPECT_THAT(rows[0].key_relative_mse, Lt(1e-6));
  EXPECT_THAT(rows[0].bits_per_element, DoubleEq(16.0));
  // fp16: 2 bytes for each of 3 * 64 key and value elements.
  EXPECT_THAT(rows[0].bytes_per_token, DoubleEq(2 * 2 * 3 * 64));
  // int:bits=8 adds an fp16 scale and zero point per 32 channels.
  EXPECT_THAT(rows[2].bits_per_element, DoubleEq(8.0 + 32.0 / 32));
  for (const DemoRow& row : rows) EXPECT_GT(row.encode_mb_per_second, 0.0);
}

TEST(DemoTest, ResultsDoNotDependOnThreads) {
  DemoOptions options = TinyOptions();
  options.specs = {"int:bits=3"};
  ThreadPool pool(3);
  CVQ_ASSERT_OK_AND_ASSIGN(
      auto serial, RunDemo(options, QuantizerRegistry::Default(), nullptr));
  CVQ_ASSERT_OK_AND_ASSIGN(
      auto parallel, RunDemo(options, QuantizerRegistry::Default(), &pool));
  EXPECT_EQ(serial[0].key_relative_mse, parallel[0].key_relative_mse);
  EXPECT_EQ(serial[0].value_relative_mse, parallel[0].value_relative_mse);
}

TEST(DemoTest, ReportsProgressUpToTheNumberOfSpecs) {
  DemoOptions options = TinyOptions();
  options.specs = {"fp16", "int:bits=4"};
  std::vector<double> reported;
  CVQ_ASSERT_OK(
      RunDemo(options, QuantizerRegistry::Default(), nullptr, [&](double done) {
        reported.push_back(done);
      }).status());
  ASSERT_FALSE(reported.empty());
  EXPECT_TRUE(std::is_sorted(reported.begin(), reported.end()));
  EXPECT_EQ(reported.back(), 2.0);
}

TEST(DemoTest, BadSpecNamesTheSpec) {
  DemoOptions options = TinyOptions();
  options.specs = {"fp16", "int:bits=9"};
  EXPECT_THAT(
      RunDemo(options, QuantizerRegistry::Default(), nullptr),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("spec 'int:bits=9'"), HasSubstr("bits"))));
  options.specs = {"nosuch"};
  EXPECT_THAT(RunDemo(options, QuantizerRegistry::Default(), nullptr),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nosuch")));
}

TEST(DemoTest, BadSizesAreNamed) {
  DemoOptions options = TinyOptions();
  options.tokens = 1;
  EXPECT_THAT(
      RunDemo(options, QuantizerRegistry::Default(), nullptr),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("tokens is 1")));
  options = TinyOptions();
  options.head_dim = 1;
  EXPECT_THAT(
      RunDemo(options, QuantizerRegistry::Default(), nullptr),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("head_dim is 1")));
  options = TinyOptions();
  options.tokens = int64_t{1} << 40;
  EXPECT_THAT(
      RunDemo(options, QuantizerRegistry::Default(), nullptr),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at most")));
  options = TinyOptions();
  options.specs.clear();
  EXPECT_THAT(RunDemo(options, QuantizerRegistry::Default(), nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("no quantizer specs")));
}

}  // namespace
}  // namespace cli
}  // namespace commvq
