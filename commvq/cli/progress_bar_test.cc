#include "commvq/cli/progress_bar.h"

#include <chrono>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace cli {
namespace {

using std::chrono::milliseconds;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

class FakeClock {
 public:
  ProgressBar::Clock AsClock() {
    return [this] { return now_; };
  }
  void Advance(milliseconds duration) { now_ += duration; }

 private:
  std::chrono::steady_clock::time_point now_;
};

TEST(ProgressBarTest, WritesNothingWhenNotATerminal) {
  std::ostringstream out;
  FakeClock clock;
  {
    ProgressBar bar("demo", 4, out, /*is_terminal=*/false, clock.AsClock());
    for (int i = 0; i <= 4; ++i) {
      clock.Advance(milliseconds(2000));
      bar.Update(i);
    }
    bar.Finish();
  }
  EXPECT_THAT(out.str(), IsEmpty());
}

TEST(ProgressBarTest, StaysQuietDuringTheFirstSecond) {
  std::ostringstream out;
  FakeClock clock;
  ProgressBar bar("demo", 4, out, /*is_terminal=*/true, clock.AsClock());
  bar.Update(1);
  clock.Advance(milliseconds(999));
  bar.Update(2);
  bar.Finish();
  EXPECT_THAT(out.str(), IsEmpty());
}

TEST(ProgressBarTest, DrawsOnATerminalAfterOneSecondAndErasesAtTheEnd) {
  std::ostringstream out;
  FakeClock clock;
  ProgressBar bar("demo", 4, out, /*is_terminal=*/true, clock.AsClock());
  clock.Advance(milliseconds(1500));
  bar.Update(1);
  const std::string drawn = out.str();
  EXPECT_THAT(drawn, StartsWith("\rdemo ["));
  EXPECT_THAT(drawn, HasSubstr(" 25% 1s"));

  // Updates closer together than the redraw interval are skipped.
  clock.Advance(milliseconds(50));
  bar.Update(2);
  EXPECT_EQ(out.str(), drawn);
  clock.Advance(milliseconds(100));
  bar.Update(2);
  EXPECT_THAT(out.str(), HasSubstr(" 50% 1s"));

  bar.Finish();
  const std::string line_length_blank(drawn.size() - 1, ' ');
  EXPECT_THAT(out.str(), EndsWith("\r" + line_length_blank + "\r"));
  const std::string finished = out.str();
  clock.Advance(milliseconds(1000));
  bar.Update(4);
  bar.Finish();
  EXPECT_EQ(out.str(), finished);
}

TEST(ProgressBarTest, DestructorErasesTheLine) {
  std::ostringstream out;
  FakeClock clock;
  {
    ProgressBar bar("x", 2, out, /*is_terminal=*/true, clock.AsClock());
    clock.Advance(milliseconds(1000));
    bar.Update(2);
  }
  EXPECT_THAT(out.str(), HasSubstr("100%"));
  EXPECT_THAT(out.str(), EndsWith(" \r"));
}

TEST(ProgressBarTest, ClampsOutOfRangeProgress) {
  std::ostringstream out;
  FakeClock clock;
  ProgressBar bar("x", 2, out, /*is_terminal=*/true, clock.AsClock());
  clock.Advance(milliseconds(1000));
  bar.Update(5);
  EXPECT_THAT(out.str(), HasSubstr("100%"));
}

}  // namespace
}  // namespace cli
}  // namespace commvq
