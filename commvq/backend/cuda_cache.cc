#include "commvq/backend/cuda_cache.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "commvq/quantizer/commvq_value/commvq_value_quantizer.h"

namespace commvq {
namespace {

// A provider call's code and message as a Status.
class ProviderCall {
 public:
  char* message() { return message_; }
  size_t size() const { return sizeof(message_); }
  absl::Status Status(int32_t code) const {
    if (code == 0) return absl::OkStatus();
    return absl::Status(static_cast<absl::StatusCode>(code), message_);
  }

 private:
  char message_[1024] = {0};
};

// The provider's id of a key kernel (commvq::CudaKeyKernel: auto, table,
// decode).
int32_t CudaKeyKernelId(KeyKernel kernel) {
  switch (kernel) {
    case KeyKernel::kTable:
      return 1;
    case KeyKernel::kDecode:
      return 2;
    default:
      return 0;
  }
}

const float* DataOrNull(const std::vector<float>& v) {
  return v.empty() ? nullptr : v.data();
}

}  // namespace

absl::StatusOr<std::unique_ptr<CudaCache>> CudaCache::Create(
    const commvq_cuda_provider* provider, const AttentionShape& shape,
    const CompressedCacheCodecs& codecs, const CudaCacheOptions& options) {
  if (options.capacity < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CUDA cache capacity ", options.capacity, "; expected >= 1"));
  }
  std::vector<commvq_cuda_key_params> keys(shape.num_layers);
  std::vector<commvq_cuda_value_params> values(shape.num_layers);
  for (int l = 0; l < shape.num_layers; ++l) {
    const CompressedCacheCodecs::Layer& layer = codecs.layer(l);
    const ValueSearchOptions* search =
        CommvqValueSearchOptions(*layer.quantizers.value);
    if (!layer.key_arrays.has_value() || layer.value_params == nullptr ||
        search == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "backend \"cuda\" stores CommVQ keys and values only: layer ", l,
          " has key quantizer '", layer.quantizers.key->spec(),
          "' and value quantizer '", layer.quantizers.value->spec(),
          "'; expected commvq_key and commvq_value (a "
          "commvq:codebooks=FILE storage without values=)"));
    }
    const CommvqKeyArrays& k = *layer.key_arrays;
    keys[l] = {static_cast<int32_t>(k.num_kv_heads), k.stages,
               static_cast<int32_t>(k.head_dim), k.half_bits,
               static_cast<int32_t>(k.layout), k.z.data()};
    const ValueQuantizerParams& v = *layer.value_params;
    const ValueEncoderWeights& e = v.encoder;
    values[l] = {v.dim,
                 v.num_kv_heads,
                 v.num_code_bits,
                 e.hidden,
                 v.codebook.data(),
                 v.channel_scale.data(),
                 DataOrNull(e.ln_gamma),
                 DataOrNull(e.ln_beta),
                 DataOrNull(e.w1),
                 DataOrNull(e.b1),
                 DataOrNull(e.w2),
                 DataOrNull(e.b2),
                 search->sweeps,
                 search->restarts,
                 search->relaxed_start ? 1 : 0,
                 0};
  }
  commvq_cuda_cache_config config = {};
  config.struct_size = sizeof(config);
  config.num_layers = shape.num_layers;
  config.num_heads = shape.num_heads;
  config.num_kv_heads = shape.num_kv_heads;
  config.head_dim = shape.head_dim;
  config.pair_layout = static_cast<int32_t>(shape.pair_layout);
  config.rope_theta = shape.rope_theta;
  config.capacity = options.capacity;
  config.window = options.window;
  config.max_append = kMaxAppend;
  config.page_tokens = options.page_tokens;
  config.key_kernel = CudaKeyKernelId(options.key_kernel);
  config.device_id = options.device_id;
  config.stream = options.stream;
  config.keys = keys.data();
  config.values = values.data();
  ProviderCall call;
  commvq_cuda_cache* cache = nullptr;
  const int32_t code =
      provider->cache_create(&config, &cache, call.message(), call.size());
  if (code != 0) return call.Status(code);
  return std::unique_ptr<CudaCache>(new CudaCache(
      provider, cache, shape, options.capacity, options.device_id));
}

CudaCache::~CudaCache() { provider_->cache_destroy(cache_); }

int64_t CudaCache::length(int layer) const {
  return provider_->cache_length(cache_, layer);
}

absl::Status CudaCache::Append(int layer, const float* keys,
                               const float* values, int64_t num_tokens) {
  ProviderCall call;
  return call.Status(provider_->cache_append(cache_, layer, keys, values,
                                             num_tokens, call.message(),
                                             call.size()));
}

absl::Status CudaCache::Attend(int layer, const float* query, float* out) {
  ProviderCall call;
  return call.Status(provider_->cache_attend(cache_, layer, query, out,
                                             call.message(), call.size()));
}

absl::Status CudaCache::Truncate(int64_t length) {
  ProviderCall call;
  return call.Status(
      provider_->cache_truncate(cache_, length, call.message(), call.size()));
}

absl::Status CudaCache::Synchronize() {
  ProviderCall call;
  return call.Status(
      provider_->cache_synchronize(cache_, call.message(), call.size()));
}

commvq_cuda_cache_memory CudaCache::Memory() const {
  commvq_cuda_cache_memory memory;
  provider_->cache_memory(cache_, &memory);
  return memory;
}

}  // namespace commvq
