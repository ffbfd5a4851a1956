// The byte format of one serialized quantizer (Quantizer::Serialize):
//
//   "CVQQ"           4 bytes magic
//   u32 version      kSerializedQuantizerVersion
//   u32 spec_size,   spec (canonical spec string)
//   i64 dim
//   u64 payload_size, payload (the quantizer's trained parameters)
//   u32 crc32c       of every byte before it
//
// little-endian. Codebook files (commvq/io) hold many quantizers with
// a richer header; this format is for one quantizer in memory or over the C
// ABI.
#ifndef COMMVQ_QUANTIZER_SERIALIZED_QUANTIZER_H_
#define COMMVQ_QUANTIZER_SERIALIZED_QUANTIZER_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace commvq {

inline constexpr uint32_t kSerializedQuantizerVersion = 1;

std::string FrameQuantizer(absl::string_view spec, int64_t dim,
                           absl::string_view payload);

struct FramedQuantizer {
  std::string spec;
  int64_t dim = 0;
  absl::string_view payload;  // points into the bytes given to Unframe
};

// InvalidArgument naming what is wrong: bad magic, unsupported version,
// truncation, checksum mismatch, non-positive dim, trailing bytes.
absl::StatusOr<FramedQuantizer> UnframeQuantizer(absl::string_view bytes);

}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_SERIALIZED_QUANTIZER_H_
