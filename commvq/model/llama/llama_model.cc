#include "commvq/model/llama/llama_model.h"

#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "commvq/base/status_macros.h"

namespace commvq {
namespace {

// InvalidArgument unless `tensor` has rows * cols floats; `name` is the path
// of the field, e.g. "layers[3].wk".
absl::Status CheckSize(const std::vector<float>& tensor, absl::string_view name,
                       int64_t rows, int64_t cols = 1) {
  if (static_cast<int64_t>(tensor.size()) == rows * cols) {
    return absl::OkStatus();
  }
  const std::string shape = cols == 1
                                ? absl::StrCat("[", rows, "]")
                                : absl::StrCat("[", rows, ", ", cols, "]");
  return absl::InvalidArgumentError(absl::StrCat(name, " has ", tensor.size(),
                                                 " floats; expected ", shape,
                                                 " = ", rows * cols));
}

// Packs `w` ([rows, cols]) and frees it, so Create never holds two copies of
// more than one matrix.
PackedMatrix PackAndRelease(std::vector<float>& w, int64_t rows, int64_t cols) {
  PackedMatrix packed(w, rows, cols);
  std::vector<float>().swap(w);
  return packed;
}

// out = x / sqrt(mean(x^2) + eps) * weight for each row; the mean of
// squares is summed in double.
// x, out: [rows, dim]; weight: [dim].
void RmsNorm(const float* x, int64_t rows, int64_t dim,
             const std::vector<float>& weight, double eps, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * dim;
    double sum_squares = 0.0;
    for (int64_t i = 0; i < dim; ++i) sum_squares += double{row[i]} * row[i];
    const float scale =
        static_cast<float>(1.0 / std::sqrt(sum_squares / dim + eps));
    for (int64_t i = 0; i < dim; ++i) {
      out[r * dim + i] = row[i] * scale * weight[i];
    }
  }
}

// x += y, element-wise over equal sizes.
void AddInPlace(absl::Span<const float> y, std::vector<float>& x) {
  for (size_t i = 0; i < x.size(); ++i) x[i] += y[i];
}

}  // namespace

absl::Status ValidateConfig(const LlamaConfig& config) {
  const std::pair<int, absl::string_view> sizes[] = {
      {config.vocab_size, "vocab_size"},
      {config.hidden, "hidden"},
      {config.ffn_hidden, "ffn_hidden"},
      {config.num_layers, "num_layers"}};
  for (const auto& [value, name] : sizes) {
    if (value <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "llama config: ", name, " must be positive; got ", value));
    }
  }
  if (!std::isfinite(config.rms_eps) || config.rms_eps <= 0.0) {
    return absl::InvalidArgumentError(
        absl::StrCat("llama config: rms_eps must be positive and finite; got ",
                     config.rms_eps));
  }
  return ValidateAttentionShape(AttentionShapeOf(config));
}

AttentionShape AttentionShapeOf(const LlamaConfig& config) {
  AttentionShape shape;
  shape.num_layers = config.num_layers;
  shape.num_heads = config.num_heads;
  shape.num_kv_heads = config.num_kv_heads;
  shape.head_dim = config.head_dim;
  shape.rope_theta = config.rope_theta;
  shape.pair_layout = config.pair_layout;
  return shape;
}

absl::Status ValidateWeights(const LlamaConfig& config,
                             const LlamaWeights& weights) {
  CVQ_RETURN_IF_ERROR(ValidateConfig(config));
  const int64_t hidden = config.hidden;
  const int64_t q_rows = int64_t{config.num_heads} * config.head_dim;
  const int64_t kv_rows = int64_t{config.num_kv_heads} * config.head_dim;
  CVQ_RETURN_IF_ERROR(CheckSize(weights.token_embedding, "token_embedding",
                                config.vocab_size, hidden));
  if (static_cast<int64_t>(weights.layers.size()) != config.num_layers) {
    return absl::InvalidArgumentError(
        absl::StrCat("layers has ", weights.layers.size(),
                     " entries; expected num_layers = ", config.num_layers));
  }
  for (int l = 0; l < config.num_layers; ++l) {
    const LlamaLayerWeights& layer = weights.layers[l];
    const std::string prefix = absl::StrCat("layers[", l, "].");
    CVQ_RETURN_IF_ERROR(
        CheckSize(layer.attn_norm, absl::StrCat(prefix, "attn_norm"), hidden));
    CVQ_RETURN_IF_ERROR(
        CheckSize(layer.wq, absl::StrCat(prefix, "wq"), q_rows, hidden));
    CVQ_RETURN_IF_ERROR(
        CheckSize(layer.wk, absl::StrCat(prefix, "wk"), kv_rows, hidden));
    CVQ_RETURN_IF_ERROR(
        CheckSize(layer.wv, absl::StrCat(prefix, "wv"), kv_rows, hidden));
    CVQ_RETURN_IF_ERROR(
        CheckSize(layer.wo, absl::StrCat(prefix, "wo"), hidden, q_rows));
    CVQ_RETURN_IF_ERROR(
        CheckSize(layer.ffn_norm, absl::StrCat(prefix, "ffn_norm"), hidden));
    CVQ_RETURN_IF_ERROR(CheckSize(layer.w_gate, absl::StrCat(prefix, "w_gate"),
                                  config.ffn_hidden, hidden));
    CVQ_RETURN_IF_ERROR(CheckSize(layer.w_up, absl::StrCat(prefix, "w_up"),
                                  config.ffn_hidden, hidden));
    CVQ_RETURN_IF_ERROR(CheckSize(layer.w_down, absl::StrCat(prefix, "w_down"),
                                  hidden, config.ffn_hidden));
  }
  CVQ_RETURN_IF_ERROR(CheckSize(weights.output_norm, "output_norm", hidden));
  if (config.tied_embeddings) {
    if (!weights.output.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("output has ", weights.output.size(),
                       " floats; expected none, since tied_embeddings reuses "
                       "token_embedding"));
    }
    return absl::OkStatus();
  }
  return CheckSize(weights.output, "output", config.vocab_size, hidden);
}

absl::StatusOr<std::unique_ptr<LlamaModel>> LlamaModel::Create(
    const LlamaConfig& config, LlamaWeights weights, ThreadPool* pool) {
  CVQ_RETURN_IF_ERROR(ValidateWeights(config, weights));
  std::unique_ptr<LlamaModel> model(new LlamaModel(config, pool));
  const int64_t hidden = config.hidden;
  const int64_t q_rows = int64_t{config.num_heads} * config.head_dim;
  const int64_t kv_rows = int64_t{config.num_kv_heads} * config.head_dim;
  const int64_t ffn = config.ffn_hidden;
  model->token_embedding_ =
      PackAndRelease(weights.token_embedding, config.vocab_size, hidden);
  model->layers_.reserve(config.num_layers);
  for (LlamaLayerWeights& in : weights.layers) {
    Layer layer;
    layer.attn_norm = std::move(in.attn_norm);
    layer.wq = PackAndRelease(in.wq, q_rows, hidden);
    layer.wk = PackAndRelease(in.wk, kv_rows, hidden);
    layer.wv = PackAndRelease(in.wv, kv_rows, hidden);
    layer.wo = PackAndRelease(in.wo, hidden, q_rows);
    layer.ffn_norm = std::move(in.ffn_norm);
    layer.w_gate = PackAndRelease(in.w_gate, ffn, hidden);
    layer.w_up = PackAndRelease(in.w_up, ffn, hidden);
    layer.w_down = PackAndRelease(in.w_down, hidden, ffn);
    model->layers_.push_back(std::move(layer));
  }
  model->output_norm_ = std::move(weights.output_norm);
  if (!config.tied_embeddings) {
    model->output_ = PackAndRelease(weights.output, config.vocab_size, hidden);
  }
  return model;
}

int64_t LlamaModel::WeightBytes() const {
  const auto vector_bytes = [](const std::vector<float>& v) {
    return static_cast<int64_t>(v.size() * sizeof(float));
  };
  int64_t bytes = token_embedding_.bytes() + vector_bytes(output_norm_) +
                  (output_.has_value() ? output_->bytes() : 0);
  for (const Layer& layer : layers_) {
    bytes += vector_bytes(layer.attn_norm) + vector_bytes(layer.ffn_norm);
    for (const PackedMatrix* m : {&layer.wq, &layer.wk, &layer.wv, &layer.wo,
                                  &layer.w_gate, &layer.w_up, &layer.w_down}) {
      bytes += m->bytes();
    }
  }
  return bytes;
}

// Scratch of one Forward: row-major [t, width] buffers.
struct LlamaModel::Activations {
  Activations(const LlamaConfig& config, int64_t t)
      : num_tokens(t),
        x(t * config.hidden),
        normed(x.size()),
        projected(x.size()),
        queries(t * config.num_heads * config.head_dim),
        attention(queries.size()),
        keys(t * config.num_kv_heads * config.head_dim),
        values(keys.size()),
        gate(t * config.ffn_hidden),
        up(gate.size()) {}

  int64_t num_tokens;
  std::vector<float> x;          // the residual stream
  std::vector<float> normed;     // RMSNorm(x)
  std::vector<float> projected;  // Wo or W_down output, added to x
  std::vector<float> queries, attention;
  std::vector<float> keys, values;
  std::vector<float> gate, up;
};

absl::Status LlamaModel::Forward(absl::Span<const int32_t> tokens,
                                 int64_t first_position, KvCache& cache,
                                 const MutableTensorView& logits,
                                 const ForwardOptions& options) const {
  if (tokens.empty()) {
    return absl::InvalidArgumentError("Forward needs at least one token");
  }
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= config_.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tokens[", i, "] = ", tokens[i], " is outside the vocabulary [0, ",
          config_.vocab_size, ")"));
    }
  }
  const AttentionShape shape = AttentionShapeOf(config_);
  if (cache.shape() != shape) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the cache's attention shape ", AttentionShapeToString(cache.shape()),
        " differs from the model's ", AttentionShapeToString(shape)));
  }
  for (int l = 0; l < config_.num_layers; ++l) {
    if (cache.length(l) != first_position) {
      return absl::InvalidArgumentError(
          absl::StrCat("first_position ", first_position,
                       " does not continue the cache: layer ", l, " holds ",
                       cache.length(l), " tokens"));
    }
  }
  const int64_t t = static_cast<int64_t>(tokens.size());
  const int64_t logit_rows = options.logits == LogitsMode::kAllTokens ? t : 1;
  CVQ_RETURN_IF_ERROR(CheckTensor(logits, "logits", DType::kF32,
                                  {logit_rows, config_.vocab_size}));

  std::vector<int64_t> positions(t);
  for (int64_t i = 0; i < t; ++i) positions[i] = first_position + i;
  absl::Status status = Run(tokens, positions, cache,
                            static_cast<float*>(logits.data()), options);
  if (!status.ok()) cache.Truncate(first_position).IgnoreError();
  return status;
}

absl::Status LlamaModel::Run(absl::Span<const int32_t> tokens,
                             absl::Span<const int64_t> positions,
                             KvCache& cache, float* logits,
                             const ForwardOptions& options) const {
  const int64_t t = static_cast<int64_t>(tokens.size());
  const int64_t hidden = config_.hidden;
  Activations act(config_, t);
  for (int64_t i = 0; i < t; ++i) {
    token_embedding_.CopyRow(tokens[i],
                             absl::MakeSpan(&act.x[i * hidden], hidden));
  }
  for (int l = 0; l < config_.num_layers; ++l) {
    CVQ_RETURN_IF_ERROR(RunLayer(l, positions, cache, options, act));
  }
  // Only the rows whose logits are wanted go through the output projection.
  const int64_t first_row =
      options.logits == LogitsMode::kAllTokens ? 0 : t - 1;
  const int64_t rows = t - first_row;
  RmsNorm(&act.x[first_row * hidden], rows, hidden, output_norm_,
          config_.rms_eps, act.normed.data());
  MatMulTransposed(
      absl::MakeConstSpan(act.normed.data(), rows * hidden), rows, output(),
      absl::MakeSpan(logits, rows * int64_t{config_.vocab_size}), pool_);
  return absl::OkStatus();
}

absl::Status LlamaModel::RunLayer(int layer_index,
                                  absl::Span<const int64_t> positions,
                                  KvCache& cache, const ForwardOptions& options,
                                  Activations& act) const {
  const Layer& layer = layers_[layer_index];
  const int64_t t = act.num_tokens;
  const int64_t hidden = config_.hidden;
  const int heads = config_.num_heads;
  const int kv_heads = config_.num_kv_heads;
  const int head_dim = config_.head_dim;

  RmsNorm(act.x.data(), t, hidden, layer.attn_norm, config_.rms_eps,
          act.normed.data());
  MatMulTransposed(act.normed, t, layer.wq, absl::MakeSpan(act.queries), pool_);
  MatMulTransposed(act.normed, t, layer.wk, absl::MakeSpan(act.keys), pool_);
  MatMulTransposed(act.normed, t, layer.wv, absl::MakeSpan(act.values), pool_);
  const TensorView queries(act.queries.data(), DType::kF32,
                           {t, heads, head_dim});
  const TensorView keys(act.keys.data(), DType::kF32, {t, kv_heads, head_dim});
  const TensorView values(act.values.data(), DType::kF32,
                          {t, kv_heads, head_dim});
  if (options.observer != nullptr) {
    options.observer->OnLayer(layer_index, queries, keys, values);
  }
  CVQ_RETURN_IF_ERROR(cache.Append(layer_index, keys, values));
  CVQ_RETURN_IF_ERROR(
      cache.Attend(layer_index, queries, positions,
                   MutableTensorView(act.attention.data(), DType::kF32,
                                     {t, heads, head_dim})));
  MatMulTransposed(act.attention, t, layer.wo, absl::MakeSpan(act.projected),
                   pool_);
  AddInPlace(act.projected, act.x);

  RmsNorm(act.x.data(), t, hidden, layer.ffn_norm, config_.rms_eps,
          act.normed.data());
  MatMulTransposed(act.normed, t, layer.w_gate, absl::MakeSpan(act.gate),
                   pool_);
  MatMulTransposed(act.normed, t, layer.w_up, absl::MakeSpan(act.up), pool_);
  // SwiGLU: SiLU(gate) * up, into gate.
  for (size_t i = 0; i < act.gate.size(); ++i) {
    const float g = act.gate[i];
    act.gate[i] = g / (1.0f + std::exp(-g)) * act.up[i];
  }
  MatMulTransposed(act.gate, t, layer.w_down, absl::MakeSpan(act.projected),
                   pool_);
  AddInPlace(act.projected, act.x);
  return absl::OkStatus();
}

}  // namespace commvq
