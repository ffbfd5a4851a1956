// Shared pieces of the GPU tests and the attention benchmark: skipping
// without a device, random CommVQ parameters of any shape, and the
// quantizers the CPU path builds from the same parameters.
#ifndef COMMVQ_TESTING_GPU_CUDA_TEST_UTIL_H_
#define COMMVQ_TESTING_GPU_CUDA_TEST_UTIL_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "commvq/base/pair_layout.h"
#include "commvq/quantizer/commvq_key/key_codebook.h"
#include "commvq/quantizer/commvq_value/value_codebook.h"
#include "commvq/quantizer/quantizer.h"

namespace commvq {
namespace testing {

// True when a CUDA device is usable; otherwise false and *why says what the
// runtime reported (no driver, no device).
bool CudaDeviceAvailable(std::string* why);

// GTEST_SKIP()s the calling test on machines without a GPU.
#define CVQ_SKIP_WITHOUT_GPU()                                    \
  do {                                                            \
    std::string cvq_skip_why;                                     \
    if (!::commvq::testing::CudaDeviceAvailable(&cvq_skip_why)) { \
      GTEST_SKIP() << "no CUDA device: " << cvq_skip_why;         \
    }                                                             \
  } while (0)

// Key codebooks of standard deviation `scale` for every head and stage.
KeyQuantizerParams RandomKeyParams(int64_t num_kv_heads, int64_t head_dim,
                                   int stages, int half_bits, PairLayout layout,
                                   float scale, uint64_t seed);

// Value parameters with Nc = bits * dim code bits and, when hidden > 0,
// random mlp encoder weights (scaled so logits are O(1)).
ValueQuantizerParams RandomValueParams(int64_t num_kv_heads, int64_t head_dim,
                                       int bits, int64_t hidden, uint64_t seed);

// The CPU quantizers of those parameters (commvq_key, commvq_value with
// encoder=mlp when the params have weights, else search).
absl::StatusOr<std::unique_ptr<Quantizer>> KeyQuantizerOf(
    KeyQuantizerParams params);
absl::StatusOr<std::unique_ptr<Quantizer>> ValueQuantizerOf(
    ValueQuantizerParams params, int bits);

}  // namespace testing
}  // namespace commvq

#endif  // COMMVQ_TESTING_GPU_CUDA_TEST_UTIL_H_
