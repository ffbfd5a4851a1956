#include "commvq/base/bit_packing.h"

#include <cstddef>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "commvq/base/status_macros.h"

namespace commvq {
namespace {

absl::Status CheckBits(int bits) {
  if (bits >= 1 && bits <= 16) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("bits is ", bits, ": expected 1..16"));
}

absl::Status CheckPackedSize(int64_t num_codes, int bits, size_t packed_size,
                             absl::string_view what) {
  const int64_t expected = PackedBytes(num_codes, bits);
  if (static_cast<int64_t>(packed_size) == expected) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(what, " has ", packed_size, " bytes: expected ", expected,
                   " (", num_codes, " codes of ", bits, " bits)"));
}

}  // namespace

int64_t PackedBytes(int64_t num_codes, int bits) {
  return (num_codes * bits + 7) / 8;
}

absl::Status PackCodes(absl::Span<const uint16_t> codes, int bits,
                       absl::Span<uint8_t> out) {
  CVQ_RETURN_IF_ERROR(CheckBits(bits));
  CVQ_RETURN_IF_ERROR(CheckPackedSize(codes.size(), bits, out.size(), "out"));
  const uint32_t limit = uint32_t{1} << bits;
  for (size_t i = 0; i < codes.size(); ++i) {
    if (codes[i] >= limit) {
      return absl::InvalidArgumentError(
          absl::StrCat("code ", codes[i], " at index ", i, " does not fit in ",
                       bits, " bits: expected < ", limit));
    }
  }
  // Codes are appended above the `pending` bits already in the accumulator;
  // whole 32-bit words are flushed so it never holds more than 47 bits.
  uint64_t accumulator = 0;
  int pending = 0;
  uint8_t* dst = out.data();
  for (uint16_t code : codes) {
    accumulator |= uint64_t{code} << pending;
    pending += bits;
    if (pending >= 32) {
      for (int byte = 0; byte < 4; ++byte) *dst++ = accumulator >> (8 * byte);
      accumulator >>= 32;
      pending -= 32;
    }
  }
  for (; pending > 0; pending -= 8, accumulator >>= 8) *dst++ = accumulator;
  return absl::OkStatus();
}

absl::Status UnpackCodes(absl::Span<const uint8_t> packed, int bits,
                         absl::Span<uint16_t> codes) {
  CVQ_RETURN_IF_ERROR(CheckBits(bits));
  CVQ_RETURN_IF_ERROR(
      CheckPackedSize(codes.size(), bits, packed.size(), "packed"));
  const uint64_t mask = (uint64_t{1} << bits) - 1;
  uint64_t accumulator = 0;
  int available = 0;
  const uint8_t* src = packed.data();
  const uint8_t* const end = src + packed.size();
  for (uint16_t& code : codes) {
    if (available < bits) {
      // Refill with up to 4 bytes at once; the exact size check above
      // guarantees the bytes a code needs are there.
      for (int byte = 0; byte < 4 && src != end; ++byte) {
        accumulator |= uint64_t{*src++} << available;
        available += 8;
      }
    }
    code = accumulator & mask;
    accumulator >>= bits;
    available -= bits;
  }
  return absl::OkStatus();
}

}  // namespace commvq
