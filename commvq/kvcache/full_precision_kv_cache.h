// The uncompressed KV cache: every key and value kept in f32. It is the
// reference the compressed caches are measured against (quality and bytes)
// and the cache the model harness uses to dump calibration data.
//
// Keys are rotated by RoPE once, when appended (a token's position never
// changes), and only the rotated keys are kept: the interface never reads
// pre-RoPE keys back, and keeping both would inflate StoredBytes, the
// baseline of every compression ratio. Storage grows and shrinks in blocks of
// `block_tokens` tokens, so appending never copies what is already cached.
//
// Thread safety: as KvCache. Attention is split over (query, head) pairs on
// the optional thread pool; each output row is computed by one thread in a
// fixed order, so results do not depend on the number of threads.
#ifndef COMMVQ_KVCACHE_FULL_PRECISION_KV_CACHE_H_
#define COMMVQ_KVCACHE_FULL_PRECISION_KV_CACHE_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "commvq/kvcache/kv_cache.h"
#include "commvq/kvcache/rope.h"

namespace commvq {

class ThreadPool;

struct FullPrecisionKvCacheOptions {
  // Tokens per storage block (>= 1).
  int64_t block_tokens = 256;
  // Not owned, may be null (everything runs on the calling thread); must
  // outlive the cache.
  ThreadPool* pool = nullptr;
};

class FullPrecisionKvCache final : public KvCache {
 public:
  // InvalidArgument for a shape ValidateAttentionShape rejects or
  // block_tokens < 1.
  static absl::StatusOr<std::unique_ptr<FullPrecisionKvCache>> Create(
      const AttentionShape& shape,
      const FullPrecisionKvCacheOptions& options = {});

  int64_t length(int layer) const override;
  // All allocated blocks: 2 * num_kv_heads * head_dim * 4 bytes per token
  // slot, summed over whole blocks of every layer.
  int64_t StoredBytes() const override;

 private:
  struct Layer {
    int64_t length = 0;
    // Block b holds tokens [b * block_tokens, (b + 1) * block_tokens): first
    // the rotated keys, transposed to [num_kv_heads, head_dim, block_tokens]
    // so that the scores of a block's tokens are computed side by side (a
    // loop that vectorizes without reordering any sum), then the values,
    // [num_kv_heads, block_tokens, head_dim].
    std::vector<std::vector<float>> blocks;
  };

  FullPrecisionKvCache(const AttentionShape& shape, Rope rope,
                       const FullPrecisionKvCacheOptions& options);

  absl::Status DoAppend(int layer, const float* keys, const float* values,
                        int64_t num_tokens) override;
  absl::Status DoAttend(int layer, const float* queries,
                        absl::Span<const int64_t> positions,
                        float* out) const override;
  absl::Status DoTruncate(int64_t length) override;

  // Attention of one rotated query head over tokens [0, num_tokens) of KV
  // head `kv_head` of `layer`.
  // query:  [head_dim], after RoPE.
  // scores: [num_tokens] scratch.
  // out:    [head_dim] (written).
  void AttendHead(const Layer& layer, int kv_head, const float* query,
                  int64_t num_tokens, float* scores, float* out) const;

  int64_t block_floats() const { return 2 * key_floats_per_block_; }

  const Rope rope_;
  const int64_t block_tokens_;
  // num_kv_heads * head_dim * block_tokens: the keys (or the values) of one
  // block.
  const int64_t key_floats_per_block_;
  ThreadPool* const pool_;
  std::vector<Layer> layers_;
};

}  // namespace commvq

#endif  // COMMVQ_KVCACHE_FULL_PRECISION_KV_CACHE_H_
