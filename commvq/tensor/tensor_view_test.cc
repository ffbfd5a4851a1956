#include "commvq/tensor/tensor_view.h"

#include <cstdint>
#include <vector>

#include "commvq/base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::IsOk;
using ::commvq::testing::IsOkAndHolds;
using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

TEST(TensorViewTest, AccessorsAndRows) {
  std::vector<float> data(6);
  for (int i = 0; i < 6; ++i) data[i] = static_cast<float>(i);
  MutableTensorView view(data.data(), DType::kF32, {3, 2});
  EXPECT_EQ(view.rank(), 2);
  EXPECT_EQ(view.num_elements(), 6);
  EXPECT_EQ(view.size_bytes(), 24);
  TensorView rows = view.Rows(1, 2);
  EXPECT_EQ(rows.shape(), Shape({2, 2}));
  EXPECT_EQ(rows.span<float>()[0], 2.0f);
  EXPECT_EQ(rows.span<float>().size(), 4u);
  view.span<float>()[5] = 50.0f;
  EXPECT_EQ(rows.span<float>()[3], 50.0f);
}

TEST(TensorViewTest, CheckAcceptsMatchingTensors) {
  std::vector<float> data(128);
  TensorView view(data.data(), DType::kF32, {2, 64});
  EXPECT_THAT(CheckTensor(view, "x", DType::kF32, {2, 64}), IsOk());
  EXPECT_THAT(CheckTensor(view, "x", DType::kF32, {kAnyDim, 64}), IsOk());
  // An empty tensor may have null data.
  EXPECT_THAT(CheckTensor(TensorView(nullptr, DType::kF32, {0, 64}), "x",
                          DType::kF32, {kAnyDim, 64}),
              IsOk());
}

TEST(TensorViewTest, CheckNamesTheArgumentAndBothValues) {
  std::vector<float> data(128);
  TensorView view(data.data(), DType::kF32, {2, 64});
  EXPECT_THAT(CheckTensor(view, "keys", DType::kF32, {kAnyDim, 32}),
              StatusIs(kInvalid, HasSubstr("keys: expected shape [*, 32], "
                                           "got [2, 64]")));
  EXPECT_THAT(CheckTensor(view, "keys", DType::kF32, {128}),
              StatusIs(kInvalid, HasSubstr("expected shape [128]")));
  EXPECT_THAT(CheckTensor(view, "keys", DType::kF16, {2, 64}),
              StatusIs(kInvalid, HasSubstr("expected dtype f16, got f32")));
  EXPECT_THAT(
      CheckTensor(TensorView(nullptr, DType::kF32, {2, 64}), "keys",
                  DType::kF32, {2, 64}),
      StatusIs(kInvalid, HasSubstr("keys: data is null but shape [2, 64]")));
  EXPECT_THAT(CheckTensor(TensorView(data.data(), DType::kF32, {-2, 64}), "v",
                          DType::kF32, {kAnyDim, 64}),
              StatusIs(kInvalid, HasSubstr("negative dimension -2")));
}

TEST(TensorViewTest, AbsurdShapesAreRejectedNotOverflowed) {
  std::vector<float> data(1);
  const int64_t huge = int64_t{1} << 40;
  TensorView view(data.data(), DType::kF32, {huge, huge});
  EXPECT_THAT(CheckTensor(view, "x", DType::kF32, {kAnyDim, kAnyDim}),
              StatusIs(kInvalid, HasSubstr("more than 2^63")));
  TensorView bytes(data.data(), DType::kF32, {int64_t{1} << 62});
  EXPECT_THAT(CheckTensor(bytes, "x", DType::kF32, {kAnyDim}),
              StatusIs(kInvalid, HasSubstr("overflows")));
  EXPECT_THAT(NumElements({3, 0, huge, huge}), IsOkAndHolds(0));
}

}  // namespace
}  // namespace commvq
