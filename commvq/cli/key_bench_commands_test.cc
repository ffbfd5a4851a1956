// The key benchmarks at tiny sizes: the JSON carries the fields the issue
// names, the codes agree, and bad sizes are refused with a message.
#include "commvq/cli/key_bench_commands.h"

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "commvq/cli/flags.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace cli {
namespace {

using ::testing::HasSubstr;

// The number after "\"key\": " in `json`; fails the test if absent. (No
// std::regex: GCC 12 warns inside it under ASan, and warnings are errors.)
double JsonNumber(const std::string& json, const std::string& key) {
  const std::string label = "\"" + key + "\": ";
  const size_t at = json.find(label);
  EXPECT_NE(at, std::string::npos) << key << " in " << json;
  if (at == std::string::npos) return 0.0;
  const char* begin = json.c_str() + at + label.size();
  char* end = nullptr;
  const double value = std::strtod(begin, &end);
  EXPECT_NE(end, begin) << key << " is not a number in " << json;
  return value;
}

absl::Status RunBench(std::vector<FlagDef> defs,
                      absl::Status (*run)(const ParsedFlags&, absl::string_view,
                                          const CliIo&),
                      const std::vector<std::string>& args, std::string* out) {
  absl::StatusOr<ParsedFlags> flags = ParseFlags(defs, args);
  if (!flags.ok()) return flags.status();
  std::ostringstream out_stream, err_stream;
  const absl::Status status =
      run(*flags, "", {out_stream, err_stream, /*err_is_terminal=*/false});
  *out = out_stream.str();
  return status;
}

TEST(KeyBenchCommandsTest, KeyEncodeJsonHasRatesAndIdenticalCodes) {
  std::string out;
  ASSERT_TRUE(RunBench(BenchKeyEncodeFlags(), &RunBenchKeyEncode,
                       {"--vectors=40", "--json"}, &out)
                  .ok());
  EXPECT_THAT(out, HasSubstr("\"identical_codes\": true"));
  const double rate = JsonNumber(out, "vectors_per_s");
  const double brute = JsonNumber(out, "bruteforce_vectors_per_s");
  EXPECT_GT(rate, 0.0);
  EXPECT_GT(brute, 0.0);
  EXPECT_NEAR(JsonNumber(out, "speedup"), rate / brute,
              0.01 * rate / brute + 0.01);
  EXPECT_EQ(JsonNumber(out, "stages"), 21);
}

TEST(KeyBenchCommandsTest, KeyEmJsonComparesStructuredAndDense) {
  std::string out;
  ASSERT_TRUE(
      RunBench(BenchKeyEmFlags(), &RunBenchKeyEm,
               {"--vectors=256", "--dense_vectors=128", "--iters=2", "--json"},
               &out)
          .ok());
  EXPECT_GT(JsonNumber(out, "seconds_per_iter"), 0.0);
  EXPECT_GT(JsonNumber(out, "dense_seconds_per_iter"), 0.0);
  EXPECT_GT(JsonNumber(out, "speedup"), 0.0);
  // Same algorithm on the same data: the MSEs agree closely.
  const double mse = JsonNumber(out, "mse");
  EXPECT_GT(mse, 0.0);
  EXPECT_NEAR(JsonNumber(out, "dense_mse"), mse, 0.01 * mse);

  const absl::Status bad =
      RunBench(BenchKeyEmFlags(), &RunBenchKeyEm,
               {"--vectors=100", "--dense_vectors=200"}, &out);
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.message()), HasSubstr("dense vectors is 200"));
}

}  // namespace
}  // namespace cli
}  // namespace commvq
