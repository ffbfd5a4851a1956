#include "commvq/model/tokenizer/vocabulary_file.h"

#include <cstdint>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "commvq/base/byte_io.h"
#include "commvq/base/status_macros.h"

namespace commvq {
namespace {

constexpr absl::string_view kMagic = "CVQVOC01";

absl::StatusOr<std::string> ReadString(ByteReader& reader,
                                       absl::string_view field) {
  CVQ_ASSIGN_OR_RETURN(const uint32_t size, reader.Read<uint32_t>(field));
  CVQ_ASSIGN_OR_RETURN(const absl::string_view bytes,
                       reader.ReadBytes(size, field));
  return std::string(bytes);
}

}  // namespace

absl::StatusOr<std::string> ReadFileBytes(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::ostringstream contents;
  contents << file.rdbuf();
  if (file.bad())
    return absl::DataLossError(absl::StrCat("cannot read ", path));
  return std::move(contents).str();
}

absl::StatusOr<TokenizerVocabulary> ParseVocabularyFile(
    absl::string_view contents) {
  ByteReader reader(contents, "vocabulary file");
  CVQ_ASSIGN_OR_RETURN(const absl::string_view magic,
                       reader.ReadBytes(kMagic.size(), "magic"));
  if (magic != kMagic) {
    return absl::InvalidArgumentError(
        absl::StrCat("vocabulary file starts with \"", absl::CHexEscape(magic),
                     "\": expected \"", kMagic, "\""));
  }
  TokenizerVocabulary vocabulary;
  CVQ_ASSIGN_OR_RETURN(const uint32_t num_tokens,
                       reader.Read<uint32_t>("token count"));
  for (uint32_t i = 0; i < num_tokens; ++i) {
    CVQ_ASSIGN_OR_RETURN(std::string token, ReadString(reader, "token"));
    CVQ_ASSIGN_OR_RETURN(const int32_t type,
                         reader.Read<int32_t>("token type"));
    vocabulary.tokens.push_back(std::move(token));
    vocabulary.token_types.push_back(type);
  }
  CVQ_ASSIGN_OR_RETURN(const uint32_t num_merges,
                       reader.Read<uint32_t>("merge count"));
  for (uint32_t i = 0; i < num_merges; ++i) {
    CVQ_ASSIGN_OR_RETURN(std::string merge, ReadString(reader, "merge"));
    vocabulary.merges.push_back(std::move(merge));
  }
  CVQ_ASSIGN_OR_RETURN(vocabulary.bos_id, reader.Read<int32_t>("bos_id"));
  CVQ_ASSIGN_OR_RETURN(vocabulary.eos_id, reader.Read<int32_t>("eos_id"));
  CVQ_ASSIGN_OR_RETURN(vocabulary.unknown_id,
                       reader.Read<int32_t>("unknown_id"));
  CVQ_ASSIGN_OR_RETURN(vocabulary.padding_id,
                       reader.Read<int32_t>("padding_id"));
  CVQ_ASSIGN_OR_RETURN(vocabulary.pre_tokenizer,
                       ReadString(reader, "pre_tokenizer"));
  if (reader.remaining() != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("vocabulary file has ", reader.remaining(),
                     " bytes after its last field: expected none"));
  }
  return vocabulary;
}

absl::StatusOr<TokenizerVocabulary> ReadVocabularyFile(
    const std::string& path) {
  CVQ_ASSIGN_OR_RETURN(const std::string contents, ReadFileBytes(path));
  return ParseVocabularyFile(contents);
}

}  // namespace commvq
