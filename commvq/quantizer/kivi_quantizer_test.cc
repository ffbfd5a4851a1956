#include "commvq/quantizer/kivi_quantizer.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "commvq/base/float16.h"
#include "commvq/base/status_matchers.h"
#include "commvq/base/thread_pool.h"
#include "commvq/quantizer/options.h"
#include "commvq/quantizer/quantizer_spec.h"
#include "commvq/quantizer/quantizer_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::Encoded;
using ::commvq::testing::IsOk;
using ::commvq::testing::MakeUntrainedQuantizer;
using ::commvq::testing::RandomRows;
using ::commvq::testing::RoundTrip;
using ::commvq::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

absl::StatusOr<std::unique_ptr<Quantizer>> MakeKivi(absl::string_view spec,
                                                    int64_t dim) {
  return MakeUntrainedQuantizer(*MakeKiviQuantizerFactory(), spec, dim);
}

// Range of the group holding element [row, c] of `x` ([n, dim]): channels of
// one token for mode=value, tokens of one channel for mode=key.
std::pair<float, float> GroupRange(const std::vector<float>& x, int64_t dim,
                                   bool key_mode, int64_t group_size,
                                   int64_t row, int64_t c) {
  std::vector<float> group;
  for (int64_t i = 0; i < group_size; ++i) {
    group.push_back(key_mode ? x[(row / group_size * group_size + i) * dim + c]
                             : x[row * dim + c / group_size * group_size + i]);
  }
  const auto [lo, hi] = std::minmax_element(group.begin(), group.end());
  return {*lo, *hi};
}

TEST(KiviQuantizerTest, BitsPerElementAreThoseOfTheCommVqPaper) {
  for (const char* mode : {"key", "value"}) {
    // KIVI-2: 2 code bits + 32 bits of fp16 scale and zero per 32 elements.
    CVQ_ASSERT_OK_AND_ASSIGN(auto kivi2,
                             MakeKivi(absl::StrCat("kivi:mode=", mode), 128));
    EXPECT_EQ(kivi2->layout().BitsPerElement(), 3.0) << mode;
    CVQ_ASSERT_OK_AND_ASSIGN(
        auto kivi1, MakeKivi(absl::StrCat("kivi:mode=", mode, ",bits=1"), 128));
    EXPECT_EQ(kivi1->layout().BitsPerElement(), 2.0) << mode;
  }
}

TEST(KiviQuantizerTest, LayoutOfEachMode) {
  CVQ_ASSERT_OK_AND_ASSIGN(auto value, MakeKivi("kivi:mode=value", 128));
  EXPECT_EQ(value->spec(), "kivi:mode=value,bits=2,group_size=32");
  EXPECT_EQ(value->layout().code_bits, 256);
  EXPECT_EQ(value->layout().code_bytes, 32);
  EXPECT_EQ(value->layout().side_bytes, 4 * 4);  // 4 groups x (scale + zero)
  EXPECT_EQ(value->layout().block_vectors, 1);
  EXPECT_EQ(value->StoredBytes(10), 10 * (32 + 16));
  EXPECT_EQ(value->ParameterBytes(), 0);

  CVQ_ASSERT_OK_AND_ASSIGN(auto key, MakeKivi("kivi:mode=key", 128));
  EXPECT_EQ(key->spec(), "kivi:mode=key,bits=2,group_size=32");
  EXPECT_EQ(key->layout().code_bytes, 32);
  EXPECT_EQ(key->layout().side_bytes, 128 * 4);  // per channel, per block
  EXPECT_EQ(key->layout().block_vectors, 32);
  EXPECT_EQ(key->StoredBytes(64), 64 * 32 + 2 * 128 * 4);
  EXPECT_EQ(key->ParameterBytes(), 0);

  // Key mode: group_size need not divide dim; codes are packed per vector.
  CVQ_ASSERT_OK_AND_ASSIGN(auto odd,
                           MakeKivi("kivi:mode=key,bits=3,group_size=4", 10));
  EXPECT_EQ(odd->layout().code_bits, 30);
  EXPECT_EQ(odd->layout().code_bytes, 4);
  EXPECT_EQ(odd->layout().side_bytes, 40);
  EXPECT_DOUBLE_EQ(odd->layout().BitsPerElement(), 8.0 * (4 + 40 / 4.0) / 10);
}

TEST(KiviQuantizerTest, ValueModeIsExactOnRepresentableValues) {
  CVQ_ASSERT_OK_AND_ASSIGN(auto q,
                           MakeKivi("kivi:mode=value,bits=2,group_size=4", 8));
  const std::vector<float> x = {0, 1, 2, 3, -1.5f, -1.5f, -1.5f, -1.5f};
  EXPECT_EQ(RoundTrip(*q, x).decoded, x);
}

TEST(KiviQuantizerTest, KeyModeIsExactAndStoresScaleAndZeroPerChannel) {
  CVQ_ASSERT_OK_AND_ASSIGN(auto q,
                           MakeKivi("kivi:mode=key,bits=2,group_size=4", 2));
  // Two blocks of four tokens; each channel is representable over its block.
  const std::vector<float> x = {0,  -1.5f, 1, -1.5f, 2, -1.5f, 3,  -1.5f,
                                -4, 0.5f,  0, 1.25f, 2, 0.75f, -2, 1.0f};
  const Encoded e = RoundTrip(*q, x);
  EXPECT_EQ(e.decoded, x);
  // Per block, per channel: fp16 scale, then fp16 zero point.
  ASSERT_EQ(e.side.size(), 2 * 2 * 4u);
  std::vector<uint16_t> params(8);
  std::memcpy(params.data(), e.side.data(), e.side.size());
  const std::vector<float> expected = {1, 0, 0, -1.5f, 2, -4, 0.25f, 0.5f};
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(HalfBitsToFloat(params[i]), expected[i]) << "side value " << i;
  }
  // Codes stay per token: channel 0 in bits 0-1, channel 1 in bits 2-3.
  EXPECT_EQ(e.codes, (std::vector<uint8_t>{0, 1, 2, 3, 0, 2 | 3 << 2,
                                           3 | 1 << 2, 1 | 2 << 2}));
}

TEST(KiviQuantizerTest, ErrorWithinHalfAStepAndShrinksWithBits) {
  constexpr int64_t kRows = 64, kDim = 64, kGroup = 32;
  const std::vector<float> x = RandomRows(kRows, kDim, 7);
  for (const bool key_mode : {true, false}) {
    double previous_mse = 1e30;
    for (int bits : {1, 2, 4, 8}) {
      CVQ_ASSERT_OK_AND_ASSIGN(
          auto q,
          MakeKivi(absl::StrCat("kivi:mode=", key_mode ? "key" : "value",
                                ",bits=", bits),
                   kDim));
      const Encoded e = RoundTrip(*q, x);
      double mse = 0;
      for (int64_t row = 0; row < kRows; ++row) {
        for (int64_t c = 0; c < kDim; ++c) {
          const auto [lo, hi] = GroupRange(x, kDim, key_mode, kGroup, row, c);
          // Half a quantization step, plus fp16 rounding of scale and zero.
          const float step = (hi - lo) / ((1 << bits) - 1);
          const float bound = 0.5f * step + 2e-3f * (std::abs(lo) + hi - lo);
          const int64_t i = row * kDim + c;
          EXPECT_LE(std::abs(e.decoded[i] - x[i]), bound)
              << q->spec() << ", element [" << row << ", " << c << "]";
          mse += (e.decoded[i] - x[i]) * (e.decoded[i] - x[i]);
        }
      }
      EXPECT_LT(mse, previous_mse) << q->spec();
      previous_mse = mse;
    }
  }
}

// Why KIVI quantizes keys per channel: an outlier channel only coarsens its
// own groups, instead of every token's group that contains it.
TEST(KiviQuantizerTest, KeyModeConfinesAnOutlierChannel) {
  constexpr int64_t kRows = 64, kDim = 32, kOutlier = 5;
  std::vector<float> x = RandomRows(kRows, kDim, 9);
  for (int64_t row = 0; row < kRows; ++row) x[row * kDim + kOutlier] += 100;
  double mse[2] = {0, 0};
  for (const bool key_mode : {true, false}) {
    CVQ_ASSERT_OK_AND_ASSIGN(
        auto q, MakeKivi(key_mode ? "kivi:mode=key" : "kivi:mode=value", kDim));
    const Encoded e = RoundTrip(*q, x);
    for (int64_t i = 0; i < kRows * kDim; ++i) {
      if (i % kDim == kOutlier) continue;
      mse[key_mode] += (e.decoded[i] - x[i]) * (e.decoded[i] - x[i]);
    }
  }
  EXPECT_LT(10 * mse[true], mse[false]);
}

TEST(KiviQuantizerTest, KeyModeNeedsWholeBlocksOfTokens) {
  CVQ_ASSERT_OK_AND_ASSIGN(auto q, MakeKivi("kivi:mode=key", 4));
  const std::vector<float> x(33 * 4, 1.0f);
  std::vector<uint8_t> codes(33), side(16);
  EXPECT_THAT(
      q->Encode(TensorView(x.data(), DType::kF32, {33, 4}),
                MutableTensorView(codes.data(), DType::kU8, {33, 1}),
                MutableTensorView(side.data(), DType::kU8, {1, 16})),
      StatusIs(kInvalid,
               HasSubstr("input: 33 vectors is not a multiple of the block "
                         "size 32 of quantizer "
                         "'kivi:mode=key,bits=2,group_size=32'")));
  std::vector<float> out(33 * 4);
  EXPECT_THAT(
      q->Decode(TensorView(codes.data(), DType::kU8, {33, 1}),
                TensorView(side.data(), DType::kU8, {1, 16}),
                MutableTensorView(out.data(), DType::kF32, {33, 4})),
      StatusIs(kInvalid, HasSubstr("codes: 33 vectors is not a multiple of "
                                   "the block size 32")));
}

TEST(KiviQuantizerTest, ModeIsRequiredAndChecked) {
  EXPECT_THAT(MakeKivi("kivi", 64),
              StatusIs(kInvalid, HasSubstr("missing required option 'mode'")));
  EXPECT_THAT(MakeKivi("kivi:bits=2,group_size=32", 64),
              StatusIs(kInvalid, HasSubstr("'mode'")));
  EXPECT_THAT(MakeKivi("kivi:mode=keys", 64),
              StatusIs(kInvalid, AllOf(HasSubstr("option 'mode'"),
                                       HasSubstr("one of key|value"))));
}

TEST(KiviQuantizerTest, ValueModeGroupSizeMustDivideDim) {
  EXPECT_THAT(MakeKivi("kivi:mode=value,group_size=24", 64),
              StatusIs(kInvalid, HasSubstr("group_size 24 does not divide "
                                           "dim 64")));
  // Key mode groups tokens, so any dim goes.
  EXPECT_THAT(MakeKivi("kivi:mode=key,group_size=24", 64), IsOk());
}

TEST(KiviQuantizerTest, ValuesBeyondFp16ScaleRangeAreAnError) {
  const std::vector<float> x = {-1e6f, 1e6f};
  std::vector<uint8_t> codes(2), side(4);
  CVQ_ASSERT_OK_AND_ASSIGN(auto value,
                           MakeKivi("kivi:mode=value,group_size=2", 2));
  EXPECT_THAT(
      value->Encode(TensorView(x.data(), DType::kF32, {1, 2}),
                    MutableTensorView(codes.data(), DType::kU8, {1, 1}),
                    MutableTensorView(side.data(), DType::kU8, {1, 4})),
      StatusIs(kInvalid,
               HasSubstr("channels [0, 2) of a vector: values "
                         "span [-1e+06, 1e+06], beyond the fp16 range")));
  CVQ_ASSERT_OK_AND_ASSIGN(auto key, MakeKivi("kivi:mode=key,group_size=2", 1));
  EXPECT_THAT(
      key->Encode(TensorView(x.data(), DType::kF32, {2, 1}),
                  MutableTensorView(codes.data(), DType::kU8, {2, 1}),
                  MutableTensorView(side.data(), DType::kU8, {1, 4})),
      StatusIs(kInvalid,
               HasSubstr("channel 0 over a block of 2 vectors: "
                         "values span [-1e+06, 1e+06]")));
}

TEST(KiviQuantizerTest, KeyModeThreadPoolGivesIdenticalResults) {
  CVQ_ASSERT_OK_AND_ASSIGN(auto q, MakeKivi("kivi:mode=key,bits=4", 16));
  const std::vector<float> x = RandomRows(32 * 100, 16, 5);
  ThreadPool pool(4);
  const Encoded serial = RoundTrip(*q, x);
  const Encoded parallel = RoundTrip(*q, x, &pool);
  EXPECT_EQ(serial.codes, parallel.codes);
  EXPECT_EQ(serial.side, parallel.side);
  EXPECT_EQ(serial.decoded, parallel.decoded);
}

TEST(KiviQuantizerTest, DeserializeNeedsAnEmptyPayload) {
  auto factory = MakeKiviQuantizerFactory();
  CVQ_ASSERT_OK_AND_ASSIGN(QuantizerSpec spec,
                           ParseQuantizerSpec("kivi:mode=key,bits=1"));
  CVQ_ASSERT_OK_AND_ASSIGN(
      ResolvedOptions options,
      ResolveOptions(factory->description().options, spec));
  CVQ_ASSERT_OK_AND_ASSIGN(auto q, factory->Deserialize(options, 16, ""));
  EXPECT_EQ(q->spec(), "kivi:mode=key,bits=1,group_size=32");
  EXPECT_EQ(q->layout().block_vectors, 32);
  EXPECT_EQ(q->layout().side_bytes, 16 * 4);
  EXPECT_THAT(factory->Deserialize(options, 16, "abc"),
              StatusIs(kInvalid, HasSubstr("kivi quantizer: expected an "
                                           "empty payload, got 3 bytes")));
}

}  // namespace
}  // namespace commvq
