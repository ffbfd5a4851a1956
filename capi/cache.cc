// The KV cache of one sequence: append, truncate, memory, attention.
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "capi/handles.h"
#include "capi/internal.h"
#include "commvq/base/status_macros.h"
#include "commvq/kvcache/cache_spec.h"
#include "commvq/kvcache/compressed_kv_cache.h"

namespace {

using commvq::MutableTensorView;
using commvq::capi::CheckNotNull;
using commvq::capi::CheckStruct;
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
  const int num_layers = cache->cache->shape().num_layers;
  if (layer < 0 || layer >= num_layers) {
    return absl::InvalidArgumentError(
        absl::StrCat("`layer` is ", layer, "; expected 0 .. ", num_layers - 1));
  }
  return absl::OkStatus();
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
    CVQ_ASSIGN_OR_RETURN(auto codecs, commvq::MakeCacheCodecs(spec, shape));
    CVQ_ASSIGN_OR_RETURN(
        auto cache, commvq::MakeKvCache(spec, shape, std::move(codecs),
                                        commvq::capi::PoolOf(context)));
    *out = new cvq_cache{std::move(cache)};
    return absl::OkStatus();
  });
}

void cvq_cache_destroy(cvq_cache* cache) { delete cache; }

cvq_status* cvq_cache_append(cvq_cache* cache, int32_t layer,
                             const cvq_tensor* keys, const cvq_tensor* values) {
  return Guard([&]() -> absl::Status {
    CVQ_RETURN_IF_ERROR(CheckCache(cache));
    CVQ_ASSIGN_OR_RETURN(MutableTensorView k, FromCTensor(keys, "keys"));
    CVQ_ASSIGN_OR_RETURN(MutableTensorView v, FromCTensor(values, "values"));
    return cache->cache->Append(layer, k, v);
  });
}

cvq_status* cvq_cache_truncate(cvq_cache* cache, int64_t length) {
  return Guard([&]() -> absl::Status {
    CVQ_RETURN_IF_ERROR(CheckCache(cache));
    return cache->cache->Truncate(length);
  });
}

cvq_status* cvq_cache_length(const cvq_cache* cache, int32_t layer,
                             int64_t* length) {
  return Guard([&]() -> absl::Status {
    CVQ_RETURN_IF_ERROR(CheckCache(cache));
    CVQ_RETURN_IF_ERROR(CheckNotNull(length, "length", "an int64_t to fill"));
    CVQ_RETURN_IF_ERROR(CheckLayer(cache, layer));
    *length = cache->cache->length(layer);
    return absl::OkStatus();
  });
}

cvq_status* cvq_cache_memory_get(const cvq_cache* cache,
                                 cvq_cache_memory* memory) {
  return Guard([&]() -> absl::Status {
    CVQ_RETURN_IF_ERROR(CheckCache(cache));
    CVQ_RETURN_IF_ERROR(CheckStruct(memory, "memory", "cvq_cache_memory"));
    const commvq::KvCache& kv = *cache->cache;
    int64_t encoded = 0;
    commvq::CompressedKvCacheMemory parts;
    if (const auto* compressed =
            dynamic_cast<const commvq::CompressedKvCache*>(&kv)) {
      parts = compressed->Memory();
      encoded = compressed->encoded_length(0);
    } else {
      parts.window = kv.StoredBytes();  // full precision throughout
    }
    memory->num_tokens = kv.length(0);
    memory->encoded_tokens = encoded;
    memory->kv_bytes = parts.kv_bytes();
    memory->codes = parts.codes;
    memory->side = parts.side;
    memory->full_precision = parts.window;
    memory->page_slack = parts.page_slack;
    memory->codebooks = parts.codebooks;
    memory->rope_table = parts.rope_table;
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
    CVQ_ASSIGN_OR_RETURN(MutableTensorView q, FromCTensor(queries, "queries"));
    CVQ_ASSIGN_OR_RETURN(MutableTensorView o, FromCTensor(out, "out"));
    return cache->cache->Attend(
        layer, q, absl::MakeConstSpan(positions, num_positions), o);
  });
}

}  // extern "C"
