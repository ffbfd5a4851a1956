// Every backward pass of value_mlp_grad.h against central finite
// differences of its forward pass.
#include "training/value/value_mlp_grad.h"

#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "absl/types/span.h"
#include "commvq/base/random.h"
#include "commvq/quantizer/commvq_value/search_reference.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

constexpr int64_t kDim = 6;
constexpr int64_t kBits = 4;  // two groups, 8 logits
constexpr int64_t kHidden = 5;

std::vector<float> Normals(int64_t n, float stddev, uint64_t seed) {
  std::vector<float> v(n);
  Rng rng(seed);
  rng.FillNormal(absl::MakeSpan(v), 0.0f, stddev);
  return v;
}

ValueEncoderWeights RandomWeights() {
  ValueEncoderWeights w;
  w.hidden = kHidden;
  w.ln_gamma = Normals(kDim, 0.3f, 1);
  for (float& g : w.ln_gamma) g += 1.0f;
  w.ln_beta = Normals(kDim, 0.3f, 2);
  w.w1 = Normals(kHidden * kDim, 0.5f, 3);
  w.b1 = Normals(kHidden, 0.5f, 4);
  w.w2 = Normals(2 * kBits * kHidden, 0.5f, 5);
  w.b2 = Normals(2 * kBits, 0.5f, 6);
  return w;
}

// Central difference of f at v[i] (v is changed and restored).
double FiniteDifference(std::vector<float>& v, size_t i,
                        const std::function<double()>& f) {
  const float h = 1e-2f;
  const float saved = v[i];
  v[i] = saved + h;
  const double up = f();
  v[i] = saved - h;
  const double down = f();
  v[i] = saved;
  return (up - down) / (2.0 * h);
}

TEST(ValueMlpGradTest, NetworkBackwardMatchesFiniteDifferences) {
  ValueEncoderWeights w = RandomWeights();
  const std::vector<float> x = Normals(kDim, 1.0f, 7);
  // L = c . logits for fixed c: its logit gradient is c.
  const std::vector<float> c = Normals(2 * kBits, 1.0f, 8);
  const auto loss = [&] {
    ValueMlpActivations act;
    ValueMlpForward(w, kDim, kBits, x.data(), &act);
    double sum = 0.0;
    for (int64_t o = 0; o < 2 * kBits; ++o) sum += double{c[o]} * act.logits[o];
    return sum;
  };
  ValueMlpActivations act;
  ValueMlpForward(w, kDim, kBits, x.data(), &act);
  ValueEncoderWeights grads = ZerosLike(w);
  ValueMlpBackward(w, kDim, kBits, act, c.data(), &grads);
  const std::vector<std::pair<
      const char*, std::pair<std::vector<float>*, std::vector<float>*>>>
      tensors = {{"ln_gamma", {&w.ln_gamma, &grads.ln_gamma}},
                 {"ln_beta", {&w.ln_beta, &grads.ln_beta}},
                 {"w1", {&w.w1, &grads.w1}},
                 {"b1", {&w.b1, &grads.b1}},
                 {"w2", {&w.w2, &grads.w2}},
                 {"b2", {&w.b2, &grads.b2}}};
  for (const auto& [name, pair] : tensors) {
    for (size_t i = 0; i < pair.first->size(); ++i) {
      const double fd = FiniteDifference(*pair.first, i, loss);
      EXPECT_NEAR((*pair.second)[i], fd, 2e-3 * (1.0 + std::fabs(fd)))
          << name << "[" << i << "]";
    }
  }
}

TEST(ValueMlpGradTest, SoftReconstructionGradientMatchesFiniteDifferences) {
  const std::vector<float> codebook = Normals(kBits * kDim, 0.5f, 9);
  const std::vector<float> x = Normals(kDim, 1.0f, 10);
  const std::vector<float> noise = Normals(2 * kBits, 0.5f, 11);
  std::vector<float> logits = Normals(2 * kBits, 1.0f, 12);
  std::vector<float> dlogits(2 * kBits), scratch(2 * kBits);
  for (double tau : {1.0, 0.5}) {
    SCOPED_TRACE(tau);
    const auto loss = [&] {
      return GumbelReconstructionLoss(logits.data(), noise.data(), tau, false,
                                      codebook.data(), kBits, kDim, x.data(),
                                      0.7, scratch.data());
    };
    GumbelReconstructionLoss(logits.data(), noise.data(), tau, false,
                             codebook.data(), kBits, kDim, x.data(), 0.7,
                             dlogits.data());
    for (size_t i = 0; i < logits.size(); ++i) {
      const double fd = FiniteDifference(logits, i, loss);
      EXPECT_NEAR(dlogits[i], fd, 1e-3 * (1.0 + std::fabs(fd))) << i;
    }
  }
}

TEST(ValueMlpGradTest, HardForwardUsesTheArgmaxBitsAndTheSoftGradient) {
  const std::vector<float> codebook = Normals(kBits * kDim, 0.5f, 13);
  const std::vector<float> x = Normals(kDim, 1.0f, 14);
  const std::vector<float> noise(2 * kBits, 0.0f);
  const std::vector<float> logits = {3, 0, 0, 0, 0, 0, 0, 2};
  std::vector<float> dlogits(2 * kBits);
  const double loss = GumbelReconstructionLoss(
      logits.data(), noise.data(), 1.0, true, codebook.data(), kBits, kDim,
      x.data(), 1.0, dlogits.data());
  // Categories 0 -> (1, 0) and 3 -> (0, 0).
  const std::vector<uint8_t> bits = {1, 0, 0, 0};
  EXPECT_NEAR(loss,
              ValueCodeSquaredError(codebook.data(), kBits, kDim, bits.data(),
                                    x.data()) /
                  kDim,
              1e-5);
  // A softmax gradient sums to zero over each group.
  for (int g = 0; g < 2; ++g) {
    double sum = 0.0;
    for (int k = 0; k < 4; ++k) sum += dlogits[4 * g + k];
    EXPECT_NEAR(sum, 0.0, 1e-6);
  }
}

TEST(ValueMlpGradTest, DistillationGradientMatchesFiniteDifferences) {
  std::vector<float> logits = Normals(2 * kBits, 1.0f, 15);
  const std::vector<uint8_t> target = {1, 1, 0, 1};  // categories 2 and 1
  std::vector<float> dlogits(2 * kBits), scratch(2 * kBits);
  const auto loss = [&] {
    return DistillationLoss(logits.data(), target.data(), kBits, 0.5,
                            scratch.data());
  };
  DistillationLoss(logits.data(), target.data(), kBits, 0.5, dlogits.data());
  for (size_t i = 0; i < logits.size(); ++i) {
    const double fd = FiniteDifference(logits, i, loss);
    EXPECT_NEAR(dlogits[i], fd, 1e-3) << i;
  }
}

}  // namespace
}  // namespace commvq
