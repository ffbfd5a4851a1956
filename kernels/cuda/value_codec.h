// The CommVQ value quantizer's parameters on the GPU (value_codebook.h): the
// codebook and channel scale the attention kernels decode with, and the
// `mlp` encoder as cuBLAS GEMMs around elementwise kernels and a per-group
// argmax kernel (mirroring commvq/quantizer/commvq_value/mlp_encode.h).
#ifndef COMMVQ_KERNELS_CUDA_VALUE_CODEC_H_
#define COMMVQ_KERNELS_CUDA_VALUE_CODEC_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "commvq/quantizer/commvq_value/value_codebook.h"
#include "kernels/cuda/cublas_handle.h"
#include "kernels/cuda/device_memory.h"

namespace commvq {
namespace cuda {

// Immutable after Create; Encode may run concurrently with distinct
// workspaces and cuBLAS handles.
class CudaValueCodec {
 public:
  // InvalidArgument naming the field unless dim, num_kv_heads and
  // num_code_bits (even) are positive, num_kv_heads divides dim, and the
  // codebook, channel scale and (when hidden > 0) encoder weights have their
  // documented sizes. Needs no device.
  static absl::Status CheckShape(const ValueQuantizerParams& params);

  // Uploads the parameters (synchronously).
  static absl::StatusOr<CudaValueCodec> Create(
      const ValueQuantizerParams& params);

  // Device scratch Encode needs for up to `max_tokens` tokens.
  static int64_t WorkspaceBytes(const ValueQuantizerParams& params,
                                int64_t max_tokens);

  int64_t dim() const { return dim_; }
  int64_t num_code_bits() const { return num_code_bits_; }
  int64_t hidden() const { return hidden_; }
  bool has_encoder() const { return hidden_ > 0; }
  // Device [num_code_bits, dim] and [dim].
  const float* codebook() const { return codebook_.as<float>(); }
  const float* channel_scale() const { return channel_scale_.as<float>(); }

  // The mlp encoding of num_tokens value rows, queued on `stream`.
  // values:    device [num_tokens, dim] f32.
  // workspace: device, WorkspaceBytes(params, max_tokens) bytes with
  //            max_tokens >= num_tokens.
  // words:     device [num_tokens, ValueCodeWords(num_code_bits)] (written).
  // factor:    device [num_tokens] (written), f = prescale / ||s C||.
  // FailedPrecondition without encoder weights (encoder=search has no GPU
  // path); InvalidArgument for num_tokens < 0 or > max_tokens.
  absl::Status Encode(const float* values, int64_t num_tokens,
                      int64_t max_tokens, void* workspace, uint32_t* words,
                      float* factor, const CublasHandle& cublas,
                      void* stream) const;

 private:
  int64_t dim_ = 0;
  int64_t num_code_bits_ = 0;
  int64_t hidden_ = 0;
  DeviceMemory codebook_, channel_scale_;
  DeviceMemory gamma_, beta_, w1_, b1_, w2_, b2_;
};

}  // namespace cuda
}  // namespace commvq

#endif  // COMMVQ_KERNELS_CUDA_VALUE_CODEC_H_
