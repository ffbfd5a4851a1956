// Device kernels shared by the compressed decode attention and the dense
// bf16 baseline: RoPE of appended keys, scores against full-precision keys,
// and the softmax across compressed tokens and the full-precision window.
//
// Pointers are device memory, `stream` a cudaStream_t; each function returns
// the cudaError_t value of its launch (0 = success).
#ifndef COMMVQ_KERNELS_CUDA_ATTENTION_KERNELS_H_
#define COMMVQ_KERNELS_CUDA_ATTENTION_KERNELS_H_

#include <cstdint>

namespace commvq {
namespace cuda {

// Rotates appended keys by RoPE at positions first_position + t and writes
// them as f32 (bf16 == 0) or as bf16 bits (bf16 == 1); copies values the same
// way without rotation (values may be null to skip them).
// keys, values: [num_tokens, num_kv_heads, head_dim] f32, keys pre-RoPE.
// rope:         [head_dim / 2, rope_capacity] float2 (cos, sin);
//               first_position + num_tokens <= rope_capacity.
// keys_out, values_out: [num_tokens, num_kv_heads, head_dim] f32 or bf16.
int LaunchRotateAppend(const float* keys, const float* values,
                       int64_t num_tokens, int num_kv_heads, int head_dim,
                       int interleaved, const float* rope,
                       int64_t rope_capacity, int64_t first_position, int bf16,
                       void* keys_out, void* values_out, void* stream);

// scores[h][w] = scale * <rotated[h], keys[slot(w)][h / group]> for
// w < num_tokens, slot(w) = (first_slot + w) % ring_slots (the window is a
// ring buffer).
// rotated: [num_heads, head_dim]; keys: [ring_slots, num_heads / group,
// head_dim] f32 (after RoPE); scores: [num_heads, score_stride].
int LaunchDenseScores(const float* rotated, const float* keys,
                      int64_t num_tokens, int64_t first_slot,
                      int64_t ring_slots, int num_heads, int group,
                      int head_dim, float scale, float* scores,
                      int64_t score_stride, void* stream);

// Softmax of each head over first[h][0 .. first_count) followed by
// second[h][0 .. second_count) (either count may be 0, not both): both are
// overwritten by exp(score - max) and inv_sum[h] = 1 / sum, so a weighted
// sum times inv_sum is the attention output.
// first: [num_heads, first_stride]; second: [num_heads, second_stride].
// probs_bf16: optional [num_heads, first_stride] bf16 copy of the
// probabilities of `first` (for a bf16 GEMM), or null.
int LaunchSoftmax(float* first, int64_t first_stride, int64_t first_count,
                  float* second, int64_t second_stride, int64_t second_count,
                  int num_heads, float* inv_sum, uint16_t* probs_bf16,
                  void* stream);

// rows[h][c] *= inv_sum[h]; rows: [num_heads, head_dim].
int LaunchScaleRows(float* rows, const float* inv_sum, int num_heads,
                    int head_dim, void* stream);

// bf16 bits of f32: out[i] = bf16(in[i]), round to nearest even.
int LaunchToBf16(const float* in, int64_t count, uint16_t* out, void* stream);

}  // namespace cuda
}  // namespace commvq

#endif  // COMMVQ_KERNELS_CUDA_ATTENTION_KERNELS_H_
