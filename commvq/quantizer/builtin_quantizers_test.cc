// Behaviour specific to the built-in fp16, bf16 and int quantizers, and the
// input validation every quantizer inherits from Quantizer::Encode/Decode.
// (Properties shared by all quantizers belong in the conformance suite.)
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "commvq/base/float16.h"
#include "commvq/base/random.h"
#include "commvq/base/status_matchers.h"
#include "commvq/base/thread_pool.h"
#include "commvq/quantizer/float_quantizer.h"
#include "commvq/quantizer/int_quantizer.h"
#include "commvq/quantizer/quantizer_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::IsOk;
using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

using ::commvq::testing::Encoded;
using ::commvq::testing::RandomRows;
using ::commvq::testing::RoundTrip;

absl::StatusOr<std::unique_ptr<Quantizer>> Make(const QuantizerFactory& factory,
                                                absl::string_view spec,
                                                int64_t dim) {
  return ::commvq::testing::MakeUntrainedQuantizer(factory, spec, dim);
}

TEST(IntQuantizerTest, LayoutCountsCodesScalesAndZeroPoints) {
  auto factory = MakeIntQuantizerFactory();
  CVQ_ASSERT_OK_AND_ASSIGN(auto q2, Make(*factory, "int:bits=2", 64));
  EXPECT_EQ(q2->spec(), "int:bits=2,group_size=32");
  EXPECT_EQ(q2->layout().code_bytes, 16);
  EXPECT_EQ(q2->layout().side_bytes, 2 * 4);  // two groups x (scale + zero)
  // 2 code bits + 32 bits of fp16 scale and zero per 32 elements.
  EXPECT_DOUBLE_EQ(q2->layout().BitsPerElement(), 3.0);
  EXPECT_EQ(q2->StoredBytes(10), 10 * (16 + 8));
  CVQ_ASSERT_OK_AND_ASSIGN(auto q3, Make(*factory, "int:bits=3,group_size=8", 40));
  EXPECT_EQ(q3->layout().code_bits, 120);
  EXPECT_EQ(q3->layout().code_bytes, 15);
  EXPECT_DOUBLE_EQ(q3->layout().BitsPerElement(), 3.0 + 32.0 / 8.0);
}

TEST(IntQuantizerTest, ExactOnRepresentableValues) {
  auto factory = MakeIntQuantizerFactory();
  CVQ_ASSERT_OK_AND_ASSIGN(auto q, Make(*factory, "int:bits=2,group_size=4", 8));
  const std::vector<float> x = {0, 1, 2, 3, -1.5f, -1.5f, -1.5f, -1.5f};
  EXPECT_EQ(RoundTrip(*q, x).decoded, x);
}

TEST(IntQuantizerTest, ErrorWithinHalfAStepAndShrinksWithBits) {
  auto factory = MakeIntQuantizerFactory();
  const std::vector<float> x = RandomRows(64, 64, 7);
  double previous_mse = 1e30;
  for (int bits : {1, 2, 4, 8}) {
    CVQ_ASSERT_OK_AND_ASSIGN(
        auto q, Make(*factory, absl::StrCat("int:bits=", bits), 64));
    const Encoded e = RoundTrip(*q, x);
    double mse = 0;
    for (int64_t row = 0; row < 64; ++row) {
      for (int64_t g = 0; g < 2; ++g) {
        const float* group = x.data() + row * 64 + g * 32;
        const auto [lo, hi] = std::minmax_element(group, group + 32);
        // Half a quantization step, plus fp16 rounding of scale and zero.
        const float step = (*hi - *lo) / ((1 << bits) - 1);
        const float bound = 0.5f * step + 2e-3f * (std::abs(*lo) + *hi - *lo);
        for (int c = 0; c < 32; ++c) {
          const int64_t i = row * 64 + g * 32 + c;
          EXPECT_LE(std::abs(e.decoded[i] - x[i]), bound) << "bits " << bits;
          mse += (e.decoded[i] - x[i]) * (e.decoded[i] - x[i]);
        }
      }
    }
    EXPECT_LT(mse, previous_mse);
    previous_mse = mse;
  }
}

TEST(IntQuantizerTest, GroupSizeMustDivideDim) {
  auto factory = MakeIntQuantizerFactory();
  EXPECT_THAT(Make(*factory, "int:group_size=24", 64),
              StatusIs(kInvalid, HasSubstr("group_size 24 does not divide "
                                           "dim 64")));
}

TEST(IntQuantizerTest, ValuesBeyondFp16ScaleRangeAreAnError) {
  auto factory = MakeIntQuantizerFactory();
  CVQ_ASSERT_OK_AND_ASSIGN(auto q, Make(*factory, "int:bits=2,group_size=2", 2));
  const std::vector<float> x = {-1e6f, 1e6f};
  std::vector<uint8_t> codes(1), side(4);
  EXPECT_THAT(
      q->Encode(TensorView(x.data(), DType::kF32, {1, 2}),
                MutableTensorView(codes.data(), DType::kU8, {1, 1}),
                MutableTensorView(side.data(), DType::kU8, {1, 4})),
      StatusIs(kInvalid, HasSubstr("beyond the fp16 range")));
}

TEST(FloatQuantizerTest, Fp16AndBf16MatchTheirConversions) {
  const std::vector<float> x = RandomRows(5, 16, 3);
  CVQ_ASSERT_OK_AND_ASSIGN(auto fp16, Make(*MakeFp16QuantizerFactory(), "fp16", 16));
  CVQ_ASSERT_OK_AND_ASSIGN(auto bf16, Make(*MakeBf16QuantizerFactory(), "bf16", 16));
  EXPECT_DOUBLE_EQ(fp16->layout().BitsPerElement(), 16.0);
  const Encoded h = RoundTrip(*fp16, x);
  const Encoded b = RoundTrip(*bf16, x);
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(h.decoded[i], HalfBitsToFloat(FloatToHalfBits(x[i])));
    EXPECT_EQ(b.decoded[i], Bfloat16BitsToFloat(FloatToBfloat16Bits(x[i])));
  }
}

TEST(FloatQuantizerTest, Fp16OverflowIsAnErrorNotInf) {
  CVQ_ASSERT_OK_AND_ASSIGN(auto fp16, Make(*MakeFp16QuantizerFactory(), "fp16", 2));
  const std::vector<float> x = {1.0f, 70000.0f};
  std::vector<uint8_t> codes(4);
  EXPECT_THAT(fp16->Encode(TensorView(x.data(), DType::kF32, {1, 2}),
                           MutableTensorView(codes.data(), DType::kU8, {1, 4}),
                           MutableTensorView(nullptr, DType::kU8, {1, 0})),
              StatusIs(kInvalid, HasSubstr("element [0, 1] = 70000")));
}

// Input validation is shared by every quantizer through Quantizer::Encode.
class EncodeValidationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto made = Make(*MakeIntQuantizerFactory(), "int:bits=4,group_size=8", 16);
    ASSERT_THAT(made, IsOk());
    q_ = *std::move(made);
  }
  absl::Status Encode(const TensorView& input, int64_t n) {
    codes_.assign(n * 8, 0);
    side_.assign(n * 8, 0);
    return q_->Encode(input, MutableTensorView(codes_.data(), DType::kU8, {n, 8}),
                      MutableTensorView(side_.data(), DType::kU8, {n, 8}));
  }
  std::unique_ptr<Quantizer> q_;
  std::vector<uint8_t> codes_, side_;
};

TEST_F(EncodeValidationTest, RejectsNanAndInfNamingTheElement) {
  std::vector<float> x(3 * 16, 0.5f);
  x[2 * 16 + 5] = std::nanf("");
  EXPECT_THAT(Encode(TensorView(x.data(), DType::kF32, {3, 16}), 3),
              StatusIs(kInvalid, HasSubstr("input: element [2, 5] is nan")));
  x[2 * 16 + 5] = -INFINITY;
  EXPECT_THAT(Encode(TensorView(x.data(), DType::kF32, {3, 16}), 3),
              StatusIs(kInvalid, HasSubstr("element [2, 5] is -inf")));
}

TEST_F(EncodeValidationTest, RejectsWrongShapesDtypesAndNull) {
  std::vector<float> x(32, 1.0f);
  EXPECT_THAT(Encode(TensorView(x.data(), DType::kF32, {2, 15}), 2),
              StatusIs(kInvalid, HasSubstr("input: expected shape [*, 16], "
                                           "got [2, 15]")));
  EXPECT_THAT(Encode(TensorView(x.data(), DType::kU8, {2, 16}), 2),
              StatusIs(kInvalid, HasSubstr("expected dtype f32, f16 or bf16, "
                                           "got u8")));
  EXPECT_THAT(Encode(TensorView(nullptr, DType::kF32, {2, 16}), 2),
              StatusIs(kInvalid, HasSubstr("input: data is null")));
  // Codes buffer sized for one row, input has two.
  EXPECT_THAT(Encode(TensorView(x.data(), DType::kF32, {2, 16}), 1),
              StatusIs(kInvalid, HasSubstr("codes: expected shape [2, 8], "
                                           "got [1, 8]")));
  std::vector<float> out(32);
  std::vector<uint8_t> codes(16), side(16);
  EXPECT_THAT(
      q_->Decode(TensorView(codes.data(), DType::kU8, {2, 8}),
                 TensorView(side.data(), DType::kU8, {2, 8}),
                 MutableTensorView(out.data(), DType::kF32, {2, 17})),
      StatusIs(kInvalid, HasSubstr("output: expected shape [2, 16]")));
}

TEST_F(EncodeValidationTest, HalfPrecisionInputEncodesLikeItsF32Value) {
  std::vector<float> x = RandomRows(4, 16, 11);
  std::vector<uint16_t> half(x.size()), brain(x.size());
  FloatsToHalves(x, absl::MakeSpan(half));
  FloatsToBfloat16s(x, absl::MakeSpan(brain));
  std::vector<float> from_half(x.size()), from_brain(x.size());
  HalvesToFloats(half, absl::MakeSpan(from_half));
  Bfloat16sToFloats(brain, absl::MakeSpan(from_brain));

  ASSERT_THAT(Encode(TensorView(half.data(), DType::kF16, {4, 16}), 4), IsOk());
  const std::vector<uint8_t> half_codes = codes_;
  ASSERT_THAT(Encode(TensorView(from_half.data(), DType::kF32, {4, 16}), 4), IsOk());
  EXPECT_EQ(half_codes, codes_);
  ASSERT_THAT(Encode(TensorView(brain.data(), DType::kBF16, {4, 16}), 4), IsOk());
  const std::vector<uint8_t> brain_codes = codes_;
  ASSERT_THAT(Encode(TensorView(from_brain.data(), DType::kF32, {4, 16}), 4), IsOk());
  EXPECT_EQ(brain_codes, codes_);
}

TEST_F(EncodeValidationTest, ThreadPoolGivesIdenticalResults) {
  const std::vector<float> x = RandomRows(3000, 16, 5);
  ThreadPool pool(4);
  const Encoded serial = RoundTrip(*q_, x);
  const Encoded parallel = RoundTrip(*q_, x, &pool);
  EXPECT_EQ(serial.codes, parallel.codes);
  EXPECT_EQ(serial.side, parallel.side);
  EXPECT_EQ(serial.decoded, parallel.decoded);
}

}  // namespace
}  // namespace commvq
