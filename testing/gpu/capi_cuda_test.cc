// The C ABI's "cuda" backend end to end with the real provider library: a
// cache of a "cuda" context (device tensors, the provider's CudaLayerCache
// per layer, values encoded on the GPU by the quantizer's own encoder) gives
// the decode attention of the CPU cache of the same storage, step by step
// while tokens leave the window, and after a truncation.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "capi/commvq.h"
#include "commvq/base/random.h"
#include "gtest/gtest.h"
#include "testing/gpu/cuda_test_util.h"

namespace commvq {
namespace {

constexpr int kLayers = 2, kHeads = 4, kKvHeads = 2, kHeadDim = 4;
constexpr int64_t kRow = kKvHeads * kHeadDim, kQueryRow = kHeads * kHeadDim;

std::string Runfile(const char* path) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  return std::string(srcdir ? srcdir : ".") + "/commvq/" + path;
}

// Fails the test with the status's message unless it is OK.
void ExpectOk(cvq_status* status) {
  EXPECT_EQ(cvq_status_code(status), CVQ_STATUS_OK)
      << cvq_status_message(status);
  cvq_status_destroy(status);
}

cvq_tensor Tensor(float* data, int64_t* shape, int32_t device_type) {
  cvq_tensor t = {};
  t.struct_size = sizeof(t);
  t.dtype_code = CVQ_DTYPE_CODE_FLOAT;
  t.dtype_bits = 32;
  t.dtype_lanes = 1;
  t.device_type = device_type;
  t.ndim = 3;
  t.data = data;
  t.shape = shape;
  return t;
}

cvq_cache* MakeCache(cvq_context* context, const std::string& storage) {
  cvq_cache_options options = {};
  options.struct_size = sizeof(options);
  options.num_layers = kLayers;
  options.num_heads = kHeads;
  options.num_kv_heads = kKvHeads;
  options.head_dim = kHeadDim;
  options.pair_layout = CVQ_PAIR_LAYOUT_HALF;
  options.rope_theta = 10000.0;
  options.storage = storage.c_str();
  cvq_cache* cache = nullptr;
  ExpectOk(cvq_cache_create(context, &options, &cache));
  return cache;
}

// Device buffers for one token's keys and values and one query's output.
struct DeviceToken {
  float *keys = nullptr, *values = nullptr, *query = nullptr, *out = nullptr;
  DeviceToken() {
    cudaMalloc(&keys, kRow * sizeof(float));
    cudaMalloc(&values, kRow * sizeof(float));
    cudaMalloc(&query, kQueryRow * sizeof(float));
    cudaMalloc(&out, kQueryRow * sizeof(float));
  }
  ~DeviceToken() {
    cudaFree(keys);
    cudaFree(values);
    cudaFree(query);
    cudaFree(out);
  }
};

class CapiCudaTest : public ::testing::TestWithParam<int> {
 protected:
  // Before the first "cuda" context of the process: the provider built
  // beside this test (libcommvq.so would look next to itself otherwise).
  static void SetUpTestSuite() {
    setenv("COMMVQ_CUDA_PROVIDER",
           Runfile("commvq/backend/libcommvq_cuda.so").c_str(), 1);
  }
};

TEST_P(CapiCudaTest, DecodeAttentionMatchesTheCpuCache) {
  CVQ_SKIP_WITHOUT_GPU();
  const int window = GetParam();
  const std::string codebook = Runfile("capi/commvq_tiny.cvqcb");
  cvq_context_options context_options = {};
  context_options.struct_size = sizeof(context_options);
  context_options.num_threads = 1;
  context_options.backend = "cuda";
  cvq_context* context = nullptr;
  ExpectOk(cvq_context_create(&context_options, &context));
  ASSERT_NE(context, nullptr);
  const std::string options = "commvq:codebooks=" + codebook +
                              ",window=" + std::to_string(window);
  cvq_cache* cpu = MakeCache(nullptr, options);
  cvq_cache* gpu = MakeCache(context, options + ",capacity=300");
  ASSERT_NE(cpu, nullptr);
  ASSERT_NE(gpu, nullptr);

  Rng rng(17);
  DeviceToken device;
  std::vector<float> keys(kRow), values(kRow), query(kQueryRow),
      want(kQueryRow), got(kQueryRow);
  int64_t kv_shape[3] = {1, kKvHeads, kHeadDim};
  int64_t q_shape[3] = {1, kHeads, kHeadDim};
  double worst = 0.0;
  const auto step = [&](int64_t position) {
    for (int layer = 0; layer < kLayers; ++layer) {
      rng.FillNormal(absl::MakeSpan(keys), 0.0f, 1.0f);
      rng.FillNormal(absl::MakeSpan(values), 0.0f, 1.0f);
      rng.FillNormal(absl::MakeSpan(query), 0.0f, 1.0f);
      cvq_tensor k = Tensor(keys.data(), kv_shape, CVQ_DEVICE_CPU);
      cvq_tensor v = Tensor(values.data(), kv_shape, CVQ_DEVICE_CPU);
      cvq_tensor q = Tensor(query.data(), q_shape, CVQ_DEVICE_CPU);
      cvq_tensor o = Tensor(want.data(), q_shape, CVQ_DEVICE_CPU);
      ExpectOk(cvq_cache_append(cpu, layer, &k, &v));
      ExpectOk(cvq_cache_attend(cpu, layer, &q, &position, 1, &o));
      cudaMemcpy(device.keys, keys.data(), kRow * sizeof(float),
                 cudaMemcpyHostToDevice);
      cudaMemcpy(device.values, values.data(), kRow * sizeof(float),
                 cudaMemcpyHostToDevice);
      cudaMemcpy(device.query, query.data(), kQueryRow * sizeof(float),
                 cudaMemcpyHostToDevice);
      k = Tensor(device.keys, kv_shape, CVQ_DEVICE_CUDA);
      v = Tensor(device.values, kv_shape, CVQ_DEVICE_CUDA);
      q = Tensor(device.query, q_shape, CVQ_DEVICE_CUDA);
      o = Tensor(device.out, q_shape, CVQ_DEVICE_CUDA);
      ExpectOk(cvq_cache_append(gpu, layer, &k, &v));
      ExpectOk(cvq_cache_attend(gpu, layer, &q, &position, 1, &o));
      ASSERT_EQ(cudaMemcpy(got.data(), device.out, kQueryRow * sizeof(float),
                           cudaMemcpyDeviceToHost),
                cudaSuccess);
      double scale = 0.0, diff = 0.0;
      for (int64_t i = 0; i < kQueryRow; ++i) {
        scale = std::max(scale, std::fabs(double{want[i]}));
        diff = std::max(diff, std::fabs(double{got[i]} - want[i]));
      }
      worst = std::max(worst, diff / std::max(scale, 1e-6));
    }
  };
  for (int64_t t = 0; t < 200; ++t) step(t);
  ExpectOk(cvq_cache_truncate(cpu, 150));
  ExpectOk(cvq_cache_truncate(gpu, 150));
  for (int64_t t = 150; t < 250; ++t) step(t);
  // The GPU's value search may settle a near tie differently from the CPU
  // (float sums in another order), and the CPU decode kernel reads int16
  // centre planes (5e-3 of the scores): 2% of the output's scale bounds both.
  EXPECT_LT(worst, 2e-2) << "window " << window;

  cvq_cache_memory memory = {};
  memory.struct_size = sizeof(memory);
  ExpectOk(cvq_cache_memory_get(gpu, &memory));
  EXPECT_EQ(memory.num_tokens, 250);
  EXPECT_EQ(memory.encoded_tokens, 250 - window);
  EXPECT_GT(memory.codes, 0);
  EXPECT_GT(memory.workspace, 0);
  EXPECT_GT(memory.codebooks, 0);
  cvq_cache_destroy(gpu);
  cvq_cache_destroy(cpu);
  cvq_context_destroy(context);
}

INSTANTIATE_TEST_SUITE_P(Windows, CapiCudaTest, ::testing::Values(0, 16));

}  // namespace
}  // namespace commvq
