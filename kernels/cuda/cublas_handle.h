// An owned cuBLAS handle with its workspace allocated up front, so GEMMs in
// the decode path never make cuBLAS allocate. No CUDA header here: the
// handle crosses as void* (cublasHandle_t).
#ifndef COMMVQ_KERNELS_CUDA_CUBLAS_HANDLE_H_
#define COMMVQ_KERNELS_CUDA_CUBLAS_HANDLE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/cuda/device_memory.h"

namespace commvq {
namespace cuda {

// Not thread-safe: one user at a time (cuBLAS handles are not).
class CublasHandle {
 public:
  // cuBLAS's recommendation for Hopper is 32 MiB; our GEMMs are small.
  static constexpr int64_t kDefaultWorkspaceBytes = int64_t{4} << 20;

  static absl::StatusOr<CublasHandle> Create(
      int64_t workspace_bytes = kDefaultWorkspaceBytes);

  CublasHandle() = default;
  ~CublasHandle();
  CublasHandle(CublasHandle&& other) noexcept;
  CublasHandle& operator=(CublasHandle&& other) noexcept;
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;

  // The cublasHandle_t.
  void* get() const { return handle_; }

  // Directs the following GEMMs to `stream` (cudaStream_t) with the owned
  // workspace.
  absl::Status Bind(void* stream) const;

 private:
  void* handle_ = nullptr;
  DeviceMemory workspace_;
};

}  // namespace cuda
}  // namespace commvq

#endif  // COMMVQ_KERNELS_CUDA_CUBLAS_HANDLE_H_
