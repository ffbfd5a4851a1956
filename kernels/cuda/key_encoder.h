// CommVQ key encoding on the GPU: the exact structured nearest-centre search
// of commvq/quantizer/commvq_key/structured_encode.h, one block per (token,
// KV head), giving the same codes as StructuredKeyEncoder.
#ifndef COMMVQ_KERNELS_CUDA_KEY_ENCODER_H_
#define COMMVQ_KERNELS_CUDA_KEY_ENCODER_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "commvq/quantizer/commvq_key/key_codebook.h"
#include "kernels/cuda/device_memory.h"
#include "kernels/cuda/key_kernels.h"

namespace commvq {
namespace cuda {

// Holds the codebooks of all KV heads of one layer in device memory.
// Immutable after Create; Encode may run concurrently on different streams.
class CudaKeyEncoder {
 public:
  // InvalidArgument (naming the value and the limit) unless the GPU kernels
  // can run `params`: a valid codebook shape, head_dim <= kMaxKeyHeadDim,
  // 1 <= stages <= kMaxKeyStages, num_kv_heads >= 1 and
  // num_kv_heads * stages codebooks of that shape. Needs no device.
  static absl::Status CheckShape(const KeyQuantizerParams& params);

  // Uploads the codebooks and computes the structured-search tables on the
  // device (synchronously).
  static absl::StatusOr<CudaKeyEncoder> Create(
      const KeyQuantizerParams& params);

  // Device scratch Encode needs: none (the search state fits in shared
  // memory).
  static constexpr int64_t WorkspaceBytes() { return 0; }

  const DeviceKeyCodebooks& codebooks() const { return codebooks_; }
  int num_kv_heads() const { return codebooks_.num_kv_heads; }
  int stages() const { return codebooks_.stages; }
  int head_dim() const { return codebooks_.head_dim; }
  // Device bytes of the codebooks and search tables.
  int64_t DeviceBytes() const {
    return z_.bytes() + norms_.bytes() + cross_.bytes();
  }

  // heads: device [num_tokens, num_kv_heads, head_dim] f32, the vectors to
  //        encode (a key quantizer divides keys by their norm first, see
  //        LaunchRowNormalize).
  // codes: device [num_tokens, num_kv_heads, stages] (written), queued on
  //        `stream` (cudaStream_t).
  // InvalidArgument for num_tokens < 0 or beyond one launch's grid.
  absl::Status Encode(const float* heads, int64_t num_tokens, uint16_t* codes,
                      void* stream) const;

 private:
  DeviceMemory z_;
  DeviceMemory norms_;
  DeviceMemory cross_;
  DeviceKeyCodebooks codebooks_;
};

}  // namespace cuda
}  // namespace commvq

#endif  // COMMVQ_KERNELS_CUDA_KEY_ENCODER_H_
