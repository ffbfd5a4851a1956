// `commvq_value`: the CommVQ value quantizer (docs/METHOD.md section 2,
// value_codebook.h). An input vector is one token's values of all KV heads
// of a layer (dim = num_kv_heads * head_dim). It is divided by the
// per-channel scale and by its L2 norm p, encoded to Nc code bits by the
// `search` (search_encode.h) or `mlp` (mlp_encode.h) encoder, and stored
// with the f32 factor f = p / ||s C|| (0 for a zero vector), so that
//   decode = channel_scale * f * s C
// keeps the norm of the scaled input and is linear in the bits.
//
// Stored per vector: ceil(Nc / 8) code bytes (LSB-first) + 4 side bytes
// (f). Bits per element: (8 ceil(Nc / 8) + 32) / dim. The search weighs
// channel c by channel_scale[c]^2, so it minimizes the error of the decoded
// values (before the norm rescale), not of the scaled ones.
//
// Options: num_kv_heads; bits (1 or 2) giving Nc = bits * dim rounded up to
// even, or code_bits (even, > 0) to set Nc directly; encoder (search or
// mlp); sweeps, restarts and relaxed_start of the search; iterations of
// the registry's trainer.
//
// The registry's Train is light: channel scale = mean |x|, then
// TrainValueCodebookBySearch (least squares alternating with the search
// encoder). It trains encoder=search only; an `mlp` quantizer comes from
// the full trainer (training/value/) through MakeCommvqValueQuantizer.
//
// Payload (little-endian): u32 num_kv_heads, num_code_bits, hidden; f32
// channel_scale [dim], codebook [Nc, dim]; when hidden > 0 the encoder's
// f32 ln_gamma [dim], ln_beta [dim], w1 [hidden, dim], b1 [hidden],
// w2 [2 Nc, hidden], b2 [2 Nc].
#ifndef COMMVQ_QUANTIZER_COMMVQ_VALUE_COMMVQ_VALUE_QUANTIZER_H_
#define COMMVQ_QUANTIZER_COMMVQ_VALUE_COMMVQ_VALUE_QUANTIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "commvq/quantizer/commvq_value/search_encode.h"
#include "commvq/quantizer/commvq_value/value_codebook.h"
#include "commvq/quantizer/quantizer.h"

namespace commvq {

std::unique_ptr<QuantizerFactory> MakeCommvqValueQuantizerFactory();

// The spec of a quantizer with these settings (other options default).
std::string CommvqValueSpec(int64_t num_kv_heads, int bits,
                            absl::string_view encoder);

// A commvq_value quantizer from parameters trained elsewhere: `spec` is
// resolved as Train and Deserialize do for `dim`, and `params` must match it
// (dim, num_kv_heads, num_code_bits, the sizes of every vector, finite
// values, channel_scale > 0, encoder weights present exactly when the spec
// says encoder=mlp). InvalidArgument naming the first mismatch.
absl::StatusOr<std::unique_ptr<Quantizer>> MakeCommvqValueQuantizer(
    absl::string_view spec, int64_t dim, ValueQuantizerParams params);

// The weights of the search objective: channel_scale[c]^2.
std::vector<float> SearchWeights(const std::vector<float>& channel_scale);

// The parameters of a commvq_value quantizer (what the compressed cache and
// the attention kernels decode with), or null for any other quantizer.
const ValueQuantizerParams* CommvqValueParams(const Quantizer& quantizer);

// The search settings of a commvq_value quantizer (used when it has no mlp
// encoder weights), or null for any other quantizer.
const ValueSearchOptions* CommvqValueSearchOptions(const Quantizer& quantizer);

}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_COMMVQ_VALUE_COMMVQ_VALUE_QUANTIZER_H_
