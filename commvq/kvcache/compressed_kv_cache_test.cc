// The compressed cache against the full-precision cache fed what the
// compressed cache holds (decoded tokens for the encoded part, the original
// tokens for the window): attention on codes must equal dense attention over
// the decoded cache, for every ISA variant and both key kernels.
#include "commvq/kvcache/compressed_kv_cache.h"

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "commvq/base/random.h"
#include "commvq/base/status_matchers.h"
#include "commvq/base/thread_pool.h"
#include "commvq/kvcache/full_precision_kv_cache.h"
#include "commvq/kvcache/synthetic_codecs.h"
#include "commvq/registry/registry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu/attention_kernels.h"

namespace commvq {
namespace {

using ::commvq::testing::IsOk;
using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

std::vector<float> Normal(int64_t size, uint64_t seed) {
  std::vector<float> v(size);
  Rng(seed).FillNormal(absl::MakeSpan(v), 0.0f, 1.0f);
  return v;
}

AttentionShape Shape(int layers, int kv_heads, int group, int head_dim,
                     PairLayout layout) {
  AttentionShape shape;
  shape.num_layers = layers;
  shape.num_heads = kv_heads * group;
  shape.num_kv_heads = kv_heads;
  shape.head_dim = head_dim;
  shape.pair_layout = layout;
  return shape;
}

// A commvq_key quantizer with random codebooks (half_bits 4, 3 stages).
std::shared_ptr<const Quantizer> RandomKeyQuantizer(const AttentionShape& shape,
                                                    uint64_t seed) {
  auto q = RandomCommvqKeyQuantizer(shape, 4, 3, seed);
  EXPECT_THAT(q.status(), IsOk());
  return *q;
}

std::shared_ptr<const Quantizer> RandomValueQuantizer(
    const AttentionShape& shape, int bits, uint64_t seed) {
  auto q = RandomCommvqValueQuantizer(shape, bits, seed);
  EXPECT_THAT(q.status(), IsOk());
  return *q;
}

std::shared_ptr<const Quantizer> Registry(const std::string& spec,
                                          const AttentionShape& shape) {
  const int64_t dim = int64_t{shape.num_kv_heads} * shape.head_dim;
  std::vector<float> none;
  auto q = QuantizerRegistry::Default().Train(
      spec, TensorView(none.data(), DType::kF32, {0, dim}));
  EXPECT_THAT(q.status(), IsOk());
  return std::shared_ptr<const Quantizer>(*std::move(q));
}

std::shared_ptr<const CompressedCacheCodecs> Codecs(
    const AttentionShape& shape, std::shared_ptr<const Quantizer> key,
    std::shared_ptr<const Quantizer> value) {
  std::vector<LayerQuantizers> layers(shape.num_layers, {key, value});
  auto codecs = CompressedCacheCodecs::Create(shape, layers);
  EXPECT_THAT(codecs.status(), IsOk());
  return *codecs;
}

// Decode(Encode(rows)) for rows [0, n) of [n, dim] (n a whole number of the
// quantizer's blocks).
std::vector<float> RoundTrip(const Quantizer& q, const std::vector<float>& rows,
                             int64_t n) {
  const int64_t dim = q.dim();
  const CodeLayout& layout = q.layout();
  std::vector<uint8_t> codes(n * layout.code_bytes);
  std::vector<uint8_t> side(n / layout.block_vectors * layout.side_bytes);
  std::vector<float> out(n * dim);
  EXPECT_THAT(
      q.Encode(TensorView(rows.data(), DType::kF32, {n, dim}),
               MutableTensorView(codes.data(), DType::kU8,
                                 {n, layout.code_bytes}),
               MutableTensorView(side.data(), DType::kU8,
                                 {n / layout.block_vectors, layout.side_bytes})),
      IsOk());
  EXPECT_THAT(
      q.Decode(TensorView(codes.data(), DType::kU8, {n, layout.code_bytes}),
               TensorView(side.data(), DType::kU8,
                          {n / layout.block_vectors, layout.side_bytes}),
               MutableTensorView(out.data(), DType::kF32, {n, dim})),
      IsOk());
  return out;
}

// What the compressed cache holds: the first `decoded` tokens as decoding
// returns them (round trips of `round_trip` tokens, block-aligned), the rest
// as given.
std::unique_ptr<FullPrecisionKvCache> Reference(
    const AttentionShape& shape, const CompressedCacheCodecs& codecs,
    const std::vector<float>& keys, const std::vector<float>& values,
    int64_t n, int64_t decoded, int64_t round_trip) {
  const int64_t dim = int64_t{shape.num_kv_heads} * shape.head_dim;
  auto reference = *FullPrecisionKvCache::Create(shape);
  std::vector<float> k(keys.begin(), keys.begin() + n * dim);
  std::vector<float> v(values.begin(), values.begin() + n * dim);
  if (decoded > 0) {
    const std::vector<float> dk =
        RoundTrip(*codecs.layer(0).quantizers.key, keys, round_trip);
    const std::vector<float> dv =
        RoundTrip(*codecs.layer(0).quantizers.value, values, round_trip);
    std::copy(dk.begin(), dk.begin() + decoded * dim, k.begin());
    std::copy(dv.begin(), dv.begin() + decoded * dim, v.begin());
  }
  if (n > 0) {
    for (int l = 0; l < shape.num_layers; ++l) {
      EXPECT_THAT(reference->Append(l, TensorView(k.data(), DType::kF32,
                                                  {n, shape.num_kv_heads,
                                                   shape.head_dim}),
                                    TensorView(v.data(), DType::kF32,
                                               {n, shape.num_kv_heads,
                                                shape.head_dim})),
                  IsOk());
    }
  }
  return reference;
}

// Attention of `queries` ([t, heads, head_dim]) at `positions` in both
// caches: the largest absolute difference.
double MaxDifference(const KvCache& a, const KvCache& b, int layer,
                     const std::vector<float>& queries,
                     const std::vector<int64_t>& positions) {
  const AttentionShape& shape = a.shape();
  const int64_t t = static_cast<int64_t>(positions.size());
  std::vector<float> out_a(queries.size()), out_b(queries.size());
  const TensorView q(queries.data(), DType::kF32,
                     {t, shape.num_heads, shape.head_dim});
  EXPECT_THAT(a.Attend(layer, q, positions,
                       MutableTensorView(out_a.data(), DType::kF32,
                                         {t, shape.num_heads, shape.head_dim})),
              IsOk());
  EXPECT_THAT(b.Attend(layer, q, positions,
                       MutableTensorView(out_b.data(), DType::kF32,
                                         {t, shape.num_heads, shape.head_dim})),
              IsOk());
  double max_diff = 0.0;
  for (size_t i = 0; i < out_a.size(); ++i) {
    max_diff = std::max<double>(max_diff, std::abs(out_a[i] - out_b[i]));
  }
  return max_diff;
}

absl::Status AppendTokens(KvCache& cache, const std::vector<float>& keys,
                          const std::vector<float>& values, int64_t begin,
                          int64_t count) {
  const AttentionShape& shape = cache.shape();
  const int64_t dim = int64_t{shape.num_kv_heads} * shape.head_dim;
  for (int l = 0; l < shape.num_layers; ++l) {
    const absl::Status status = cache.Append(
        l,
        TensorView(&keys[begin * dim], DType::kF32,
                   {count, shape.num_kv_heads, shape.head_dim}),
        TensorView(&values[begin * dim], DType::kF32,
                   {count, shape.num_kv_heads, shape.head_dim}));
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

// Output values are averages of values ~N(0, 1): the tolerance covers the
// float sums over a few thousand tokens in different orders, and for the
// decode key kernel the rounding of its int16 centre planes
// (MakeKeyCentrePlanesI16Reference), which moves a score by ~1e-4 of its
// size (the kernel tests bound it): with these random codebooks' large
// scores, outputs by up to ~2.6e-3.
double Tolerance(const CompressedKvCache& cache) {
  return absl::StartsWith(cache.KeyKernelName(), "decode") ? 5e-3 : 2e-4;
}

// group, head_dim, layout, window, length.
using Param = std::tuple<int, int, PairLayout, int, int>;

class CommvqKeyCacheTest : public ::testing::TestWithParam<Param> {};

TEST_P(CommvqKeyCacheTest, AttentionOnCodesEqualsDenseAttentionOverDecoded) {
  const auto [group, head_dim, layout, window, length] = GetParam();
  const AttentionShape shape = Shape(1, 2, group, head_dim, layout);
  const auto codecs = Codecs(shape, RandomKeyQuantizer(shape, 1),
                             Registry("fp16", shape));
  const int64_t dim = 2 * head_dim;
  const std::vector<float> keys = Normal(length * dim, 2);
  const std::vector<float> values = Normal(length * dim, 3);
  const int64_t encoded = std::max(0, length - window);
  const auto reference =
      Reference(shape, *codecs, keys, values, length, encoded, encoded);
  const std::vector<float> queries = Normal(2 * shape.num_heads * head_dim, 4);
  for (const AttentionKernels* kernels : AvailableAttentionKernels()) {
    for (const KeyKernel key_kernel : {KeyKernel::kTable, KeyKernel::kDecode}) {
      SCOPED_TRACE(absl::StrCat(kernels->isa, " kernel ",
                                static_cast<int>(key_kernel)));
      CompressedKvCacheOptions options;
      options.window = window;
      options.page_tokens = 100;  // pages end mid-window and mid-context
      options.kernels = kernels;
      options.key_kernel = key_kernel;
      auto cache = *CompressedKvCache::Create(codecs, options);
      // Appended in two parts: encoding happens as the window fills.
      const int64_t first = length / 3;
      if (first > 0) {
        ASSERT_THAT(AppendTokens(*cache, keys, values, 0, first), IsOk());
      }
      if (length > first) {
        ASSERT_THAT(AppendTokens(*cache, keys, values, first, length - first),
                    IsOk());
      }
      ASSERT_EQ(cache->length(0), length);
      ASSERT_EQ(cache->encoded_length(0), encoded);
      if (length == 0) continue;
      // A decode step at the end and a prefill pair earlier on.
      const std::vector<int64_t> last = {length - 1};
      const std::vector<float> one(queries.begin(),
                                   queries.begin() + shape.num_heads * head_dim);
      EXPECT_LT(MaxDifference(*cache, *reference, 0, one, last),
                Tolerance(*cache));
      if (length >= 2) {
        EXPECT_LT(MaxDifference(*cache, *reference, 0, queries,
                                {length / 2 - 1 + (length == 2), length - 1}),
                  Tolerance(*cache));
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Small, CommvqKeyCacheTest,
    ::testing::Combine(::testing::Values(1, 3, 4, 8), ::testing::Values(64, 128),
                       ::testing::Values(PairLayout::kHalf,
                                         PairLayout::kInterleaved),
                       ::testing::Values(0, 1, 128),
                       ::testing::Values(0, 1, 127, 128, 129)));

INSTANTIATE_TEST_SUITE_P(
    Long, CommvqKeyCacheTest,
    ::testing::Combine(::testing::Values(4), ::testing::Values(128),
                       ::testing::Values(PairLayout::kHalf,
                                         PairLayout::kInterleaved),
                       ::testing::Values(128), ::testing::Values(3000)));

// group, window, length.
using ValueParam = std::tuple<int, int, int>;

class CommvqValueCacheTest : public ::testing::TestWithParam<ValueParam> {};

TEST_P(CommvqValueCacheTest, ValuesOnCodesEqualDenseAttentionOverDecoded) {
  const auto [group, window, length] = GetParam();
  const AttentionShape shape = Shape(1, 2, group, 64, PairLayout::kInterleaved);
  const auto codecs = Codecs(shape, RandomKeyQuantizer(shape, 21),
                             RandomValueQuantizer(shape, 1, 22));
  ASSERT_NE(codecs->layer(0).value_params, nullptr);
  const std::vector<float> keys = Normal(length * 128, 23);
  const std::vector<float> values = Normal(length * 128, 24);
  const int64_t encoded = std::max(0, length - window);
  const auto reference =
      Reference(shape, *codecs, keys, values, length, encoded, encoded);
  const std::vector<float> queries = Normal(2 * shape.num_heads * 64, 25);
  for (const AttentionKernels* kernels : AvailableAttentionKernels()) {
    SCOPED_TRACE(kernels->isa);
    CompressedKvCacheOptions options;
    options.window = window;
    options.page_tokens = 100;
    options.kernels = kernels;
    auto cache = *CompressedKvCache::Create(codecs, options);
    ASSERT_THAT(AppendTokens(*cache, keys, values, 0, length), IsOk());
    EXPECT_LT(MaxDifference(*cache, *reference, 0, queries,
                            {length / 2 - 1, length - 1}),
              Tolerance(*cache));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CommvqValueCacheTest,
    ::testing::Combine(::testing::Values(1, 4), ::testing::Values(0, 128),
                       ::testing::Values(2, 129, 400)));

TEST(CompressedKvCacheTest, KiviKeepsPartialBlocksInTheWindowAndTruncates) {
  const AttentionShape shape = Shape(2, 2, 2, 64, PairLayout::kInterleaved);
  const auto codecs = Codecs(shape, Registry("kivi:mode=key,bits=2", shape),
                             Registry("kivi:mode=value,bits=2", shape));
  ASSERT_EQ(codecs->layer(0).chunk_tokens, 32);
  CompressedKvCacheOptions options;
  options.window = 0;
  auto cache = *CompressedKvCache::Create(codecs, options);
  const int64_t dim = 2 * 64;
  const std::vector<float> keys = Normal(200 * dim, 5);
  const std::vector<float> values = Normal(200 * dim, 6);
  ASSERT_THAT(AppendTokens(*cache, keys, values, 0, 200), IsOk());
  EXPECT_EQ(cache->encoded_length(1), 192);
  const std::vector<float> queries = Normal(shape.num_heads * 64, 7);
  EXPECT_LT(MaxDifference(
                *cache, *Reference(shape, *codecs, keys, values, 200, 192, 192),
                1, queries, {199}),
            Tolerance(*cache));
  // Into the encoded part, mid-block: the block's kept tokens come back
  // decoded into the window.
  ASSERT_THAT(cache->Truncate(150), IsOk());
  EXPECT_EQ(cache->length(0), 150);
  EXPECT_EQ(cache->encoded_length(0), 128);
  EXPECT_LT(MaxDifference(
                *cache, *Reference(shape, *codecs, keys, values, 150, 150, 160),
                0, queries, {149}),
            Tolerance(*cache));
  cache->Clear();
  EXPECT_EQ(cache->length(0), 0);
  EXPECT_EQ(cache->Memory().codes, 0);
}

TEST(CompressedKvCacheTest, FullPrecisionPrefillKeepsAnAppendExactUntilTheNext) {
  const AttentionShape shape = Shape(1, 2, 3, 64, PairLayout::kInterleaved);
  const auto codecs = Codecs(shape, RandomKeyQuantizer(shape, 31),
                             RandomValueQuantizer(shape, 2, 32));
  CompressedKvCacheOptions options;
  options.window = 8;
  options.full_precision_prefill = true;
  auto cache = *CompressedKvCache::Create(codecs, options);
  const int64_t dim = 2 * 64;
  const std::vector<float> keys = Normal(60 * dim, 33);
  const std::vector<float> values = Normal(60 * dim, 34);
  // A 50-token prompt: all of it in full precision for its own attention.
  ASSERT_THAT(AppendTokens(*cache, keys, values, 0, 50), IsOk());
  EXPECT_EQ(cache->encoded_length(0), 0);
  const std::vector<float> prompt_queries = Normal(3 * shape.num_heads * 64, 35);
  EXPECT_LT(
      MaxDifference(*cache, *Reference(shape, *codecs, keys, values, 50, 0, 0),
                    0, prompt_queries, {0, 20, 49}),
      Tolerance(*cache));
  // The next token (a decode step) first encodes what the prompt pushed
  // beyond the window: 51 - 8 = 43 tokens; the new one stays exact.
  ASSERT_THAT(AppendTokens(*cache, keys, values, 50, 1), IsOk());
  EXPECT_EQ(cache->encoded_length(0), 43);
  const std::vector<float> query = Normal(shape.num_heads * 64, 36);
  EXPECT_LT(MaxDifference(*cache,
                          *Reference(shape, *codecs, keys, values, 51, 43, 43),
                          0, query, {50}),
            Tolerance(*cache));
  // Decode steps from then on keep exactly `window` tokens, as without the
  // option.
  ASSERT_THAT(AppendTokens(*cache, keys, values, 51, 1), IsOk());
  EXPECT_EQ(cache->encoded_length(0), 44);
}

TEST(CompressedKvCacheTest, TruncateThenAppendMatchesTheReference) {
  const AttentionShape shape = Shape(1, 2, 4, 64, PairLayout::kHalf);
  const auto codecs = Codecs(shape, RandomKeyQuantizer(shape, 8),
                             Registry("int:bits=4", shape));
  CompressedKvCacheOptions options;
  options.window = 16;
  auto cache = *CompressedKvCache::Create(codecs, options);
  const int64_t dim = 128;
  const std::vector<float> keys = Normal(300 * dim, 9);
  const std::vector<float> values = Normal(300 * dim, 10);
  ASSERT_THAT(AppendTokens(*cache, keys, values, 0, 300), IsOk());
  ASSERT_THAT(cache->Truncate(100), IsOk());
  ASSERT_THAT(AppendTokens(*cache, keys, values, 100, 50), IsOk());
  EXPECT_EQ(cache->length(0), 150);
  EXPECT_EQ(cache->encoded_length(0), 134);
  const std::vector<float> queries = Normal(shape.num_heads * 64, 11);
  EXPECT_LT(MaxDifference(
                *cache, *Reference(shape, *codecs, keys, values, 150, 134, 134),
                0, queries, {149}),
            Tolerance(*cache));
}

TEST(CompressedKvCacheTest, MemoryIsAccountedByComponent) {
  const AttentionShape shape = Shape(3, 2, 2, 64, PairLayout::kInterleaved);
  const auto key = RandomKeyQuantizer(shape, 12);
  const auto value = Registry("int:bits=2", shape);
  const auto codecs = Codecs(shape, key, value);
  CompressedKvCacheOptions options;
  options.window = 10;
  options.page_tokens = 64;
  auto cache = *CompressedKvCache::Create(codecs, options);
  const std::vector<float> keys = Normal(100 * 128, 13);
  const std::vector<float> values = Normal(100 * 128, 14);
  ASSERT_THAT(AppendTokens(*cache, keys, values, 0, 100), IsOk());
  const CompressedKvCacheMemory memory = cache->Memory();
  const int64_t encoded = 90;
  EXPECT_EQ(memory.codes, 3 * encoded * (key->layout().code_bytes +
                                         value->layout().code_bytes));
  EXPECT_EQ(memory.side, 3 * encoded * (key->layout().side_bytes +
                                        value->layout().side_bytes));
  const int64_t page_bytes =
      64 * (key->layout().code_bytes + key->layout().side_bytes +
            value->layout().code_bytes + value->layout().side_bytes);
  EXPECT_EQ(memory.codes + memory.side + memory.page_slack,
            3 * 2 * (page_bytes + 8));
  EXPECT_GE(memory.window, 3 * 2 * 10 * 128 * 4);
  EXPECT_EQ(memory.codebooks,
            key->ParameterBytes() + value->ParameterBytes() +
                // + per layer the int16 planes (as many bytes as the f32
                // codebooks) and a scale per pair of each KV head.
                3 * (key->ParameterBytes() + 2 * 32 * 4));
  EXPECT_EQ(cache->StoredBytes(), memory.kv_bytes());

  // A long append encodes most of what it brought: the window buffer it
  // needed is released, not counted.
  auto long_append = *CompressedKvCache::Create(codecs, options);
  const std::vector<float> many = Normal(2000 * 128, 15);
  ASSERT_THAT(AppendTokens(*long_append, many, many, 0, 2000), IsOk());
  EXPECT_LE(long_append->Memory().window, 3 * 2 * (2 * 10 * 128 + 1024) * 4);
}

TEST(CompressedKvCacheTest, BatchedDecodeEqualsPerSequenceAttention) {
  const AttentionShape shape = Shape(1, 2, 3, 64, PairLayout::kInterleaved);
  const auto codecs = Codecs(shape, RandomKeyQuantizer(shape, 15),
                             Registry("fp16", shape));
  CompressedKvCacheOptions options;
  options.window = 4;
  std::vector<std::unique_ptr<CompressedKvCache>> caches;
  std::vector<const CompressedKvCache*> pointers;
  const std::vector<float> keys = Normal(50 * 128, 16);
  const std::vector<float> values = Normal(50 * 128, 17);
  for (const int64_t length : {1, 50, 17}) {
    caches.push_back(*CompressedKvCache::Create(codecs, options));
    ASSERT_THAT(AppendTokens(*caches.back(), keys, values, 0, length), IsOk());
    pointers.push_back(caches.back().get());
  }
  const int64_t row = shape.num_heads * 64;
  const std::vector<float> queries = Normal(3 * row, 18);
  std::vector<float> out(3 * row);
  ThreadPool pool(2);
  ASSERT_THAT(AttendBatch(pointers, 0,
                          TensorView(queries.data(), DType::kF32,
                                     {3, shape.num_heads, 64}),
                          MutableTensorView(out.data(), DType::kF32,
                                            {3, shape.num_heads, 64}),
                          &pool),
              IsOk());
  for (int b = 0; b < 3; ++b) {
    std::vector<float> single(row);
    const int64_t position = caches[b]->length(0) - 1;
    ASSERT_THAT(caches[b]->Attend(
                    0, TensorView(&queries[b * row], DType::kF32,
                                  {1, shape.num_heads, 64}),
                    {position},
                    MutableTensorView(single.data(), DType::kF32,
                                      {1, shape.num_heads, 64})),
                IsOk());
    for (int64_t i = 0; i < row; ++i) ASSERT_EQ(out[b * row + i], single[i]);
  }
}

// Attend splits keys over (KV head, page range), softmax over query heads
// and values over code bytes: every output element is still computed by
// one thread in a fixed order, so any thread count gives the same bits.
TEST(CompressedKvCacheTest, ThreadsSplitTheWorkWithoutChangingResults) {
  const AttentionShape shape = Shape(1, 3, 3, 64, PairLayout::kHalf);
  const auto codecs = Codecs(shape, RandomKeyQuantizer(shape, 41),
                             RandomValueQuantizer(shape, 2, 42));
  const int64_t length = 300;
  const std::vector<float> keys = Normal(length * 192, 43);
  const std::vector<float> values = Normal(length * 192, 44);
  const std::vector<float> queries = Normal(2 * shape.num_heads * 64, 45);
  std::vector<std::vector<float>> outputs;
  for (const int threads : {0, 2, 3}) {
    SCOPED_TRACE(absl::StrCat(threads, " threads"));
    ThreadPool pool(threads);
    CompressedKvCacheOptions options;
    options.window = 5;
    options.page_tokens = 16;  // many pages to split
    options.pool = threads > 0 ? &pool : nullptr;
    auto cache = *CompressedKvCache::Create(codecs, options);
    ASSERT_THAT(AppendTokens(*cache, keys, values, 0, length), IsOk());
    std::vector<float> out(queries.size());
    ASSERT_THAT(cache->Attend(0,
                              TensorView(queries.data(), DType::kF32,
                                         {2, shape.num_heads, 64}),
                              {length / 2, length - 1},
                              MutableTensorView(out.data(), DType::kF32,
                                                {2, shape.num_heads, 64})),
                IsOk());
    outputs.push_back(out);
  }
  for (size_t i = 0; i < outputs[0].size(); ++i) {
    ASSERT_EQ(outputs[1][i], outputs[0][i]) << i;
    ASSERT_EQ(outputs[2][i], outputs[0][i]) << i;
  }
}

// Attention of one query ([num_heads, head_dim]) at `position`.
std::vector<float> AttendOne(const CompressedKvCache& cache,
                             const std::vector<float>& query,
                             int64_t position) {
  const AttentionShape& shape = cache.shape();
  std::vector<float> out(query.size());
  EXPECT_THAT(
      cache.Attend(0,
                   TensorView(query.data(), DType::kF32,
                              {1, shape.num_heads, shape.head_dim}),
                   {position},
                   MutableTensorView(out.data(), DType::kF32,
                                     {1, shape.num_heads, shape.head_dim})),
      IsOk());
  return out;
}

// Attend's scratch is kept between calls: a call no larger than earlier
// ones allocates nothing, and a decode loop (one token more per step) only
// as often as its buffers double.
TEST(CompressedKvCacheTest, AttendReusesItsWorkspace) {
  const AttentionShape shape = Shape(1, 2, 4, 64, PairLayout::kHalf);
  const auto codecs = Codecs(shape, RandomKeyQuantizer(shape, 51),
                             RandomValueQuantizer(shape, 2, 52));
  const int64_t length = 364;
  const std::vector<float> keys = Normal(length * 128, 53);
  const std::vector<float> values = Normal(length * 128, 54);
  const std::vector<float> query = Normal(shape.num_heads * 64, 55);
  ThreadPool pool(2);
  CompressedKvCacheOptions options;
  options.window = 8;
  options.page_tokens = 32;
  options.pool = &pool;
  auto cache = *CompressedKvCache::Create(codecs, options);
  ASSERT_THAT(AppendTokens(*cache, keys, values, 0, 300), IsOk());
  EXPECT_EQ(cache->workspace_allocations(), 0);
  EXPECT_EQ(cache->Memory().workspace, 0);

  const std::vector<float> first = AttendOne(*cache, query, 299);
  const int64_t allocations = cache->workspace_allocations();
  EXPECT_GT(allocations, 0);
  EXPECT_GT(cache->Memory().workspace, 0);
  // The same call again, and a shorter one: no allocation, the same bits.
  EXPECT_EQ(AttendOne(*cache, query, 299), first);
  AttendOne(*cache, query, 100);
  EXPECT_EQ(cache->workspace_allocations(), allocations);

  // 64 decode steps: buffers sized by the context grow at most once each.
  for (int64_t t = 300; t < length; ++t) {
    ASSERT_THAT(AppendTokens(*cache, keys, values, t, 1), IsOk());
    AttendOne(*cache, query, t);
  }
  EXPECT_LT(cache->workspace_allocations() - allocations, 16);

  cache->Clear();
  EXPECT_EQ(cache->workspace_allocations(), 0);
  EXPECT_EQ(cache->Memory().workspace, 0);
}

// Attend is const: threads attending one cache at once (each call taking
// its own workspace, all sharing the cache's pool) get the bits of calls
// one at a time. Run under TSan (--config=tsan) to check the workspaces'
// hand-over.
TEST(CompressedKvCacheTest, ConcurrentAttendsEqualSequentialOnes) {
  const AttentionShape shape = Shape(1, 2, 3, 64, PairLayout::kInterleaved);
  const auto codecs = Codecs(shape, RandomKeyQuantizer(shape, 61),
                             RandomValueQuantizer(shape, 1, 62));
  const int64_t length = 200;
  const std::vector<float> keys = Normal(length * 128, 63);
  const std::vector<float> values = Normal(length * 128, 64);
  ThreadPool pool(2);
  CompressedKvCacheOptions options;
  options.window = 4;
  options.page_tokens = 16;
  options.pool = &pool;
  auto cache = *CompressedKvCache::Create(codecs, options);
  ASSERT_THAT(AppendTokens(*cache, keys, values, 0, length), IsOk());
  // Each thread its own queries and positions (so its own call sizes).
  const int kThreads = 4;
  const int kCalls = 6;
  std::vector<std::vector<float>> queries;
  std::vector<std::vector<float>> want;
  for (int k = 0; k < kThreads * kCalls; ++k) {
    queries.push_back(Normal(shape.num_heads * 64, 100 + k));
    want.push_back(AttendOne(*cache, queries.back(), length - 1 - 7 * k));
  }
  std::vector<std::vector<float>> got(want.size());
  std::vector<std::thread> threads;
  for (int thread = 0; thread < kThreads; ++thread) {
    threads.emplace_back([&, thread] {
      for (int call = 0; call < kCalls; ++call) {
        const int k = call * kThreads + thread;
        got[k] = AttendOne(*cache, queries[k], length - 1 - 7 * k);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (size_t k = 0; k < want.size(); ++k) EXPECT_EQ(got[k], want[k]) << k;
}

TEST(CompressedKvCacheTest, AppendEncodedEqualsAppendingAndEncoding) {
  const AttentionShape shape = Shape(1, 2, 2, 64, PairLayout::kInterleaved);
  const auto codecs = Codecs(shape, Registry("kivi:mode=key,bits=2", shape),
                             RandomValueQuantizer(shape, 1, 30));
  const std::vector<float> keys = Normal(96 * 128, 31);
  const std::vector<float> values = Normal(96 * 128, 32);
  CompressedKvCacheOptions options;
  options.window = 0;
  options.page_tokens = 40;  // 64: pages split the appended tokens
  auto appended = *CompressedKvCache::Create(codecs, options);
  ASSERT_THAT(AppendTokens(*appended, keys, values, 0, 96), IsOk());
  auto restored = *CompressedKvCache::Create(codecs, options);
  std::vector<std::vector<uint8_t>> parts;
  parts.reserve(4);  // views point into the parts
  std::vector<TensorView> views;
  for (const auto* q : {codecs->layer(0).quantizers.key.get(),
                        codecs->layer(0).quantizers.value.get()}) {
    const CodeLayout& layout = q->layout();
    parts.emplace_back(96 * layout.code_bytes);
    parts.emplace_back(96 / layout.block_vectors * layout.side_bytes);
    const auto& rows = q == codecs->layer(0).quantizers.key.get() ? keys : values;
    ASSERT_THAT(q->Encode(TensorView(rows.data(), DType::kF32, {96, 128}),
                          MutableTensorView(parts[parts.size() - 2].data(),
                                            DType::kU8, {96, layout.code_bytes}),
                          MutableTensorView(parts.back().data(), DType::kU8,
                                            {96 / layout.block_vectors,
                                             layout.side_bytes})),
                IsOk());
    views.push_back(TensorView(parts[parts.size() - 2].data(), DType::kU8,
                               {96, layout.code_bytes}));
    views.push_back(TensorView(parts.back().data(), DType::kU8,
                               {96 / layout.block_vectors, layout.side_bytes}));
  }
  ASSERT_THAT(restored->AppendEncoded(0, views[0], views[1], views[2], views[3]),
              IsOk());
  EXPECT_EQ(restored->length(0), 96);
  const std::vector<float> queries = Normal(shape.num_heads * 64, 33);
  EXPECT_EQ(MaxDifference(*restored, *appended, 0, queries, {95}), 0.0);
  EXPECT_EQ(restored->Memory().codes, appended->Memory().codes);

  options.window = 8;
  auto windowed = *CompressedKvCache::Create(codecs, options);
  ASSERT_THAT(AppendTokens(*windowed, keys, values, 0, 4), IsOk());
  EXPECT_THAT(windowed->AppendEncoded(0, views[0], views[1], views[2], views[3]),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("window")));
  EXPECT_THAT(restored->AppendEncoded(0, views[0].Rows(0, 5), views[1],
                                      views[2], views[3]),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("multiple of the chunk 32")));
}

TEST(CompressedKvCacheTest, RejectsBadOptionsAndMismatchedQuantizers) {
  const AttentionShape shape = Shape(1, 2, 2, 64, PairLayout::kInterleaved);
  const auto codecs = Codecs(shape, Registry("fp16", shape),
                             Registry("fp16", shape));
  CompressedKvCacheOptions options;
  options.window = -1;
  EXPECT_THAT(CompressedKvCache::Create(codecs, options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("window must be >= 0; got -1")));
  options.window = 0;
  options.page_tokens = 0;
  EXPECT_THAT(CompressedKvCache::Create(codecs, options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("page_tokens")));
  const AttentionShape wide = Shape(1, 4, 2, 64, PairLayout::kInterleaved);
  EXPECT_THAT(CompressedCacheCodecs::Create(
                  shape, {{Registry("fp16", wide), Registry("fp16", shape)}})
                  .status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("has dim 256: expected")));
  const AttentionShape half = Shape(1, 2, 2, 64, PairLayout::kHalf);
  EXPECT_THAT(CompressedCacheCodecs::Create(
                  shape, {{RandomKeyQuantizer(half, 1), Registry("fp16", shape)}})
                  .status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("pairs half")));
}

}  // namespace
}  // namespace commvq
