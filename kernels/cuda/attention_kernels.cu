#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "kernels/cuda/attention_kernels.h"
#include "kernels/cuda/common.cuh"

namespace commvq {
namespace cuda {
namespace {

__device__ __forceinline__ uint16_t Bf16Bits(float x) {
  return __bfloat16_as_ushort(__float2bfloat16_rn(x));
}

// One thread per pair of one head of one token.
__global__ void RotateAppendKernel(const float* keys, const float* values,
                                   int64_t num_tokens, int num_kv_heads,
                                   int head_dim, int interleaved,
                                   const float2* rope, int64_t rope_capacity,
                                   int64_t first_position, int bf16,
                                   void* keys_out, void* values_out) {
  const int pairs = head_dim / 2;
  const int64_t index =
      blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (index >= num_tokens * num_kv_heads * pairs) return;
  const int j = static_cast<int>(index % pairs);
  const int64_t row = index / pairs;  // token * num_kv_heads + head
  const int64_t token = row / num_kv_heads;
  const int64_t i1 = row * head_dim + PairFirst(interleaved, head_dim, j);
  const int64_t i2 = row * head_dim + PairSecond(interleaved, head_dim, j);
  const float2 cs = rope[j * rope_capacity + first_position + token];
  const float k1 = keys[i1];
  const float k2 = keys[i2];
  const float r1 = k1 * cs.x - k2 * cs.y;
  const float r2 = k1 * cs.y + k2 * cs.x;
  if (bf16) {
    uint16_t* k_out = static_cast<uint16_t*>(keys_out);
    k_out[i1] = Bf16Bits(r1);
    k_out[i2] = Bf16Bits(r2);
    if (values != nullptr) {
      uint16_t* v_out = static_cast<uint16_t*>(values_out);
      v_out[i1] = Bf16Bits(values[i1]);
      v_out[i2] = Bf16Bits(values[i2]);
    }
  } else {
    float* k_out = static_cast<float*>(keys_out);
    k_out[i1] = r1;
    k_out[i2] = r2;
    if (values != nullptr) {
      float* v_out = static_cast<float*>(values_out);
      v_out[i1] = values[i1];
      v_out[i2] = values[i2];
    }
  }
}

// One warp per (token, query head).
__global__ void DenseScoresKernel(const float* rotated, const float* keys,
                                  int64_t num_tokens, int64_t first_slot,
                                  int64_t ring_slots, int num_heads, int group,
                                  int head_dim, float scale, float* scores,
                                  int64_t score_stride) {
  const int64_t warp =
      (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (warp >= num_tokens * num_heads) return;  // whole warps exit together
  const int64_t token = warp / num_heads;
  const int head = static_cast<int>(warp % num_heads);
  const int num_kv_heads = num_heads / group;
  const float* q = rotated + head * head_dim;
  const int64_t slot = (first_slot + token) % ring_slots;
  const float* k = keys + (slot * num_kv_heads + head / group) * head_dim;
  float sum = 0.0f;
  for (int c = lane; c < head_dim; c += 32) sum += q[c] * k[c];
  for (int offset = 16; offset > 0; offset >>= 1) {
    sum += __shfl_xor_sync(0xffffffffu, sum, offset);
  }
  if (lane == 0) scores[head * score_stride + token] = sum * scale;
}

constexpr int kSoftmaxThreads = 1024;

// One block per head.
__global__ void __launch_bounds__(kSoftmaxThreads)
    SoftmaxKernel(float* first, int64_t first_stride, int64_t first_count,
                  float* second, int64_t second_stride, int64_t second_count,
                  float* inv_sum, uint16_t* probs_bf16) {
  __shared__ float scratch[32];
  const int head = blockIdx.x;
  float* a = first + head * first_stride;
  float* b = second + head * second_stride;
  float max_score = -INFINITY;
  for (int64_t i = threadIdx.x; i < first_count; i += blockDim.x) {
    max_score = fmaxf(max_score, a[i]);
  }
  for (int64_t i = threadIdx.x; i < second_count; i += blockDim.x) {
    max_score = fmaxf(max_score, b[i]);
  }
  max_score = BlockMax(max_score, scratch);
  float sum = 0.0f;
  for (int64_t i = threadIdx.x; i < first_count; i += blockDim.x) {
    const float p = expf(a[i] - max_score);
    a[i] = p;
    sum += p;
    if (probs_bf16 != nullptr) {
      probs_bf16[head * first_stride + i] = Bf16Bits(p);
    }
  }
  for (int64_t i = threadIdx.x; i < second_count; i += blockDim.x) {
    const float p = expf(b[i] - max_score);
    b[i] = p;
    sum += p;
  }
  sum = BlockSum(sum, scratch);
  if (threadIdx.x == 0) inv_sum[head] = 1.0f / sum;
}

__global__ void ScaleRowsKernel(float* rows, const float* inv_sum, int count,
                                int head_dim) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < count) rows[i] *= inv_sum[i / head_dim];
}

__global__ void ToBf16Kernel(const float* in, int64_t count, uint16_t* out) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < count) out[i] = Bf16Bits(in[i]);
}

}  // namespace

int LaunchRotateAppend(const float* keys, const float* values,
                       int64_t num_tokens, int num_kv_heads, int head_dim,
                       int interleaved, const float* rope,
                       int64_t rope_capacity, int64_t first_position, int bf16,
                       void* keys_out, void* values_out, void* stream) {
  const int64_t count = num_tokens * num_kv_heads * (head_dim / 2);
  if (count == 0) return 0;
  RotateAppendKernel<<<static_cast<unsigned>(CeilDiv(count, 256)), 256, 0,
                       AsStream(stream)>>>(
      keys, values, num_tokens, num_kv_heads, head_dim, interleaved,
      reinterpret_cast<const float2*>(rope), rope_capacity, first_position,
      bf16, keys_out, values_out);
  return LaunchError();
}

int LaunchDenseScores(const float* rotated, const float* keys,
                      int64_t num_tokens, int64_t first_slot,
                      int64_t ring_slots, int num_heads, int group,
                      int head_dim, float scale, float* scores,
                      int64_t score_stride, void* stream) {
  const int64_t threads = num_tokens * num_heads * 32;
  if (threads == 0) return 0;
  DenseScoresKernel<<<static_cast<unsigned>(CeilDiv(threads, 256)), 256, 0,
                      AsStream(stream)>>>(
      rotated, keys, num_tokens, first_slot, ring_slots, num_heads, group,
      head_dim, scale, scores, score_stride);
  return LaunchError();
}

int LaunchSoftmax(float* first, int64_t first_stride, int64_t first_count,
                  float* second, int64_t second_stride, int64_t second_count,
                  int num_heads, float* inv_sum, uint16_t* probs_bf16,
                  void* stream) {
  SoftmaxKernel<<<num_heads, kSoftmaxThreads, 0, AsStream(stream)>>>(
      first, first_stride, first_count, second, second_stride, second_count,
      inv_sum, probs_bf16);
  return LaunchError();
}

int LaunchScaleRows(float* rows, const float* inv_sum, int num_heads,
                    int head_dim, void* stream) {
  const int count = num_heads * head_dim;
  ScaleRowsKernel<<<static_cast<unsigned>(CeilDiv(count, 256)), 256, 0,
                    AsStream(stream)>>>(rows, inv_sum, count, head_dim);
  return LaunchError();
}

int LaunchToBf16(const float* in, int64_t count, uint16_t* out, void* stream) {
  if (count == 0) return 0;
  ToBf16Kernel<<<static_cast<unsigned>(CeilDiv(count, 256)), 256, 0,
                 AsStream(stream)>>>(in, count, out);
  return LaunchError();
}

}  // namespace cuda
}  // namespace commvq
