#include "kernels/cuda/value_codec.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "commvq/base/status_macros.h"
#include "commvq/quantizer/commvq_value/commvq_value_quantizer.h"
#include "commvq/quantizer/commvq_value/mlp_encode.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/value_kernels.h"
#include "kernels/cuda/value_search_kernels.h"

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

// Offsets of Encode's scratch arrays. `normed` holds the mlp's LayerNorm
// output or the search's unit rows; logits are the mlp's, dots and relaxed
// (h0 = C W u; y = R u, then h0 - G [y > 1/2]) the search's.
struct EncodeLayout {
  int64_t normed, prescale, hidden, logits, dots, relaxed, bits, decoded, total;
};

EncodeLayout LayoutFor(int64_t dim, int64_t nc, int64_t hidden,
                       int64_t tokens) {
  WorkspaceLayout layout;
  EncodeLayout result;
  const int64_t f = sizeof(float);
  const bool search = hidden == 0;
  result.normed = layout.Add(tokens * dim * f);
  result.prescale = layout.Add(tokens * f);
  result.hidden = layout.Add(tokens * hidden * f);
  result.logits = layout.Add(search ? 0 : tokens * 2 * nc * f);
  result.dots = layout.Add(search ? tokens * nc * f : 0);
  result.relaxed = layout.Add(search ? tokens * nc * f : 0);
  result.bits = layout.Add(tokens * nc * f);
  result.decoded = layout.Add(tokens * dim * f);
  result.total = layout.total();
  return result;
}

// out [n, m] = in [n, k] . M^T for M [m, k], all row-major: column-major
// out^T = M (as [k, m], transposed) . in^T.
absl::Status TimesTransposed(const CublasHandle& cublas, const float* matrix,
                             int m, int k, const float* in, int n, float* out,
                             const char* what) {
  const float one = 1.0f;
  const float zero = 0.0f;
  return CublasStatus(
      cublasSgemm(static_cast<cublasHandle_t>(cublas.get()), CUBLAS_OP_T,
                  CUBLAS_OP_N, m, n, k, &one, matrix, k, in, k, &zero, out, m),
      what);
}

// out [n, m] -= in [n, m] . G for a symmetric G [m, m], all row-major
// (column-major: out^T -= G . in^T).
absl::Status SubtractTimesSymmetric(const CublasHandle& cublas,
                                    const float* symmetric, int m,
                                    const float* in, int n, float* out,
                                    const char* what) {
  const float minus_one = -1.0f;
  const float one = 1.0f;
  return CublasStatus(
      cublasSgemm(static_cast<cublasHandle_t>(cublas.get()), CUBLAS_OP_N,
                  CUBLAS_OP_N, m, n, m, &minus_one, symmetric, m, in, m, &one,
                  out, m),
      what);
}

absl::Status CheckSearchOptions(const ValueSearchOptions& search) {
  if (search.sweeps < 1 || search.restarts < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CUDA value codec: search sweeps ", search.sweeps, " and restarts ",
        search.restarts, "; expected sweeps >= 1 and restarts >= 0"));
  }
  return absl::OkStatus();
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
    const ValueQuantizerParams& params, const ValueSearchOptions& search) {
  CVQ_RETURN_IF_ERROR(CheckShape(params));
  if (params.encoder.hidden == 0)
    CVQ_RETURN_IF_ERROR(CheckSearchOptions(search));
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
  } else {
    CVQ_RETURN_IF_ERROR(codec.UploadSearchTables(params, search));
  }
  return codec;
}

absl::Status CudaValueCodec::UploadSearchTables(
    const ValueQuantizerParams& params, const ValueSearchOptions& search) {
  const int64_t nc = params.num_code_bits;
  const int64_t d = params.dim;
  int64_t shared_limit = 0;
  CVQ_RETURN_IF_ERROR(CudaStatus(ValueSearchSharedLimit(&shared_limit),
                                 "value search shared memory query"));
  if (ValueSearchSharedBytes(nc) > shared_limit) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CUDA value codec: num_code_bits ", nc, " needs ",
        ValueSearchSharedBytes(nc),
        " bytes of shared memory per block for the search; expected at most ",
        shared_limit, " (this device's limit)"));
  }
  sweeps_ = search.sweeps;
  restarts_ = search.restarts;
  // The CPU quantizer's encoder and tables, so both search the same
  // objective from the same starts.
  const std::vector<float> weights = SearchWeights(params.channel_scale);
  const ValueSearchEncoder encoder(params.codebook.data(), nc, d, search,
                                   weights.data());
  const ValueSearchEncoder::Tables tables = encoder.tables();
  const auto upload = [](const float* data, int64_t count, DeviceMemory* out) {
    CVQ_ASSIGN_OR_RETURN(*out, Upload(absl::MakeConstSpan(data, count)));
    return absl::OkStatus();
  };
  CVQ_RETURN_IF_ERROR(upload(tables.weighted, nc * d, &weighted_));
  CVQ_RETURN_IF_ERROR(upload(tables.weights, d, &weights_));
  CVQ_RETURN_IF_ERROR(upload(tables.gram, nc * nc, &gram_));
  if (tables.relaxed != nullptr) {
    CVQ_RETURN_IF_ERROR(upload(tables.relaxed, nc * d, &relaxed_));
  }
  std::vector<float> pair_gram(3 * (nc / 2));
  for (int64_t g = 0; g < nc / 2; ++g) {
    const int64_t i = 2 * g;
    pair_gram[3 * g] = tables.gram[i * nc + i];
    pair_gram[3 * g + 1] = tables.gram[(i + 1) * nc + i + 1];
    pair_gram[3 * g + 2] = tables.gram[i * nc + i + 1];
  }
  CVQ_RETURN_IF_ERROR(upload(pair_gram.data(), nc / 2 * 3, &pair_gram_));
  if (restarts_ > 0) {
    std::vector<uint8_t> starts(restarts_ * nc);
    for (int r = 1; r <= restarts_; ++r) {
      ValueSearchEncoder::RestartStart(r, nc, &starts[(r - 1) * nc]);
    }
    CVQ_ASSIGN_OR_RETURN(restart_bits_, Upload(absl::MakeConstSpan(starts)));
    // G s_r of each fixed start, so no token recomputes it.
    std::vector<float> starts_gram(restarts_ * nc);
    for (int r = 0; r < restarts_; ++r) {
      for (int64_t k = 0; k < nc; ++k) {
        double sum = 0.0;
        for (int64_t i = 0; i < nc; ++i) {
          if (starts[r * nc + i]) sum += tables.gram[i * nc + k];
        }
        starts_gram[r * nc + k] = static_cast<float>(sum);
      }
    }
    CVQ_RETURN_IF_ERROR(
        upload(starts_gram.data(), restarts_ * nc, &restart_gram_));
  }
  return absl::OkStatus();
}

int64_t CudaValueCodec::WorkspaceBytes(const ValueQuantizerParams& params,
                                       int64_t max_tokens) {
  return LayoutFor(params.dim, params.num_code_bits, params.encoder.hidden,
                   max_tokens)
      .total;
}

// Encode's scratch arrays in a workspace (EncodeLayout).
struct CudaValueCodec::Scratch {
  float *normed, *prescale, *hidden, *logits, *dots, *relaxed, *bits, *decoded;
};

CudaValueCodec::Scratch CudaValueCodec::ScratchIn(void* workspace,
                                                  int64_t max_tokens) const {
  const EncodeLayout layout =
      LayoutFor(dim_, num_code_bits_, hidden_, max_tokens);
  char* base = static_cast<char*>(workspace);
  const auto at = [base](int64_t offset) {
    return reinterpret_cast<float*>(base + offset);
  };
  return {at(layout.normed), at(layout.prescale), at(layout.hidden),
          at(layout.logits), at(layout.dots),     at(layout.relaxed),
          at(layout.bits),   at(layout.decoded)};
}

absl::Status CudaValueCodec::Encode(const float* values, int64_t num_tokens,
                                    int64_t max_tokens, void* workspace,
                                    uint32_t* words, float* factor,
                                    const CublasHandle& cublas,
                                    void* stream) const {
  if (num_tokens < 0 || num_tokens > max_tokens ||
      max_tokens > std::numeric_limits<int32_t>::max()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CUDA value encode: num_tokens ", num_tokens, "; expected 0 to ",
        max_tokens, " (the workspace's size, at most 2^31 - 1)"));
  }
  if (num_tokens == 0) return absl::OkStatus();
  const int n = static_cast<int>(num_tokens);
  const Scratch scratch = ScratchIn(workspace, max_tokens);
  CVQ_RETURN_IF_ERROR(cublas.Bind(stream));
  // Both encoders leave prescale and the f32 bits in the scratch.
  CVQ_RETURN_IF_ERROR(
      has_encoder() ? EncodeMlp(values, n, scratch, words, cublas, stream)
                    : EncodeSearch(values, n, scratch, words, cublas, stream));
  const int d = static_cast<int>(dim_);
  const int nc = static_cast<int>(num_code_bits_);
  const float one = 1.0f;
  const float zero = 0.0f;
  // decoded [n, d] = bits [n, nc] . C [nc, d].
  CVQ_RETURN_IF_ERROR(CublasStatus(
      cublasSgemm(static_cast<cublasHandle_t>(cublas.get()), CUBLAS_OP_N,
                  CUBLAS_OP_N, d, n, nc, &one, codebook(), d, scratch.bits, nc,
                  &zero, scratch.decoded, d),
      "value decode GEMM"));
  return CudaStatus(LaunchValueFactor(scratch.decoded, scratch.prescale, n, d,
                                      factor, stream),
                    "value factor launch");
}

absl::Status CudaValueCodec::EncodeMlp(const float* values, int n,
                                       const Scratch& scratch, uint32_t* words,
                                       const CublasHandle& cublas,
                                       void* stream) const {
  const int d = static_cast<int>(dim_);
  const int nc = static_cast<int>(num_code_bits_);
  const int h = static_cast<int>(hidden_);
  CVQ_RETURN_IF_ERROR(
      CudaStatus(LaunchValuePrepare(values, channel_scale(), gamma_.as<float>(),
                                    beta_.as<float>(), n, d, scratch.normed,
                                    scratch.prescale, stream),
                 "value prepare launch"));
  CVQ_RETURN_IF_ERROR(TimesTransposed(cublas, w1_.as<float>(), h, d,
                                      scratch.normed, n, scratch.hidden,
                                      "value encoder GEMM 1"));
  CVQ_RETURN_IF_ERROR(
      CudaStatus(LaunchBiasGelu(scratch.hidden, b1_.as<float>(), n, h, stream),
                 "bias + GELU launch"));
  CVQ_RETURN_IF_ERROR(TimesTransposed(cublas, w2_.as<float>(), 2 * nc, h,
                                      scratch.hidden, n, scratch.logits,
                                      "value encoder GEMM 2"));
  return CudaStatus(LaunchGroupArgmax(scratch.logits, b2_.as<float>(), n, nc,
                                      words, scratch.bits, stream),
                    "group argmax launch");
}

absl::Status CudaValueCodec::EncodeSearch(const float* values, int n,
                                          const Scratch& scratch,
                                          uint32_t* words,
                                          const CublasHandle& cublas,
                                          void* stream) const {
  const int d = static_cast<int>(dim_);
  const int nc = static_cast<int>(num_code_bits_);
  CVQ_RETURN_IF_ERROR(
      CudaStatus(LaunchValueUnit(values, channel_scale(), n, d, scratch.normed,
                                 scratch.prescale, stream),
                 "value unit launch"));
  // h0 = C W u for every token at once.
  CVQ_RETURN_IF_ERROR(TimesTransposed(cublas, weighted_.as<float>(), nc, d,
                                      scratch.normed, n, scratch.dots,
                                      "value search dots GEMM"));
  const bool has_relaxed = relaxed_.data() != nullptr;
  if (has_relaxed) {
    // y = (G + eps I)^-1 C W u: the least-squares start s0 = [y > 1/2]
    // (into `bits`), then h of that start, h0 - G s0, over `relaxed`.
    CVQ_RETURN_IF_ERROR(TimesTransposed(cublas, relaxed_.as<float>(), nc, d,
                                        scratch.normed, n, scratch.relaxed,
                                        "value search relaxed start GEMM"));
    CVQ_RETURN_IF_ERROR(
        CudaStatus(LaunchThresholdBits(scratch.relaxed, int64_t{n} * nc,
                                       scratch.bits, stream),
                   "relaxed start threshold launch"));
    CVQ_RETURN_IF_ERROR(CudaStatus(
        cudaMemcpyAsync(scratch.relaxed, scratch.dots,
                        sizeof(float) * n * nc, cudaMemcpyDeviceToDevice,
                        static_cast<cudaStream_t>(stream)),
        "start dots copy"));
    CVQ_RETURN_IF_ERROR(SubtractTimesSymmetric(
        cublas, gram_.as<float>(), nc, scratch.bits, n, scratch.relaxed,
        "value search start GEMM"));
  }
  DeviceSearchTables tables;
  tables.dim = d;
  tables.num_code_bits = nc;
  tables.sweeps = sweeps_;
  tables.restarts = restarts_;
  tables.codebook = codebook();
  tables.weights = weights_.as<float>();
  tables.gram = gram_.as<float>();
  tables.pair_gram = pair_gram_.as<float>();
  tables.restart_bits = restart_bits_.as<uint8_t>();
  tables.restart_gram = restart_gram_.as<float>();
  return CudaStatus(
      LaunchValueSearch(tables, scratch.normed, scratch.prescale, scratch.dots,
                        has_relaxed ? scratch.relaxed : nullptr, n, words,
                        scratch.bits, stream),
      "value search launch");
}

}  // namespace cuda
}  // namespace commvq
