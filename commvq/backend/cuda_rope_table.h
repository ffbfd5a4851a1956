// The RoPE table the CUDA attention kernels read: cos and sin of every pair
// at every position, computed as the CPU cache computes them (Rope, double
// angles rounded to float) and stored pair-major, [num_pairs, capacity]
// (cos, sin), so consecutive tokens read consecutive entries.
#ifndef COMMVQ_BACKEND_CUDA_ROPE_TABLE_H_
#define COMMVQ_BACKEND_CUDA_ROPE_TABLE_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "commvq/kvcache/kv_cache.h"
#include "kernels/cuda/device_memory.h"

namespace commvq {

// Device table for positions [0, capacity) of `shape`'s heads (blocking
// upload). InvalidArgument for an invalid shape or capacity < 1.
absl::StatusOr<cuda::DeviceMemory> UploadRopeTable(const AttentionShape& shape,
                                                   int64_t capacity);

}  // namespace commvq

#endif  // COMMVQ_BACKEND_CUDA_ROPE_TABLE_H_
