/* C helpers of the Go binding: cgo forbids passing Go memory that holds Go
 * pointers, so cvq_tensor structs (which point at the data) are built here
 * on the C stack from data pointers passed as plain arguments. Slices thus
 * cross without copies. */
#ifndef COMMVQ_CAPI_GO_TENSORS_H_
#define COMMVQ_CAPI_GO_TENSORS_H_

#include "commvq.h"
static inline cvq_tensor go_tensor(void* data, uint8_t code, uint8_t bits,
                                   int32_t ndim, const int64_t* shape) {
  cvq_tensor t = {sizeof(cvq_tensor),
                  code,
                  bits,
                  1,
                  CVQ_DEVICE_CPU,
                  0,
                  ndim,
                  0,
                  data,
                  shape,
                  NULL};
  return t;
}
#define GO_F32(data, ndim, shape) \
  go_tensor((data), CVQ_DTYPE_CODE_FLOAT, 32, (ndim), (shape))
#define GO_U8(data, ndim, shape) \
  go_tensor((data), CVQ_DTYPE_CODE_UINT, 8, (ndim), (shape))

static inline cvq_status* go_train(cvq_context* context, const char* spec,
                                   float* samples, int64_t n, int64_t dim,
                                   uint64_t seed, cvq_quantizer** out) {
  int64_t shape[2] = {n, dim};
  cvq_tensor t = GO_F32(samples, 2, shape);
  return cvq_quantizer_train(context, spec, &t, seed, out);
}

static inline cvq_status* go_encode(cvq_context* context,
                                    const cvq_quantizer* q, float* input,
                                    int64_t n, int64_t dim, uint8_t* codes,
                                    int64_t code_rows, int64_t code_bytes,
                                    uint8_t* side, int64_t side_rows,
                                    int64_t side_bytes) {
  int64_t in_shape[2] = {n, dim}, codes_shape[2] = {code_rows, code_bytes},
          side_shape[2] = {side_rows, side_bytes};
  cvq_tensor ti = GO_F32(input, 2, in_shape);
  cvq_tensor tc = GO_U8(codes, 2, codes_shape);
  cvq_tensor ts = GO_U8(side, 2, side_shape);
  return cvq_quantizer_encode(context, q, &ti, &tc, &ts);
}

static inline cvq_status* go_decode(cvq_context* context,
                                    const cvq_quantizer* q, uint8_t* codes,
                                    int64_t n, int64_t code_bytes,
                                    uint8_t* side, int64_t side_rows,
                                    int64_t side_bytes, float* out,
                                    int64_t dim) {
  int64_t codes_shape[2] = {n, code_bytes},
          side_shape[2] = {side_rows, side_bytes}, out_shape[2] = {n, dim};
  cvq_tensor tc = GO_U8(codes, 2, codes_shape);
  cvq_tensor ts = GO_U8(side, 2, side_shape);
  cvq_tensor to = GO_F32(out, 2, out_shape);
  return cvq_quantizer_decode(context, q, &tc, &ts, &to);
}

static inline cvq_status* go_cache_append(cvq_cache* cache, int32_t layer,
                                          float* keys, int64_t keys_rows,
                                          float* values, int64_t values_rows,
                                          int64_t heads, int64_t head_dim) {
  int64_t k_shape[3] = {keys_rows, heads, head_dim},
          v_shape[3] = {values_rows, heads, head_dim};
  cvq_tensor tk = GO_F32(keys, 3, k_shape);
  cvq_tensor tv = GO_F32(values, 3, v_shape);
  return cvq_cache_append(cache, layer, &tk, &tv);
}

static inline cvq_status* go_cache_attend(const cvq_cache* cache, int32_t layer,
                                          float* queries, int64_t rows,
                                          int64_t heads, int64_t head_dim,
                                          int64_t* positions,
                                          int64_t num_positions, float* out) {
  int64_t q_shape[3] = {rows, heads, head_dim},
          o_shape[3] = {num_positions, heads, head_dim};
  cvq_tensor tq = GO_F32(queries, 3, q_shape);
  cvq_tensor to = GO_F32(out, 3, o_shape);
  return cvq_cache_attend(cache, layer, &tq, positions, num_positions, &to);
}

#endif /* COMMVQ_CAPI_GO_TENSORS_H_ */
