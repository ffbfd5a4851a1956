#include "commvq/base/dtype.h"

#include "commvq/base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::IsOkAndHolds;
using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

TEST(DTypeTest, SizesAndNames) {
  EXPECT_EQ(DTypeSize(DType::kF32), 4);
  EXPECT_EQ(DTypeSize(DType::kF16), 2);
  EXPECT_EQ(DTypeSize(DType::kBF16), 2);
  EXPECT_EQ(DTypeSize(DType::kU8), 1);
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16, DType::kU8}) {
    EXPECT_THAT(ParseDType(DTypeName(dtype)), IsOkAndHolds(dtype));
    EXPECT_THAT(DTypeFromInt(static_cast<int>(dtype)), IsOkAndHolds(dtype));
    EXPECT_THAT(FromDlpack(ToDlpack(dtype)), IsOkAndHolds(dtype));
  }
}

TEST(DTypeTest, UnknownValuesAreNamedInErrors) {
  EXPECT_THAT(ParseDType("f64"), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("'f64'")));
  EXPECT_THAT(DTypeFromInt(7), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr("value 7")));
  EXPECT_THAT(DTypeFromInt(-1), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("value -1")));
  EXPECT_THAT(FromDlpack({2, 64, 1}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("bits 64")));
  EXPECT_THAT(FromDlpack({2, 32, 4}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("lanes 4")));
}

TEST(DTypeTest, DlpackCodesMatchTheStandard) {
  EXPECT_EQ(ToDlpack(DType::kF32).code, 2);
  EXPECT_EQ(ToDlpack(DType::kBF16).code, 4);
  EXPECT_EQ(ToDlpack(DType::kU8).code, 1);
  EXPECT_EQ(ToDlpack(DType::kF16).bits, 16);
}

}  // namespace
}  // namespace commvq
