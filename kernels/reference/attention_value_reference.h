// Scalar oracles for the value half of attention on CommVQ value codes
// (docs/METHOD.md section 2, paper Eq. 22; decoding rule in
// commvq/quantizer/commvq_value/value_codebook.h):
//   v_hat_t[c] = channel_scale[c] * f_t * sum_i s_{t,i} C[i][c]
// is linear in the code bits, so the attention output of a query head,
//   sum_t w_t v_hat_t[c] = channel_scale[c] * sum_i (sum_t w_t f_t s_{t,i}) C[i][c],
// needs one accumulation of w_t f_t into the Nc code-bit slots per token and
// a single product with the codebook per query head at the end.
// Plain arrays only, so CPU and CUDA kernels share these oracles.
#ifndef KERNELS_REFERENCE_ATTENTION_VALUE_REFERENCE_H_
#define KERNELS_REFERENCE_ATTENTION_VALUE_REFERENCE_H_

#include <cstdint>

namespace commvq {

// acc[i] += sum_t weights[t] * factors[t] * bit i of token t, i < num_bits.
// codes: token t's bits start at codes + t * code_stride, LSB-first.
void AccumulateValueBitsReference(const float* weights, const float* factors,
                                  const uint8_t* codes, int64_t code_stride,
                                  int64_t num_bits, int64_t n, float* acc);

// out[c] += channel_scale[first_channel + c] *
//           sum_i acc[i] * codebook[i * dim + first_channel + c]
// for c < head_dim. codebook: [num_bits, dim]; channel_scale: [dim].
void ValueCodeProductReference(const float* acc, const float* codebook,
                               const float* channel_scale, int64_t num_bits,
                               int64_t dim, int64_t first_channel,
                               int64_t head_dim, float* out);

}  // namespace commvq

#endif  // KERNELS_REFERENCE_ATTENTION_VALUE_REFERENCE_H_
