#include "commvq/cli/reproduce_stages.h"

#include <cstdlib>
#include <sstream>
#include <string>

#include "commvq/base/status_matchers.h"
#include "commvq/io/atomic_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace cli {
namespace {

using ::commvq::testing::IsOk;
using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

class StageRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::getenv("TEST_TMPDIR");
    ASSERT_THAT(WriteFileAtomically(dir_ + "/program", "v1"), IsOk());
    ASSERT_THAT(WriteFileAtomically(dir_ + "/input", "data"), IsOk());
  }

  StageRunner Runner() {
    return StageRunner(
        dir_,
        [this](absl::Span<const std::string> args, const CliIo& io) {
          ++runs_;
          last_args_ = std::vector<std::string>(args.begin(), args.end());
          if (args[0] == "fail") {
            io.err << "it broke\nusage...\n";
            return 1;
          }
          io.out << "result " << runs_;
          return 0;
        },
        log_, 3, dir_ + "/program");
  }

  Stage MakeStage(const std::string& command) {
    Stage stage;
    stage.id = "stage." + command;
    stage.label = command + " label";
    stage.args = {command, "--x=1"};
    stage.run_args = {"--threads", "2"};
    stage.inputs = {dir_ + "/input"};
    return stage;
  }

  std::string dir_;
  std::ostringstream log_;
  int runs_ = 0;
  std::vector<std::string> last_args_;
};

TEST_F(StageRunnerTest, RecordsAreReusedUntilAnInputOrTheProgramChanges) {
  const Stage stage = MakeStage("run");
  {
    StageRunner runner = Runner();
    auto first = runner.Run(stage);
    ASSERT_THAT(first, IsOk());
    EXPECT_EQ(first->stdout_text, "result 1");
    EXPECT_FALSE(first->cached);
    EXPECT_EQ(last_args_.back(), "2");  // run_args are passed
    auto again = runner.Run(stage);
    ASSERT_THAT(again, IsOk());
    EXPECT_TRUE(again->cached);
    EXPECT_EQ(again->stdout_text, "result 1");
    EXPECT_EQ(runner.runs(), 1);
  }
  Stage other_threads = stage;
  other_threads.run_args = {"--threads", "1"};
  EXPECT_TRUE(Runner().Run(other_threads)->cached);
  ASSERT_THAT(WriteFileAtomically(dir_ + "/input", "new data"), IsOk());
  EXPECT_EQ(Runner().Run(stage)->stdout_text, "result 2");
  ASSERT_THAT(WriteFileAtomically(dir_ + "/program", "v2"), IsOk());
  EXPECT_EQ(Runner().Run(stage)->stdout_text, "result 3");
  Stage other_args = stage;
  other_args.args = {"run", "--x=2"};
  EXPECT_EQ(Runner().Run(other_args)->stdout_text, "result 4");
  EXPECT_THAT(log_.str(), HasSubstr("run label ... cached"));
}

TEST_F(StageRunnerTest, MissingOutputsRerunAndPrepareRunsFirst) {
  Stage stage = MakeStage("run");
  stage.outputs = {dir_ + "/made"};
  int prepared = 0;
  stage.prepare = [&] {
    ++prepared;
    return WriteFileAtomically(dir_ + "/made", "x");
  };
  ASSERT_THAT(Runner().Run(stage), IsOk());
  EXPECT_TRUE(Runner().Run(stage)->cached);
  EXPECT_EQ(prepared, 1);
  ASSERT_EQ(std::remove((dir_ + "/made").c_str()), 0);
  EXPECT_FALSE(Runner().Run(stage)->cached);
  EXPECT_EQ(prepared, 2);
}

TEST_F(StageRunnerTest, FailuresNameTheStageAndAreNotRecorded) {
  const Stage stage = MakeStage("fail");
  EXPECT_THAT(Runner().Run(stage),
              StatusIs(absl::StatusCode::kInternal,
                       ::testing::AllOf(HasSubstr("fail label failed"),
                                        HasSubstr("it broke"),
                                        ::testing::Not(HasSubstr("usage")))));
  EXPECT_THAT(Runner().Run(stage),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("it broke")));
  EXPECT_EQ(runs_, 2);
  Stage missing = MakeStage("run");
  missing.inputs = {dir_ + "/nope"};
  EXPECT_THAT(Runner().Run(missing), StatusIs(absl::StatusCode::kNotFound,
                                              HasSubstr("nope")));
  EXPECT_THAT(log_.str(), HasSubstr("not run"));
}

}  // namespace
}  // namespace cli
}  // namespace commvq
