#include "commvq/quantizer/serialized_quantizer.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "commvq/base/byte_io.h"
#include "commvq/base/crc32c.h"
#include "commvq/base/status_macros.h"

namespace commvq {
namespace {

constexpr absl::string_view kMagic = "CVQQ";
constexpr absl::string_view kWhat = "serialized quantizer";

}  // namespace

std::string FrameQuantizer(absl::string_view spec, int64_t dim,
                           absl::string_view payload) {
  std::string out;
  ByteWriter writer(&out);
  writer.WriteBytes(kMagic);
  writer.Write<uint32_t>(kSerializedQuantizerVersion);
  writer.Write<uint32_t>(static_cast<uint32_t>(spec.size()));
  writer.WriteBytes(spec);
  writer.Write<int64_t>(dim);
  writer.Write<uint64_t>(payload.size());
  writer.WriteBytes(payload);
  writer.Write<uint32_t>(Crc32c(out));
  return out;
}

absl::StatusOr<FramedQuantizer> UnframeQuantizer(absl::string_view bytes) {
  ByteReader reader(bytes, kWhat);
  CVQ_ASSIGN_OR_RETURN(absl::string_view magic,
                       reader.ReadBytes(kMagic.size(), "magic"));
  if (magic != kMagic) {
    return absl::InvalidArgumentError(
        absl::StrCat(kWhat, ": bad magic '", absl::CHexEscape(magic),
                     "': expected 'CVQQ'"));
  }
  CVQ_ASSIGN_OR_RETURN(uint32_t version, reader.Read<uint32_t>("version"));
  if (version != kSerializedQuantizerVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat(kWhat, ": unsupported version ", version, ": expected ",
                     kSerializedQuantizerVersion));
  }
  // Verify the checksum before trusting any size field past the version.
  if (bytes.size() < reader.offset() + sizeof(uint32_t)) {
    return absl::InvalidArgumentError(
        absl::StrCat(kWhat, " is truncated: ", bytes.size(), " bytes"));
  }
  const absl::string_view body = bytes.substr(0, bytes.size() - 4);
  ByteReader crc_reader(bytes.substr(body.size()), kWhat);
  CVQ_ASSIGN_OR_RETURN(uint32_t stored_crc, crc_reader.Read<uint32_t>("crc"));
  const uint32_t actual_crc = Crc32c(body);
  if (stored_crc != actual_crc) {
    return absl::InvalidArgumentError(absl::StrCat(
        kWhat, ": checksum mismatch (stored 0x", absl::Hex(stored_crc),
        ", computed 0x", absl::Hex(actual_crc),
        "): the bytes are truncated or corrupt"));
  }
  ByteReader body_reader(body, kWhat);
  CVQ_RETURN_IF_ERROR(body_reader.ReadBytes(8, "header").status());
  FramedQuantizer framed;
  CVQ_ASSIGN_OR_RETURN(uint32_t spec_size,
                       body_reader.Read<uint32_t>("spec size"));
  CVQ_ASSIGN_OR_RETURN(absl::string_view spec,
                       body_reader.ReadBytes(spec_size, "spec"));
  framed.spec = std::string(spec);
  CVQ_ASSIGN_OR_RETURN(framed.dim, body_reader.Read<int64_t>("dim"));
  if (framed.dim <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        kWhat, ": dim ", framed.dim, " is invalid: expected a positive value"));
  }
  CVQ_ASSIGN_OR_RETURN(uint64_t payload_size,
                       body_reader.Read<uint64_t>("payload size"));
  CVQ_ASSIGN_OR_RETURN(framed.payload,
                       body_reader.ReadBytes(payload_size, "payload"));
  if (body_reader.remaining() != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(kWhat, ": ", body_reader.remaining(),
                     " unexpected bytes after the payload"));
  }
  return framed;
}

}  // namespace commvq
