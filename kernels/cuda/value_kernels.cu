#include <cuda_runtime.h>

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
  const int64_t row = blockIdx.x;
  const float* x = values + row * dim;
  float* out = normed + row * dim;
  float squares = 0.0f;
  for (int c = threadIdx.x; c < dim; c += blockDim.x) {
    const float scaled = x[c] / channel_scale[c];
    out[c] = scaled;
    squares += scaled * scaled;
  }
  const float norm = sqrtf(BlockSum(squares, scratch));
  const float inverse = norm > 0.0f ? 1.0f / norm : 0.0f;
  float sum = 0.0f;
  for (int c = threadIdx.x; c < dim; c += blockDim.x) {
    out[c] *= inverse;
    sum += out[c];
  }
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
    const int64_t slot =
        static_cast<int64_t>(pages.page_table[t / pages.page_tokens]) *
            pages.page_tokens +
        t % pages.page_tokens;
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
                          void* stream) {
  const int splits = ValueAccumulateSplits(num_tokens);
  const int64_t per_split = CeilDiv(num_tokens, splits);
  const dim3 grid(static_cast<unsigned>(CeilDiv(pages.words, kAccumulateWords)),
                  static_cast<unsigned>(CeilDiv(num_heads, kAccumulateHeads)),
                  splits);
  const dim3 block(kAccumulateWords, kAccumulateHeads);
  ValueAccumulateKernel<<<grid, block, 0, AsStream(stream)>>>(
      probs, prob_stride, num_heads, pages, num_tokens, per_split, partial);
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
