#include "training/value/value_attention_loss.h"

#include <algorithm>

#include "commvq/quantizer/commvq_value/codebook_fit.h"

namespace commvq {

void PrescaleValueAttention(const std::vector<float>& channel_scale,
                            ValueAttentionData* data) {
  const int64_t dim = data->dim();
  for (ValueAttentionBlock& block : data->blocks) {
    block.units.assign(data->window * dim, 0.0f);
    block.amplitude.assign(data->window * dim, 0.0f);
    for (int64_t t = 0; t < data->window; ++t) {
      const double norm =
          PrescaleToUnit(&block.values[t * dim], channel_scale.data(), dim,
                         &block.units[t * dim]);
      if (!(norm > 0.0)) continue;  // a zero token: u_t = a_t = 0
      for (int64_t c = 0; c < dim; ++c) {
        block.amplitude[t * dim + c] =
            static_cast<float>(norm * channel_scale[c]);
      }
    }
  }
}

double AttentionOutputLoss(const ValueAttentionData& data,
                           const ValueAttentionBlock& block,
                           const float* codebook, int64_t num_code_bits,
                           const double* s, double weight, double* ds) {
  const int64_t w = data.window;
  const int64_t dim = data.dim();
  const int64_t hd = data.head_dim;
  const int64_t group = data.num_heads / data.num_kv_heads;
  // The value errors a_t (s_t C - u_t): [W, dim].
  std::vector<double> err(w * dim);
  for (int64_t t = 0; t < w; ++t) {
    double* e = &err[t * dim];
    for (int64_t c = 0; c < dim; ++c) e[c] = -double{block.units[t * dim + c]};
    for (int64_t i = 0; i < num_code_bits; ++i) {
      const double si = s[t * num_code_bits + i];
      if (si == 0.0) continue;
      const float* row = codebook + i * dim;
      for (int64_t c = 0; c < dim; ++c) e[c] += si * row[c];
    }
    for (int64_t c = 0; c < dim; ++c) e[c] *= block.amplitude[t * dim + c];
  }
  const double scale =
      block.output_energy > 0.0
          ? weight / (static_cast<double>(dim) * block.output_energy)
          : 0.0;
  // Output errors o_{h,i} and, through them, d loss / d err (in `grad`).
  double loss = 0.0;
  std::vector<double> grad(w * dim, 0.0);
  std::vector<double> o(hd);
  for (int64_t h = 0; h < data.num_heads; ++h) {
    const int64_t offset = (h / group) * hd;
    for (int64_t i = 0; i < w; ++i) {
      const float* p = &block.probs[(h * w + i) * w];
      std::fill(o.begin(), o.end(), 0.0);
      for (int64_t t = 0; t <= i; ++t) {
        const double* e = &err[t * dim + offset];
        for (int64_t c = 0; c < hd; ++c) o[c] += p[t] * e[c];
      }
      for (int64_t c = 0; c < hd; ++c) loss += o[c] * o[c];
      for (int64_t t = 0; t <= i; ++t) {
        double* g = &grad[t * dim + offset];
        for (int64_t c = 0; c < hd; ++c) g[c] += 2.0 * scale * p[t] * o[c];
      }
    }
  }
  // d loss / d s_t,i = C_i . (a_t grad_t).
  for (int64_t t = 0; t < w; ++t) {
    double* g = &grad[t * dim];
    for (int64_t c = 0; c < dim; ++c) g[c] *= block.amplitude[t * dim + c];
    for (int64_t i = 0; i < num_code_bits; ++i) {
      const float* row = codebook + i * dim;
      double dot = 0.0;
      for (int64_t c = 0; c < dim; ++c) dot += row[c] * g[c];
      ds[t * num_code_bits + i] = dot;
    }
  }
  return scale * loss;
}

}  // namespace commvq
