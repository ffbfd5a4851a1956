// A CommVQ KV cache of one sequence in GPU memory, run by the CUDA provider
// library (cuda_provider_abi.h): what libcommvq.so's C ABI holds for a cache
// created on a "cuda" context. Needs no CUDA to build: all device work
// happens in the provider.
//
// It stores commvq_key keys and commvq_value values (a `commvq:codebooks=`
// storage whose values come from the same file); keys, values, queries and
// outputs are device pointers. Attention is decode attention: one query at
// the newest position of a layer (a runtime prefills in full precision,
// docs/METHOD.md section 4). All device memory (the paged cache for
// `capacity` tokens, the window rings, codebooks, workspaces) is allocated
// by Create; appends and attends allocate nothing. Work is queued on the
// given stream.
//
// Thread safety: none; one caller at a time.
#ifndef COMMVQ_BACKEND_CUDA_CACHE_H_
#define COMMVQ_BACKEND_CUDA_CACHE_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "commvq/backend/cuda_provider_abi.h"
#include "commvq/kvcache/compressed_kv_cache.h"
#include "commvq/kvcache/kv_cache.h"

namespace commvq {

struct CudaCacheOptions {
  int64_t capacity = 0;    // most tokens per layer, >= 1
  int64_t window = 128;    // full-precision recent tokens, >= 0
  int64_t page_tokens = 256;
  KeyKernel key_kernel = KeyKernel::kAuto;
  int32_t device_id = 0;
  void* stream = nullptr;  // cudaStream_t; null: the default stream
};

class CudaCache {
 public:
  // Tokens per append call the device buffers are sized for (longer
  // appends are split).
  static constexpr int64_t kMaxAppend = 128;

  // InvalidArgument naming the layer unless every layer of `codecs` has
  // commvq_key keys attended on their codes and commvq_value values, or for
  // options out of range; the provider's errors (device, shapes, memory)
  // otherwise.
  static absl::StatusOr<std::unique_ptr<CudaCache>> Create(
      const commvq_cuda_provider* provider, const AttentionShape& shape,
      const CompressedCacheCodecs& codecs, const CudaCacheOptions& options);

  ~CudaCache();
  CudaCache(const CudaCache&) = delete;
  CudaCache& operator=(const CudaCache&) = delete;

  const AttentionShape& shape() const { return shape_; }
  int64_t capacity() const { return capacity_; }
  int32_t device_id() const { return device_id_; }
  int64_t length(int layer) const;

  // keys, values: device [num_tokens, num_kv_heads, head_dim] f32, keys
  // before RoPE. OutOfRange beyond the capacity.
  absl::Status Append(int layer, const float* keys, const float* values,
                      int64_t num_tokens);
  // query, out: device [num_heads, head_dim] f32; the query (before RoPE)
  // sits at the newest position, length(layer) - 1.
  absl::Status Attend(int layer, const float* query, float* out);
  absl::Status Truncate(int64_t length);
  // Waits until the queued work is done.
  absl::Status Synchronize();
  commvq_cuda_cache_memory Memory() const;

 private:
  CudaCache(const commvq_cuda_provider* provider, commvq_cuda_cache* cache,
            const AttentionShape& shape, int64_t capacity, int32_t device_id)
      : provider_(provider),
        cache_(cache),
        shape_(shape),
        capacity_(capacity),
        device_id_(device_id) {}

  const commvq_cuda_provider* provider_;
  commvq_cuda_cache* cache_;
  AttentionShape shape_;
  int64_t capacity_;
  int32_t device_id_;
};

}  // namespace commvq

#endif  // COMMVQ_BACKEND_CUDA_CACHE_H_
