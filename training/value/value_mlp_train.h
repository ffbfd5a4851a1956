// Training of the `mlp` value encoder as in the paper (docs/METHOD.md
// section 2): optional distillation of the search encoder's codes
// (cross-entropy per group), then Gumbel-softmax straight-through (tau = 1,
// hard) on the reconstruction MSE against a fixed codebook, plus optionally
// the attention-output error of blocks of real tokens
// (value_attention_loss.h); Adam with a cosine learning-rate schedule per
// phase.
//
// Deterministic for a seed whatever the pool: a batch is cut into fixed
// shards of kValueMlpShard inputs whose gradients are summed in order, and
// each input's Gumbel noise comes from its own stream (seed, step, index).
#ifndef COMMVQ_TRAINING_VALUE_VALUE_MLP_TRAIN_H_
#define COMMVQ_TRAINING_VALUE_VALUE_MLP_TRAIN_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "commvq/quantizer/commvq_value/value_codebook.h"
#include "training/value/value_attention_loss.h"

namespace commvq {

class ThreadPool;

inline constexpr int64_t kValueMlpShard = 8;

struct ValueMlpTrainOptions {
  int64_t hidden = 0;      // 0 = min(4096, 2 Nc), the official width
  int distill_epochs = 2;  // epochs of distillation (needs search codes)
  int epochs = 3;          // epochs of Gumbel straight-through
  int64_t batch = 64;
  double learning_rate = 1e-3;
  double tau = 1.0;
  // The attention-output term (value_attention_loss.h) of the
  // straight-through phase: with weight > 0 each step adds the term of one
  // block of `attention` (prescaled; not owned), the blocks in turn.
  const ValueAttentionData* attention = nullptr;
  double attention_weight = 0.0;
  uint64_t seed = 0;
  ThreadPool* pool = nullptr;  // not owned; results do not depend on it
  std::function<void(double)> progress;  // completed fraction
};

struct ValueMlpTrainResult {
  ValueEncoderWeights weights;
  // Mean loss per epoch: distillation (cross-entropy per group) and the
  // straight-through reconstruction MSE per element.
  std::vector<double> distill_loss;
  std::vector<double> reconstruction_loss;
  // Mean attention-output term per straight-through step, per epoch (empty
  // without it).
  std::vector<double> attention_loss;
};

// units: [n, dim] (prescaled unit values); codebook: [nc, dim];
// search_bits: [n, nc] 0/1 targets for distillation, or null to skip it.
// InvalidArgument for bad sizes or options.
absl::StatusOr<ValueMlpTrainResult> TrainValueMlp(
    const float* units, int64_t n, int64_t dim, const float* codebook,
    int64_t nc, const uint8_t* search_bits,
    const ValueMlpTrainOptions& options);

}  // namespace commvq

#endif  // COMMVQ_TRAINING_VALUE_VALUE_MLP_TRAIN_H_
