// Pre-tokenization of byte-level BPE tokenizers: splits text into the pieces
// ("words") that BPE merges never cross. Hand-written matchers implement the
// regexes that llama.cpp and Hugging Face `tokenizers` use, on UTF-8, with
// the character classes of unicode_class.h:
//
//   gpt2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+
//           |\s+(?!\S)|\s+
//   smollm: every \p{N} character is first split off as a piece of its own
//           (HF: Digits(individual_digits=true)); the gpt2 regex then splits
//           each stretch between them, each stretch ending as text would.
//
// A byte that starts no well-formed UTF-8 sequence is matched as one
// character of [^\s\p{L}\p{N}], so any byte string splits losslessly.
#ifndef COMMVQ_MODEL_TOKENIZER_PRE_TOKENIZER_H_
#define COMMVQ_MODEL_TOKENIZER_PRE_TOKENIZER_H_

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace commvq {

enum class PreTokenizerType {
  kGpt2,
  kSmolLm,
};

// The pre-tokenizer that a GGUF file's `tokenizer.ggml.pre` names: "gpt2" or
// "gpt-2" (kGpt2), "smollm" (kSmolLm). Others are InvalidArgument.
absl::StatusOr<PreTokenizerType> PreTokenizerFromName(absl::string_view name);

// Calls `emit` with each piece of `text` in order: the pieces are non-empty
// and concatenate to `text`.
void PreTokenize(PreTokenizerType type, absl::string_view text,
                 absl::FunctionRef<void(absl::string_view)> emit);

}  // namespace commvq

#endif  // COMMVQ_MODEL_TOKENIZER_PRE_TOKENIZER_H_
