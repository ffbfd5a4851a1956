#include "commvq/model/gguf_llama.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "commvq/base/status_macros.h"
#include "commvq/model/gguf/dequantize.h"
#include "commvq/tensor/tensor_view.h"

namespace commvq {
namespace {

absl::StatusOr<int> GetPositiveInt(const GgufFile& file, const std::string& key) {
  CVQ_ASSIGN_OR_RETURN(int64_t value, file.GetInt(key));
  if (value <= 0 || value > (int64_t{1} << 30)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "GGUF metadata \"", key, "\" = ", value, ": expected a positive size"));
  }
  return static_cast<int>(value);
}

// Dequantizes tensor `name` and checks its ggml dims (fastest first), i.e.
// the row-major shape [dims[1], dims[0]] for a matrix.
absl::StatusOr<std::vector<float>> LoadTensor(const GgufFile& file,
                                              const std::string& name,
                                              std::vector<int64_t> dims,
                                              ThreadPool* pool) {
  CVQ_ASSIGN_OR_RETURN(const GgufTensorInfo* info, file.FindTensor(name));
  if (std::vector<int64_t>(info->dims.begin(), info->dims.end()) != dims) {
    return absl::InvalidArgumentError(absl::StrCat(
        "GGUF tensor ", name, " has ggml dims ", ShapeToString(info->dims),
        ": expected ", ShapeToString(dims), " for the model's config"));
  }
  return DequantizeTensor(file, name, pool);
}

}  // namespace

absl::StatusOr<LlamaConfig> LlamaConfigFromGguf(const GgufFile& file) {
  CVQ_ASSIGN_OR_RETURN(absl::string_view arch,
                       file.GetString("general.architecture"));
  if (arch != "llama") {
    return absl::InvalidArgumentError(absl::StrCat(
        "GGUF architecture '", arch, "' is not supported: expected 'llama'"));
  }
  const std::string p = "llama.";
  LlamaConfig config;
  CVQ_ASSIGN_OR_RETURN(config.num_layers, GetPositiveInt(file, p + "block_count"));
  CVQ_ASSIGN_OR_RETURN(config.hidden, GetPositiveInt(file, p + "embedding_length"));
  CVQ_ASSIGN_OR_RETURN(config.ffn_hidden,
                       GetPositiveInt(file, p + "feed_forward_length"));
  CVQ_ASSIGN_OR_RETURN(config.num_heads,
                       GetPositiveInt(file, p + "attention.head_count"));
  config.num_kv_heads = config.num_heads;  // the key is absent without GQA
  if (file.Has(p + "attention.head_count_kv")) {
    CVQ_ASSIGN_OR_RETURN(config.num_kv_heads,
                         GetPositiveInt(file, p + "attention.head_count_kv"));
  }
  if (config.hidden % config.num_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "GGUF: embedding_length ", config.hidden,
        " is not a multiple of head_count ", config.num_heads));
  }
  config.head_dim = config.hidden / config.num_heads;
  if (file.Has(p + "rope.dimension_count")) {
    CVQ_ASSIGN_OR_RETURN(int rope_dims,
                         GetPositiveInt(file, p + "rope.dimension_count"));
    if (rope_dims != config.head_dim) {
      return absl::InvalidArgumentError(absl::StrCat(
          "GGUF: rope.dimension_count ", rope_dims, " differs from head_dim ",
          config.head_dim, ": partial RoPE is not supported"));
    }
  }
  if (file.Has(p + "rope.freq_base")) {
    CVQ_ASSIGN_OR_RETURN(config.rope_theta, file.GetFloat(p + "rope.freq_base"));
  }
  CVQ_ASSIGN_OR_RETURN(config.rms_eps,
                       file.GetFloat(p + "attention.layer_norm_rms_epsilon"));
  CVQ_ASSIGN_OR_RETURN(const GgufTensorInfo* embedding,
                       file.FindTensor("token_embd.weight"));
  if (embedding->dims.size() != 2) {
    return absl::InvalidArgumentError(
        "GGUF tensor token_embd.weight is not a matrix");
  }
  config.vocab_size = static_cast<int>(embedding->dims[1]);
  config.pair_layout = PairLayout::kInterleaved;
  config.tied_embeddings = !file.FindTensor("output.weight").ok();
  CVQ_RETURN_IF_ERROR(ValidateConfig(config));
  return config;
}

absl::StatusOr<GgufLlama> LoadLlamaFromGguf(const GgufFile& file,
                                            ThreadPool* pool) {
  GgufLlama model;
  CVQ_ASSIGN_OR_RETURN(model.config, LlamaConfigFromGguf(file));
  if (file.Has("general.name")) {
    CVQ_ASSIGN_OR_RETURN(absl::string_view name, file.GetString("general.name"));
    model.name = std::string(name);
  }
  const LlamaConfig& c = model.config;
  const int64_t q_rows = int64_t{c.num_heads} * c.head_dim;
  const int64_t kv_rows = int64_t{c.num_kv_heads} * c.head_dim;
  LlamaWeights& w = model.weights;
  CVQ_ASSIGN_OR_RETURN(w.token_embedding,
                       LoadTensor(file, "token_embd.weight",
                                  {c.hidden, c.vocab_size}, pool));
  CVQ_ASSIGN_OR_RETURN(w.output_norm,
                       LoadTensor(file, "output_norm.weight", {c.hidden}, pool));
  if (!c.tied_embeddings) {
    CVQ_ASSIGN_OR_RETURN(w.output, LoadTensor(file, "output.weight",
                                              {c.hidden, c.vocab_size}, pool));
  }
  w.layers.resize(c.num_layers);
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string b = absl::StrCat("blk.", i, ".");
    LlamaLayerWeights& l = w.layers[i];
    CVQ_ASSIGN_OR_RETURN(l.attn_norm,
                         LoadTensor(file, b + "attn_norm.weight", {c.hidden}, pool));
    CVQ_ASSIGN_OR_RETURN(l.wq, LoadTensor(file, b + "attn_q.weight",
                                          {c.hidden, q_rows}, pool));
    CVQ_ASSIGN_OR_RETURN(l.wk, LoadTensor(file, b + "attn_k.weight",
                                          {c.hidden, kv_rows}, pool));
    CVQ_ASSIGN_OR_RETURN(l.wv, LoadTensor(file, b + "attn_v.weight",
                                          {c.hidden, kv_rows}, pool));
    CVQ_ASSIGN_OR_RETURN(l.wo, LoadTensor(file, b + "attn_output.weight",
                                          {q_rows, c.hidden}, pool));
    CVQ_ASSIGN_OR_RETURN(l.ffn_norm,
                         LoadTensor(file, b + "ffn_norm.weight", {c.hidden}, pool));
    CVQ_ASSIGN_OR_RETURN(l.w_gate, LoadTensor(file, b + "ffn_gate.weight",
                                              {c.hidden, c.ffn_hidden}, pool));
    CVQ_ASSIGN_OR_RETURN(l.w_up, LoadTensor(file, b + "ffn_up.weight",
                                            {c.hidden, c.ffn_hidden}, pool));
    CVQ_ASSIGN_OR_RETURN(l.w_down, LoadTensor(file, b + "ffn_down.weight",
                                              {c.ffn_hidden, c.hidden}, pool));
  }
  return model;
}

}  // namespace commvq
