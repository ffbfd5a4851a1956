#include "commvq/backend/cuda_dense_attention.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "absl/types/span.h"
#include "commvq/base/random.h"
#include "commvq/base/status_matchers.h"
#include "commvq/kvcache/rope.h"
#include "gtest/gtest.h"
#include "kernels/reference/attention_dense_reference.h"
#include "testing/gpu/cuda_test_util.h"

namespace commvq {
namespace {

using ::commvq::testing::IsOk;
using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

AttentionShape Shape(PairLayout layout) {
  AttentionShape shape;
  shape.num_layers = 1;
  shape.num_heads = 6;
  shape.num_kv_heads = 2;
  shape.head_dim = 64;
  shape.pair_layout = layout;
  return shape;
}

class CudaDenseAttentionTest : public ::testing::TestWithParam<PairLayout> {};

// bf16 storage and bf16 probabilities against the f32 scalar oracles:
// within bf16's relative precision (2^-8) of the output scale.
TEST_P(CudaDenseAttentionTest, MatchesTheScalarOracleWithinBf16Precision) {
  CVQ_SKIP_WITHOUT_GPU();
  const AttentionShape shape = Shape(GetParam());
  const int64_t dim = 2 * 64;
  constexpr int64_t kTokens = 37;
  std::vector<float> keys(kTokens * dim), values(kTokens * dim), query(6 * 64);
  Rng rng(3);
  rng.FillNormal(absl::MakeSpan(keys), 0.0f, 1.0f);
  rng.FillNormal(absl::MakeSpan(values), 0.0f, 1.0f);
  rng.FillNormal(absl::MakeSpan(query), 0.0f, 1.0f);
  absl::StatusOr<std::unique_ptr<CudaDenseAttention>> dense =
      CudaDenseAttention::Create(shape, 40);
  ASSERT_THAT(dense.status(), IsOk());
  absl::StatusOr<cuda::DeviceMemory> k =
      cuda::Upload(absl::MakeConstSpan(keys));
  absl::StatusOr<cuda::DeviceMemory> v =
      cuda::Upload(absl::MakeConstSpan(values));
  absl::StatusOr<cuda::DeviceMemory> q =
      cuda::Upload(absl::MakeConstSpan(query));
  absl::StatusOr<cuda::DeviceMemory> out =
      cuda::DeviceMemory::Allocate(query.size() * sizeof(float));
  ASSERT_THAT(k.status(), IsOk());
  ASSERT_THAT(v.status(), IsOk());
  ASSERT_THAT(q.status(), IsOk());
  ASSERT_THAT(out.status(), IsOk());
  ASSERT_THAT((*dense)->Append(k->as<float>(), v->as<float>(), 30, nullptr),
              IsOk());
  ASSERT_THAT((*dense)->Append(k->as<float>() + 30 * dim,
                               v->as<float>() + 30 * dim, 7, nullptr),
              IsOk());
  ASSERT_THAT((*dense)->Attend(q->as<float>(), out->as<float>(), nullptr),
              IsOk());
  absl::StatusOr<std::vector<float>> gpu =
      cuda::Download<float>(out->data(), query.size());
  ASSERT_THAT(gpu.status(), IsOk());
  EXPECT_EQ((*dense)->KvBytes(), 2 * kTokens * dim * 2);

  const Rope rope = *Rope::Create(64, shape.rope_theta, shape.pair_layout);
  std::vector<int64_t> positions(kTokens);
  std::iota(positions.begin(), positions.end(), int64_t{0});
  std::vector<float> cos(kTokens * 32), sin(kTokens * 32);
  rope.ComputeCosSin(positions, absl::MakeSpan(cos), absl::MakeSpan(sin));
  rope.Rotate(cos, sin, 2, absl::MakeSpan(keys));
  std::vector<float> expected(query.size(), 0.0f);
  float scale_out = 1.0f;
  for (int h = 0; h < 6; ++h) {
    const int g = h / 3;
    rope.RotateHead(&cos[(kTokens - 1) * 32], &sin[(kTokens - 1) * 32],
                    &query[h * 64]);
    std::vector<float> weights(kTokens);
    DenseScoresReference(&query[h * 64], &keys[g * 64], dim, 64, kTokens,
                         0.125f, weights.data());
    SoftmaxReference(weights.data(), kTokens);
    DenseWeightedSumReference(weights.data(), &values[g * 64], dim, 64, kTokens,
                              &expected[h * 64]);
  }
  for (float x : expected) scale_out = std::max(scale_out, std::fabs(x));
  for (size_t i = 0; i < expected.size(); ++i) {
    ASSERT_NEAR((*gpu)[i], expected[i], 2e-2f * scale_out) << "element " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, CudaDenseAttentionTest,
                         ::testing::Values(PairLayout::kHalf,
                                           PairLayout::kInterleaved));

TEST(CudaDenseAttentionShapeTest, BadArgumentsGiveErrors) {
  EXPECT_THAT(
      CudaDenseAttention::Create(Shape(PairLayout::kHalf), 0).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("capacity 0")));
  AttentionShape odd = Shape(PairLayout::kHalf);
  odd.head_dim = 7;
  EXPECT_THAT(CudaDenseAttention::Create(odd, 10).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

TEST(CudaDenseAttentionShapeTest, CallsPastTheCapacityOrOnEmptyFail) {
  CVQ_SKIP_WITHOUT_GPU();
  absl::StatusOr<std::unique_ptr<CudaDenseAttention>> dense =
      CudaDenseAttention::Create(Shape(PairLayout::kHalf), 4);
  ASSERT_THAT(dense.status(), IsOk());
  EXPECT_THAT(
      (*dense)->Attend(nullptr, nullptr, nullptr),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("empty")));
  EXPECT_THAT((*dense)->Append(nullptr, nullptr, 5, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("num_tokens 5; expected 1 to 4")));
}

}  // namespace
}  // namespace commvq
