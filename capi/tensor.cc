// cvq_tensor -> TensorView: the checks every tensor argument goes through.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "capi/internal.h"
#include "commvq/base/dtype.h"
#include "commvq/base/status_macros.h"

namespace commvq {
namespace capi {

absl::StatusOr<MutableTensorView> FromCTensor(const cvq_tensor* tensor,
                                              absl::string_view name,
                                              int32_t device_type,
                                              int32_t device_id) {
  CVQ_RETURN_IF_ERROR(CheckStruct(tensor, name, "cvq_tensor"));
  if (tensor->device_type != device_type) {
    return absl::InvalidArgumentError(absl::StrCat(
        "`", name, "->device_type` is ", tensor->device_type, "; expected ",
        device_type == CVQ_DEVICE_CPU
            ? "CVQ_DEVICE_CPU (1)"
            : "CVQ_DEVICE_CUDA (2): a cache of a \"cuda\" context takes "
              "device memory",
        device_type == CVQ_DEVICE_CPU && tensor->device_type == CVQ_DEVICE_CUDA
            ? ": device memory is accepted by caches of a \"cuda\" context "
              "only"
            : ""));
  }
  if (device_type != CVQ_DEVICE_CPU && tensor->device_id != device_id) {
    return absl::InvalidArgumentError(absl::StrCat(
        "`", name, "->device_id` is ", tensor->device_id, "; expected ",
        device_id, " (the context's device)"));
  }
  auto dtype =
      FromDlpack({tensor->dtype_code, tensor->dtype_bits, tensor->dtype_lanes});
  if (!dtype.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("`", name, "` dtype: ", dtype.status().message()));
  }
  if (tensor->ndim < 0 || tensor->ndim > CVQ_MAX_NDIM) {
    return absl::InvalidArgumentError(
        absl::StrCat("`", name, "->ndim` is ", tensor->ndim, "; expected 0 .. ",
                     CVQ_MAX_NDIM));
  }
  if (tensor->ndim > 0) {
    CVQ_RETURN_IF_ERROR(CheckNotNull(tensor->shape,
                                     absl::StrCat(name, "->shape"),
                                     "an array of ndim sizes"));
  }
  const absl::Span<const int64_t> shape(tensor->shape,
                                        static_cast<size_t>(tensor->ndim));
  for (int i = 0; i < tensor->ndim; ++i) {
    if (shape[i] < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "`", name, "->shape[", i, "]` is ", shape[i], "; expected >= 0"));
    }
  }
  if (tensor->strides != nullptr) {
    // Row-major contiguous strides are accepted; a dimension of size 1 may
    // carry any stride (numpy and DLPack do not normalize them).
    int64_t expected = 1;
    for (int i = tensor->ndim - 1; i >= 0; --i) {
      if (shape[i] != 1 && tensor->strides[i] != expected) {
        return absl::InvalidArgumentError(absl::StrCat(
            "`", name, "` has strides [",
            absl::StrJoin(tensor->strides, tensor->strides + tensor->ndim,
                          ", "),
            "] for shape ", ShapeToString(shape),
            "; expected row-major contiguous strides (copy the tensor first)"));
      }
      expected *= shape[i];
    }
  }
  return MutableTensorView(tensor->data, *dtype, shape);
}

}  // namespace capi
}  // namespace commvq
