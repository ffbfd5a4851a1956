// A GGUF checkpoint made ready to run: the forward pass and its tokenizer.
// What the CLI's model commands (dump-kv, eval-ppl, eval-passkey) start from.
#ifndef COMMVQ_MODEL_LOADED_MODEL_H_
#define COMMVQ_MODEL_LOADED_MODEL_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "commvq/model/llama/llama_model.h"
#include "commvq/model/tokenizer/bpe_tokenizer.h"

namespace commvq {

class ThreadPool;

struct LoadedModel {
  std::string path;
  std::string name;  // general.name
  std::unique_ptr<LlamaModel> model;
  std::optional<BpeTokenizer> tokenizer;
};

// Reads `gguf_path`, dequantizes the weights to f32 and builds the
// tokenizer. pool: optional, not owned, must outlive the model.
absl::StatusOr<LoadedModel> LoadModel(const std::string& gguf_path,
                                      ThreadPool* pool);

}  // namespace commvq

#endif  // COMMVQ_MODEL_LOADED_MODEL_H_
