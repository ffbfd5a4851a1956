// The codebooks of a `commvq_key` quantizer as the flat arrays the attention
// kernels read (kernels/reference/attention_key_reference.h), taken from the
// quantizer's own serialized payload (layout in commvq_key_quantizer.h), so
// the cache computes attention with exactly the codebooks that encoded its
// keys.
#ifndef COMMVQ_KVCACHE_COMMVQ_KEY_ARRAYS_H_
#define COMMVQ_KVCACHE_COMMVQ_KEY_ARRAYS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "commvq/base/pair_layout.h"
#include "commvq/quantizer/quantizer.h"
#include "kernels/reference/attention_key_reference.h"

namespace commvq {

struct CommvqKeyArrays {
  int64_t num_kv_heads = 0;
  int stages = 0;
  int half_bits = 0;
  int64_t head_dim = 0;
  PairLayout layout = PairLayout::kUnspecified;
  // [num_kv_heads, stages, head_dim / 2, 2^half_bits, 2].
  std::vector<float> z;
  // MakeKeyCentrePlanesReference of each head:
  // [num_kv_heads, stages, 2, 2^half_bits, 2, head_dim / 2].
  std::vector<float> planes;

  // The codebooks of KV head h (z; planes of head h start at
  // h * floats_per_head_planes()).
  KeyCodebookArrays head(int64_t h) const;
  int64_t floats_per_head() const {
    return int64_t{stages} * (head_dim / 2) * (int64_t{1} << half_bits) * 2;
  }
  int64_t floats_per_head_planes() const { return 2 * floats_per_head(); }
  // Bits of one code; codes of head h start at code h * stages of a row.
  int code_bits() const { return 2 * half_bits; }
};

// The arrays of `quantizer`, which must be a commvq_key quantizer
// (InvalidArgument naming the quantizer otherwise, or for a payload that
// does not have the documented layout).
absl::StatusOr<CommvqKeyArrays> CommvqKeyArraysOf(const Quantizer& quantizer);

}  // namespace commvq

#endif  // COMMVQ_KVCACHE_COMMVQ_KEY_ARRAYS_H_
