#include "commvq/model/tokenizer/byte_level.h"

#include <array>

namespace commvq {
namespace {

// The largest code point the mapping uses: 256 + the 68 unprintable bytes - 1.
constexpr char32_t kMaxMappedCodepoint = 0x143;

constexpr bool IsPrintable(int byte) {
  return (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) ||
         (byte >= 0xAE && byte <= 0xFF);
}

constexpr std::array<char32_t, 256> MakeByteToCodepoint() {
  std::array<char32_t, 256> codepoints{};
  char32_t next_unprintable = 256;
  for (int byte = 0; byte < 256; ++byte) {
    codepoints[byte] = IsPrintable(byte) ? byte : next_unprintable++;
  }
  return codepoints;
}

constexpr std::array<char32_t, 256> kByteToCodepoint = MakeByteToCodepoint();

constexpr std::array<int16_t, kMaxMappedCodepoint + 1> MakeCodepointToByte() {
  std::array<int16_t, kMaxMappedCodepoint + 1> bytes{};
  for (int16_t& byte : bytes) byte = -1;
  for (int byte = 0; byte < 256; ++byte) bytes[kByteToCodepoint[byte]] = byte;
  return bytes;
}

constexpr std::array<int16_t, kMaxMappedCodepoint + 1> kCodepointToByte =
    MakeCodepointToByte();

}  // namespace

char32_t ByteToCodepoint(uint8_t byte) { return kByteToCodepoint[byte]; }

int CodepointToByte(char32_t cp) {
  return cp <= kMaxMappedCodepoint ? kCodepointToByte[cp] : -1;
}

}  // namespace commvq
