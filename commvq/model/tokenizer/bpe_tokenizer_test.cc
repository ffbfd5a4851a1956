#include "commvq/model/tokenizer/bpe_tokenizer.h"

#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "commvq/base/random.h"
#include "commvq/base/status_matchers.h"
#include "commvq/model/tokenizer/byte_level.h"
#include "commvq/model/tokenizer/utf8.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::IsOkAndHolds;
using ::commvq::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

// `bytes` spelled in GPT-2's byte-to-character mapping ("a b" -> "aĠb").
std::string Spell(absl::string_view bytes) {
  std::string spelled;
  for (char byte : bytes) {
    AppendUtf8(ByteToCodepoint(static_cast<unsigned char>(byte)), &spelled);
  }
  return spelled;
}

constexpr int32_t kEndOfText = 0;
constexpr int32_t kImStart = 1;
constexpr int32_t kImEnd = 2;
constexpr int32_t kTool = 3;       // User-defined.
constexpr int32_t kImStartX = 4;   // Control; "<|im_start|>" is a prefix.
constexpr int32_t kFirstByte = 5;  // Byte b's token is kFirstByte + b.

using Merges = std::vector<std::pair<std::string, std::string>>;

// Special tokens, then the 256 byte tokens in byte order, then one token per
// merge, whose (left, right) are plain bytes ({"a", "b"}, {" ", "w"}),
// spelled here.
TokenizerVocabulary TinyVocabulary(const Merges& merges) {
  TokenizerVocabulary vocabulary;
  vocabulary.tokens = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool>",
                       "<|im_start|>x"};
  vocabulary.token_types = {kTokenTypeControl, kTokenTypeControl,
                            kTokenTypeControl, kTokenTypeUserDefined,
                            kTokenTypeControl};
  for (int byte = 0; byte < 256; ++byte) {
    vocabulary.tokens.push_back(Spell(std::string(1, static_cast<char>(byte))));
    vocabulary.token_types.push_back(kTokenTypeNormal);
  }
  for (const auto& [left, right] : merges) {
    vocabulary.merges.push_back(absl::StrCat(Spell(left), " ", Spell(right)));
    vocabulary.tokens.push_back(Spell(left + right));
    vocabulary.token_types.push_back(kTokenTypeNormal);
  }
  vocabulary.bos_id = kImStart;
  vocabulary.eos_id = kImEnd;
  vocabulary.unknown_id = kEndOfText;
  vocabulary.padding_id = kImEnd;
  vocabulary.pre_tokenizer = "smollm";
  return vocabulary;
}

int32_t ByteToken(char byte) {
  return kFirstByte + static_cast<unsigned char>(byte);
}

// The id of the token for the n-th merge of TinyVocabulary.
int32_t MergedToken(int n) { return kFirstByte + 256 + n; }

BpeTokenizer MakeTokenizer(const Merges& merges) {
  absl::StatusOr<BpeTokenizer> tokenizer =
      BpeTokenizer::Create(TinyVocabulary(merges));
  EXPECT_THAT(tokenizer, ::commvq::testing::IsOk());
  return *std::move(tokenizer);
}

std::vector<int32_t> EncodeOrDie(const BpeTokenizer& tokenizer,
                                 absl::string_view text,
                                 bool parse_special = false) {
  absl::StatusOr<std::vector<int32_t>> ids =
      tokenizer.Encode(text, parse_special);
  EXPECT_THAT(ids, ::commvq::testing::IsOk());
  return ids.ok() ? *ids : std::vector<int32_t>{};
}

TEST(BpeTokenizerTest, MergesApplyInRankOrder) {
  // "b c" outranks "a b": a + bc.
  EXPECT_THAT(EncodeOrDie(MakeTokenizer({{"b", "c"}, {"a", "b"}}), "abc"),
              ElementsAre(ByteToken('a'), MergedToken(0)));
  // "a b" outranks "b c": ab + c.
  EXPECT_THAT(EncodeOrDie(MakeTokenizer({{"a", "b"}, {"b", "c"}}), "abc"),
              ElementsAre(MergedToken(0), ByteToken('c')));
}

TEST(BpeTokenizerTest, MergesBuildOnMergedTokens) {
  const BpeTokenizer tokenizer =
      MakeTokenizer({{"a", "b"}, {"c", "d"}, {"ab", "cd"}, {"abcd", "e"}});
  EXPECT_THAT(EncodeOrDie(tokenizer, "abcde"), ElementsAre(MergedToken(3)));
  EXPECT_THAT(EncodeOrDie(tokenizer, "abcd"), ElementsAre(MergedToken(2)));
  EXPECT_THAT(EncodeOrDie(tokenizer, "bcd"),
              ElementsAre(ByteToken('b'), MergedToken(1)));
}

TEST(BpeTokenizerTest, EqualRanksMergeLeftmostFirst) {
  const BpeTokenizer tokenizer = MakeTokenizer({{"a", "a"}});
  EXPECT_THAT(EncodeOrDie(tokenizer, "aaa"),
              ElementsAre(MergedToken(0), ByteToken('a')));
  EXPECT_THAT(EncodeOrDie(tokenizer, "aaaaa"),
              ElementsAre(MergedToken(0), MergedToken(0), ByteToken('a')));
}

TEST(BpeTokenizerTest, MergesNeverCrossPieces) {
  // "a 1" and "a !" exist, but the pre-tokenizer splits a from 1 and from !.
  const BpeTokenizer tokenizer =
      MakeTokenizer({{"a", "1"}, {"a", "!"}, {" ", "h"}, {" h", "i"}});
  EXPECT_THAT(EncodeOrDie(tokenizer, "a1"),
              ElementsAre(ByteToken('a'), ByteToken('1')));
  EXPECT_THAT(EncodeOrDie(tokenizer, "a!"),
              ElementsAre(ByteToken('a'), ByteToken('!')));
  // A space is part of the word after it.
  EXPECT_THAT(EncodeOrDie(tokenizer, " hi hi"),
              ElementsAre(MergedToken(3), MergedToken(3)));
}

TEST(BpeTokenizerTest, EveryByteHasItsByteToken) {
  const BpeTokenizer tokenizer = MakeTokenizer({});
  for (int byte = 0; byte < 256; ++byte) {
    EXPECT_THAT(tokenizer.Decode({ByteToken(byte)}),
                IsOkAndHolds(std::string(1, static_cast<char>(byte))));
  }
  // Without merges, a character is its bytes' tokens. Every byte that
  // well-formed UTF-8 uses occurs (C0, C1 and F5..FF never do).
  std::set<int32_t> seen;
  for (char32_t cp = 0; cp <= 0x10FFFF; cp += cp < 0x10000 ? 1 : 0x101) {
    if (cp == 0xD800) cp = 0xE000;
    std::string text;
    AppendUtf8(cp, &text);
    std::vector<int32_t> expected;
    for (char byte : text) expected.push_back(ByteToken(byte));
    ASSERT_EQ(EncodeOrDie(tokenizer, text), expected) << std::hex << cp;
    seen.insert(expected.begin(), expected.end());
  }
  EXPECT_EQ(seen.size(), 256u - 13u);
}

TEST(BpeTokenizerTest, SpecialTokensAreParsedOnlyWhenAsked) {
  const BpeTokenizer tokenizer = MakeTokenizer({{"h", "i"}});
  const std::string text = "<|im_start|>hi<tool><|im_end|>";
  EXPECT_THAT(EncodeOrDie(tokenizer, text, /*parse_special=*/true),
              ElementsAre(kImStart, MergedToken(0), kTool, kImEnd));
  const std::vector<int32_t> plain = EncodeOrDie(tokenizer, text);
  EXPECT_EQ(plain.size(), text.size() - 1);  // Only "hi" merges.
  for (int32_t id : plain) EXPECT_GE(id, kFirstByte);
  EXPECT_THAT(tokenizer.Decode(plain), IsOkAndHolds(text));
}

TEST(BpeTokenizerTest, SpecialTokensMatchLeftmostThenLongest) {
  const BpeTokenizer tokenizer = MakeTokenizer({});
  EXPECT_THAT(EncodeOrDie(tokenizer, "<|im_start|>x<|im_start|>y", true),
              ElementsAre(kImStartX, kImStart, ByteToken('y')));
  // An incomplete special token is plain text, and a complete one right
  // after it is still found.
  EXPECT_THAT(EncodeOrDie(tokenizer, "<|im_end<|im_end|>|>", true),
              ElementsAre(ByteToken('<'), ByteToken('|'), ByteToken('i'),
                          ByteToken('m'), ByteToken('_'), ByteToken('e'),
                          ByteToken('n'), ByteToken('d'), kImEnd,
                          ByteToken('|'), ByteToken('>')));
}

TEST(BpeTokenizerTest, TextAroundSpecialTokensIsPreTokenizedSeparately) {
  // The whitespace run before <|im_end|> ends its text, so it stays whole
  // instead of leaving a space for the next word.
  const BpeTokenizer tokenizer = MakeTokenizer({{" ", " "}});
  EXPECT_THAT(EncodeOrDie(tokenizer, "a  <|im_end|>", true),
              ElementsAre(ByteToken('a'), MergedToken(0), kImEnd));
  EXPECT_THAT(EncodeOrDie(tokenizer, "a  b", true),
              ElementsAre(ByteToken('a'), ByteToken(' '), ByteToken(' '),
                          ByteToken('b')));
}

TEST(BpeTokenizerTest, DecodeGivesSpecialTokensTheirText) {
  const BpeTokenizer tokenizer = MakeTokenizer({{"h", "i"}});
  EXPECT_THAT(tokenizer.Decode({kImStart, MergedToken(0), kTool, kImEnd}),
              IsOkAndHolds("<|im_start|>hi<tool><|im_end|>"));
  EXPECT_THAT(tokenizer.Decode({}), IsOkAndHolds(""));
}

TEST(BpeTokenizerTest, DecodeRejectsOutOfRangeIds) {
  const BpeTokenizer tokenizer = MakeTokenizer({});
  EXPECT_THAT(tokenizer.Decode({ByteToken('a'), -1}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("token id -1 at index 1 is out of range: "
                                 "expected 0..260")));
  EXPECT_THAT(tokenizer.Decode({tokenizer.vocab_size()}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("token id 261 at index 0")));
}

TEST(BpeTokenizerTest, Accessors) {
  const BpeTokenizer tokenizer = MakeTokenizer({{"a", "b"}});
  EXPECT_EQ(tokenizer.vocab_size(), 5 + 256 + 1);
  EXPECT_EQ(tokenizer.bos_id(), kImStart);
  EXPECT_EQ(tokenizer.eos_id(), kImEnd);
  EXPECT_EQ(tokenizer.unknown_id(), kEndOfText);
  EXPECT_EQ(tokenizer.padding_id(), kImEnd);
  EXPECT_EQ(tokenizer.TokenText(kImStart), "<|im_start|>");
  EXPECT_EQ(tokenizer.TokenText(ByteToken(' ')), "\u0120");
  EXPECT_EQ(tokenizer.TokenText(MergedToken(0)), "ab");
  EXPECT_EQ(tokenizer.TokenType(kTool), kTokenTypeUserDefined);
  EXPECT_EQ(tokenizer.TokenType(MergedToken(0)), kTokenTypeNormal);
}

TEST(BpeTokenizerTest, TokensWithCharactersOutsideTheMappingDecodeAsText) {
  TokenizerVocabulary vocabulary = TinyVocabulary({});
  vocabulary.tokens.push_back("caf\u00E9 \u4E2D");  // Space and CJK: unmapped.
  vocabulary.token_types.push_back(kTokenTypeNormal);
  CVQ_ASSERT_OK_AND_ASSIGN(const BpeTokenizer tokenizer,
                           BpeTokenizer::Create(vocabulary));
  EXPECT_THAT(tokenizer.Decode({tokenizer.vocab_size() - 1}),
              IsOkAndHolds("caf\u00E9 \u4E2D"));
}

TEST(BpeTokenizerTest, GptTwoPreTokenizerKeepsNumbersTogether) {
  TokenizerVocabulary vocabulary = TinyVocabulary({{"1", "2"}, {" ", "12"}});
  vocabulary.pre_tokenizer = "gpt2";
  CVQ_ASSERT_OK_AND_ASSIGN(const BpeTokenizer tokenizer,
                           BpeTokenizer::Create(vocabulary));
  EXPECT_THAT(EncodeOrDie(tokenizer, " 12"), ElementsAre(MergedToken(1)));
  EXPECT_THAT(EncodeOrDie(MakeTokenizer({{"1", "2"}, {" ", "12"}}), " 12"),
              ElementsAre(ByteToken(' '), ByteToken('1'), ByteToken('2')));
}

TEST(BpeTokenizerTest, BytesWithoutTokensAreDroppedBeforeMerging) {
  TokenizerVocabulary vocabulary = TinyVocabulary({{"!", "!"}});
  vocabulary.tokens[ByteToken('\x04')] = "not a byte";
  CVQ_ASSERT_OK_AND_ASSIGN(const BpeTokenizer tokenizer,
                           BpeTokenizer::Create(vocabulary));
  EXPECT_THAT(EncodeOrDie(tokenizer, "\x04"), ::testing::IsEmpty());
  // As in `tokenizers`, the bytes around a dropped one can merge.
  EXPECT_THAT(EncodeOrDie(tokenizer, "!\x04!"), ElementsAre(MergedToken(0)));
  EXPECT_THAT(EncodeOrDie(tokenizer,
                          "a\x04\x04"
                          "b"),
              ElementsAre(ByteToken('a'), ByteToken('b')));
}

TEST(BpeTokenizerTest, IllFormedUtf8IsEncodedAsReplacementCharacters) {
  const BpeTokenizer tokenizer = MakeTokenizer({{"\xEF", "\xBF"}});
  const std::vector<int32_t> replacement = {MergedToken(0), ByteToken('\xBD')};
  EXPECT_THAT(EncodeOrDie(tokenizer, "\xFF"), ElementsAreArray(replacement));
  // Two ill-formed bytes are two replacement characters, in one piece.
  const std::vector<int32_t> ids = EncodeOrDie(tokenizer, "a\xE4\xB8");
  EXPECT_THAT(tokenizer.Decode(ids), IsOkAndHolds("a\uFFFD\uFFFD"));
  EXPECT_THAT(EncodeOrDie(tokenizer, "\xE4\xB8"),
              ElementsAre(MergedToken(0), ByteToken('\xBD'), MergedToken(0),
                          ByteToken('\xBD')));
}

// --- Validation ---

absl::Status CreateStatus(const TokenizerVocabulary& vocabulary) {
  return BpeTokenizer::Create(vocabulary).status();
}

TEST(BpeTokenizerValidationTest, TinyVocabularyIsValid) {
  CVQ_EXPECT_OK(CreateStatus(TinyVocabulary({{"a", "b"}, {"ab", "c"}})));
}

TEST(BpeTokenizerValidationTest, RejectsDuplicateTokens) {
  TokenizerVocabulary vocabulary = TinyVocabulary({});
  vocabulary.tokens.push_back("<|im_end|>");
  vocabulary.token_types.push_back(kTokenTypeNormal);
  EXPECT_THAT(
      CreateStatus(vocabulary),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("token 261 \"<|im_end|>\" duplicates token 2")));
}

TEST(BpeTokenizerValidationTest, RejectsMismatchedTokenTypes) {
  TokenizerVocabulary vocabulary = TinyVocabulary({});
  vocabulary.token_types.pop_back();
  EXPECT_THAT(CreateStatus(vocabulary),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("260 token types: expected one per token "
                                 "(261)")));
  vocabulary = TinyVocabulary({});
  vocabulary.token_types[7] = 9;
  EXPECT_THAT(CreateStatus(vocabulary),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("token 7 has type 9: expected 0..6")));
}

TEST(BpeTokenizerValidationTest, RejectsMergesOfUnknownTokens) {
  TokenizerVocabulary vocabulary = TinyVocabulary({});
  vocabulary.merges.push_back("xy z");
  EXPECT_THAT(CreateStatus(vocabulary),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("merge 0 \"xy z\": \"xy\" is not a token")));
  vocabulary.merges = {"x z"};  // Both parts exist, "xz" does not.
  EXPECT_THAT(CreateStatus(vocabulary),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("merge 0 \"x z\": \"xz\" is not a token")));
}

TEST(BpeTokenizerValidationTest, RejectsMalformedAndRepeatedMerges) {
  TokenizerVocabulary vocabulary = TinyVocabulary({{"a", "b"}});
  vocabulary.merges.push_back("ab");
  EXPECT_THAT(CreateStatus(vocabulary),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("merge 1 \"ab\": expected two tokens "
                                 "separated by a space")));
  vocabulary.merges.back() = "a b";
  EXPECT_THAT(CreateStatus(vocabulary),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("merge 1 \"a b\" repeats merge 0")));
}

TEST(BpeTokenizerValidationTest, RejectsOutOfRangeSpecialIds) {
  TokenizerVocabulary vocabulary = TinyVocabulary({});
  vocabulary.bos_id = 261;
  EXPECT_THAT(CreateStatus(vocabulary),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("bos_id is 261: expected -1 (none) or "
                                 "0..260")));
  vocabulary = TinyVocabulary({});
  vocabulary.padding_id = -2;
  EXPECT_THAT(CreateStatus(vocabulary),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("padding_id is -2")));
  vocabulary = TinyVocabulary({});
  vocabulary.eos_id = vocabulary.unknown_id = vocabulary.padding_id = -1;
  CVQ_EXPECT_OK(CreateStatus(vocabulary));
}

TEST(BpeTokenizerValidationTest, RejectsUnknownPreTokenizer) {
  TokenizerVocabulary vocabulary = TinyVocabulary({});
  vocabulary.pre_tokenizer = "qwen2";
  EXPECT_THAT(CreateStatus(vocabulary),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown pre-tokenizer \"qwen2\"")));
}

// --- Round trips ---

// Merges for common English and whitespace, so round trips exercise merged
// tokens as well as bytes.
const Merges& RoundTripMerges() {
  static const auto* merges = new Merges{
      {" ", " "},       {"  ", "  "},    {" ", "t"},   {"h", "e"},
      {" t", "h"},      {" th", "e"},    {"i", "n"},   {"in", "g"},
      {"e", "r"},       {"\n", "\n"},    {"\r", "\n"}, {"\xC3", "\xA9"},
      {"\xE4", "\xB8"}, {"\xF0", "\x9F"}};
  return *merges;
}

void ExpectRoundTrip(const BpeTokenizer& tokenizer, absl::string_view text) {
  for (bool parse_special : {false, true}) {
    CVQ_ASSERT_OK_AND_ASSIGN(const std::vector<int32_t> ids,
                             tokenizer.Encode(text, parse_special));
    EXPECT_THAT(tokenizer.Decode(ids), IsOkAndHolds(std::string(text)))
        << ::testing::PrintToString(std::string(text));
  }
}

TEST(BpeTokenizerRoundTripTest, AssortedText) {
  const BpeTokenizer tokenizer = MakeTokenizer(RoundTripMerges());
  for (const std::string& text : {
           std::string(""),
           std::string("the thing there"),
           std::string("Caf\u00E9 na\u00EFve r\u00E9sum\u00E9"),
           std::string("\U0001F600\U0001F44D\U0001F3FD \U0001F1FA\U0001F1F8 "
                       "\U0001F468\u200D\U0001F469\u200D\U0001F467"),
           std::string("\u4E2D\u6587 \u65E5\u672C\u8A9E \uD55C\uAD6D\uC5B4"),
           std::string("e\u0301 a\u0308\u0323 \u0915\u094D\u0937"),
           std::string("tab\there\r\nCRLF\r\n\r\n\vvt\ffeed"),
           std::string("nul\0byte\x01\x1F\x7F", 11),
           std::string(10000, ' ') + "x" + std::string(5000, '\n'),
           std::string("\u00A0\u3000\u2028\u2029\u0085\uFEFF"),
           std::string("<|im_start|>user\nhi<|im_end|>\n<tool>"),
           std::string("I'm 1234567 it's 3.14 'S 'll"),
       }) {
    ExpectRoundTrip(tokenizer, text);
  }
}

// A random Unicode scalar value, biased toward ASCII and the BMP.
char32_t RandomCodepoint(Rng& rng) {
  switch (rng.UniformInt(4)) {
    case 0:
      return rng.UniformInt(0x80);
    case 1:
      return 0x80 + rng.UniformInt(0x800 - 0x80);
    case 2: {
      const char32_t cp = 0x800 + rng.UniformInt(0x10000 - 0x800);
      return cp >= 0xD800 && cp <= 0xDFFF ? cp - 0x1000 : cp;
    }
    default:
      return 0x10000 + rng.UniformInt(0x110000 - 0x10000);
  }
}

TEST(BpeTokenizerRoundTripTest, RandomUtf8) {
  const BpeTokenizer tokenizer = MakeTokenizer(RoundTripMerges());
  Rng rng(2024);
  for (int iteration = 0; iteration < 500; ++iteration) {
    std::string text;
    const int64_t length = rng.UniformInt(100);
    for (int64_t i = 0; i < length; ++i)
      AppendUtf8(RandomCodepoint(rng), &text);
    ExpectRoundTrip(tokenizer, text);
  }
}

TEST(BpeTokenizerRoundTripTest, RandomBytesComeBackWithIllFormedOnesReplaced) {
  const BpeTokenizer tokenizer = MakeTokenizer(RoundTripMerges());
  Rng rng(99);
  for (int iteration = 0; iteration < 500; ++iteration) {
    std::string text(rng.UniformInt(100), '\0');
    for (char& c : text) c = static_cast<char>(rng.UniformInt(256));
    for (bool parse_special : {false, true}) {
      CVQ_ASSERT_OK_AND_ASSIGN(const std::vector<int32_t> ids,
                               tokenizer.Encode(text, parse_special));
      EXPECT_THAT(tokenizer.Decode(ids),
                  IsOkAndHolds(ReplaceIllFormedUtf8(text)));
    }
  }
}

TEST(BpeTokenizerTest, ConcurrentEncodesAgree) {
  const BpeTokenizer tokenizer = MakeTokenizer(RoundTripMerges());
  std::string text;
  Rng rng(5);
  for (int i = 0; i < 20000; ++i) AppendUtf8(RandomCodepoint(rng), &text);
  const std::vector<int32_t> expected = EncodeOrDie(tokenizer, text, true);
  std::vector<std::vector<int32_t>> results(4);
  std::vector<std::thread> threads;
  for (auto& result : results) {
    threads.emplace_back([&] { result = *tokenizer.Encode(text, true); });
  }
  for (std::thread& thread : threads) thread.join();
  for (const auto& result : results) EXPECT_EQ(result, expected);
}

}  // namespace
}  // namespace commvq
