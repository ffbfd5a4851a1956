/* A minimal test harness for the C tests of commvq.h: CHECK records a
 * failure with its line and goes on; EXPECT_CODE checks the code of a
 * returned status and frees it. main() returns c_test_failures != 0. */
#ifndef COMMVQ_CAPI_C_TEST_H_
#define COMMVQ_CAPI_C_TEST_H_

#include <stdio.h>
#include <string.h>

#include "capi/commvq.h"

static int c_test_failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++c_test_failures;                                                       \
    }                                                                          \
  } while (0)

/* Evaluates `call` (a cvq_status*), checks its code is `code` and frees it. */
#define EXPECT_CODE(call, code)                                         \
  do {                                                                  \
    cvq_status* s_ = (call);                                            \
    if (cvq_status_code(s_) != (code)) {                                \
      fprintf(stderr, "%s:%d: %s returned code %d (%s); expected %d\n", \
              __FILE__, __LINE__, #call, (int)cvq_status_code(s_),      \
              cvq_status_message(s_), (int)(code));                     \
      ++c_test_failures;                                                \
    }                                                                   \
    cvq_status_destroy(s_);                                             \
  } while (0)

#define EXPECT_OK(call) EXPECT_CODE(call, CVQ_STATUS_OK)

/* A row-major CPU tensor view of `data`. */
static inline cvq_tensor c_tensor(void* data, uint8_t dtype_code,
                                  uint8_t dtype_bits, int32_t ndim,
                                  const int64_t* shape) {
  cvq_tensor t;
  t.struct_size = sizeof(cvq_tensor);
  t.dtype_code = dtype_code;
  t.dtype_bits = dtype_bits;
  t.dtype_lanes = 1;
  t.device_type = CVQ_DEVICE_CPU;
  t.device_id = 0;
  t.ndim = ndim;
  t.reserved = 0;
  t.data = data;
  t.shape = shape;
  t.strides = NULL;
  return t;
}

static inline cvq_tensor c_f32(float* data, int32_t ndim,
                               const int64_t* shape) {
  return c_tensor(data, CVQ_DTYPE_CODE_FLOAT, 32, ndim, shape);
}

static inline cvq_tensor c_u8(uint8_t* data, int32_t ndim,
                              const int64_t* shape) {
  return c_tensor(data, CVQ_DTYPE_CODE_UINT, 8, ndim, shape);
}

/* Cache options of the shape of the test codebook files: 4 query heads
 * over 2 KV heads, head_dim 4, half pairs. */
static inline void c_small_cache_options(cvq_cache_options* options,
                                         int32_t num_layers, double rope_theta,
                                         const char* storage) {
  memset(options, 0, sizeof(*options));
  options->struct_size = sizeof(*options);
  options->num_layers = num_layers;
  options->num_heads = 4;
  options->num_kv_heads = 2;
  options->head_dim = 4;
  options->pair_layout = CVQ_PAIR_LAYOUT_HALF;
  options->rope_theta = rope_theta;
  options->storage = storage;
}

#endif /* COMMVQ_CAPI_C_TEST_H_ */
