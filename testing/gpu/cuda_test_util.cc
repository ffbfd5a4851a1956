#include "testing/gpu/cuda_test_util.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "commvq/base/random.h"
#include "commvq/quantizer/commvq_key/commvq_key_quantizer.h"
#include "commvq/quantizer/commvq_key/key_test_data.h"
#include "commvq/quantizer/commvq_value/commvq_value_quantizer.h"
#include "kernels/cuda/device_check.h"

namespace commvq {
namespace testing {

bool CudaDeviceAvailable(std::string* why) {
  int count = 0;
  const cuda::CudaResult result = cuda::CudaDeviceCount(&count);
  if (result.error != 0) {
    *why = absl::StrCat("error ", result.error, ": ", result.message);
    return false;
  }
  if (count == 0) {
    *why = "0 devices";
    return false;
  }
  return true;
}

KeyQuantizerParams RandomKeyParams(int64_t num_kv_heads, int64_t head_dim,
                                   int stages, int half_bits, PairLayout layout,
                                   float scale, uint64_t seed) {
  KeyQuantizerParams params;
  params.num_kv_heads = num_kv_heads;
  params.stages = stages;
  params.shape.head_dim = head_dim;
  params.shape.half_bits = half_bits;
  params.shape.layout = layout;
  for (int64_t k = 0; k < num_kv_heads * stages; ++k) {
    // Later stages code smaller residuals.
    params.codebooks.push_back(RandomKeyCodebook(
        params.shape, scale / static_cast<float>(1 + k % stages), seed + k));
  }
  return params;
}

ValueQuantizerParams RandomValueParams(int64_t num_kv_heads, int64_t head_dim,
                                       int bits, int64_t hidden,
                                       uint64_t seed) {
  Rng rng(seed);
  ValueQuantizerParams p;
  p.dim = num_kv_heads * head_dim;
  p.num_kv_heads = num_kv_heads;
  p.num_code_bits = bits * p.dim;
  p.codebook.resize(p.num_code_bits * p.dim);
  rng.FillNormal(absl::MakeSpan(p.codebook), 0.0f, 0.1f);
  p.channel_scale.resize(p.dim);
  for (float& s : p.channel_scale) {
    s = static_cast<float>(0.5 + rng.Uniform());
  }
  if (hidden == 0) return p;
  ValueEncoderWeights& e = p.encoder;
  e.hidden = hidden;
  e.ln_gamma.resize(p.dim);
  rng.FillNormal(absl::MakeSpan(e.ln_gamma), 1.0f, 0.1f);
  e.ln_beta.resize(p.dim);
  rng.FillNormal(absl::MakeSpan(e.ln_beta), 0.0f, 0.1f);
  e.w1.resize(hidden * p.dim);
  rng.FillNormal(absl::MakeSpan(e.w1), 0.0f,
                 static_cast<float>(1.0 / std::sqrt(double(p.dim))));
  e.b1.resize(hidden);
  rng.FillNormal(absl::MakeSpan(e.b1), 0.0f, 0.1f);
  e.w2.resize(2 * p.num_code_bits * hidden);
  rng.FillNormal(absl::MakeSpan(e.w2), 0.0f,
                 static_cast<float>(1.0 / std::sqrt(double(hidden))));
  e.b2.resize(2 * p.num_code_bits);
  rng.FillNormal(absl::MakeSpan(e.b2), 0.0f, 0.1f);
  return p;
}

absl::StatusOr<std::unique_ptr<Quantizer>> KeyQuantizerOf(
    KeyQuantizerParams params) {
  const std::string spec = absl::StrCat(
      "commvq_key:num_kv_heads=", params.num_kv_heads,
      ",half_bits=", params.shape.half_bits, ",stages=", params.stages,
      ",layout=", PairLayoutName(params.shape.layout));
  const int64_t dim = params.num_kv_heads * params.shape.head_dim;
  return MakeCommvqKeyQuantizer(spec, dim, std::move(params));
}

absl::StatusOr<std::unique_ptr<Quantizer>> ValueQuantizerOf(
    ValueQuantizerParams params, int bits) {
  const std::string spec = CommvqValueSpec(
      params.num_kv_heads, bits, params.encoder.hidden > 0 ? "mlp" : "search");
  const int64_t dim = params.dim;
  return MakeCommvqValueQuantizer(spec, dim, std::move(params));
}

}  // namespace testing
}  // namespace commvq
