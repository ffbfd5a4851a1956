// Builds a LlamaModel's config and f32 weights from a GGUF checkpoint of the
// llama architecture (SmolLM2, LLaMA 2/3, ...): every hyper-parameter comes
// from the file's metadata, never from constants here.
//
// GGUF llama checkpoints permute the rows of the Q and K projections so RoPE
// rotates adjacent pairs (2i, 2i + 1); the config records that as
// PairLayout::kInterleaved, which the KV cache and the key quantizer follow.
#ifndef COMMVQ_MODEL_GGUF_LLAMA_H_
#define COMMVQ_MODEL_GGUF_LLAMA_H_

#include <string>

#include "absl/status/statusor.h"
#include "commvq/model/gguf/gguf_file.h"
#include "commvq/model/llama/llama_model.h"

namespace commvq {

class ThreadPool;

// InvalidArgument naming the key for a missing or unusable hyper-parameter,
// or for an architecture other than "llama".
absl::StatusOr<LlamaConfig> LlamaConfigFromGguf(const GgufFile& file);

struct GgufLlama {
  std::string name;  // general.name, or "" when absent
  LlamaConfig config;
  LlamaWeights weights;  // dequantized to f32
};

// Reads the config and dequantizes every weight (pool: optional, not
// owned). InvalidArgument naming the tensor for a missing tensor or one
// whose shape does not match the config.
absl::StatusOr<GgufLlama> LoadLlamaFromGguf(const GgufFile& file,
                                            ThreadPool* pool = nullptr);

}  // namespace commvq

#endif  // COMMVQ_MODEL_GGUF_LLAMA_H_
