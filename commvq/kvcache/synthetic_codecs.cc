#include "commvq/kvcache/synthetic_codecs.h"

#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "commvq/base/random.h"
#include "commvq/base/status_macros.h"
#include "commvq/quantizer/commvq_key/commvq_key_quantizer.h"
#include "commvq/quantizer/commvq_value/commvq_value_quantizer.h"

namespace commvq {
namespace {

std::vector<float> Normal(int64_t size, float stddev, uint64_t seed) {
  std::vector<float> v(size);
  Rng(seed).FillNormal(absl::MakeSpan(v), 0.0f, stddev);
  return v;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const Quantizer>> RandomCommvqKeyQuantizer(
    const AttentionShape& shape, int half_bits, int stages, uint64_t seed) {
  KeyQuantizerParams params;
  params.num_kv_heads = shape.num_kv_heads;
  params.stages = stages;
  params.shape.head_dim = shape.head_dim;
  params.shape.half_bits = half_bits;
  params.shape.layout = shape.pair_layout;
  for (int k = 0; k < params.num_kv_heads * stages; ++k) {
    CVQ_ASSIGN_OR_RETURN(
        KeyCodebook codebook,
        KeyCodebook::Create(params.shape,
                            Normal(params.shape.num_floats(), 0.2f, seed + k)));
    params.codebooks.push_back(std::move(codebook));
  }
  const std::string spec = absl::StrCat(
      "commvq_key:num_kv_heads=", shape.num_kv_heads, ",half_bits=", half_bits,
      ",stages=", stages, ",layout=",
      shape.pair_layout == PairLayout::kHalf ? "half" : "interleaved");
  CVQ_ASSIGN_OR_RETURN(
      std::unique_ptr<Quantizer> q,
      MakeCommvqKeyQuantizer(spec, int64_t{shape.num_kv_heads} * shape.head_dim,
                             std::move(params)));
  return std::shared_ptr<const Quantizer>(std::move(q));
}

absl::StatusOr<std::shared_ptr<const Quantizer>> RandomCommvqValueQuantizer(
    const AttentionShape& shape, int bits, uint64_t seed) {
  ValueQuantizerParams params;
  params.num_kv_heads = shape.num_kv_heads;
  params.dim = int64_t{shape.num_kv_heads} * shape.head_dim;
  params.num_code_bits = bits * params.dim;
  params.codebook = Normal(params.num_code_bits * params.dim, 0.3f, seed);
  params.channel_scale = Normal(params.dim, 1.0f, seed + 1);
  for (float& c : params.channel_scale) c = std::abs(c) + 0.5f;
  CVQ_ASSIGN_OR_RETURN(
      std::unique_ptr<Quantizer> q,
      MakeCommvqValueQuantizer(CommvqValueSpec(shape.num_kv_heads, bits, "search"),
                               params.dim, std::move(params)));
  return std::shared_ptr<const Quantizer>(std::move(q));
}

EncodedTokens RandomEncodedTokens(const Quantizer& q, int64_t n,
                                  const std::vector<uint8_t>& side_value,
                                  uint64_t seed) {
  const CodeLayout& layout = q.layout();
  EncodedTokens tokens;
  tokens.codes.resize(n * layout.code_bytes);
  Rng rng(seed);
  for (size_t i = 0; i < tokens.codes.size(); i += 8) {
    const uint64_t word = rng.NextU64();
    for (size_t b = 0; b < 8 && i + b < tokens.codes.size(); ++b) {
      tokens.codes[i + b] = static_cast<uint8_t>(word >> (8 * b));
    }
  }
  tokens.side.resize(n / layout.block_vectors * layout.side_bytes);
  for (size_t i = 0; i < tokens.side.size(); ++i) {
    tokens.side[i] = side_value[i % side_value.size()];
  }
  return tokens;
}

}  // namespace commvq
