#include "training/key_checkpoint.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "commvq/base/byte_io.h"
#include "commvq/base/status_macros.h"
#include "commvq/io/atomic_file.h"

namespace commvq {
namespace {

constexpr absl::string_view kMagic = "CVQKCKP1";

}  // namespace

std::string KeyCheckpointPath(const std::string& dir, int layer) {
  return absl::StrCat(dir, "/keys_layer_", layer, ".ckpt");
}

absl::Status WriteKeyCheckpoint(const std::string& path,
                                const std::string& fingerprint,
                                absl::Span<const KeyCodebook> codebooks) {
  std::string data;
  ByteWriter writer(&data);
  writer.WriteBytes(kMagic);
  writer.Write<uint32_t>(static_cast<uint32_t>(fingerprint.size()));
  writer.WriteBytes(fingerprint);
  const KeyCodebookShape shape =
      codebooks.empty() ? KeyCodebookShape{} : codebooks.front().shape();
  writer.Write<uint32_t>(static_cast<uint32_t>(shape.head_dim));
  writer.Write<uint32_t>(static_cast<uint32_t>(shape.half_bits));
  writer.Write<uint32_t>(static_cast<uint32_t>(shape.layout));
  writer.Write<uint32_t>(static_cast<uint32_t>(codebooks.size()));
  for (const KeyCodebook& codebook : codebooks) {
    writer.WriteBytes(
        absl::string_view(reinterpret_cast<const char*>(codebook.z().data()),
                          codebook.z().size() * sizeof(float)));
  }
  return WriteFileAtomically(path, data);
}

absl::StatusOr<std::vector<KeyCodebook>> ReadKeyCheckpoint(
    const std::string& path, const std::string& fingerprint,
    const KeyCodebookShape& shape) {
  CVQ_ASSIGN_OR_RETURN(const std::string data, ReadFile(path));
  const std::string what = absl::StrCat("key checkpoint ", path);
  ByteReader reader(data, what);
  CVQ_ASSIGN_OR_RETURN(const absl::string_view magic,
                       reader.ReadBytes(kMagic.size(), "magic"));
  if (magic != kMagic) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " does not start with ", kMagic));
  }
  CVQ_ASSIGN_OR_RETURN(const uint32_t length,
                       reader.Read<uint32_t>("fingerprint length"));
  CVQ_ASSIGN_OR_RETURN(const absl::string_view saved,
                       reader.ReadBytes(length, "fingerprint"));
  if (saved != fingerprint) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " was written by a run with other settings (", saved,
        "); this run has (", fingerprint,
        "): use another --checkpoint folder or the same settings"));
  }
  const std::pair<const char*, int64_t> fields[] = {
      {"head_dim", shape.head_dim},
      {"half_bits", shape.half_bits},
      {"layout", static_cast<int64_t>(shape.layout)}};
  for (const auto& [field, expected] : fields) {
    CVQ_ASSIGN_OR_RETURN(const uint32_t value, reader.Read<uint32_t>(field));
    if (value != expected) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " has ", field, " ", value, ": expected ", expected));
    }
  }
  CVQ_ASSIGN_OR_RETURN(const uint32_t count,
                       reader.Read<uint32_t>("codebook count"));
  std::vector<KeyCodebook> codebooks;
  for (uint32_t i = 0; i < count; ++i) {
    CVQ_ASSIGN_OR_RETURN(const absl::string_view bytes,
                         reader.ReadBytes(shape.num_floats() * sizeof(float),
                                          absl::StrCat("codebook ", i)));
    std::vector<float> z(shape.num_floats());
    std::memcpy(z.data(), bytes.data(), bytes.size());
    absl::StatusOr<KeyCodebook> codebook =
        KeyCodebook::Create(shape, std::move(z));
    if (!codebook.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": codebook ", i, ": ", codebook.status().message()));
    }
    codebooks.push_back(*std::move(codebook));
  }
  if (reader.remaining() != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " has ", reader.remaining(), " bytes past its last codebook"));
  }
  return codebooks;
}

}  // namespace commvq
