// Reads the vocabulary file that make_reference.py extracts from a GGUF
// model (format in its docstring). A stopgap for tests and the benchmark
// until the tokenizer is built from the GGUF reader's arrays directly.
#ifndef COMMVQ_MODEL_TOKENIZER_VOCABULARY_FILE_H_
#define COMMVQ_MODEL_TOKENIZER_VOCABULARY_FILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "commvq/model/tokenizer/bpe_tokenizer.h"

namespace commvq {

// The whole file at `path`, or NotFound / DataLoss naming it.
absl::StatusOr<std::string> ReadFileBytes(const std::string& path);

absl::StatusOr<TokenizerVocabulary> ParseVocabularyFile(
    absl::string_view contents);

absl::StatusOr<TokenizerVocabulary> ReadVocabularyFile(const std::string& path);

}  // namespace commvq

#endif  // COMMVQ_MODEL_TOKENIZER_VOCABULARY_FILE_H_
