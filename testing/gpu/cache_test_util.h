// Helpers of the GPU cache tests: one decode step through the GPU cache or
// a CPU KvCache from host vectors, and the comparison of their outputs.
#ifndef COMMVQ_TESTING_GPU_CACHE_TEST_UTIL_H_
#define COMMVQ_TESTING_GPU_CACHE_TEST_UTIL_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "commvq/backend/cuda_layer_cache.h"
#include "commvq/kvcache/kv_cache.h"

namespace commvq {
namespace testing {

// Appends rows [begin, begin + count) of keys and values ([n, dim] host)
// to `cache` through device copies.
absl::Status GpuAppend(CudaLayerCache& cache, const std::vector<float>& keys,
                       const std::vector<float>& values, int64_t begin,
                       int64_t count, int64_t dim);

// The output of cache.Attend for `query` ([num_heads, head_dim] host);
// empty (after a test failure) when a CUDA call fails.
std::vector<float> GpuAttend(CudaLayerCache& cache,
                             const std::vector<float>& query);

// The output of layer 0 of `cache` for `query` at its last position.
std::vector<float> CpuAttendLast(const KvCache& cache,
                                 const std::vector<float>& query);

// Asserts max |a - b| <= tolerance * max(1, max |b|).
void ExpectClose(const std::vector<float>& a, const std::vector<float>& b,
                 float tolerance);

}  // namespace testing
}  // namespace commvq

#endif  // COMMVQ_TESTING_GPU_CACHE_TEST_UTIL_H_
