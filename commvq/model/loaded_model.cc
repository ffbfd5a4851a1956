#include "commvq/model/loaded_model.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "commvq/base/status_macros.h"
#include "commvq/model/gguf/gguf_file.h"
#include "commvq/model/gguf_llama.h"
#include "commvq/model/gguf_tokenizer.h"

namespace commvq {

absl::StatusOr<LoadedModel> LoadModel(const std::string& gguf_path,
                                      ThreadPool* pool) {
  absl::StatusOr<GgufFile> file = GgufFile::Open(gguf_path);
  if (!file.ok()) {
    return absl::Status(file.status().code(),
                        absl::StrCat(gguf_path, ": ", file.status().message()));
  }
  LoadedModel loaded;
  loaded.path = gguf_path;
  CVQ_ASSIGN_OR_RETURN(TokenizerVocabulary vocabulary,
                       TokenizerVocabularyFromGguf(*file));
  CVQ_ASSIGN_OR_RETURN(BpeTokenizer tokenizer,
                       BpeTokenizer::Create(std::move(vocabulary)));
  loaded.tokenizer.emplace(std::move(tokenizer));
  CVQ_ASSIGN_OR_RETURN(GgufLlama llama, LoadLlamaFromGguf(*file, pool));
  loaded.name = llama.name;
  CVQ_ASSIGN_OR_RETURN(loaded.model, LlamaModel::Create(
                                         llama.config, std::move(llama.weights),
                                         pool));
  return loaded;
}

}  // namespace commvq
