#include "commvq/quantizer/commvq_value/mlp_encode.h"

#include <cmath>

namespace commvq {

float LayerNormForward(const float* x, int64_t dim, const float* gamma,
                       const float* beta, float* out, float* normalized) {
  double mean = 0.0;
  for (int64_t c = 0; c < dim; ++c) mean += x[c];
  mean /= static_cast<double>(dim);
  double var = 0.0;
  for (int64_t c = 0; c < dim; ++c) var += (x[c] - mean) * (x[c] - mean);
  var /= static_cast<double>(dim);
  const float rstd =
      static_cast<float>(1.0 / std::sqrt(var + kValueLayerNormEpsilon));
  for (int64_t c = 0; c < dim; ++c) {
    const float xhat = static_cast<float>(x[c] - mean) * rstd;
    if (normalized != nullptr) normalized[c] = xhat;
    out[c] = gamma[c] * xhat + beta[c];
  }
  return rstd;
}

void LinearForward(const float* w, const float* b, int64_t in, int64_t out,
                   const float* x, float* y) {
  for (int64_t o = 0; o < out; ++o) {
    const float* row = w + o * in;
    float sum = 0.0f;
    for (int64_t i = 0; i < in; ++i) sum += row[i] * x[i];
    y[o] = b[o] + sum;
  }
}

float Gelu(float x) {
  return 0.5f * x * (1.0f + std::erf(x * static_cast<float>(M_SQRT1_2)));
}

float GeluDerivative(float x) {
  const float cdf = 0.5f * (1.0f + std::erf(x * static_cast<float>(M_SQRT1_2)));
  const float pdf = std::exp(-0.5f * x * x) *
                    static_cast<float>(0.5 * M_2_SQRTPI * M_SQRT1_2);
  return cdf + x * pdf;
}

void ValueMlpLogits(const ValueEncoderWeights& weights, int64_t dim,
                    int64_t num_code_bits, const float* unit, float* logits,
                    float* scratch) {
  float* normed = scratch;
  float* hidden = scratch + dim;
  LayerNormForward(unit, dim, weights.ln_gamma.data(), weights.ln_beta.data(),
                   normed, nullptr);
  LinearForward(weights.w1.data(), weights.b1.data(), dim, weights.hidden,
                normed, hidden);
  for (int64_t h = 0; h < weights.hidden; ++h) hidden[h] = Gelu(hidden[h]);
  LinearForward(weights.w2.data(), weights.b2.data(), weights.hidden,
                2 * num_code_bits, hidden, logits);
}

int ArgmaxCategory(const float* four_logits) {
  int best = 0;
  for (int k = 1; k < 4; ++k) {
    if (four_logits[k] > four_logits[best]) best = k;
  }
  return best;
}

void CategoriesToBits(const float* logits, int64_t groups, uint8_t* bits) {
  for (int64_t g = 0; g < groups; ++g) {
    const int k = ArgmaxCategory(logits + 4 * g);
    bits[2 * g] = kValueCategoryBits[k][0];
    bits[2 * g + 1] = kValueCategoryBits[k][1];
  }
}

}  // namespace commvq
