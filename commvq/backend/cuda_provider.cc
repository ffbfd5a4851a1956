// The CUDA backend's provider library (libcommvq_cuda.so.1): the function
// table of cuda_provider_abi.h over one CudaLayerCache per layer. Only
// libcommvq.so calls it; every entry turns absl::Status and exceptions into
// the table's code + message convention, so nothing C++ crosses the
// boundary.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "commvq/backend/cuda_layer_cache.h"
#include "commvq/backend/cuda_provider_abi.h"
#include "commvq/base/status_macros.h"
#include "kernels/cuda/cuda_status.h"

struct commvq_cuda_cache {
  int32_t device_id = 0;
  void* stream = nullptr;
  int64_t max_append = 1;
  std::vector<std::unique_ptr<commvq::CudaLayerCache>> layers;
};

namespace commvq {
namespace {

// Writes status's message to `message` and returns its code.
int32_t Report(const absl::Status& status, char* message, size_t size) {
  if (!status.ok() && message != nullptr && size > 0) {
    const std::string text(status.message());
    const size_t n = std::min(text.size(), size - 1);
    std::memcpy(message, text.data(), n);
    message[n] = '\0';
  }
  return static_cast<int32_t>(status.code());
}

// Runs `body`, turning exceptions (allocation failures) into INTERNAL.
template <typename Body>
int32_t Guarded(char* message, size_t size, Body body) {
  try {
    return Report(body(), message, size);
  } catch (const std::exception& e) {
    return Report(absl::InternalError(absl::StrCat(
                      "CUDA provider: unexpected exception: ", e.what())),
                  message, size);
  }
}

// FailedPrecondition naming the device unless it exists. Checked when a
// cache is created (and by check_device), not on every call of the hot path.
absl::Status CheckDeviceExists(int32_t device_id) {
  int count = 0;
  CVQ_RETURN_IF_ERROR(
      cuda::CudaStatus(cudaGetDeviceCount(&count), "CUDA device count"));
  if (device_id < 0 || device_id >= count) {
    return absl::FailedPreconditionError(absl::StrCat(
        "CUDA device ", device_id, " does not exist; expected 0 .. ",
        count - 1, " (", count, " visible devices)"));
  }
  return absl::OkStatus();
}

// Makes a device current for one provider call and restores the caller's
// current device afterwards, so the caller's own CUDA work is not moved.
class DeviceScope {
 public:
  DeviceScope() {
    if (cudaGetDevice(&previous_) != cudaSuccess) previous_ = -1;
  }
  ~DeviceScope() {
    if (entered_ && previous_ >= 0) cudaSetDevice(previous_);
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

  absl::Status Enter(int32_t device_id) {
    CVQ_RETURN_IF_ERROR(
        cuda::CudaStatus(cudaSetDevice(device_id), "cudaSetDevice"));
    entered_ = true;
    return absl::OkStatus();
  }

 private:
  int previous_ = -1;
  bool entered_ = false;
};

// InvalidArgument unless n is in [0, limit].
absl::Status CheckCount(const char* what, int64_t n, int64_t limit) {
  if (n < 0 || n > limit) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CUDA provider: value params ", what, " ", n, "; expected 0 .. ",
        limit));
  }
  return absl::OkStatus();
}

absl::StatusOr<KeyQuantizerParams> KeyParamsOf(
    const commvq_cuda_key_params& p) {
  KeyCodebookShape shape;
  shape.head_dim = p.head_dim;
  shape.half_bits = p.half_bits;
  shape.layout = static_cast<PairLayout>(p.pair_layout);
  CVQ_RETURN_IF_ERROR(ValidateKeyCodebookShape(shape));
  if (p.num_kv_heads < 1 || p.stages < 1 || p.z == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CUDA provider: key params with num_kv_heads ", p.num_kv_heads,
        ", stages ", p.stages, "; expected both >= 1 and codebooks"));
  }
  return KeyQuantizerParamsFromZ(
      p.num_kv_heads, p.stages, shape,
      absl::MakeConstSpan(p.z, int64_t{p.num_kv_heads} * p.stages *
                                   shape.num_floats()));
}

std::vector<float> Copy(const float* data, int64_t n) {
  return data == nullptr ? std::vector<float>() : std::vector<float>(data, data + n);
}

absl::StatusOr<ValueQuantizerParams> ValueParamsOf(
    const commvq_cuda_value_params& p) {
  // Sizes before any copy (a wild size would throw from std::vector).
  constexpr int64_t kMaxSide = int64_t{1} << 20;
  CVQ_RETURN_IF_ERROR(CheckCount("dim", p.dim, kMaxSide));
  CVQ_RETURN_IF_ERROR(CheckCount("num_code_bits", p.num_code_bits, kMaxSide));
  CVQ_RETURN_IF_ERROR(CheckCount("hidden", p.hidden, kMaxSide));
  if (p.codebook == nullptr || p.channel_scale == nullptr ||
      (p.hidden > 0 && (p.ln_gamma == nullptr || p.ln_beta == nullptr ||
                        p.w1 == nullptr || p.b1 == nullptr ||
                        p.w2 == nullptr || p.b2 == nullptr))) {
    return absl::InvalidArgumentError(
        "CUDA provider: value params without codebook, channel scale or "
        "(hidden > 0) encoder weights");
  }
  ValueQuantizerParams params;
  params.dim = p.dim;
  params.num_kv_heads = p.num_kv_heads;
  params.num_code_bits = p.num_code_bits;
  params.codebook = Copy(p.codebook, p.num_code_bits * p.dim);
  params.channel_scale = Copy(p.channel_scale, p.dim);
  ValueEncoderWeights& encoder = params.encoder;
  encoder.hidden = p.hidden;
  if (p.hidden > 0) {
    encoder.ln_gamma = Copy(p.ln_gamma, p.dim);
    encoder.ln_beta = Copy(p.ln_beta, p.dim);
    encoder.w1 = Copy(p.w1, p.hidden * p.dim);
    encoder.b1 = Copy(p.b1, p.hidden);
    encoder.w2 = Copy(p.w2, 2 * p.num_code_bits * p.hidden);
    encoder.b2 = Copy(p.b2, 2 * p.num_code_bits);
  }
  return params;
}

ValueSearchOptions SearchOptionsOf(const commvq_cuda_value_params& p) {
  ValueSearchOptions options;
  options.sweeps = p.search_sweeps;
  options.restarts = p.search_restarts;
  options.relaxed_start = p.search_relaxed_start != 0;
  return options;
}

absl::Status Create(const commvq_cuda_cache_config* config,
                    commvq_cuda_cache** out) {
  if (config == nullptr || out == nullptr ||
      config->struct_size < sizeof(commvq_cuda_cache_config) ||
      config->keys == nullptr || config->values == nullptr) {
    return absl::InvalidArgumentError(
        "CUDA provider: cache_create needs a config of the provider's ABI "
        "with keys and values, and an output pointer");
  }
  CVQ_RETURN_IF_ERROR(CheckDeviceExists(config->device_id));
  DeviceScope device;
  CVQ_RETURN_IF_ERROR(device.Enter(config->device_id));
  AttentionShape shape;
  shape.num_layers = config->num_layers;
  shape.num_heads = config->num_heads;
  shape.num_kv_heads = config->num_kv_heads;
  shape.head_dim = config->head_dim;
  shape.rope_theta = config->rope_theta;
  shape.pair_layout = static_cast<PairLayout>(config->pair_layout);
  CVQ_RETURN_IF_ERROR(ValidateAttentionShape(shape));
  if (config->key_kernel < 0 || config->key_kernel > 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CUDA provider: key_kernel ", config->key_kernel,
        "; expected 0 (auto), 1 (table) or 2 (decode)"));
  }
  CudaLayerCacheOptions options;
  options.capacity = config->capacity;
  options.window = config->window;
  options.max_append = config->max_append;
  options.page_tokens = config->page_tokens;
  options.key_kernel = static_cast<CudaKeyKernel>(config->key_kernel);
  auto cache = std::make_unique<commvq_cuda_cache>();
  cache->device_id = config->device_id;
  cache->stream = config->stream;
  cache->max_append = config->max_append;
  for (int layer = 0; layer < shape.num_layers; ++layer) {
    const auto in_layer = [layer](const absl::Status& status) {
      return absl::Status(status.code(), absl::StrCat("layer ", layer, ": ",
                                                      status.message()));
    };
    absl::StatusOr<KeyQuantizerParams> keys = KeyParamsOf(config->keys[layer]);
    if (!keys.ok()) return in_layer(keys.status());
    absl::StatusOr<ValueQuantizerParams> values =
        ValueParamsOf(config->values[layer]);
    if (!values.ok()) return in_layer(values.status());
    auto layer_cache =
        CudaLayerCache::Create(shape, *keys, *values, options,
                               SearchOptionsOf(config->values[layer]));
    if (!layer_cache.ok()) return in_layer(layer_cache.status());
    cache->layers.push_back(*std::move(layer_cache));
  }
  *out = cache.release();
  return absl::OkStatus();
}

absl::Status CheckLayer(const commvq_cuda_cache* cache, int32_t layer) {
  if (cache == nullptr) {
    return absl::InvalidArgumentError("CUDA provider: cache is NULL");
  }
  if (layer < 0 || layer >= static_cast<int32_t>(cache->layers.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("CUDA provider: layer ", layer, "; expected 0 .. ",
                     cache->layers.size() - 1));
  }
  return absl::OkStatus();
}

absl::Status Append(commvq_cuda_cache* cache, int32_t layer, const float* keys,
                    const float* values, int64_t num_tokens) {
  CVQ_RETURN_IF_ERROR(CheckLayer(cache, layer));
  DeviceScope device;
  CVQ_RETURN_IF_ERROR(device.Enter(cache->device_id));
  CudaLayerCache& layer_cache = *cache->layers[layer];
  if (num_tokens < 0 ||
      layer_cache.length() + num_tokens > layer_cache.capacity()) {
    return absl::OutOfRangeError(absl::StrCat(
        "CUDA cache: appending ", num_tokens, " tokens to layer ", layer,
        " of length ", layer_cache.length(), "; expected at most ",
        layer_cache.capacity() - layer_cache.length(),
        " (the cache's capacity, set by the storage option capacity=N)"));
  }
  // One Append call per max_append tokens: the window ring and the encoder
  // workspace are sized for that many.
  const int64_t row = int64_t{layer_cache.num_kv_heads()} * layer_cache.head_dim();
  // A failure part-way drops the chunks already appended: all or nothing.
  const int64_t start = layer_cache.length();
  for (int64_t done = 0; done < num_tokens;) {
    const int64_t n = std::min(cache->max_append, num_tokens - done);
    const absl::Status status = layer_cache.Append(
        keys + done * row, values + done * row, n, cache->stream);
    if (!status.ok()) {
      layer_cache.Truncate(start).IgnoreError();  // only lowers counts
      return status;
    }
    done += n;
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace commvq

namespace {

using commvq::Guarded;

int32_t CheckDeviceEntry(int32_t device_id, char* message, size_t size) {
  return Guarded(message, size, [&]() -> absl::Status {
    CVQ_RETURN_IF_ERROR(commvq::CheckDeviceExists(device_id));
    // Also that it can be made current (a device in use elsewhere
    // exclusively, for example, cannot).
    commvq::DeviceScope device;
    return device.Enter(device_id);
  });
}

int32_t CreateEntry(const commvq_cuda_cache_config* config,
                    commvq_cuda_cache** out, char* message, size_t size) {
  return Guarded(message, size, [&] { return commvq::Create(config, out); });
}

void DestroyEntry(commvq_cuda_cache* cache) {
  if (cache != nullptr) {
    // Device memory is freed on the cache's device.
    commvq::DeviceScope device;
    device.Enter(cache->device_id).IgnoreError();
    delete cache;
  }
}

int32_t AppendEntry(commvq_cuda_cache* cache, int32_t layer, const float* keys,
                    const float* values, int64_t num_tokens, char* message,
                    size_t size) {
  return Guarded(message, size, [&] {
    return commvq::Append(cache, layer, keys, values, num_tokens);
  });
}

int32_t AttendEntry(commvq_cuda_cache* cache, int32_t layer,
                    const float* query, float* out, char* message,
                    size_t size) {
  return Guarded(message, size, [&]() -> absl::Status {
    CVQ_RETURN_IF_ERROR(commvq::CheckLayer(cache, layer));
    commvq::DeviceScope device;
    CVQ_RETURN_IF_ERROR(device.Enter(cache->device_id));
    return cache->layers[layer]->Attend(query, out, cache->stream);
  });
}

int32_t TruncateEntry(commvq_cuda_cache* cache, int64_t length, char* message,
                      size_t size) {
  return Guarded(message, size, [&]() -> absl::Status {
    CVQ_RETURN_IF_ERROR(commvq::CheckLayer(cache, 0));
    for (auto& layer : cache->layers) {
      CVQ_RETURN_IF_ERROR(layer->Truncate(length));
    }
    return absl::OkStatus();
  });
}

int64_t LengthEntry(const commvq_cuda_cache* cache, int32_t layer) {
  if (!commvq::CheckLayer(cache, layer).ok()) return -1;
  return cache->layers[layer]->length();
}

void MemoryEntry(const commvq_cuda_cache* cache,
                 commvq_cuda_cache_memory* memory) {
  *memory = commvq_cuda_cache_memory{};
  if (cache == nullptr || cache->layers.empty()) return;
  memory->num_tokens = cache->layers[0]->length();
  memory->encoded_tokens = cache->layers[0]->encoded_length();
  for (const auto& layer : cache->layers) {
    const commvq::CudaLayerCacheMemory m = layer->Memory();
    memory->codes += m.codes;
    memory->side += m.side;
    memory->full_precision += m.full_precision;
    memory->page_slack += m.page_slack;
    memory->codebooks += m.codebooks;
    memory->rope_table += m.rope_table;
    memory->workspace += m.workspace;
  }
}

int32_t SynchronizeEntry(commvq_cuda_cache* cache, char* message,
                         size_t size) {
  return Guarded(message, size, [&]() -> absl::Status {
    CVQ_RETURN_IF_ERROR(commvq::CheckLayer(cache, 0));
    // A null stream is the default stream of the current device.
    commvq::DeviceScope device;
    CVQ_RETURN_IF_ERROR(device.Enter(cache->device_id));
    return commvq::cuda::CudaStatus(
        cudaStreamSynchronize(static_cast<cudaStream_t>(cache->stream)),
        "stream synchronize");
  });
}

constexpr commvq_cuda_provider kProvider = {
    sizeof(commvq_cuda_provider),
    COMMVQ_CUDA_PROVIDER_ABI,
    CheckDeviceEntry,
    CreateEntry,
    DestroyEntry,
    AppendEntry,
    AttendEntry,
    TruncateEntry,
    LengthEntry,
    MemoryEntry,
    SynchronizeEntry,
};

}  // namespace

extern "C" __attribute__((visibility("default"))) const commvq_cuda_provider*
commvq_cuda_provider_v1(void) {
  return &kProvider;
}
