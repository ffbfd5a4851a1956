#include "commvq/eval/exact_attention.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace commvq {
namespace {

TEST(ExactAttentionTest, SoftmaxWeightsAndTheirOutput) {
  // Keys and values interleaved with another head's (stride 4 of 2 used).
  const std::vector<float> q = {1.0f, 2.0f};
  const std::vector<float> kv = {1, 0, 9, 9,   // key 0
                                 0, 1, 9, 9,   // key 1
                                 1, 1, 9, 9};  // key 2
  std::vector<double> weights(3), output(2);
  ExactAttention(q.data(), kv.data(), kv.data(), 3, 2, 4, 0.5, weights.data(),
                 output.data());
  // Logits 0.5, 1.0, 1.5.
  const double z = std::exp(0.5) + std::exp(1.0) + std::exp(1.5);
  EXPECT_NEAR(weights[0], std::exp(0.5) / z, 1e-12);
  EXPECT_NEAR(weights[1], std::exp(1.0) / z, 1e-12);
  EXPECT_NEAR(weights[2], std::exp(1.5) / z, 1e-12);
  EXPECT_NEAR(output[0], weights[0] + weights[2], 1e-12);
  EXPECT_NEAR(output[1], weights[1] + weights[2], 1e-12);
  // Large logits do not overflow.
  const std::vector<float> big = {1000.0f, 0.0f};
  ExactAttention(big.data(), kv.data(), kv.data(), 3, 2, 4, 1.0, nullptr,
                 output.data());
  EXPECT_NEAR(output[0], 1.0, 1e-12);
  EXPECT_NEAR(output[1], 0.5, 1e-12);
}

}  // namespace
}  // namespace commvq
