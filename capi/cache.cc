// The KV cache of one sequence: append, truncate, memory, attention.
#include <cmath>
#include <cstddef>
#include <string>

#include "absl/strings/str_cat.h"
#include "capi/handles.h"
#include "capi/internal.h"
#include "commvq/base/status_macros.h"
#include "commvq/kvcache/cache_spec.h"
#include "commvq/kvcache/compressed_kv_cache.h"
#include "commvq/tensor/tensor_view.h"

namespace {

using commvq::MutableTensorView;
using commvq::capi::CheckNotNull;
using commvq::capi::CheckStruct;
using commvq::capi::CheckStructSize;
using commvq::capi::FromCTensor;
using commvq::capi::Guard;

absl::Status CheckCache(const cvq_cache* cache) {
  return CheckNotNull(cache, "cache", "a cvq_cache");
}

absl::StatusOr<commvq::AttentionShape> ShapeOf(const cvq_cache_options& o) {
  if (o.pair_layout != CVQ_PAIR_LAYOUT_HALF &&
      o.pair_layout != CVQ_PAIR_LAYOUT_INTERLEAVED) {
    return absl::InvalidArgumentError(
        absl::StrCat("`options->pair_layout` is ", o.pair_layout,
                     "; expected CVQ_PAIR_LAYOUT_HALF (", CVQ_PAIR_LAYOUT_HALF,
                     ") or CVQ_PAIR_LAYOUT_INTERLEAVED (",
                     CVQ_PAIR_LAYOUT_INTERLEAVED, ")"));
  }
  commvq::AttentionShape shape;
  shape.num_layers = o.num_layers;
  shape.num_heads = o.num_heads;
  shape.num_kv_heads = o.num_kv_heads;
  shape.head_dim = o.head_dim;
  shape.rope_theta = o.rope_theta;
  shape.pair_layout = static_cast<commvq::PairLayout>(o.pair_layout);
  CVQ_RETURN_IF_ERROR(commvq::ValidateAttentionShape(shape));
  return shape;
}

absl::Status CheckLayer(const cvq_cache* cache, int32_t layer) {
  const int num_layers = cache->shape().num_layers;
  if (layer < 0 || layer >= num_layers) {
    return absl::InvalidArgumentError(
        absl::StrCat("`layer` is ", layer, "; expected 0 .. ", num_layers - 1));
  }
  return absl::OkStatus();
}

// The cache of a "cuda" context: CommVQ keys and values from one codebook
// file, device memory for `capacity` tokens allocated now.
absl::StatusOr<std::unique_ptr<commvq::CudaCache>> CreateCudaCache(
    const cvq_context& context, const commvq::AttentionShape& shape,
    const commvq::CacheSpec& spec) {
  if (spec.full_precision || spec.codebooks.empty() ||
      !spec.value_spec.empty()) {
    return absl::InvalidArgumentError(
        "backend \"cuda\" stores CommVQ caches only: `options->storage` must "
        "be \"commvq:codebooks=FILE,capacity=N[,window=N][,page=N]"
        "[,kernel=K]\" (keys and values from the file, no values=)");
  }
  const commvq::CompressedKvCacheOptions& o = spec.options;
  if (o.capacity == 0) {
    return absl::InvalidArgumentError(
        "backend \"cuda\" allocates a cache's device memory up front: "
        "`options->storage` needs capacity=N (the most tokens per layer)");
  }
  if (o.full_precision_prefill) {
    return absl::InvalidArgumentError(
        "backend \"cuda\" does not take prefill=full: its caches attend "
        "decode queries only, so prompt tokens never need to wait in the "
        "window");
  }
  CVQ_ASSIGN_OR_RETURN(auto codecs, commvq::MakeCacheCodecs(spec, shape));
  commvq::CudaCacheOptions options;
  options.capacity = o.capacity;
  options.window = o.window;
  options.page_tokens = o.page_tokens;
  options.key_kernel = o.key_kernel;
  options.device_id = context.device_id;
  options.stream = context.stream;
  return commvq::CudaCache::Create(context.cuda_provider, shape, *codecs,
                                   options);
}

absl::Status CudaAppend(commvq::CudaCache& cache, int32_t layer,
                        const cvq_tensor* keys, const cvq_tensor* values) {
  CVQ_ASSIGN_OR_RETURN(
      MutableTensorView k,
      FromCTensor(keys, "keys", CVQ_DEVICE_CUDA, cache.device_id()));
  CVQ_ASSIGN_OR_RETURN(
      MutableTensorView v,
      FromCTensor(values, "values", CVQ_DEVICE_CUDA, cache.device_id()));
  CVQ_RETURN_IF_ERROR(commvq::CheckAppendTensors(cache.shape(), k, v));
  if (k.dim(0) == 0) return absl::OkStatus();
  return cache.Append(layer, static_cast<const float*>(k.data()),
                      static_cast<const float*>(v.data()), k.dim(0));
}

absl::Status CudaAttend(commvq::CudaCache& cache, int32_t layer,
                        const cvq_tensor* queries,
                        absl::Span<const int64_t> positions,
                        const cvq_tensor* out) {
  const int64_t newest = cache.length(layer) - 1;
  if (positions.size() != 1 || positions[0] != newest) {
    return absl::UnimplementedError(absl::StrCat(
        "backend \"cuda\" attends one query at the newest position (decode "
        "attention; prefill attention is the runtime's, in full precision): "
        "expected positions = {", newest, "} for layer ", layer, ", got ",
        positions.size(), " position(s)",
        positions.empty() ? "" : absl::StrCat(" starting at ", positions[0])));
  }
  CVQ_ASSIGN_OR_RETURN(
      MutableTensorView q,
      FromCTensor(queries, "queries", CVQ_DEVICE_CUDA, cache.device_id()));
  CVQ_ASSIGN_OR_RETURN(
      MutableTensorView o,
      FromCTensor(out, "out", CVQ_DEVICE_CUDA, cache.device_id()));
  CVQ_RETURN_IF_ERROR(commvq::CheckAttendTensors(cache.shape(), q, o, 1));
  return cache.Attend(layer, static_cast<const float*>(q.data()),
                      static_cast<float*>(o.data()));
}

}  // namespace

extern "C" {

cvq_status* cvq_cache_create(cvq_context* context,
                             const cvq_cache_options* options,
                             cvq_cache** out) {
  return Guard([&]() -> absl::Status {
    CVQ_RETURN_IF_ERROR(CheckStruct(options, "options", "cvq_cache_options"));
    CVQ_RETURN_IF_ERROR(CheckNotNull(out, "out", "a cvq_cache* to fill"));
    CVQ_ASSIGN_OR_RETURN(commvq::AttentionShape shape, ShapeOf(*options));
    CVQ_ASSIGN_OR_RETURN(
        commvq::CacheSpec spec,
        commvq::ParseCacheSpec(options->storage == nullptr ? "fp32"
                                                           : options->storage));
    if (context != nullptr && context->cuda_provider != nullptr) {
      CVQ_ASSIGN_OR_RETURN(auto cuda, CreateCudaCache(*context, shape, spec));
      *out = new cvq_cache{nullptr, std::move(cuda)};
      return absl::OkStatus();
    }
    CVQ_ASSIGN_OR_RETURN(auto codecs, commvq::MakeCacheCodecs(spec, shape));
    CVQ_ASSIGN_OR_RETURN(
        auto cache, commvq::MakeKvCache(spec, shape, std::move(codecs),
                                        commvq::capi::PoolOf(context)));
    *out = new cvq_cache{std::move(cache), nullptr};
    return absl::OkStatus();
  });
}

void cvq_cache_destroy(cvq_cache* cache) { delete cache; }

cvq_status* cvq_cache_append(cvq_cache* cache, int32_t layer,
                             const cvq_tensor* keys, const cvq_tensor* values) {
  return Guard([&]() -> absl::Status {
    CVQ_RETURN_IF_ERROR(CheckCache(cache));
    if (cache->cuda != nullptr) {
      CVQ_RETURN_IF_ERROR(CheckLayer(cache, layer));
      return CudaAppend(*cache->cuda, layer, keys, values);
    }
    CVQ_ASSIGN_OR_RETURN(MutableTensorView k, FromCTensor(keys, "keys"));
    CVQ_ASSIGN_OR_RETURN(MutableTensorView v, FromCTensor(values, "values"));
    return cache->cache->Append(layer, k, v);
  });
}

cvq_status* cvq_cache_truncate(cvq_cache* cache, int64_t length) {
  return Guard([&]() -> absl::Status {
    CVQ_RETURN_IF_ERROR(CheckCache(cache));
    if (cache->cuda != nullptr) return cache->cuda->Truncate(length);
    return cache->cache->Truncate(length);
  });
}

cvq_status* cvq_cache_length(const cvq_cache* cache, int32_t layer,
                             int64_t* length) {
  return Guard([&]() -> absl::Status {
    CVQ_RETURN_IF_ERROR(CheckCache(cache));
    CVQ_RETURN_IF_ERROR(CheckNotNull(length, "length", "an int64_t to fill"));
    CVQ_RETURN_IF_ERROR(CheckLayer(cache, layer));
    *length = cache->cuda != nullptr ? cache->cuda->length(layer)
                                     : cache->cache->length(layer);
    return absl::OkStatus();
  });
}

cvq_status* cvq_cache_memory_get(const cvq_cache* cache,
                                 cvq_cache_memory* memory) {
  return Guard([&]() -> absl::Status {
    CVQ_RETURN_IF_ERROR(CheckCache(cache));
    // ABI 1.0 callers pass the struct without `workspace`.
    CVQ_RETURN_IF_ERROR(CheckNotNull(memory, "memory", "a cvq_cache_memory"));
    CVQ_RETURN_IF_ERROR(CheckStructSize(memory->struct_size, "memory",
                                        "cvq_cache_memory",
                                        offsetof(cvq_cache_memory, workspace)));
    const bool has_workspace =
        memory->struct_size >= offsetof(cvq_cache_memory, workspace) +
                                   sizeof(memory->workspace);
    // Both kinds of cache by the same components (device memory for cuda).
    int64_t num_tokens = 0;
    int64_t encoded = 0;
    commvq::CompressedKvCacheMemory parts;
    if (cache->cuda != nullptr) {
      const commvq_cuda_cache_memory m = cache->cuda->Memory();
      num_tokens = m.num_tokens;
      encoded = m.encoded_tokens;
      parts = {m.codes,     m.side,       m.full_precision, m.page_slack,
               m.codebooks, m.rope_table, m.workspace};
    } else if (const auto* compressed =
                   dynamic_cast<const commvq::CompressedKvCache*>(
                       cache->cache.get())) {
      num_tokens = compressed->length(0);
      encoded = compressed->encoded_length(0);
      parts = compressed->Memory();
    } else {
      num_tokens = cache->cache->length(0);
      parts.window = cache->cache->StoredBytes();  // full precision throughout
    }
    memory->num_tokens = num_tokens;
    memory->encoded_tokens = encoded;
    memory->kv_bytes = parts.kv_bytes();
    memory->codes = parts.codes;
    memory->side = parts.side;
    memory->full_precision = parts.window;
    memory->page_slack = parts.page_slack;
    memory->codebooks = parts.codebooks;
    memory->rope_table = parts.rope_table;
    if (has_workspace) memory->workspace = parts.workspace;
    return absl::OkStatus();
  });
}

cvq_status* cvq_cache_attend(const cvq_cache* cache, int32_t layer,
                             const cvq_tensor* queries,
                             const int64_t* positions, int64_t num_positions,
                             const cvq_tensor* out) {
  return Guard([&]() -> absl::Status {
    CVQ_RETURN_IF_ERROR(CheckCache(cache));
    if (num_positions < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "`num_positions` is ", num_positions, "; expected >= 0"));
    }
    if (num_positions > 0) {
      CVQ_RETURN_IF_ERROR(CheckNotNull(positions, "positions",
                                       "an array of num_positions positions"));
    }
    if (cache->cuda != nullptr) {
      CVQ_RETURN_IF_ERROR(CheckLayer(cache, layer));
      return CudaAttend(*cache->cuda, layer, queries,
                        absl::MakeConstSpan(positions, num_positions), out);
    }
    CVQ_ASSIGN_OR_RETURN(MutableTensorView q, FromCTensor(queries, "queries"));
    CVQ_ASSIGN_OR_RETURN(MutableTensorView o, FromCTensor(out, "out"));
    return cache->cache->Attend(
        layer, q, absl::MakeConstSpan(positions, num_positions), o);
  });
}

}  // extern "C"
