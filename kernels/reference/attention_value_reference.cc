#include "kernels/reference/attention_value_reference.h"

#include "kernels/reference/packed_bits.h"

namespace commvq {

void AccumulateValueBitsReference(const float* weights, const float* factors,
                                  const uint8_t* codes, int64_t code_stride,
                                  int64_t num_bits, int64_t n, float* acc) {
  for (int64_t t = 0; t < n; ++t) {
    const float weight = weights[t] * factors[t];
    const uint8_t* row = codes + t * code_stride;
    for (int64_t i = 0; i < num_bits; ++i) {
      if (ReadPackedCode(row, i, 1) != 0) acc[i] += weight;
    }
  }
}

void ValueCodeProductReference(const float* acc, const float* codebook,
                               const float* channel_scale, int64_t num_bits,
                               int64_t dim, int64_t first_channel,
                               int64_t head_dim, float* out) {
  for (int64_t c = 0; c < head_dim; ++c) {
    float sum = 0.0f;
    for (int64_t i = 0; i < num_bits; ++i) {
      sum += acc[i] * codebook[i * dim + first_channel + c];
    }
    out[c] += channel_scale[first_channel + c] * sum;
  }
}

}  // namespace commvq
