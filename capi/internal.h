// What every C entry point shares: the status object, the one place where
// C++ exceptions are caught, argument checks (NULL pointers, struct sizes,
// tensor views) and the log callback. Never installed; the public interface
// is commvq.h alone.
#ifndef COMMVQ_CAPI_INTERNAL_H_
#define COMMVQ_CAPI_INTERNAL_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "capi/commvq.h"
#include "commvq/tensor/tensor_view.h"

struct cvq_status {
  int32_t code;
  std::string message;
};

namespace commvq {
namespace capi {

// NULL for OK, else a cvq_status the caller frees with cvq_status_destroy
// (a shared static RESOURCE_EXHAUSTED one if even that allocation fails, so
// an error never reads as success).
cvq_status* ToCStatus(const absl::Status& status);

// Runs `body` (returning absl::Status) and converts its result; the only
// place where exceptions are stopped before they reach C callers.
template <typename Body>
cvq_status* Guard(Body&& body) noexcept {
  try {
    return ToCStatus(body());
  } catch (const std::bad_alloc&) {
    return ToCStatus(absl::ResourceExhaustedError("out of memory"));
  } catch (const std::exception& e) {
    return ToCStatus(absl::InternalError(e.what()));
  } catch (...) {
    return ToCStatus(absl::InternalError("unknown C++ exception"));
  }
}

// InvalidArgument "argument `name` is NULL; expected <what>" when p is null.
absl::Status CheckNotNull(const void* p, absl::string_view name,
                          absl::string_view what);

// InvalidArgument unless `struct_size` (of argument `name`, a `type`) is at
// least `abi1_size`, the struct's size in ABI 1.0.
absl::Status CheckStructSize(uint32_t struct_size, absl::string_view name,
                             absl::string_view type, size_t abi1_size);

// Checks a public struct argument: not NULL and a valid struct_size.
// sizeof(T) is every struct's ABI 1.0 size today. When a later 1.x release
// appends a field, pass the 1.0 size (the new field's offset) instead, and
// read or write the new field only when struct_size covers it, so programs
// built against the older header keep working.
template <typename T>
absl::Status CheckStruct(const T* s, absl::string_view name,
                         absl::string_view type) {
  if (s == nullptr) return CheckNotNull(s, name, absl::StrCat("a ", type));
  return CheckStructSize(s->struct_size, name, type, sizeof(T));
}

// A TensorView of `tensor` after checking the struct, the dtype, the device
// (device_type, and device_id for a GPU), ndim and that the strides are
// row-major contiguous. Shapes and dtypes against what a function expects
// are checked by the library. The view of a GPU tensor holds a device
// pointer: never read through it on the host.
absl::StatusOr<MutableTensorView> FromCTensor(
    const cvq_tensor* tensor, absl::string_view name,
    int32_t device_type = CVQ_DEVICE_CPU, int32_t device_id = 0);

// Sends `message` to the installed log callback if `level` passes its filter.
void Log(int32_t level, absl::string_view message);

}  // namespace capi
}  // namespace commvq

#endif  // COMMVQ_CAPI_INTERNAL_H_
