// The dense bf16 attention baseline on the GPU: keys (after RoPE) and values
// of one layer in bf16, decode attention with two cuBLAS strided-batched
// GEMMs (bf16 inputs, f32 accumulation) around a softmax kernel. This is
// what an uncompressed bf16 KV cache costs; the attention benchmark
// measures CommVQ against it in the same process.
//
// All memory is allocated by Create; work is queued on the caller's stream.
// Thread safety: one caller at a time.
#ifndef COMMVQ_BACKEND_CUDA_DENSE_ATTENTION_H_
#define COMMVQ_BACKEND_CUDA_DENSE_ATTENTION_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "commvq/kvcache/kv_cache.h"
#include "kernels/cuda/cublas_handle.h"
#include "kernels/cuda/device_memory.h"

namespace commvq {

class CudaDenseAttention {
 public:
  // InvalidArgument for an invalid shape or capacity outside
  // [1, 2^26].
  static absl::StatusOr<std::unique_ptr<CudaDenseAttention>> Create(
      const AttentionShape& shape, int64_t capacity);

  int64_t length() const { return length_; }
  // Bytes of the bf16 keys and values of `length()` tokens.
  int64_t KvBytes() const;

  // keys, values: device [num_tokens, num_kv_heads, head_dim] f32, keys
  // pre-RoPE; stored at positions length() .. in bf16.
  // InvalidArgument past the capacity.
  absl::Status Append(const float* keys, const float* values,
                      int64_t num_tokens, void* stream);

  // Decode attention of one query at position length() - 1 over all tokens.
  // query: device [num_heads, head_dim] f32 pre-RoPE; out: device
  // [num_heads, head_dim] f32 (written). FailedPrecondition when empty.
  absl::Status Attend(const float* query, float* out, void* stream);

 private:
  CudaDenseAttention() = default;

  AttentionShape shape_;
  int64_t capacity_ = 0;
  int64_t length_ = 0;
  cuda::CublasHandle cublas_;
  cuda::DeviceMemory rope_;
  cuda::DeviceMemory keys_, values_;  // bf16 [capacity, kv_heads, head_dim]
  // Scratch: rotated query f32 and bf16, pair rows (unused output of the
  // shared query kernel), scores f32 and probabilities bf16
  // [num_heads, capacity], inverse sums.
  cuda::DeviceMemory rotated_, rotated_bf16_, pair_rows_, scores_, probs_,
      inv_sum_;
};

}  // namespace commvq

#endif  // COMMVQ_BACKEND_CUDA_DENSE_ATTENTION_H_
