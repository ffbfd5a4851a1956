// Hand-written forward and backward passes for training the `mlp` value
// encoder (commvq/quantizer/commvq_value/mlp_encode.h): the network to the
// logits, the Gumbel-softmax straight-through reconstruction loss of the
// paper (tau = 1, hard) and the cross-entropy used to distill the search
// codes. Each backward pass is checked against finite differences in
// value_mlp_grad_test.cc.
#ifndef COMMVQ_TRAINING_VALUE_VALUE_MLP_GRAD_H_
#define COMMVQ_TRAINING_VALUE_VALUE_MLP_GRAD_H_

#include <cstdint>
#include <vector>

#include "commvq/quantizer/commvq_value/value_codebook.h"

namespace commvq {

// Zero-filled tensors of the same shapes as `w` (gradient accumulators).
ValueEncoderWeights ZerosLike(const ValueEncoderWeights& w);

// The activations of one input kept for the backward pass.
struct ValueMlpActivations {
  std::vector<float> normalized;  // [d] LayerNorm output before gamma, beta
  std::vector<float> ln_out;      // [d]
  std::vector<float> pre;         // [hidden] before GELU
  std::vector<float> hidden;      // [hidden] after GELU
  std::vector<float> logits;      // [2 Nc]
};

// The forward pass of ValueMlpLogits, keeping the activations.
void ValueMlpForward(const ValueEncoderWeights& w, int64_t dim,
                     int64_t num_code_bits, const float* x,
                     ValueMlpActivations* act);

// Accumulates into `grads` the gradient of a loss whose gradient with
// respect to the logits is `dlogits` ([2 Nc]), for the input whose
// activations are `act`.
void ValueMlpBackward(const ValueEncoderWeights& w, int64_t dim,
                      int64_t num_code_bits, const ValueMlpActivations& act,
                      const float* dlogits, ValueEncoderWeights* grads);

// The relaxed bits s ([Nc]) of y = softmax((logits + noise) / tau) per
// group of 4 (mapped by kValueCategoryBits), where y is the one-hot argmax
// when `hard` (straight-through) or the softmax itself otherwise; writes the
// softmax ([2 Nc]) into `soft` for GumbelBitsBackward.
void GumbelBits(const float* logits, const float* noise, double tau, bool hard,
                int64_t num_code_bits, double* soft, double* s);

// d loss / d logits ([2 Nc]) from d loss / d s (`ds`, [Nc]) through the
// softmax `soft` of GumbelBits (the straight-through gradient when hard).
void GumbelBitsBackward(const double* soft, const double* ds, double tau,
                        int64_t num_code_bits, float* dlogits);

// weight * ||x - s C||^2 / dim with s the bits of y = softmax((logits +
// noise) / tau) per group of 4 (mapped by kValueCategoryBits), where y is
// the one-hot argmax in the forward pass when `hard` (straight-through: the
// gradient still flows through the softmax) or the softmax itself otherwise.
// Writes d loss / d logits ([2 Nc]) and returns the loss. codebook:
// [Nc, dim]; noise: [2 Nc] (Gumbel samples, or zeros).
double GumbelReconstructionLoss(const float* logits, const float* noise,
                                double tau, bool hard, const float* codebook,
                                int64_t num_code_bits, int64_t dim,
                                const float* x, double weight, float* dlogits);

// weight * the cross-entropy of each group's softmax(logits) against the
// category of `target_bits` ([Nc] 0/1), summed over groups; writes
// d loss / d logits and returns the loss.
double DistillationLoss(const float* logits, const uint8_t* target_bits,
                        int64_t num_code_bits, double weight, float* dlogits);

}  // namespace commvq

#endif  // COMMVQ_TRAINING_VALUE_VALUE_MLP_GRAD_H_
