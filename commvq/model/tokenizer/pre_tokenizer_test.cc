#include "commvq/model/tokenizer/pre_tokenizer.h"

#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "commvq/base/random.h"
#include "commvq/base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::IsOkAndHolds;
using ::commvq::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

std::vector<std::string> Split(PreTokenizerType type, absl::string_view text) {
  std::vector<std::string> pieces;
  PreTokenize(type, text,
              [&](absl::string_view piece) { pieces.emplace_back(piece); });
  return pieces;
}

struct SplitCase {
  std::string text;
  std::vector<std::string> gpt2;
  std::vector<std::string> smollm;
};

// Expected splits as Hugging Face `tokenizers` 0.23 gives them (ByteLevel
// with its regex, and Sequence[Digits(individual_digits), ByteLevel]).
const std::vector<SplitCase>& SplitCases() {
  static const auto* cases = new std::vector<SplitCase>{
      {"Hello world", {"Hello", " world"}, {"Hello", " world"}},
      {"Hello, World!",
       {"Hello", ",", " World", "!"},
       {"Hello", ",", " World", "!"}},
      // Digits: one piece per digit, and a space before one stays apart.
      {"I'm 1234567 it's 3.14",
       {"I", "'m", " 1234567", " it", "'s", " 3", ".", "14"},
       {"I", "'m", " ", "1", "2", "3", "4", "5", "6", "7", " it", "'s", " ",
        "3", ".", "1", "4"}},
      {"abc123def", {"abc", "123", "def"}, {"abc", "1", "2", "3", "def"}},
      {"x1 2", {"x", "1", " 2"}, {"x", "1", " ", "2"}},
      // A whitespace run before a digit ends its stretch, so stays whole.
      {"a   1", {"a", "  ", " 1"}, {"a", "   ", "1"}},
      {"\u0663\u0664", {"\u0663\u0664"}, {"\u0663", "\u0664"}},
      {"x\u00B2y", {"x", "\u00B2", "y"}, {"x", "\u00B2", "y"}},
      // Contractions are case-sensitive and only start a match.
      {"'s's 'S", {"'s", "'s", " '", "S"}, {"'s", "'s", " '", "S"}},
      {"don't'll've're'd 'x",
       {"don", "'t", "'ll", "'ve", "'re", "'d", " '", "x"},
       {"don", "'t", "'ll", "'ve", "'re", "'d", " '", "x"}},
      {"!!'s", {"!!'", "s"}, {"!!'", "s"}},
      // Whitespace runs leave their last character to the next word.
      {"x  \n\n  y", {"x", "  \n\n ", " y"}, {"x", "  \n\n ", " y"}},
      {"  lead", {" ", " lead"}, {" ", " lead"}},
      {"trail  ", {"trail", "  "}, {"trail", "  "}},
      {"a  !!", {"a", " ", " !!"}, {"a", " ", " !!"}},
      {"a \t b", {"a", " \t", " b"}, {"a", " \t", " b"}},
      {"a\tb", {"a", "\t", "b"}, {"a", "\t", "b"}},
      {"  \u3000a", {"  ", "\u3000", "a"}, {"  ", "\u3000", "a"}},
      {"\r\n\r\n", {"\r\n\r\n"}, {"\r\n\r\n"}},
      {" ", {" "}, {" "}},
      {"   ", {"   "}, {"   "}},
      {" !?", {" !?"}, {" !?"}},
      // Only U+0020 joins the next word; NBSP is whitespace of its own.
      {"a\u00A0b", {"a", "\u00A0", "b"}, {"a", "\u00A0", "b"}},
      // Marks, emoji and CJK.
      {"e\u0301", {"e", "\u0301"}, {"e", "\u0301"}},
      {"\U0001F600\U0001F600 \U0001F600",
       {"\U0001F600\U0001F600", " \U0001F600"},
       {"\U0001F600\U0001F600", " \U0001F600"}},
      {"\u4E2D\u6587\u5B57\u7B26 \u30C6\u30B9\u30C8",
       {"\u4E2D\u6587\u5B57\u7B26", " \u30C6\u30B9\u30C8"},
       {"\u4E2D\u6587\u5B57\u7B26", " \u30C6\u30B9\u30C8"}},
  };
  return *cases;
}

TEST(PreTokenizerTest, Gpt2MatchesReferenceSplits) {
  for (const SplitCase& c : SplitCases()) {
    EXPECT_THAT(Split(PreTokenizerType::kGpt2, c.text),
                ElementsAreArray(c.gpt2))
        << ::testing::PrintToString(c.text);
  }
}

TEST(PreTokenizerTest, SmolLmMatchesReferenceSplits) {
  for (const SplitCase& c : SplitCases()) {
    EXPECT_THAT(Split(PreTokenizerType::kSmolLm, c.text),
                ElementsAreArray(c.smollm))
        << ::testing::PrintToString(c.text);
  }
}

TEST(PreTokenizerTest, EmptyTextHasNoPieces) {
  EXPECT_THAT(Split(PreTokenizerType::kGpt2, ""), ::testing::IsEmpty());
  EXPECT_THAT(Split(PreTokenizerType::kSmolLm, ""), ::testing::IsEmpty());
}

TEST(PreTokenizerTest, IllFormedBytesArePunctuation) {
  // Each such byte joins a punctuation run, and a space joins it.
  EXPECT_THAT(Split(PreTokenizerType::kSmolLm,
                    "a\xFF\xFE"
                    "b"),
              ElementsAreArray({"a", "\xFF\xFE", "b"}));
  EXPECT_THAT(Split(PreTokenizerType::kSmolLm,
                    "a \xC3!"
                    "b"),
              ElementsAreArray({"a", " \xC3!", "b"}));
  EXPECT_THAT(Split(PreTokenizerType::kGpt2, "\xED\xA0\x80x"),
              ElementsAreArray({"\xED\xA0\x80", "x"}));
  // A truncated sequence at the end is still all there.
  EXPECT_THAT(Split(PreTokenizerType::kGpt2, "ab\xE4\xB8"),
              ElementsAreArray({"ab", "\xE4\xB8"}));
}

TEST(PreTokenizerTest, PiecesConcatenateToAnyByteString) {
  Rng rng(7);
  for (int iteration = 0; iteration < 2000; ++iteration) {
    std::string text(rng.UniformInt(64), '\0');
    for (char& c : text) c = static_cast<char>(rng.UniformInt(256));
    for (PreTokenizerType type :
         {PreTokenizerType::kGpt2, PreTokenizerType::kSmolLm}) {
      const std::vector<std::string> pieces = Split(type, text);
      for (const std::string& piece : pieces) ASSERT_FALSE(piece.empty());
      ASSERT_EQ(absl::StrJoin(pieces, ""), text);
    }
  }
}

TEST(PreTokenizerTest, LongRunsArePiecesOfTheirOwn) {
  const std::string spaces(100000, ' ');
  EXPECT_THAT(Split(PreTokenizerType::kSmolLm, spaces + "x"),
              ElementsAre(spaces.substr(1), " x"));
  const std::string letters(100000, 'q');
  EXPECT_THAT(Split(PreTokenizerType::kGpt2, letters + "." + letters),
              ElementsAre(letters, ".", letters));
}

TEST(PreTokenizerTest, FromName) {
  EXPECT_THAT(PreTokenizerFromName("gpt2"),
              IsOkAndHolds(PreTokenizerType::kGpt2));
  EXPECT_THAT(PreTokenizerFromName("gpt-2"),
              IsOkAndHolds(PreTokenizerType::kGpt2));
  EXPECT_THAT(PreTokenizerFromName("smollm"),
              IsOkAndHolds(PreTokenizerType::kSmolLm));
  EXPECT_THAT(PreTokenizerFromName("llama-bpe"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown pre-tokenizer \"llama-bpe\"")));
}

}  // namespace
}  // namespace commvq
