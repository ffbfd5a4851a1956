/* The ABI 1 layout of every public struct: sizes and field offsets on
 * 64-bit targets, as documented in commvq.h. A failure here means a change
 * that breaks binary compatibility. */
#include <stddef.h>

#include "capi/c_test.h"

#define EXPECT_OFFSET(type, field, offset) \
  CHECK(offsetof(type, field) == (offset))

int main(void) {
  CHECK(sizeof(void*) == 8); /* the documented offsets are for 64-bit */

  CHECK(sizeof(cvq_tensor) == 48);
  EXPECT_OFFSET(cvq_tensor, struct_size, 0);
  EXPECT_OFFSET(cvq_tensor, dtype_code, 4);
  EXPECT_OFFSET(cvq_tensor, dtype_bits, 5);
  EXPECT_OFFSET(cvq_tensor, dtype_lanes, 6);
  EXPECT_OFFSET(cvq_tensor, device_type, 8);
  EXPECT_OFFSET(cvq_tensor, device_id, 12);
  EXPECT_OFFSET(cvq_tensor, ndim, 16);
  EXPECT_OFFSET(cvq_tensor, reserved, 20);
  EXPECT_OFFSET(cvq_tensor, data, 24);
  EXPECT_OFFSET(cvq_tensor, shape, 32);
  EXPECT_OFFSET(cvq_tensor, strides, 40);

  CHECK(sizeof(cvq_context_options) == 32);
  EXPECT_OFFSET(cvq_context_options, struct_size, 0);
  EXPECT_OFFSET(cvq_context_options, num_threads, 4);
  EXPECT_OFFSET(cvq_context_options, backend, 8);
  EXPECT_OFFSET(cvq_context_options, device_id, 16);
  EXPECT_OFFSET(cvq_context_options, reserved, 20);
  EXPECT_OFFSET(cvq_context_options, stream, 24);

  CHECK(sizeof(cvq_quantizer_kind) == 32);
  EXPECT_OFFSET(cvq_quantizer_kind, struct_size, 0);
  EXPECT_OFFSET(cvq_quantizer_kind, reserved, 4);
  EXPECT_OFFSET(cvq_quantizer_kind, name, 8);
  EXPECT_OFFSET(cvq_quantizer_kind, summary, 16);
  EXPECT_OFFSET(cvq_quantizer_kind, example_spec, 24);

  CHECK(sizeof(cvq_code_layout) == 56);
  EXPECT_OFFSET(cvq_code_layout, struct_size, 0);
  EXPECT_OFFSET(cvq_code_layout, reserved, 4);
  EXPECT_OFFSET(cvq_code_layout, dim, 8);
  EXPECT_OFFSET(cvq_code_layout, code_bits, 16);
  EXPECT_OFFSET(cvq_code_layout, code_bytes, 24);
  EXPECT_OFFSET(cvq_code_layout, side_bytes, 32);
  EXPECT_OFFSET(cvq_code_layout, block_vectors, 40);
  EXPECT_OFFSET(cvq_code_layout, parameter_bytes, 48);

  CHECK(sizeof(cvq_codebook_file_info) == 48);
  EXPECT_OFFSET(cvq_codebook_file_info, struct_size, 0);
  EXPECT_OFFSET(cvq_codebook_file_info, format_version, 4);
  EXPECT_OFFSET(cvq_codebook_file_info, num_layers, 8);
  EXPECT_OFFSET(cvq_codebook_file_info, num_heads, 12);
  EXPECT_OFFSET(cvq_codebook_file_info, num_kv_heads, 16);
  EXPECT_OFFSET(cvq_codebook_file_info, head_dim, 20);
  EXPECT_OFFSET(cvq_codebook_file_info, pair_layout, 24);
  EXPECT_OFFSET(cvq_codebook_file_info, num_quantizers, 28);
  EXPECT_OFFSET(cvq_codebook_file_info, rope_theta, 32);
  EXPECT_OFFSET(cvq_codebook_file_info, model_name, 40);

  CHECK(sizeof(cvq_codebook_quantizer_info) == 40);
  EXPECT_OFFSET(cvq_codebook_quantizer_info, struct_size, 0);
  EXPECT_OFFSET(cvq_codebook_quantizer_info, layer, 4);
  EXPECT_OFFSET(cvq_codebook_quantizer_info, role, 8);
  EXPECT_OFFSET(cvq_codebook_quantizer_info, reserved, 12);
  EXPECT_OFFSET(cvq_codebook_quantizer_info, dim, 16);
  EXPECT_OFFSET(cvq_codebook_quantizer_info, name, 24);
  EXPECT_OFFSET(cvq_codebook_quantizer_info, spec, 32);

  CHECK(sizeof(cvq_cache_options) == 40);
  EXPECT_OFFSET(cvq_cache_options, struct_size, 0);
  EXPECT_OFFSET(cvq_cache_options, num_layers, 4);
  EXPECT_OFFSET(cvq_cache_options, num_heads, 8);
  EXPECT_OFFSET(cvq_cache_options, num_kv_heads, 12);
  EXPECT_OFFSET(cvq_cache_options, head_dim, 16);
  EXPECT_OFFSET(cvq_cache_options, pair_layout, 20);
  EXPECT_OFFSET(cvq_cache_options, rope_theta, 24);
  EXPECT_OFFSET(cvq_cache_options, storage, 32);

  CHECK(sizeof(cvq_cache_memory) == 88);
  EXPECT_OFFSET(cvq_cache_memory, struct_size, 0);
  EXPECT_OFFSET(cvq_cache_memory, reserved, 4);
  EXPECT_OFFSET(cvq_cache_memory, num_tokens, 8);
  EXPECT_OFFSET(cvq_cache_memory, encoded_tokens, 16);
  EXPECT_OFFSET(cvq_cache_memory, kv_bytes, 24);
  EXPECT_OFFSET(cvq_cache_memory, codes, 32);
  EXPECT_OFFSET(cvq_cache_memory, side, 40);
  EXPECT_OFFSET(cvq_cache_memory, full_precision, 48);
  EXPECT_OFFSET(cvq_cache_memory, page_slack, 56);
  EXPECT_OFFSET(cvq_cache_memory, codebooks, 64);
  EXPECT_OFFSET(cvq_cache_memory, rope_table, 72);
  EXPECT_OFFSET(cvq_cache_memory, workspace, 80);

  if (c_test_failures == 0) printf("layout_test: all layouts as documented\n");
  return c_test_failures != 0;
}
