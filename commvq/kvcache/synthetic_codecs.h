// CommVQ quantizers with random parameters and random encoded tokens, for
// tests and benchmarks of the compressed cache that need the real storage
// format and kernels but no training.
#ifndef COMMVQ_KVCACHE_SYNTHETIC_CODECS_H_
#define COMMVQ_KVCACHE_SYNTHETIC_CODECS_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "commvq/kvcache/compressed_kv_cache.h"
#include "commvq/kvcache/kv_cache.h"
#include "commvq/quantizer/quantizer.h"

namespace commvq {

// commvq_key over all KV heads of `shape` (its pair layout), codebook
// entries ~N(0, 0.2^2).
absl::StatusOr<std::shared_ptr<const Quantizer>> RandomCommvqKeyQuantizer(
    const AttentionShape& shape, int half_bits, int stages, uint64_t seed);

// commvq_value (search encoder) with Nc = bits * dim, codebook ~N(0, 0.3^2),
// channel scales in [0.5, ~3].
absl::StatusOr<std::shared_ptr<const Quantizer>> RandomCommvqValueQuantizer(
    const AttentionShape& shape, int bits, uint64_t seed);

// Random codes and side data of n tokens for `q` (uniform bytes; side data,
// which must decode to finite scalars, is filled with `side_value`'s bytes
// repeated: e.g. an fp16 norm or an f32 factor).
struct EncodedTokens {
  std::vector<uint8_t> codes;  // [n, code_bytes]
  std::vector<uint8_t> side;   // [n / block_vectors, side_bytes]
};
EncodedTokens RandomEncodedTokens(const Quantizer& q, int64_t n,
                                  const std::vector<uint8_t>& side_value,
                                  uint64_t seed);

}  // namespace commvq

#endif  // COMMVQ_KVCACHE_SYNTHETIC_CODECS_H_
