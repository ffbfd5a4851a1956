// Device kernels of the CommVQ value path (value_codebook.h), behind a plain
// C++ boundary: the elementwise parts of the `mlp` encoder around its cuBLAS
// GEMMs, and the attention-weighted accumulation of code bits.
//
// Pointers are device memory, `stream` a cudaStream_t; each function returns
// the cudaError_t value of its launch (0 = success). Shapes are validated by
// the launchers in value_encoder.h and decode_attention.h.
#ifndef COMMVQ_KERNELS_CUDA_VALUE_KERNELS_H_
#define COMMVQ_KERNELS_CUDA_VALUE_KERNELS_H_

#include <cstdint>

namespace commvq {
namespace cuda {

// Code bits are stored per token in 32-bit words, LSB first (bit i in word
// i / 32, bit i % 32): on little-endian devices the bytes of the packed
// host codes (bit i in byte i / 8, bit i % 8) followed by zero padding.
inline int64_t ValueCodeWords(int64_t num_code_bits) {
  return (num_code_bits + 31) / 32;
}

// LayerNorm epsilon of the encoder (PyTorch's default, as the official
// model uses nn.LayerNorm(d)).
inline constexpr float kValueLayerNormEpsilon = 1e-5f;

// Encoder input: u = (x / channel_scale) / ||x / channel_scale|| (zero for a
// zero row), then LayerNorm(u) * gamma + beta.
// values: [num_tokens, dim]. normed: [num_tokens, dim] (written).
// prescale: [num_tokens] (written), ||x / channel_scale||.
int LaunchValuePrepare(const float* values, const float* channel_scale,
                       const float* gamma, const float* beta,
                       int64_t num_tokens, int dim, float* normed,
                       float* prescale, void* stream);

// data[t][i] = GELU(data[t][i] + bias[i]) (exact, erf form).
// data: [num_tokens, width]; bias: [width].
int LaunchBiasGelu(float* data, const float* bias, int64_t num_tokens,
                   int width, void* stream);

// Per group of 4 logits (+ bias), the first largest wins; its category's two
// bits (kValueCategoryBits) are written.
// logits: [num_tokens, 2 * num_code_bits]; bias: [2 * num_code_bits].
// words: [num_tokens, ValueCodeWords(num_code_bits)] (written, padding 0).
// bits:  [num_tokens, num_code_bits] f32 0/1 (written), for the decode GEMM.
int LaunchGroupArgmax(const float* logits, const float* bias,
                      int64_t num_tokens, int num_code_bits, uint32_t* words,
                      float* bits, void* stream);

// factor[t] = prescale[t] / ||decoded[t]||, 0 if either is 0.
// decoded: [num_tokens, dim] = bits . C.
int LaunchValueFactor(const float* decoded, const float* prescale,
                      int64_t num_tokens, int dim, float* factor, void* stream);

// Where the compressed values of a layer live (pages as DeviceKeyPages).
struct DeviceValuePages {
  const int32_t* page_table = nullptr;
  int page_tokens = 0;
  int64_t words = 0;               // ValueCodeWords(num_code_bits)
  const uint32_t* bits = nullptr;  // [num_pages, page_tokens, words]
  const float* factor = nullptr;   // [num_pages, page_tokens]
};

// Splits of the token range used by LaunchValueAccumulate for num_tokens:
// enough blocks to fill a large GPU, few enough partial sums to reduce.
int ValueAccumulateSplits(int64_t num_tokens);

// How LaunchValueAccumulate sums. Both are deterministic (fixed order per
// split and over splits).
enum class ValueAccumulateForm {
  // f32 select-and-add per (head, bit, token): exact f32 sums.
  kCudaCores,
  // WMMA on the 0/1 bit matrix: the weights are rounded to f16 (relative
  // error 2^-11 each, values below 6e-8 flush towards 0, and a weight above
  // 65504 — a factor that large needs a degenerate codebook — would become
  // inf), sums in f32.
  kTensorCores,
};

// acc[h][i] = sum_t probs[h][t] * factor[t] * bit_i(t) over t < num_tokens
// (paper Eq. 22: weights go into code-bit space first).
// probs:   [num_heads, prob_stride].
// partial: [ValueAccumulateSplits(num_tokens), num_heads, 32 * words]
//          scratch.
// acc:     [num_heads, 32 * words] (written; padding bits get 0).
int LaunchValueAccumulate(const float* probs, int64_t prob_stride,
                          int num_heads, const DeviceValuePages& pages,
                          int64_t num_tokens, float* partial, float* acc,
                          void* stream,
                          ValueAccumulateForm form =
                              ValueAccumulateForm::kCudaCores);

// out[h][c] = (channel_scale[g * head_dim + c] * compressed[h][c] +
//              sum_w window_probs[h][w] * window_values[slot(w)][g][c])
//             * inv_sum[h], g = h / group, w < window_tokens,
//             slot(w) = (first_slot + w) % ring_slots.
// compressed: [num_heads, head_dim]; window_probs: [num_heads, window_stride];
// window_values: [ring_slots, num_heads / group, head_dim].
int LaunchAttentionFinalize(const float* compressed, const float* channel_scale,
                            const float* window_probs, int64_t window_stride,
                            const float* window_values, int64_t window_tokens,
                            int64_t first_slot, int64_t ring_slots,
                            const float* inv_sum, int num_heads, int group,
                            int head_dim, float* out, void* stream);

}  // namespace cuda
}  // namespace commvq

#endif  // COMMVQ_KERNELS_CUDA_VALUE_KERNELS_H_
