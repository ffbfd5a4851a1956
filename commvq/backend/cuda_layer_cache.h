// One layer of a CommVQ-compressed KV cache in GPU memory, with decode
// attention computed on the codes: the CUDA counterpart of a layer of
// CompressedKvCache (commvq/kvcache/compressed_kv_cache.h) holding
// commvq_key keys and commvq_value values, and following its window policy:
// the newest `window` tokens stay in f32, older ones are encoded (keys by the
// structured search, values by the quantizer's mlp or search encoder) as
// soon as they leave it.
//
// Device memory, all allocated by Create and never during Append/Attend:
//   * codebooks: key z and search tables, the per-pair GEMM operands of the
//     query table, the value codebook, channel scale and encoder weights;
//   * the paged cache: pages of page_tokens tokens (key codes packed at 2h
//     bits as on the CPU, key norms, value code words and factors), taken in order from a pool sized for `capacity` through a
//     page table (the seam for sharing pages between sequences);
//   * the window ring (raw and rotated keys, values) and the RoPE table;
//   * one workspace (WorkspaceBytes) and a cuBLAS handle with its own
//     workspace.
// All work is queued on the caller's stream.
//
// Decode attention (Attend), one query token at the newest position:
//   1. rotate the query; for the table kernel, build per (KV head, pair)
//      the table conj(q'_j) z_j[v] with one cuBLAS strided-batched GEMM;
//   2. key scores of compressed tokens: gather + sum over stages, RoPE per
//      pair, sum over pairs (kernels/cuda/key_kernels.h), either from the
//      table per query head or by decoding each key once per KV head (the
//      options' key_kernel); dense scores of the window;
//   3. one softmax across both;
//   4. values: weights * factor accumulated into code-bit space (on CUDA
//      cores or tensor cores, the options' value_accumulate), then one
//      strided-batched GEMM with the codebook per KV head; plus the window's
//      weighted values.
//
// Thread safety: not thread-safe; one caller at a time (a cuBLAS handle and
// the workspace are owned).
#ifndef COMMVQ_BACKEND_CUDA_LAYER_CACHE_H_
#define COMMVQ_BACKEND_CUDA_LAYER_CACHE_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "commvq/kvcache/kv_cache.h"
#include "commvq/quantizer/commvq_key/key_codebook.h"
#include "commvq/quantizer/commvq_value/search_encode.h"
#include "commvq/quantizer/commvq_value/value_codebook.h"
#include "kernels/cuda/cublas_handle.h"
#include "kernels/cuda/device_memory.h"
#include "kernels/cuda/key_encoder.h"
#include "kernels/cuda/value_codec.h"
#include "kernels/cuda/value_kernels.h"

namespace commvq {

// How scores of compressed keys are computed (as the CPU cache's KeyKernel).
enum class CudaKeyKernel {
  kAuto,    // decode when a KV head serves several query heads, else table
  kTable,   // per query head: table of q . codebook (cuBLAS), gather and sum
  kDecode,  // per KV head: decode the key, rotate, dot with each query head
};

struct CudaLayerCacheOptions {
  int64_t capacity = 0;       // most tokens (positions 0..capacity-1), >= 1
  int64_t window = 128;       // full-precision recent tokens, >= 0
  int64_t max_append = 128;   // most tokens per Append call, >= 1
  int64_t page_tokens = 256;  // tokens per page, >= 1
  CudaKeyKernel key_kernel = CudaKeyKernel::kAuto;
  // How attention weights are summed into code-bit space. CUDA cores
  // (exact f32) until the tensor-core form has been measured faster on a
  // GPU (testing/gpu/attention_benchmark prints both).
  cuda::ValueAccumulateForm value_accumulate =
      cuda::ValueAccumulateForm::kCudaCores;
};

// Device bytes of one layer cache, by component (all allocated by Create).
struct CudaLayerCacheMemory {
  int64_t codes = 0;           // key codes and value code words in use
  int64_t side = 0;            // key norms and value factors in use
  int64_t page_slack = 0;      // code and side bytes allocated, not in use
  int64_t full_precision = 0;  // the window rings (raw keys, keys, values)
  int64_t codebooks = 0;       // parameters, their kernel layouts, page table
  int64_t rope_table = 0;
  int64_t workspace = 0;       // the cache's scratch and cuBLAS workspace
  int64_t total() const {
    return codes + side + page_slack + full_precision + codebooks +
           rope_table + workspace;
  }
};

class CudaLayerCache {
 public:
  // InvalidArgument naming the value and what was expected unless the shape
  // is valid, the key and value parameters match it (num_kv_heads,
  // head_dim, pair layout; value dim = num_kv_heads * head_dim), the
  // kernels can run them (CudaKeyEncoder/CudaValueCodec::CheckShape) and the
  // options are in range. Needs no device.
  static absl::Status CheckShape(const AttentionShape& shape,
                                 const KeyQuantizerParams& keys,
                                 const ValueQuantizerParams& values,
                                 const CudaLayerCacheOptions& options);

  // Device scratch one cache uses (allocated by Create): the decode step's
  // arrays for `capacity` tokens plus the encoder's for window + max_append
  // tokens.
  static int64_t WorkspaceBytes(const AttentionShape& shape,
                                const KeyQuantizerParams& keys,
                                const ValueQuantizerParams& values,
                                const CudaLayerCacheOptions& options);

  // Checks the shape, allocates everything, uploads the parameters and the
  // RoPE table (synchronously). `search`: how values are encoded when their
  // quantizer has no mlp encoder weights (the quantizer's own options).
  static absl::StatusOr<std::unique_ptr<CudaLayerCache>> Create(
      const AttentionShape& shape, const KeyQuantizerParams& keys,
      const ValueQuantizerParams& values, const CudaLayerCacheOptions& options,
      const ValueSearchOptions& search = ValueSearchOptions());

  int64_t length() const { return length_; }
  int64_t capacity() const { return options_.capacity; }
  int num_kv_heads() const { return shape_.num_kv_heads; }
  int head_dim() const { return shape_.head_dim; }
  int64_t encoded_length() const { return encoded_; }
  // Device bytes held: pools, window, RoPE table, parameters and
  // workspaces.
  int64_t DeviceBytes() const { return Memory().total(); }
  CudaLayerCacheMemory Memory() const;
  // "table" or "decode": the key-score kernel Attend runs.
  const char* KeyKernelName() const;

  // Appends num_tokens tokens at positions length() ..; those that leave the
  // window are encoded on the GPU (values by the quantizer's encoder: mlp,
  // or the search with `search` options).
  // keys, values: device [num_tokens, num_kv_heads, head_dim] f32, keys
  // pre-RoPE. InvalidArgument unless 1 <= num_tokens <= max_append and
  // length() + num_tokens <= capacity. On an error nothing is appended.
  absl::Status Append(const float* keys, const float* values,
                      int64_t num_tokens, void* stream);

  // Drops every token at position >= length (no-op when length >= length()).
  // Window tokens are dropped from the ring; below encoded_length() the
  // encoded tokens are dropped too and the window is left empty (its next
  // tokens refill it). InvalidArgument for length < 0.
  absl::Status Truncate(int64_t length);

  // Set-up path for tests and benchmarks: appends already encoded tokens
  // straight into pages (blocking copies). Only while the window is empty.
  // key_codes:   host [num_tokens, num_kv_heads, stages].
  // key_norms:   host [num_tokens].
  // value_codes: host [num_tokens, ceil(Nc / 8)] packed LSB-first.
  // factors:     host [num_tokens].
  absl::Status AppendEncoded(const uint16_t* key_codes, const float* key_norms,
                             const uint8_t* value_codes, const float* factors,
                             int64_t num_tokens);

  // Decode attention of one query token at position length() - 1 over every
  // cached token (causal: all of them), scores scaled by 1/sqrt(head_dim).
  // query: device [num_heads, head_dim] f32 pre-RoPE.
  // out:   device [num_heads, head_dim] f32 (written).
  // FailedPrecondition on an empty cache.
  absl::Status Attend(const float* query, float* out, void* stream);

 private:
  // Offsets of the arrays in the workspace.
  struct Offsets {
    int64_t rotated, pair_rows, table, scores, window_scores, inv_sum, partial,
        acc, compressed, normed_keys, key_codes, value_encode, total;
  };
  static Offsets Layout(const AttentionShape& shape,
                        const KeyQuantizerParams& keys,
                        const ValueQuantizerParams& values,
                        const CudaLayerCacheOptions& options);

  CudaLayerCache() = default;
  float* Scratch(int64_t offset) const {
    return reinterpret_cast<float*>(static_cast<char*>(workspace_.data()) +
                                    offset);
  }
  // The pool slot of token t, through the page table.
  int64_t PoolSlot(int64_t t) const {
    return int64_t{host_page_table_[t / options_.page_tokens]} *
               options_.page_tokens +
           t % options_.page_tokens;
  }

  // Encodes the `count` oldest window tokens into pages.
  absl::Status EncodeOldest(int64_t count, void* stream);
  // Device pointers into the pools at pool slot `slot`.
  uint8_t* KeyCodesAt(int64_t slot) const;
  float* KeyNormAt(int64_t slot) const;
  uint32_t* ValueWordsAt(int64_t slot) const;
  float* ValueFactorAt(int64_t slot) const;

  AttentionShape shape_;
  CudaLayerCacheOptions options_;
  int64_t ring_slots_ = 0;  // window + max_append
  int64_t num_pages_ = 0;
  int64_t value_words_ = 0;
  int64_t key_row_bytes_ = 0;  // packed key codes per token
  int64_t length_ = 0;
  int64_t encoded_ = 0;
  Offsets offsets_;
  std::vector<int32_t> host_page_table_;

  cuda::CudaKeyEncoder key_encoder_;
  cuda::CudaValueCodec value_codec_;
  cuda::CublasHandle cublas_;
  // [num_kv_heads, num_pairs, 2, stages * 2^h * 2]: the right operands of
  // the per-pair table GEMM.
  cuda::DeviceMemory pair_codebooks_;
  // [num_kv_heads, num_pairs, stages, 2, 2^h] float2: the centre planes of
  // the decode kernel (LaunchKeyScoresByDecoding).
  cuda::DeviceMemory planes_;
  bool decode_keys_ = false;
  cuda::DeviceMemory rope_;  // [num_pairs, capacity] (cos, sin)
  cuda::DeviceMemory page_table_;
  cuda::DeviceMemory key_codes_, key_norms_, value_words_pool_, value_factors_;
  cuda::DeviceMemory window_raw_keys_, window_keys_, window_values_;
  cuda::DeviceMemory workspace_;
};

}  // namespace commvq

#endif  // COMMVQ_BACKEND_CUDA_LAYER_CACHE_H_
