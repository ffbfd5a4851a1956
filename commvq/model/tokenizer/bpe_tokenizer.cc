#include "commvq/model/tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "commvq/base/status_macros.h"
#include "commvq/model/tokenizer/byte_level.h"
#include "commvq/model/tokenizer/utf8.h"

namespace commvq {
namespace {

// Ids and ranks are int32_t.
constexpr size_t kMaxCount = std::numeric_limits<int32_t>::max();

bool IsSpecialType(int32_t type) {
  return type == kTokenTypeControl || type == kTokenTypeUserDefined;
}

absl::Status CheckOptionalId(absl::string_view name, int32_t id,
                             size_t vocab_size) {
  if (id == -1 || (id >= 0 && static_cast<size_t>(id) < vocab_size)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat(name, " is ", id, ": expected -1 (none) or 0..",
                   static_cast<int64_t>(vocab_size) - 1));
}

// The bytes a token string spells in GPT-2's byte-to-character mapping.
// A string with a character outside the mapping stands for its own UTF-8,
// as in the `tokenizers` ByteLevel decoder.
std::string SpelledBytes(absl::string_view token) {
  std::string bytes;
  for (absl::string_view rest = token; !rest.empty();) {
    const Utf8Char c = DecodeUtf8(rest);
    const int byte = CodepointToByte(c.codepoint);  // -1 for kNotUtf8 too.
    if (byte < 0) return std::string(token);
    bytes.push_back(static_cast<char>(byte));
    rest.remove_prefix(c.size);
  }
  return bytes;
}

}  // namespace

struct BpeTokenizer::Scratch {
  // A piece's tokens as a doubly linked list over its initial bytes: a merge
  // rewrites the left symbol and unlinks the right one.
  struct Symbol {
    int32_t id;  // -1 once merged into its left neighbour.
    int32_t prev;
    int32_t next;
  };
  // A possible merge of two adjacent symbols. It is stale, and skipped, if
  // either symbol has changed since it was queued.
  struct Candidate {
    int32_t rank;
    int32_t left;
    int32_t right;
    int32_t left_id;
    int32_t right_id;
    int32_t result;
  };
  // Heap order: the lowest rank on top, then the leftmost, as in
  // `tokenizers` and llama.cpp (it decides "aaa" -> "aa" "a").
  static bool After(const Candidate& a, const Candidate& b) {
    return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
  }

  std::vector<Symbol> symbols;
  std::vector<Candidate> heap;
  // Words repeat: each distinct piece of the text is merged once. Keys view
  // the text being encoded; values are {offset, count} in cached_ids.
  absl::flat_hash_map<absl::string_view, std::pair<size_t, size_t>> piece_ids;
  std::vector<int32_t> cached_ids;
};

absl::StatusOr<BpeTokenizer> BpeTokenizer::Create(
    TokenizerVocabulary vocabulary) {
  const std::vector<std::string>& tokens = vocabulary.tokens;
  const size_t vocab_size = tokens.size();
  if (vocab_size > kMaxCount) {
    return absl::InvalidArgumentError(
        absl::StrCat("vocabulary has ", vocab_size,
                     " tokens: expected at most ", kMaxCount));
  }
  if (vocabulary.token_types.size() != vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "vocabulary has ", vocabulary.token_types.size(),
        " token types: expected one per token (", vocab_size, ")"));
  }
  for (size_t id = 0; id < vocab_size; ++id) {
    const int32_t type = vocabulary.token_types[id];
    if (type < kTokenTypeUndefined || type > kTokenTypeByte) {
      return absl::InvalidArgumentError(absl::StrCat(
          "token ", id, " has type ", type, ": expected ", kTokenTypeUndefined,
          "..", kTokenTypeByte, " (GGUF token types)"));
    }
  }
  CVQ_RETURN_IF_ERROR(CheckOptionalId("bos_id", vocabulary.bos_id, vocab_size));
  CVQ_RETURN_IF_ERROR(CheckOptionalId("eos_id", vocabulary.eos_id, vocab_size));
  CVQ_RETURN_IF_ERROR(
      CheckOptionalId("unknown_id", vocabulary.unknown_id, vocab_size));
  CVQ_RETURN_IF_ERROR(
      CheckOptionalId("padding_id", vocabulary.padding_id, vocab_size));

  BpeTokenizer tokenizer;
  CVQ_ASSIGN_OR_RETURN(tokenizer.pre_tokenizer_,
                       PreTokenizerFromName(vocabulary.pre_tokenizer));

  // Views into `tokens`, which outlive this map.
  absl::flat_hash_map<absl::string_view, int32_t> token_ids;
  token_ids.reserve(vocab_size);
  for (size_t id = 0; id < vocab_size; ++id) {
    const auto [it, inserted] =
        token_ids.emplace(tokens[id], static_cast<int32_t>(id));
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrFormat("token %d \"%s\" duplicates token %d", id,
                          absl::CHexEscape(tokens[id]), it->second));
    }
  }

  for (int byte = 0; byte < 256; ++byte) {
    std::string spelling;
    AppendUtf8(ByteToCodepoint(byte), &spelling);
    const auto it = token_ids.find(spelling);
    tokenizer.byte_tokens_[byte] = it == token_ids.end() ? -1 : it->second;
  }

  if (vocabulary.merges.size() > kMaxCount) {
    return absl::InvalidArgumentError(
        absl::StrCat("vocabulary has ", vocabulary.merges.size(),
                     " merges: expected at most ", kMaxCount));
  }
  tokenizer.merges_.reserve(vocabulary.merges.size());
  for (size_t rank = 0; rank < vocabulary.merges.size(); ++rank) {
    const absl::string_view merge = vocabulary.merges[rank];
    // Searching from 1 lets a left token start with a space (as llama.cpp).
    const size_t space = merge.find(' ', 1);
    if (space == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "merge %d \"%s\": expected two tokens separated by a space", rank,
          absl::CHexEscape(merge)));
    }
    const absl::string_view left = merge.substr(0, space);
    const absl::string_view right = merge.substr(space + 1);
    const std::string merged = absl::StrCat(left, right);
    for (absl::string_view part : {left, right, absl::string_view(merged)}) {
      if (!token_ids.contains(part)) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "merge %d \"%s\": \"%s\" is not a token of the vocabulary", rank,
            absl::CHexEscape(merge), absl::CHexEscape(part)));
      }
    }
    const auto [it, inserted] = tokenizer.merges_.emplace(
        PairKey(token_ids[left], token_ids[right]),
        Merge{static_cast<int32_t>(rank), token_ids[merged]});
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrFormat("merge %d \"%s\" repeats merge %d", rank,
                          absl::CHexEscape(merge), it->second.rank));
    }
  }

  tokenizer.token_bytes_.reserve(vocab_size);
  for (size_t id = 0; id < vocab_size; ++id) {
    const int32_t type = vocabulary.token_types[id];
    const std::string& text = tokens[id];
    if (IsSpecialType(type)) {
      tokenizer.token_bytes_.push_back(text);
      if (!text.empty()) {
        tokenizer
            .special_tokens_by_first_byte_[static_cast<unsigned char>(text[0])]
            .push_back(static_cast<int32_t>(id));
      }
    } else {
      tokenizer.token_bytes_.push_back(SpelledBytes(text));
    }
  }
  for (std::vector<int32_t>& candidates :
       tokenizer.special_tokens_by_first_byte_) {
    std::stable_sort(candidates.begin(), candidates.end(),
                     [&](int32_t a, int32_t b) {
                       return tokens[a].size() > tokens[b].size();
                     });
  }

  tokenizer.bos_id_ = vocabulary.bos_id;
  tokenizer.eos_id_ = vocabulary.eos_id;
  tokenizer.unknown_id_ = vocabulary.unknown_id;
  tokenizer.padding_id_ = vocabulary.padding_id;
  tokenizer.token_types_ = std::move(vocabulary.token_types);
  tokenizer.tokens_ = std::move(vocabulary.tokens);
  return tokenizer;
}

absl::StatusOr<std::vector<int32_t>> BpeTokenizer::Encode(
    absl::string_view utf8_text, bool parse_special_tokens) const {
  std::string well_formed;
  if (!IsWellFormedUtf8(utf8_text)) {
    well_formed = ReplaceIllFormedUtf8(utf8_text);
    utf8_text = well_formed;
  }
  std::vector<int32_t> ids;
  ids.reserve(utf8_text.size() / 4);
  Scratch scratch;
  if (!parse_special_tokens) {
    EncodePlainText(utf8_text, scratch, ids);
    return ids;
  }
  size_t plain_start = 0;
  size_t pos = 0;
  while (pos < utf8_text.size()) {
    const int32_t special = MatchSpecialToken(utf8_text.substr(pos));
    if (special < 0) {
      ++pos;
      continue;
    }
    EncodePlainText(utf8_text.substr(plain_start, pos - plain_start), scratch,
                    ids);
    ids.push_back(special);
    pos += tokens_[special].size();
    plain_start = pos;
  }
  EncodePlainText(utf8_text.substr(plain_start), scratch, ids);
  return ids;
}

int32_t BpeTokenizer::MatchSpecialToken(absl::string_view text) const {
  for (int32_t id :
       special_tokens_by_first_byte_[static_cast<unsigned char>(text[0])]) {
    if (absl::StartsWith(text, tokens_[id])) return id;
  }
  return -1;
}

void BpeTokenizer::EncodePlainText(absl::string_view text, Scratch& scratch,
                                   std::vector<int32_t>& ids) const {
  PreTokenize(pre_tokenizer_, text, [&](absl::string_view piece) {
    if (piece.size() == 1) {  // Nothing to merge, nothing worth caching.
      EncodePiece(piece, scratch, ids);
      return;
    }
    const auto [it, inserted] = scratch.piece_ids.try_emplace(piece);
    std::vector<int32_t>& cached = scratch.cached_ids;
    if (!inserted) {
      const auto [offset, count] = it->second;
      ids.insert(ids.end(), cached.begin() + offset,
                 cached.begin() + offset + count);
      return;
    }
    const size_t start = ids.size();
    EncodePiece(piece, scratch, ids);
    it->second = {cached.size(), ids.size() - start};
    cached.insert(cached.end(), ids.begin() + start, ids.end());
  });
}

void BpeTokenizer::EncodePiece(absl::string_view piece, Scratch& scratch,
                               std::vector<int32_t>& ids) const {
  std::vector<Scratch::Symbol>& symbols = scratch.symbols;
  std::vector<Scratch::Candidate>& heap = scratch.heap;
  symbols.clear();
  for (const char byte : piece) {
    const int32_t id = byte_tokens_[static_cast<unsigned char>(byte)];
    if (id < 0) continue;  // No token: dropped, and its neighbours may merge.
    const int32_t index = static_cast<int32_t>(symbols.size());
    symbols.push_back({id, index - 1, index + 1});
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;
  heap.clear();
  auto queue_merge = [&](int32_t left) {
    const int32_t right = symbols[left].next;
    const int32_t left_id = symbols[left].id;
    const int32_t right_id = symbols[right].id;
    const auto it = merges_.find(PairKey(left_id, right_id));
    if (it == merges_.end()) return;
    heap.push_back(
        {it->second.rank, left, right, left_id, right_id, it->second.result});
    std::push_heap(heap.begin(), heap.end(), Scratch::After);
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) {
    queue_merge(i);
  }

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), Scratch::After);
    const Scratch::Candidate merge = heap.back();
    heap.pop_back();
    Scratch::Symbol& left = symbols[merge.left];
    Scratch::Symbol& right = symbols[merge.right];
    if (left.id != merge.left_id || left.next != merge.right ||
        right.id != merge.right_id) {
      continue;
    }
    left.id = merge.result;
    left.next = right.next;
    right.id = -1;
    if (left.next != -1) symbols[left.next].prev = merge.left;
    if (left.prev != -1) queue_merge(left.prev);
    if (left.next != -1) queue_merge(merge.left);
  }
  // The first symbol is never merged away: merges only unlink right ones.
  for (int32_t i = 0; i != -1; i = symbols[i].next) {
    ids.push_back(symbols[i].id);
  }
}

absl::StatusOr<std::string> BpeTokenizer::Decode(
    absl::Span<const int32_t> ids) const {
  std::string text;
  for (size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    if (id < 0 || id >= vocab_size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("token id ", id, " at index ", i,
                       " is out of range: expected 0..", vocab_size() - 1));
    }
    text += token_bytes_[id];
  }
  return text;
}

const std::string& BpeTokenizer::TokenText(int32_t id) const {
  assert(id >= 0 && id < vocab_size());
  return tokens_[id];
}

int32_t BpeTokenizer::TokenType(int32_t id) const {
  assert(id >= 0 && id < vocab_size());
  return token_types_[id];
}

}  // namespace commvq
