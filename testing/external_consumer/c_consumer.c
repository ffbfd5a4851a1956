/* Loads a quantizer from a codebook file through the C ABI, encodes and
 * decodes two vectors, and checks the reconstruction. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "capi/commvq.h"

static int fail(cvq_status* status, const char* what) {
  fprintf(stderr, "%s: %s\n", what, cvq_status_message(status));
  cvq_status_destroy(status);
  return 1;
}

int main(int argc, char** argv) {
  cvq_codebook_file* file = NULL;
  cvq_quantizer* q = NULL;
  cvq_status* status;
  float x[16], y[16];
  uint8_t codes[64], side[64];
  int64_t x_shape[2] = {2, 8}, codes_shape[2] = {2, 0}, side_shape[2] = {2, 0};
  cvq_code_layout layout;
  cvq_tensor tx, ty, tc, ts;
  int i;

  if (argc != 2) return 2;
  if (cvq_abi_version() != CVQ_ABI_VERSION) return 1;
  if ((status = cvq_codebook_file_open(argv[1], &file)) != NULL) {
    return fail(status, "open");
  }
  if ((status = cvq_codebook_file_load_quantizer(file, "layer.0.value", &q))) {
    return fail(status, "load");
  }
  memset(&layout, 0, sizeof(layout));
  layout.struct_size = sizeof(layout);
  if ((status = cvq_quantizer_layout(q, &layout)))
    return fail(status, "layout");
  codes_shape[1] = layout.code_bytes;
  side_shape[1] = layout.side_bytes;
  for (i = 0; i < 16; ++i) x[i] = 0.1f * (float)i - 0.7f;

  memset(&tx, 0, sizeof(tx));
  tx.struct_size = sizeof(tx);
  tx.dtype_code = CVQ_DTYPE_CODE_FLOAT;
  tx.dtype_bits = 32;
  tx.dtype_lanes = 1;
  tx.device_type = CVQ_DEVICE_CPU;
  tx.ndim = 2;
  tx.data = x;
  tx.shape = x_shape;
  ty = tx;
  ty.data = y;
  tc = tx;
  tc.dtype_code = CVQ_DTYPE_CODE_UINT;
  tc.dtype_bits = 8;
  tc.data = codes;
  tc.shape = codes_shape;
  ts = tc;
  ts.data = side;
  ts.shape = side_shape;
  if ((status = cvq_quantizer_encode(NULL, q, &tx, &tc, &ts))) {
    return fail(status, "encode");
  }
  if ((status = cvq_quantizer_decode(NULL, q, &tc, &ts, &ty))) {
    return fail(status, "decode");
  }
  for (i = 0; i < 16; ++i) {
    if (fabsf(x[i] - y[i]) > 1e-3f) {
      fprintf(stderr, "element %d: %f decoded as %f\n", i, x[i], y[i]);
      return 1;
    }
  }
  printf("libcommvq %s from another workspace: fp16 round trip ok\n",
         cvq_version_string());
  cvq_quantizer_destroy(q);
  cvq_codebook_file_destroy(file);
  return 0;
}
