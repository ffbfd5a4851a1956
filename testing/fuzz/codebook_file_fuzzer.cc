// Fuzzes the codebook file reader: any bytes either fail validation with a
// status or give a file whose every tensor can be read and every quantizer
// loaded (or refused) without a crash.
//
// Checksums would stop almost every mutation at the first CRC check, so half
// of the inputs (first byte even) are taken as a header protobuf plus a data
// section, assembled into a file with correct checksums and sizes: that
// drives the fuzzer into the reader's semantic validation (offsets, shapes,
// overlaps, quantizer entries).
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "commvq/base/byte_io.h"
#include "commvq/base/crc32c.h"
#include "commvq/io/codebook_file.h"
#include "commvq/proto/codebook_file.pb.h"

namespace {

// input: u16 header size, header bytes, data section bytes.
bool AssembleWithValidChecksums(absl::string_view input, std::string& file) {
  if (input.size() < 2) return false;
  const size_t header_size =
      static_cast<uint8_t>(input[0]) | static_cast<uint8_t>(input[1]) << 8;
  if (input.size() - 2 < header_size) return false;
  commvq::proto::CodebookFileHeader header;
  if (!header.ParseFromArray(input.data() + 2, static_cast<int>(header_size))) {
    return false;
  }
  const absl::string_view data = input.substr(2 + header_size);
  header.set_data_size(data.size());
  for (commvq::proto::TensorEntry& t : *header.mutable_tensors()) {
    if (t.offset() <= data.size() && t.length() <= data.size() - t.offset()) {
      t.set_crc32c(commvq::Crc32c(data.substr(t.offset(), t.length())));
    }
  }
  std::string header_bytes;
  header.SerializeToString(&header_bytes);
  commvq::ByteWriter writer(&file);
  writer.WriteBytes(commvq::kCodebookFileMagic);
  writer.Write<uint32_t>(commvq::kCodebookFileVersion);
  writer.Write<uint32_t>(static_cast<uint32_t>(header_bytes.size()));
  writer.WriteBytes(header_bytes);
  writer.Write<uint32_t>(commvq::Crc32c(header_bytes));
  file.resize((file.size() + 63) / 64 * 64, '\0');
  file.append(data.data(), data.size());
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const absl::string_view input(reinterpret_cast<const char*>(data) + 1,
                                size - 1);
  std::string assembled;
  absl::string_view bytes = input;
  if (data[0] % 2 == 0) {
    if (!AssembleWithValidChecksums(input, assembled)) return 0;
    bytes = assembled;
  }
  absl::StatusOr<commvq::CodebookFile> file = commvq::CodebookFile::Parse(bytes);
  if (!file.ok()) return 0;
  for (const commvq::TensorInfo& info : file->tensors()) {
    // A validated tensor is readable and its bytes match its checksum.
    absl::StatusOr<commvq::TensorView> tensor = file->Tensor(info.name);
    if (!tensor.ok() ||
        commvq::Crc32c(absl::string_view(
            static_cast<const char*>(tensor->data()), tensor->size_bytes())) !=
            info.crc32c) {
      __builtin_trap();
    }
  }
  for (const commvq::QuantizerInfo& info : file->quantizers()) {
    (void)file->LoadQuantizer(info.name);
  }
  return 0;
}
