#include "commvq/model/gguf_tokenizer.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "commvq/base/status_macros.h"

namespace commvq {
namespace {

absl::StatusOr<std::vector<std::string>> Strings(const GgufFile& file,
                                                 absl::string_view key) {
  CVQ_ASSIGN_OR_RETURN(std::vector<absl::string_view> views,
                       file.GetStringArray(key));
  return std::vector<std::string>(views.begin(), views.end());
}

// -1 when the optional id is absent.
absl::StatusOr<int32_t> OptionalId(const GgufFile& file, absl::string_view key) {
  if (!file.Has(key)) return -1;
  CVQ_ASSIGN_OR_RETURN(int64_t id, file.GetInt(key));
  return static_cast<int32_t>(id);
}

}  // namespace

absl::StatusOr<TokenizerVocabulary> TokenizerVocabularyFromGguf(
    const GgufFile& file) {
  CVQ_ASSIGN_OR_RETURN(absl::string_view model,
                       file.GetString("tokenizer.ggml.model"));
  if (model != "gpt2") {
    return absl::InvalidArgumentError(absl::StrCat(
        "GGUF tokenizer.ggml.model '", model,
        "' is not supported: expected 'gpt2' (byte-level BPE)"));
  }
  TokenizerVocabulary vocabulary;
  CVQ_ASSIGN_OR_RETURN(vocabulary.tokens, Strings(file, "tokenizer.ggml.tokens"));
  CVQ_ASSIGN_OR_RETURN(vocabulary.merges, Strings(file, "tokenizer.ggml.merges"));
  CVQ_ASSIGN_OR_RETURN(std::vector<int64_t> types,
                       file.GetIntArray("tokenizer.ggml.token_type"));
  vocabulary.token_types.assign(types.begin(), types.end());
  CVQ_ASSIGN_OR_RETURN(vocabulary.bos_id,
                       OptionalId(file, "tokenizer.ggml.bos_token_id"));
  CVQ_ASSIGN_OR_RETURN(vocabulary.eos_id,
                       OptionalId(file, "tokenizer.ggml.eos_token_id"));
  CVQ_ASSIGN_OR_RETURN(vocabulary.unknown_id,
                       OptionalId(file, "tokenizer.ggml.unknown_token_id"));
  CVQ_ASSIGN_OR_RETURN(vocabulary.padding_id,
                       OptionalId(file, "tokenizer.ggml.padding_token_id"));
  // Older files have no pre-tokenizer name; GPT-2's split is llama.cpp's
  // default for them too.
  vocabulary.pre_tokenizer = "gpt2";
  if (file.Has("tokenizer.ggml.pre")) {
    CVQ_ASSIGN_OR_RETURN(absl::string_view pre,
                         file.GetString("tokenizer.ggml.pre"));
    vocabulary.pre_tokenizer = std::string(pre);
  }
  return vocabulary;
}

}  // namespace commvq
