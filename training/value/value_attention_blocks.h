// The data of the attention-output term (value_attention_loss.h) from a
// layer's real queries, keys and values (a KV dump, eval/kv_dump.h): blocks
// of consecutive tokens and the causal attention weights their queries give
// them.
#ifndef COMMVQ_TRAINING_VALUE_VALUE_ATTENTION_BLOCKS_H_
#define COMMVQ_TRAINING_VALUE_VALUE_ATTENTION_BLOCKS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "training/value/value_attention_loss.h"

namespace commvq {

class Rope;
class ThreadPool;

// queries: [tokens, num_heads, head_dim] and keys [tokens, num_kv_heads,
// head_dim] pre-RoPE, values [tokens, num_kv_heads, head_dim]; token j sits
// at position j (head_dim = rope.head_dim()). Block b holds tokens
// [starts[b], starts[b] + window); query i of it (token starts[b] + i) gets
// RoPE at its position and attends causally to every token up to itself
// with the scale 1 / sqrt(head_dim), as the model does. Deterministic
// whatever `pool` (not owned, may be null). InvalidArgument for shapes that
// do not fit (num_heads not a multiple of num_kv_heads, window < 1, a block
// past the end).
absl::StatusOr<ValueAttentionData> BuildValueAttentionData(
    const float* queries, const float* keys, const float* values,
    int64_t tokens, int64_t num_heads, int64_t num_kv_heads, const Rope& rope,
    const std::vector<int64_t>& starts, int64_t window, ThreadPool* pool);

// `count` block starts spread evenly over [0, tokens - window] (fewer when
// the blocks would overlap; none when window > tokens).
std::vector<int64_t> EvenBlockStarts(int64_t tokens, int64_t window,
                                     int64_t count);

}  // namespace commvq

#endif  // COMMVQ_TRAINING_VALUE_VALUE_ATTENTION_BLOCKS_H_
