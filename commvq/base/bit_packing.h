// Dense packing of k-bit codebook indices (k = 1..16) into bytes, the storage
// format of quantized KV-cache codes.
//
// The stream is little-endian and LSB-first: code i occupies stream bits
// [i * k, (i + 1) * k), its least significant bit first, and stream bit b is
// bit (b % 8) of byte b / 8. So the layout is the same on every machine and
// a k that divides 8 never splits a code across bytes.
#ifndef COMMVQ_BASE_BIT_PACKING_H_
#define COMMVQ_BASE_BIT_PACKING_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace commvq {

// Bytes holding `num_codes` codes of `bits` bits: ceil(num_codes * bits / 8).
// Requires num_codes >= 0 and 1 <= bits <= 16.
int64_t PackedBytes(int64_t num_codes, int bits);

// Packs `codes` into `out`, which must hold exactly
// PackedBytes(codes.size(), bits) bytes; unused high bits of the last byte
// are zero. InvalidArgument if bits is outside 1..16, a code does not fit in
// `bits` bits, or out has the wrong size; `out` is then left unmodified.
absl::Status PackCodes(absl::Span<const uint16_t> codes, int bits,
                       absl::Span<uint8_t> out);

// Inverse of PackCodes: fills all of `codes` from `packed`, which must hold
// exactly PackedBytes(codes.size(), bits) bytes. Unused bits of the last byte
// are ignored. InvalidArgument for a bad `bits` or size, leaving `codes`
// unmodified.
absl::Status UnpackCodes(absl::Span<const uint8_t> packed, int bits,
                         absl::Span<uint16_t> codes);

}  // namespace commvq

#endif  // COMMVQ_BASE_BIT_PACKING_H_
