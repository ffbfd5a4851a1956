#include "kernels/cuda/cublas_handle.h"

#include <cublas_v2.h>

#include <utility>

#include "commvq/base/status_macros.h"
#include "kernels/cuda/cuda_status.h"

namespace commvq {
namespace cuda {

absl::StatusOr<CublasHandle> CublasHandle::Create(int64_t workspace_bytes) {
  CublasHandle result;
  CVQ_ASSIGN_OR_RETURN(result.workspace_,
                       DeviceMemory::Allocate(workspace_bytes));
  cublasHandle_t handle = nullptr;
  CVQ_RETURN_IF_ERROR(CublasStatus(cublasCreate(&handle), "cublasCreate"));
  result.handle_ = handle;
  return result;
}

CublasHandle::~CublasHandle() {
  if (handle_ != nullptr) cublasDestroy(static_cast<cublasHandle_t>(handle_));
}

CublasHandle::CublasHandle(CublasHandle&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)),
      workspace_(std::move(other.workspace_)) {}

CublasHandle& CublasHandle::operator=(CublasHandle&& other) noexcept {
  if (this != &other) {
    if (handle_ != nullptr) {
      cublasDestroy(static_cast<cublasHandle_t>(handle_));
    }
    handle_ = std::exchange(other.handle_, nullptr);
    workspace_ = std::move(other.workspace_);
  }
  return *this;
}

absl::Status CublasHandle::Bind(void* stream) const {
  cublasHandle_t handle = static_cast<cublasHandle_t>(handle_);
  CVQ_RETURN_IF_ERROR(
      CublasStatus(cublasSetStream(handle, static_cast<cudaStream_t>(stream)),
                   "cublasSetStream"));
  return CublasStatus(
      cublasSetWorkspace(handle, workspace_.data(),
                         static_cast<size_t>(workspace_.bytes())),
      "cublasSetWorkspace");
}

}  // namespace cuda
}  // namespace commvq
