// The compressed KV cache: keys and values of each layer encoded by
// quantizers (any of the registry: baselines decode and attend, CommVQ keys
// are attended on their codes), in fixed-size pages allocated as a sequence
// grows, behind a full-precision window of the most recent tokens.
//
// Window: the newest tokens stay in f32 (pre-RoPE) until the window holds
// `window` tokens plus a whole chunk; then the oldest whole chunks are
// encoded. A chunk is the least common multiple of the key and value
// quantizers' block sizes (1 for per-token quantizers, so a window of 0
// encodes every token at once; 32 for KIVI's per-channel keys, whose newest
// partial block must stay in the window).
//
// Attention (KvCache::Attend): the query is rotated to its position; the
// scores of compressed tokens come from the CommVQ key kernels when the key
// quantizer is commvq_key (kernels/cpu/attention_kernels.h; table or decode
// kernel per `key_kernel`, the decode kernel on int16 centre planes: scores
// within ~1e-4 of their size of the f32 decode), otherwise from keys
// decoded for the call and rotated; the window's scores are dense. One
// max-subtracted softmax spans the compressed tokens and the window. Values
// of a commvq_value quantizer are attended on their code bits (weight x
// factor of all query heads accumulated per 4-bit group of code bits, one
// product with the codebook per query head); others are decoded.
//
// Sequences: a KvCache holds one sequence. A batch is several caches built
// from one shared CompressedCacheCodecs (the per-layer quantizers and their
// kernel arrays, stored once); AttendBatch runs one decode step of all of
// them together.
//
// Thread safety: as KvCache. Attention runs query by query in phases, each
// split over the optional pool: key scores over (KV head, page range)
// items, softmax over query heads, values over KV heads (or code bytes);
// every output element is computed by one thread in a fixed order, so
// results do not depend on the number of threads.
//
// Scratch: Attend on codes (commvq_key, commvq_value) allocates nothing
// once its buffers have grown to the sizes of its calls (other quantizers'
// Decode may allocate). A call takes a workspace from the cache's free list
// (making one when all are in use by concurrent calls), grows its buffers
// when they are too small and gives it back; within it every pool thread
// has its own kernel scratch. Buffers only grow (geometrically, as
// std::vector does), until Clear.
#ifndef COMMVQ_KVCACHE_COMPRESSED_KV_CACHE_H_
#define COMMVQ_KVCACHE_COMPRESSED_KV_CACHE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "commvq/kvcache/commvq_key_arrays.h"
#include "commvq/kvcache/kv_cache.h"
#include "commvq/kvcache/rope.h"
#include "commvq/quantizer/commvq_value/value_codebook.h"
#include "commvq/quantizer/quantizer.h"
#include "commvq/tensor/tensor_view.h"

namespace commvq {

class ThreadPool;
struct AttentionKernels;

// The quantizers of one layer: inputs are whole rows of the layer,
// num_kv_heads * head_dim channels (keys pre-RoPE).
struct LayerQuantizers {
  std::shared_ptr<const Quantizer> key;
  std::shared_ptr<const Quantizer> value;
};

// Everything the caches of a batch share: per layer, the quantizers and,
// for commvq_key, the kernel arrays. Immutable.
class CompressedCacheCodecs {
 public:
  struct Layer {
    LayerQuantizers quantizers;
    // Set when the keys are attended on their codes.
    std::optional<CommvqKeyArrays> key_arrays;
    // Set (owned by quantizers.value) when the values are attended on their
    // codes: a commvq_value quantizer, f32 factor as side data.
    const ValueQuantizerParams* value_params = nullptr;
    // Tokens encoded together: lcm of both quantizers' block sizes.
    int64_t chunk_tokens = 1;
  };

  // One entry per layer of `shape`. InvalidArgument naming the layer when a
  // quantizer is missing, its dim is not num_kv_heads * head_dim, or a
  // commvq_key quantizer's heads, head_dim or pair layout differ from the
  // shape's.
  static absl::StatusOr<std::shared_ptr<const CompressedCacheCodecs>> Create(
      const AttentionShape& shape, std::vector<LayerQuantizers> layers);

  const AttentionShape& shape() const { return shape_; }
  const Layer& layer(int l) const { return layers_[l]; }
  // Bytes of all trained parameters (codebooks, kernel arrays included).
  int64_t ParameterBytes() const;

 private:
  CompressedCacheCodecs(const AttentionShape& shape, std::vector<Layer> layers)
      : shape_(shape), layers_(std::move(layers)) {}

  AttentionShape shape_;
  std::vector<Layer> layers_;
};

// How the scores of CommVQ keys are computed.
enum class KeyKernel {
  // decode: measured faster at every GQA ratio on AVX2/AVX-512 CPUs (keys
  // 3.3x at ratio 1, 10x at ratio 4; commvq bench attention); the table
  // kernel stays as the paper's formulation and for comparison.
  kAuto,
  kTable,   // per query head: table of q . codebook, gather and sum
  kDecode,  // per KV head: decode, rotate, dot with each query head
};

// Wall time of the phases of Attend, summed over calls: to see where the
// time goes (commvq bench attention).
struct AttendPhaseTimes {
  double prepare_ms = 0.0;  // query / window rotation, side scalars, decoding
  double key_ms = 0.0;      // scores of the encoded tokens
  double softmax_ms = 0.0;  // window scores, softmax, dense values
  double value_ms = 0.0;    // values attended on their codes
};

struct CompressedKvCacheOptions {
  // Full-precision recent tokens (>= 0).
  int64_t window = 128;
  // Tokens per page (>= 1), rounded up to a whole number of chunks.
  int64_t page_tokens = 256;
  // Most tokens per layer (0: no limit); appends beyond it are OutOfRange.
  // The cuda backend allocates this many up front (cuda_cache.h).
  int64_t capacity = 0;
  KeyKernel key_kernel = KeyKernel::kAuto;
  // Full-precision prefill (docs/METHOD.md section 4: the official runtime
  // attends over a prompt in full precision and quantizes afterwards): the
  // tokens of one Append stay in the window until the next Append, which
  // first encodes what they push beyond `window`. Off: an Append encodes at
  // once, so a prompt's early queries already see compressed keys.
  bool full_precision_prefill = false;
  // Null: the kernels SelectedAttentionKernels() picks.
  const AttentionKernels* kernels = nullptr;
  // Not owned, may be null; must outlive the cache.
  ThreadPool* pool = nullptr;
  // Not owned, may be null: every Attend adds its phases' wall times here
  // (so Attend calls must not run concurrently on the cache while it is set).
  AttendPhaseTimes* phase_times = nullptr;
};

// Bytes held, by component (allocated storage, all layers).
struct CompressedKvCacheMemory {
  int64_t codes = 0;       // packed key and value codes of encoded tokens
  int64_t side = 0;        // their side data (norms, factors, scales)
  int64_t window = 0;      // the full-precision window (f32 keys and values)
  int64_t page_slack = 0;  // codes and side of page slots not yet used
  int64_t codebooks = 0;   // quantizer parameters, shared by a batch
  int64_t rope_table = 0;  // cos / sin of cached positions, for all layers
  int64_t workspace = 0;   // Attend's reusable scratch (all its workspaces)

  // What KvCache::StoredBytes reports: the per-sequence KV storage
  // (codes, side, window, page slack); codebooks, the RoPE table and the
  // workspace are reported apart because they do not grow with the cache's
  // contents per KV element.
  int64_t kv_bytes() const { return codes + side + window + page_slack; }
  int64_t total() const {
    return kv_bytes() + codebooks + rope_table + workspace;
  }
};

class CompressedKvCache final : public KvCache {
 public:
  // InvalidArgument for window < 0 or page_tokens < 1 (naming the option).
  static absl::StatusOr<std::unique_ptr<CompressedKvCache>> Create(
      std::shared_ptr<const CompressedCacheCodecs> codecs,
      const CompressedKvCacheOptions& options = {});
  ~CompressedKvCache() override;

  int64_t length(int layer) const override;
  int64_t StoredBytes() const override { return Memory().kv_bytes(); }
  CompressedKvCacheMemory Memory() const;
  // Tokens of `layer` held encoded (the rest are in the window).
  int64_t encoded_length(int layer) const;
  // Name of the key-score kernel this cache uses ("table", "decode" or
  // "dense" when keys are decoded first) with the kernels' ISA.
  std::string KeyKernelName() const;
  const CompressedCacheCodecs& codecs() const { return *codecs_; }

  // Removes every token of every layer (pages and Attend's workspaces are
  // freed).
  void Clear();

  // Allocations of Attend's scratch since creation or Clear: workspaces
  // made and buffers grown. Calls no larger than earlier ones add none.
  int64_t workspace_allocations() const { return workspace_allocations_; }

  // Appends n tokens to `layer` that its quantizers already encoded (codes
  // and side as Quantizer::Encode writes them: [n, code_bytes] and
  // [n / block_vectors, side_bytes] u8), straight into the pages: to
  // restore a saved cache, or to fill one for a benchmark without encoding.
  // FailedPrecondition unless the layer's window is empty; InvalidArgument
  // unless n is a whole number of chunks and the shapes match.
  absl::Status AppendEncoded(int layer, const TensorView& key_codes,
                             const TensorView& key_side,
                             const TensorView& value_codes,
                             const TensorView& value_side);

 private:
  struct Layer {
    int64_t encoded = 0;  // tokens in pages, a multiple of chunk_tokens
    // Page p holds tokens [p * page_tokens, (p + 1) * page_tokens): key
    // codes, key side, value codes, value side (offsets in PageLayout),
    // plus kPagePadding zero bytes.
    std::vector<std::vector<uint8_t>> pages;
    // The window: tokens [encoded, encoded + window_tokens), pre-RoPE,
    // [window_tokens, num_kv_heads, head_dim] each.
    std::vector<float> window_keys;
    std::vector<float> window_values;
    int64_t window_count = 0;
    int64_t window_tokens() const;
  };
  struct PageLayout {
    int64_t key_codes = 0, key_side = 0, value_codes = 0, value_side = 0;
    int64_t bytes = 0;  // without padding
  };
  // What one Attend call prepares for its items.
  struct Prepared;
  // The buffers of one Attend call, reused by later calls.
  struct Workspace;
  // Takes a free workspace (or makes one) and gives it back when destroyed.
  class WorkspaceLease;

  CompressedKvCache(std::shared_ptr<const CompressedCacheCodecs> codecs,
                    Rope rope, const CompressedKvCacheOptions& options);

  absl::Status DoAppend(int layer, const float* keys, const float* values,
                        int64_t num_tokens) override;
  absl::Status DoAttend(int layer, const float* queries,
                        absl::Span<const int64_t> positions,
                        float* out) const override;
  absl::Status DoTruncate(int64_t length) override;

  // Encodes the oldest `count` window tokens (a multiple of the chunk).
  absl::Status EncodeFromWindow(int layer, int64_t count);
  // Adds `count` tokens (a multiple of the chunk) to the pages of `layer`,
  // allocating pages as needed: write(page, slot, done, n) fills the slots
  // [slot, slot + n) of `page` with tokens [done, done + n) of the count.
  absl::Status AddToPages(
      int layer, int64_t count,
      const std::function<absl::Status(uint8_t* page, int64_t slot,
                                       int64_t done, int64_t n)>& write);
  // Decodes tokens [begin, begin + count) of the pages of `layer`, pre-RoPE
  // keys and values, each [count, num_kv_heads, head_dim]; begin and
  // begin + count - 1 must lie in one page, begin a multiple of the chunk
  // and count a multiple of the chunk.
  absl::Status DecodeRange(int layer, int64_t begin, int64_t count,
                           float* keys, float* values) const;
  // Grows the RoPE table to cover positions [0, length).
  void GrowRopeTable(int64_t length);
  PageLayout LayoutOf(int layer) const;
  // Attention of every query head of query i (out: [num_heads, head_dim]),
  // in phases each split over the pool.
  void AttendQuery(int layer, const Prepared& prepared, int64_t i,
                   Workspace& workspace, float* out) const;
  // Adds the value half of the encoded tokens [0, encoded) to `out`, from
  // the softmax weights [num_heads, n] of one query.
  void AttendValueCodes(int layer, const Prepared& prepared,
                        const float* weights, int64_t n, int64_t encoded,
                        Workspace& workspace, float* out) const;
  // Bytes of kernel scratch one thread needs to attend layer `layer` over
  // `n` tokens.
  int64_t SlotScratchBytes(int layer, int64_t n) const;
  // Threads that may run items at once: the pool's, or 1.
  int Slots() const;
  // run(item, slot) for item in [0, count), split over the pool when there
  // is one into at most Slots() parts, part p running its items in order
  // with slot p: items of one slot never run at once, so a slot's scratch
  // is that thread's alone.
  void ParallelItems(int64_t count,
                     absl::FunctionRef<void(int64_t, int)> run) const;
  bool UseTableKernel() const;

  const std::shared_ptr<const CompressedCacheCodecs> codecs_;
  const Rope rope_;
  const CompressedKvCacheOptions options_;
  const AttentionKernels& kernels_;
  std::vector<int64_t> page_tokens_;  // per layer, whole chunks
  std::vector<PageLayout> page_layouts_;
  std::vector<Layer> layers_;
  // cos / sin of positions [0, rope_positions_): [positions, num_pairs].
  std::vector<float> rope_cos_, rope_sin_;
  int64_t rope_positions_ = 0;
  // Workspaces of finished Attend calls, for the next ones; guarded by
  // workspace_mu_ (Attend is const and may run concurrently).
  mutable std::mutex workspace_mu_;
  mutable std::vector<std::unique_ptr<Workspace>> free_workspaces_;
  mutable int64_t workspaces_made_ = 0;  // guarded by workspace_mu_
  mutable std::atomic<int64_t> workspace_allocations_{0};
  mutable std::atomic<int64_t> workspace_bytes_{0};
};

// One decode step of several sequences: query b ([num_heads, head_dim] of
// queries[b]) attends over caches[b] at its last position. The caches must
// share their codecs. queries, out: [batch, num_heads, head_dim] f32.
// InvalidArgument naming the sequence for a shape mismatch or an empty
// layer. Split over sequences on `pool` (may be null).
absl::Status AttendBatch(absl::Span<const CompressedKvCache* const> caches,
                         int layer, const TensorView& queries,
                         const MutableTensorView& out, ThreadPool* pool);

}  // namespace commvq

#endif  // COMMVQ_KVCACHE_COMPRESSED_KV_CACHE_H_
