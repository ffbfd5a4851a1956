// Reading one field of a bit-packed code row (the LSB-first stream of
// commvq/base/bit_packing.h): shared by every attention kernel that reads
// codes in place instead of unpacking a whole row.
#ifndef KERNELS_REFERENCE_PACKED_BITS_H_
#define KERNELS_REFERENCE_PACKED_BITS_H_

#include <cstdint>

namespace commvq {

// Code `index` of `bits` bits (1..16) of the stream starting at `row`.
inline uint32_t ReadPackedCode(const uint8_t* row, int64_t index, int bits) {
  uint32_t code = 0;
  for (int i = 0; i < bits; ++i) {
    const int64_t bit = index * bits + i;
    code |= static_cast<uint32_t>((row[bit >> 3] >> (bit & 7)) & 1) << i;
  }
  return code;
}

}  // namespace commvq

#endif  // KERNELS_REFERENCE_PACKED_BITS_H_
