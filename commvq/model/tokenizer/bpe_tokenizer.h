// Byte-level BPE tokenizer (GGUF `tokenizer.ggml.model` = "gpt2"), as in
// llama.cpp and Hugging Face `tokenizers`: text is split into special tokens
// and pre-tokenizer pieces, each piece's bytes start as byte tokens, and the
// vocabulary's merges are applied lowest rank first.
//
// Built from plain vectors (a GGUF file's tokenizer.ggml.* arrays), so it
// does not depend on how they were read.
#ifndef COMMVQ_MODEL_TOKENIZER_BPE_TOKENIZER_H_
#define COMMVQ_MODEL_TOKENIZER_BPE_TOKENIZER_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "commvq/model/tokenizer/pre_tokenizer.h"

namespace commvq {

// GGUF's token types (llama.cpp's llama_token_type).
inline constexpr int32_t kTokenTypeUndefined = 0;
inline constexpr int32_t kTokenTypeNormal = 1;
inline constexpr int32_t kTokenTypeUnknown = 2;
inline constexpr int32_t kTokenTypeControl = 3;
inline constexpr int32_t kTokenTypeUserDefined = 4;
inline constexpr int32_t kTokenTypeUnused = 5;
inline constexpr int32_t kTokenTypeByte = 6;

struct TokenizerVocabulary {
  // Token strings, indexed by id. Control and user-defined tokens are their
  // literal text ("<|im_start|>"); the others are spelled in GPT-2's
  // byte-to-character mapping (byte_level.h), as in GGUF and tokenizer.json.
  std::vector<std::string> tokens;
  // One kTokenType* per token.
  std::vector<int32_t> token_types;
  // "left right" token-string pairs; a merge's rank is its index, lower
  // ranks apply first.
  std::vector<std::string> merges;
  // -1 where the vocabulary has no such token.
  int32_t bos_id = -1;
  int32_t eos_id = -1;
  int32_t unknown_id = -1;
  int32_t padding_id = -1;
  // GGUF's tokenizer.ggml.pre: see PreTokenizerFromName.
  std::string pre_tokenizer;
};

// Immutable after Create: Encode and Decode may run concurrently.
class BpeTokenizer {
 public:
  // Validates `vocabulary`: unique tokens, one known type per token, merges
  // of two existing tokens whose concatenation exists and that appear once,
  // special ids in range or -1, and a known pre-tokenizer.
  static absl::StatusOr<BpeTokenizer> Create(TokenizerVocabulary vocabulary);

  // Token ids of `utf8_text`. With `parse_special_tokens`, the literal text
  // of control and user-defined tokens becomes those tokens (leftmost, then
  // longest match first, like `tokenizers`); without it, it is plain text.
  // Adds no BOS/EOS.
  //
  // Any byte string is accepted. As in llama.cpp, each byte that is not
  // well-formed UTF-8 is first replaced by U+FFFD. A byte the vocabulary has
  // no single-byte token for is dropped before merging, as `tokenizers`
  // does: SmolLM2 has none for 0x04, 0x06, 0x13, 0x14, 0x16, 0x1D, for 0xF1
  // and 0xF2 (which start only unassigned planes 4-11) and for the 13 bytes
  // UTF-8 never uses. So Decode(Encode(text)) == text exactly when `text` is
  // well-formed and has none of them. Never fails today; the status leaves
  // room for limits on the input.
  absl::StatusOr<std::vector<int32_t>> Encode(absl::string_view utf8_text,
                                              bool parse_special_tokens) const;

  // The bytes that `ids` stand for, concatenated; control and user-defined
  // tokens give their literal text. The result need not be valid UTF-8 (a
  // character's bytes may be split across ids). An id outside
  // [0, vocab_size()) is InvalidArgument.
  absl::StatusOr<std::string> Decode(absl::Span<const int32_t> ids) const;

  // The vocabulary's string for token `id`, which must be in
  // [0, vocab_size()).
  const std::string& TokenText(int32_t id) const;
  int32_t TokenType(int32_t id) const;

  int32_t vocab_size() const { return static_cast<int32_t>(tokens_.size()); }
  int32_t bos_id() const { return bos_id_; }
  int32_t eos_id() const { return eos_id_; }
  int32_t unknown_id() const { return unknown_id_; }
  int32_t padding_id() const { return padding_id_; }

 private:
  struct Merge {
    int32_t rank;
    int32_t result;
  };
  // Scratch space that one Encode call reuses for every piece.
  struct Scratch;

  BpeTokenizer() = default;

  static uint64_t PairKey(int32_t left, int32_t right) {
    return static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32 |
           static_cast<uint32_t>(right);
  }

  // The longest special token whose text starts `text`, or -1.
  int32_t MatchSpecialToken(absl::string_view text) const;
  void EncodePlainText(absl::string_view text, Scratch& scratch,
                       std::vector<int32_t>& ids) const;
  void EncodePiece(absl::string_view piece, Scratch& scratch,
                   std::vector<int32_t>& ids) const;

  std::vector<std::string> tokens_;
  std::vector<int32_t> token_types_;
  // What each token decodes to.
  std::vector<std::string> token_bytes_;
  // Each byte's single-byte token, or -1 if the vocabulary has none.
  std::array<int32_t, 256> byte_tokens_{};
  absl::flat_hash_map<uint64_t, Merge> merges_;  // Keyed by PairKey.
  // Control and user-defined tokens by their first byte, longest first.
  std::array<std::vector<int32_t>, 256> special_tokens_by_first_byte_;
  PreTokenizerType pre_tokenizer_ = PreTokenizerType::kGpt2;
  int32_t bos_id_ = -1;
  int32_t eos_id_ = -1;
  int32_t unknown_id_ = -1;
  int32_t padding_id_ = -1;
};

}  // namespace commvq

#endif  // COMMVQ_MODEL_TOKENIZER_BPE_TOKENIZER_H_
