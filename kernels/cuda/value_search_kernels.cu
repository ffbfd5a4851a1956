#include <cuda_runtime.h>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/value_kernels.h"
#include "kernels/cuda/value_search_kernels.h"

namespace commvq {
namespace cuda {
namespace {

constexpr int kUnitThreads = 256;
// Threads of a token's block: groups scored at once, and the width of the
// row updates.
constexpr int kSearchThreads = 256;

// kValueCategoryBits of value_codebook.h: bit 0 and bit 1 of category k.
__constant__ uint8_t kFirstBit[4] = {1, 0, 1, 0};
__constant__ uint8_t kSecondBit[4] = {0, 1, 1, 0};

__global__ void ValueUnitKernel(const float* values, const float* channel_scale,
                                int dim, float* units, float* prescale) {
  __shared__ double scratch[32];
  const int64_t row = blockIdx.x;
  const float norm = UnitRow(values + row * dim, channel_scale, dim,
                             units + row * dim, scratch);
  if (threadIdx.x == 0) prescale[row] = norm;
}

// The category of group g's bits now (*current) and the best one with the
// other groups fixed, scored exactly as Descend in search_encode.cc (double
// arithmetic on the float h and G) with its tie rule (search_rules.h): the
// current category wins ties, otherwise the first lowest.
__device__ int BestGroupCategory(const float* h, const uint8_t* s,
                                 const float* pair_gram, int g, int* current) {
  const int i = 2 * g;
  const int j = i + 1;
  const double gii = pair_gram[3 * g];
  const double gjj = pair_gram[3 * g + 1];
  const double gij = pair_gram[3 * g + 2];
  const uint8_t si = s[i];
  const uint8_t sj = s[j];
  // (C W)_i . e0 with e0 the residual without this group.
  const double a0i = h[i] + gii * si + gij * sj;
  const double a0j = h[j] + gij * si + gjj * sj;
  const double on_i = gii - 2.0 * a0i;
  const double on_j = gjj - 2.0 * a0j;
  const double cost[4] = {on_i, on_j, on_i + on_j + 2.0 * gij, 0.0};
  int now = 3;
  for (int k = 0; k < 4; ++k) {
    if (kFirstBit[k] == si && kSecondBit[k] == sj) {
      now = k;
      break;
    }
  }
  int best = now;
  for (int k = 0; k < 4; ++k) {
    if (cost[k] < cost[best]) best = k;
  }
  *current = now;
  return best;
}

// ICM sweeps on s and h = C W (u - s C) in shared memory, with the visiting
// order of the CPU: the block scores blockDim.x groups at once with the
// current h and applies only the first that changes (the groups before it
// would not change when visited one by one), then scores again from the
// next group. A sweep that changes nothing ends the search.
//
// first_change: 3 shared ints. Round r takes the lowest changing group in
// slot r % 3; thread 0 resets slot (r + 2) % 3 once every thread has read
// it (in round r - 1) and before any thread can lower it (in round r + 2),
// so a round needs one barrier when nothing changes.
__device__ void Descend(const DeviceSearchTables& t, float* h, uint8_t* s,
                        int* first_change) {
  const int nc = t.num_code_bits;
  const int groups = nc / 2;
  if (threadIdx.x == 0) {
    for (int k = 0; k < 3; ++k) first_change[k] = groups;
  }
  __syncthreads();
  int round = 0;
  for (int sweep = 0; sweep < t.sweeps; ++sweep) {
    bool changed = false;
    int pos = 0;
    while (pos < groups) {
      int* slot = &first_change[round % 3];
      const int g = pos + static_cast<int>(threadIdx.x);
      if (g < groups) {
        int current;
        if (BestGroupCategory(h, s, t.pair_gram, g, &current) != current) {
          atomicMin(slot, g);
        }
      }
      __syncthreads();
      const int first = *slot;
      if (threadIdx.x == 0) first_change[(round + 2) % 3] = groups;
      ++round;
      if (first == groups) {
        pos += blockDim.x;
        continue;
      }
      int current;
      const int best = BestGroupCategory(h, s, t.pair_gram, first, &current);
      const int i = 2 * first;
      const int j = i + 1;
      const float di = static_cast<float>(s[i]) - kFirstBit[best];
      const float dj = static_cast<float>(s[j]) - kSecondBit[best];
      __syncthreads();  // every thread has read the group's h and s
      // e += di C_i + dj C_j, so h += di G_i + dj G_j; a change often moves
      // one bit, and then reads one row of G.
      const float* gi = t.gram + static_cast<int64_t>(i) * nc;
      const float* gj = t.gram + static_cast<int64_t>(j) * nc;
      for (int k = threadIdx.x; k < nc; k += blockDim.x) {
        if (di != 0.0f && dj != 0.0f) {
          h[k] += di * gi[k] + dj * gj[k];
        } else if (di != 0.0f) {
          h[k] += di * gi[k];
        } else {
          h[k] += dj * gj[k];
        }
      }
      if (threadIdx.x == 0) {
        s[i] = kFirstBit[best];
        s[j] = kSecondBit[best];
      }
      __syncthreads();
      changed = true;
      pos = first + 1;
    }
    if (!changed) break;
  }
}

__global__ void ThresholdBitsKernel(const float* relaxed, int64_t count,
                                    float* bits) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < count) bits[i] = relaxed[i] > 0.5f ? 1.0f : 0.0f;
}

__global__ void ValueSearchKernel(DeviceSearchTables t, const float* units,
                                  const float* prescale, const float* dots,
                                  const float* start_dots, int words_per_token,
                                  uint32_t* words, float* bits) {
  extern __shared__ float search_shared[];
  __shared__ int first_change[3];
  __shared__ double reduce[32];
  const int nc = t.num_code_bits;
  const int dim = t.dim;
  const int64_t token = blockIdx.x;
  float* h = search_shared;                         // [nc]
  uint8_t* s = reinterpret_cast<uint8_t*>(h + nc);  // [nc]
  uint8_t* best = s + nc;                           // [nc]
  float* token_bits = bits + token * nc;
  uint32_t* token_words = words + token * words_per_token;
  if (prescale[token] == 0.0f) {
    // As the CPU quantizer: a zero vector gets zero bits (and f = 0).
    for (int i = threadIdx.x; i < nc; i += blockDim.x) token_bits[i] = 0.0f;
    for (int w = threadIdx.x; w < words_per_token; w += blockDim.x) {
      token_words[w] = 0;
    }
    return;
  }
  const float* u = units + token * dim;
  const float* h0 = dots + token * nc;
  double best_objective = 0.0;
  for (int restart = 0; restart <= t.restarts; ++restart) {
    // The start s and h = C W (u - s C) = h0 - G s, computed outside: G s
    // of the relaxed start by one GEMM over all tokens (start_dots), of a
    // restart's fixed start once at Create (restart_gram).
    for (int i = threadIdx.x; i < nc; i += blockDim.x) {
      if (restart > 0) {
        const int64_t at = static_cast<int64_t>(restart - 1) * nc + i;
        s[i] = t.restart_bits[at];
        h[i] = h0[i] - t.restart_gram[at];
      } else if (start_dots != nullptr) {
        s[i] = token_bits[i] > 0.5f ? 1 : 0;
        h[i] = start_dots[token * nc + i];
      } else {
        s[i] = 0;
        h[i] = h0[i];
      }
    }
    __syncthreads();
    Descend(t, h, s, first_change);
    bool better = true;
    if (t.restarts > 0) {
      // The weighted ||u - s C||^2 of this start's result, to keep the best.
      double part = 0.0;
      for (int c = threadIdx.x; c < dim; c += blockDim.x) {
        float e = u[c];
        for (int i = 0; i < nc; ++i) {
          if (s[i]) e -= t.codebook[static_cast<int64_t>(i) * dim + c];
        }
        part += static_cast<double>(t.weights[c]) * e * e;
      }
      const double objective = BlockSum(part, reduce);
      better = restart == 0 || objective < best_objective;
      if (better) best_objective = objective;
    }
    if (better) {
      for (int i = threadIdx.x; i < nc; i += blockDim.x) best[i] = s[i];
    }
    __syncthreads();  // the next start overwrites s; packing reads best
  }
  for (int i = threadIdx.x; i < nc; i += blockDim.x) {
    token_bits[i] = static_cast<float>(best[i]);
  }
  for (int w = threadIdx.x; w < words_per_token; w += blockDim.x) {
    uint32_t packed = 0;
    for (int b = 0; b < 32 && 32 * w + b < nc; ++b) {
      packed |= static_cast<uint32_t>(best[32 * w + b]) << b;
    }
    token_words[w] = packed;
  }
}

}  // namespace

int LaunchValueUnit(const float* values, const float* channel_scale,
                    int64_t num_tokens, int dim, float* units, float* prescale,
                    void* stream) {
  if (num_tokens == 0) return 0;
  ValueUnitKernel<<<static_cast<unsigned>(num_tokens), kUnitThreads, 0,
                    AsStream(stream)>>>(values, channel_scale, dim, units,
                                        prescale);
  return LaunchError();
}

int ValueSearchSharedLimit(int64_t* bytes) {
  int device = 0;
  cudaError_t error = cudaGetDevice(&device);
  if (error != cudaSuccess) return static_cast<int>(error);
  int optin = 0;
  error = cudaDeviceGetAttribute(
      &optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
  if (error != cudaSuccess) return static_cast<int>(error);
  cudaFuncAttributes attributes;
  error = cudaFuncGetAttributes(&attributes, ValueSearchKernel);
  if (error != cudaSuccess) return static_cast<int>(error);
  *bytes = optin - static_cast<int64_t>(attributes.sharedSizeBytes);
  return 0;
}

int LaunchThresholdBits(const float* relaxed, int64_t count, float* bits,
                        void* stream) {
  if (count == 0) return 0;
  ThresholdBitsKernel<<<static_cast<unsigned>(CeilDiv(count, 256)), 256, 0,
                        AsStream(stream)>>>(relaxed, count, bits);
  return LaunchError();
}

int LaunchValueSearch(const DeviceSearchTables& tables, const float* units,
                      const float* prescale, const float* dots,
                      const float* start_dots, int64_t num_tokens,
                      uint32_t* words, float* bits, void* stream) {
  if (num_tokens == 0) return 0;
  const int64_t shared_bytes = ValueSearchSharedBytes(tables.num_code_bits);
  if (shared_bytes > 0x7fffffff) {
    return static_cast<int>(cudaErrorInvalidValue);
  }
  // Always opt in: the 48 KiB a block gets without it also covers the
  // kernel's static shared memory, so a threshold on the dynamic part alone
  // would be wrong near the limit (the call is cheap).
  const cudaError_t opted = cudaFuncSetAttribute(
      ValueSearchKernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
      static_cast<int>(shared_bytes));
  if (opted != cudaSuccess) return static_cast<int>(opted);
  const int words_per_token =
      static_cast<int>(ValueCodeWords(tables.num_code_bits));
  ValueSearchKernel<<<static_cast<unsigned>(num_tokens), kSearchThreads,
                      static_cast<size_t>(shared_bytes), AsStream(stream)>>>(
      tables, units, prescale, dots, start_dots, words_per_token, words,
      bits);
  return LaunchError();
}

}  // namespace cuda
}  // namespace commvq
