/* A test double of the CUDA provider library (cuda_provider_abi.h) that
 * needs no GPU: "device memory" is host memory and attention is a fixed
 * formula. The C ABI tests load it through COMMVQ_CUDA_PROVIDER to check
 * what libcommvq.so does around the provider: context and cache creation,
 * the parameters it hands over, tensor and position checks, error codes and
 * messages passed through, memory accounting. The real provider's results
 * are checked against the CPU caches by the GPU tests.
 *
 * Behaviour: device 0 exists, no other; a cache keeps a length per layer up
 * to its capacity; attend writes out[i] = query[i] + length + 1000 * layer;
 * memory reports codes = length of layer 0, codebooks = the bytes of the
 * key and value parameters received, workspace = 4096. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commvq/backend/cuda_provider_abi.h"

#define EXPORT __attribute__((visibility("default")))

struct commvq_cuda_cache {
  int32_t num_layers;
  int32_t row; /* num_kv_heads * head_dim */
  int32_t query_row; /* num_heads * head_dim */
  int64_t capacity;
  int64_t parameter_bytes;
  int64_t* lengths;
};

static int32_t fail(int32_t code, char* message, size_t size,
                    const char* text) {
  snprintf(message, size, "fake provider: %s", text);
  return code;
}

static int32_t check_device(int32_t device_id, char* message, size_t size) {
  char text[64];
  if (device_id == 0) return 0;
  snprintf(text, sizeof(text), "device %d does not exist", (int)device_id);
  return fail(9, message, size, text);
}

static int32_t cache_create(const commvq_cuda_cache_config* config,
                            commvq_cuda_cache** out, char* message,
                            size_t size) {
  struct commvq_cuda_cache* cache;
  int32_t l;
  int64_t bytes = 0;
  if (config->struct_size != sizeof(*config)) {
    return fail(3, message, size, "config of another size");
  }
  for (l = 0; l < config->num_layers; ++l) {
    const commvq_cuda_key_params* k = &config->keys[l];
    const commvq_cuda_value_params* v = &config->values[l];
    if (k->z == NULL || v->codebook == NULL || v->channel_scale == NULL ||
        k->num_kv_heads != config->num_kv_heads ||
        k->head_dim != config->head_dim ||
        v->dim != (int64_t)config->num_kv_heads * config->head_dim ||
        v->search_sweeps < 1) {
      return fail(3, message, size, "parameters do not match the shape");
    }
    bytes += (int64_t)k->num_kv_heads * k->stages * (k->head_dim / 2) *
             (1 << k->half_bits) * 2 * 4;
    bytes += (v->num_code_bits + 1) * v->dim * 4;
  }
  cache = calloc(1, sizeof(*cache));
  cache->num_layers = config->num_layers;
  cache->row = config->num_kv_heads * config->head_dim;
  cache->query_row = config->num_heads * config->head_dim;
  cache->capacity = config->capacity;
  cache->parameter_bytes = bytes;
  cache->lengths = calloc((size_t)config->num_layers, sizeof(int64_t));
  *out = cache;
  return 0;
}

static void cache_destroy(commvq_cuda_cache* cache) {
  if (cache == NULL) return;
  free(cache->lengths);
  free(cache);
}

static int32_t cache_append(commvq_cuda_cache* cache, int32_t layer,
                            const float* keys, const float* values,
                            int64_t num_tokens, char* message, size_t size) {
  int64_t i;
  float sum = 0.0f;
  if (cache->lengths[layer] + num_tokens > cache->capacity) {
    return fail(11, message, size, "capacity exceeded");
  }
  /* Touch every element, as a kernel would (ASan sees bad pointers). */
  for (i = 0; i < num_tokens * cache->row; ++i) sum += keys[i] + values[i];
  (void)sum;
  cache->lengths[layer] += num_tokens;
  return 0;
}

static int32_t cache_attend(commvq_cuda_cache* cache, int32_t layer,
                            const float* query, float* out, char* message,
                            size_t size) {
  int32_t i;
  (void)message;
  (void)size;
  for (i = 0; i < cache->query_row; ++i) {
    out[i] = query[i] + (float)cache->lengths[layer] + 1000.0f * (float)layer;
  }
  return 0;
}

static int32_t cache_truncate(commvq_cuda_cache* cache, int64_t length,
                              char* message, size_t size) {
  int32_t l;
  if (length < 0) return fail(3, message, size, "negative length");
  for (l = 0; l < cache->num_layers; ++l) {
    if (cache->lengths[l] > length) cache->lengths[l] = length;
  }
  return 0;
}

static int64_t cache_length(const commvq_cuda_cache* cache, int32_t layer) {
  return cache->lengths[layer];
}

static void cache_memory(const commvq_cuda_cache* cache,
                         commvq_cuda_cache_memory* memory) {
  memset(memory, 0, sizeof(*memory));
  memory->num_tokens = cache->lengths[0];
  memory->codes = cache->lengths[0];
  memory->page_slack = cache->capacity - cache->lengths[0];
  memory->codebooks = cache->parameter_bytes;
  memory->workspace = 4096;
}

static int32_t cache_synchronize(commvq_cuda_cache* cache, char* message,
                                 size_t size) {
  (void)cache;
  (void)message;
  (void)size;
  return 0;
}

static const commvq_cuda_provider kProvider = {
    sizeof(commvq_cuda_provider), COMMVQ_CUDA_PROVIDER_ABI,
    check_device,                cache_create,
    cache_destroy,                cache_append,
    cache_attend,                 cache_truncate,
    cache_length,                 cache_memory,
    cache_synchronize};

EXPORT const commvq_cuda_provider* commvq_cuda_provider_v1(void) {
  return &kProvider;
}
