/* Example quantizer plugin, written in C against plugin_api.h only.
 *
 * `sign`: 1-bit quantization around a trained per-channel mean. Each vector
 * is stored as the sign bit of every centred element plus one float scale
 * (mean or max of |x - mean|, by the `scale` option):
 *   x ~= mean + scale * (+1 | -1)
 * Trained parameters: the per-channel mean (dim floats), serialized as the
 * payload. Simple, but a complete quantizer: training, options, layout,
 * serialization and thread-safe encode/decode. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commvq/registry/plugin_api.h"

typedef struct sign_state {
  int64_t dim;
  int use_max; /* scale = max |x - mean| instead of the mean */
  float* mean; /* [dim] */
} sign_state;

static int32_t fail(char* error, size_t error_size, int32_t code,
                    const char* message) {
  snprintf(error, error_size, "%s", message);
  return code;
}

static sign_state* new_state(const char* const* options, int64_t dim) {
  sign_state* s = (sign_state*)calloc(1, sizeof(sign_state));
  if (s == NULL) return NULL;
  s->dim = dim;
  s->use_max = strcmp(options[0], "max_abs") == 0;
  s->mean = (float*)calloc((size_t)dim, sizeof(float));
  if (s->mean == NULL) {
    free(s);
    return NULL;
  }
  return s;
}

static void sign_destroy(void* state) {
  sign_state* s = (sign_state*)state;
  if (s == NULL) return;
  free(s->mean);
  free(s);
}

static int32_t sign_train(const char* const* options, const float* samples,
                          int64_t num_samples, int64_t dim, uint64_t seed,
                          void** state, char* error, size_t error_size) {
  (void)seed; /* deterministic without randomness */
  sign_state* s = new_state(options, dim);
  if (s == NULL) return fail(error, error_size, 8, "out of memory");
  for (int64_t i = 0; i < num_samples; ++i) {
    for (int64_t c = 0; c < dim; ++c) s->mean[c] += samples[i * dim + c];
  }
  for (int64_t c = 0; c < dim && num_samples > 0; ++c) {
    s->mean[c] /= (float)num_samples;
  }
  *state = s;
  return 0;
}

static int32_t sign_deserialize(const char* const* options, int64_t dim,
                                const uint8_t* payload, size_t payload_size,
                                void** state, char* error, size_t error_size) {
  if (payload_size != (size_t)dim * sizeof(float)) {
    snprintf(error, error_size,
             "payload has %zu bytes: expected %lld (dim %lld floats)",
             payload_size, (long long)dim * 4, (long long)dim);
    return 3;
  }
  sign_state* s = new_state(options, dim);
  if (s == NULL) return fail(error, error_size, 8, "out of memory");
  memcpy(s->mean, payload, payload_size);
  for (int64_t c = 0; c < dim; ++c) {
    if (!isfinite(s->mean[c])) {
      sign_destroy(s);
      return fail(error, error_size, 3, "payload holds a non-finite mean");
    }
  }
  *state = s;
  return 0;
}

static void sign_layout(const void* state, cvq_plugin_layout* layout) {
  const sign_state* s = (const sign_state*)state;
  layout->code_bits = s->dim;
  layout->code_bytes = (s->dim + 7) / 8;
  layout->side_bytes = sizeof(float);
  layout->block_vectors = 1;
}

static int64_t sign_parameter_bytes(const void* state) {
  return ((const sign_state*)state)->dim * (int64_t)sizeof(float);
}

static int32_t sign_serialize(const void* state, uint8_t* buffer,
                              size_t capacity, size_t* size, char* error,
                              size_t error_size) {
  const sign_state* s = (const sign_state*)state;
  *size = (size_t)s->dim * sizeof(float);
  if (capacity < *size) {
    return buffer == NULL ? 0 : fail(error, error_size, 3, "buffer too small");
  }
  memcpy(buffer, s->mean, *size);
  return 0;
}

static int32_t sign_encode(const void* state, const float* input,
                           int64_t num_vectors, uint8_t* codes, uint8_t* side,
                           char* error, size_t error_size) {
  (void)error;
  (void)error_size;
  const sign_state* s = (const sign_state*)state;
  const int64_t code_bytes = (s->dim + 7) / 8;
  for (int64_t v = 0; v < num_vectors; ++v) {
    const float* x = input + v * s->dim;
    uint8_t* code = codes + v * code_bytes;
    float scale = 0.0f;
    memset(code, 0, (size_t)code_bytes);
    for (int64_t c = 0; c < s->dim; ++c) {
      const float centred = x[c] - s->mean[c];
      const float magnitude = fabsf(centred);
      if (centred >= 0.0f) code[c / 8] |= (uint8_t)(1u << (c % 8));
      scale = s->use_max ? (magnitude > scale ? magnitude : scale)
                         : scale + magnitude;
    }
    if (!s->use_max) scale /= (float)s->dim;
    memcpy(side + v * sizeof(float), &scale, sizeof(float));
  }
  return 0;
}

static int32_t sign_decode(const void* state, const uint8_t* codes,
                           const uint8_t* side, int64_t num_vectors,
                           float* output, char* error, size_t error_size) {
  const sign_state* s = (const sign_state*)state;
  const int64_t code_bytes = (s->dim + 7) / 8;
  for (int64_t v = 0; v < num_vectors; ++v) {
    float scale;
    memcpy(&scale, side + v * sizeof(float), sizeof(float));
    if (!isfinite(scale)) {
      return fail(error, error_size, 3, "side data holds a non-finite scale");
    }
    const uint8_t* code = codes + v * code_bytes;
    for (int64_t c = 0; c < s->dim; ++c) {
      const int positive = (code[c / 8] >> (c % 8)) & 1;
      output[v * s->dim + c] = s->mean[c] + (positive ? scale : -scale);
    }
  }
  return 0;
}

static const cvq_plugin_option kSignOptions[] = {
    {"scale", CVQ_PLUGIN_OPTION_STRING, "mean_abs",
     "per-vector magnitude: mean or max of |x - mean|", 0.0, -1.0,
     "mean_abs|max_abs"},
};

static const cvq_plugin_quantizer kSignQuantizer = {
    sizeof(cvq_plugin_quantizer),
    "sign",
    "example plugin: 1 sign bit per element around a trained mean, one "
    "float scale per vector",
    kSignOptions,
    1,
    sign_train,
    sign_deserialize,
    sign_destroy,
    sign_layout,
    sign_parameter_bytes,
    sign_serialize,
    sign_encode,
    sign_decode,
};

__attribute__((visibility("default"))) uint32_t cvq_plugin_init(
    const cvq_plugin_host* host, cvq_plugin_registration* registration) {
  (void)host;
  registration->quantizers = &kSignQuantizer;
  registration->num_quantizers = 1;
  return CVQ_PLUGIN_ABI_VERSION;
}
