/* A complete program against commvq.h alone: open a codebook file, encode a
 * sequence's keys and values with layer 0's quantizers, and run attention
 * over the decoded cache, next to attention over the original keys and
 * values.
 *
 * The compressed cache is not in the C ABI yet, so attention runs through
 * the full-precision cache ("fp32" storage) on the decoded keys and values;
 * the stored-bytes figures are what the codes take.
 *
 *   commvq_example CODEBOOK_FILE [NUM_TOKENS]
 *
 * Build: cc -std=c99 commvq_example.c -I<dir of commvq.h> -lcommvq -lm
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commvq.h"

/* Prints the error of a failed call and leaves main through `fail`. */
#define TRY(call)                                                          \
  do {                                                                     \
    cvq_status* status_ = (call);                                          \
    if (status_ != NULL) {                                                 \
      fprintf(stderr, "%s failed: %s (code %d)\n", #call,                  \
              cvq_status_message(status_), (int)cvq_status_code(status_)); \
      cvq_status_destroy(status_);                                         \
      goto fail;                                                           \
    }                                                                      \
  } while (0)

/* Deterministic values in [-1, 1): the example needs no data files. */
static float next_value(uint64_t* state) {
  *state = *state * 6364136223846793005ull + 1442695040888963407ull;
  return (float)((*state >> 40) & 0xFFFFFF) / (float)(1 << 23) - 1.0f;
}

static cvq_tensor f32_tensor(float* data, int32_t ndim, const int64_t* shape) {
  cvq_tensor t;
  memset(&t, 0, sizeof(t));
  t.struct_size = sizeof(t);
  t.dtype_code = CVQ_DTYPE_CODE_FLOAT;
  t.dtype_bits = 32;
  t.dtype_lanes = 1;
  t.device_type = CVQ_DEVICE_CPU;
  t.ndim = ndim;
  t.data = data;
  t.shape = shape;
  return t;
}

static cvq_tensor u8_tensor(uint8_t* data, const int64_t* shape) {
  cvq_tensor t = f32_tensor(NULL, 2, shape);
  t.dtype_code = CVQ_DTYPE_CODE_UINT;
  t.dtype_bits = 8;
  t.data = data;
  return t;
}

/* Encodes then decodes `x` ([n, dim]) with `q` into `out`; adds the bytes
 * the codes take to *stored. */
static cvq_status* round_trip(const cvq_quantizer* q, float* x, int64_t n,
                              float* out, int64_t* stored) {
  cvq_code_layout layout;
  cvq_status* status;
  uint8_t *codes, *side;
  int64_t codes_shape[2], side_shape[2], x_shape[2], bytes = 0;
  cvq_tensor tx, tc, ts, to;

  memset(&layout, 0, sizeof(layout));
  layout.struct_size = sizeof(layout);
  if ((status = cvq_quantizer_layout(q, &layout)) != NULL) return status;
  codes_shape[0] = n;
  codes_shape[1] = layout.code_bytes;
  side_shape[0] = n / layout.block_vectors;
  side_shape[1] = layout.side_bytes;
  x_shape[0] = n;
  x_shape[1] = layout.dim;
  codes = (uint8_t*)malloc((size_t)(n * layout.code_bytes) + 1);
  side = (uint8_t*)malloc((size_t)(side_shape[0] * layout.side_bytes) + 1);
  tx = f32_tensor(x, 2, x_shape);
  to = f32_tensor(out, 2, x_shape);
  tc = u8_tensor(codes, codes_shape);
  ts = u8_tensor(side, side_shape);
  status = cvq_quantizer_encode(NULL, q, &tx, &tc, &ts);
  if (status == NULL) status = cvq_quantizer_decode(NULL, q, &tc, &ts, &to);
  if (status == NULL) status = cvq_quantizer_stored_bytes(q, n, &bytes);
  *stored += bytes;
  free(codes);
  free(side);
  return status;
}

int main(int argc, char** argv) {
  cvq_codebook_file* file = NULL;
  cvq_quantizer *key_q = NULL, *value_q = NULL;
  cvq_cache *exact = NULL, *decoded = NULL;
  cvq_codebook_file_info info;
  cvq_cache_options options;
  float *keys = NULL, *values = NULL, *dec_keys = NULL, *dec_values = NULL;
  float *queries = NULL, *out_exact = NULL, *out_decoded = NULL;
  int64_t tokens = argc > 2 ? atoll(argv[2]) : 64, stored = 0, i, width;
  int64_t kv_shape[3], q_shape[3], position;
  double err = 0.0, norm = 0.0;
  uint64_t state = 42;
  cvq_tensor tk, tv, tdk, tdv, tq, toe, tod;
  int exit_code = 1;

  if (argc < 2 || tokens < 1) {
    fprintf(stderr, "usage: %s CODEBOOK_FILE [NUM_TOKENS >= 1]\n", argv[0]);
    return 2;
  }
  printf("libcommvq %s (ABI %u)\n", cvq_version_string(),
         (unsigned)cvq_abi_version());

  TRY(cvq_codebook_file_open(argv[1], &file));
  memset(&info, 0, sizeof(info));
  info.struct_size = sizeof(info);
  TRY(cvq_codebook_file_info_get(file, &info));
  printf("model %s: %d layers, %d heads, %d KV heads, head_dim %d\n",
         info.model_name, (int)info.num_layers, (int)info.num_heads,
         (int)info.num_kv_heads, (int)info.head_dim);
  TRY(cvq_codebook_file_load_quantizer(file, "layer.0.key", &key_q));
  TRY(cvq_codebook_file_load_quantizer(file, "layer.0.value", &value_q));

  /* One sequence of `tokens` tokens: keys and values [tokens, kv_heads,
   * head_dim], and the last token's query [1, heads, head_dim]. */
  width = (int64_t)info.num_kv_heads * info.head_dim;
  keys = (float*)malloc(sizeof(float) * (size_t)(tokens * width));
  values = (float*)malloc(sizeof(float) * (size_t)(tokens * width));
  dec_keys = (float*)malloc(sizeof(float) * (size_t)(tokens * width));
  dec_values = (float*)malloc(sizeof(float) * (size_t)(tokens * width));
  queries =
      (float*)malloc(sizeof(float) * (size_t)info.num_heads * info.head_dim);
  out_exact =
      (float*)malloc(sizeof(float) * (size_t)info.num_heads * info.head_dim);
  out_decoded =
      (float*)malloc(sizeof(float) * (size_t)info.num_heads * info.head_dim);
  for (i = 0; i < tokens * width; ++i) {
    keys[i] = next_value(&state);
    values[i] = next_value(&state);
  }
  for (i = 0; i < (int64_t)info.num_heads * info.head_dim; ++i) {
    queries[i] = next_value(&state);
  }

  TRY(round_trip(key_q, keys, tokens, dec_keys, &stored));
  TRY(round_trip(value_q, values, tokens, dec_values, &stored));

  memset(&options, 0, sizeof(options));
  options.struct_size = sizeof(options);
  options.num_layers = info.num_layers;
  options.num_heads = info.num_heads;
  options.num_kv_heads = info.num_kv_heads;
  options.head_dim = info.head_dim;
  options.pair_layout = info.pair_layout;
  options.rope_theta = info.rope_theta;
  TRY(cvq_cache_create(NULL, &options, &exact));
  TRY(cvq_cache_create(NULL, &options, &decoded));

  kv_shape[0] = tokens;
  kv_shape[1] = info.num_kv_heads;
  kv_shape[2] = info.head_dim;
  q_shape[0] = 1;
  q_shape[1] = info.num_heads;
  q_shape[2] = info.head_dim;
  tk = f32_tensor(keys, 3, kv_shape);
  tv = f32_tensor(values, 3, kv_shape);
  tdk = f32_tensor(dec_keys, 3, kv_shape);
  tdv = f32_tensor(dec_values, 3, kv_shape);
  tq = f32_tensor(queries, 3, q_shape);
  toe = f32_tensor(out_exact, 3, q_shape);
  tod = f32_tensor(out_decoded, 3, q_shape);
  TRY(cvq_cache_append(exact, 0, &tk, &tv));
  TRY(cvq_cache_append(decoded, 0, &tdk, &tdv));
  position = tokens - 1;
  TRY(cvq_cache_attend(exact, 0, &tq, &position, 1, &toe));
  TRY(cvq_cache_attend(decoded, 0, &tq, &position, 1, &tod));

  for (i = 0; i < (int64_t)info.num_heads * info.head_dim; ++i) {
    err += (out_decoded[i] - out_exact[i]) * (out_decoded[i] - out_exact[i]);
    norm += out_exact[i] * out_exact[i];
  }
  printf("%lld tokens: codes take %lld bytes (fp32: %lld)\n", (long long)tokens,
         (long long)stored, (long long)(2 * tokens * width * 4));
  printf("attention relative error %.6f\n", sqrt(err / norm));
  exit_code = isfinite(err / norm) ? 0 : 1;

fail:
  cvq_cache_destroy(exact);
  cvq_cache_destroy(decoded);
  cvq_quantizer_destroy(key_q);
  cvq_quantizer_destroy(value_q);
  cvq_codebook_file_destroy(file);
  free(keys);
  free(values);
  free(dec_keys);
  free(dec_values);
  free(queries);
  free(out_exact);
  free(out_decoded);
  return exit_code;
}
