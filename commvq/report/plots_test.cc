#include "commvq/report/plots.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "commvq/base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::IsOk;
using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

MethodResult Method(const std::string& name, double bits, double ppl) {
  MethodResult m;
  m.name = name;
  m.bits_per_element = bits;
  m.ppl = ppl;
  m.ppl_window0 = ppl * 2;
  m.key_bytes_per_token = bits * 10;
  m.value_bytes_per_token = bits * 10;
  return m;
}

ReproductionReport FakeReport() {
  ReproductionReport r;
  r.model = "Tiny";
  r.max_context = 4096;
  r.window = 128;
  r.fp16_bytes_per_token = 320;
  r.methods = {Method("fp16", 16, 10), Method("kivi-1", 2, 30),
               Method("rvq-1", 1, kMissing)};
  r.methods[2].ppl_window0 = kMissing;
  return r;
}

TEST(PlotsTest, ScriptsHoldTheDataOfMethodsThatHaveIt) {
  const std::vector<PlotScript> plots = PlotScripts(FakeReport());
  // No method has decode timings: no decode plot.
  ASSERT_EQ(plots.size(), 2u);
  EXPECT_EQ(plots[0].png, "ppl_vs_bits.png");
  // ppl 10 to 60: a log scale keeps the low ones apart.
  EXPECT_THAT(plots[0].script, HasSubstr("set logscale y"));
  EXPECT_THAT(plots[0].script, HasSubstr("set output 'ppl_vs_bits.png'"));
  EXPECT_THAT(plots[0].script, HasSubstr("\"kivi-1\" 2.0000 30.00000"));
  EXPECT_THAT(plots[0].script, HasSubstr("\"kivi-1\" 2.0000 60.00000"));
  EXPECT_THAT(plots[0].script, Not(HasSubstr("rvq-1")));
  EXPECT_EQ(plots[1].png, "kv_memory.png");
  // rvq-1 at 4096 tokens: 128 fp16 tokens + 3968 x 20 bytes, in MiB.
  EXPECT_THAT(plots[1].script,
              HasSubstr(absl::StrFormat(
                  "4096 %.6f", (128 * 320 + 3968 * 20.0) / (1 << 20))));
}

TEST(PlotsTest, DecodePlotHasOneSeriesPerTimedMethod) {
  ReproductionReport r = FakeReport();
  r.methods[1].decode = {{1024, 10.5}, {2048, 20.25}};
  const std::vector<PlotScript> plots = PlotScripts(r);
  ASSERT_EQ(plots.size(), 3u);
  EXPECT_EQ(plots[2].png, "decode_time.png");
  EXPECT_THAT(plots[2].script, HasSubstr("1024 10.500\n2048 20.250\n"));
  EXPECT_THAT(plots[2].script, HasSubstr("title 'kivi-1'"));
  EXPECT_THAT(plots[2].script, Not(HasSubstr("title 'fp16'")));
}

// Nine methods (the default run) get nine colours, the same one for a method
// in every plot, and the perplexity plot names each method once.
TEST(PlotsTest, EveryMethodHasItsOwnColourInEveryPlot) {
  ReproductionReport report = FakeReport();
  report.methods.clear();
  for (int i = 0; i < 9; ++i) {
    report.methods.push_back(Method(absl::StrCat("m", i), 1 + i, 10 + i));
    report.methods.back().decode = {{1024, 5.0 + i}};
  }
  const std::vector<PlotScript> plots = PlotScripts(report);
  ASSERT_EQ(plots.size(), 3u);
  for (const PlotScript& plot : plots) {
    SCOPED_TRACE(plot.png);
    std::set<std::string> colours;
    for (int i = 0; i < 9; ++i) {
      const std::string title = absl::StrCat("title 'm", i, "'");
      const size_t at = plot.script.find(title);
      ASSERT_NE(at, std::string::npos) << title;
      EXPECT_EQ(plot.script.find(title, at + 1), std::string::npos) << title;
      const size_t colour = plot.script.rfind("lc rgb '", at);
      ASSERT_NE(colour, std::string::npos);
      colours.insert(plot.script.substr(colour, 16));
    }
    EXPECT_EQ(colours.size(), 9u);
  }
}

TEST(PlotsTest, AFailingProgramIsAnErrorNamingIt) {
  const std::string dir = std::getenv("TEST_TMPDIR");
  EXPECT_THAT(DrawPlots(FakeReport(), dir, "false"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("'false ppl_vs_bits.gp'")));
  EXPECT_THAT(DrawPlots(FakeReport(), dir, "/nonexistent/gnuplot"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("could not be started")));
  // The scripts stay for running by hand.
  EXPECT_TRUE(std::ifstream(dir + "/ppl_vs_bits.gp").good());
}

TEST(PlotsTest, GnuplotDrawsPngFiles) {
  if (access("/usr/bin/gnuplot", X_OK) != 0) {
    GTEST_SKIP() << "gnuplot is not installed (setup.sh installs gnuplot-nox)";
  }
  const std::string dir = std::getenv("TEST_TMPDIR");
  auto written = DrawPlots(FakeReport(), dir, "/usr/bin/gnuplot");
  ASSERT_THAT(written, IsOk());
  ASSERT_EQ(written->size(), 2u);
  for (const std::string& png : *written) {
    std::ifstream file(dir + "/" + png, std::ios::binary);
    std::string magic(8, '\0');
    file.read(magic.data(), 8);
    EXPECT_EQ(magic, "\x89PNG\r\n\x1a\n") << png;
  }
}

}  // namespace
}  // namespace commvq
