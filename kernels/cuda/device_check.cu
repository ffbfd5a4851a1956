#include <cuda_runtime.h>

#include "kernels/cuda/device_check.h"

namespace commvq {
namespace cuda {
namespace {

CudaResult Result(cudaError_t error) {
  return {static_cast<int>(error), cudaGetErrorString(error)};
}

__global__ void IotaScaledKernel(float scale, int n, float* out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = scale * static_cast<float>(i);
}

}  // namespace

CudaResult CudaDeviceCount(int* count) {
  int found = 0;
  const cudaError_t error = cudaGetDeviceCount(&found);
  if (error == cudaSuccess) *count = found;
  return Result(error);
}

CudaResult CudaIotaScaled(float scale, int n, float* out) {
  float* device = nullptr;
  cudaError_t error = cudaMalloc(&device, sizeof(float) * n);
  if (error != cudaSuccess) return Result(error);
  constexpr int kThreads = 256;
  IotaScaledKernel<<<(n + kThreads - 1) / kThreads, kThreads>>>(scale, n,
                                                                device);
  error = cudaGetLastError();
  if (error == cudaSuccess) {
    error = cudaMemcpy(out, device, sizeof(float) * n, cudaMemcpyDeviceToHost);
  }
  const cudaError_t free_error = cudaFree(device);
  return Result(error != cudaSuccess ? error : free_error);
}

}  // namespace cuda
}  // namespace commvq
