// The attention-output term: its gradient against finite differences, and
// the blocks built from queries and keys against a direct computation.
#include "training/value/value_attention_loss.h"

#include <cmath>
#include <cstdint>
#include <functional>
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
#include "training/value/value_mlp_grad.h"

namespace commvq {
namespace {

using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

constexpr int64_t kHeads = 4, kKvHeads = 2, kHeadDim = 4;
constexpr int64_t kDim = kKvHeads * kHeadDim;
constexpr int64_t kTokens = 12, kWindow = 4, kBits = 6;

std::vector<float> Normals(int64_t n, float stddev, uint64_t seed) {
  std::vector<float> v(n);
  Rng rng(seed);
  rng.FillNormal(absl::MakeSpan(v), 0.0f, stddev);
  return v;
}

// Blocks of random queries, keys and values, prescaled by their own scale.
ValueAttentionData RandomData(ThreadPool* pool) {
  const std::vector<float> q = Normals(kTokens * kHeads * kHeadDim, 1.0f, 1);
  const std::vector<float> k = Normals(kTokens * kDim, 1.0f, 2);
  const std::vector<float> v = Normals(kTokens * kDim, 1.0f, 3);
  const Rope rope =
      Rope::Create(kHeadDim, 10000.0, PairLayout::kInterleaved).value();
  ValueAttentionData data =
      BuildValueAttentionData(q.data(), k.data(), v.data(), kTokens, kHeads,
                              kKvHeads, rope, {0, 5, 8}, kWindow, pool)
          .value();
  PrescaleValueAttention(ValueChannelScale(v.data(), kTokens, kDim), &data);
  return data;
}

TEST(ValueAttentionLossTest, GradientMatchesFiniteDifferences) {
  const ValueAttentionData data = RandomData(nullptr);
  const std::vector<float> codebook = Normals(kBits * kDim, 0.3f, 4);
  Rng rng(5);
  std::vector<double> s(kWindow * kBits);
  for (double& x : s) x = rng.Uniform();
  std::vector<double> ds(s.size()), scratch(s.size());
  for (const ValueAttentionBlock& block : data.blocks) {
    const auto loss = [&] {
      return AttentionOutputLoss(data, block, codebook.data(), kBits, s.data(),
                                 0.7, scratch.data());
    };
    const double value = AttentionOutputLoss(data, block, codebook.data(),
                                             kBits, s.data(), 0.7, ds.data());
    EXPECT_GT(value, 0.0);
    for (size_t i = 0; i < s.size(); ++i) {
      const double saved = s[i];
      const double h = 1e-3;
      s[i] = saved + h;
      const double up = loss();
      s[i] = saved - h;
      const double down = loss();
      s[i] = saved;
      const double fd = (up - down) / (2.0 * h);
      EXPECT_NEAR(ds[i], fd, 1e-5 + 1e-4 * std::fabs(fd)) << i;
    }
  }
}

TEST(ValueAttentionLossTest, GradientThroughSoftCodesMatchesFiniteDifferences) {
  const ValueAttentionData data = RandomData(nullptr);
  const ValueAttentionBlock& block = data.blocks[1];
  const std::vector<float> codebook = Normals(kBits * kDim, 0.3f, 6);
  const std::vector<float> noise = Normals(kWindow * 2 * kBits, 0.5f, 7);
  std::vector<float> logits = Normals(kWindow * 2 * kBits, 1.0f, 8);
  // The trainer's composition with soft codes: logits -> s -> loss.
  const auto run = [&](std::vector<float>* dlogits) {
    std::vector<double> soft(kWindow * 2 * kBits), s(kWindow * kBits),
        ds(kWindow * kBits);
    for (int64_t t = 0; t < kWindow; ++t) {
      GumbelBits(&logits[t * 2 * kBits], &noise[t * 2 * kBits], 1.0, false,
                 kBits, &soft[t * 2 * kBits], &s[t * kBits]);
    }
    const double loss = AttentionOutputLoss(data, block, codebook.data(), kBits,
                                            s.data(), 1.0, ds.data());
    for (int64_t t = 0; t < kWindow; ++t) {
      GumbelBitsBackward(&soft[t * 2 * kBits], &ds[t * kBits], 1.0, kBits,
                         &(*dlogits)[t * 2 * kBits]);
    }
    return loss;
  };
  std::vector<float> dlogits(logits.size()), scratch(logits.size());
  run(&dlogits);
  for (size_t i = 0; i < logits.size(); ++i) {
    const float saved = logits[i];
    const float h = 1e-2f;
    logits[i] = saved + h;
    const double up = run(&scratch);
    logits[i] = saved - h;
    const double down = run(&scratch);
    logits[i] = saved;
    const double fd = (up - down) / (2.0 * h);
    EXPECT_NEAR(dlogits[i], fd, 1e-5 + 2e-3 * std::fabs(fd)) << i;
  }
}

TEST(ValueAttentionLossTest, ExactCodesCostNothing) {
  ValueAttentionData data = RandomData(nullptr);
  // A codebook of the identity reproduces a unit row u exactly when its
  // bits are u itself (relaxed bits in [0, 1] are allowed by the loss).
  std::vector<float> identity(kDim * kDim, 0.0f);
  for (int64_t c = 0; c < kDim; ++c) identity[c * kDim + c] = 1.0f;
  const ValueAttentionBlock& block = data.blocks[0];
  std::vector<double> s(block.units.begin(), block.units.end());
  std::vector<double> ds(s.size());
  EXPECT_NEAR(AttentionOutputLoss(data, block, identity.data(), kDim, s.data(),
                                  1.0, ds.data()),
              0.0, 1e-12);
}

TEST(ValueAttentionBlocksTest, WeightsAreTheCausalSoftmax) {
  ThreadPool pool(2);
  const ValueAttentionData pooled = RandomData(&pool);
  const ValueAttentionData serial = RandomData(nullptr);
  ASSERT_EQ(pooled.blocks.size(), 3u);
  for (size_t b = 0; b < 3; ++b) {
    EXPECT_EQ(pooled.blocks[b].probs, serial.blocks[b].probs);
  }
  // Block 0 starts at token 0: each query's whole prefix lies in the block,
  // so its weights sum to 1, and future tokens get none.
  const ValueAttentionBlock& first = pooled.blocks[0];
  for (int64_t h = 0; h < kHeads; ++h) {
    for (int64_t i = 0; i < kWindow; ++i) {
      const float* p = &first.probs[(h * kWindow + i) * kWindow];
      double sum = 0.0;
      for (int64_t t = 0; t < kWindow; ++t) {
        if (t > i) {
          EXPECT_EQ(p[t], 0.0f);
        }
        sum += p[t];
      }
      EXPECT_NEAR(sum, 1.0, 1e-5);
    }
  }
  // ... and the exact outputs of its weights give its output energy.
  double energy = 0.0;
  for (int64_t h = 0; h < kHeads; ++h) {
    const int64_t offset = (h / (kHeads / kKvHeads)) * kHeadDim;
    for (int64_t i = 0; i < kWindow; ++i) {
      for (int64_t c = 0; c < kHeadDim; ++c) {
        double o = 0.0;
        for (int64_t t = 0; t <= i; ++t) {
          o += first.probs[(h * kWindow + i) * kWindow + t] *
               first.values[t * kDim + offset + c];
        }
        energy += o * o;
      }
    }
  }
  EXPECT_NEAR(first.output_energy, energy, 1e-4 * energy);
  // Later blocks see only part of their prefix.
  const float* last = &pooled.blocks[2].probs[0];
  EXPECT_LT(last[0], 1.0f);
}

TEST(ValueAttentionBlocksTest, RejectsBlocksThatDoNotFit) {
  const std::vector<float> x(kTokens * kHeads * kHeadDim, 0.0f);
  const Rope rope =
      Rope::Create(kHeadDim, 10000.0, PairLayout::kInterleaved).value();
  EXPECT_THAT(
      BuildValueAttentionData(x.data(), x.data(), x.data(), kTokens, kHeads,
                              kKvHeads, rope, {10}, kWindow, nullptr),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("block [10, 14)")));
  EXPECT_THAT(
      BuildValueAttentionData(x.data(), x.data(), x.data(), kTokens, 3,
                              kKvHeads, rope, {0}, kWindow, nullptr),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("3 query heads")));
}

TEST(ValueAttentionBlocksTest, EvenStartsSpreadOverTheTokens) {
  EXPECT_EQ(EvenBlockStarts(100, 10, 3), (std::vector<int64_t>{0, 45, 90}));
  EXPECT_EQ(EvenBlockStarts(25, 10, 5), (std::vector<int64_t>{0, 15}));
  EXPECT_TRUE(EvenBlockStarts(5, 10, 3).empty());
}

}  // namespace
}  // namespace commvq
