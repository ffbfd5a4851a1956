#include "commvq/base/dtype.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace commvq {
namespace {

// DLPack's DLDataTypeCode values.
constexpr uint8_t kDlpackUInt = 1;
constexpr uint8_t kDlpackFloat = 2;
constexpr uint8_t kDlpackBfloat = 4;

constexpr DType kAllDTypes[] = {DType::kF32, DType::kF16, DType::kBF16,
                                DType::kU8};

}  // namespace

int DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return 4;
    case DType::kF16:
    case DType::kBF16:
      return 2;
    case DType::kU8:
      return 1;
  }
  return 0;
}

absl::string_view DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "f32";
    case DType::kF16:
      return "f16";
    case DType::kBF16:
      return "bf16";
    case DType::kU8:
      return "u8";
  }
  return "invalid";
}

absl::StatusOr<DType> ParseDType(absl::string_view name) {
  for (DType dtype : kAllDTypes) {
    if (DTypeName(dtype) == name) return dtype;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown dtype '", name, "': expected one of f32, f16, bf16, u8"));
}

absl::StatusOr<DType> DTypeFromInt(int64_t value) {
  for (DType dtype : kAllDTypes) {
    if (static_cast<int64_t>(dtype) == value) return dtype;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown dtype value ", value,
      ": expected 0 (f32), 1 (f16), 2 (bf16) or 3 (u8)"));
}

DlpackType ToDlpack(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return {kDlpackFloat, 32, 1};
    case DType::kF16:
      return {kDlpackFloat, 16, 1};
    case DType::kBF16:
      return {kDlpackBfloat, 16, 1};
    case DType::kU8:
      return {kDlpackUInt, 8, 1};
  }
  return {0, 0, 0};
}

absl::StatusOr<DType> FromDlpack(DlpackType type) {
  for (DType dtype : kAllDTypes) {
    const DlpackType known = ToDlpack(dtype);
    if (known.code == type.code && known.bits == type.bits &&
        type.lanes == 1) {
      return dtype;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unsupported DLPack dtype (code ", int{type.code}, ", bits ",
      int{type.bits},
      ", lanes ", int{type.lanes},
      "): expected float32, float16, bfloat16 or uint8 with 1 lane"));
}

}  // namespace commvq
