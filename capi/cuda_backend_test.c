/* The C ABI's "cuda" backend around the CUDA provider library, with the
 * provider's test double (testing/plugins/fake_cuda_provider.c: host memory
 * stands for device memory, attention is a fixed formula), so it runs
 * without a GPU: context and cache creation, what reaches the provider,
 * device tensors, decode-only attention, errors passed through, memory.
 * The real provider is checked against the CPU caches by the GPU tests. */
#define _POSIX_C_SOURCE 200112L

#include <stdlib.h>
#include <string.h>

#include "capi/c_test.h"

static const char* commvq_codebook;
static const char* golden_codebook;

/* A CUDA tensor over host memory (the fake provider reads it as such). */
static cvq_tensor cuda_f32(float* data, int32_t ndim, const int64_t* shape,
                           int32_t device_id) {
  cvq_tensor t = c_f32(data, ndim, shape);
  t.device_type = CVQ_DEVICE_CUDA;
  t.device_id = device_id;
  return t;
}

/* The tiny CommVQ file's shape: 2 layers, RoPE theta 10000. */
static void cache_options(cvq_cache_options* options, const char* storage) {
  c_small_cache_options(options, 2, 10000.0, storage);
}

static int message_has(cvq_status* status, const char* text) {
  const int found = strstr(cvq_status_message(status), text) != NULL;
  if (!found) {
    fprintf(stderr, "message \"%s\" lacks \"%s\"\n", cvq_status_message(status),
            text);
  }
  cvq_status_destroy(status);
  return found;
}

static cvq_context* make_context(void) {
  int stream_stand_in = 0;
  cvq_context_options options;
  cvq_context* context = NULL;
  memset(&options, 0, sizeof(options));
  options.struct_size = sizeof(options);
  options.num_threads = 1;
  options.backend = "cuda";
  options.device_id = 1;
  CHECK(message_has(cvq_context_create(&options, &context),
                    "device 1 does not exist"));
  options.device_id = -1;
  EXPECT_CODE(cvq_context_create(&options, &context),
              CVQ_STATUS_INVALID_ARGUMENT);
  options.device_id = 1;
  EXPECT_CODE(cvq_context_create(&options, &context), CVQ_STATUS_UNAVAILABLE);
  CHECK(context == NULL);
  options.device_id = 0;
  options.stream = &stream_stand_in; /* never dereferenced */
  EXPECT_OK(cvq_context_create(&options, &context));
  return context;
}

static void test_storages(cvq_context* context) {
  char storage[512];
  cvq_cache_options options;
  cvq_cache* cache = NULL;
  cache_options(&options, "fp32");
  CHECK(message_has(cvq_cache_create(context, &options, &cache),
                    "stores CommVQ caches only"));
  snprintf(storage, sizeof(storage), "commvq:codebooks=%s", commvq_codebook);
  cache_options(&options, storage);
  CHECK(message_has(cvq_cache_create(context, &options, &cache), "capacity=N"));
  snprintf(storage, sizeof(storage), "commvq:codebooks=%s,capacity=8,"
           "prefill=full", commvq_codebook);
  EXPECT_CODE(cvq_cache_create(context, &options, &cache),
              CVQ_STATUS_INVALID_ARGUMENT);
  /* The golden file's values are fp16, not commvq_value. */
  snprintf(storage, sizeof(storage), "commvq:codebooks=%s,capacity=8",
           golden_codebook);
  options.num_layers = 1;
  CHECK(message_has(cvq_cache_create(context, &options, &cache),
                    "expected commvq_key and commvq_value"));
  CHECK(cache == NULL);
}

static void test_cache(cvq_context* context) {
  const int64_t kv_shape[3] = {3, 2, 4}, many_shape[3] = {14, 2, 4},
                bad_shape[3] = {3, 2, 2}, q_shape[3] = {1, 4, 4};
  float keys[14 * 8], values[14 * 8], query[16], out[16];
  char storage[512];
  cvq_cache_options options;
  cvq_cache* cache = NULL;
  cvq_tensor k, v, q, o;
  cvq_cache_memory memory;
  int64_t length = 0, position;
  int i;
  for (i = 0; i < 14 * 8; ++i) keys[i] = values[i] = 0.01f * (float)i;
  for (i = 0; i < 16; ++i) query[i] = (float)i;

  snprintf(storage, sizeof(storage), "commvq:codebooks=%s,capacity=16,window=2",
           commvq_codebook);
  cache_options(&options, storage);
  EXPECT_OK(cvq_cache_create(context, &options, &cache));

  k = c_f32(keys, 3, kv_shape);
  v = c_f32(values, 3, kv_shape);
  CHECK(message_has(cvq_cache_append(cache, 0, &k, &v), "CVQ_DEVICE_CUDA"));
  k = cuda_f32(keys, 3, kv_shape, 1);
  v = cuda_f32(values, 3, kv_shape, 0);
  CHECK(message_has(cvq_cache_append(cache, 0, &k, &v),
                    "the context's device"));
  k = cuda_f32(keys, 3, bad_shape, 0);
  EXPECT_CODE(cvq_cache_append(cache, 0, &k, &v), CVQ_STATUS_INVALID_ARGUMENT);
  k = cuda_f32(keys, 3, kv_shape, 0);
  EXPECT_CODE(cvq_cache_append(cache, 2, &k, &v), CVQ_STATUS_INVALID_ARGUMENT);
  EXPECT_OK(cvq_cache_append(cache, 0, &k, &v));
  EXPECT_OK(cvq_cache_append(cache, 1, &k, &v));
  EXPECT_OK(cvq_cache_length(cache, 1, &length));
  CHECK(length == 3);

  q = cuda_f32(query, 3, q_shape, 0);
  o = cuda_f32(out, 3, q_shape, 0);
  position = 1;
  CHECK(message_has(cvq_cache_attend(cache, 1, &q, &position, 1, &o),
                    "one query at the newest position"));
  position = 2;
  EXPECT_CODE(cvq_cache_attend(cache, 1, &q, &position, 0, &o),
              CVQ_STATUS_UNIMPLEMENTED);
  EXPECT_OK(cvq_cache_attend(cache, 1, &q, &position, 1, &o));
  for (i = 0; i < 16; ++i) CHECK(out[i] == (float)i + 3.0f + 1000.0f);
  q = c_f32(query, 3, q_shape);
  EXPECT_CODE(cvq_cache_attend(cache, 1, &q, &position, 1, &o),
              CVQ_STATUS_INVALID_ARGUMENT);

  /* The provider's errors come back with its code and message. */
  k = cuda_f32(keys, 3, many_shape, 0);
  v = cuda_f32(values, 3, many_shape, 0);
  CHECK(message_has(cvq_cache_append(cache, 0, &k, &v), "capacity exceeded"));
  k = cuda_f32(keys, 3, many_shape, 0);
  EXPECT_CODE(cvq_cache_append(cache, 0, &k, &v), CVQ_STATUS_OUT_OF_RANGE);

  memset(&memory, 0, sizeof(memory));
  memory.struct_size = sizeof(memory);
  EXPECT_OK(cvq_cache_memory_get(cache, &memory));
  CHECK(memory.num_tokens == 3 && memory.codes == 3);
  CHECK(memory.page_slack == 13 && memory.workspace == 4096);
  CHECK(memory.codebooks > 0);
  CHECK(memory.kv_bytes ==
        memory.codes + memory.side + memory.full_precision + memory.page_slack);
  /* An ABI 1.0 caller's struct ends before `workspace`. */
  memory.workspace = -7;
  memory.struct_size = 80;
  EXPECT_OK(cvq_cache_memory_get(cache, &memory));
  CHECK(memory.workspace == -7);
  memory.struct_size = 72;
  EXPECT_CODE(cvq_cache_memory_get(cache, &memory),
              CVQ_STATUS_INVALID_ARGUMENT);

  EXPECT_OK(cvq_cache_truncate(cache, 1));
  EXPECT_OK(cvq_cache_length(cache, 0, &length));
  CHECK(length == 1);
  EXPECT_CODE(cvq_cache_truncate(cache, -1), CVQ_STATUS_INVALID_ARGUMENT);
  cvq_cache_destroy(cache);
}

int main(int argc, char** argv) {
  cvq_context* context;
  if (argc != 4) {
    fprintf(stderr, "usage: %s FAKE_PROVIDER COMMVQ_CODEBOOK GOLDEN_CODEBOOK\n",
            argv[0]);
    return 2;
  }
  setenv("COMMVQ_CUDA_PROVIDER", argv[1], 1);
  commvq_codebook = argv[2];
  golden_codebook = argv[3];
  context = make_context();
  if (context != NULL) {
    test_storages(context);
    test_cache(context);
  }
  cvq_context_destroy(context);
  if (c_test_failures == 0) printf("cuda_backend_test: all checks passed\n");
  return c_test_failures != 0;
}
