#include "commvq/backend/backend.h"

#include "absl/strings/str_cat.h"

#ifdef COMMVQ_HAVE_CUDA
#include "kernels/cuda/device_check.h"
#endif

namespace commvq {

absl::string_view BackendName(Backend backend) {
  switch (backend) {
    case Backend::kCpu:
      return "cpu";
    case Backend::kCuda:
      return "cuda";
  }
  return "invalid";
}

absl::StatusOr<Backend> ParseBackend(absl::string_view name) {
  if (name == "cpu") return Backend::kCpu;
  if (name == "cuda") return Backend::kCuda;
  return absl::InvalidArgumentError(
      absl::StrCat("backend '", name, "'; expected cpu or cuda"));
}

bool CudaBackendCompiled() {
#ifdef COMMVQ_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

absl::Status CheckBackendAvailable(Backend backend) {
  if (backend == Backend::kCpu) return absl::OkStatus();
  if (backend != Backend::kCuda) {
    return absl::InvalidArgumentError(absl::StrCat(
        "backend value ", static_cast<int>(backend), "; expected cpu or cuda"));
  }
#ifdef COMMVQ_HAVE_CUDA
  int count = 0;
  const cuda::CudaResult result = cuda::CudaDeviceCount(&count);
  if (result.error != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("backend cuda: no usable CUDA device (error ",
                     result.error, ": ", result.message, ")"));
  }
  if (count == 0) {
    return absl::FailedPreconditionError(
        "backend cuda: no usable CUDA device (0 devices)");
  }
  return absl::OkStatus();
#else
  return absl::FailedPreconditionError(
      "backend cuda: this build has no CUDA backend (no toolkit found, or "
      "built with --define cuda=off)");
#endif
}

}  // namespace commvq
