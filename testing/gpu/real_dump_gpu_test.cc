// The CUDA backend on real activations: SmolLM2-135M is run over the
// evaluation text, its KV dump is written, and one layer's keys, values and
// queries go through the GPU key encoder and the GPU decode attention, with
// quantizers trained on the same dump. Needs ./setup.sh (the model) and a
// GPU; skips without a GPU before loading anything.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "commvq/backend/cuda_layer_cache.h"
#include "commvq/base/bit_packing.h"
#include "commvq/base/float16.h"
#include "commvq/base/status_matchers.h"
#include "commvq/eval/kv_dump.h"
#include "commvq/io/atomic_file.h"
#include "commvq/io/safetensors.h"
#include "commvq/kvcache/commvq_key_arrays.h"
#include "commvq/kvcache/compressed_kv_cache.h"
#include "commvq/model/llama/llama_model.h"
#include "commvq/model/loaded_model.h"
#include "commvq/quantizer/commvq_key/structured_encode.h"
#include "commvq/quantizer/commvq_value/commvq_value_quantizer.h"
#include "commvq/registry/registry.h"
#include "gtest/gtest.h"
#include "kernels/cuda/device_memory.h"
#include "kernels/cuda/cublas_handle.h"
#include "kernels/cuda/key_encoder.h"
#include "kernels/cuda/value_codec.h"
#include "testing/gpu/cache_test_util.h"
#include "testing/gpu/cuda_test_util.h"

namespace commvq {
namespace {

using ::commvq::testing::IsOk;

constexpr int64_t kTokens = 256;
constexpr int64_t kWindow = 32;
constexpr int kLayer = 1;

std::string EnvPath(const char* variable, const char* file) {
  const char* dir = std::getenv(variable);
  EXPECT_NE(dir, nullptr) << variable << " is unset: run ./setup.sh";
  return dir == nullptr ? "" : absl::StrCat(dir, "/", file);
}

// One layer of the dump as f32: [tokens, heads, head_dim] each.
struct LayerSlice {
  AttentionShape shape;
  std::vector<float> queries, keys, values;
};

absl::StatusOr<std::vector<float>> F32(const SafetensorsFile& dump,
                                       const std::string& name) {
  CVQ_ASSIGN_OR_RETURN(const SafetensorsTensor* t, dump.Find(name));
  std::vector<uint16_t> halves(t->data.size() / 2);
  std::memcpy(halves.data(), t->data.data(), halves.size() * 2);
  std::vector<float> out(halves.size());
  HalvesToFloats(halves, absl::MakeSpan(out));
  return out;
}

class RealDumpGpuTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string why;
    if (!testing::CudaDeviceAvailable(&why)) return;  // each test skips
    absl::StatusOr<LoadedModel> loaded = LoadModel(
        EnvPath("COMMVQ_MODEL_DIR", "SmolLM2-135M-Instruct.Q4_1.gguf"),
        nullptr);
    ASSERT_THAT(loaded.status(), IsOk());
    absl::StatusOr<std::string> text =
        ReadFile(EnvPath("COMMVQ_TEXT_DIR", "evaluation.txt"));
    ASSERT_THAT(text.status(), IsOk());
    std::vector<int32_t> tokens = *loaded->tokenizer->Encode(*text, false);
    ASSERT_GE(static_cast<int64_t>(tokens.size()), kTokens);
    tokens.resize(kTokens);
    const std::string path =
        absl::StrCat(std::getenv("TEST_TMPDIR"), "/dump.safetensors");
    KvDumpOptions options;
    options.model_name = loaded->name;
    options.text = *text;
    ASSERT_THAT(WriteKvDump(*loaded->model, tokens, path, options), IsOk());
    absl::StatusOr<SafetensorsFile> dump = SafetensorsFile::Open(path);
    ASSERT_THAT(dump.status(), IsOk());
    slice_ = new LayerSlice();
    slice_->shape = AttentionShapeOf(loaded->model->config());
    slice_->shape.num_layers = 1;
    const std::string prefix = absl::StrCat("layers.", kLayer, ".");
    for (auto [name, out] : {std::pair{"queries", &slice_->queries},
                             std::pair{"keys", &slice_->keys},
                             std::pair{"values", &slice_->values}}) {
      absl::StatusOr<std::vector<float>> data =
          F32(*dump, absl::StrCat(prefix, name));
      ASSERT_THAT(data.status(), IsOk());
      *out = *std::move(data);
    }
  }
  static void TearDownTestSuite() { delete slice_; }

  void SetUp() override {
    CVQ_SKIP_WITHOUT_GPU();
    ASSERT_NE(slice_, nullptr) << "the KV dump was not made";
  }

  // A quantizer of the registry trained on rows [0, kTokens) of `rows`.
  static std::unique_ptr<Quantizer> Train(const std::string& spec,
                                          const std::vector<float>& rows) {
    const int64_t dim =
        int64_t{slice_->shape.num_kv_heads} * slice_->shape.head_dim;
    absl::StatusOr<std::unique_ptr<Quantizer>> q =
        QuantizerRegistry::Default().Train(
            spec, TensorView(rows.data(), DType::kF32, {kTokens, dim}));
    EXPECT_THAT(q.status(), IsOk());
    return q.ok() ? *std::move(q) : nullptr;
  }

  // The codebooks of a commvq_key quantizer as KeyQuantizerParams.
  static KeyQuantizerParams KeyParamsOf(const Quantizer& quantizer) {
    const CommvqKeyArrays arrays = *CommvqKeyArraysOf(quantizer);
    KeyCodebookShape shape;
    shape.head_dim = arrays.head_dim;
    shape.half_bits = arrays.half_bits;
    shape.layout = arrays.layout;
    return *KeyQuantizerParamsFromZ(arrays.num_kv_heads, arrays.stages, shape,
                                    arrays.z);
  }

  // The last token's query of the slice: [num_heads, head_dim].
  static std::vector<float> LastQuery() {
    const int64_t floats =
        int64_t{slice_->shape.num_heads} * slice_->shape.head_dim;
    return std::vector<float>(slice_->queries.end() - floats,
                              slice_->queries.end());
  }

  // The CPU compressed cache's decode attention of `query` at the last
  // position, after appending the whole slice (window kWindow).
  static std::vector<float> CpuAttention(std::shared_ptr<const Quantizer> key_q,
                                         std::shared_ptr<const Quantizer> value_q,
                                         const std::vector<float>& query) {
    const AttentionShape& shape = slice_->shape;
    absl::StatusOr<std::shared_ptr<const CompressedCacheCodecs>> codecs =
        CompressedCacheCodecs::Create(shape, {LayerQuantizers{key_q, value_q}});
    EXPECT_THAT(codecs.status(), IsOk());
    if (!codecs.ok()) return {};
    CompressedKvCacheOptions options;
    options.window = kWindow;
    absl::StatusOr<std::unique_ptr<CompressedKvCache>> cpu =
        CompressedKvCache::Create(*codecs, options);
    EXPECT_THAT(cpu.status(), IsOk());
    if (!cpu.ok()) return {};
    const Shape rows_shape = {kTokens, shape.num_kv_heads, shape.head_dim};
    EXPECT_THAT((*cpu)->Append(
                    0, TensorView(slice_->keys.data(), DType::kF32, rows_shape),
                    TensorView(slice_->values.data(), DType::kF32, rows_shape)),
                IsOk());
    EXPECT_EQ((*cpu)->encoded_length(0), kTokens - kWindow);
    return testing::CpuAttendLast(**cpu, query);
  }

  static std::string KeySpec() {
    return absl::StrCat("commvq_key:num_kv_heads=", slice_->shape.num_kv_heads,
                        ",half_bits=4,stages=4,layout=interleaved");
  }

  static LayerSlice* slice_;
};

LayerSlice* RealDumpGpuTest::slice_ = nullptr;

// Real keys, normalized per token, and codebooks trained on them: the GPU
// search picks the structured encoder's codes.
TEST_F(RealDumpGpuTest, KeyCodesEqualTheStructuredEncoder) {
  const std::unique_ptr<Quantizer> key_q = Train(KeySpec(), slice_->keys);
  ASSERT_NE(key_q, nullptr);
  const KeyQuantizerParams params = KeyParamsOf(*key_q);
  const int64_t head_dim = params.shape.head_dim;
  const int64_t dim = params.num_kv_heads * head_dim;
  std::vector<float> unit = slice_->keys;
  for (int64_t t = 0; t < kTokens; ++t) {
    double norm2 = 0.0;
    for (int64_t c = 0; c < dim; ++c)
      norm2 += double{unit[t * dim + c]} * unit[t * dim + c];
    const float inverse = 1.0f / static_cast<float>(std::sqrt(norm2));
    for (int64_t c = 0; c < dim; ++c) unit[t * dim + c] *= inverse;
  }
  absl::StatusOr<cuda::CudaKeyEncoder> encoder =
      cuda::CudaKeyEncoder::Create(params);
  ASSERT_THAT(encoder.status(), IsOk());
  absl::StatusOr<cuda::DeviceMemory> input =
      cuda::Upload(absl::MakeConstSpan(unit));
  const int64_t count = kTokens * params.num_kv_heads * params.stages;
  absl::StatusOr<cuda::DeviceMemory> codes =
      cuda::DeviceMemory::Allocate(count * 2);
  ASSERT_THAT(input.status(), IsOk());
  ASSERT_THAT(codes.status(), IsOk());
  ASSERT_THAT(encoder->Encode(input->as<float>(), kTokens,
                              codes->as<uint16_t>(), nullptr),
              IsOk());
  absl::StatusOr<std::vector<uint16_t>> gpu =
      cuda::Download<uint16_t>(codes->data(), count);
  ASSERT_THAT(gpu.status(), IsOk());
  std::vector<uint16_t> cpu(params.stages);
  for (int64_t h = 0; h < params.num_kv_heads; ++h) {
    const StructuredKeyEncoder cpu_encoder(params.head_codebooks(h));
    for (int64_t t = 0; t < kTokens; ++t) {
      cpu_encoder.Encode(&unit[(t * params.num_kv_heads + h) * head_dim],
                         cpu.data());
      for (int s = 0; s < params.stages; ++s) {
        ASSERT_EQ((*gpu)[(t * params.num_kv_heads + h) * params.stages + s],
                  cpu[s])
            << "token " << t << " head " << h << " stage " << s;
      }
    }
  }
}

// The last token's decode attention over 224 encoded tokens and a window of
// 32, GPU (codes from the CPU quantizers, so both hold the same codes)
// against the CPU compressed cache.
TEST_F(RealDumpGpuTest, DecodeAttentionEqualsTheCpuCompressedCache) {
  const AttentionShape& shape = slice_->shape;
  const int64_t dim = int64_t{shape.num_kv_heads} * shape.head_dim;
  std::shared_ptr<const Quantizer> key_q = Train(KeySpec(), slice_->keys);
  std::shared_ptr<const Quantizer> value_q =
      Train(CommvqValueSpec(shape.num_kv_heads, 1, "search"), slice_->values);
  ASSERT_NE(key_q, nullptr);
  ASSERT_NE(value_q, nullptr);

  const int64_t encoded = kTokens - kWindow;
  const std::vector<float> query = LastQuery();
  const std::vector<float> expected = CpuAttention(key_q, value_q, query);

  // The same codes for the GPU.
  const KeyQuantizerParams key_params = KeyParamsOf(*key_q);
  const ValueQuantizerParams& value_params = *CommvqValueParams(*value_q);
  const CodeLayout& kl = key_q->layout();
  const CodeLayout& vl = value_q->layout();
  std::vector<uint8_t> key_codes(encoded * kl.code_bytes),
      key_side(encoded * kl.side_bytes), value_codes(encoded * vl.code_bytes),
      value_side(encoded * vl.side_bytes);
  ASSERT_THAT(key_q->Encode(
                  TensorView(slice_->keys.data(), DType::kF32, {encoded, dim}),
                  MutableTensorView(key_codes.data(), DType::kU8,
                                    {encoded, kl.code_bytes}),
                  MutableTensorView(key_side.data(), DType::kU8,
                                    {encoded, kl.side_bytes})),
              IsOk());
  ASSERT_THAT(value_q->Encode(TensorView(slice_->values.data(), DType::kF32,
                                         {encoded, dim}),
                              MutableTensorView(value_codes.data(), DType::kU8,
                                                {encoded, vl.code_bytes}),
                              MutableTensorView(value_side.data(), DType::kU8,
                                                {encoded, vl.side_bytes})),
              IsOk());
  const int64_t codes_per_token = key_params.num_kv_heads * key_params.stages;
  std::vector<uint16_t> unpacked(encoded * codes_per_token);
  std::vector<float> key_norms(encoded), factors(encoded);
  for (int64_t t = 0; t < encoded; ++t) {
    ASSERT_THAT(UnpackCodes(absl::MakeConstSpan(key_codes).subspan(
                                t * kl.code_bytes, kl.code_bytes),
                            2 * key_params.shape.half_bits,
                            absl::MakeSpan(unpacked).subspan(
                                t * codes_per_token, codes_per_token)),
                IsOk());
    uint16_t norm_bits;
    std::memcpy(&norm_bits, &key_side[t * kl.side_bytes], 2);
    key_norms[t] = HalfBitsToFloat(norm_bits);
    std::memcpy(&factors[t], &value_side[t * vl.side_bytes], 4);
  }
  CudaLayerCacheOptions options;
  options.capacity = kTokens;
  options.window = kWindow;
  options.max_append = kWindow;
  options.page_tokens = 64;
  absl::StatusOr<std::unique_ptr<CudaLayerCache>> gpu =
      CudaLayerCache::Create(shape, key_params, value_params, options);
  ASSERT_THAT(gpu.status(), IsOk());
  ASSERT_THAT(
      (*gpu)->AppendEncoded(unpacked.data(), key_norms.data(),
                            value_codes.data(), factors.data(), encoded),
      IsOk());
  ASSERT_THAT(testing::GpuAppend(**gpu, slice_->keys, slice_->values, encoded,
                                 kWindow, dim),
              IsOk());
  testing::ExpectClose(testing::GpuAttend(**gpu, query), expected, 1e-3f);
}

// The whole GPU path on real data: raw keys and values appended, keys
// encoded by the GPU structured search and values by the GPU search encoder
// (the quantizer's encoder=search), against the CPU compressed cache. The
// value search may settle a near tie differently (float sums in another
// order), hence a tolerance above the shared-codes test's.
TEST_F(RealDumpGpuTest, EncodingOnTheGpuGivesTheCpuCacheAttention) {
  const AttentionShape& shape = slice_->shape;
  const int64_t dim = int64_t{shape.num_kv_heads} * shape.head_dim;
  std::shared_ptr<const Quantizer> key_q = Train(KeySpec(), slice_->keys);
  std::shared_ptr<const Quantizer> value_q =
      Train(CommvqValueSpec(shape.num_kv_heads, 2, "search"), slice_->values);
  ASSERT_NE(key_q, nullptr);
  ASSERT_NE(value_q, nullptr);
  const std::vector<float> query = LastQuery();
  const std::vector<float> expected = CpuAttention(key_q, value_q, query);

  CudaLayerCacheOptions options;
  options.capacity = kTokens;
  options.window = kWindow;
  options.max_append = 64;
  options.page_tokens = 64;
  absl::StatusOr<std::unique_ptr<CudaLayerCache>> gpu = CudaLayerCache::Create(
      shape, KeyParamsOf(*key_q), *CommvqValueParams(*value_q), options,
      *CommvqValueSearchOptions(*value_q));
  ASSERT_THAT(gpu.status(), IsOk());
  for (int64_t t = 0; t < kTokens; t += 64) {
    ASSERT_THAT(testing::GpuAppend(**gpu, slice_->keys, slice_->values, t, 64,
                                   dim),
                IsOk());
  }
  ASSERT_EQ((*gpu)->encoded_length(), kTokens - kWindow);
  testing::ExpectClose(testing::GpuAttend(**gpu, query), expected, 2e-2f);
}

// The GPU value search on real values finds the CPU quantizer's codes
// (encoder=search, its own options) except where float sums in another order
// flip a near tie, and the same factors where the codes agree.
TEST_F(RealDumpGpuTest, ValueSearchFindsTheCpuQuantizersCodes) {
  const AttentionShape& shape = slice_->shape;
  const int64_t dim = int64_t{shape.num_kv_heads} * shape.head_dim;
  std::shared_ptr<const Quantizer> value_q =
      Train(CommvqValueSpec(shape.num_kv_heads, 2, "search"), slice_->values);
  ASSERT_NE(value_q, nullptr);
  const CodeLayout& layout = value_q->layout();
  std::vector<uint8_t> codes(kTokens * layout.code_bytes),
      side(kTokens * layout.side_bytes);
  ASSERT_THAT(value_q->Encode(
                  TensorView(slice_->values.data(), DType::kF32, {kTokens, dim}),
                  MutableTensorView(codes.data(), DType::kU8,
                                    {kTokens, layout.code_bytes}),
                  MutableTensorView(side.data(), DType::kU8,
                                    {kTokens, layout.side_bytes})),
              IsOk());

  const ValueQuantizerParams& params = *CommvqValueParams(*value_q);
  absl::StatusOr<cuda::CudaValueCodec> codec = cuda::CudaValueCodec::Create(
      params, *CommvqValueSearchOptions(*value_q));
  ASSERT_THAT(codec.status(), IsOk());
  absl::StatusOr<cuda::CublasHandle> cublas = cuda::CublasHandle::Create();
  ASSERT_THAT(cublas.status(), IsOk());
  const int64_t words_per_token = cuda::ValueCodeWords(params.num_code_bits);
  auto input = cuda::Upload(absl::MakeConstSpan(slice_->values));
  auto workspace = cuda::DeviceMemory::Allocate(
      cuda::CudaValueCodec::WorkspaceBytes(params, kTokens));
  auto words = cuda::DeviceMemory::Allocate(kTokens * words_per_token * 4);
  auto factors = cuda::DeviceMemory::Allocate(kTokens * 4);
  for (const auto* m : {&input, &workspace, &words, &factors}) {
    ASSERT_THAT(m->status(), IsOk());
  }
  ASSERT_THAT(codec->Encode(input->as<float>(), kTokens, kTokens,
                            workspace->data(), words->as<uint32_t>(),
                            factors->as<float>(), *cublas, nullptr),
              IsOk());
  auto gpu_words = cuda::Download<uint32_t>(words->data(),
                                            kTokens * words_per_token);
  auto gpu_factors = cuda::Download<float>(factors->data(), kTokens);
  ASSERT_THAT(gpu_words.status(), IsOk());
  ASSERT_THAT(gpu_factors.status(), IsOk());
  int64_t same = 0;
  for (int64_t t = 0; t < kTokens; ++t) {
    // Little-endian words hold the packed bytes in order.
    const bool equal =
        std::memcmp(&(*gpu_words)[t * words_per_token],
                    &codes[t * layout.code_bytes], layout.code_bytes) == 0;
    if (!equal) continue;
    ++same;
    float factor;
    std::memcpy(&factor, &side[t * layout.side_bytes], 4);
    EXPECT_NEAR((*gpu_factors)[t], factor, 1e-4f * std::fabs(factor))
        << "token " << t;
  }
  EXPECT_GE(same, kTokens * 98 / 100)
      << same << " of " << kTokens << " tokens have the CPU's codes";
}

}  // namespace
}  // namespace commvq
