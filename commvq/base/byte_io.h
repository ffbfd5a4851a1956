// Little-endian, bounds-checked reading and writing of binary formats
// (serialized quantizers, codebook files): a reader never reads past its
// buffer, and every failure says what was being read and where.
#ifndef COMMVQ_BASE_BYTE_IO_H_
#define COMMVQ_BASE_BYTE_IO_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace commvq {

// Formats are little-endian and values are copied as they lie in memory.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "CommVQ's binary formats assume a little-endian host");

// Appends values to a string.
class ByteWriter {
 public:
  explicit ByteWriter(std::string* out) : out_(out) {}

  template <typename T>
  void Write(T value) {
    static_assert(std::is_arithmetic_v<T>);
    char bytes[sizeof(T)];
    std::memcpy(bytes, &value, sizeof(T));
    out_->append(bytes, sizeof(T));
  }
  void WriteBytes(absl::string_view bytes) {
    out_->append(bytes.data(), bytes.size());
  }

 private:
  std::string* out_;
};

class ByteReader {
 public:
  // `what` names the buffer in error messages ("serialized quantizer").
  ByteReader(absl::string_view data, absl::string_view what)
      : data_(data), what_(what) {}

  template <typename T>
  absl::StatusOr<T> Read(absl::string_view field) {
    static_assert(std::is_arithmetic_v<T>);
    absl::StatusOr<absl::string_view> bytes = ReadBytes(sizeof(T), field);
    if (!bytes.ok()) return bytes.status();
    T value;
    std::memcpy(&value, bytes->data(), sizeof(T));
    return value;
  }

  // A view of the next `size` bytes (no copy).
  absl::StatusOr<absl::string_view> ReadBytes(uint64_t size,
                                              absl::string_view field) {
    if (size > remaining()) {
      return absl::InvalidArgumentError(absl::StrCat(
          what_, " is truncated: ", field, " needs ", size,
          " bytes at offset ", offset_, " but only ", remaining(), " remain"));
    }
    absl::string_view bytes = data_.substr(offset_, size);
    offset_ += size;
    return bytes;
  }

  // Reads a u32 that must equal `expected` (a header field repeating what
  // the caller already knows); InvalidArgument naming both otherwise.
  absl::Status ExpectU32(absl::string_view field, int64_t expected) {
    absl::StatusOr<uint32_t> value = Read<uint32_t>(field);
    if (!value.ok()) return value.status();
    if (*value != expected) {
      return absl::InvalidArgumentError(
          absl::StrCat(what_, " has ", field, " ", *value, ": expected ",
                       expected, " from the spec and dim"));
    }
    return absl::OkStatus();
  }

  uint64_t offset() const { return offset_; }
  uint64_t remaining() const { return data_.size() - offset_; }

 private:
  absl::string_view data_;
  std::string what_;
  uint64_t offset_ = 0;
};

}  // namespace commvq

#endif  // COMMVQ_BASE_BYTE_IO_H_
