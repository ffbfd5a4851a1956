#include "kernels/cuda/key_encoder.h"

#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "commvq/base/status_macros.h"
#include "kernels/cuda/cuda_status.h"

namespace commvq {
namespace cuda {

absl::Status CudaKeyEncoder::CheckShape(const KeyQuantizerParams& params) {
  CVQ_RETURN_IF_ERROR(ValidateKeyCodebookShape(params.shape));
  if (params.shape.head_dim > kMaxKeyHeadDim) {
    return absl::InvalidArgumentError(
        absl::StrCat("CUDA key kernels: head_dim ", params.shape.head_dim,
                     " exceeds the limit ", kMaxKeyHeadDim));
  }
  if (params.stages < 1 || params.stages > kMaxKeyStages) {
    return absl::InvalidArgumentError(
        absl::StrCat("CUDA key kernels: stages ", params.stages,
                     "; expected 1 to ", kMaxKeyStages));
  }
  if (params.num_kv_heads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("CUDA key kernels: num_kv_heads ", params.num_kv_heads,
                     "; expected >= 1"));
  }
  const int64_t expected = params.num_kv_heads * params.stages;
  if (static_cast<int64_t>(params.codebooks.size()) != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CUDA key kernels: ", params.codebooks.size(),
        " codebooks; expected num_kv_heads * stages = ", expected));
  }
  for (size_t i = 0; i < params.codebooks.size(); ++i) {
    const KeyCodebookShape& shape = params.codebooks[i].shape();
    if (shape.head_dim != params.shape.head_dim ||
        shape.half_bits != params.shape.half_bits ||
        shape.layout != params.shape.layout) {
      return absl::InvalidArgumentError(
          absl::StrCat("CUDA key kernels: codebook ", i,
                       " has another shape than the quantizer's"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<CudaKeyEncoder> CudaKeyEncoder::Create(
    const KeyQuantizerParams& params) {
  CVQ_RETURN_IF_ERROR(CheckShape(params));
  const KeyCodebookShape& shape = params.shape;
  std::vector<float> z;
  z.reserve(params.codebooks.size() * shape.num_floats());
  for (const KeyCodebook& codebook : params.codebooks) {
    z.insert(z.end(), codebook.z().begin(), codebook.z().end());
  }
  const int64_t books = params.num_kv_heads * params.stages;
  CudaKeyEncoder encoder;
  CVQ_ASSIGN_OR_RETURN(encoder.z_, Upload(absl::MakeConstSpan(z)));
  CVQ_ASSIGN_OR_RETURN(encoder.norms_,
                       DeviceMemory::Allocate(books * shape.num_values() *
                                              int64_t{sizeof(double)}));
  CVQ_ASSIGN_OR_RETURN(
      encoder.cross_,
      DeviceMemory::Allocate(books * shape.num_values() * shape.num_values() *
                             int64_t{sizeof(double)}));
  DeviceKeyCodebooks& device = encoder.codebooks_;
  device.num_kv_heads = static_cast<int>(params.num_kv_heads);
  device.stages = params.stages;
  device.head_dim = static_cast<int>(shape.head_dim);
  device.half_bits = shape.half_bits;
  device.interleaved = shape.layout == PairLayout::kInterleaved ? 1 : 0;
  device.z = encoder.z_.as<float>();
  device.norms = encoder.norms_.as<double>();
  device.cross = encoder.cross_.as<double>();
  CVQ_RETURN_IF_ERROR(
      CudaStatus(LaunchKeyCodebookTables(device, encoder.norms_.as<double>(),
                                         encoder.cross_.as<double>(), nullptr),
                 "key codebook tables"));
  CVQ_RETURN_IF_ERROR(SynchronizeStream(nullptr));
  return encoder;
}

absl::Status CudaKeyEncoder::Encode(const float* heads, int64_t num_tokens,
                                    uint16_t* codes, void* stream) const {
  const int64_t max_tokens =
      std::numeric_limits<int32_t>::max() / codebooks_.num_kv_heads;
  if (num_tokens < 0 || num_tokens > max_tokens) {
    return absl::InvalidArgumentError(
        absl::StrCat("CUDA key encode: num_tokens ", num_tokens,
                     "; expected 0 to ", max_tokens));
  }
  return CudaStatus(
      LaunchKeyEncode(codebooks_, heads, num_tokens, codes, stream),
      "key encode launch");
}

}  // namespace cuda
}  // namespace commvq
