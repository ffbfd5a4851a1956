#include "kernels/cuda/cuda_status.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "absl/strings/str_cat.h"

namespace commvq {
namespace cuda {

absl::Status CudaStatus(int error, absl::string_view what) {
  if (error == 0) return absl::OkStatus();
  const cudaError_t code = static_cast<cudaError_t>(error);
  const std::string message = absl::StrCat(what, ": ", cudaGetErrorName(code),
                                           ": ", cudaGetErrorString(code));
  if (code == cudaErrorNoDevice || code == cudaErrorInsufficientDriver) {
    return absl::FailedPreconditionError(message);
  }
  return absl::InternalError(message);
}

absl::Status CublasStatus(int status, absl::string_view what) {
  if (status == 0) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat(what, ": cuBLAS status ", status, ": ",
                   cublasGetStatusString(static_cast<cublasStatus_t>(status))));
}

}  // namespace cuda
}  // namespace commvq
