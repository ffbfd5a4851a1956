// The `mlp` encoder of the CommVQ value quantizer (docs/METHOD.md section
// 2): LayerNorm(d) -> Linear(d, hidden) -> GELU -> Linear(hidden, 2 Nc) ->
// the argmax of each group's 4 logits (the first of equal ones), mapped to
// two code bits by kValueCategoryBits. Deterministic, unlike the official
// code's Gumbel sampling at inference. The layer functions are public so the
// trainer (training/value/) runs exactly this forward pass.
#ifndef COMMVQ_QUANTIZER_COMMVQ_VALUE_MLP_ENCODE_H_
#define COMMVQ_QUANTIZER_COMMVQ_VALUE_MLP_ENCODE_H_

#include <cstdint>

#include "commvq/quantizer/commvq_value/value_codebook.h"

namespace commvq {

inline constexpr float kValueLayerNormEpsilon = 1e-5f;

// out = gamma * (x - mean) / sqrt(var + eps) + beta over [dim]; returns
// 1 / sqrt(var + eps) and writes the normalized x (before gamma, beta) to
// `normalized` when it is not null.
float LayerNormForward(const float* x, int64_t dim, const float* gamma,
                       const float* beta, float* out, float* normalized);

// y[o] = b[o] + sum_i w[o * in + i] x[i], o in [0, out).
void LinearForward(const float* w, const float* b, int64_t in, int64_t out,
                   const float* x, float* y);

// The exact GELU x * Phi(x) and its derivative Phi(x) + x phi(x).
float Gelu(float x);
float GeluDerivative(float x);

// The 2 * num_code_bits logits of the encoder for `unit` ([dim]).
// scratch: at least dim + hidden floats.
void ValueMlpLogits(const ValueEncoderWeights& weights, int64_t dim,
                    int64_t num_code_bits, const float* unit, float* logits,
                    float* scratch);

// The category (0..3) with the largest logit of each of `groups` groups of
// four, the first on ties.
int ArgmaxCategory(const float* four_logits);

// Bits (0/1 bytes, [2 * groups]) of the argmax categories of `logits`.
void CategoriesToBits(const float* logits, int64_t groups, uint8_t* bits);

}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_COMMVQ_VALUE_MLP_ENCODE_H_
