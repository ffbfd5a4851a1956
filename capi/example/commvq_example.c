/* A complete program against commvq.h alone: open a codebook file, put a
 * sequence's keys and values into a compressed KV cache built from the
 * file's quantizers (CommVQ keys are attended on their codes), run
 * attention for the last token, and compare it with a full-precision cache
 * holding the same keys and values.
 *
 *   commvq_example CODEBOOK_FILE [NUM_TOKENS [KV_FILE]]
 *
 * KV_FILE holds real layer-0 data as raw little-endian f32: keys then
 * values [NUM_TOKENS, kv_heads, head_dim] (pre-RoPE), then the last token's
 * query [heads, head_dim]. Without it the data are generated. Values use
 * the file's layer.<i>.value quantizers, or fp16 when it has none (a file of
 * `commvq train-keys` holds keys only).
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

/* Whether the file stores a quantizer named `name`. */
static int has_quantizer(const cvq_codebook_file* file, uint32_t count,
                         const char* name) {
  cvq_codebook_quantizer_info q;
  uint32_t i;
  for (i = 0; i < count; ++i) {
    cvq_status* status;
    memset(&q, 0, sizeof(q));
    q.struct_size = sizeof(q);
    status = cvq_codebook_file_quantizer(file, i, &q);
    cvq_status_destroy(status);
    if (status == NULL && strcmp(q.name, name) == 0) return 1;
  }
  return 0;
}

static cvq_tensor f32_tensor(float* data, const int64_t* shape) {
  cvq_tensor t;
  memset(&t, 0, sizeof(t));
  t.struct_size = sizeof(t);
  t.dtype_code = CVQ_DTYPE_CODE_FLOAT;
  t.dtype_bits = 32;
  t.dtype_lanes = 1;
  t.device_type = CVQ_DEVICE_CPU;
  t.ndim = 3;
  t.data = data;
  t.shape = shape;
  return t;
}

int main(int argc, char** argv) {
  cvq_codebook_file* file = NULL;
  cvq_cache *exact = NULL, *compressed = NULL;
  cvq_codebook_file_info info;
  cvq_cache_options options;
  cvq_cache_memory memory;
  char storage[4096];
  float *keys = NULL, *values = NULL, *queries = NULL;
  float *out_exact = NULL, *out_compressed = NULL;
  int64_t tokens = argc > 2 ? atoll(argv[2]) : 64, i, width, q_width;
  int64_t kv_shape[3], q_shape[3], position;
  double err = 0.0, norm = 0.0;
  uint64_t state = 42;
  cvq_tensor tk, tv, tq, toe, toc;
  int exit_code = 1;

  if (argc < 2 || argc > 4 || tokens < 1) {
    fprintf(stderr, "usage: %s CODEBOOK_FILE [NUM_TOKENS >= 1 [KV_FILE]]\n",
            argv[0]);
    return 2;
  }
  printf("libcommvq %s (ABI %u)\n", cvq_version_string(),
         (unsigned)cvq_abi_version());

  /* The model shape comes from the codebook file. */
  TRY(cvq_codebook_file_open(argv[1], &file));
  memset(&info, 0, sizeof(info));
  info.struct_size = sizeof(info);
  TRY(cvq_codebook_file_info_get(file, &info));
  printf("model %s: %d layers, %d heads, %d KV heads, head_dim %d\n",
         info.model_name, (int)info.num_layers, (int)info.num_heads,
         (int)info.num_kv_heads, (int)info.head_dim);

  /* One sequence: keys (pre-RoPE) and values [tokens, kv_heads, head_dim],
   * and the last token's query [1, heads, head_dim]. */
  width = (int64_t)info.num_kv_heads * info.head_dim;
  q_width = (int64_t)info.num_heads * info.head_dim;
  keys = (float*)malloc(sizeof(float) * (size_t)(tokens * width));
  values = (float*)malloc(sizeof(float) * (size_t)(tokens * width));
  queries = (float*)malloc(sizeof(float) * (size_t)q_width);
  out_exact = (float*)malloc(sizeof(float) * (size_t)q_width);
  out_compressed = (float*)malloc(sizeof(float) * (size_t)q_width);
  if (!keys || !values || !queries || !out_exact || !out_compressed) goto fail;
  if (argc == 4) {
    FILE* kv = fopen(argv[3], "rb");
    const size_t n = (size_t)(tokens * width);
    int ok =
        kv != NULL && fread(keys, sizeof(float), n, kv) == n &&
        fread(values, sizeof(float), n, kv) == n &&
        fread(queries, sizeof(float), (size_t)q_width, kv) == (size_t)q_width;
    if (kv != NULL) fclose(kv);
    if (!ok) {
      fprintf(stderr,
              "cannot read %lld tokens of keys, values and a query "
              "from %s\n",
              (long long)tokens, argv[3]);
      goto fail;
    }
  } else {
    for (i = 0; i < tokens * width; ++i) {
      keys[i] = next_value(&state);
      values[i] = next_value(&state);
    }
    for (i = 0; i < q_width; ++i) queries[i] = next_value(&state);
  }

  /* Two caches of the file's shape: full precision, and compressed with the
   * file's layer.<i>.key / layer.<i>.value quantizers, no f32 window. */
  memset(&options, 0, sizeof(options));
  options.struct_size = sizeof(options);
  options.num_layers = info.num_layers;
  options.num_heads = info.num_heads;
  options.num_kv_heads = info.num_kv_heads;
  options.head_dim = info.head_dim;
  options.pair_layout = info.pair_layout;
  options.rope_theta = info.rope_theta;
  TRY(cvq_cache_create(NULL, &options, &exact));
  snprintf(storage, sizeof(storage), "commvq:codebooks=%s,window=0%s", argv[1],
           has_quantizer(file, info.num_quantizers, "layer.0.value")
               ? ""
               : ",values=fp16");
  options.storage = storage;
  TRY(cvq_cache_create(NULL, &options, &compressed));

  kv_shape[0] = tokens;
  kv_shape[1] = info.num_kv_heads;
  kv_shape[2] = info.head_dim;
  q_shape[0] = 1;
  q_shape[1] = info.num_heads;
  q_shape[2] = info.head_dim;
  tk = f32_tensor(keys, kv_shape);
  tv = f32_tensor(values, kv_shape);
  tq = f32_tensor(queries, q_shape);
  toe = f32_tensor(out_exact, q_shape);
  toc = f32_tensor(out_compressed, q_shape);
  TRY(cvq_cache_append(exact, 0, &tk, &tv));
  TRY(cvq_cache_append(compressed, 0, &tk, &tv));
  position = tokens - 1;
  TRY(cvq_cache_attend(exact, 0, &tq, &position, 1, &toe));
  TRY(cvq_cache_attend(compressed, 0, &tq, &position, 1, &toc));

  for (i = 0; i < q_width; ++i) {
    err +=
        (out_compressed[i] - out_exact[i]) * (out_compressed[i] - out_exact[i]);
    norm += out_exact[i] * out_exact[i];
  }
  memset(&memory, 0, sizeof(memory));
  memory.struct_size = sizeof(memory);
  TRY(cvq_cache_memory_get(compressed, &memory));
  printf(
      "%lld tokens, %lld encoded: codes and side data take %lld bytes "
      "(fp32: %lld)\n",
      (long long)memory.num_tokens, (long long)memory.encoded_tokens,
      (long long)(memory.codes + memory.side),
      (long long)(2 * tokens * width * 4));
  printf("attention relative error %.6f\n", sqrt(err / norm));
  exit_code = isfinite(err / norm) ? 0 : 1;

fail:
  cvq_cache_destroy(exact);
  cvq_cache_destroy(compressed);
  cvq_codebook_file_destroy(file);
  free(keys);
  free(values);
  free(queries);
  free(out_exact);
  free(out_compressed);
  return exit_code;
}
