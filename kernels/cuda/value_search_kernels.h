// Device kernels of the `search` value encoder on the GPU (mirroring
// commvq/quantizer/commvq_value/search_encode.h), behind a plain C++
// boundary. The host (value_codec.cc) computes the tables once with the CPU
// encoder's own code and runs the GEMMs h0 = C W u and y = R u for all
// tokens; these kernels do the rest.
//
// Pointers are device memory, `stream` a cudaStream_t; each function returns
// the cudaError_t value of its launch (0 = success). Shapes are validated by
// CudaValueCodec.
#ifndef COMMVQ_KERNELS_CUDA_VALUE_SEARCH_KERNELS_H_
#define COMMVQ_KERNELS_CUDA_VALUE_SEARCH_KERNELS_H_

#include <cstdint>

namespace commvq {
namespace cuda {

// The search input u = (x / channel_scale) / ||x / channel_scale|| (zero
// for a zero row), as PrescaleToUnit (codebook_fit.h).
// values: [num_tokens, dim]. units: [num_tokens, dim] (written).
// prescale: [num_tokens] (written), ||x / channel_scale||.
int LaunchValueUnit(const float* values, const float* channel_scale,
                    int64_t num_tokens, int dim, float* units, float* prescale,
                    void* stream);

// The encoder's tables on the device (ValueSearchEncoder::Tables).
struct DeviceSearchTables {
  int dim = 0;
  int num_code_bits = 0;            // Nc, even
  int sweeps = 0;                   // >= 1
  int restarts = 0;                 // >= 0
  const float* codebook = nullptr;  // C: [Nc, dim]
  const float* weights = nullptr;   // W: [dim]
  const float* gram = nullptr;      // G = C W C^T: [Nc, Nc]
  // Per group g: G[2g][2g], G[2g+1][2g+1], G[2g][2g+1] ([Nc / 2, 3]), so
  // scoring a group reads three adjacent floats.
  const float* pair_gram = nullptr;
  // Starting bits of restarts 1..restarts: [restarts, Nc] 0/1 bytes.
  const uint8_t* restart_bits = nullptr;
  // G s of each of those starts: [restarts, Nc].
  const float* restart_gram = nullptr;
};

// Dynamic shared memory of LaunchValueSearch's blocks: h (f32) and the
// current and best bits (bytes), [Nc] each.
inline int64_t ValueSearchSharedBytes(int64_t num_code_bits) {
  return 6 * num_code_bits;
}

// *bytes = the dynamic shared memory LaunchValueSearch's blocks may use on
// the current device.
int ValueSearchSharedLimit(int64_t* bytes);

// bits[i] = relaxed[i] > 1/2 (1 or 0), i < count: the relaxed start.
int LaunchThresholdBits(const float* relaxed, int64_t count, float* bits,
                        void* stream);

// The ICM search of every token, one thread block per token; the result
// depends only on the token's inputs, as on the CPU.
// units:      [num_tokens, dim] (LaunchValueUnit).
// prescale:   [num_tokens]; a token with 0 gets all-zero bits.
// dots:       [num_tokens, Nc] h0 = C W u.
// start_dots: [num_tokens, Nc] h0 - G s0 for the first start s0, which
//             `bits` holds on entry (0/1, LaunchThresholdBits of the relaxed
//             solution); or null to start from zeros (h = h0).
// words:      [num_tokens, ValueCodeWords(Nc)] (written, padding 0).
// bits:       [num_tokens, Nc] f32 0/1: the first start (read, when
//             start_dots is given), then the result (written), for the
//             decode GEMM.
// Fails (launch error) where the device has less shared memory per block
// than ValueSearchSharedBytes.
int LaunchValueSearch(const DeviceSearchTables& tables, const float* units,
                      const float* prescale, const float* dots,
                      const float* start_dots, int64_t num_tokens,
                      uint32_t* words, float* bits, void* stream);

}  // namespace cuda
}  // namespace commvq

#endif  // COMMVQ_KERNELS_CUDA_VALUE_SEARCH_KERNELS_H_
