// The provider's function table called directly, as libcommvq.so calls it:
// bad configurations and calls give a code and a message, never a crash.
// The argument checks that come before any device work run everywhere; the
// rest skip without a GPU.
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <vector>

#include "commvq/backend/cuda_provider_abi.h"
#include "gtest/gtest.h"
#include "testing/gpu/cuda_test_util.h"

extern "C" const commvq_cuda_provider* commvq_cuda_provider_v1(void);

namespace commvq {
namespace {

constexpr int32_t kInvalidArgument = 3;
constexpr int32_t kFailedPrecondition = 9;
constexpr int32_t kOutOfRange = 11;

class CudaProviderTest : public ::testing::Test {
 protected:
  const commvq_cuda_provider& provider_ = *commvq_cuda_provider_v1();
  char message_[512] = {0};
};

TEST_F(CudaProviderTest, DescribesItsAbi) {
  EXPECT_EQ(provider_.abi_version, COMMVQ_CUDA_PROVIDER_ABI);
  EXPECT_EQ(provider_.struct_size, sizeof(commvq_cuda_provider));
}

TEST_F(CudaProviderTest, RefusesBadArgumentsBeforeTouchingTheDevice) {
  commvq_cuda_cache* cache = nullptr;
  EXPECT_EQ(provider_.cache_create(nullptr, &cache, message_, sizeof(message_)),
            kInvalidArgument);
  EXPECT_NE(std::string(message_).find("config"), std::string::npos);
  commvq_cuda_cache_config config = {};
  config.struct_size = 8;  // a config of an older, smaller ABI
  EXPECT_EQ(provider_.cache_create(&config, &cache, message_, sizeof(message_)),
            kInvalidArgument);
  EXPECT_EQ(cache, nullptr);
  EXPECT_EQ(provider_.cache_append(nullptr, 0, nullptr, nullptr, 1, message_,
                                   sizeof(message_)),
            kInvalidArgument);
  EXPECT_NE(std::string(message_).find("cache is NULL"), std::string::npos);
  EXPECT_EQ(provider_.cache_length(nullptr, 0), -1);
  // Without a device the driver's error comes back as a message.
  message_[0] = '\0';
  EXPECT_NE(provider_.check_device(-1, message_, sizeof(message_)), 0);
  EXPECT_NE(message_[0], '\0');
  // A message longer than the buffer is cut, still terminated.
  char tiny[4] = {'x', 'x', 'x', 'x'};
  EXPECT_EQ(provider_.cache_create(nullptr, &cache, tiny, sizeof(tiny)),
            kInvalidArgument);
  EXPECT_EQ(tiny[3], '\0');
}

// One layer of 2 KV heads x head_dim 8 (4 query heads), random codebooks.
struct TinyConfig {
  std::vector<float> z, codebook, scale;
  commvq_cuda_key_params keys = {};
  commvq_cuda_value_params values = {};
  commvq_cuda_cache_config config = {};

  TinyConfig() {
    const KeyQuantizerParams k =
        testing::RandomKeyParams(2, 8, 2, 3, PairLayout::kHalf, 0.3f, 1);
    for (const KeyCodebook& c : k.codebooks) {
      z.insert(z.end(), c.z().begin(), c.z().end());
    }
    const ValueQuantizerParams v = testing::RandomValueParams(2, 8, 2, 0, 2);
    codebook = v.codebook;
    scale = v.channel_scale;
    keys = {2, 2, 8, 3, static_cast<int32_t>(PairLayout::kHalf), z.data()};
    values.dim = v.dim;
    values.num_kv_heads = 2;
    values.num_code_bits = v.num_code_bits;
    values.codebook = codebook.data();
    values.channel_scale = scale.data();
    values.search_sweeps = 4;
    config.struct_size = sizeof(config);
    config.num_layers = 1;
    config.num_heads = 4;
    config.num_kv_heads = 2;
    config.head_dim = 8;
    config.pair_layout = static_cast<int32_t>(PairLayout::kHalf);
    config.rope_theta = 10000.0;
    config.capacity = 8;
    config.window = 2;
    config.max_append = 4;
    config.page_tokens = 4;
    config.keys = &keys;
    config.values = &values;
  }
};

TEST_F(CudaProviderTest, BadCallsOnADeviceCacheGiveErrors) {
  CVQ_SKIP_WITHOUT_GPU();
  TinyConfig tiny;
  commvq_cuda_cache* cache = nullptr;
  tiny.config.key_kernel = 7;
  EXPECT_EQ(provider_.cache_create(&tiny.config, &cache, message_,
                                   sizeof(message_)),
            kInvalidArgument);
  EXPECT_NE(std::string(message_).find("key_kernel 7"), std::string::npos);
  tiny.config.key_kernel = 0;
  tiny.keys.head_dim = 6;  // not the shape's
  EXPECT_EQ(provider_.cache_create(&tiny.config, &cache, message_,
                                   sizeof(message_)),
            kInvalidArgument);
  EXPECT_NE(std::string(message_).find("layer 0"), std::string::npos);
  tiny.keys.head_dim = 8;
  ASSERT_EQ(provider_.cache_create(&tiny.config, &cache, message_,
                                   sizeof(message_)),
            0)
      << message_;

  float* device = nullptr;  // room for 9 tokens of keys or values
  ASSERT_EQ(cudaMalloc(&device, 9 * 16 * sizeof(float)), cudaSuccess);
  ASSERT_EQ(cudaMemset(device, 0, 9 * 16 * sizeof(float)), cudaSuccess);
  EXPECT_EQ(provider_.cache_attend(cache, 0, device, device, message_,
                                   sizeof(message_)),
            kFailedPrecondition);  // empty
  EXPECT_EQ(provider_.cache_append(cache, 1, device, device, 1, message_,
                                   sizeof(message_)),
            kInvalidArgument);  // layer
  EXPECT_EQ(provider_.cache_append(cache, 0, device, device, 9, message_,
                                   sizeof(message_)),
            kOutOfRange);  // beyond the capacity
  EXPECT_EQ(provider_.cache_length(cache, 0), 0);
  // Longer than max_append: split by the provider.
  EXPECT_EQ(provider_.cache_append(cache, 0, device, device, 7, message_,
                                   sizeof(message_)),
            0)
      << message_;
  EXPECT_EQ(provider_.cache_length(cache, 0), 7);
  EXPECT_EQ(provider_.cache_truncate(cache, -1, message_, sizeof(message_)),
            kInvalidArgument);
  commvq_cuda_cache_memory memory;
  provider_.cache_memory(cache, &memory);
  EXPECT_EQ(memory.num_tokens, 7);
  EXPECT_EQ(memory.encoded_tokens, 5);
  EXPECT_GT(memory.workspace, 0);
  EXPECT_EQ(provider_.cache_synchronize(cache, message_, sizeof(message_)), 0);
  cudaFree(device);
  provider_.cache_destroy(cache);
}

}  // namespace
}  // namespace commvq
