#include "kernels/reference/attention_dense_reference.h"

#include <algorithm>
#include <cmath>

#include "commvq/base/float16.h"

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

namespace {

// Both element types through one body: `load` turns element c of a row into
// a float.
template <typename T, typename Load>
void DenseGroupAttention(const float* queries, int group, const T* keys,
                         const T* values, int64_t head_dim, int64_t n,
                         float scale, float* scores, float* out, Load load) {
  for (int64_t t = 0; t < n; ++t) {
    for (int g = 0; g < group; ++g) {
      float dot = 0.0f;
      for (int64_t c = 0; c < head_dim; ++c) {
        dot += queries[g * head_dim + c] * load(keys[t * head_dim + c]);
      }
      scores[g * n + t] = scale * dot;
    }
  }
  for (int g = 0; g < group; ++g) {
    SoftmaxReference(scores + g * n, n);
    std::fill(out + g * head_dim, out + (g + 1) * head_dim, 0.0f);
  }
  for (int64_t t = 0; t < n; ++t) {
    for (int g = 0; g < group; ++g) {
      for (int64_t c = 0; c < head_dim; ++c) {
        out[g * head_dim + c] += scores[g * n + t] * load(values[t * head_dim + c]);
      }
    }
  }
}

}  // namespace

void DenseGroupAttentionF32Reference(const float* queries, int group,
                                     const float* keys, const float* values,
                                     int64_t head_dim, int64_t n, float scale,
                                     float* scores, float* out) {
  DenseGroupAttention(queries, group, keys, values, head_dim, n, scale, scores,
                      out, [](float x) { return x; });
}

void DenseGroupAttentionF16Reference(const float* queries, int group,
                                     const uint16_t* keys,
                                     const uint16_t* values, int64_t head_dim,
                                     int64_t n, float scale, float* scores,
                                     float* out) {
  DenseGroupAttention(queries, group, keys, values, head_dim, n, scale, scores,
                      out, HalfBitsToFloat);
}

}  // namespace commvq
