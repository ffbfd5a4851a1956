#include "commvq/tensor/tensor_view.h"

#include <limits>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "commvq/base/status_macros.h"

namespace commvq {

std::string ShapeToString(absl::Span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

absl::StatusOr<int64_t> NumElements(absl::Span<const int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "shape ", ShapeToString(shape), " has a negative dimension ", d));
    }
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) {
      return absl::InvalidArgumentError(absl::StrCat(
          "shape ", ShapeToString(shape), " has more than 2^63 elements"));
    }
    n *= d;
  }
  return n;
}

absl::Status CheckTensor(const TensorView& tensor, absl::string_view name,
                         DType dtype, absl::Span<const int64_t> expected_shape) {
  bool shape_matches = tensor.rank() == static_cast<int>(expected_shape.size());
  for (int i = 0; shape_matches && i < tensor.rank(); ++i) {
    shape_matches =
        expected_shape[i] == kAnyDim || expected_shape[i] == tensor.dim(i);
  }
  if (!shape_matches) {
    std::string expected = "[";
    for (size_t i = 0; i < expected_shape.size(); ++i) {
      absl::StrAppend(&expected, i ? ", " : "",
                      expected_shape[i] == kAnyDim
                          ? std::string("*")
                          : absl::StrCat(expected_shape[i]));
    }
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": expected shape ", expected, "], got ",
                     ShapeToString(tensor.shape())));
  }
  if (tensor.dtype() != dtype) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": expected dtype ", DTypeName(dtype), ", got ",
                     DTypeName(tensor.dtype())));
  }
  absl::StatusOr<int64_t> elements = NumElements(tensor.shape());
  if (!elements.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": ", elements.status().message()));
  }
  if (*elements > std::numeric_limits<int64_t>::max() / DTypeSize(dtype)) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": shape ", ShapeToString(tensor.shape()), " overflows bytes"));
  }
  if (*elements > 0 && tensor.data() == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": data is null but shape ",
                     ShapeToString(tensor.shape()), " has ", *elements,
                     " elements"));
  }
  return absl::OkStatus();
}

}  // namespace commvq
