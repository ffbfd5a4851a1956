#include "commvq/base/status_macros.h"

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "commvq/base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::IsOk;
using ::commvq::testing::IsOkAndHolds;
using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

absl::StatusOr<int> Half(int x) {
  if (x % 2 != 0) return absl::InvalidArgumentError("odd: " + std::to_string(x));
  return x / 2;
}

absl::Status CheckEven(int x) { return Half(x).status(); }

absl::StatusOr<int> Quarter(int x) {
  CVQ_ASSIGN_OR_RETURN(int half, Half(x));
  CVQ_ASSIGN_OR_RETURN(auto quarter, Half(half));
  return quarter;
}

absl::Status BothEven(int a, int b) {
  CVQ_RETURN_IF_ERROR(CheckEven(a));
  CVQ_RETURN_IF_ERROR(CheckEven(b));
  return absl::OkStatus();
}

TEST(StatusMacrosTest, AssignOrReturnPassesValuesAndErrors) {
  EXPECT_THAT(Quarter(8), IsOkAndHolds(2));
  EXPECT_THAT(Quarter(6), StatusIs(absl::StatusCode::kInvalidArgument,
                                   HasSubstr("odd: 3")));
  EXPECT_THAT(Quarter(5), StatusIs(absl::StatusCode::kInvalidArgument,
                                   HasSubstr("odd: 5")));
}

TEST(StatusMacrosTest, ReturnIfErrorStopsAtFirstError) {
  EXPECT_THAT(BothEven(2, 4), IsOk());
  EXPECT_THAT(BothEven(1, 3), StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr("odd: 1")));
  EXPECT_THAT(BothEven(2, 3), StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr("odd: 3")));
}

TEST(StatusMatchersTest, MatchersRejectWhatTheyShould) {
  EXPECT_FALSE(::testing::Matches(IsOk())(absl::InternalError("x")));
  EXPECT_FALSE(::testing::Matches(IsOkAndHolds(1))(absl::StatusOr<int>(2)));
  EXPECT_FALSE(::testing::Matches(StatusIs(absl::StatusCode::kInternal, "y"))(
      absl::InternalError("x")));
  CVQ_ASSERT_OK_AND_ASSIGN(int value, Half(10));
  EXPECT_EQ(value, 5);
}

}  // namespace
}  // namespace commvq
