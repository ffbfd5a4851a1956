// CRC-32C (Castagnoli), the checksum of serialized quantizers and codebook
// files: detects truncation and bit flips before any parsed value is used.
#ifndef COMMVQ_BASE_CRC32C_H_
#define COMMVQ_BASE_CRC32C_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace commvq {

// Extends `crc` (0 for a new checksum) with `data`.
uint32_t Crc32c(absl::string_view data, uint32_t crc = 0);

}  // namespace commvq

#endif  // COMMVQ_BASE_CRC32C_H_
