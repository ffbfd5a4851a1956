#include "training/value/value_mlp_train.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "commvq/base/random.h"
#include "commvq/base/status_matchers.h"
#include "commvq/base/thread_pool.h"
#include "commvq/quantizer/commvq_value/codebook_fit.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

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
}

}  // namespace
}  // namespace commvq
