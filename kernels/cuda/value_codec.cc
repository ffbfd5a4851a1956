#include "kernels/cuda/value_codec.h"

#include <cublas_v2.h>

#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "commvq/base/status_macros.h"
#include "commvq/quantizer/commvq_value/mlp_encode.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/value_kernels.h"

namespace commvq {
namespace cuda {
namespace {

static_assert(cuda::kValueLayerNormEpsilon == commvq::kValueLayerNormEpsilon,
              "the GPU encoder must normalize as the CPU one");

absl::Status CheckSize(const char* field, const std::vector<float>& v,
                       int64_t expected) {
  if (static_cast<int64_t>(v.size()) != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat("CUDA value codec: ", field, " has ", v.size(),
                     " floats; expected ", expected));
  }
  return absl::OkStatus();
}

// Offsets of Encode's scratch arrays.
struct EncodeLayout {
  int64_t normed, prescale, hidden, logits, bits, decoded, total;
};

EncodeLayout LayoutFor(int64_t dim, int64_t nc, int64_t hidden,
                       int64_t tokens) {
  WorkspaceLayout layout;
  EncodeLayout result;
  const int64_t f = sizeof(float);
  result.normed = layout.Add(tokens * dim * f);
  result.prescale = layout.Add(tokens * f);
  result.hidden = layout.Add(tokens * hidden * f);
  result.logits = layout.Add(tokens * 2 * nc * f);
  result.bits = layout.Add(tokens * nc * f);
  result.decoded = layout.Add(tokens * dim * f);
  result.total = layout.total();
  return result;
}

}  // namespace

absl::Status CudaValueCodec::CheckShape(const ValueQuantizerParams& params) {
  if (params.dim < 1 || params.num_kv_heads < 1 ||
      params.dim % params.num_kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CUDA value codec: dim ", params.dim, " and num_kv_heads ",
        params.num_kv_heads, "; expected positive, heads dividing dim"));
  }
  if (params.num_code_bits < 2 || params.num_code_bits % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("CUDA value codec: num_code_bits ", params.num_code_bits,
                     "; expected even and >= 2"));
  }
  // cuBLAS takes int dimensions.
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max() / 4;
  if (params.dim > kMax || params.num_code_bits > kMax ||
      params.encoder.hidden > kMax || params.encoder.hidden < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("CUDA value codec: dim ", params.dim, ", num_code_bits ",
                     params.num_code_bits, " or hidden ", params.encoder.hidden,
                     " out of range [0, ", kMax, "]"));
  }
  const int64_t d = params.dim;
  const int64_t nc = params.num_code_bits;
  CVQ_RETURN_IF_ERROR(CheckSize("codebook", params.codebook, nc * d));
  CVQ_RETURN_IF_ERROR(CheckSize("channel_scale", params.channel_scale, d));
  const ValueEncoderWeights& e = params.encoder;
  if (e.hidden == 0) return absl::OkStatus();
  CVQ_RETURN_IF_ERROR(CheckSize("ln_gamma", e.ln_gamma, d));
  CVQ_RETURN_IF_ERROR(CheckSize("ln_beta", e.ln_beta, d));
  CVQ_RETURN_IF_ERROR(CheckSize("w1", e.w1, e.hidden * d));
  CVQ_RETURN_IF_ERROR(CheckSize("b1", e.b1, e.hidden));
  CVQ_RETURN_IF_ERROR(CheckSize("w2", e.w2, 2 * nc * e.hidden));
  return CheckSize("b2", e.b2, 2 * nc);
}

absl::StatusOr<CudaValueCodec> CudaValueCodec::Create(
    const ValueQuantizerParams& params) {
  CVQ_RETURN_IF_ERROR(CheckShape(params));
  CudaValueCodec codec;
  codec.dim_ = params.dim;
  codec.num_code_bits_ = params.num_code_bits;
  codec.hidden_ = params.encoder.hidden;
  const auto upload = [](const std::vector<float>& v, DeviceMemory* out) {
    CVQ_ASSIGN_OR_RETURN(*out, Upload(absl::MakeConstSpan(v)));
    return absl::OkStatus();
  };
  CVQ_RETURN_IF_ERROR(upload(params.codebook, &codec.codebook_));
  CVQ_RETURN_IF_ERROR(upload(params.channel_scale, &codec.channel_scale_));
  const ValueEncoderWeights& e = params.encoder;
  if (e.hidden > 0) {
    CVQ_RETURN_IF_ERROR(upload(e.ln_gamma, &codec.gamma_));
    CVQ_RETURN_IF_ERROR(upload(e.ln_beta, &codec.beta_));
    CVQ_RETURN_IF_ERROR(upload(e.w1, &codec.w1_));
    CVQ_RETURN_IF_ERROR(upload(e.b1, &codec.b1_));
    CVQ_RETURN_IF_ERROR(upload(e.w2, &codec.w2_));
    CVQ_RETURN_IF_ERROR(upload(e.b2, &codec.b2_));
  }
  return codec;
}

int64_t CudaValueCodec::WorkspaceBytes(const ValueQuantizerParams& params,
                                       int64_t max_tokens) {
  return LayoutFor(params.dim, params.num_code_bits, params.encoder.hidden,
                   max_tokens)
      .total;
}

absl::Status CudaValueCodec::Encode(const float* values, int64_t num_tokens,
                                    int64_t max_tokens, void* workspace,
                                    uint32_t* words, float* factor,
                                    const CublasHandle& cublas,
                                    void* stream) const {
  if (!has_encoder()) {
    return absl::FailedPreconditionError(
        "CUDA value codec: the quantizer has no mlp encoder weights "
        "(encoder=search has no GPU path)");
  }
  if (num_tokens < 0 || num_tokens > max_tokens ||
      max_tokens > std::numeric_limits<int32_t>::max()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CUDA value encode: num_tokens ", num_tokens, "; expected 0 to ",
        max_tokens, " (the workspace's size, at most 2^31 - 1)"));
  }
  if (num_tokens == 0) return absl::OkStatus();
  const EncodeLayout layout =
      LayoutFor(dim_, num_code_bits_, hidden_, max_tokens);
  char* base = static_cast<char*>(workspace);
  float* normed = reinterpret_cast<float*>(base + layout.normed);
  float* prescale = reinterpret_cast<float*>(base + layout.prescale);
  float* hidden = reinterpret_cast<float*>(base + layout.hidden);
  float* logits = reinterpret_cast<float*>(base + layout.logits);
  float* bits = reinterpret_cast<float*>(base + layout.bits);
  float* decoded = reinterpret_cast<float*>(base + layout.decoded);
  const int n = static_cast<int>(num_tokens);
  const int d = static_cast<int>(dim_);
  const int nc = static_cast<int>(num_code_bits_);
  const int h = static_cast<int>(hidden_);
  cublasHandle_t handle = static_cast<cublasHandle_t>(cublas.get());
  CVQ_RETURN_IF_ERROR(cublas.Bind(stream));
  const float one = 1.0f;
  const float zero = 0.0f;
  CVQ_RETURN_IF_ERROR(CudaStatus(
      LaunchValuePrepare(values, channel_scale(), gamma_.as<float>(),
                         beta_.as<float>(), n, d, normed, prescale, stream),
      "value prepare launch"));
  // Row-major [n, hidden] = normed [n, d] . w1^T, i.e. column-major
  // hidden^T = w1 (as [d, hidden], transposed) . normed^T.
  CVQ_RETURN_IF_ERROR(
      CublasStatus(cublasSgemm(handle, CUBLAS_OP_T, CUBLAS_OP_N, h, n, d, &one,
                               w1_.as<float>(), d, normed, d, &zero, hidden, h),
                   "value encoder GEMM 1"));
  CVQ_RETURN_IF_ERROR(
      CudaStatus(LaunchBiasGelu(hidden, b1_.as<float>(), n, h, stream),
                 "bias + GELU launch"));
  CVQ_RETURN_IF_ERROR(CublasStatus(
      cublasSgemm(handle, CUBLAS_OP_T, CUBLAS_OP_N, 2 * nc, n, h, &one,
                  w2_.as<float>(), h, hidden, h, &zero, logits, 2 * nc),
      "value encoder GEMM 2"));
  CVQ_RETURN_IF_ERROR(CudaStatus(
      LaunchGroupArgmax(logits, b2_.as<float>(), n, nc, words, bits, stream),
      "group argmax launch"));
  // decoded [n, d] = bits [n, nc] . C [nc, d].
  CVQ_RETURN_IF_ERROR(
      CublasStatus(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, d, n, nc, &one,
                               codebook(), d, bits, nc, &zero, decoded, d),
                   "value decode GEMM"));
  return CudaStatus(LaunchValueFactor(decoded, prescale, n, d, factor, stream),
                    "value factor launch");
}

}  // namespace cuda
}  // namespace commvq
