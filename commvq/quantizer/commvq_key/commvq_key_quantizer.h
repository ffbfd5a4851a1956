// `commvq_key`: the RoPE-commutative residual key quantizer of CommVQ
// (docs/METHOD.md sections 3 and 7).
//
// An input vector is a whole pre-RoPE key of a layer: num_kv_heads heads of
// head_dim = dim / num_kv_heads channels (even). It is divided by its L2 norm
// (all heads together; the norm is stored as fp16 side data) and each head
// is encoded by greedy residual search over `stages` codebooks of its own
// (key_codebook.h), with the exact structured search of
// structured_encode.h. A zero vector (or one whose norm rounds to fp16 zero)
// gets all codes 0 and decodes to zero.
//
// Stored per vector: num_kv_heads * stages codes of 2 * half_bits bits,
// packed with PackCodes in the order (head h, stage s) -> h * stages + s,
// plus 2 bytes of norm. Bits per element:
//   (num_kv_heads * stages * 2 * half_bits + 16) / dim.
//
// Payload (little-endian): u32 num_kv_heads, head_dim, half_bits, stages and
// layout (the PairLayout value), then the codebooks as f32
// [num_kv_heads, stages, head_dim / 2, 2^half_bits, 2].
//
// Training is a stand-in (hard_fit.h: codebooks initialized from the
// normalized training residuals, then a few rounds of hard alternating least
// squares, stage after stage) until the EM trainer replaces it.
#ifndef COMMVQ_QUANTIZER_COMMVQ_KEY_COMMVQ_KEY_QUANTIZER_H_
#define COMMVQ_QUANTIZER_COMMVQ_KEY_COMMVQ_KEY_QUANTIZER_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "commvq/quantizer/commvq_key/key_codebook.h"
#include "commvq/quantizer/quantizer.h"

namespace commvq {

std::unique_ptr<QuantizerFactory> MakeCommvqKeyQuantizerFactory();

// A commvq_key quantizer from codebooks trained elsewhere (the EM trainer of
// training/train_keys.h), without the registry: `spec` ("commvq_key" or
// "commvq_key:k=v,...") is resolved against the factory's options and `dim`
// (the whole key, num_kv_heads * head_dim) as Train and Deserialize do, and
// `params` must match what they give: num_kv_heads, stages (the resolved
// count, also when the spec says stages=0), shape.head_dim,
// shape.half_bits and shape.layout, and num_kv_heads * stages codebooks
// each of that shape. InvalidArgument naming the first mismatch (or a spec
// that does not parse, names another quantizer or does not fit `dim`). The
// result serializes, and loads through the registry, like a trained one.
absl::StatusOr<std::unique_ptr<Quantizer>> MakeCommvqKeyQuantizer(
    absl::string_view spec, int64_t dim, KeyQuantizerParams params);

}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_COMMVQ_KEY_COMMVQ_KEY_QUANTIZER_H_
