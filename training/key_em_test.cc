#include "training/key_em.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "absl/types/span.h"
#include "commvq/base/random.h"
#include "commvq/base/status_matchers.h"
#include "commvq/base/thread_pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "training/key_em_dense.h"

namespace commvq {
namespace {

using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

std::vector<float> Normal(int64_t size, float stddev, uint64_t seed) {
  std::vector<float> out(size);
  Rng rng(seed);
  rng.FillNormal(absl::MakeSpan(out), 0.0f, stddev);
  return out;
}

// Expects |a - b| <= tolerance * max |b| elementwise.
void ExpectNear(const std::vector<double>& a, const std::vector<double>& b,
                double tolerance, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  double scale = 0.0;
  for (double v : b) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_NEAR(a[i], b[i], tolerance * scale) << what << "[" << i << "]";
  }
}

// Samples from a known commutative codebook plus Gaussian noise.
struct Planted {
  std::vector<float> z;  // [P, V, 2]
  std::vector<float> data;  // [n, P, 2]
};

Planted MakePlanted(int64_t n, int pairs, int half_bits, float noise,
                    uint64_t seed) {
  const int values = 1 << half_bits;
  Planted p;
  p.z = Normal(int64_t{pairs} * values * 2, 1.0f, seed);
  const std::vector<double> centres =
      MaterializeKeyCentres(p.z, pairs, half_bits);
  const std::vector<float> eps = Normal(n * 2 * pairs, noise, seed + 1);
  Rng rng(seed + 2);
  p.data.resize(n * 2 * pairs);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = rng.UniformInt(int64_t{values} * values);
    for (int k = 0; k < 2 * pairs; ++k) {
      p.data[i * 2 * pairs + k] =
          static_cast<float>(centres[c * 2 * pairs + k]) +
          eps[i * 2 * pairs + k];
    }
  }
  return p;
}

TEST(KeyEmStatsTest, StructuredMatchesDense) {
  constexpr int kPairs = 3;
  constexpr int64_t kN = 200;
  for (int half_bits : {2, 3}) {
    const int values = 1 << half_bits;
    const std::vector<float> data = Normal(kN * 2 * kPairs, 1.0f, 7);
    const std::vector<float> z =
        Normal(int64_t{kPairs} * values * 2, 0.7f, 8 + half_bits);
    for (double temperature : {10.0, 1.0, 0.1, 1e-3, 0.0}) {
      SCOPED_TRACE(::testing::Message() << "V = " << values
                                        << ", T = " << temperature);
      const KeyEmStats s = ComputeKeyEmStats(data, kN, kPairs, half_bits, z,
                                             temperature, nullptr);
      const KeyEmStats d = ComputeKeyEmStatsDense(
          data, kN, kPairs, half_bits, z, temperature, nullptr);
      ExpectNear(s.counts, d.counts, 1e-9, "counts");
      ExpectNear(s.row_sums, d.row_sums, 1e-9, "row_sums");
      ExpectNear(s.col_sums, d.col_sums, 1e-9, "col_sums");
      EXPECT_NEAR(s.hard_sse, d.hard_sse, 1e-9 * d.hard_sse);
      EXPECT_EQ(s.codes, d.codes);
      ExpectNear(KeyNormalRhs(s), KeyNormalRhs(d), 1e-9, "rhs");
    }
  }
}

TEST(KeyEmStatsTest, SkippedSoftmaxMassIsBelowBound) {
  constexpr int kPairs = 3;
  constexpr int kHalfBits = 3;
  constexpr int64_t kN = 200;
  const std::vector<float> data = Normal(kN * 2 * kPairs, 1.0f, 11);
  const std::vector<float> z = Normal(kPairs * 8 * 2, 1.0f, 12);
  // At T = 0.05 the distance gaps (O(1)) make most terms negligible.
  const KeyEmStats s =
      ComputeKeyEmStats(data, kN, kPairs, kHalfBits, z, 0.05, nullptr);
  const KeyEmStats d =
      ComputeKeyEmStatsDense(data, kN, kPairs, kHalfBits, z, 0.05, nullptr);
  EXPECT_GT(s.evaluated_terms, kN);
  EXPECT_LT(s.evaluated_terms, kN * 64 / 2);
  // Per vector the L1 error of the weights is at most twice the skipped mass
  // (< 1e-12), plus rounding.
  double l1 = 0.0;
  for (size_t c = 0; c < s.counts.size(); ++c) {
    l1 += std::abs(s.counts[c] - d.counts[c]);
  }
  EXPECT_LE(l1, kN * (2e-12 + 1e-14));
}

TEST(KeyEmMStepTest, NormalMatrixMatchesLiteralTransposeSt) {
  for (int values : {4, 8}) {
    std::vector<float> f = Normal(values * values, 1.0f, 3);
    std::vector<double> counts(f.begin(), f.end());
    for (double& c : counts) c = std::abs(c);
    counts[1] = 0.0;
    const std::vector<double> h = KeyNormalMatrix(counts, values);
    const std::vector<double> literal = LiteralKeyNormalMatrix(counts, values);
    ExpectNear(h, literal, 1e-14, "T^T S T");
    for (int p = 0; p < 2 * values; ++p) {
      for (int q = 0; q < 2 * values; ++q) {
        EXPECT_EQ(h[p * 2 * values + q], h[q * 2 * values + p]);
      }
    }
  }
}

// The weighted loss sum_c (S_c |c|^2 - 2 <c, M_c>) (up to a constant) and its
// gradient with respect to z ([P, V, 2]) by the chain rule through the
// centres, given the counts S and the per-centre soft sums M.
double WeightedLoss(const std::vector<float>& z, int pairs, int half_bits,
                    const KeyEmStats& stats,
                    const std::vector<double>& centre_sums,
                    std::vector<double>* gradient) {
  const int values = 1 << half_bits;
  const std::vector<double> c = MaterializeKeyCentres(z, pairs, half_bits);
  gradient->assign(z.size(), 0.0);
  double loss = 0.0;
  for (int a = 0; a < values; ++a) {
    for (int b = 0; b < values; ++b) {
      const int64_t centre = a * values + b;
      const double s = stats.counts[centre];
      for (int j = 0; j < pairs; ++j) {
        const double cu = c[(centre * pairs + j) * 2];
        const double cw = c[(centre * pairs + j) * 2 + 1];
        const double mu = centre_sums[(centre * pairs + j) * 2];
        const double mw = centre_sums[(centre * pairs + j) * 2 + 1];
        loss += s * (cu * cu + cw * cw) - 2.0 * (cu * mu + cw * mw);
        const double gu = 2.0 * (s * cu - mu), gw = 2.0 * (s * cw - mw);
        // cu = x_a - y_b, cw = y_a + x_b.
        (*gradient)[(j * values + a) * 2] += gu;
        (*gradient)[(j * values + b) * 2 + 1] -= gu;
        (*gradient)[(j * values + a) * 2 + 1] += gw;
        (*gradient)[(j * values + b) * 2] += gw;
      }
    }
  }
  return loss;
}

TEST(KeyEmMStepTest, SolutionSatisfiesNormalEquations) {
  constexpr int kPairs = 3;
  constexpr int64_t kN = 200;
  for (int half_bits : {2, 3}) {
    const int values = 1 << half_bits;
    const std::vector<float> data = Normal(kN * 2 * kPairs, 1.0f, 21);
    const std::vector<float> z_old = Normal(kPairs * values * 2, 0.7f, 22);
    std::vector<double> centre_sums;
    const KeyEmStats stats = ComputeKeyEmStatsDense(
        data, kN, kPairs, half_bits, z_old, 0.3, nullptr, &centre_sums);
    CVQ_ASSERT_OK_AND_ASSIGN(std::vector<float> z,
                             SolveKeyMStep(stats, z_old));
    std::vector<double> grad, grad_old;
    const double loss =
        WeightedLoss(z, kPairs, half_bits, stats, centre_sums, &grad);
    const double loss_old =
        WeightedLoss(z_old, kPairs, half_bits, stats, centre_sums, &grad_old);
    double scale = 0.0;
    for (double g : grad_old) scale = std::max(scale, std::abs(g));
    // Zero up to the f32 rounding of z and the 1e-9 ridge.
    for (size_t i = 0; i < grad.size(); ++i) {
      EXPECT_NEAR(grad[i], 0.0, 1e-5 * scale) << i;
    }
    EXPECT_LT(loss, loss_old);
  }
}

TEST(KeyEmTrainTest, HardEmDistortionNeverIncreases) {
  const Planted p = MakePlanted(2000, 4, 3, 0.3f, 31);
  KeyEmOptions options;
  options.half_bits = 3;
  options.iterations = 30;
  options.t_start = options.t_end = 1e-12;
  options.patience = 1000;
  std::vector<double> mse;
  options.progress = [&](int, double m) { mse.push_back(m); };
  CVQ_ASSERT_OK_AND_ASSIGN(KeyEmResult r,
                           TrainKeyStage(p.data, 2000, 4, options));
  ASSERT_EQ(mse.size(), 31u);
  for (size_t i = 1; i < mse.size(); ++i) {
    EXPECT_LE(mse[i], mse[i - 1] * (1.0 + 1e-6)) << i;
  }
  EXPECT_LT(mse.back(), 0.9 * mse.front());
}

TEST(KeyEmTrainTest, RecoversPlantedCodebook) {
  constexpr int kPairs = 4;
  constexpr int kHalfBits = 2;
  constexpr int64_t kN = 4000;
  constexpr float kNoise = 0.01f;
  for (uint64_t seed : {41, 42, 43}) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    const Planted p = MakePlanted(kN, kPairs, kHalfBits, kNoise, seed);
    KeyEmOptions options;
    options.half_bits = kHalfBits;
    options.iterations = 80;
    // Annealing from above the distance gaps between the planted centres
    // (O(1)): started near 0.01 instead, EM often stays in a local optimum.
    options.t_start = 1.0;
    options.t_end = 1e-3;
    options.seed = seed;
    std::vector<double> mse;
    options.progress = [&](int, double m) { mse.push_back(m); };
    CVQ_ASSERT_OK_AND_ASSIGN(KeyEmResult r,
                             TrainKeyStage(p.data, kN, kPairs, options));
    // Noise floor: kNoise^2 per element.
    EXPECT_LT(r.mse, 1.05 * kNoise * kNoise) << "initial " << mse.front();
    EXPECT_EQ(r.mse, *std::min_element(mse.begin(), mse.end()));
    // The result is scored consistently: its codes and MSE under its z.
    const KeyEmStats check =
        ComputeKeyEmStats(p.data, kN, kPairs, kHalfBits, r.z, 0.0, nullptr);
    EXPECT_EQ(check.codes, r.codes);
    EXPECT_DOUBLE_EQ(check.hard_sse / (kN * 2 * kPairs), r.mse);
  }
}

TEST(KeyEmTrainTest, MatchesDenseTraining) {
  const Planted p = MakePlanted(600, 3, 2, 0.2f, 51);
  KeyEmOptions options;
  options.half_bits = 2;
  options.iterations = 10;
  options.t_start = 0.5;
  options.t_end = 0.01;
  CVQ_ASSERT_OK_AND_ASSIGN(KeyEmResult s, TrainKeyStage(p.data, 600, 3, options));
  CVQ_ASSERT_OK_AND_ASSIGN(KeyEmResult d,
                           TrainKeyStageDense(p.data, 600, 3, options));
  EXPECT_NEAR(s.mse, d.mse, 1e-6 * d.mse);
  EXPECT_EQ(s.best_iteration, d.best_iteration);
}

TEST(KeyEmTrainTest, DeterministicAcrossThreadCounts) {
  const Planted p = MakePlanted(3000, 4, 3, 0.3f, 61);
  for (KeyEmOptions::Init init :
       {KeyEmOptions::kRandomPoints, KeyEmOptions::kKMeansPlusPlus}) {
    KeyEmOptions options;
    options.half_bits = 3;
    options.iterations = 8;
    options.t_start = 0.3;
    options.t_end = 0.01;
    options.init = init;
    options.seed = 9;
    CVQ_ASSERT_OK_AND_ASSIGN(KeyEmResult one,
                             TrainKeyStage(p.data, 3000, 4, options));
    ThreadPool pool(4);
    options.pool = &pool;
    CVQ_ASSERT_OK_AND_ASSIGN(KeyEmResult four,
                             TrainKeyStage(p.data, 3000, 4, options));
    EXPECT_EQ(one.z, four.z);
    EXPECT_EQ(one.codes, four.codes);
    EXPECT_EQ(one.mse, four.mse);
  }
}

TEST(KeyEmTrainTest, RejectsBadInput) {
  std::vector<float> data = Normal(64 * 2 * 2, 1.0f, 71);
  const auto train = [&](const KeyEmOptions& o, int64_t n = 64,
                         int pairs = 2) {
    return TrainKeyStage(data, n, pairs, o).status();
  };
  KeyEmOptions o;
  o.half_bits = 3;
  o.iterations = 2;
  CVQ_EXPECT_OK(train(o));
  const auto invalid = [](const char* what) {
    return StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(what));
  };
  KeyEmOptions bad = o;
  bad.half_bits = 0;
  EXPECT_THAT(train(bad), invalid("half_bits"));
  bad.half_bits = 9;
  EXPECT_THAT(train(bad), invalid("half_bits"));
  EXPECT_THAT(train(o, 64, 0), invalid("pairs"));
  EXPECT_THAT(train(o, 63), invalid("residuals has"));
  bad = o;
  bad.half_bits = 7;
  EXPECT_THAT(train(bad), invalid("n = 64"));
  bad = o;
  bad.t_start = 0.0;
  EXPECT_THAT(train(bad), invalid("t_start"));
  bad = o;
  bad.temperature_scale = std::numeric_limits<double>::infinity();
  EXPECT_THAT(train(bad), invalid("temperature_scale"));
  bad = o;
  bad.patience = 0;
  EXPECT_THAT(train(bad), invalid("patience"));
  bad = o;
  bad.iterations = -1;
  EXPECT_THAT(train(bad), invalid("iterations"));
  data[77] = std::nanf("");
  EXPECT_THAT(train(o), invalid("residuals[77] (vector 19)"));
}

}  // namespace
}  // namespace commvq
