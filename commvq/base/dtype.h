// Element types of tensors crossing the library's interfaces.
//
// The numeric values of DLPack's type codes (kDLFloat = 2, kDLUInt = 1,
// kDLBfloat = 4) are exposed so the C ABI can describe tensors the way
// DLPack-speaking callers already do, without making DLPack a dependency.
#ifndef COMMVQ_BASE_DTYPE_H_
#define COMMVQ_BASE_DTYPE_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace commvq {

enum class DType : uint8_t {
  kF32 = 0,
  kF16 = 1,
  kBF16 = 2,
  kU8 = 3,
};

// Bytes per element.
int DTypeSize(DType dtype);

// "f32", "f16", "bf16", "u8".
absl::string_view DTypeName(DType dtype);

// Inverse of DTypeName; InvalidArgument naming the string and the accepted
// names otherwise.
absl::StatusOr<DType> ParseDType(absl::string_view name);

// Converts a raw enum value from outside (C ABI, files); InvalidArgument for
// a value that is not a DType.
absl::StatusOr<DType> DTypeFromInt(int64_t value);

// DLPack description of a dtype: type code, bits, lanes (always 1).
struct DlpackType {
  uint8_t code;
  uint8_t bits;
  uint16_t lanes;
};
DlpackType ToDlpack(DType dtype);
absl::StatusOr<DType> FromDlpack(DlpackType type);

}  // namespace commvq

#endif  // COMMVQ_BASE_DTYPE_H_
