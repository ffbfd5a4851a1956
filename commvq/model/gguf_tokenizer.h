// The tokenizer a GGUF checkpoint describes in its tokenizer.ggml.* metadata.
#ifndef COMMVQ_MODEL_GGUF_TOKENIZER_H_
#define COMMVQ_MODEL_GGUF_TOKENIZER_H_

#include "absl/status/statusor.h"
#include "commvq/model/gguf/gguf_file.h"
#include "commvq/model/tokenizer/bpe_tokenizer.h"

namespace commvq {

// InvalidArgument naming the key for a missing or ill-typed field, or for a
// tokenizer model other than "gpt2" (byte-level BPE).
absl::StatusOr<TokenizerVocabulary> TokenizerVocabularyFromGguf(
    const GgufFile& file);

}  // namespace commvq

#endif  // COMMVQ_MODEL_GGUF_TOKENIZER_H_
