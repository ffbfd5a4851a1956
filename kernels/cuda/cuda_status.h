// absl::Status from CUDA runtime and cuBLAS error codes, so every CUDA
// launcher reports failures the way the rest of the library does.
#ifndef COMMVQ_KERNELS_CUDA_CUDA_STATUS_H_
#define COMMVQ_KERNELS_CUDA_CUDA_STATUS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace commvq {
namespace cuda {

// OK for 0 (cudaSuccess); otherwise Internal (FailedPrecondition when no
// device or driver is present) "<what>: <cuda error name>: <message>".
// error: a cudaError_t value.
absl::Status CudaStatus(int error, absl::string_view what);

// OK for 0 (CUBLAS_STATUS_SUCCESS); otherwise Internal
// "<what>: cuBLAS status <n>: <message>". status: a cublasStatus_t value.
absl::Status CublasStatus(int status, absl::string_view what);

}  // namespace cuda
}  // namespace commvq

#endif  // COMMVQ_KERNELS_CUDA_CUDA_STATUS_H_
