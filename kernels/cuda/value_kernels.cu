#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <mma.h>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/value_kernels.h"

namespace commvq {
namespace cuda {
namespace {

constexpr int kRowThreads = 256;

__global__ void ValuePrepareKernel(const float* values,
                                   const float* channel_scale,
                                   const float* gamma, const float* beta,
                                   int dim, float* normed, float* prescale) {
  __shared__ float scratch[32];
  __shared__ double norm_scratch[32];
  const int64_t row = blockIdx.x;
  float* out = normed + row * dim;
  const float norm =
      UnitRow(values + row * dim, channel_scale, dim, out, norm_scratch);
  float sum = 0.0f;
  for (int c = threadIdx.x; c < dim; c += blockDim.x) sum += out[c];
  const float mean = BlockSum(sum, scratch) / dim;
  float deviations = 0.0f;
  for (int c = threadIdx.x; c < dim; c += blockDim.x) {
    const float d = out[c] - mean;
    deviations += d * d;
  }
  const float rstd =
      rsqrtf(BlockSum(deviations, scratch) / dim + kValueLayerNormEpsilon);
  for (int c = threadIdx.x; c < dim; c += blockDim.x) {
    out[c] = (out[c] - mean) * rstd * gamma[c] + beta[c];
  }
  if (threadIdx.x == 0) prescale[row] = norm;
}

__global__ void BiasGeluKernel(float* data, const float* bias, int64_t count,
                               int width) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= count) return;
  const float x = data[i] + bias[i % width];
  data[i] = 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
}

// One thread per 32-bit word (16 groups) of one token.
__global__ void GroupArgmaxKernel(const float* logits, const float* bias,
                                  int64_t num_tokens, int num_code_bits,
                                  int words_per_token, uint32_t* words,
                                  float* bits) {
  // kValueCategoryBits of value_codebook.h: bit 0 and bit 1 of category k.
  const uint32_t kFirst[4] = {1, 0, 1, 0};
  const uint32_t kSecond[4] = {0, 1, 1, 0};
  const int64_t index =
      blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (index >= num_tokens * words_per_token) return;
  const int64_t token = index / words_per_token;
  const int word = static_cast<int>(index % words_per_token);
  const int groups = num_code_bits / 2;
  const float* row = logits + token * 2 * num_code_bits;
  uint32_t packed = 0;
  for (int q = 0; q < 16; ++q) {
    const int group = word * 16 + q;
    if (group >= groups) break;
    int best = 0;
    float best_logit = row[4 * group] + bias[4 * group];
    for (int k = 1; k < 4; ++k) {
      const float logit = row[4 * group + k] + bias[4 * group + k];
      if (logit > best_logit) {
        best_logit = logit;
        best = k;
      }
    }
    packed |= (kFirst[best] << (2 * q)) | (kSecond[best] << (2 * q + 1));
    bits[token * num_code_bits + 2 * group] = static_cast<float>(kFirst[best]);
    bits[token * num_code_bits + 2 * group + 1] =
        static_cast<float>(kSecond[best]);
  }
  words[index] = packed;
}

__global__ void ValueFactorKernel(const float* decoded, const float* prescale,
                                  int dim, float* factor) {
  __shared__ float scratch[32];
  const int64_t row = blockIdx.x;
  float squares = 0.0f;
  for (int c = threadIdx.x; c < dim; c += blockDim.x) {
    const float y = decoded[row * dim + c];
    squares += y * y;
  }
  const float norm = sqrtf(BlockSum(squares, scratch));
  if (threadIdx.x == 0) {
    factor[row] =
        norm > 0.0f && prescale[row] > 0.0f ? prescale[row] / norm : 0.0f;
  }
}

constexpr int kAccumulateWords = 32;  // threads along words
constexpr int kAccumulateHeads = 8;   // threads along heads

// The pool slot of token t, through the page table.
__device__ __forceinline__ int64_t PoolSlot(const DeviceValuePages& pages,
                                            int64_t t) {
  return static_cast<int64_t>(pages.page_table[t / pages.page_tokens]) *
             pages.page_tokens +
         t % pages.page_tokens;
}

__global__ void ValueAccumulateKernel(const float* probs, int64_t prob_stride,
                                      int num_heads, DeviceValuePages pages,
                                      int64_t num_tokens, int64_t per_split,
                                      float* partial) {
  const int64_t word = blockIdx.x * kAccumulateWords + threadIdx.x;
  const int head = blockIdx.y * kAccumulateHeads + threadIdx.y;
  if (word >= pages.words || head >= num_heads) return;
  const int64_t begin = blockIdx.z * per_split;
  const int64_t end = min(num_tokens, begin + per_split);
  float acc[32];
#pragma unroll
  for (int k = 0; k < 32; ++k) acc[k] = 0.0f;
  const float* head_probs = probs + head * prob_stride;
  for (int64_t t = begin; t < end; ++t) {
    const int64_t slot = PoolSlot(pages, t);
    const uint32_t bits = pages.bits[slot * pages.words + word];
    const float weight = head_probs[t] * pages.factor[slot];
#pragma unroll
    for (int k = 0; k < 32; ++k) acc[k] += ((bits >> k) & 1u) ? weight : 0.0f;
  }
  const int64_t row_length = 32 * pages.words;
  float* out =
      partial +
      (blockIdx.z * static_cast<int64_t>(num_heads) + head) * row_length +
      word * 32;
#pragma unroll
  for (int k = 0; k < 32; ++k) out[k] = acc[k];
}

// The tensor-core form: one block computes a tile of 16 heads x 64 bits,
// each of its 4 warps 16 x 16 of it with WMMA m16n16k16 (f16 inputs, f32
// accumulation): per 16 tokens, A = the weights probs * factor of the 16
// heads (rounded to f16) and B = the 0/1 matrix of the 16 tokens' bits
// (exact in f16), both staged in shared memory by the whole block.
constexpr int kMmaTile = 16;
constexpr int kMmaWarps = 4;
constexpr int kMmaBits = kMmaTile * kMmaWarps;  // bits per block
constexpr int kMmaThreads = 32 * kMmaWarps;     // 16 tokens x 8 bytes of bits

__global__ void ValueAccumulateMmaKernel(const float* probs,
                                         int64_t prob_stride, int num_heads,
                                         DeviceValuePages pages,
                                         int64_t num_tokens, int64_t per_split,
                                         float* partial) {
  namespace wmma = nvcuda::wmma;
  __shared__ __align__(32) __half weights[kMmaTile * kMmaTile];  // [h][t]
  __shared__ __align__(32) __half bit_tile[kMmaTile * kMmaBits];  // [t][bit]
  __shared__ __align__(32) float out_tile[kMmaWarps][kMmaTile * kMmaTile];
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int head0 = blockIdx.y * kMmaTile;
  const int64_t bit0 = static_cast<int64_t>(blockIdx.x) * kMmaBits;
  const int64_t row_length = 32 * pages.words;
  const int64_t begin = blockIdx.z * per_split;
  const int64_t end = min(num_tokens, begin + per_split);
  wmma::fragment<wmma::accumulator, kMmaTile, kMmaTile, kMmaTile, float> acc;
  wmma::fragment<wmma::matrix_a, kMmaTile, kMmaTile, kMmaTile, __half,
                 wmma::row_major>
      a;
  wmma::fragment<wmma::matrix_b, kMmaTile, kMmaTile, kMmaTile, __half,
                 wmma::row_major>
      b;
  wmma::fill_fragment(acc, 0.0f);
  for (int64_t t0 = begin; t0 < end; t0 += kMmaTile) {
    for (int i = threadIdx.x; i < kMmaTile * kMmaTile; i += kMmaThreads) {
      const int head = head0 + i / kMmaTile;
      const int64_t t = t0 + i % kMmaTile;
      float w = 0.0f;
      if (head < num_heads && t < end) {
        w = probs[head * prob_stride + t] * pages.factor[PoolSlot(pages, t)];
      }
      weights[i] = __float2half_rn(w);
    }
    {
      // Thread -> (token row, byte of the block's 64 bits).
      const int row = threadIdx.x / 8;
      const int byte = threadIdx.x % 8;
      const int64_t t = t0 + row;
      const int64_t bit = bit0 + byte * 8;
      uint32_t value = 0;
      if (t < end && bit < row_length) {
        value = (pages.bits[PoolSlot(pages, t) * pages.words + bit / 32] >>
                 (bit % 32)) &
                0xffu;
      }
      for (int k = 0; k < 8; ++k) {
        bit_tile[row * kMmaBits + byte * 8 + k] =
            __float2half_rn(static_cast<float>((value >> k) & 1u));
      }
    }
    __syncthreads();
    wmma::load_matrix_sync(a, weights, kMmaTile);
    wmma::load_matrix_sync(b, bit_tile + warp * kMmaTile, kMmaBits);
    wmma::mma_sync(acc, a, b, acc);
    __syncthreads();  // the tiles are refilled next
  }
  wmma::store_matrix_sync(out_tile[warp], acc, kMmaTile, wmma::mem_row_major);
  __syncwarp();
  for (int i = lane; i < kMmaTile * kMmaTile; i += 32) {
    const int head = head0 + i / kMmaTile;
    const int64_t bit = bit0 + warp * kMmaTile + i % kMmaTile;
    if (head < num_heads && bit < row_length) {
      partial[(blockIdx.z * static_cast<int64_t>(num_heads) + head) *
                  row_length +
              bit] = out_tile[warp][i];
    }
  }
}

__global__ void SumSplitsKernel(const float* partial, int splits, int64_t count,
                                float* acc) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= count) return;
  float sum = 0.0f;
  for (int s = 0; s < splits; ++s) sum += partial[s * count + i];
  acc[i] = sum;
}

__global__ void AttentionFinalizeKernel(
    const float* compressed, const float* channel_scale,
    const float* window_probs, int64_t window_stride,
    const float* window_values, int64_t window_tokens, int64_t first_slot,
    int64_t ring_slots, const float* inv_sum, int num_heads, int group,
    int head_dim, float* out) {
  const int index = blockIdx.x * blockDim.x + threadIdx.x;
  if (index >= num_heads * head_dim) return;
  const int head = index / head_dim;
  const int c = index % head_dim;
  const int kv_head = head / group;
  const int num_kv_heads = num_heads / group;
  float value = channel_scale[kv_head * head_dim + c] * compressed[index];
  const float* probs = window_probs + head * window_stride;
  for (int64_t w = 0; w < window_tokens; ++w) {
    const int64_t slot = (first_slot + w) % ring_slots;
    value += probs[w] *
             window_values[(slot * num_kv_heads + kv_head) * head_dim + c];
  }
  out[index] = value * inv_sum[head];
}

}  // namespace

int LaunchValuePrepare(const float* values, const float* channel_scale,
                       const float* gamma, const float* beta,
                       int64_t num_tokens, int dim, float* normed,
                       float* prescale, void* stream) {
  if (num_tokens == 0) return 0;
  ValuePrepareKernel<<<static_cast<unsigned>(num_tokens), kRowThreads, 0,
                       AsStream(stream)>>>(values, channel_scale, gamma, beta,
                                           dim, normed, prescale);
  return LaunchError();
}

int LaunchBiasGelu(float* data, const float* bias, int64_t num_tokens,
                   int width, void* stream) {
  const int64_t count = num_tokens * width;
  if (count == 0) return 0;
  BiasGeluKernel<<<static_cast<unsigned>(CeilDiv(count, 256)), 256, 0,
                   AsStream(stream)>>>(data, bias, count, width);
  return LaunchError();
}

int LaunchGroupArgmax(const float* logits, const float* bias,
                      int64_t num_tokens, int num_code_bits, uint32_t* words,
                      float* bits, void* stream) {
  const int words_per_token = static_cast<int>(ValueCodeWords(num_code_bits));
  const int64_t count = num_tokens * words_per_token;
  if (count == 0) return 0;
  GroupArgmaxKernel<<<static_cast<unsigned>(CeilDiv(count, 128)), 128, 0,
                      AsStream(stream)>>>(
      logits, bias, num_tokens, num_code_bits, words_per_token, words, bits);
  return LaunchError();
}

int LaunchValueFactor(const float* decoded, const float* prescale,
                      int64_t num_tokens, int dim, float* factor,
                      void* stream) {
  if (num_tokens == 0) return 0;
  ValueFactorKernel<<<static_cast<unsigned>(num_tokens), kRowThreads, 0,
                      AsStream(stream)>>>(decoded, prescale, dim, factor);
  return LaunchError();
}

int ValueAccumulateSplits(int64_t num_tokens) {
  // ~256 tokens per split at least, at most 64 splits.
  const int64_t splits = CeilDiv(num_tokens, 256);
  return static_cast<int>(splits < 1 ? 1 : (splits > 64 ? 64 : splits));
}

int LaunchValueAccumulate(const float* probs, int64_t prob_stride,
                          int num_heads, const DeviceValuePages& pages,
                          int64_t num_tokens, float* partial, float* acc,
                          void* stream, ValueAccumulateForm form) {
  const int splits = ValueAccumulateSplits(num_tokens);
  const int64_t per_split = CeilDiv(num_tokens, splits);
  if (form == ValueAccumulateForm::kTensorCores) {
    const dim3 grid(
        static_cast<unsigned>(CeilDiv(32 * pages.words, kMmaBits)),
        static_cast<unsigned>(CeilDiv(num_heads, kMmaTile)), splits);
    ValueAccumulateMmaKernel<<<grid, kMmaThreads, 0, AsStream(stream)>>>(
        probs, prob_stride, num_heads, pages, num_tokens, per_split, partial);
  } else {
    const dim3 grid(
        static_cast<unsigned>(CeilDiv(pages.words, kAccumulateWords)),
        static_cast<unsigned>(CeilDiv(num_heads, kAccumulateHeads)), splits);
    const dim3 block(kAccumulateWords, kAccumulateHeads);
    ValueAccumulateKernel<<<grid, block, 0, AsStream(stream)>>>(
        probs, prob_stride, num_heads, pages, num_tokens, per_split, partial);
  }
  int error = LaunchError();
  if (error != 0) return error;
  const int64_t count = num_heads * 32 * pages.words;
  SumSplitsKernel<<<static_cast<unsigned>(CeilDiv(count, 256)), 256, 0,
                    AsStream(stream)>>>(partial, splits, count, acc);
  return LaunchError();
}

int LaunchAttentionFinalize(const float* compressed, const float* channel_scale,
                            const float* window_probs, int64_t window_stride,
                            const float* window_values, int64_t window_tokens,
                            int64_t first_slot, int64_t ring_slots,
                            const float* inv_sum, int num_heads, int group,
                            int head_dim, float* out, void* stream) {
  const int count = num_heads * head_dim;
  AttentionFinalizeKernel<<<static_cast<unsigned>(CeilDiv(count, 128)), 128, 0,
                            AsStream(stream)>>>(
      compressed, channel_scale, window_probs, window_stride, window_values,
      window_tokens, first_slot, ring_slots, inv_sum, num_heads, group,
      head_dim, out);
  return LaunchError();
}

}  // namespace cuda
}  // namespace commvq
