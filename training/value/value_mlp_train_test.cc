#include "training/value/value_mlp_train.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "commvq/base/pair_layout.h"
#include "commvq/base/random.h"
#include "commvq/base/status_matchers.h"
#include "commvq/base/thread_pool.h"
#include "commvq/kvcache/rope.h"
#include "commvq/quantizer/commvq_value/codebook_fit.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "training/value/value_attention_blocks.h"

namespace commvq {
namespace {

using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

constexpr int64_t kN = 256, kDim = 12, kBits = 12;

// Unit rows of a low-dimensional family.
std::vector<float> Units(uint64_t seed) {
  Rng rng(seed);
  std::vector<float> basis(3 * kDim);
  rng.FillNormal(absl::MakeSpan(basis), 0.0f, 1.0f);
  std::vector<float> units(kN * kDim);
  for (int64_t r = 0; r < kN; ++r) {
    const double a = rng.Normal(), b = rng.Normal(), c = rng.Normal();
    double norm2 = 0.0;
    for (int64_t d = 0; d < kDim; ++d) {
      const double v =
          a * basis[d] + b * basis[kDim + d] + c * basis[2 * kDim + d] + 0.5;
      units[r * kDim + d] = static_cast<float>(v);
      norm2 += v * v;
    }
    for (int64_t d = 0; d < kDim; ++d) {
      units[r * kDim + d] /= static_cast<float>(std::sqrt(norm2));
    }
  }
  return units;
}

class ValueMlpTrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    units_ = Units(1);
    ValueCodebookTrainOptions fit;
    fit.iterations = 3;
    CVQ_ASSERT_OK_AND_ASSIGN(search_, TrainValueCodebookBySearch(
                                          units_.data(), kN, kDim, kBits, fit));
  }
  std::vector<float> units_;
  ValueCodebookTrainResult search_;
};

TEST_F(ValueMlpTrainTest, LossesFall) {
  ValueMlpTrainOptions options;
  options.distill_epochs = 4;
  options.epochs = 6;
  options.batch = 32;
  options.learning_rate = 3e-3;
  CVQ_ASSERT_OK_AND_ASSIGN(
      const ValueMlpTrainResult result,
      TrainValueMlp(units_.data(), kN, kDim, search_.codebook.data(), kBits,
                    search_.bits.data(), options));
  ASSERT_EQ(result.distill_loss.size(), 4u);
  ASSERT_EQ(result.reconstruction_loss.size(), 6u);
  EXPECT_LT(result.distill_loss.back(), 0.9 * result.distill_loss.front());
  EXPECT_LT(result.reconstruction_loss.back(),
            0.7 * result.reconstruction_loss.front());
  EXPECT_EQ(result.weights.hidden, 2 * kBits);
}

TEST_F(ValueMlpTrainTest, DeterministicForASeedWhateverThePool) {
  ValueMlpTrainOptions options;
  options.distill_epochs = 1;
  options.epochs = 1;
  options.batch = 40;  // five shards, the last one partial
  options.seed = 5;
  CVQ_ASSERT_OK_AND_ASSIGN(
      const ValueMlpTrainResult serial,
      TrainValueMlp(units_.data(), kN, kDim, search_.codebook.data(), kBits,
                    search_.bits.data(), options));
  ThreadPool pool(3);
  options.pool = &pool;
  CVQ_ASSERT_OK_AND_ASSIGN(
      const ValueMlpTrainResult pooled,
      TrainValueMlp(units_.data(), kN, kDim, search_.codebook.data(), kBits,
                    search_.bits.data(), options));
  EXPECT_EQ(serial.weights.w1, pooled.weights.w1);
  EXPECT_EQ(serial.weights.w2, pooled.weights.w2);
  EXPECT_EQ(serial.weights.ln_gamma, pooled.weights.ln_gamma);
  EXPECT_EQ(serial.reconstruction_loss, pooled.reconstruction_loss);
}

// Blocks of 16 tokens whose values are the unit rows, with random queries
// and keys of 4 query heads over 2 KV heads of 6 channels.
ValueAttentionData AttentionData(const std::vector<float>& values) {
  Rng rng(9);
  std::vector<float> q(kN * 4 * 6), k(kN * kDim);
  rng.FillNormal(absl::MakeSpan(q), 0.0f, 1.0f);
  rng.FillNormal(absl::MakeSpan(k), 0.0f, 1.0f);
  const Rope rope = Rope::Create(6, 10000.0, PairLayout::kInterleaved).value();
  ValueAttentionData data =
      BuildValueAttentionData(q.data(), k.data(), values.data(), kN, 4, 2, rope,
                              EvenBlockStarts(kN, 16, 4), 16, nullptr)
          .value();
  PrescaleValueAttention(ValueChannelScale(values.data(), kN, kDim), &data);
  return data;
}

TEST_F(ValueMlpTrainTest, AttentionTermFallsAndStaysDeterministic) {
  const ValueAttentionData attention = AttentionData(units_);
  ValueMlpTrainOptions options;
  options.distill_epochs = 1;
  options.epochs = 6;
  options.batch = 32;
  options.learning_rate = 3e-3;
  options.attention = &attention;
  options.attention_weight = 1.0;
  CVQ_ASSERT_OK_AND_ASSIGN(
      const ValueMlpTrainResult serial,
      TrainValueMlp(units_.data(), kN, kDim, search_.codebook.data(), kBits,
                    search_.bits.data(), options));
  ASSERT_EQ(serial.attention_loss.size(), 6u);
  EXPECT_LT(serial.attention_loss.back(), serial.attention_loss.front());
  ThreadPool pool(3);
  options.pool = &pool;
  CVQ_ASSERT_OK_AND_ASSIGN(
      const ValueMlpTrainResult pooled,
      TrainValueMlp(units_.data(), kN, kDim, search_.codebook.data(), kBits,
                    search_.bits.data(), options));
  EXPECT_EQ(serial.weights.w1, pooled.weights.w1);
  EXPECT_EQ(serial.attention_loss, pooled.attention_loss);
  // Without the term the weights differ.
  options.attention_weight = 0.0;
  CVQ_ASSERT_OK_AND_ASSIGN(
      const ValueMlpTrainResult plain,
      TrainValueMlp(units_.data(), kN, kDim, search_.codebook.data(), kBits,
                    search_.bits.data(), options));
  EXPECT_TRUE(plain.attention_loss.empty());
  EXPECT_NE(plain.weights.w1, pooled.weights.w1);
}

TEST_F(ValueMlpTrainTest, RejectsBadOptions) {
  ValueMlpTrainOptions options;
  options.batch = 0;
  EXPECT_THAT(
      TrainValueMlp(units_.data(), kN, kDim, search_.codebook.data(), kBits,
                    nullptr, options),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("batch 0")));
  EXPECT_THAT(
      TrainValueMlp(units_.data(), kN, kDim, search_.codebook.data(), 7,
                    nullptr, ValueMlpTrainOptions()),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("7 code bits")));
  ValueAttentionData unscaled = AttentionData(units_);
  for (ValueAttentionBlock& block : unscaled.blocks) block.units.clear();
  options = ValueMlpTrainOptions();
  options.attention = &unscaled;
  options.attention_weight = 1.0;
  EXPECT_THAT(
      TrainValueMlp(units_.data(), kN, kDim, search_.codebook.data(), kBits,
                    nullptr, options),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("prescaled: no")));
}

}  // namespace
}  // namespace commvq
