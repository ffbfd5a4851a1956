// A LLaMA-architecture decoder (SmolLM2, LLaMA 2/3 and their kin) run in f32
// on the CPU: the model harness that produces real keys, values and queries
// for the trainers (through a LayerObserver) and runs generation over any
// KvCache, full-precision or compressed.
//
// The model is built from plain structs (LlamaConfig, LlamaWeights) so it
// does not depend on where weights come from (GGUF, safetensors, random).
// Per layer: x += Wo . Attention(RoPE(Wq h), RoPE(Wk h), Wv h) with
// h = RMSNorm(x); x += W_down (SiLU(W_gate h) * W_up h) with h = RMSNorm(x);
// logits = W_out RMSNorm(x). RoPE is the cache's business (kv_cache.h): the
// model hands it pre-RoPE queries and keys.
//
// Thread safety: a LlamaModel is immutable; Forward may run concurrently on
// different caches. Results do not depend on the thread pool's size.
#ifndef COMMVQ_MODEL_LLAMA_LLAMA_MODEL_H_
#define COMMVQ_MODEL_LLAMA_LLAMA_MODEL_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "commvq/kvcache/kv_cache.h"
#include "commvq/kvcache/rope.h"
#include "commvq/model/llama/gemm.h"
#include "commvq/tensor/tensor_view.h"

namespace commvq {

class ThreadPool;

struct LlamaConfig {
  int vocab_size = 0;
  int hidden = 0;
  int ffn_hidden = 0;
  int num_layers = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  double rope_theta = 10000.0;
  double rms_eps = 1e-5;
  // Which channels RoPE pairs. GGUF / llama.cpp checkpoints permute the Q
  // and K projection rows for adjacent pairs (interleaved); Hugging Face
  // checkpoints use rotate_half pairs (half).
  PairLayout pair_layout = PairLayout::kInterleaved;
  // The output projection is the token embedding (LlamaWeights::output is
  // empty).
  bool tied_embeddings = false;
};

// InvalidArgument naming the field unless every size is positive, rms_eps
// is positive and finite, and the attention part passes
// ValidateAttentionShape.
absl::Status ValidateConfig(const LlamaConfig& config);

// The attention shape a KvCache for this model must have.
AttentionShape AttentionShapeOf(const LlamaConfig& config);

// All matrices are f32, row-major, [out, in] (a projection computes
// y = W x), as checkpoints store them.
struct LlamaLayerWeights {
  std::vector<float> attn_norm;  // [hidden]
  std::vector<float> wq;         // [num_heads * head_dim, hidden]
  std::vector<float> wk;         // [num_kv_heads * head_dim, hidden]
  std::vector<float> wv;         // [num_kv_heads * head_dim, hidden]
  std::vector<float> wo;         // [hidden, num_heads * head_dim]
  std::vector<float> ffn_norm;   // [hidden]
  std::vector<float> w_gate;     // [ffn_hidden, hidden]
  std::vector<float> w_up;       // [ffn_hidden, hidden]
  std::vector<float> w_down;     // [hidden, ffn_hidden]
};

struct LlamaWeights {
  std::vector<float> token_embedding;     // [vocab_size, hidden]
  std::vector<LlamaLayerWeights> layers;  // [num_layers]
  std::vector<float> output_norm;         // [hidden]
  // [vocab_size, hidden]; empty when config.tied_embeddings.
  std::vector<float> output;
};

// InvalidArgument naming the first tensor whose size does not match
// `config` (e.g. "layers[3].wk has 1000 floats; expected [192, 576] =
// 110592"), or the config's own error.
absl::Status ValidateWeights(const LlamaConfig& config,
                             const LlamaWeights& weights);

// Sees each layer's projections as the forward pass computes them (the KV
// dump records them as calibration data).
class LayerObserver {
 public:
  virtual ~LayerObserver() = default;
  // Called once per layer per Forward, in layer order, before the keys and
  // values reach the cache. The views are valid only during the call.
  // queries: [t, num_heads, head_dim] f32, PRE-RoPE.
  // keys:    [t, num_kv_heads, head_dim] f32, PRE-RoPE.
  // values:  [t, num_kv_heads, head_dim] f32.
  virtual void OnLayer(int layer, const TensorView& queries,
                       const TensorView& keys, const TensorView& values) = 0;
};

enum class LogitsMode {
  kAllTokens,  // logits: [t, vocab_size]
  kLastToken,  // logits: [1, vocab_size], for the last token only
};

struct ForwardOptions {
  LogitsMode logits = LogitsMode::kAllTokens;
  // Not owned, may be null.
  LayerObserver* observer = nullptr;
};

class LlamaModel {
 public:
  // Validates `weights` against `config` (ValidateWeights) and repacks the
  // matrices for MatMulTransposed, releasing each original as it goes.
  // pool: optional, not owned, must outlive the model.
  static absl::StatusOr<std::unique_ptr<LlamaModel>> Create(
      const LlamaConfig& config, LlamaWeights weights,
      ThreadPool* pool = nullptr);

  const LlamaConfig& config() const { return config_; }

  // Bytes of the packed weights.
  int64_t WeightBytes() const;

  // Runs t = tokens.size() tokens at positions first_position ..
  // first_position + t - 1: t > 1 is a batched prefill (matrix products),
  // t == 1 a decode step (matrix-vector products). Appends each layer's keys
  // and values to `cache` and writes the logits.
  // tokens: [t], each in [0, vocab_size), t >= 1.
  // first_position: must equal cache.length(layer) for every layer.
  // cache: shape AttentionShapeOf(config()).
  // logits: [t, vocab_size] f32, or [1, vocab_size] for kLastToken (written).
  // InvalidArgument (naming the value) for a bad argument, before anything
  // changes. An error from the cache truncates it back to first_position.
  absl::Status Forward(absl::Span<const int32_t> tokens, int64_t first_position,
                       KvCache& cache, const MutableTensorView& logits,
                       const ForwardOptions& options = {}) const;

 private:
  struct Layer {
    std::vector<float> attn_norm;
    PackedMatrix wq, wk, wv, wo;
    std::vector<float> ffn_norm;
    PackedMatrix w_gate, w_up, w_down;
  };
  struct Activations;

  LlamaModel(const LlamaConfig& config, ThreadPool* pool)
      : config_(config), pool_(pool) {}

  // The output projection: the token embedding when tied.
  const PackedMatrix& output() const {
    return output_.has_value() ? *output_ : token_embedding_;
  }

  // Forward after validation; errors come from the cache only.
  absl::Status Run(absl::Span<const int32_t> tokens,
                   absl::Span<const int64_t> positions, KvCache& cache,
                   float* logits, const ForwardOptions& options) const;
  // One decoder layer over act.x (updated in place).
  absl::Status RunLayer(int layer_index, absl::Span<const int64_t> positions,
                        KvCache& cache, const ForwardOptions& options,
                        Activations& act) const;

  const LlamaConfig config_;
  ThreadPool* const pool_;
  // Packed like the other matrices: embedding lookups read one strided row
  // (CopyRow), and a tied model multiplies by it without a second copy.
  PackedMatrix token_embedding_;
  std::vector<Layer> layers_;
  std::vector<float> output_norm_;
  std::optional<PackedMatrix> output_;  // absent when tied
};

}  // namespace commvq

#endif  // COMMVQ_MODEL_LLAMA_LLAMA_MODEL_H_
