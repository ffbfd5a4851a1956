// `commvq reproduce` end to end on the real model, in a tiny configuration
// (two untrained methods, a few tokens): every stage runs through the real
// commands, the report has the measured numbers, and a second run reuses
// every stage.
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "commvq/base/status_matchers.h"
#include "commvq/cli/cli.h"
#include "commvq/io/atomic_file.h"
#include "commvq/model/gguf/gguf_test_util.h"
#include "commvq/report/json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace cli {
namespace {

using ::commvq::testing::IsOk;
using ::testing::HasSubstr;

TEST(ReproduceModelTest, TinyRunMeasuresAndThenReusesEveryStage) {
  auto model = ModelPathFromEnv();
  ASSERT_THAT(model, IsOk());
  const char* text_dir = std::getenv("COMMVQ_TEXT_DIR");
  ASSERT_NE(text_dir, nullptr) << "run ./setup.sh (sets COMMVQ_TEXT_DIR)";
  const std::string out = std::string(std::getenv("TEST_TMPDIR")) + "/run";
  const std::vector<std::string> args = {
      "reproduce", "--model", *model,
      "--calibration_text", std::string(text_dir) + "/calibration.txt",
      "--evaluation_text", std::string(text_dir) + "/evaluation.txt",
      "--out", out, "--methods", "fp16,int4", "--calibration_tokens", "256",
      "--kv_eval_tokens", "128", "--ppl_tokens", "48", "--passkey_context",
      "128", "--baseline_samples", "256", "--bench_contexts", "64,128",
      "--threads", "2", "--json"};
  for (int run = 0; run < 2; ++run) {
    std::ostringstream stdout_stream, log;
    ASSERT_EQ(RunCli(args, CliIo{stdout_stream, log, false}), 0) << log.str();
    if (run == 1) {
      // 2 dumps + 2 methods x (error, 2 ppl less fp16's second, passkey,
      // decode time), each line ending in "cached".
      std::istringstream lines(log.str());
      int cached = 0;
      for (std::string line; std::getline(lines, line);) {
        EXPECT_THAT(line, HasSubstr(" cached"));
        ++cached;
      }
      EXPECT_EQ(cached, 2 + 2 * 5 - 1);
    }
    auto report = ParseJson(stdout_stream.str());
    ASSERT_THAT(report, IsOk());
    const JsonValue& fp16 = report->Find("methods")->items()[0];
    const JsonValue& int4 = report->Find("methods")->items()[1];
    EXPECT_GT(fp16.Find("ppl")->number(), 1.0);
    EXPECT_EQ(report->Find("fp16_ppl")->number(), fp16.Find("ppl")->number());
    // SmolLM2: 30 layers x 3 KV heads x 64 dims x (keys + values) x 2 bytes.
    EXPECT_EQ(fp16.Find("kv_bytes_per_token")->number(), 23040);
    EXPECT_LT(int4.Find("kv_bytes_per_token")->number(), 23040 / 3);
    EXPECT_GT(int4.Find("key_relative_mse")->number(), 0.0);
    EXPECT_EQ(fp16.Find("key_relative_mse")->number(), 0.0);
    EXPECT_EQ(int4.Find("decode")->items().size(), 2u);
    EXPECT_TRUE(int4.Find("notes")->items().empty())
        << int4.Find("notes")->Serialize();
  }
  EXPECT_THAT(ReadFile(out + "/report.md"), IsOk());
}

}  // namespace
}  // namespace cli
}  // namespace commvq
