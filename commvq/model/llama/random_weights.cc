#include "commvq/model/llama/random_weights.h"

#include <cmath>
#include <utility>
#include <vector>

#include "commvq/base/random.h"

namespace commvq {

LlamaWeights RandomLlamaWeights(const LlamaConfig& config, uint64_t seed) {
  Rng rng(seed);
  const auto matrix = [&rng](int64_t rows, int64_t cols) {
    std::vector<float> w(rows * cols);
    rng.FillNormal(absl::MakeSpan(w), 0.0f, 1.0f / std::sqrt(float(cols)));
    return w;
  };
  const auto gain = [&rng](int64_t size) {
    std::vector<float> g(size);
    rng.FillNormal(absl::MakeSpan(g), 1.0f, 0.1f);
    return g;
  };
  const int64_t q_rows = int64_t{config.num_heads} * config.head_dim;
  const int64_t kv_rows = int64_t{config.num_kv_heads} * config.head_dim;
  LlamaWeights weights;
  weights.token_embedding = matrix(config.vocab_size, config.hidden);
  for (int l = 0; l < config.num_layers; ++l) {
    LlamaLayerWeights layer;
    layer.attn_norm = gain(config.hidden);
    layer.wq = matrix(q_rows, config.hidden);
    layer.wk = matrix(kv_rows, config.hidden);
    layer.wv = matrix(kv_rows, config.hidden);
    layer.wo = matrix(config.hidden, q_rows);
    layer.ffn_norm = gain(config.hidden);
    layer.w_gate = matrix(config.ffn_hidden, config.hidden);
    layer.w_up = matrix(config.ffn_hidden, config.hidden);
    layer.w_down = matrix(config.hidden, config.ffn_hidden);
    weights.layers.push_back(std::move(layer));
  }
  weights.output_norm = gain(config.hidden);
  if (!config.tied_embeddings) {
    weights.output = matrix(config.vocab_size, config.hidden);
  }
  return weights;
}

}  // namespace commvq
