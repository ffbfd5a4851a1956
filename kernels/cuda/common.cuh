// Small device helpers shared by the .cu files of this folder.
#ifndef COMMVQ_KERNELS_CUDA_COMMON_CUH_
#define COMMVQ_KERNELS_CUDA_COMMON_CUH_

#include <cuda_runtime.h>

#include <cstdint>

namespace commvq {
namespace cuda {

inline cudaStream_t AsStream(void* stream) {
  return static_cast<cudaStream_t>(stream);
}

inline int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// The error of the launch just issued (configuration or resources).
inline int LaunchError() { return static_cast<int>(cudaGetLastError()); }

// The channels RoPE pair j of a head couples (commvq/base/pair_layout.h).
__device__ __forceinline__ int PairFirst(int interleaved, int head_dim, int j) {
  return interleaved ? 2 * j : j;
}
__device__ __forceinline__ int PairSecond(int interleaved, int head_dim,
                                          int j) {
  return interleaved ? 2 * j + 1 : j + head_dim / 2;
}

// Sum of `value` (float or double) over the block (blockDim.x a multiple of
// 32, <= 1024); `shared`: >= 32 elements. Every thread gets the sum.
template <typename T>
__device__ __forceinline__ T BlockSum(T value, T* shared) {
  for (int offset = 16; offset > 0; offset >>= 1) {
    value += __shfl_xor_sync(0xffffffffu, value, offset);
  }
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  __syncthreads();  // `shared` may still be read by a previous call
  if (lane == 0) shared[warp] = value;
  __syncthreads();
  const int warps = blockDim.x / 32;
  value = lane < warps ? shared[lane] : T(0);
  for (int offset = 16; offset > 0; offset >>= 1) {
    value += __shfl_xor_sync(0xffffffffu, value, offset);
  }
  return value;
}

// One value row prescaled to a unit vector, as the quantizer's
// PrescaleToUnit: out = (x / channel_scale) / ||x / channel_scale|| (zero
// for a zero row); returns the norm, summed in double as on the CPU (so
// tiny and huge rows neither underflow to 0 nor overflow). Threads of the
// block stride over dim; `scratch`: >= 32 doubles.
__device__ __forceinline__ float UnitRow(const float* x,
                                         const float* channel_scale, int dim,
                                         float* out, double* scratch) {
  double squares = 0.0;
  for (int c = threadIdx.x; c < dim; c += blockDim.x) {
    const float scaled = x[c] / channel_scale[c];
    out[c] = scaled;
    squares += static_cast<double>(scaled) * scaled;
  }
  const float norm = static_cast<float>(sqrt(BlockSum(squares, scratch)));
  for (int c = threadIdx.x; c < dim; c += blockDim.x) {
    out[c] = norm > 0.0f ? out[c] / norm : 0.0f;
  }
  return norm;
}

// Maximum over the block, as BlockSum.
__device__ __forceinline__ float BlockMax(float value, float* shared) {
  for (int offset = 16; offset > 0; offset >>= 1) {
    value = fmaxf(value, __shfl_xor_sync(0xffffffffu, value, offset));
  }
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  __syncthreads();
  if (lane == 0) shared[warp] = value;
  __syncthreads();
  const int warps = blockDim.x / 32;
  value = lane < warps ? shared[lane] : -INFINITY;
  for (int offset = 16; offset > 0; offset >>= 1) {
    value = fmaxf(value, __shfl_xor_sync(0xffffffffu, value, offset));
  }
  return value;
}

}  // namespace cuda
}  // namespace commvq

#endif  // COMMVQ_KERNELS_CUDA_COMMON_CUH_
