#include "commvq/kvcache/rope.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "commvq/base/random.h"
#include "commvq/base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

// The rotation of one head vector written straight from the definition, in
// double, with the pair channels spelled out per layout.
std::vector<double> ReferenceRotate(PairLayout layout, double theta,
                                    int64_t position,
                                    const std::vector<float>& head) {
  const int head_dim = static_cast<int>(head.size());
  std::vector<double> out(head.begin(), head.end());
  for (int j = 0; j < head_dim / 2; ++j) {
    const int a = layout == PairLayout::kHalf ? j : 2 * j;
    const int b =
        layout == PairLayout::kHalf ? j + head_dim / 2 : 2 * j + 1;
    const double angle =
        static_cast<double>(position) * std::pow(theta, -2.0 * j / head_dim);
    out[a] = head[a] * std::cos(angle) - head[b] * std::sin(angle);
    out[b] = head[a] * std::sin(angle) + head[b] * std::cos(angle);
  }
  return out;
}

std::vector<float> RandomVector(int64_t size, uint64_t seed) {
  std::vector<float> v(size);
  Rng(seed).FillNormal(absl::MakeSpan(v), 0.0f, 1.0f);
  return v;
}

// Rotates copies of `head` by Rope::ComputeCosSin + Rope::Rotate.
std::vector<float> Rotated(const Rope& rope, int64_t position,
                           std::vector<float> head) {
  std::vector<float> cos(rope.num_pairs()), sin(rope.num_pairs());
  const int64_t positions[] = {position};
  rope.ComputeCosSin(positions, absl::MakeSpan(cos), absl::MakeSpan(sin));
  rope.Rotate(cos, sin, 1, absl::MakeSpan(head));
  return head;
}

double Dot(const std::vector<float>& a, const std::vector<float>& b) {
  double sum = 0.0;
  for (size_t i = 0; i < a.size(); ++i) sum += double{a[i]} * b[i];
  return sum;
}

class RopeLayoutTest : public ::testing::TestWithParam<PairLayout> {};

TEST_P(RopeLayoutTest, MatchesScalarReference) {
  constexpr int kHeadDim = 64;
  constexpr int kHeads = 3;
  constexpr double kTheta = 100000.0;
  CVQ_ASSERT_OK_AND_ASSIGN(Rope rope,
                           Rope::Create(kHeadDim, kTheta, GetParam()));
  const std::vector<int64_t> positions = {0, 1, 7, 4095, 131071, 1000003};
  const int64_t rows = static_cast<int64_t>(positions.size());
  std::vector<float> data = RandomVector(rows * kHeads * kHeadDim, 1);
  const std::vector<float> original = data;

  std::vector<float> cos(rows * rope.num_pairs()), sin(cos.size());
  rope.ComputeCosSin(positions, absl::MakeSpan(cos), absl::MakeSpan(sin));
  rope.Rotate(cos, sin, kHeads, absl::MakeSpan(data));

  for (int64_t i = 0; i < rows; ++i) {
    for (int h = 0; h < kHeads; ++h) {
      const int64_t offset = (i * kHeads + h) * kHeadDim;
      const std::vector<float> head(original.begin() + offset,
                                    original.begin() + offset + kHeadDim);
      const std::vector<double> expected =
          ReferenceRotate(GetParam(), kTheta, positions[i], head);
      for (int d = 0; d < kHeadDim; ++d) {
        EXPECT_NEAR(data[offset + d], expected[d], 1e-5)
            << "position " << positions[i] << " head " << h << " channel " << d;
      }
    }
  }
}

TEST_P(RopeLayoutTest, PreservesNorms) {
  CVQ_ASSERT_OK_AND_ASSIGN(Rope rope, Rope::Create(64, 10000.0, GetParam()));
  const std::vector<float> head = RandomVector(64, 2);
  for (int64_t position : {0, 3, 100, 77777}) {
    const std::vector<float> rotated = Rotated(rope, position, head);
    EXPECT_NEAR(Dot(rotated, rotated), Dot(head, head), 1e-4) << position;
    // Each pair is rotated on its own, so each pair keeps its norm too.
    for (int j = 0; j < rope.num_pairs(); ++j) {
      const int a = rope.FirstChannel(j), b = rope.SecondChannel(j);
      EXPECT_NEAR(std::hypot(rotated[a], rotated[b]),
                  std::hypot(head[a], head[b]), 1e-5);
    }
  }
}

TEST_P(RopeLayoutTest, ScoresDependOnlyOnRelativePosition) {
  CVQ_ASSERT_OK_AND_ASSIGN(Rope rope, Rope::Create(32, 10000.0, GetParam()));
  const std::vector<float> q = RandomVector(32, 3);
  const std::vector<float> k = RandomVector(32, 4);
  for (const auto& [query_position, key_position] :
       std::vector<std::pair<int64_t, int64_t>>{{5, 2}, {9, 9}, {40, 1}}) {
    const double score =
        Dot(Rotated(rope, query_position, q), Rotated(rope, key_position, k));
    for (int64_t shift : {1, 17, 1000}) {
      EXPECT_NEAR(Dot(Rotated(rope, query_position + shift, q),
                      Rotated(rope, key_position + shift, k)),
                  score, 1e-4)
          << query_position << " vs " << key_position << " shifted by "
          << shift;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, RopeLayoutTest,
                         ::testing::Values(PairLayout::kHalf,
                                           PairLayout::kInterleaved),
                         [](const auto& info) {
                           return std::string(PairLayoutName(info.param));
                         });

TEST(RopeTest, PairChannelsFollowTheLayout) {
  CVQ_ASSERT_OK_AND_ASSIGN(Rope half,
                           Rope::Create(8, 10000.0, PairLayout::kHalf));
  CVQ_ASSERT_OK_AND_ASSIGN(
      Rope interleaved, Rope::Create(8, 10000.0, PairLayout::kInterleaved));
  for (int j = 0; j < 4; ++j) {
    EXPECT_EQ(half.FirstChannel(j), j);
    EXPECT_EQ(half.SecondChannel(j), j + 4);
    EXPECT_EQ(interleaved.FirstChannel(j), 2 * j);
    EXPECT_EQ(interleaved.SecondChannel(j), 2 * j + 1);
  }
  // Pair 0 turns by one radian per position in both layouts.
  const std::vector<float> e0 = {1, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_THAT(
      Rotated(half, 1, e0),
      ::testing::Pointwise(::testing::FloatNear(1e-7),
                           std::vector<float>{std::cos(1.0f), 0, 0, 0,
                                              std::sin(1.0f), 0, 0, 0}));
  EXPECT_THAT(
      Rotated(interleaved, 1, e0),
      ::testing::Pointwise(::testing::FloatNear(1e-7),
                           std::vector<float>{std::cos(1.0f), std::sin(1.0f), 0,
                                              0, 0, 0, 0, 0}));
}

TEST(RopeTest, InverseFrequencies) {
  CVQ_ASSERT_OK_AND_ASSIGN(
      Rope rope, Rope::Create(64, 100000.0, PairLayout::kInterleaved));
  ASSERT_EQ(rope.inverse_frequencies().size(), 32u);
  EXPECT_EQ(rope.inverse_frequencies()[0], 1.0);
  EXPECT_DOUBLE_EQ(rope.inverse_frequencies()[16], 1.0 / std::sqrt(100000.0));
  EXPECT_DOUBLE_EQ(rope.inverse_frequencies()[31],
                   std::pow(100000.0, -62.0 / 64.0));
}

TEST(RopeTest, RejectsBadArguments) {
  EXPECT_THAT(Rope::Create(7, 10000.0, PairLayout::kHalf),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("got 7")));
  EXPECT_THAT(Rope::Create(0, 10000.0, PairLayout::kHalf),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("head_dim; got 0")));
  EXPECT_THAT(
      Rope::Create(8, 1.0, PairLayout::kHalf),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rope_theta")));
  EXPECT_THAT(
      Rope::Create(8, std::numeric_limits<double>::quiet_NaN(),
                   PairLayout::kHalf),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("got nan")));
  EXPECT_THAT(
      Rope::Create(8, 10000.0, static_cast<PairLayout>(0)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("pair layout 0")));
}

}  // namespace
}  // namespace commvq
