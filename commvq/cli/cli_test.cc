#include "commvq/cli/cli.h"

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "commvq/cli/demo.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace cli {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

struct Result {
  int exit_status;
  std::string out;
  std::string err;
};

Result RunCommvq(std::vector<std::string> args) {
  std::ostringstream out, err;
  const int status = RunCli(args, {out, err, /*err_is_terminal=*/false});
  return {status, out.str(), err.str()};
}

TEST(CliTest, HelpListsCommandsAndFlags) {
  for (const char* help : {"--help", "help"}) {
    const Result result = RunCommvq({help});
    EXPECT_EQ(result.exit_status, kExitOk) << help;
    EXPECT_THAT(result.err, IsEmpty());
    EXPECT_EQ(result.out, Usage());
  }
  EXPECT_THAT(Usage(),
              AllOf(HasSubstr("  list  "), HasSubstr("  demo  "),
                    HasSubstr("--plugin=PATH"), HasSubstr("--tokens=N"),
                    HasSubstr("--spec=SPEC"), HasSubstr("(default: 4096)")));
}

TEST(CliTest, NoArgumentsIsAUsageError) {
  const Result result = RunCommvq({});
  EXPECT_EQ(result.exit_status, kExitUsage);
  EXPECT_THAT(result.out, IsEmpty());
  EXPECT_EQ(result.err, Usage());
}

TEST(CliTest, CommandHelpShowsItsFlags) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"demo", "--help"},
                                             {"help", "demo"}}) {
    const Result result = RunCommvq(args);
    EXPECT_EQ(result.exit_status, kExitOk);
    EXPECT_THAT(result.out, AllOf(HasSubstr("Usage: commvq demo [flags]"),
                                  HasSubstr("--num_kv_heads=N")));
  }
}

TEST(CliTest, UnknownCommandOrFlagIsNamed) {
  Result result = RunCommvq({"frobnicate"});
  EXPECT_EQ(result.exit_status, kExitUsage);
  EXPECT_THAT(result.err, AllOf(HasSubstr("unknown command 'frobnicate'"),
                                HasSubstr("Usage: commvq")));

  result = RunCommvq({"--verbose"});
  EXPECT_EQ(result.exit_status, kExitUsage);
  EXPECT_THAT(result.err, HasSubstr("unknown flag --verbose"));

  result = RunCommvq({"help", "frobnicate"});
  EXPECT_EQ(result.exit_status, kExitUsage);
  EXPECT_THAT(result.err, HasSubstr("'frobnicate'"));

  result = RunCommvq({"list", "--verbose"});
  EXPECT_EQ(result.exit_status, kExitUsage);
  EXPECT_THAT(result.err, AllOf(HasSubstr("unknown flag --verbose"),
                                HasSubstr("Usage: commvq list")));
  EXPECT_THAT(result.out, IsEmpty());
}

TEST(CliTest, BadFlagValueIsAUsageError) {
  const Result result = RunCommvq({"demo", "--tokens=0"});
  EXPECT_EQ(result.exit_status, kExitUsage);
  EXPECT_THAT(result.err, HasSubstr("flag --tokens: expected an integer"));
  EXPECT_THAT(result.out, IsEmpty());
}

TEST(CliTest, ListShowsBuiltinQuantizers) {
  const Result result = RunCommvq({"list"});
  EXPECT_EQ(result.exit_status, kExitOk);
  EXPECT_THAT(result.out, AllOf(HasSubstr("int"), HasSubstr("bits")));
}

TEST(CliTest, MissingPluginFailsNamingThePath) {
  const Result result = RunCommvq({"list", "--plugin=/nonexistent/plugin.so"});
  EXPECT_EQ(result.exit_status, kExitFailure);
  EXPECT_THAT(result.err, HasSubstr("/nonexistent/plugin.so"));
}

TEST(CliTest, DemoPrintsARowPerSpec) {
  const Result result = RunCommvq({"demo", "--tokens", "256", "--threads=2"});
  EXPECT_EQ(result.exit_status, kExitOk) << result.err;
  // Not a terminal: no progress bar.
  EXPECT_THAT(result.err, IsEmpty());
  for (const std::string& spec : DefaultDemoSpecs()) {
    EXPECT_THAT(result.out, HasSubstr("\n" + spec + " ")) << spec;
  }
}

TEST(CliTest, DemoWithBadSpecFailsNamingIt) {
  const Result result =
      RunCommvq({"demo", "--tokens=16", "--spec=fp16", "--spec=int:bits=9"});
  EXPECT_EQ(result.exit_status, kExitFailure);
  EXPECT_THAT(result.err, HasSubstr("spec 'int:bits=9'"));
  EXPECT_THAT(result.out, IsEmpty());
}

TEST(CliTest, InfoTakesAFileAndReportsBadOnes) {
  const std::string golden = std::string(std::getenv("TEST_SRCDIR")) +
                             "/commvq/testing/golden/codebook_v1_small.cvqcb";
  const Result ok = RunCommvq({"info", golden});
  EXPECT_EQ(ok.exit_status, kExitOk) << ok.err;
  EXPECT_THAT(ok.out, AllOf(HasSubstr("format version 1"),
                            HasSubstr("layer.0.value")));

  const Result missing = RunCommvq({"info", golden + ".missing"});
  EXPECT_EQ(missing.exit_status, kExitFailure);
  EXPECT_THAT(missing.err, HasSubstr("commvq info: "));
  EXPECT_THAT(missing.err, HasSubstr(".missing"));

  const Result no_file = RunCommvq({"info"});
  EXPECT_EQ(no_file.exit_status, kExitUsage);
  EXPECT_THAT(no_file.err, HasSubstr("Usage: commvq info FILE [flags]"));
  EXPECT_THAT(Usage(), HasSubstr("  info FILE  "));
}

TEST(CliTest, TrainKeysNeedsADumpAndAnOutput) {
  const Result result = RunCommvq({"train-keys", "--bits=2"});
  EXPECT_EQ(result.exit_status, kExitFailure);
  EXPECT_THAT(result.err, HasSubstr("needs --kv=DUMP and --out=FILE"));
  EXPECT_THAT(Usage(), HasSubstr("  train-keys  "));
}

}  // namespace
}  // namespace cli
}  // namespace commvq
