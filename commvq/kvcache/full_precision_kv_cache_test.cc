#include "commvq/kvcache/full_precision_kv_cache.h"

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "commvq/base/random.h"
#include "commvq/base/status_matchers.h"
#include "commvq/base/thread_pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::IsOk;
using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

constexpr int kHeadDim = 8;
constexpr double kTheta = 10000.0;

std::vector<float> RandomVector(int64_t size, uint64_t seed) {
  std::vector<float> v(size);
  Rng(seed).FillNormal(absl::MakeSpan(v), 0.0f, 1.0f);
  return v;
}

// RoPE of one head vector from the definition, in double.
std::vector<double> RotateReference(PairLayout layout, int64_t position,
                                    const float* head) {
  std::vector<double> out(head, head + kHeadDim);
  for (int j = 0; j < kHeadDim / 2; ++j) {
    const int a = layout == PairLayout::kHalf ? j : 2 * j;
    const int b =
        layout == PairLayout::kHalf ? j + kHeadDim / 2 : 2 * j + 1;
    const double angle = position * std::pow(kTheta, -2.0 * j / kHeadDim);
    out[a] = head[a] * std::cos(angle) - head[b] * std::sin(angle);
    out[b] = head[a] * std::sin(angle) + head[b] * std::cos(angle);
  }
  return out;
}

// Naive O(t^2) causal attention in double over tokens [0, p] of pre-RoPE
// keys/values [num_tokens, kv_heads, kHeadDim] for queries
// [positions.size(), heads, kHeadDim] at `positions`.
std::vector<float> ReferenceAttention(const AttentionShape& shape,
                                      const std::vector<float>& keys,
                                      const std::vector<float>& values,
                                      const std::vector<float>& queries,
                                      const std::vector<int64_t>& positions) {
  const int heads = shape.num_heads, kv_heads = shape.num_kv_heads;
  std::vector<float> out(queries.size());
  for (size_t i = 0; i < positions.size(); ++i) {
    const int64_t p = positions[i];
    for (int h = 0; h < heads; ++h) {
      const int g = h / (heads / kv_heads);
      const std::vector<double> q = RotateReference(
          shape.pair_layout, p, &queries[(i * heads + h) * kHeadDim]);
      std::vector<double> scores(p + 1);
      double max_score = -INFINITY;
      for (int64_t j = 0; j <= p; ++j) {
        const std::vector<double> k = RotateReference(
            shape.pair_layout, j, &keys[(j * kv_heads + g) * kHeadDim]);
        double dot = 0.0;
        for (int d = 0; d < kHeadDim; ++d) dot += q[d] * k[d];
        scores[j] = dot / std::sqrt(double{kHeadDim});
        max_score = std::max(max_score, scores[j]);
      }
      double sum = 0.0;
      for (double& s : scores) sum += (s = std::exp(s - max_score));
      for (int d = 0; d < kHeadDim; ++d) {
        double acc = 0.0;
        for (int64_t j = 0; j <= p; ++j) {
          acc += scores[j] * values[(j * kv_heads + g) * kHeadDim + d];
        }
        out[(i * heads + h) * kHeadDim + d] = static_cast<float>(acc / sum);
      }
    }
  }
  return out;
}

AttentionShape MakeShape(int heads, int kv_heads, PairLayout layout) {
  AttentionShape shape;
  shape.num_layers = 2;
  shape.num_heads = heads;
  shape.num_kv_heads = kv_heads;
  shape.head_dim = kHeadDim;
  shape.rope_theta = kTheta;
  shape.pair_layout = layout;
  return shape;
}

TensorView KvView(const AttentionShape& shape, const float* data,
                  int64_t tokens) {
  return TensorView(data, DType::kF32, {tokens, shape.num_kv_heads, kHeadDim});
}

// Appends tokens [begin, end) of `data`'s keys and values to `layer`.
absl::Status AppendRange(KvCache& cache, int layer,
                         const std::vector<float>& keys,
                         const std::vector<float>& values, int64_t begin,
                         int64_t end) {
  const int64_t row = int64_t{cache.shape().num_kv_heads} * kHeadDim;
  return cache.Append(layer,
                      KvView(cache.shape(), &keys[begin * row], end - begin),
                      KvView(cache.shape(), &values[begin * row], end - begin));
}

// Attention output of `cache` for `queries` at `positions`.
std::vector<float> Attend(const KvCache& cache, int layer,
                          const std::vector<float>& queries,
                          const std::vector<int64_t>& positions) {
  const int64_t t = static_cast<int64_t>(positions.size());
  const int heads = cache.shape().num_heads;
  std::vector<float> out(t * heads * kHeadDim);
  const absl::Status status = cache.Attend(
      layer, TensorView(queries.data(), DType::kF32, {t, heads, kHeadDim}),
      positions,
      MutableTensorView(out.data(), DType::kF32, {t, heads, kHeadDim}));
  EXPECT_THAT(status, IsOk());
  return out;
}

std::vector<int64_t> Iota(int64_t n) {
  std::vector<int64_t> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

// (num_heads, num_kv_heads, pair layout): GQA ratios 1, 3 and 9.
using CacheParam = std::tuple<int, int, PairLayout>;

class FullPrecisionKvCacheTest : public ::testing::TestWithParam<CacheParam> {
 protected:
  static constexpr int64_t kTokens = 13;
  // Small blocks so every test crosses block boundaries.
  static constexpr int64_t kBlockTokens = 5;

  FullPrecisionKvCacheTest()
      : shape_(MakeShape(std::get<0>(GetParam()), std::get<1>(GetParam()),
                         std::get<2>(GetParam()))),
        keys_(RandomVector(kTokens * shape_.num_kv_heads * kHeadDim, 10)),
        values_(RandomVector(keys_.size(), 11)),
        queries_(RandomVector(kTokens * shape_.num_heads * kHeadDim, 12)) {}

  std::unique_ptr<FullPrecisionKvCache> NewCache(ThreadPool* pool = nullptr) {
    FullPrecisionKvCacheOptions options;
    options.block_tokens = kBlockTokens;
    options.pool = pool;
    absl::StatusOr<std::unique_ptr<FullPrecisionKvCache>> cache =
        FullPrecisionKvCache::Create(shape_, options);
    EXPECT_THAT(cache, IsOk());
    return std::move(cache).value();
  }

  // Rows [begin, end) of the queries.
  std::vector<float> QueryRows(int64_t begin, int64_t end) const {
    const int64_t row = int64_t{shape_.num_heads} * kHeadDim;
    return std::vector<float>(queries_.begin() + begin * row,
                              queries_.begin() + end * row);
  }

  const AttentionShape shape_;
  const std::vector<float> keys_, values_, queries_;
};

TEST_P(FullPrecisionKvCacheTest, PrefillMatchesNaiveReference) {
  std::unique_ptr<FullPrecisionKvCache> cache = NewCache();
  ASSERT_THAT(AppendRange(*cache, 1, keys_, values_, 0, kTokens), IsOk());
  const std::vector<float> out = Attend(*cache, 1, queries_, Iota(kTokens));
  EXPECT_THAT(
      out, ::testing::Pointwise(::testing::FloatNear(2e-5),
                                ReferenceAttention(shape_, keys_, values_,
                                                   queries_, Iota(kTokens))));
}

TEST_P(FullPrecisionKvCacheTest, SparsePositionsMatchNaiveReference) {
  std::unique_ptr<FullPrecisionKvCache> cache = NewCache();
  ASSERT_THAT(AppendRange(*cache, 0, keys_, values_, 0, kTokens), IsOk());
  const std::vector<int64_t> positions = {0, 4, 5, 12};
  const std::vector<float> queries = QueryRows(0, 4);
  EXPECT_THAT(Attend(*cache, 0, queries, positions),
              ::testing::Pointwise(::testing::FloatNear(2e-5),
                                   ReferenceAttention(shape_, keys_, values_,
                                                      queries, positions)));
}

TEST_P(FullPrecisionKvCacheTest, DecodeOneTokenAtATimeEqualsPrefill) {
  std::unique_ptr<FullPrecisionKvCache> prefill = NewCache();
  ASSERT_THAT(AppendRange(*prefill, 0, keys_, values_, 0, kTokens), IsOk());
  const std::vector<float> expected =
      Attend(*prefill, 0, queries_, Iota(kTokens));

  std::unique_ptr<FullPrecisionKvCache> decode = NewCache();
  std::vector<float> out;
  for (int64_t i = 0; i < kTokens; ++i) {
    ASSERT_THAT(AppendRange(*decode, 0, keys_, values_, i, i + 1), IsOk());
    const std::vector<float> step =
        Attend(*decode, 0, QueryRows(i, i + 1), {i});
    out.insert(out.end(), step.begin(), step.end());
  }
  EXPECT_EQ(out, expected);
}

TEST_P(FullPrecisionKvCacheTest, ThreadCountDoesNotChangeResults) {
  std::unique_ptr<FullPrecisionKvCache> serial = NewCache();
  ThreadPool pool(4);
  std::unique_ptr<FullPrecisionKvCache> parallel = NewCache(&pool);
  for (KvCache* cache : {static_cast<KvCache*>(serial.get()),
                         static_cast<KvCache*>(parallel.get())}) {
    ASSERT_THAT(AppendRange(*cache, 0, keys_, values_, 0, kTokens), IsOk());
  }
  EXPECT_EQ(Attend(*parallel, 0, queries_, Iota(kTokens)),
            Attend(*serial, 0, queries_, Iota(kTokens)));
}

TEST_P(FullPrecisionKvCacheTest, TruncateThenReappendMatchesFreshCache) {
  // Replace tokens 7.. (mid-block) with different ones.
  const std::vector<float> other_keys = RandomVector(keys_.size(), 20);
  const std::vector<float> other_values = RandomVector(keys_.size(), 21);
  std::unique_ptr<FullPrecisionKvCache> cache = NewCache();
  for (int layer : {0, 1}) {
    ASSERT_THAT(AppendRange(*cache, layer, keys_, values_, 0, kTokens), IsOk());
  }
  ASSERT_THAT(cache->Truncate(7), IsOk());
  EXPECT_EQ(cache->length(0), 7);
  EXPECT_EQ(cache->length(1), 7);
  ASSERT_THAT(AppendRange(*cache, 0, other_keys, other_values, 7, kTokens),
              IsOk());

  std::vector<float> spliced_keys = keys_, spliced_values = values_;
  const int64_t row = int64_t{shape_.num_kv_heads} * kHeadDim;
  std::copy(other_keys.begin() + 7 * row, other_keys.end(),
            spliced_keys.begin() + 7 * row);
  std::copy(other_values.begin() + 7 * row, other_values.end(),
            spliced_values.begin() + 7 * row);
  std::unique_ptr<FullPrecisionKvCache> fresh = NewCache();
  ASSERT_THAT(AppendRange(*fresh, 0, spliced_keys, spliced_values, 0, kTokens),
              IsOk());
  EXPECT_EQ(Attend(*cache, 0, queries_, Iota(kTokens)),
            Attend(*fresh, 0, queries_, Iota(kTokens)));
}

INSTANTIATE_TEST_SUITE_P(
    GqaRatiosAndLayouts, FullPrecisionKvCacheTest,
    ::testing::Values(CacheParam{3, 3, PairLayout::kHalf},
                      CacheParam{3, 3, PairLayout::kInterleaved},
                      CacheParam{6, 2, PairLayout::kHalf},
                      CacheParam{6, 2, PairLayout::kInterleaved},
                      CacheParam{9, 1, PairLayout::kHalf},
                      CacheParam{9, 1, PairLayout::kInterleaved}),
    [](const ::testing::TestParamInfo<CacheParam>& info) {
      return absl::StrCat("Heads", std::get<0>(info.param), "KvHeads",
                          std::get<1>(info.param), "_",
                          PairLayoutName(std::get<2>(info.param)));
    });

TEST(FullPrecisionKvCacheBytesTest, CountsWholeBlocksOfKeysAndValues) {
  const AttentionShape shape = MakeShape(4, 2, PairLayout::kInterleaved);
  FullPrecisionKvCacheOptions options;
  options.block_tokens = 4;
  CVQ_ASSERT_OK_AND_ASSIGN(std::unique_ptr<FullPrecisionKvCache> cache,
                           FullPrecisionKvCache::Create(shape, options));
  EXPECT_EQ(cache->StoredBytes(), 0);
  const std::vector<float> keys = RandomVector(9 * 2 * kHeadDim, 1);
  // Keys and values of one block: 2 * block_tokens * kv_heads * head_dim f32.
  constexpr int64_t kBlockBytes = 2 * 4 * 2 * kHeadDim * 4;
  ASSERT_THAT(AppendRange(*cache, 0, keys, keys, 0, 9), IsOk());
  EXPECT_EQ(cache->StoredBytes(), 3 * kBlockBytes);
  ASSERT_THAT(AppendRange(*cache, 1, keys, keys, 0, 1), IsOk());
  EXPECT_EQ(cache->StoredBytes(), 4 * kBlockBytes);
  EXPECT_EQ(cache->length(0), 9);
  EXPECT_EQ(cache->length(1), 1);
  ASSERT_THAT(cache->Truncate(4), IsOk());
  EXPECT_EQ(cache->StoredBytes(), 2 * kBlockBytes);
  EXPECT_EQ(cache->length(0), 4);
  EXPECT_EQ(cache->length(1), 1);
  ASSERT_THAT(cache->Truncate(0), IsOk());
  EXPECT_EQ(cache->StoredBytes(), 0);
}

class FullPrecisionKvCacheErrorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CVQ_ASSERT_OK_AND_ASSIGN(cache_, FullPrecisionKvCache::Create(shape_));
    ASSERT_THAT(AppendRange(*cache_, 0, keys_, keys_, 0, 4), IsOk());
  }

  absl::Status AttendAt(std::vector<int64_t> positions, int layer = 0) {
    const int64_t t = static_cast<int64_t>(positions.size());
    std::vector<float> queries(t * 4 * kHeadDim), out(queries.size());
    return cache_->Attend(
        layer, TensorView(queries.data(), DType::kF32, {t, 4, kHeadDim}),
        positions,
        MutableTensorView(out.data(), DType::kF32, {t, 4, kHeadDim}));
  }

  const AttentionShape shape_ = MakeShape(4, 2, PairLayout::kHalf);
  const std::vector<float> keys_ = RandomVector(4 * 2 * kHeadDim, 1);
  std::unique_ptr<FullPrecisionKvCache> cache_;
};

TEST_F(FullPrecisionKvCacheErrorTest, RejectsPositionsBeyondTheCache) {
  EXPECT_THAT(AttendAt({1, 4}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("positions[1] = 4 is outside [0, 4)")));
  EXPECT_THAT(AttendAt({-1}), StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr("positions[0] = -1")));
  // Layer 1 has nothing cached yet.
  EXPECT_THAT(AttendAt({0}, 1), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("layer 1 caches 0 tokens")));
}

TEST_F(FullPrecisionKvCacheErrorTest, RejectsPositionsThatDoNotIncrease) {
  EXPECT_THAT(AttendAt({0, 2, 2}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("positions[2] = 2 follows positions[1] = 2")));
  EXPECT_THAT(AttendAt({3, 1}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("positions[1] = 1 follows positions[0] = 3")));
}

TEST_F(FullPrecisionKvCacheErrorTest, RejectsBadLayersAndShapes) {
  EXPECT_THAT(AttendAt({0}, 2), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("layer 2 is out of range")));
  EXPECT_THAT(AppendRange(*cache_, -1, keys_, keys_, 0, 1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("layer -1 is out of range [0, 2)")));
  // Keys with 4 heads where the cache has 2 KV heads.
  EXPECT_THAT(
      cache_->Append(0, TensorView(keys_.data(), DType::kF32, {1, 4, kHeadDim}),
                     KvView(shape_, keys_.data(), 1)),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("keys: expected shape [*, 2, 8], got [1, 4, 8]")));
  EXPECT_THAT(cache_->Append(0, KvView(shape_, keys_.data(), 2),
                             KvView(shape_, keys_.data(), 1)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("values: expected shape [2, 2, 8]")));
  std::vector<float> queries(2 * 4 * kHeadDim), out(queries.size());
  EXPECT_THAT(
      cache_->Attend(
          0, TensorView(queries.data(), DType::kF32, {2, 4, kHeadDim}),
          std::vector<int64_t>{0},
          MutableTensorView(out.data(), DType::kF32, {1, 4, kHeadDim})),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("queries: expected shape [1, 4, 8], got [2, 4, 8]")));
  EXPECT_THAT(cache_->Truncate(-3),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("-3")));
  // Nothing above changed the cache.
  EXPECT_EQ(cache_->length(0), 4);
  EXPECT_EQ(cache_->length(1), 0);
}

TEST(FullPrecisionKvCacheCreateTest, RejectsBadShapes) {
  AttentionShape shape = MakeShape(5, 2, PairLayout::kHalf);
  EXPECT_THAT(
      FullPrecisionKvCache::Create(shape),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("num_kv_heads 2 does not divide num_heads 5")));
  shape = MakeShape(4, 2, PairLayout::kHalf);
  shape.head_dim = 7;
  EXPECT_THAT(FullPrecisionKvCache::Create(shape),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("even head_dim; got 7")));
  shape = MakeShape(4, 0, PairLayout::kHalf);
  EXPECT_THAT(FullPrecisionKvCache::Create(shape),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("num_kv_heads must be positive; got 0")));
  shape = MakeShape(4, 2, PairLayout::kHalf);
  FullPrecisionKvCacheOptions options;
  options.block_tokens = 0;
  EXPECT_THAT(FullPrecisionKvCache::Create(shape, options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("block_tokens must be at least 1; got 0")));
}

TEST(AttentionShapeTest, ToStringNamesEveryField) {
  AttentionShape shape = MakeShape(9, 3, PairLayout::kInterleaved);
  shape.rope_theta = 100000.0;
  EXPECT_EQ(AttentionShapeToString(shape),
            "{layers 2, heads 9, kv_heads 3, head_dim 8, rope_theta 100000, "
            "pairs interleaved}");
}

}  // namespace
}  // namespace commvq
