// The KV-cache interface between a model and the caches that store its keys
// and values: the model appends each layer's pre-RoPE keys and values and
// asks for attention outputs at given positions. Full-precision and
// compressed caches implement it, so model code never changes when the
// storage does.
//
// Keys cross the interface BEFORE RoPE because the CommVQ key quantizer
// encodes pre-RoPE keys (its codebooks commute with the rotation); every
// cache therefore applies RoPE itself, to keys and queries, at the positions
// it knows. Token i of a layer's cache sits at position i.
//
// The public methods validate their arguments (with errors that name the bad
// value) and then call the protected Do* hooks, so every implementation
// accepts and rejects exactly the same calls.
//
// Thread safety: the const methods (Attend, length, StoredBytes) may run
// concurrently with each other; Append and Truncate need exclusive access.
#ifndef COMMVQ_KVCACHE_KV_CACHE_H_
#define COMMVQ_KVCACHE_KV_CACHE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "commvq/kvcache/rope.h"
#include "commvq/tensor/tensor_view.h"

namespace commvq {

// What a cache needs to know about the model's attention.
struct AttentionShape {
  int num_layers = 0;
  int num_heads = 0;     // query heads
  int num_kv_heads = 0;  // divides num_heads (grouped-query attention)
  int head_dim = 0;      // even: RoPE rotates pairs
  double rope_theta = 10000.0;
  // GGUF / llama.cpp checkpoints are interleaved; Hugging Face ones are half.
  PairLayout pair_layout = PairLayout::kInterleaved;

  // Query heads per KV head: query head h reads KV head h / group_size().
  int group_size() const { return num_heads / num_kv_heads; }

  friend bool operator==(const AttentionShape& a, const AttentionShape& b) {
    return a.num_layers == b.num_layers && a.num_heads == b.num_heads &&
           a.num_kv_heads == b.num_kv_heads && a.head_dim == b.head_dim &&
           a.rope_theta == b.rope_theta && a.pair_layout == b.pair_layout;
  }
  friend bool operator!=(const AttentionShape& a, const AttentionShape& b) {
    return !(a == b);
  }
};

// "{layers 30, heads 9, kv_heads 3, head_dim 64, rope_theta 100000,
// pairs interleaved}".
std::string AttentionShapeToString(const AttentionShape& shape);

// InvalidArgument naming the field unless every count is positive,
// num_kv_heads divides num_heads, and RoPE accepts head_dim, rope_theta and
// pair_layout (see Rope::Create).
absl::Status ValidateAttentionShape(const AttentionShape& shape);

// The tensor checks of KvCache::Append and KvCache::Attend (shapes below,
// f32), for caches that hold device memory outside this interface (the C
// ABI's cuda caches): they read no element.
absl::Status CheckAppendTensors(const AttentionShape& shape,
                                const TensorView& keys,
                                const TensorView& values);
absl::Status CheckAttendTensors(const AttentionShape& shape,
                                const TensorView& queries,
                                const TensorView& out, int64_t num_queries);

// The cache of one sequence.
class KvCache {
 public:
  virtual ~KvCache() = default;
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  const AttentionShape& shape() const { return shape_; }

  // Appends t tokens to `layer`; they take positions length(layer) ..
  // length(layer) + t - 1.
  // keys:   [t, num_kv_heads, head_dim] f32, PRE-RoPE.
  // values: [t, num_kv_heads, head_dim] f32.
  absl::Status Append(int layer, const TensorView& keys,
                      const TensorView& values);

  // Causal attention of t queries over this layer's cached tokens: the query
  // at position p attends to positions 0..p with RoPE applied to it and to
  // the keys, scores scaled by 1/sqrt(head_dim), and a max-subtracted
  // softmax. Query head h reads KV head h / shape().group_size().
  // queries:   [t, num_heads, head_dim] f32, PRE-RoPE.
  // positions: [t], strictly increasing, >= 0 and < length(layer) (a query
  //            sees its own token, so append before attending).
  // out:       [t, num_heads, head_dim] f32 (written).
  absl::Status Attend(int layer, const TensorView& queries,
                      absl::Span<const int64_t> positions,
                      const MutableTensorView& out) const;

  // Tokens cached for `layer` (0 <= layer < num_layers). Layers may differ
  // while a forward pass is part-way through the layers.
  virtual int64_t length(int layer) const = 0;

  // Drops every token at position >= `length` from every layer (layers
  // already shorter are unchanged), e.g. to roll back a failed forward pass
  // or to reuse a prompt prefix. InvalidArgument if length < 0.
  absl::Status Truncate(int64_t length);

  // Bytes actually held for keys and values (allocated storage, including
  // any spare capacity and side data), for honest memory comparisons.
  virtual int64_t StoredBytes() const = 0;

 protected:
  // `shape` must have passed ValidateAttentionShape.
  explicit KvCache(const AttentionShape& shape) : shape_(shape) {}

  // The implementation hooks, called with validated arguments only (layer in
  // range, shapes and positions as documented above, t >= 1).
  // keys, values: [num_tokens, num_kv_heads, head_dim], pre-RoPE.
  virtual absl::Status DoAppend(int layer, const float* keys,
                                const float* values, int64_t num_tokens) = 0;
  // queries, out: [positions.size(), num_heads, head_dim].
  virtual absl::Status DoAttend(int layer, const float* queries,
                                absl::Span<const int64_t> positions,
                                float* out) const = 0;
  // length >= 0.
  virtual absl::Status DoTruncate(int64_t length) = 0;

 private:
  // InvalidArgument unless 0 <= layer < num_layers.
  absl::Status CheckLayer(int layer) const;

  const AttentionShape shape_;
};

}  // namespace commvq

#endif  // COMMVQ_KVCACHE_KV_CACHE_H_
