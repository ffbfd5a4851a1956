/* Tests of every entry point of commvq.h, written in C99 against the header
 * and libcommvq.so alone: results, and the status code of each kind of bad
 * argument (NULL pointers, wrong sizes, wrong dtype, wrong struct size).
 * Arguments: the golden codebook file, the sign plugin. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "capi/c_test.h"

static const char* golden_path;
static const char* plugin_path;

/* 4 vectors of dim 8: what the golden file's quantizers were trained on. */
static float samples[32];

static void make_samples(void) {
  int i;
  for (i = 0; i < 32; ++i) samples[i] = (float)((i * 5) % 7) - 3.0f;
}

static void test_version_and_status(void) {
  CHECK(cvq_abi_version() == CVQ_ABI_VERSION);
  CHECK(strcmp(cvq_version_string(), CVQ_VERSION_STRING) == 0);
  CHECK(cvq_status_code(NULL) == CVQ_STATUS_OK);
  CHECK(strcmp(cvq_status_message(NULL), "") == 0);
  cvq_status_destroy(NULL);
}

static void test_context(void) {
  cvq_context* context = NULL;
  cvq_context* untouched = (cvq_context*)&context;
  cvq_context_options options;
  int32_t threads = 0;

  EXPECT_OK(cvq_context_create(NULL, &context));
  EXPECT_OK(cvq_context_num_threads(context, &threads));
  CHECK(threads >= 1);
  cvq_context_destroy(context);

  memset(&options, 0, sizeof(options));
  options.struct_size = sizeof(options);
  options.num_threads = 3;
  EXPECT_OK(cvq_context_create(&options, &context));
  EXPECT_OK(cvq_context_num_threads(context, &threads));
  CHECK(threads == 3);
  cvq_context_destroy(context);
  cvq_context_destroy(NULL);

  context = untouched;
  options.backend = "cuda";
  EXPECT_CODE(cvq_context_create(&options, &context), CVQ_STATUS_UNAVAILABLE);
  options.backend = "tpu";
  EXPECT_CODE(cvq_context_create(&options, &context),
              CVQ_STATUS_INVALID_ARGUMENT);
  options.backend = "cpu";
  options.num_threads = -1;
  EXPECT_CODE(cvq_context_create(&options, &context),
              CVQ_STATUS_INVALID_ARGUMENT);
  options.num_threads = 1;
  options.stream = &options;
  EXPECT_CODE(cvq_context_create(&options, &context),
              CVQ_STATUS_INVALID_ARGUMENT);
  options.stream = NULL;
  options.struct_size = 4;
  EXPECT_CODE(cvq_context_create(&options, &context),
              CVQ_STATUS_INVALID_ARGUMENT);
  CHECK(context == untouched); /* out-parameter untouched on error */
  EXPECT_CODE(cvq_context_create(NULL, NULL), CVQ_STATUS_INVALID_ARGUMENT);
  EXPECT_CODE(cvq_context_num_threads(NULL, &threads),
              CVQ_STATUS_INVALID_ARGUMENT);
}

static int has_kind(const char* name) {
  uint32_t count = 0, i;
  cvq_quantizer_kind kind;
  EXPECT_OK(cvq_registry_count(&count));
  for (i = 0; i < count; ++i) {
    memset(&kind, 0, sizeof(kind));
    kind.struct_size = sizeof(kind);
    EXPECT_OK(cvq_registry_get(i, &kind));
    if (strcmp(kind.name, name) == 0) return 1;
  }
  return 0;
}

static void test_registry_and_plugin(void) {
  uint32_t count = 0;
  cvq_quantizer_kind kind;
  EXPECT_OK(cvq_registry_count(&count));
  CHECK(count >= 5);
  CHECK(has_kind("int") && has_kind("fp16") && has_kind("commvq_key"));
  memset(&kind, 0, sizeof(kind));
  kind.struct_size = sizeof(kind);
  EXPECT_OK(cvq_registry_get(0, &kind));
  CHECK(kind.summary != NULL && strlen(kind.summary) > 0);
  CHECK(kind.example_spec != NULL);
  EXPECT_CODE(cvq_registry_get(count, &kind), CVQ_STATUS_OUT_OF_RANGE);
  EXPECT_CODE(cvq_registry_get(0, NULL), CVQ_STATUS_INVALID_ARGUMENT);
  kind.struct_size = 8;
  EXPECT_CODE(cvq_registry_get(0, &kind), CVQ_STATUS_INVALID_ARGUMENT);
  EXPECT_CODE(cvq_registry_count(NULL), CVQ_STATUS_INVALID_ARGUMENT);

  CHECK(!has_kind("sign"));
  EXPECT_OK(cvq_plugin_load(plugin_path));
  CHECK(has_kind("sign"));
  EXPECT_CODE(cvq_plugin_load(plugin_path), CVQ_STATUS_ALREADY_EXISTS);
  EXPECT_CODE(cvq_plugin_load("libsign_plugin.so"),
              CVQ_STATUS_INVALID_ARGUMENT);
  EXPECT_CODE(cvq_plugin_load("./no/such/plugin.so"), CVQ_STATUS_NOT_FOUND);
  EXPECT_CODE(cvq_plugin_load(NULL), CVQ_STATUS_INVALID_ARGUMENT);
}

static int log_lines = 0;
static void count_log(void* user_data, int32_t level, const char* message) {
  CHECK(user_data == &log_lines);
  CHECK(level >= CVQ_LOG_DEBUG && level <= CVQ_LOG_ERROR);
  CHECK(message != NULL);
  ++log_lines;
}

/* Trains int:bits=2,group_size=4 with the log callback installed; checks the
 * layout, a round trip and every kind of bad tensor argument. */
static void test_quantizer(void) {
  const int64_t samples_shape[2] = {4, 8};
  const int64_t codes_shape[2] = {4, 2};
  const int64_t side_shape[2] = {4, 8};
  const int64_t wrong_shape[2] = {4, 3};
  const int64_t strides[2] = {1, 4};
  uint8_t codes[8], side[32];
  float decoded[32];
  cvq_tensor in = c_f32(samples, 2, samples_shape);
  cvq_tensor c = c_u8(codes, 2, codes_shape);
  cvq_tensor s = c_u8(side, 2, side_shape);
  cvq_tensor out = c_f32(decoded, 2, samples_shape);
  cvq_tensor bad;
  cvq_quantizer* q = NULL;
  cvq_quantizer* untouched = (cvq_quantizer*)&q;
  cvq_code_layout layout;
  const char* spec = NULL;
  int64_t bytes = 0;
  int i;

  EXPECT_OK(cvq_set_log_callback(count_log, &log_lines, CVQ_LOG_DEBUG));
  EXPECT_OK(cvq_quantizer_train(NULL, "int:bits=2,group_size=4", &in, 1, &q));
  CHECK(log_lines > 0);
  EXPECT_OK(cvq_set_log_callback(NULL, NULL, CVQ_LOG_INFO));
  EXPECT_CODE(cvq_set_log_callback(count_log, NULL, 7),
              CVQ_STATUS_INVALID_ARGUMENT);

  EXPECT_OK(cvq_quantizer_spec(q, &spec));
  CHECK(strcmp(spec, "int:bits=2,group_size=4") == 0);
  memset(&layout, 0, sizeof(layout));
  layout.struct_size = sizeof(layout);
  EXPECT_OK(cvq_quantizer_layout(q, &layout));
  CHECK(layout.dim == 8 && layout.code_bits == 16 && layout.code_bytes == 2);
  CHECK(layout.side_bytes == 8 && layout.block_vectors == 1);
  EXPECT_OK(cvq_quantizer_stored_bytes(q, 4, &bytes));
  CHECK(bytes == 4 * (2 + 8));
  EXPECT_CODE(cvq_quantizer_stored_bytes(q, -1, &bytes),
              CVQ_STATUS_INVALID_ARGUMENT);

  EXPECT_OK(cvq_quantizer_encode(NULL, q, &in, &c, &s));
  EXPECT_OK(cvq_quantizer_decode(NULL, q, &c, &s, &out));
  /* Samples span [-3, 3] in groups of 4: 2-bit steps of at most 2. */
  for (i = 0; i < 32; ++i) CHECK(fabsf(decoded[i] - samples[i]) <= 1.01f);

  /* Bad arguments. */
  EXPECT_CODE(cvq_quantizer_encode(NULL, NULL, &in, &c, &s),
              CVQ_STATUS_INVALID_ARGUMENT);
  EXPECT_CODE(cvq_quantizer_encode(NULL, q, NULL, &c, &s),
              CVQ_STATUS_INVALID_ARGUMENT);
  bad = c_tensor(samples, CVQ_DTYPE_CODE_UINT, 8, 2, samples_shape);
  EXPECT_CODE(cvq_quantizer_encode(NULL, q, &bad, &c, &s),
              CVQ_STATUS_INVALID_ARGUMENT); /* u8 input */
  bad = c_tensor(samples, CVQ_DTYPE_CODE_FLOAT, 64, 2, samples_shape);
  EXPECT_CODE(cvq_quantizer_encode(NULL, q, &bad, &c, &s),
              CVQ_STATUS_INVALID_ARGUMENT); /* f64: no such dtype here */
  bad = c_u8(codes, 2, wrong_shape);
  EXPECT_CODE(cvq_quantizer_encode(NULL, q, &in, &bad, &s),
              CVQ_STATUS_INVALID_ARGUMENT); /* wrong code size */
  bad = in;
  bad.struct_size = 16;
  EXPECT_CODE(cvq_quantizer_encode(NULL, q, &bad, &c, &s),
              CVQ_STATUS_INVALID_ARGUMENT);
  bad = in;
  bad.device_type = CVQ_DEVICE_CUDA;
  EXPECT_CODE(cvq_quantizer_encode(NULL, q, &bad, &c, &s),
              CVQ_STATUS_INVALID_ARGUMENT);
  bad = in;
  bad.strides = strides; /* column-major */
  EXPECT_CODE(cvq_quantizer_encode(NULL, q, &bad, &c, &s),
              CVQ_STATUS_INVALID_ARGUMENT);
  bad = in;
  bad.ndim = 99;
  EXPECT_CODE(cvq_quantizer_encode(NULL, q, &bad, &c, &s),
              CVQ_STATUS_INVALID_ARGUMENT);
  bad = in;
  bad.data = NULL;
  EXPECT_CODE(cvq_quantizer_encode(NULL, q, &bad, &c, &s),
              CVQ_STATUS_INVALID_ARGUMENT);
  bad = out;
  bad.shape = wrong_shape;
  EXPECT_CODE(cvq_quantizer_decode(NULL, q, &c, &s, &bad),
              CVQ_STATUS_INVALID_ARGUMENT);
  samples[3] = NAN;
  EXPECT_CODE(cvq_quantizer_encode(NULL, q, &in, &c, &s),
              CVQ_STATUS_INVALID_ARGUMENT);
  make_samples();

  EXPECT_CODE(cvq_quantizer_train(NULL, "nope", &in, 1, &untouched),
              CVQ_STATUS_NOT_FOUND);
  EXPECT_CODE(cvq_quantizer_train(NULL, "int:bits=99", &in, 1, &untouched),
              CVQ_STATUS_INVALID_ARGUMENT);
  EXPECT_CODE(cvq_quantizer_train(NULL, NULL, &in, 1, &untouched),
              CVQ_STATUS_INVALID_ARGUMENT);
  EXPECT_CODE(cvq_quantizer_train(NULL, "fp16", NULL, 1, &untouched),
              CVQ_STATUS_INVALID_ARGUMENT);
  CHECK(untouched == (cvq_quantizer*)&q);
  EXPECT_CODE(cvq_quantizer_layout(q, NULL), CVQ_STATUS_INVALID_ARGUMENT);
  layout.struct_size = 8;
  EXPECT_CODE(cvq_quantizer_layout(q, &layout), CVQ_STATUS_INVALID_ARGUMENT);
  EXPECT_CODE(cvq_quantizer_spec(q, NULL), CVQ_STATUS_INVALID_ARGUMENT);
  cvq_quantizer_destroy(q);
  cvq_quantizer_destroy(NULL);
}

/* Serializes an rvq quantizer (trained parameters), rebuilds it from the
 * bytes and checks both encode alike; size query and too-small buffers. */
static void test_serialize(void) {
  const int64_t samples_shape[2] = {4, 8};
  cvq_tensor in = c_f32(samples, 2, samples_shape);
  cvq_quantizer* q = NULL;
  cvq_quantizer* copy = NULL;
  size_t size = 0, again = 0;
  uint8_t* buffer;
  uint8_t codes1[4], codes2[4], side1[4 * 2], side2[4 * 2];
  const int64_t codes_shape[2] = {4, 1}, side_shape[2] = {4, 2};
  cvq_tensor c1 = c_u8(codes1, 2, codes_shape),
             c2 = c_u8(codes2, 2, codes_shape);
  cvq_tensor s1 = c_u8(side1, 2, side_shape), s2 = c_u8(side2, 2, side_shape);
  cvq_context* context = NULL;
  cvq_code_layout layout;

  EXPECT_OK(cvq_context_create(NULL, &context));
  EXPECT_OK(cvq_quantizer_train(context, "rvq:stages=2,bits=2,iterations=3",
                                &in, 7, &q));
  memset(&layout, 0, sizeof(layout));
  layout.struct_size = sizeof(layout);
  EXPECT_OK(cvq_quantizer_layout(q, &layout));
  CHECK(layout.code_bytes == 1 && layout.side_bytes == 2);
  CHECK(layout.parameter_bytes > 0);
  EXPECT_OK(cvq_quantizer_serialize(q, NULL, 0, &size));
  CHECK(size > 0);
  buffer = (uint8_t*)malloc(size);
  again = 12345;
  EXPECT_CODE(cvq_quantizer_serialize(q, buffer, size - 1, &again),
              CVQ_STATUS_OUT_OF_RANGE);
  CHECK(again == 12345);
  EXPECT_CODE(cvq_quantizer_serialize(q, NULL, size, &again),
              CVQ_STATUS_INVALID_ARGUMENT);
  EXPECT_OK(cvq_quantizer_serialize(q, buffer, size, &again));
  CHECK(again == size);
  EXPECT_OK(cvq_quantizer_deserialize(buffer, size, &copy));

  EXPECT_OK(cvq_quantizer_encode(context, q, &in, &c1, &s1));
  EXPECT_OK(cvq_quantizer_encode(context, copy, &in, &c2, &s2));
  CHECK(memcmp(codes1, codes2, sizeof(codes1)) == 0);
  CHECK(memcmp(side1, side2, sizeof(side1)) == 0);

  buffer[size / 2] ^= 0x55; /* the checksum catches it */
  cvq_quantizer_destroy(copy);
  copy = NULL;
  EXPECT_CODE(cvq_quantizer_deserialize(buffer, size, &copy),
              CVQ_STATUS_INVALID_ARGUMENT);
  CHECK(copy == NULL);
  EXPECT_CODE(cvq_quantizer_deserialize(NULL, 10, &copy),
              CVQ_STATUS_INVALID_ARGUMENT);
  EXPECT_CODE(cvq_quantizer_deserialize(buffer, 0, &copy),
              CVQ_STATUS_INVALID_ARGUMENT);
  free(buffer);
  cvq_quantizer_destroy(q);
  cvq_context_destroy(context);
}

static void test_codebook_file(void) {
  cvq_codebook_file* file = NULL;
  cvq_codebook_file* untouched = (cvq_codebook_file*)&file;
  cvq_codebook_file_info info;
  cvq_codebook_quantizer_info qinfo;
  cvq_quantizer* q = NULL;
  const char* spec = NULL;

  EXPECT_OK(cvq_codebook_file_open(golden_path, &file));
  memset(&info, 0, sizeof(info));
  info.struct_size = sizeof(info);
  EXPECT_OK(cvq_codebook_file_info_get(file, &info));
  CHECK(info.format_version == 1);
  CHECK(info.num_layers == 1 && info.num_heads == 4 && info.num_kv_heads == 2);
  CHECK(info.head_dim == 4 && info.rope_theta == 500000.0);
  CHECK(info.pair_layout == CVQ_PAIR_LAYOUT_HALF);
  CHECK(info.num_quantizers == 2);
  CHECK(strcmp(info.model_name, "golden-model") == 0);

  memset(&qinfo, 0, sizeof(qinfo));
  qinfo.struct_size = sizeof(qinfo);
  EXPECT_OK(cvq_codebook_file_quantizer(file, 0, &qinfo));
  CHECK(strcmp(qinfo.name, "layer.0.key") == 0);
  CHECK(strcmp(qinfo.spec, "int:bits=2,group_size=4") == 0);
  CHECK(qinfo.layer == 0 && qinfo.role == CVQ_ROLE_KEY && qinfo.dim == 8);
  EXPECT_CODE(cvq_codebook_file_quantizer(file, 2, &qinfo),
              CVQ_STATUS_OUT_OF_RANGE);

  EXPECT_OK(cvq_codebook_file_load_quantizer(file, "layer.0.value", &q));
  EXPECT_OK(cvq_quantizer_spec(q, &spec));
  CHECK(strcmp(spec, "fp16") == 0);
  cvq_quantizer_destroy(q);
  q = (cvq_quantizer*)&file;
  EXPECT_CODE(cvq_codebook_file_load_quantizer(file, "layer.9.key", &q),
              CVQ_STATUS_NOT_FOUND);
  CHECK(q == (cvq_quantizer*)&file);
  EXPECT_CODE(cvq_codebook_file_load_quantizer(file, NULL, &q),
              CVQ_STATUS_INVALID_ARGUMENT);
  info.struct_size = 0;
  EXPECT_CODE(cvq_codebook_file_info_get(file, &info),
              CVQ_STATUS_INVALID_ARGUMENT);
  cvq_codebook_file_destroy(file);
  cvq_codebook_file_destroy(NULL);

  file = untouched;
  EXPECT_CODE(cvq_codebook_file_open("no/such/file.cvqcb", &file),
              CVQ_STATUS_NOT_FOUND);
  EXPECT_CODE(cvq_codebook_file_open(plugin_path, &file),
              CVQ_STATUS_INVALID_ARGUMENT); /* not a codebook file */
  CHECK(file == untouched);
  EXPECT_CODE(cvq_codebook_file_info_get(NULL, &info),
              CVQ_STATUS_INVALID_ARGUMENT);
}

/* One layer, 4 query heads over 2 KV heads of head_dim 4. The query at
 * position 0 sees only token 0, so attention returns token 0's value for
 * every head of its group whatever RoPE does. */
static void test_cache(void) {
  const int64_t kv_shape[3] = {3, 2, 4};
  const int64_t q_shape[3] = {1, 4, 4};
  float keys[24], values[24], queries[16], out[16];
  int64_t position = 0, length = -1;
  cvq_tensor k = c_f32(keys, 3, kv_shape), v = c_f32(values, 3, kv_shape);
  cvq_tensor q = c_f32(queries, 3, q_shape), o = c_f32(out, 3, q_shape);
  cvq_cache_options options;
  cvq_cache_memory memory;
  cvq_cache* cache = NULL;
  int i, h;

  for (i = 0; i < 24; ++i) {
    keys[i] = (float)(i % 5) - 2.0f;
    values[i] = 0.25f * (float)i;
  }
  for (i = 0; i < 16; ++i) queries[i] = (float)(i % 3);
  memset(&options, 0, sizeof(options));
  options.struct_size = sizeof(options);
  options.num_layers = 1;
  options.num_heads = 4;
  options.num_kv_heads = 2;
  options.head_dim = 4;
  options.pair_layout = CVQ_PAIR_LAYOUT_HALF;
  options.rope_theta = 10000.0;
  EXPECT_OK(cvq_cache_create(NULL, &options, &cache));
  EXPECT_OK(cvq_cache_append(cache, 0, &k, &v));
  EXPECT_OK(cvq_cache_length(cache, 0, &length));
  CHECK(length == 3);
  EXPECT_OK(cvq_cache_attend(cache, 0, &q, &position, 1, &o));
  for (h = 0; h < 4; ++h) {
    for (i = 0; i < 4; ++i) {
      CHECK(fabsf(out[h * 4 + i] - values[(h / 2) * 4 + i]) < 1e-6f);
    }
  }
  memset(&memory, 0, sizeof(memory));
  memory.struct_size = sizeof(memory);
  EXPECT_OK(cvq_cache_memory_get(cache, &memory));
  CHECK(memory.num_tokens == 3 && memory.encoded_tokens == 0);
  CHECK(memory.kv_bytes >= 3 * 2 * 2 * 4 * 4 && memory.codes == 0);
  CHECK(memory.full_precision == memory.kv_bytes);
  EXPECT_OK(cvq_cache_truncate(cache, 1));
  EXPECT_OK(cvq_cache_length(cache, 0, &length));
  CHECK(length == 1);

  position = 1; /* beyond the cached tokens */
  EXPECT_CODE(cvq_cache_attend(cache, 0, &q, &position, 1, &o),
              CVQ_STATUS_INVALID_ARGUMENT);
  EXPECT_CODE(cvq_cache_attend(cache, 0, &q, NULL, 1, &o),
              CVQ_STATUS_INVALID_ARGUMENT);
  EXPECT_CODE(cvq_cache_append(cache, 1, &k, &v), CVQ_STATUS_INVALID_ARGUMENT);
  EXPECT_CODE(cvq_cache_append(cache, 0, &q, &v), CVQ_STATUS_INVALID_ARGUMENT);
  EXPECT_CODE(cvq_cache_length(cache, 5, &length), CVQ_STATUS_INVALID_ARGUMENT);
  EXPECT_CODE(cvq_cache_truncate(cache, -1), CVQ_STATUS_INVALID_ARGUMENT);
  EXPECT_CODE(cvq_cache_truncate(NULL, 0), CVQ_STATUS_INVALID_ARGUMENT);
  cvq_cache_destroy(cache);
  cvq_cache_destroy(NULL);

  options.storage = "commvq"; /* needs codebooks=FILE */
  EXPECT_CODE(cvq_cache_create(NULL, &options, &cache),
              CVQ_STATUS_INVALID_ARGUMENT);
  options.storage = "commvq:codebooks=no/such/file.cvqcb";
  EXPECT_CODE(cvq_cache_create(NULL, &options, &cache), CVQ_STATUS_NOT_FOUND);
  options.storage = "int:bits=99";
  EXPECT_CODE(cvq_cache_create(NULL, &options, &cache),
              CVQ_STATUS_INVALID_ARGUMENT);
  options.storage = NULL;
  options.pair_layout = 7;
  EXPECT_CODE(cvq_cache_create(NULL, &options, &cache),
              CVQ_STATUS_INVALID_ARGUMENT);
  options.pair_layout = CVQ_PAIR_LAYOUT_HALF;
  options.num_kv_heads = 3; /* does not divide num_heads */
  EXPECT_CODE(cvq_cache_create(NULL, &options, &cache),
              CVQ_STATUS_INVALID_ARGUMENT);
  options.struct_size = 8;
  EXPECT_CODE(cvq_cache_create(NULL, &options, &cache),
              CVQ_STATUS_INVALID_ARGUMENT);
}

/* The golden file's shape: 1 layer, 4 heads over 2 KV heads, head_dim 4. */
#define T 8
static void golden_cache_options(cvq_cache_options* options,
                                 const char* storage) {
  c_small_cache_options(options, 1, 500000.0, storage);
}

/* Attention of all T positions over a cache of `storage` holding keys and
 * values ([T, 2, 4] each); fills out [T, 4, 4] and *memory. */
static void attend_all(const char* storage, float* keys, float* values,
                       float* queries, float* out, cvq_cache_memory* memory) {
  const int64_t kv_shape[3] = {T, 2, 4}, q_shape[3] = {T, 4, 4};
  int64_t positions[T];
  cvq_tensor k = c_f32(keys, 3, kv_shape), v = c_f32(values, 3, kv_shape);
  cvq_tensor q = c_f32(queries, 3, q_shape), o = c_f32(out, 3, q_shape);
  cvq_cache_options options;
  cvq_cache* cache = NULL;
  int i;
  for (i = 0; i < T; ++i) positions[i] = i;
  golden_cache_options(&options, storage);
  EXPECT_OK(cvq_cache_create(NULL, &options, &cache));
  EXPECT_OK(cvq_cache_append(cache, 0, &k, &v));
  EXPECT_OK(cvq_cache_attend(cache, 0, &q, positions, T, &o));
  memset(memory, 0, sizeof(*memory));
  memory->struct_size = sizeof(*memory);
  EXPECT_OK(cvq_cache_memory_get(cache, memory));
  cvq_cache_destroy(cache);
}

static float max_abs_diff(const float* a, const float* b, int n) {
  float m = 0.0f;
  int i;
  for (i = 0; i < n; ++i) m = fmaxf(m, fabsf(a[i] - b[i]));
  return m;
}

/* Compressed storages: a codebook file's quantizers give the attention of
 * the full-precision cache over the keys and values they decode to; a
 * window covering every token gives full-precision attention. */
static void test_compressed_cache(void) {
  const int64_t rows_shape[2] = {T, 8}, codes_shape[2] = {T, 2},
                side_shape[2] = {T, 8}, fp16_codes_shape[2] = {T, 16},
                no_side_shape[2] = {T, 0};
  float keys[T * 8], values[T * 8], dec_keys[T * 8], dec_values[T * 8];
  float queries[T * 16], exact[T * 16], decoded[T * 16], out[T * 16];
  uint8_t codes[T * 16], side[T * 8];
  char storage[512];
  cvq_tensor x, y, c, s;
  cvq_codebook_file* file = NULL;
  cvq_quantizer *key_q = NULL, *value_q = NULL;
  cvq_cache_memory memory;
  int i;

  for (i = 0; i < T * 8; ++i) {
    keys[i] = sinf(0.7f * (float)i);
    values[i] = cosf(0.3f * (float)i);
  }
  for (i = 0; i < T * 16; ++i) queries[i] = sinf(1.3f * (float)i + 0.5f);

  /* What the golden file's quantizers decode the keys and values to. */
  EXPECT_OK(cvq_codebook_file_open(golden_path, &file));
  EXPECT_OK(cvq_codebook_file_load_quantizer(file, "layer.0.key", &key_q));
  EXPECT_OK(cvq_codebook_file_load_quantizer(file, "layer.0.value", &value_q));
  x = c_f32(keys, 2, rows_shape);
  y = c_f32(dec_keys, 2, rows_shape);
  c = c_u8(codes, 2, codes_shape);
  s = c_u8(side, 2, side_shape);
  EXPECT_OK(cvq_quantizer_encode(NULL, key_q, &x, &c, &s));
  EXPECT_OK(cvq_quantizer_decode(NULL, key_q, &c, &s, &y));
  x = c_f32(values, 2, rows_shape);
  y = c_f32(dec_values, 2, rows_shape);
  c = c_u8(codes, 2, fp16_codes_shape);
  s = c_u8(side, 2, no_side_shape);
  EXPECT_OK(cvq_quantizer_encode(NULL, value_q, &x, &c, &s));
  EXPECT_OK(cvq_quantizer_decode(NULL, value_q, &c, &s, &y));
  cvq_quantizer_destroy(key_q);
  cvq_quantizer_destroy(value_q);
  cvq_codebook_file_destroy(file);

  attend_all("fp32", dec_keys, dec_values, queries, decoded, &memory);
  attend_all("fp32", keys, values, queries, exact, &memory);
  CHECK(max_abs_diff(decoded, exact, T * 16) > 1e-3f); /* 2-bit keys differ */

  snprintf(storage, sizeof(storage), "commvq:codebooks=%s,window=0",
           golden_path);
  attend_all(storage, keys, values, queries, out, &memory);
  CHECK(max_abs_diff(out, decoded, T * 16) < 1e-4f);
  CHECK(memory.num_tokens == T && memory.encoded_tokens == T);
  CHECK(memory.codes >= T * (2 + 16) && memory.side >= T * 8);
  CHECK(memory.codebooks >= 0 && memory.rope_table > 0);
  CHECK(memory.kv_bytes ==
        memory.codes + memory.side + memory.full_precision + memory.page_slack);

  attend_all("int:bits=2,group_size=4;window=64", keys, values, queries, out,
             &memory);
  CHECK(max_abs_diff(out, exact, T * 16) < 1e-5f);
  CHECK(memory.encoded_tokens == 0 && memory.full_precision > 0);
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s GOLDEN_CODEBOOK SIGN_PLUGIN\n", argv[0]);
    return 2;
  }
  golden_path = argv[1];
  plugin_path = argv[2];
  make_samples();
  test_version_and_status();
  test_context();
  test_registry_and_plugin();
  test_quantizer();
  test_serialize();
  test_codebook_file();
  test_cache();
  test_compressed_cache();
  if (c_test_failures == 0) printf("capi_test: all checks passed\n");
  return c_test_failures != 0;
}
