#include "commvq/cli/dump_trainer.h"

#include <sstream>
#include <string>
#include <vector>

#include "commvq/base/status_matchers.h"
#include "commvq/base/thread_pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace cli {
namespace {

using ::commvq::testing::IsOk;
using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

ParsedFlags Parse(const std::vector<std::string>& args) {
  const std::vector<FlagDef> defs = {StringFlag("kv", "DUMP", "dump"),
                                     StringFlag("out", "FILE", "out"),
                                     IntFlag("threads", "threads", "", 1, 64)};
  return ParseFlags(defs, args).value();
}

TEST(DumpTrainerTest, RunsTheTrainerWithPoolAndProgress) {
  std::ostringstream out, err;
  const CliIo io{out, err, false};
  std::vector<double> progress;
  int threads = 0;
  ASSERT_THAT(
      RunDumpTrainer(Parse({"--kv=/a/dump", "--out=/b/file", "--threads=3"}),
                     io, "train-things", "thing codebooks",
                     [&](const DumpTrainerRun& run) {
                       EXPECT_EQ(run.kv, "/a/dump");
                       EXPECT_EQ(run.out, "/b/file");
                       threads = run.pool->num_threads();
                       run.progress(0.5);
                       run.progress(1.0);
                       return absl::OkStatus();
                     }),
      IsOk());
  EXPECT_EQ(threads, 3);
  EXPECT_EQ(out.str(), "wrote thing codebooks to /b/file\n");
}

TEST(DumpTrainerTest, NeedsBothPathsAndPassesFailuresOn) {
  std::ostringstream out, err;
  const CliIo io{out, err, false};
  bool called = false;
  const auto train = [&](const DumpTrainerRun&) {
    called = true;
    return absl::InvalidArgumentError("bad dump");
  };
  EXPECT_THAT(
      RunDumpTrainer(Parse({"--kv=/a/dump"}), io, "train-things", "x", train),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("train-things needs --kv=DUMP and "
                         "--out=FILE")));
  EXPECT_FALSE(called);
  EXPECT_THAT(RunDumpTrainer(Parse({"--kv=/a", "--out=/b"}), io, "train-things",
                             "x", train),
              StatusIs(absl::StatusCode::kInvalidArgument, "bad dump"));
  EXPECT_TRUE(called);
  EXPECT_EQ(out.str(), "");
}

}  // namespace
}  // namespace cli
}  // namespace commvq
