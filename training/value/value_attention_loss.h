// The optional attention-output term of the `mlp` value encoder's training
// loss (issue 6): with real queries and keys the attention weights p of a
// window of consecutive tokens are fixed (keys stay exact), and the error of
// the values is scored as the error of the attention output it causes,
//   ||sum_t p_t v_hat_t - sum_t p_t v_t||^2 per query head and query,
// rather than per token. It weights tokens by how much attention they get
// (attention sinks count more) and penalizes errors that add up across
// tokens instead of cancelling.
//
// Design (documented choice): the data are windows ("blocks") of W
// consecutive dump tokens. Every token of a block is also a query; its
// weights come from the causal softmax over its whole prefix in the dump
// (RoPE at the real positions, value_attention_blocks.h), and the loss
// keeps the weights of the block's own tokens t <= i only: the rest of the
// prefix is treated as exact. This costs W encoder passes per block and no
// codes outside it.
//
// As in training the decoding is v_hat_t = a_t (s_t C) with a_t = norm_t *
// channel_scale (the norm rescaling of the quantizer is left out, as in the
// reconstruction term), and v_t = a_t u_t with u_t the unit row.
#ifndef COMMVQ_TRAINING_VALUE_VALUE_ATTENTION_LOSS_H_
#define COMMVQ_TRAINING_VALUE_VALUE_ATTENTION_LOSS_H_

#include <cstdint>
#include <vector>

namespace commvq {

// One block of W consecutive tokens.
struct ValueAttentionBlock {
  std::vector<float> values;  // [W, dim] the tokens' values
  // probs[(h * W + i) * W + t]: the weight query i (the block's i-th token)
  // of query head h gives token t of the block (0 for t > i).
  std::vector<float> probs;
  // Sum over heads and queries of ||o||^2, o the exact attention output over
  // the whole prefix: the loss is relative to it.
  double output_energy = 0.0;
  // Set by PrescaleValueAttention: the unit rows u_t ([W, dim], 0 for a zero
  // token) and a_t = norm_t * channel_scale ([W, dim]).
  std::vector<float> units;
  std::vector<float> amplitude;
};

struct ValueAttentionData {
  int64_t num_heads = 0;     // query heads; head h reads KV head h / group
  int64_t num_kv_heads = 0;  // divides num_heads
  int64_t head_dim = 0;      // dim = num_kv_heads * head_dim
  int64_t window = 0;        // W
  std::vector<ValueAttentionBlock> blocks;

  int64_t dim() const { return num_kv_heads * head_dim; }
};

// Fills units and amplitude of every block for the layer's channel scale
// ([dim], > 0), as the trainer prescales its rows (codebook_fit.h).
void PrescaleValueAttention(const std::vector<float>& channel_scale,
                            ValueAttentionData* data);

// weight / dim * sum_{h,i} ||o_{h,i}||^2 / output_energy with
//   o_{h,i} = sum_{t <= i} probs[h,i,t] (a_t (s_t C - u_t))[KV head of h]
// for the relaxed bits s ([W, Nc], values in [0, 1]); the 1 / dim puts it on
// the scale of the reconstruction term (a mean over elements of unit rows).
// Writes d loss / d s ([W, Nc]) and returns the loss. codebook: [Nc, dim].
double AttentionOutputLoss(const ValueAttentionData& data,
                           const ValueAttentionBlock& block,
                           const float* codebook, int64_t num_code_bits,
                           const double* s, double weight, double* ds);

}  // namespace commvq

#endif  // COMMVQ_TRAINING_VALUE_VALUE_ATTENTION_LOSS_H_
