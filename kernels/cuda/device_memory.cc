#include "kernels/cuda/device_memory.h"

#include <cuda_runtime.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/cuda_status.h"

namespace commvq {
namespace cuda {

DeviceMemory::~DeviceMemory() {
  // A failed free cannot be reported from a destructor; the pointer came
  // from cudaMalloc, so it only fails when the context is already gone.
  if (data_ != nullptr) cudaFree(data_);
}

DeviceMemory::DeviceMemory(DeviceMemory&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      bytes_(std::exchange(other.bytes_, 0)) {}

DeviceMemory& DeviceMemory::operator=(DeviceMemory&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) cudaFree(data_);
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

absl::StatusOr<DeviceMemory> DeviceMemory::Allocate(int64_t bytes) {
  if (bytes < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("device allocation of ", bytes, " bytes; expected >= 0"));
  }
  DeviceMemory memory;
  if (bytes == 0) return memory;
  const absl::Status status =
      CudaStatus(cudaMalloc(&memory.data_, static_cast<size_t>(bytes)),
                 absl::StrCat("cudaMalloc of ", bytes, " bytes"));
  if (!status.ok()) return status;
  memory.bytes_ = bytes;
  return memory;
}

absl::Status CopyToDevice(const void* host, int64_t bytes, void* device) {
  if (bytes == 0) return absl::OkStatus();
  return CudaStatus(cudaMemcpy(device, host, static_cast<size_t>(bytes),
                               cudaMemcpyHostToDevice),
                    "copy to device");
}

absl::Status CopyToHost(const void* device, int64_t bytes, void* host) {
  if (bytes == 0) return absl::OkStatus();
  return CudaStatus(cudaMemcpy(host, device, static_cast<size_t>(bytes),
                               cudaMemcpyDeviceToHost),
                    "copy to host");
}

absl::Status SynchronizeStream(void* stream) {
  return CudaStatus(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)),
                    "stream synchronize");
}

}  // namespace cuda
}  // namespace commvq
