#include "training/value/value_mlp_grad.h"

#include <algorithm>
#include <cmath>

#include "commvq/quantizer/commvq_value/mlp_encode.h"

namespace commvq {
namespace {

// Softmax of four values scaled by 1 / tau.
void Softmax4(const float* z, double tau, double* p) {
  double m = z[0];
  for (int k = 1; k < 4; ++k) m = std::max<double>(m, z[k]);
  double sum = 0.0;
  for (int k = 0; k < 4; ++k) {
    p[k] = std::exp((z[k] - m) / tau);
    sum += p[k];
  }
  for (int k = 0; k < 4; ++k) p[k] /= sum;
}

}  // namespace

ValueEncoderWeights ZerosLike(const ValueEncoderWeights& w) {
  ValueEncoderWeights z;
  z.hidden = w.hidden;
  z.ln_gamma.assign(w.ln_gamma.size(), 0.0f);
  z.ln_beta.assign(w.ln_beta.size(), 0.0f);
  z.w1.assign(w.w1.size(), 0.0f);
  z.b1.assign(w.b1.size(), 0.0f);
  z.w2.assign(w.w2.size(), 0.0f);
  z.b2.assign(w.b2.size(), 0.0f);
  return z;
}

void ValueMlpForward(const ValueEncoderWeights& w, int64_t dim,
                     int64_t num_code_bits, const float* x,
                     ValueMlpActivations* act) {
  act->normalized.resize(dim);
  act->ln_out.resize(dim);
  act->pre.resize(w.hidden);
  act->hidden.resize(w.hidden);
  act->logits.resize(2 * num_code_bits);
  LayerNormForward(x, dim, w.ln_gamma.data(), w.ln_beta.data(),
                   act->ln_out.data(), act->normalized.data());
  LinearForward(w.w1.data(), w.b1.data(), dim, w.hidden, act->ln_out.data(),
                act->pre.data());
  for (int64_t h = 0; h < w.hidden; ++h) act->hidden[h] = Gelu(act->pre[h]);
  LinearForward(w.w2.data(), w.b2.data(), w.hidden, 2 * num_code_bits,
                act->hidden.data(), act->logits.data());
}

void ValueMlpBackward(const ValueEncoderWeights& w, int64_t dim,
                      int64_t num_code_bits, const ValueMlpActivations& act,
                      const float* dlogits, ValueEncoderWeights* grads) {
  const int64_t hidden = w.hidden;
  const int64_t outputs = 2 * num_code_bits;
  // Second linear layer: dW2 = dl a^T, db2 = dl, da = W2^T dl.
  std::vector<float> dhidden(hidden, 0.0f);
  for (int64_t o = 0; o < outputs; ++o) {
    const float g = dlogits[o];
    if (g == 0.0f) continue;
    grads->b2[o] += g;
    float* dw = &grads->w2[o * hidden];
    const float* row = &w.w2[o * hidden];
    for (int64_t h = 0; h < hidden; ++h) {
      dw[h] += g * act.hidden[h];
      dhidden[h] += g * row[h];
    }
  }
  // GELU, then the first linear layer.
  std::vector<float> dln(dim, 0.0f);
  for (int64_t h = 0; h < hidden; ++h) {
    const float g = dhidden[h] * GeluDerivative(act.pre[h]);
    if (g == 0.0f) continue;
    grads->b1[h] += g;
    float* dw = &grads->w1[h * dim];
    const float* row = &w.w1[h * dim];
    for (int64_t c = 0; c < dim; ++c) {
      dw[c] += g * act.ln_out[c];
      dln[c] += g * row[c];
    }
  }
  // LayerNorm gain and bias (the input needs no gradient).
  for (int64_t c = 0; c < dim; ++c) {
    grads->ln_gamma[c] += dln[c] * act.normalized[c];
    grads->ln_beta[c] += dln[c];
  }
}

void GumbelBits(const float* logits, const float* noise, double tau, bool hard,
                int64_t num_code_bits, double* soft, double* s) {
  for (int64_t g = 0; g < num_code_bits / 2; ++g) {
    float z[4];
    for (int k = 0; k < 4; ++k) z[k] = logits[4 * g + k] + noise[4 * g + k];
    Softmax4(z, tau, &soft[4 * g]);
    const int best = ArgmaxCategory(z);
    s[2 * g] = 0.0;
    s[2 * g + 1] = 0.0;
    for (int k = 0; k < 4; ++k) {
      const double y = hard ? (k == best ? 1.0 : 0.0) : soft[4 * g + k];
      s[2 * g] += y * kValueCategoryBits[k][0];
      s[2 * g + 1] += y * kValueCategoryBits[k][1];
    }
  }
}

void GumbelBitsBackward(const double* soft, const double* ds, double tau,
                        int64_t num_code_bits, float* dlogits) {
  // dy_k = sum_b bits[k][b] ds_{2g+b}; softmax: dz_k = p_k (dy_k - sum_j p_j
  // dy_j) / tau.
  for (int64_t g = 0; g < num_code_bits / 2; ++g) {
    double dy[4];
    double mean = 0.0;
    for (int k = 0; k < 4; ++k) {
      dy[k] = kValueCategoryBits[k][0] * ds[2 * g] +
              kValueCategoryBits[k][1] * ds[2 * g + 1];
      mean += soft[4 * g + k] * dy[k];
    }
    for (int k = 0; k < 4; ++k) {
      dlogits[4 * g + k] =
          static_cast<float>(soft[4 * g + k] * (dy[k] - mean) / tau);
    }
  }
}

double GumbelReconstructionLoss(const float* logits, const float* noise,
                                double tau, bool hard, const float* codebook,
                                int64_t num_code_bits, int64_t dim,
                                const float* x, double weight, float* dlogits) {
  std::vector<double> soft(2 * num_code_bits);
  std::vector<double> s(num_code_bits);
  GumbelBits(logits, noise, tau, hard, num_code_bits, soft.data(), s.data());
  // r = s C - x; loss = weight ||r||^2 / dim.
  std::vector<double> r(dim);
  for (int64_t c = 0; c < dim; ++c) r[c] = -double{x[c]};
  for (int64_t i = 0; i < num_code_bits; ++i) {
    if (s[i] == 0.0) continue;
    for (int64_t c = 0; c < dim; ++c) r[c] += s[i] * codebook[i * dim + c];
  }
  double loss = 0.0;
  for (double v : r) loss += v * v;
  loss *= weight / static_cast<double>(dim);
  // ds_i = 2 weight / dim * C_i . r.
  const double scale = 2.0 * weight / static_cast<double>(dim);
  std::vector<double> ds(num_code_bits);
  for (int64_t i = 0; i < num_code_bits; ++i) {
    const float* row = codebook + i * dim;
    double dot = 0.0;
    for (int64_t c = 0; c < dim; ++c) dot += row[c] * r[c];
    ds[i] = scale * dot;
  }
  GumbelBitsBackward(soft.data(), ds.data(), tau, num_code_bits, dlogits);
  return loss;
}

double DistillationLoss(const float* logits, const uint8_t* target_bits,
                        int64_t num_code_bits, double weight, float* dlogits) {
  double loss = 0.0;
  for (int64_t g = 0; g < num_code_bits / 2; ++g) {
    double p[4];
    Softmax4(logits + 4 * g, 1.0, p);
    const int target =
        ValueCategoryOf(target_bits[2 * g], target_bits[2 * g + 1]);
    loss -= weight * std::log(std::max(p[target], 1e-30));
    for (int k = 0; k < 4; ++k) {
      dlogits[4 * g + k] =
          static_cast<float>(weight * (p[k] - (k == target ? 1.0 : 0.0)));
    }
  }
  return loss;
}

}  // namespace commvq
