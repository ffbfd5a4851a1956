// Compares BpeTokenizer on SmolLM2-135M-Instruct's vocabulary (read with the
// project's GGUF reader) with Hugging Face `tokenizers` built from the same
// GGUF arrays: tokenizer_reference.py writes the reference's token ids and
// pre-tokenizer splits. Needs the model and the reference Python that
// ./setup.sh installs (COMMVQ_MODEL_DIR, COMMVQ_PYTHON).
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "commvq/base/byte_io.h"
#include "commvq/base/status_macros.h"
#include "commvq/base/status_matchers.h"
#include "commvq/io/atomic_file.h"
#include "commvq/model/gguf/gguf_file.h"
#include "commvq/model/gguf_tokenizer.h"
#include "commvq/model/tokenizer/bpe_tokenizer.h"
#include "commvq/model/tokenizer/pre_tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

constexpr absl::string_view kModelFile = "SmolLM2-135M-Instruct.Q4_1.gguf";

struct EncodeCase {
  bool parse_special;
  bool round_trips;  // False for text with bytes that have no token.
  std::string text;
  std::vector<int32_t> ids;
};

struct SplitCase {
  std::string pre_tokenizer;
  std::string text;
  std::vector<uint32_t> piece_ends;
};

struct Reference {
  TokenizerVocabulary vocabulary;
  std::vector<EncodeCase> encodings;
  std::vector<SplitCase> splits;
};

std::string ShellQuote(absl::string_view arg) {
  return absl::StrCat("'", absl::StrReplaceAll(arg, {{"'", "'\\''"}}), "'");
}

absl::StatusOr<std::string> ReadSizedString(ByteReader& reader,
                                            absl::string_view field) {
  CVQ_ASSIGN_OR_RETURN(const uint32_t size, reader.Read<uint32_t>(field));
  CVQ_ASSIGN_OR_RETURN(const absl::string_view bytes,
                       reader.ReadBytes(size, field));
  return std::string(bytes);
}

template <typename T>
absl::StatusOr<std::vector<T>> ReadArray(ByteReader& reader,
                                         absl::string_view field) {
  CVQ_ASSIGN_OR_RETURN(const uint32_t count, reader.Read<uint32_t>(field));
  std::vector<T> values;
  values.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    CVQ_ASSIGN_OR_RETURN(const T value, reader.Read<T>(field));
    values.push_back(value);
  }
  return values;
}

absl::Status ParseCases(absl::string_view contents, Reference& reference) {
  ByteReader reader(contents, "cases file");
  CVQ_ASSIGN_OR_RETURN(const absl::string_view magic,
                       reader.ReadBytes(8, "magic"));
  if (magic != "CVQTOK01") {
    return absl::InvalidArgumentError("cases file: expected magic CVQTOK01");
  }
  CVQ_ASSIGN_OR_RETURN(const uint32_t num_encodings,
                       reader.Read<uint32_t>("encoding count"));
  for (uint32_t i = 0; i < num_encodings; ++i) {
    EncodeCase c;
    CVQ_ASSIGN_OR_RETURN(const uint8_t parse_special,
                         reader.Read<uint8_t>("parse_special"));
    c.parse_special = parse_special != 0;
    CVQ_ASSIGN_OR_RETURN(const uint8_t round_trips,
                         reader.Read<uint8_t>("round_trips"));
    c.round_trips = round_trips != 0;
    CVQ_ASSIGN_OR_RETURN(c.text, ReadSizedString(reader, "text"));
    CVQ_ASSIGN_OR_RETURN(c.ids, ReadArray<int32_t>(reader, "ids"));
    reference.encodings.push_back(std::move(c));
  }
  CVQ_ASSIGN_OR_RETURN(const uint32_t num_splits,
                       reader.Read<uint32_t>("split count"));
  for (uint32_t i = 0; i < num_splits; ++i) {
    SplitCase c;
    CVQ_ASSIGN_OR_RETURN(c.pre_tokenizer,
                         ReadSizedString(reader, "pre-tokenizer"));
    CVQ_ASSIGN_OR_RETURN(c.text, ReadSizedString(reader, "text"));
    CVQ_ASSIGN_OR_RETURN(c.piece_ends,
                         ReadArray<uint32_t>(reader, "piece ends"));
    reference.splits.push_back(std::move(c));
  }
  if (reader.remaining() != 0) {
    return absl::InvalidArgumentError("cases file: trailing bytes");
  }
  return absl::OkStatus();
}

absl::StatusOr<Reference> MakeReference() {
  const char* python = std::getenv("COMMVQ_PYTHON");
  const char* model_dir = std::getenv("COMMVQ_MODEL_DIR");
  if (python == nullptr || model_dir == nullptr) {
    return absl::FailedPreconditionError(
        "COMMVQ_PYTHON and COMMVQ_MODEL_DIR are not set: run ./setup.sh, "
        "which installs the model and the reference Python and writes "
        ".cache/model.bazelrc to pass both to tests");
  }
  const std::string script =
      absl::StrCat(std::getenv("TEST_SRCDIR"),
                   "/commvq/commvq/model/tokenizer_reference.py");
  const std::string out_dir = std::getenv("TEST_TMPDIR");
  const std::string command =
      absl::StrCat(ShellQuote(python), " ", ShellQuote(script), " ",
                   ShellQuote(absl::StrCat(model_dir, "/", kModelFile)), " ",
                   ShellQuote(out_dir));
  if (const int rc = std::system(command.c_str()); rc != 0) {
    return absl::InternalError(absl::StrCat(
        "`", command, "` exited with status ", rc,
        ": if the model or Python packages are missing, run ./setup.sh"));
  }
  Reference reference;
  CVQ_ASSIGN_OR_RETURN(
      const GgufFile gguf,
      GgufFile::Open(absl::StrCat(model_dir, "/", kModelFile)));
  CVQ_ASSIGN_OR_RETURN(reference.vocabulary, TokenizerVocabularyFromGguf(gguf));
  CVQ_ASSIGN_OR_RETURN(const std::string cases,
                       ReadFile(out_dir + "/cases.bin"));
  CVQ_RETURN_IF_ERROR(ParseCases(cases, reference));
  return reference;
}

// Made once for all tests.
const absl::StatusOr<Reference>& GetReference() {
  static const auto* reference = new absl::StatusOr<Reference>(MakeReference());
  return *reference;
}

class TokenizerReferenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const absl::StatusOr<Reference>& reference = GetReference();
    ASSERT_THAT(reference.status(), ::commvq::testing::IsOk());
    reference_ = &*reference;
    absl::StatusOr<BpeTokenizer> tokenizer =
        BpeTokenizer::Create(reference_->vocabulary);
    ASSERT_THAT(tokenizer.status(), ::commvq::testing::IsOk());
    tokenizer_.emplace(*std::move(tokenizer));
  }

  // "[i] id 'bytes'" for ids[from, to).
  std::string Describe(const std::vector<int32_t>& ids, size_t from,
                       size_t to) const {
    std::string out;
    for (size_t i = from; i < to && i < ids.size(); ++i) {
      const absl::StatusOr<std::string> bytes = tokenizer_->Decode({ids[i]});
      absl::StrAppend(&out, "\n  [", i, "] ", ids[i], " '",
                      absl::CHexEscape(bytes.ok() ? *bytes : "?"), "'");
    }
    return out;
  }

  const Reference* reference_ = nullptr;
  std::optional<BpeTokenizer> tokenizer_;
};

TEST_F(TokenizerReferenceTest, VocabularyIsSmolLm2s) {
  EXPECT_EQ(tokenizer_->vocab_size(), 49152);
  EXPECT_EQ(reference_->vocabulary.merges.size(), 48900u);
  EXPECT_EQ(reference_->vocabulary.pre_tokenizer, "smollm");
  EXPECT_EQ(tokenizer_->bos_id(), 1);
  EXPECT_EQ(tokenizer_->eos_id(), 2);
  EXPECT_EQ(tokenizer_->unknown_id(), 0);
  EXPECT_EQ(tokenizer_->padding_id(), 2);
  EXPECT_EQ(tokenizer_->TokenText(1), "<|im_start|>");
  EXPECT_EQ(tokenizer_->TokenType(1), kTokenTypeControl);
}

TEST_F(TokenizerReferenceTest, TokenIdsMatchReference) {
  ASSERT_GE(reference_->encodings.size(), 4000u);
  int mismatches = 0;
  for (const EncodeCase& c : reference_->encodings) {
    CVQ_ASSERT_OK_AND_ASSIGN(const std::vector<int32_t> ids,
                             tokenizer_->Encode(c.text, c.parse_special));
    if (ids == c.ids) continue;
    if (++mismatches > 5) continue;  // Report the first few in full.
    size_t first = 0;
    while (first < ids.size() && first < c.ids.size() &&
           ids[first] == c.ids[first]) {
      ++first;
    }
    const size_t from = first >= 3 ? first - 3 : 0;
    ADD_FAILURE() << "parse_special=" << c.parse_special << " text \""
                  << absl::CHexEscape(c.text.substr(0, 300))
                  << "\"\nfirst difference at id " << first
                  << "; ours:" << Describe(ids, from, first + 4)
                  << "\nreference:" << Describe(c.ids, from, first + 4);
  }
  EXPECT_EQ(mismatches, 0) << "of " << reference_->encodings.size();
}

TEST_F(TokenizerReferenceTest, PreTokenizerSplitsMatchReference) {
  ASSERT_GE(reference_->splits.size(), 1000u);
  for (const SplitCase& c : reference_->splits) {
    CVQ_ASSERT_OK_AND_ASSIGN(const PreTokenizerType type,
                             PreTokenizerFromName(c.pre_tokenizer));
    std::vector<uint32_t> ends;
    uint32_t end = 0;
    PreTokenize(type, c.text, [&](absl::string_view piece) {
      end += piece.size();
      ends.push_back(end);
    });
    if (ends == c.piece_ends) continue;
    size_t first = 0;
    while (first < ends.size() && first < c.piece_ends.size() &&
           ends[first] == c.piece_ends[first]) {
      ++first;
    }
    const size_t at = first > 0 ? ends[first - 1] : 0;
    const size_t from = at >= 20 ? at - 20 : 0;
    ADD_FAILURE() << c.pre_tokenizer << ": splits differ after byte " << at
                  << " in \"" << absl::CHexEscape(c.text.substr(from, 60))
                  << "\" (from byte " << from << "): ours end at "
                  << (first < ends.size() ? ends[first] : 0)
                  << ", the reference's at "
                  << (first < c.piece_ends.size() ? c.piece_ends[first] : 0);
  }
}

TEST_F(TokenizerReferenceTest, DecodeInvertsBothEncodings) {
  int lossy = 0;
  for (const EncodeCase& c : reference_->encodings) {
    if (!c.round_trips) {
      ++lossy;
      continue;
    }
    EXPECT_THAT(tokenizer_->Decode(c.ids),
                ::commvq::testing::IsOkAndHolds(c.text));
    CVQ_ASSERT_OK_AND_ASSIGN(const std::vector<int32_t> ids,
                             tokenizer_->Encode(c.text, c.parse_special));
    EXPECT_THAT(tokenizer_->Decode(ids),
                ::commvq::testing::IsOkAndHolds(c.text));
  }
  EXPECT_EQ(lossy, 10);  // tokenizer_reference.py's LOSSY_TEXTS, both ways.
}

}  // namespace
}  // namespace commvq
