// Smallest CUDA round trip: find the devices, run one kernel, copy back.
// Plain C++ (no CUDA headers) because nvcc and the host compiler meet here;
// the GPU tests use it to skip cleanly on machines without a device.
#ifndef COMMVQ_KERNELS_CUDA_DEVICE_CHECK_H_
#define COMMVQ_KERNELS_CUDA_DEVICE_CHECK_H_

namespace commvq {
namespace cuda {

struct CudaResult {
  int error = 0;             // cudaError_t value; 0 = success
  const char* message = "";  // cudaGetErrorString(error), static storage
};

// Number of visible devices in *count (untouched on error). Without a driver
// this fails (e.g. error 35, cudaErrorInsufficientDriver).
CudaResult CudaDeviceCount(int* count);

// Writes out[i] = scale * i for i < n with a kernel on the current device
// (out is host memory); checks launch and copy errors.
CudaResult CudaIotaScaled(float scale, int n, float* out);

}  // namespace cuda
}  // namespace commvq

#endif  // COMMVQ_KERNELS_CUDA_DEVICE_CHECK_H_
