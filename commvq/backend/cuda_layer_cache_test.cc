#include "commvq/backend/cuda_layer_cache.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <numeric>
#include <vector>

#include "absl/types/span.h"
#include "commvq/base/bit_packing.h"
#include "commvq/base/random.h"
#include "commvq/base/status_matchers.h"
#include "commvq/kvcache/compressed_kv_cache.h"
#include "commvq/kvcache/rope.h"
#include "commvq/tensor/tensor_view.h"
#include "gtest/gtest.h"
#include "kernels/reference/attention_dense_reference.h"
#include "kernels/reference/attention_key_reference.h"
#include "kernels/reference/attention_value_reference.h"
#include "testing/gpu/cache_test_util.h"
#include "testing/gpu/cuda_test_util.h"

namespace commvq {
namespace {

using ::commvq::testing::CpuAttendLast;
using ::commvq::testing::ExpectClose;
using ::commvq::testing::GpuAppend;
using ::commvq::testing::GpuAttend;
using ::commvq::testing::IsOk;
using ::commvq::testing::RandomKeyParams;
using ::commvq::testing::RandomValueParams;
using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

AttentionShape Shape(int kv_heads, int group, int head_dim, PairLayout layout) {
  AttentionShape shape;
  shape.num_layers = 1;
  shape.num_heads = kv_heads * group;
  shape.num_kv_heads = kv_heads;
  shape.head_dim = head_dim;
  shape.rope_theta = 10000.0;
  shape.pair_layout = layout;
  return shape;
}

CudaLayerCacheOptions Options(int64_t capacity, int64_t window,
                              int64_t max_append, int64_t page_tokens) {
  CudaLayerCacheOptions options;
  options.capacity = capacity;
  options.window = window;
  options.max_append = max_append;
  options.page_tokens = page_tokens;
  return options;
}

std::vector<float> Normal(int64_t n, float stddev, uint64_t seed) {
  std::vector<float> x(n);
  Rng(seed).FillNormal(absl::MakeSpan(x), 0.0f, stddev);
  return x;
}

std::vector<float> Uniform(int64_t n, float low, float high, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> x(n);
  for (float& v : x) v = static_cast<float>(low + (high - low) * rng.Uniform());
  return x;
}

struct OracleCase {
  int kv_heads, group, head_dim;
  PairLayout layout;
  int stages, half_bits, bits;
  int64_t compressed, window_tokens, page_tokens;
};

class CudaLayerCacheOracleTest : public ::testing::TestWithParam<OracleCase> {};

// Known codes in pages plus a full-precision window: the GPU decode step
// against the scalar attention oracles (kernels/reference/attention_*) fed
// the very same codes.
TEST_P(CudaLayerCacheOracleTest, AttendMatchesTheScalarOracles) {
  CVQ_SKIP_WITHOUT_GPU();
  const OracleCase& c = GetParam();
  const AttentionShape shape = Shape(c.kv_heads, c.group, c.head_dim, c.layout);
  const KeyQuantizerParams keys = RandomKeyParams(
      c.kv_heads, c.head_dim, c.stages, c.half_bits, c.layout, 0.3f, 5);
  const ValueQuantizerParams values =
      RandomValueParams(c.kv_heads, c.head_dim, c.bits, 0, 6);
  const int64_t dim = values.dim;
  const int64_t nc = values.num_code_bits;
  const int64_t tc = c.compressed;
  const int64_t tw = c.window_tokens;
  const int64_t total = tc + tw;
  // Encoded tokens.
  const int codes_per_token = c.kv_heads * c.stages;
  Rng rng(8);
  std::vector<uint16_t> key_codes(tc * codes_per_token);
  for (uint16_t& code : key_codes) {
    code =
        static_cast<uint16_t>(rng.UniformInt(int64_t{1} << (2 * c.half_bits)));
  }
  const std::vector<float> key_norms = Uniform(tc, 0.5f, 1.5f, 9);
  const int64_t code_bytes = (nc + 7) / 8;
  std::vector<uint8_t> value_codes(tc * code_bytes);
  for (uint8_t& byte : value_codes) byte = static_cast<uint8_t>(rng.NextU64());
  const std::vector<float> factors = Uniform(tc, 0.5f, 1.5f, 10);
  // Window tokens.
  const std::vector<float> window_keys = Normal(tw * dim, 1.0f, 11);
  const std::vector<float> window_values = Normal(tw * dim, 1.0f, 12);
  const std::vector<float> query =
      Normal(int64_t{shape.num_heads} * c.head_dim, 1.0f, 13);

  // Both key-score kernels, and the decode kernel with values summed on
  // tensor cores.
  struct Variant {
    const char* name;
    CudaKeyKernel keys;
    cuda::ValueAccumulateForm values;
    float tolerance;  // f16 weights on tensor cores: 2^-11 relative each
  };
  const Variant variants[] = {
      {"table kernel", CudaKeyKernel::kTable,
       cuda::ValueAccumulateForm::kCudaCores, 2e-4f},
      {"decode kernel", CudaKeyKernel::kDecode,
       cuda::ValueAccumulateForm::kCudaCores, 2e-4f},
      {"decode kernel, tensor cores", CudaKeyKernel::kDecode,
       cuda::ValueAccumulateForm::kTensorCores, 2e-3f}};
  std::vector<std::vector<float>> gpu;
  for (const Variant& variant : variants) {
    CudaLayerCacheOptions options =
        Options(total + 3, std::max<int64_t>(tw, 1), std::max<int64_t>(tw, 1),
                c.page_tokens);
    options.key_kernel = variant.keys;
    options.value_accumulate = variant.values;
    absl::StatusOr<std::unique_ptr<CudaLayerCache>> cache =
        CudaLayerCache::Create(shape, keys, values, options);
    ASSERT_THAT(cache.status(), IsOk());
    ASSERT_THAT((*cache)->AppendEncoded(key_codes.data(), key_norms.data(),
                                        value_codes.data(), factors.data(), tc),
                IsOk());
    if (tw > 0) {
      ASSERT_THAT(GpuAppend(**cache, window_keys, window_values, 0, tw, dim),
                  IsOk());
    }
    ASSERT_EQ((*cache)->length(), total);
    ASSERT_EQ((*cache)->encoded_length(), tc);
    gpu.push_back(GpuAttend(**cache, query));
  }

  // The oracle.
  const Rope rope = *Rope::Create(c.head_dim, shape.rope_theta, c.layout);
  const int64_t pairs = c.head_dim / 2;
  std::vector<int64_t> positions(total);
  std::iota(positions.begin(), positions.end(), int64_t{0});
  std::vector<float> cos(total * pairs), sin(total * pairs);
  rope.ComputeCosSin(positions, absl::MakeSpan(cos), absl::MakeSpan(sin));
  const int key_bits = 2 * c.half_bits;
  const int64_t key_row = PackedBytes(codes_per_token, key_bits);
  std::vector<uint8_t> packed(tc * key_row);
  for (int64_t t = 0; t < tc; ++t) {
    ASSERT_THAT(PackCodes(absl::MakeConstSpan(key_codes).subspan(
                              t * codes_per_token, codes_per_token),
                          key_bits,
                          absl::MakeSpan(packed).subspan(t * key_row, key_row)),
                IsOk());
  }
  std::vector<float> rotated_window = window_keys;
  for (int64_t w = 0; w < tw; ++w) {
    for (int g = 0; g < c.kv_heads; ++g) {
      rope.RotateHead(&cos[(tc + w) * pairs], &sin[(tc + w) * pairs],
                      &rotated_window[(w * c.kv_heads + g) * c.head_dim]);
    }
  }
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  std::vector<float> expected(query.size(), 0.0f);
  for (int g = 0; g < c.kv_heads; ++g) {
    std::vector<float> z;
    for (const KeyCodebook& codebook : keys.head_codebooks(g)) {
      z.insert(z.end(), codebook.z().begin(), codebook.z().end());
    }
    KeyCodebookArrays arrays;
    arrays.z = z.data();
    arrays.stages = c.stages;
    arrays.half_bits = c.half_bits;
    arrays.head_dim = c.head_dim;
    arrays.layout = c.layout;
    PackedKeyCodes packed_keys;
    packed_keys.codes = packed.data();
    packed_keys.code_stride = key_row;
    packed_keys.first_code = int64_t{g} * c.stages;
    packed_keys.norms = key_norms.data();
    packed_keys.cos = cos.data();
    packed_keys.sin = sin.data();
    packed_keys.n = tc;
    for (int i = 0; i < c.group; ++i) {
      const int h = g * c.group + i;
      std::vector<float> q(query.begin() + h * c.head_dim,
                           query.begin() + (h + 1) * c.head_dim);
      rope.RotateHead(&cos[(total - 1) * pairs], &sin[(total - 1) * pairs],
                      q.data());
      std::vector<float> table(int64_t{c.stages} * (1 << c.half_bits) * 2 *
                               pairs);
      BuildKeyScoreTableReference(arrays, q.data(), table.data());
      std::vector<float> weights(total);
      KeyScoresFromTableReference(arrays, table.data(), packed_keys, scale,
                                  weights.data());
      DenseScoresReference(q.data(), rotated_window.data() + g * c.head_dim,
                           dim, c.head_dim, tw, scale, weights.data() + tc);
      SoftmaxReference(weights.data(), total);
      std::vector<float> acc(nc, 0.0f);
      AccumulateValueBitsReference(weights.data(), factors.data(),
                                   value_codes.data(), code_bytes, nc, tc,
                                   acc.data());
      float* out = &expected[h * c.head_dim];
      ValueCodeProductReference(acc.data(), values.codebook.data(),
                                values.channel_scale.data(), nc, dim,
                                int64_t{g} * c.head_dim, c.head_dim, out);
      DenseWeightedSumReference(weights.data() + tc,
                                window_values.data() + g * c.head_dim, dim,
                                c.head_dim, tw, out);
    }
  }
  for (size_t k = 0; k < gpu.size(); ++k) {
    SCOPED_TRACE(variants[k].name);
    ExpectClose(gpu[k], expected, variants[k].tolerance);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CudaLayerCacheOracleTest,
    ::testing::Values(
        // SmolLM2-like, 1-bit, several pages and a window.
        OracleCase{3, 3, 64, PairLayout::kInterleaved, 6, 6, 1, 300, 5, 64},
        // LLaMA-like head, 2-bit, GQA 12 (two head chunks), no window.
        OracleCase{1, 12, 128, PairLayout::kHalf, 21, 6, 2, 130, 0, 128},
        // Window only.
        OracleCase{2, 1, 32, PairLayout::kHalf, 3, 4, 1, 0, 7, 16},
        // Many tokens: the value accumulation splits over the token range.
        OracleCase{2, 4, 64, PairLayout::kInterleaved, 11, 6, 1, 2000, 16,
                   256}));

// The whole GPU path (encoding included) against the CPU compressed cache
// built from the same quantizers, over appends of varying sizes and
// truncations. Codes may differ only where GPU and CPU round near-ties
// differently.
TEST(CudaLayerCacheEndToEndTest, DecodeStepsMatchTheCpuCompressedCache) {
  CVQ_SKIP_WITHOUT_GPU();
  const AttentionShape shape = Shape(2, 2, 64, PairLayout::kInterleaved);
  const KeyQuantizerParams keys =
      RandomKeyParams(2, 64, 4, 6, PairLayout::kInterleaved, 0.15f, 21);
  const ValueQuantizerParams values = RandomValueParams(2, 64, 1, 64, 22);
  absl::StatusOr<std::unique_ptr<Quantizer>> key_q =
      commvq::testing::KeyQuantizerOf(keys);
  absl::StatusOr<std::unique_ptr<Quantizer>> value_q =
      commvq::testing::ValueQuantizerOf(values, 1);
  ASSERT_THAT(key_q.status(), IsOk());
  ASSERT_THAT(value_q.status(), IsOk());
  absl::StatusOr<std::shared_ptr<const CompressedCacheCodecs>> codecs =
      CompressedCacheCodecs::Create(
          shape, {LayerQuantizers{
                     std::shared_ptr<const Quantizer>(std::move(*key_q)),
                     std::shared_ptr<const Quantizer>(std::move(*value_q))}});
  ASSERT_THAT(codecs.status(), IsOk());
  CompressedKvCacheOptions cpu_options;
  cpu_options.window = 8;
  absl::StatusOr<std::unique_ptr<CompressedKvCache>> cpu =
      CompressedKvCache::Create(*codecs, cpu_options);
  ASSERT_THAT(cpu.status(), IsOk());
  const CudaLayerCacheOptions options = Options(80, 8, 5, 16);
  absl::StatusOr<std::unique_ptr<CudaLayerCache>> gpu =
      CudaLayerCache::Create(shape, keys, values, options);
  ASSERT_THAT(gpu.status(), IsOk());

  const int64_t dim = values.dim;
  const std::vector<float> k = Normal(80 * dim, 1.0f, 23);
  const std::vector<float> v = Normal(80 * dim, 1.0f, 24);
  Rng rng(25);
  int64_t length = 0;
  for (int step = 0; length + 5 <= 80; ++step) {
    const int64_t n = 1 + rng.UniformInt(5);
    ASSERT_THAT(GpuAppend(**gpu, k, v, length, n, dim), IsOk());
    ASSERT_THAT(
        (*cpu)->Append(0,
                       TensorView(&k[length * dim], DType::kF32,
                                  {n, shape.num_kv_heads, shape.head_dim}),
                       TensorView(&v[length * dim], DType::kF32,
                                  {n, shape.num_kv_heads, shape.head_dim})),
        IsOk());
    length += n;
    ASSERT_EQ((*gpu)->encoded_length(), (*cpu)->encoded_length(0))
        << "step " << step;
    const std::vector<float> query =
        Normal(int64_t{shape.num_heads} * shape.head_dim, 1.0f, 100 + step);
    const std::vector<float> expected = CpuAttendLast(**cpu, query);
    SCOPED_TRACE(::testing::Message()
                 << "step " << step << ", length " << length);
    ExpectClose(GpuAttend(**gpu, query), expected, 1e-2f);
    if (step % 5 == 4 && step < 30) {
      // Roll back 1..12 tokens: within the window or into encoded tokens;
      // the next appends refill from there on both sides.
      length -= std::min<int64_t>(length, 1 + rng.UniformInt(12));
      ASSERT_THAT((*gpu)->Truncate(length), IsOk());
      ASSERT_THAT((*cpu)->Truncate(length), IsOk());
      ASSERT_EQ((*gpu)->length(), length);
      ASSERT_EQ((*gpu)->encoded_length(), (*cpu)->encoded_length(0))
          << "after truncating to " << length;
    }
  }
}

// Shape and option checks run on the host: no device needed.
TEST(CudaLayerCacheShapeTest, RejectsMismatchedParametersAndOptions) {
  const AttentionShape shape = Shape(2, 2, 32, PairLayout::kHalf);
  const KeyQuantizerParams keys =
      RandomKeyParams(2, 32, 2, 3, PairLayout::kHalf, 0.3f, 1);
  const ValueQuantizerParams values = RandomValueParams(2, 32, 1, 0, 2);
  const CudaLayerCacheOptions options = Options(100, 8, 128, 16);
  EXPECT_THAT(CudaLayerCache::CheckShape(shape, keys, values, options), IsOk());
  EXPECT_GT(CudaLayerCache::WorkspaceBytes(shape, keys, values, options), 0);

  const KeyQuantizerParams three_heads =
      RandomKeyParams(3, 32, 2, 3, PairLayout::kHalf, 0.3f, 1);
  EXPECT_THAT(CudaLayerCache::CheckShape(shape, three_heads, values, options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("num_kv_heads 3; expected the shape's 2")));
  const KeyQuantizerParams interleaved =
      RandomKeyParams(2, 32, 2, 3, PairLayout::kInterleaved, 0.3f, 1);
  EXPECT_THAT(CudaLayerCache::CheckShape(shape, interleaved, values, options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("pair layout interleaved")));
  const ValueQuantizerParams wide = RandomValueParams(2, 64, 1, 0, 2);
  EXPECT_THAT(CudaLayerCache::CheckShape(shape, keys, wide, options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("value quantizer dim 128")));
  CudaLayerCacheOptions empty = options;
  empty.capacity = 0;
  EXPECT_THAT(
      CudaLayerCache::CheckShape(shape, keys, values, empty),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("capacity 0")));
  CudaLayerCacheOptions big_window = options;
  big_window.window = 101;
  EXPECT_THAT(
      CudaLayerCache::CheckShape(shape, keys, values, big_window),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("window 101")));
  CudaLayerCacheOptions no_append = options;
  no_append.max_append = 0;
  EXPECT_THAT(
      CudaLayerCache::CheckShape(shape, keys, values, no_append),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_append 0")));
  AttentionShape bad_group = shape;
  bad_group.num_heads = 3;
  EXPECT_THAT(CudaLayerCache::CheckShape(bad_group, keys, values, options),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_THAT(
      CudaLayerCache::Create(shape, three_heads, values, options).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

TEST(CudaLayerCacheShapeTest, BadCallsGiveErrorsNotCrashes) {
  CVQ_SKIP_WITHOUT_GPU();
  const AttentionShape shape = Shape(2, 2, 32, PairLayout::kHalf);
  const KeyQuantizerParams keys =
      RandomKeyParams(2, 32, 2, 3, PairLayout::kHalf, 0.3f, 1);
  const ValueQuantizerParams values = RandomValueParams(2, 32, 1, 0, 2);
  const CudaLayerCacheOptions options = Options(10, 4, 4, 4);
  absl::StatusOr<std::unique_ptr<CudaLayerCache>> cache =
      CudaLayerCache::Create(shape, keys, values, options);
  ASSERT_THAT(cache.status(), IsOk());
  EXPECT_THAT((*cache)->Attend(nullptr, nullptr, nullptr),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("empty cache")));
  const std::vector<float> rows = Normal(10 * 64, 1.0f, 3);
  EXPECT_THAT(
      GpuAppend(**cache, rows, rows, 0, 5, 64),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("num_tokens 5")));
  ASSERT_THAT(GpuAppend(**cache, rows, rows, 0, 4, 64), IsOk());
  // A fifth token would leave the window, and encoder=search has no GPU
  // encoder.
  EXPECT_THAT(GpuAppend(**cache, rows, rows, 4, 1, 64),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("no mlp encoder weights")));
  EXPECT_EQ((*cache)->length(), 4);
  EXPECT_THAT((*cache)->AppendEncoded(nullptr, nullptr, nullptr, nullptr, 1),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("expected an empty window")));
}

}  // namespace
}  // namespace commvq
