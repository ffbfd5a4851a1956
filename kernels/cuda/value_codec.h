// The CommVQ value quantizer's parameters on the GPU (value_codebook.h): the
// codebook and channel scale the attention kernels decode with, and its
// encoder: `mlp` as cuBLAS GEMMs around elementwise kernels and a per-group
// argmax kernel (mirroring commvq/quantizer/commvq_value/mlp_encode.h), or
// `search` (no encoder weights) as GEMMs for the dot products and the
// relaxed start around an ICM kernel (value_search_kernels.h, mirroring
// search_encode.h with the tables its ValueSearchEncoder computes).
#ifndef COMMVQ_KERNELS_CUDA_VALUE_CODEC_H_
#define COMMVQ_KERNELS_CUDA_VALUE_CODEC_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "commvq/quantizer/commvq_value/search_encode.h"
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

  // Uploads the parameters (synchronously). Without encoder weights the
  // codec encodes by search with `search` (the quantizer's sweeps, restarts
  // and relaxed_start; the defaults are the quantizer's defaults):
  // InvalidArgument for sweeps < 1, restarts < 0, or a code too long for
  // the device's shared memory (about 38K bits on an H100).
  static absl::StatusOr<CudaValueCodec> Create(
      const ValueQuantizerParams& params,
      const ValueSearchOptions& search = ValueSearchOptions());

  // Device scratch Encode needs for up to `max_tokens` tokens.
  static int64_t WorkspaceBytes(const ValueQuantizerParams& params,
                                int64_t max_tokens);

  int64_t dim() const { return dim_; }
  int64_t num_code_bits() const { return num_code_bits_; }
  int64_t hidden() const { return hidden_; }
  // True for the mlp encoder; false for search. Either way Encode works.
  bool has_encoder() const { return hidden_ > 0; }
  // Device bytes of the parameters held.
  int64_t DeviceBytes() const {
    int64_t total = 0;
    for (const DeviceMemory* m :
         {&codebook_, &channel_scale_, &gamma_, &beta_, &w1_, &b1_, &w2_, &b2_,
          &weighted_, &weights_, &gram_, &pair_gram_, &relaxed_,
          &restart_bits_, &restart_gram_}) {
      total += m->bytes();
    }
    return total;
  }
  // Device [num_code_bits, dim] and [dim].
  const float* codebook() const { return codebook_.as<float>(); }
  const float* channel_scale() const { return channel_scale_.as<float>(); }

  // The encoding of num_tokens value rows (mlp or search), queued on
  // `stream`.
  // values:    device [num_tokens, dim] f32.
  // workspace: device, WorkspaceBytes(params, max_tokens) bytes with
  //            max_tokens >= num_tokens.
  // words:     device [num_tokens, ValueCodeWords(num_code_bits)] (written).
  // factor:    device [num_tokens] (written), f = prescale / ||s C||.
  // InvalidArgument for num_tokens < 0 or > max_tokens.
  absl::Status Encode(const float* values, int64_t num_tokens,
                      int64_t max_tokens, void* workspace, uint32_t* words,
                      float* factor, const CublasHandle& cublas,
                      void* stream) const;

 private:
  struct Scratch;
  Scratch ScratchIn(void* workspace, int64_t max_tokens) const;
  // Both write words and leave prescale and the f32 bits in `scratch`.
  absl::Status EncodeMlp(const float* values, int n, const Scratch& scratch,
                         uint32_t* words, const CublasHandle& cublas,
                         void* stream) const;
  absl::Status EncodeSearch(const float* values, int n, const Scratch& scratch,
                            uint32_t* words, const CublasHandle& cublas,
                            void* stream) const;
  absl::Status UploadSearchTables(const ValueQuantizerParams& params,
                                  const ValueSearchOptions& search);

  int64_t dim_ = 0;
  int64_t num_code_bits_ = 0;
  int64_t hidden_ = 0;
  DeviceMemory codebook_, channel_scale_;
  DeviceMemory gamma_, beta_, w1_, b1_, w2_, b2_;
  // The search (hidden_ == 0): ValueSearchEncoder's tables, the group
  // blocks of G and the restarts' starting bits.
  int sweeps_ = 0;
  int restarts_ = 0;
  DeviceMemory weighted_, weights_, gram_, pair_gram_, relaxed_, restart_bits_,
      restart_gram_;
};

}  // namespace cuda
}  // namespace commvq

#endif  // COMMVQ_KERNELS_CUDA_VALUE_CODEC_H_
