#include "commvq/quantizer/commvq_value/mlp_encode.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace commvq {
namespace {

TEST(GeluTest, ValuesAndDerivative) {
  EXPECT_NEAR(Gelu(0.0f), 0.0f, 1e-7);
  EXPECT_NEAR(Gelu(1.0f), 0.8413447f, 1e-6);
  EXPECT_NEAR(Gelu(-1.0f), -0.1586553f, 1e-6);
  for (float x : {-3.0f, -0.7f, 0.0f, 0.4f, 2.5f}) {
    const double h = 1e-3;
    const double fd = (Gelu(x + h) - Gelu(x - h)) / (2 * h);
    EXPECT_NEAR(GeluDerivative(x), fd, 1e-3) << x;
  }
}

TEST(LayerNormTest, NormalizesThenAppliesGainAndBias) {
  const std::vector<float> x = {1, 2, 3, 6};
  const std::vector<float> gamma = {1, 1, 2, 1};
  const std::vector<float> beta = {0, 0, 0, 1};
  std::vector<float> out(4), normalized(4);
  const float rstd = LayerNormForward(x.data(), 4, gamma.data(), beta.data(),
                                      out.data(), normalized.data());
  // Mean 3, variance 3.5.
  EXPECT_NEAR(rstd, 1.0 / std::sqrt(3.5 + 1e-5), 1e-6);
  EXPECT_NEAR(normalized[0], -2 * rstd, 1e-6);
  EXPECT_NEAR(out[2], 0.0, 1e-6);
  EXPECT_NEAR(out[3], 3 * rstd + 1, 1e-6);
}

TEST(CategoriesToBitsTest, ArgmaxOfEachGroupWithTheOfficialMapping) {
  // Group 0: category 2 -> (1, 1); group 1: tie of 0 and 3 -> 0 -> (1, 0);
  // group 2: category 3 -> (0, 0); group 3: category 1 -> (0, 1).
  const std::vector<float> logits = {0, 1, 5, 2, 7,  1, 1,  7,
                                     0, 0, 0, 1, -1, 3, -2, 2};
  std::vector<uint8_t> bits(8);
  CategoriesToBits(logits.data(), 4, bits.data());
  EXPECT_EQ(bits, (std::vector<uint8_t>{1, 1, 1, 0, 0, 0, 0, 1}));
}

TEST(ValueMlpLogitsTest, ComposesTheLayers) {
  // d = 2, hidden = 1, Nc = 2 (one group of 4 logits).
  ValueEncoderWeights w;
  w.hidden = 1;
  w.ln_gamma = {1, 1};
  w.ln_beta = {0, 0};
  w.w1 = {1, -1};
  w.b1 = {0.5f};
  w.w2 = {1, -1, 2, 0};
  w.b2 = {0, 0, 0, 0.25f};
  const std::vector<float> x = {3, 1};
  std::vector<float> logits(4), scratch(3);
  ValueMlpLogits(w, 2, 2, x.data(), logits.data(), scratch.data());
  // LayerNorm of (3, 1) is about (1, -1); the hidden unit is
  // GELU(1 + 1 + 0.5).
  const float h = Gelu(2.5f);
  EXPECT_NEAR(logits[0], h, 1e-4);
  EXPECT_NEAR(logits[1], -h, 1e-4);
  EXPECT_NEAR(logits[2], 2 * h, 1e-4);
  EXPECT_NEAR(logits[3], 0.25f, 1e-4);
}

}  // namespace
}  // namespace commvq
