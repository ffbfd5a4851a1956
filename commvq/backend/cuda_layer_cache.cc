#include "commvq/backend/cuda_layer_cache.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "commvq/backend/cuda_rope_table.h"
#include "commvq/base/bit_packing.h"
#include "commvq/base/status_macros.h"
#include "kernels/cuda/attention_kernels.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/key_kernels.h"
#include "kernels/cuda/value_kernels.h"

namespace commvq {
namespace {

using cuda::CublasStatus;
using cuda::CudaStatus;

// Bytes of one token's packed key codes: num_kv_heads * stages codes of
// 2h bits, as the CPU cache stores them.
int64_t KeyRowBytes(const AttentionShape& shape,
                    const KeyQuantizerParams& keys) {
  return PackedBytes(int64_t{shape.num_kv_heads} * keys.stages,
                     2 * keys.shape.half_bits);
}

int64_t TableColumns(const KeyQuantizerParams& keys) {
  return int64_t{keys.stages} * keys.shape.num_values() * 2;
}

absl::Status OutOfRange(const char* what, int64_t value,
                        const std::string& expected) {
  return absl::InvalidArgumentError(absl::StrCat(
      "CUDA layer cache: ", what, " ", value, "; expected ", expected));
}

}  // namespace

absl::Status CudaLayerCache::CheckShape(const AttentionShape& shape,
                                        const KeyQuantizerParams& keys,
                                        const ValueQuantizerParams& values,
                                        const CudaLayerCacheOptions& options) {
  CVQ_RETURN_IF_ERROR(ValidateAttentionShape(shape));
  CVQ_RETURN_IF_ERROR(cuda::CudaKeyEncoder::CheckShape(keys));
  CVQ_RETURN_IF_ERROR(cuda::CudaValueCodec::CheckShape(values));
  if (keys.num_kv_heads != shape.num_kv_heads) {
    return OutOfRange("key quantizer num_kv_heads", keys.num_kv_heads,
                      absl::StrCat("the shape's ", shape.num_kv_heads));
  }
  if (keys.shape.head_dim != shape.head_dim) {
    return OutOfRange("key quantizer head_dim", keys.shape.head_dim,
                      absl::StrCat("the shape's ", shape.head_dim));
  }
  if (keys.shape.layout != shape.pair_layout) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CUDA layer cache: key quantizer pair layout ",
        PairLayoutName(keys.shape.layout), "; expected the shape's ",
        PairLayoutName(shape.pair_layout)));
  }
  const int64_t dim = int64_t{shape.num_kv_heads} * shape.head_dim;
  if (values.dim != dim || values.num_kv_heads != shape.num_kv_heads) {
    return OutOfRange(
        "value quantizer dim", values.dim,
        absl::StrCat(dim, " in ", shape.num_kv_heads, " KV heads"));
  }
  // Positions index int32 grids and int cuBLAS dimensions.
  constexpr int64_t kMaxCapacity = int64_t{1} << 26;
  if (options.capacity < 1 || options.capacity > kMaxCapacity) {
    return OutOfRange("capacity", options.capacity,
                      absl::StrCat("1 to ", kMaxCapacity));
  }
  if (options.window < 0 || options.window > options.capacity) {
    return OutOfRange("window", options.window,
                      absl::StrCat("0 to the capacity ", options.capacity));
  }
  if (options.max_append < 1 || options.max_append > 65536) {
    return OutOfRange("max_append", options.max_append, "1 to 65536");
  }
  if (options.page_tokens < 1 || options.page_tokens > 65536) {
    return OutOfRange("page_tokens", options.page_tokens, "1 to 65536");
  }
  return absl::OkStatus();
}

CudaLayerCache::Offsets CudaLayerCache::Layout(
    const AttentionShape& shape, const KeyQuantizerParams& keys,
    const ValueQuantizerParams& values, const CudaLayerCacheOptions& options) {
  const int64_t f = sizeof(float);
  const int64_t heads = shape.num_heads;
  const int64_t head_floats = heads * shape.head_dim;
  const int64_t ring = options.window + options.max_append;
  const int64_t padded_bits = 32 * cuda::ValueCodeWords(values.num_code_bits);
  cuda::WorkspaceLayout layout;
  Offsets w;
  w.rotated = layout.Add(head_floats * f);
  w.pair_rows = layout.Add(head_floats * f);
  w.table = layout.Add(heads * (shape.head_dim / 2) * TableColumns(keys) * f);
  w.scores = layout.Add(heads * options.capacity * f);
  w.window_scores = layout.Add(heads * ring * f);
  w.inv_sum = layout.Add(heads * f);
  w.partial = layout.Add(cuda::ValueAccumulateSplits(options.capacity) * heads *
                         padded_bits * f);
  w.acc = layout.Add(heads * padded_bits * f);
  w.compressed = layout.Add(head_floats * f);
  w.normed_keys = layout.Add(ring * values.dim * f);
  w.key_codes = layout.Add(ring * shape.num_kv_heads * keys.stages *
                           int64_t{sizeof(uint16_t)});
  w.value_encode =
      layout.Add(cuda::CudaValueCodec::WorkspaceBytes(values, ring));
  w.total = layout.total();
  return w;
}

int64_t CudaLayerCache::WorkspaceBytes(const AttentionShape& shape,
                                       const KeyQuantizerParams& keys,
                                       const ValueQuantizerParams& values,
                                       const CudaLayerCacheOptions& options) {
  return Layout(shape, keys, values, options).total;
}

absl::StatusOr<std::unique_ptr<CudaLayerCache>> CudaLayerCache::Create(
    const AttentionShape& shape, const KeyQuantizerParams& keys,
    const ValueQuantizerParams& values, const CudaLayerCacheOptions& options,
    const ValueSearchOptions& search) {
  CVQ_RETURN_IF_ERROR(CheckShape(shape, keys, values, options));
  std::unique_ptr<CudaLayerCache> cache(new CudaLayerCache());
  cache->shape_ = shape;
  cache->options_ = options;
  cache->ring_slots_ = options.window + options.max_append;
  cache->num_pages_ =
      (options.capacity + options.page_tokens - 1) / options.page_tokens;
  cache->value_words_ = cuda::ValueCodeWords(values.num_code_bits);
  cache->key_row_bytes_ = KeyRowBytes(shape, keys);
  cache->offsets_ = Layout(shape, keys, values, options);
  CVQ_ASSIGN_OR_RETURN(cache->key_encoder_, cuda::CudaKeyEncoder::Create(keys));
  CVQ_ASSIGN_OR_RETURN(cache->value_codec_,
                       cuda::CudaValueCodec::Create(values, search));
  CVQ_ASSIGN_OR_RETURN(cache->cublas_, cuda::CublasHandle::Create());

  // Per (KV head, pair) the 2 x (stages * 2^h * 2) matrix whose product
  // with the query pair (q1, q2) gives, per stage and value, the complex
  // conj(q) z = (q1 x + q2 y) + i (q1 y - q2 x).
  const int64_t pairs = shape.head_dim / 2;
  const int values_per_stage = keys.shape.num_values();
  const int64_t columns = TableColumns(keys);
  std::vector<float> pair_codebooks(shape.num_kv_heads * pairs * 2 * columns);
  for (int64_t g = 0; g < shape.num_kv_heads; ++g) {
    for (int s = 0; s < keys.stages; ++s) {
      const KeyCodebook& codebook = keys.codebook(g, s);
      for (int64_t j = 0; j < pairs; ++j) {
        float* row = &pair_codebooks[(g * pairs + j) * 2 * columns];
        for (int v = 0; v < values_per_stage; ++v) {
          const int64_t n = (int64_t{s} * values_per_stage + v) * 2;
          row[n] = codebook.x(j, v);
          row[n + 1] = codebook.y(j, v);
          row[columns + n] = codebook.y(j, v);
          row[columns + n + 1] = -codebook.x(j, v);
        }
      }
    }
  }
  CVQ_ASSIGN_OR_RETURN(cache->pair_codebooks_,
                       cuda::Upload(absl::MakeConstSpan(pair_codebooks)));
  // Per (KV head, pair, stage): the a-plane (x_v, y_v) and the b-plane
  // (-y_v, x_v), whose sums over stages decode the key pair.
  std::vector<float> planes(shape.num_kv_heads * pairs * keys.stages * 2 *
                            values_per_stage * 2);
  for (int64_t g = 0; g < shape.num_kv_heads; ++g) {
    for (int64_t j = 0; j < pairs; ++j) {
      for (int s = 0; s < keys.stages; ++s) {
        const KeyCodebook& codebook = keys.codebook(g, s);
        float* a_plane = &planes[(((g * pairs + j) * keys.stages + s) * 2) *
                                 values_per_stage * 2];
        float* b_plane = a_plane + values_per_stage * 2;
        for (int v = 0; v < values_per_stage; ++v) {
          a_plane[2 * v] = codebook.x(j, v);
          a_plane[2 * v + 1] = codebook.y(j, v);
          b_plane[2 * v] = -codebook.y(j, v);
          b_plane[2 * v + 1] = codebook.x(j, v);
        }
      }
    }
  }
  CVQ_ASSIGN_OR_RETURN(cache->planes_,
                       cuda::Upload(absl::MakeConstSpan(planes)));
  cache->decode_keys_ =
      options.key_kernel == CudaKeyKernel::kDecode ||
      (options.key_kernel == CudaKeyKernel::kAuto && shape.group_size() > 1);

  CVQ_ASSIGN_OR_RETURN(cache->rope_, UploadRopeTable(shape, options.capacity));

  // Pages are taken from the pool in order.
  cache->host_page_table_.resize(cache->num_pages_);
  std::iota(cache->host_page_table_.begin(), cache->host_page_table_.end(), 0);
  CVQ_ASSIGN_OR_RETURN(
      cache->page_table_,
      cuda::Upload(absl::MakeConstSpan(cache->host_page_table_)));
  const int64_t slots = cache->num_pages_ * options.page_tokens;
  const int64_t dim = values.dim;
  const auto allocate = [](int64_t bytes, cuda::DeviceMemory* out) {
    CVQ_ASSIGN_OR_RETURN(*out, cuda::DeviceMemory::Allocate(bytes));
    return absl::OkStatus();
  };
  // +2: the score kernels read each code with a 3-byte load.
  CVQ_RETURN_IF_ERROR(
      allocate(slots * cache->key_row_bytes_ + 2, &cache->key_codes_));
  CVQ_RETURN_IF_ERROR(
      allocate(slots * int64_t{sizeof(float)}, &cache->key_norms_));
  CVQ_RETURN_IF_ERROR(
      allocate(slots * cache->value_words_ * int64_t{sizeof(uint32_t)},
               &cache->value_words_pool_));
  // Code rows are padded to whole words; the padding must read as 0 bits.
  CVQ_RETURN_IF_ERROR(CudaStatus(cudaMemset(cache->value_words_pool_.data(), 0,
                                            cache->value_words_pool_.bytes()),
                                 "value code pool clear"));
  CVQ_RETURN_IF_ERROR(
      allocate(slots * int64_t{sizeof(float)}, &cache->value_factors_));
  const int64_t window_bytes =
      cache->ring_slots_ * dim * int64_t{sizeof(float)};
  CVQ_RETURN_IF_ERROR(allocate(window_bytes, &cache->window_raw_keys_));
  CVQ_RETURN_IF_ERROR(allocate(window_bytes, &cache->window_keys_));
  CVQ_RETURN_IF_ERROR(allocate(window_bytes, &cache->window_values_));
  CVQ_RETURN_IF_ERROR(allocate(cache->offsets_.total, &cache->workspace_));
  return cache;
}

const char* CudaLayerCache::KeyKernelName() const {
  return decode_keys_ ? "decode" : "table";
}

CudaLayerCacheMemory CudaLayerCache::Memory() const {
  const int64_t slots = num_pages_ * options_.page_tokens;
  const int64_t code_bytes =
      key_row_bytes_ + value_words_ * int64_t{sizeof(uint32_t)};
  const int64_t side_bytes =
      key_norms_.bytes() / slots + value_factors_.bytes() / slots;
  CudaLayerCacheMemory memory;
  memory.codes = encoded_ * code_bytes;
  memory.side = encoded_ * side_bytes;
  memory.page_slack = (slots - encoded_) * (code_bytes + side_bytes);
  memory.full_precision = window_raw_keys_.bytes() + window_keys_.bytes() +
                          window_values_.bytes();
  memory.codebooks = pair_codebooks_.bytes() + planes_.bytes() +
                     page_table_.bytes() + key_encoder_.DeviceBytes() +
                     value_codec_.DeviceBytes();
  memory.rope_table = rope_.bytes();
  memory.workspace =
      workspace_.bytes() + cuda::CublasHandle::kDefaultWorkspaceBytes;
  return memory;
}

absl::Status CudaLayerCache::Truncate(int64_t length) {
  if (length < 0) {
    return OutOfRange("Truncate to length", length, "a length >= 0");
  }
  if (length >= length_) return absl::OkStatus();
  // Pool slots and ring slots are functions of the position, so dropping
  // the newest tokens is only a change of the counts.
  length_ = length;
  encoded_ = std::min(encoded_, length);
  return absl::OkStatus();
}

uint8_t* CudaLayerCache::KeyCodesAt(int64_t slot) const {
  return key_codes_.as<uint8_t>() + slot * key_row_bytes_;
}
float* CudaLayerCache::KeyNormAt(int64_t slot) const {
  return key_norms_.as<float>() + slot;
}
uint32_t* CudaLayerCache::ValueWordsAt(int64_t slot) const {
  return value_words_pool_.as<uint32_t>() + slot * value_words_;
}
float* CudaLayerCache::ValueFactorAt(int64_t slot) const {
  return value_factors_.as<float>() + slot;
}

absl::Status CudaLayerCache::Append(const float* keys, const float* values,
                                    int64_t num_tokens, void* stream) {
  if (num_tokens < 1 || num_tokens > options_.max_append) {
    return OutOfRange("Append of num_tokens", num_tokens,
                      absl::StrCat("1 to max_append ", options_.max_append));
  }
  if (length_ + num_tokens > options_.capacity) {
    return OutOfRange("Append would reach length", length_ + num_tokens,
                      absl::StrCat("at most the capacity ", options_.capacity));
  }
  const int64_t dim = value_codec_.dim();
  const size_t row_bytes = dim * sizeof(float);
  cudaStream_t cuda_stream = static_cast<cudaStream_t>(stream);
  // The ring holds window + max_append tokens, so the new ones never
  // overwrite tokens still in the window; they wrap at most once.
  int64_t done = 0;
  while (done < num_tokens) {
    const int64_t slot = (length_ + done) % ring_slots_;
    const int64_t count = std::min(num_tokens - done, ring_slots_ - slot);
    CVQ_RETURN_IF_ERROR(
        CudaStatus(cudaMemcpyAsync(window_raw_keys_.as<float>() + slot * dim,
                                   keys + done * dim, count * row_bytes,
                                   cudaMemcpyDeviceToDevice, cuda_stream),
                   "window key copy"));
    CVQ_RETURN_IF_ERROR(
        CudaStatus(cuda::LaunchRotateAppend(
                       keys + done * dim, values + done * dim, count,
                       shape_.num_kv_heads, shape_.head_dim,
                       shape_.pair_layout == PairLayout::kInterleaved ? 1 : 0,
                       rope_.as<float>(), options_.capacity, length_ + done, 0,
                       window_keys_.as<float>() + slot * dim,
                       window_values_.as<float>() + slot * dim, stream),
                   "window RoPE launch"));
    done += count;
  }
  length_ += num_tokens;
  const int64_t in_window = length_ - encoded_;
  if (in_window > options_.window) {
    const absl::Status status =
        EncodeOldest(in_window - options_.window, stream);
    if (!status.ok()) {
      // The new tokens are not kept: the window stays within its ring
      // (encoded_ moves only when encoding succeeded).
      length_ -= num_tokens;
      return status;
    }
  }
  return absl::OkStatus();
}

absl::Status CudaLayerCache::EncodeOldest(int64_t count, void* stream) {
  const int64_t dim = value_codec_.dim();
  float* normed = Scratch(offsets_.normed_keys);
  void* value_scratch = Scratch(offsets_.value_encode);
  // Pieces contiguous in the ring and within one page.
  for (int64_t done = 0; done < count;) {
    const int64_t t = encoded_ + done;
    const int64_t slot = t % ring_slots_;
    const int64_t n =
        std::min({count - done, ring_slots_ - slot,
                  options_.page_tokens - t % options_.page_tokens});
    const int64_t pool = PoolSlot(t);
    CVQ_RETURN_IF_ERROR(CudaStatus(
        cuda::LaunchRowNormalize(window_raw_keys_.as<float>() + slot * dim, n,
                                 static_cast<int>(dim), normed, KeyNormAt(pool),
                                 stream),
        "key normalize launch"));
    // Codes as u16 in the workspace, then packed into the pages' rows.
    uint16_t* codes = reinterpret_cast<uint16_t*>(
        static_cast<char*>(workspace_.data()) + offsets_.key_codes);
    CVQ_RETURN_IF_ERROR(key_encoder_.Encode(normed, n, codes, stream));
    CVQ_RETURN_IF_ERROR(CudaStatus(
        cuda::LaunchPackCodes(codes, n,
                              shape_.num_kv_heads * key_encoder_.stages(),
                              2 * key_encoder_.codebooks().half_bits,
                              key_row_bytes_, KeyCodesAt(pool), stream),
        "key code pack launch"));
    CVQ_RETURN_IF_ERROR(value_codec_.Encode(
        window_values_.as<float>() + slot * dim, n, ring_slots_, value_scratch,
        ValueWordsAt(pool), ValueFactorAt(pool), cublas_, stream));
    done += n;
  }
  encoded_ += count;
  return absl::OkStatus();
}

absl::Status CudaLayerCache::AppendEncoded(const uint16_t* key_codes,
                                           const float* key_norms,
                                           const uint8_t* value_codes,
                                           const float* factors,
                                           int64_t num_tokens) {
  if (length_ != encoded_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "CUDA layer cache: AppendEncoded with ", length_ - encoded_,
        " tokens in the window; expected an empty window"));
  }
  if (num_tokens < 0 || length_ + num_tokens > options_.capacity) {
    return OutOfRange("AppendEncoded of num_tokens", num_tokens,
                      absl::StrCat("0 to ", options_.capacity - length_,
                                   " (the capacity left)"));
  }
  const int64_t codes_per_token = shape_.num_kv_heads * key_encoder_.stages();
  const int code_bits = 2 * key_encoder_.codebooks().half_bits;
  std::vector<uint8_t> packed(num_tokens * key_row_bytes_);
  for (int64_t t = 0; t < num_tokens; ++t) {
    CVQ_RETURN_IF_ERROR(PackCodes(
        absl::MakeConstSpan(key_codes + t * codes_per_token, codes_per_token),
        code_bits,
        absl::MakeSpan(packed).subspan(t * key_row_bytes_, key_row_bytes_)));
  }
  const int64_t code_bytes = (value_codec_.num_code_bits() + 7) / 8;
  for (int64_t done = 0; done < num_tokens;) {
    const int64_t t = length_ + done;
    const int64_t n = std::min(num_tokens - done,
                               options_.page_tokens - t % options_.page_tokens);
    const int64_t pool = PoolSlot(t);
    CVQ_RETURN_IF_ERROR(cuda::CopyToDevice(&packed[done * key_row_bytes_],
                                           n * key_row_bytes_,
                                           KeyCodesAt(pool)));
    CVQ_RETURN_IF_ERROR(cuda::CopyToDevice(
        key_norms + done, n * int64_t{sizeof(float)}, KeyNormAt(pool)));
    CVQ_RETURN_IF_ERROR(cuda::CopyToDevice(
        factors + done, n * int64_t{sizeof(float)}, ValueFactorAt(pool)));
    // Packed bytes into word-padded rows (the padding stays 0).
    CVQ_RETURN_IF_ERROR(CudaStatus(
        cudaMemcpy2D(ValueWordsAt(pool), value_words_ * sizeof(uint32_t),
                     value_codes + done * code_bytes, code_bytes, code_bytes, n,
                     cudaMemcpyHostToDevice),
        "value code copy"));
    done += n;
  }
  length_ += num_tokens;
  encoded_ += num_tokens;
  return absl::OkStatus();
}

absl::Status CudaLayerCache::Attend(const float* query, float* out,
                                    void* stream) {
  if (length_ == 0) {
    return absl::FailedPreconditionError(
        "CUDA layer cache: Attend on an empty cache (append the query's "
        "token first)");
  }
  const int heads = shape_.num_heads;
  const int kv_heads = shape_.num_kv_heads;
  const int group = shape_.group_size();
  const int head_dim = shape_.head_dim;
  const int pairs = head_dim / 2;
  const int interleaved = shape_.pair_layout == PairLayout::kInterleaved;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  const int64_t compressed = encoded_;
  const int64_t window = length_ - encoded_;
  const int64_t first_slot = encoded_ % ring_slots_;
  float* rotated = Scratch(offsets_.rotated);
  float* pair_rows = Scratch(offsets_.pair_rows);
  float* table = Scratch(offsets_.table);
  float* scores = Scratch(offsets_.scores);
  float* window_scores = Scratch(offsets_.window_scores);
  float* inv_sum = Scratch(offsets_.inv_sum);
  float* values = Scratch(offsets_.compressed);
  cublasHandle_t handle = static_cast<cublasHandle_t>(cublas_.get());
  const float one = 1.0f;
  const float zero = 0.0f;

  CVQ_RETURN_IF_ERROR(CudaStatus(
      cuda::LaunchQueryPrepare(query, heads, kv_heads, head_dim, interleaved,
                               rope_.as<float>(), options_.capacity,
                               length_ - 1, rotated, pair_rows, stream),
      "query prepare launch"));
  if (compressed > 0) {
    const cuda::DeviceKeyCodebooks& codebooks = key_encoder_.codebooks();
    cuda::DeviceKeyPages pages;
    pages.page_table = page_table_.as<int32_t>();
    pages.page_tokens = static_cast<int>(options_.page_tokens);
    pages.codes = key_codes_.as<uint8_t>();
    pages.code_row_bytes = key_row_bytes_;
    pages.norms = key_norms_.as<float>();
    if (decode_keys_) {
      CVQ_RETURN_IF_ERROR(CudaStatus(
          cuda::LaunchKeyScoresByDecoding(codebooks, pages, planes_.as<float>(),
                                          rotated, group, rope_.as<float>(),
                                          options_.capacity, compressed, scale,
                                          scores, options_.capacity, stream),
          "key scores (decode) launch"));
    } else {
      CVQ_RETURN_IF_ERROR(cublas_.Bind(stream));
      const int columns = codebooks.stages * (1 << codebooks.half_bits) * 2;
      // Per (KV head, pair): table [group, columns] = rows [group, 2] .
      // codebook [2, columns] (row-major; column-major with roles swapped).
      CVQ_RETURN_IF_ERROR(CublasStatus(
          cublasSgemmStridedBatched(
              handle, CUBLAS_OP_N, CUBLAS_OP_N, columns, group, 2, &one,
              pair_codebooks_.as<float>(), columns, 2LL * columns, pair_rows, 2,
              2LL * group, &zero, table, columns,
              static_cast<long long>(group) * columns, kv_heads * pairs),
          "query table GEMM"));
      CVQ_RETURN_IF_ERROR(
          CudaStatus(cuda::LaunchKeyScores(codebooks, pages, table, group,
                                           rope_.as<float>(), options_.capacity,
                                           compressed, scale, scores,
                                           options_.capacity, stream),
                     "key scores (table) launch"));
    }
  }
  if (window > 0) {
    CVQ_RETURN_IF_ERROR(CudaStatus(
        cuda::LaunchDenseScores(rotated, window_keys_.as<float>(), window,
                                first_slot, ring_slots_, heads, group, head_dim,
                                scale, window_scores, ring_slots_, stream),
        "window scores launch"));
  }
  CVQ_RETURN_IF_ERROR(CudaStatus(
      cuda::LaunchSoftmax(scores, options_.capacity, compressed, window_scores,
                          ring_slots_, window, heads, inv_sum, nullptr, stream),
      "softmax launch"));
  if (compressed > 0) {
    cuda::DeviceValuePages pages;
    pages.page_table = page_table_.as<int32_t>();
    pages.page_tokens = static_cast<int>(options_.page_tokens);
    pages.words = value_words_;
    pages.bits = value_words_pool_.as<uint32_t>();
    pages.factor = value_factors_.as<float>();
    float* acc = Scratch(offsets_.acc);
    CVQ_RETURN_IF_ERROR(CudaStatus(
        cuda::LaunchValueAccumulate(scores, options_.capacity, heads, pages,
                                    compressed, Scratch(offsets_.partial), acc,
                                    stream, options_.value_accumulate),
        "value accumulate launch"));
    CVQ_RETURN_IF_ERROR(cublas_.Bind(stream));
    // Per KV head: values [group, head_dim] = acc [group, Nc] .
    // C[:, head channels] ([Nc, head_dim], row stride dim).
    const long long padded_bits = 32 * value_words_;
    CVQ_RETURN_IF_ERROR(CublasStatus(
        cublasSgemmStridedBatched(
            handle, CUBLAS_OP_N, CUBLAS_OP_N, head_dim, group,
            static_cast<int>(value_codec_.num_code_bits()), &one,
            value_codec_.codebook(), static_cast<int>(value_codec_.dim()),
            head_dim, acc, static_cast<int>(padded_bits), group * padded_bits,
            &zero, values, head_dim, static_cast<long long>(group) * head_dim,
            kv_heads),
        "value codebook GEMM"));
  } else {
    CVQ_RETURN_IF_ERROR(
        CudaStatus(cudaMemsetAsync(values, 0, sizeof(float) * heads * head_dim,
                                   static_cast<cudaStream_t>(stream)),
                   "clear compressed values"));
  }
  return CudaStatus(
      cuda::LaunchAttentionFinalize(
          values, value_codec_.channel_scale(), window_scores, ring_slots_,
          window_values_.as<float>(), window, first_slot, ring_slots_, inv_sum,
          heads, group, head_dim, out, stream),
      "attention finalize launch");
}

}  // namespace commvq
