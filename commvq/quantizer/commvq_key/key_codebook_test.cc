#include "commvq/quantizer/commvq_key/key_codebook.h"

#include <cmath>
#include <limits>
#include <vector>

#include "commvq/base/random.h"
#include "commvq/base/status_matchers.h"
#include "commvq/quantizer/commvq_key/key_test_data.h"
#include "commvq/base/pair_layout.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

TEST(PairChannelsTest, MatchesBothLayouts) {
  EXPECT_EQ(PairFirstChannel(PairLayout::kHalf, 8, 3), 3);
  EXPECT_EQ(PairSecondChannel(PairLayout::kHalf, 8, 3), 7);
  EXPECT_EQ(PairFirstChannel(PairLayout::kInterleaved, 8, 3), 6);
  EXPECT_EQ(PairSecondChannel(PairLayout::kInterleaved, 8, 3), 7);
}

TEST(KeyCodebookTest, CentreIsZaPlusIZb) {
  // One pair, h = 1: z[0] = (1, 2), z[1] = (3, 5).
  const KeyCodebookShape shape{2, 1, PairLayout::kInterleaved};
  CVQ_ASSERT_OK_AND_ASSIGN(const KeyCodebook codebook,
                           KeyCodebook::Create(shape, {1, 2, 3, 5}));
  float head[2] = {0.0f, 0.0f};
  codebook.AddCentre(0, 1, head);
  // (1 + 2i) + i (3 + 5i) = (1 - 5) + (2 + 3) i.
  EXPECT_EQ(head[0], -4.0f);
  EXPECT_EQ(head[1], 5.0f);
  codebook.SubtractCentre(0, 1, head);
  EXPECT_EQ(head[0], 0.0f);
  EXPECT_EQ(head[1], 0.0f);
  EXPECT_EQ(JoinKeyCode(1, 0, 1), 2);
  EXPECT_EQ(KeyCodeA(JoinKeyCode(3, 5, 4), 4), 3);
  EXPECT_EQ(KeyCodeB(JoinKeyCode(3, 5, 4), 4), 5);
}

TEST(KeyCodebookTest, CreateRejectsBadShapesAndValues) {
  EXPECT_THAT(KeyCodebook::Create({3, 2, PairLayout::kHalf}, {}),
              StatusIs(kInvalid, HasSubstr("head_dim is 3")));
  EXPECT_THAT(KeyCodebook::Create({4, 9, PairLayout::kHalf}, {}),
              StatusIs(kInvalid, HasSubstr("half_bits is 9")));
  EXPECT_THAT(KeyCodebook::Create({4, 1, PairLayout::kUnspecified}, {}),
              StatusIs(kInvalid, HasSubstr("unspecified")));
  EXPECT_THAT(KeyCodebook::Create({4, 1, PairLayout::kHalf}, {1, 2, 3}),
              StatusIs(kInvalid, HasSubstr("z has 3 floats: expected 8")));
  std::vector<float> z(8, 1.0f);
  z[7] = std::numeric_limits<float>::infinity();
  EXPECT_THAT(KeyCodebook::Create({4, 1, PairLayout::kHalf}, z),
              StatusIs(kInvalid, HasSubstr("y of pair 1, value 1 is inf")));
}

// RoPE angle of pair j at position p, computed here independently of
// commvq/kvcache/rope.h: p * theta^(-2j / head_dim).
double Angle(int64_t position, int64_t pair, int64_t head_dim) {
  constexpr double kTheta = 10000.0;
  return static_cast<double>(position) *
         std::pow(kTheta, -2.0 * static_cast<double>(pair) /
                              static_cast<double>(head_dim));
}

// Rotating each pair of a decoded key by its RoPE angle equals decoding with
// a codebook whose complex values z_j[v] are all rotated by pair j's angle:
// (z_a + i z_b) e^{i t} = z_a e^{i t} + i (z_b e^{i t}).
TEST(KeyCodebookTest, DecodingCommutesWithRope) {
  for (PairLayout layout : {PairLayout::kHalf, PairLayout::kInterleaved}) {
    SCOPED_TRACE(PairLayoutName(layout));
    const KeyCodebookShape shape{64, 4, layout};
    constexpr int kStages = 3;
    std::vector<KeyCodebook> stages;
    for (int s = 0; s < kStages; ++s) {
      stages.push_back(testing::RandomKeyCodebook(shape, 0.5f, 100 + s));
    }
    Rng rng(7);
    for (int trial = 0; trial < 20; ++trial) {
      const int64_t position = rng.UniformInt(int64_t{1} << 17);
      std::vector<float> decoded(shape.head_dim, 0.0f);
      std::vector<float> rotated_decoded(shape.head_dim, 0.0f);
      for (int s = 0; s < kStages; ++s) {
        const int a = static_cast<int>(rng.UniformInt(shape.num_values()));
        const int b = static_cast<int>(rng.UniformInt(shape.num_values()));
        stages[s].AddCentre(a, b, decoded.data());
        std::vector<float> z(stages[s].z().begin(), stages[s].z().end());
        for (int64_t j = 0; j < shape.num_pairs(); ++j) {
          const double t = Angle(position, j, shape.head_dim);
          for (int v = 0; v < shape.num_values(); ++v) {
            const double x = stages[s].x(j, v);
            const double y = stages[s].y(j, v);
            z[(j * shape.num_values() + v) * 2] =
                static_cast<float>(x * std::cos(t) - y * std::sin(t));
            z[(j * shape.num_values() + v) * 2 + 1] =
                static_cast<float>(x * std::sin(t) + y * std::cos(t));
          }
        }
        CVQ_ASSERT_OK_AND_ASSIGN(const KeyCodebook rotated,
                                 KeyCodebook::Create(shape, std::move(z)));
        rotated.AddCentre(a, b, rotated_decoded.data());
      }
      for (int64_t j = 0; j < shape.num_pairs(); ++j) {
        const int64_t c1 = PairFirstChannel(layout, shape.head_dim, j);
        const int64_t c2 = PairSecondChannel(layout, shape.head_dim, j);
        const double t = Angle(position, j, shape.head_dim);
        const double u = decoded[c1];
        const double w = decoded[c2];
        EXPECT_NEAR(u * std::cos(t) - w * std::sin(t), rotated_decoded[c1],
                    1e-5)
            << "position " << position << ", pair " << j;
        EXPECT_NEAR(u * std::sin(t) + w * std::cos(t), rotated_decoded[c2],
                    1e-5)
            << "position " << position << ", pair " << j;
      }
    }
  }
}

// Consecutive z arrays become the codebooks of (head, stage) in order;
// counts, sizes and bad values are refused by name.
TEST(KeyQuantizerParamsFromZTest, SplitsConsecutiveCodebooks) {
  const KeyCodebookShape shape{4, 1, PairLayout::kHalf};  // 8 floats each
  std::vector<float> z(2 * 3 * 8);
  for (size_t i = 0; i < z.size(); ++i) z[i] = static_cast<float>(i);
  CVQ_ASSERT_OK_AND_ASSIGN(const KeyQuantizerParams params,
                           KeyQuantizerParamsFromZ(2, 3, shape, z));
  EXPECT_EQ(params.num_kv_heads, 2);
  EXPECT_EQ(params.stages, 3);
  ASSERT_EQ(params.codebooks.size(), 6u);
  EXPECT_EQ(params.codebook(1, 2).z()[0], 40.0f);  // (1 * 3 + 2) * 8

  EXPECT_THAT(KeyQuantizerParamsFromZ(0, 3, shape, {}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("num_kv_heads 0 and stages 3")));
  EXPECT_THAT(KeyQuantizerParamsFromZ(2, 2, shape, z).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("z has 48 floats: expected 32")));
  z[5 * 8 + 1] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THAT(KeyQuantizerParamsFromZ(2, 3, shape, z).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("codebook of head 1, stage 2: key codebook")));
}

}  // namespace
}  // namespace commvq
