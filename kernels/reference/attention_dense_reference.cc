#include "kernels/reference/attention_dense_reference.h"

#include <algorithm>
#include <cmath>

namespace commvq {

void DenseScoresReference(const float* query, const float* keys,
                          int64_t key_stride, int64_t head_dim, int64_t n,
                          float scale, float* scores) {
  for (int64_t t = 0; t < n; ++t) {
    const float* key = keys + t * key_stride;
    float dot = 0.0f;
    for (int64_t c = 0; c < head_dim; ++c) dot += query[c] * key[c];
    scores[t] = scale * dot;
  }
}

void SoftmaxReference(float* scores, int64_t n) {
  const float max_score = *std::max_element(scores, scores + n);
  double sum = 0.0;
  for (int64_t t = 0; t < n; ++t) {
    scores[t] = std::exp(scores[t] - max_score);
    sum += scores[t];
  }
  const float inverse = static_cast<float>(1.0 / sum);
  for (int64_t t = 0; t < n; ++t) scores[t] *= inverse;
}

void DenseWeightedSumReference(const float* weights, const float* values,
                               int64_t value_stride, int64_t head_dim,
                               int64_t n, float* out) {
  for (int64_t t = 0; t < n; ++t) {
    const float* value = values + t * value_stride;
    for (int64_t c = 0; c < head_dim; ++c) out[c] += weights[t] * value[c];
  }
}

}  // namespace commvq
