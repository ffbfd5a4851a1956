// GoogleTest matchers and assertions for absl::Status / absl::StatusOr
// (Debian's abseil 20220623 has no status_matchers.h). Test-only.
//
//   EXPECT_THAT(f(), IsOk());
//   EXPECT_THAT(f(), StatusIs(absl::StatusCode::kInvalidArgument,
//                             HasSubstr("head_dim")));
//   EXPECT_THAT(g(), IsOkAndHolds(42));
//   CVQ_ASSERT_OK_AND_ASSIGN(auto value, g());
#ifndef COMMVQ_BASE_STATUS_MATCHERS_H_
#define COMMVQ_BASE_STATUS_MATCHERS_H_

#include <ostream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "commvq/base/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace testing {

inline const absl::Status& GetStatus(const absl::Status& status) {
  return status;
}
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

MATCHER(IsOk, "is OK") {
  const absl::Status& status = GetStatus(arg);
  if (!status.ok()) *result_listener << "status is " << status.ToString();
  return status.ok();
}

MATCHER_P2(StatusIs, code, message_matcher,
           "has code " + ::testing::PrintToString(code) + " and a message that " +
               ::testing::DescribeMatcher<std::string>(message_matcher)) {
  const absl::Status& status = GetStatus(arg);
  *result_listener << "status is " << status.ToString();
  return status.code() == code &&
         ::testing::Matches(message_matcher)(std::string(status.message()));
}

MATCHER_P(IsOkAndHolds, value_matcher,
          "is OK and holds a value matching " +
              ::testing::PrintToString(value_matcher)) {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status().ToString();
    return false;
  }
  return ::testing::ExplainMatchResult(value_matcher, *arg, result_listener);
}

}  // namespace testing
}  // namespace commvq

#define CVQ_EXPECT_OK(expr) EXPECT_THAT((expr), ::commvq::testing::IsOk())
#define CVQ_ASSERT_OK(expr) ASSERT_THAT((expr), ::commvq::testing::IsOk())

#define CVQ_ASSERT_OK_AND_ASSIGN(lhs, rexpr) \
  CVQ_ASSERT_OK_AND_ASSIGN_IMPL_(CVQ_CONCAT_(cvq_statusor_, __LINE__), lhs, rexpr)
#define CVQ_ASSERT_OK_AND_ASSIGN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                   \
  ASSERT_THAT(statusor.status(), ::commvq::testing::IsOk()); \
  lhs = std::move(statusor).value()

#endif  // COMMVQ_BASE_STATUS_MATCHERS_H_
