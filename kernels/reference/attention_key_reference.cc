#include "kernels/reference/attention_key_reference.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/reference/packed_bits.h"

namespace commvq {
namespace {

// z_{s,j}[v] as (x, y).
const float* Z(const KeyCodebookArrays& cb, int s, int64_t j, int v) {
  return cb.z + ((s * cb.num_pairs() + j) * cb.num_values() + v) * 2;
}

// The query's pair components: xy[j] = x_j, xy[num_pairs + j] = y_j.
std::vector<float> SplitPairs(const KeyCodebookArrays& cb, const float* head) {
  std::vector<float> xy(cb.head_dim);
  for (int64_t j = 0; j < cb.num_pairs(); ++j) {
    xy[j] = head[PairFirstChannel(cb.layout, cb.head_dim, j)];
    xy[cb.num_pairs() + j] = head[PairSecondChannel(cb.layout, cb.head_dim, j)];
  }
  return xy;
}

// The decode kernels' common end: the score of each query head for a key
// whose pair components are key[j] (x) and key[pairs + j] (y), pre-RoPE.
void ScoreDecodedKey(const KeyCodebookArrays& cb, const float* key,
                     const std::vector<std::vector<float>>& q,
                     const PackedKeyCodes& keys, int64_t t, float scale,
                     float* scores, int64_t scores_stride) {
  const int64_t pairs = cb.num_pairs();
  for (size_t g = 0; g < q.size(); ++g) {
    float dot = 0.0f;
    for (int64_t j = 0; j < pairs; ++j) {
      const float c = keys.cos[t * pairs + j];
      const float s = keys.sin[t * pairs + j];
      const float x = key[j] * c - key[pairs + j] * s;
      const float y = key[j] * s + key[pairs + j] * c;
      dot += q[g][j] * x + q[g][pairs + j] * y;
    }
    scores[g * scores_stride + t] = scale * keys.norms[t] * dot;
  }
}

// Adds token t's a- and b-rows of every stage of the centre planes (f32 or
// int16, [stages, 2, 2^half_bits, head_dim]) to sum[0, head_dim).
template <typename Plane, typename Sum>
void AddKeyRows(const KeyCodebookArrays& cb, const Plane* planes,
                const PackedKeyCodes& keys, int64_t t, Sum* sum) {
  const int bits = 2 * cb.half_bits;
  const uint32_t b_mask = (1u << cb.half_bits) - 1;
  const int64_t plane = int64_t{cb.num_values()} * cb.head_dim;
  const uint8_t* row = keys.codes + t * keys.code_stride;
  for (int s = 0; s < cb.stages; ++s) {
    const uint32_t code = ReadPackedCode(row, keys.first_code + s, bits);
    const Plane* a =
        planes + (2 * s) * plane + (code >> cb.half_bits) * cb.head_dim;
    const Plane* b =
        planes + (2 * s + 1) * plane + (code & b_mask) * cb.head_dim;
    for (int64_t c = 0; c < cb.head_dim; ++c) sum[c] += a[c] + b[c];
  }
}

std::vector<std::vector<float>> SplitQueries(const KeyCodebookArrays& cb,
                                             const float* queries,
                                             int num_queries) {
  std::vector<std::vector<float>> q(num_queries);
  for (int g = 0; g < num_queries; ++g) {
    q[g] = SplitPairs(cb, queries + g * cb.head_dim);
  }
  return q;
}

}  // namespace

void BuildKeyScoreTableReference(const KeyCodebookArrays& cb,
                                 const float* query, float* table) {
  const int64_t pairs = cb.num_pairs();
  const std::vector<float> q = SplitPairs(cb, query);
  for (int s = 0; s < cb.stages; ++s) {
    for (int v = 0; v < cb.num_values(); ++v) {
      float* re = table + ((s * cb.num_values() + v) * 2) * pairs;
      float* im = re + pairs;
      for (int64_t j = 0; j < pairs; ++j) {
        const float* z = Z(cb, s, j, v);
        // conj(qx + i qy) * (x + i y).
        re[j] = q[j] * z[0] + q[pairs + j] * z[1];
        im[j] = q[j] * z[1] - q[pairs + j] * z[0];
      }
    }
  }
}

void KeyScoresFromTableReference(const KeyCodebookArrays& cb,
                                 const float* table,
                                 const PackedKeyCodes& keys, float scale,
                                 float* scores) {
  const int bits = 2 * cb.half_bits;
  const uint32_t b_mask = (1u << cb.half_bits) - 1;
  const int64_t pairs = cb.num_pairs();
  for (int64_t t = 0; t < keys.n; ++t) {
    const uint8_t* row = keys.codes + t * keys.code_stride;
    float score = 0.0f;
    for (int64_t j = 0; j < pairs; ++j) {
      float re = 0.0f;
      float im = 0.0f;
      for (int s = 0; s < cb.stages; ++s) {
        const uint32_t code = ReadPackedCode(row, keys.first_code + s, bits);
        const float* ta =
            table + ((s * cb.num_values() + (code >> cb.half_bits)) * 2) * pairs;
        const float* tb =
            table + ((s * cb.num_values() + (code & b_mask)) * 2) * pairs;
        // T_a + i T_b.
        re += ta[j] - tb[pairs + j];
        im += ta[pairs + j] + tb[j];
      }
      score += re * keys.cos[t * pairs + j] - im * keys.sin[t * pairs + j];
    }
    scores[t] = scale * keys.norms[t] * score;
  }
}

void MakeKeyCentrePlanesReference(const KeyCodebookArrays& cb, float* planes) {
  const int64_t pairs = cb.num_pairs();
  for (int s = 0; s < cb.stages; ++s) {
    for (int v = 0; v < cb.num_values(); ++v) {
      float* a = planes + ((s * 2 + 0) * cb.num_values() + v) * 2 * pairs;
      float* b = planes + ((s * 2 + 1) * cb.num_values() + v) * 2 * pairs;
      for (int64_t j = 0; j < pairs; ++j) {
        const float* z = Z(cb, s, j, v);
        a[j] = z[0];
        a[pairs + j] = z[1];
        b[j] = -z[1];
        b[pairs + j] = z[0];
      }
    }
  }
}

void KeyScoresByDecodingReference(const KeyCodebookArrays& cb,
                                  const float* planes, const float* queries,
                                  int num_queries, const PackedKeyCodes& keys,
                                  float scale, float* scores,
                                  int64_t scores_stride) {
  const std::vector<std::vector<float>> q =
      SplitQueries(cb, queries, num_queries);
  std::vector<float> key(cb.head_dim);
  for (int64_t t = 0; t < keys.n; ++t) {
    std::fill(key.begin(), key.end(), 0.0f);
    AddKeyRows(cb, planes, keys, t, key.data());
    ScoreDecodedKey(cb, key.data(), q, keys, t, scale, scores, scores_stride);
  }
}

void MakeKeyCentrePlanesI16Reference(const KeyCodebookArrays& cb,
                                     int16_t* planes, float* pair_scale) {
  const int64_t pairs = cb.num_pairs();
  const int64_t plane_floats = int64_t{cb.num_values()} * 2 * pairs;
  std::vector<float> f32(int64_t{cb.stages} * 2 * plane_floats);
  MakeKeyCentrePlanesReference(cb, f32.data());
  for (int64_t j = 0; j < pairs; ++j) {
    double bound = 0.0;  // sum over stages of the largest |entry|
    for (int s = 0; s < cb.stages; ++s) {
      float largest = 0.0f;
      for (int64_t i = 0; i < 2 * plane_floats; i += pairs) {
        const float* entry = &f32[s * 2 * plane_floats + i + j];
        largest = std::max(largest, std::abs(*entry));
      }
      bound += largest;
    }
    pair_scale[j] =
        bound > 0.0 ? static_cast<float>(2.0 * bound / (32767 - 2 * cb.stages))
                    : 1.0f;
  }
  for (size_t i = 0; i < f32.size(); ++i) {
    planes[i] =
        static_cast<int16_t>(std::lround(f32[i] / pair_scale[i % pairs]));
  }
}

void KeyScoresByDecodingI16Reference(const KeyCodebookArrays& cb,
                                     const int16_t* planes,
                                     const float* pair_scale,
                                     const float* queries, int num_queries,
                                     const PackedKeyCodes& keys, float scale,
                                     float* scores, int64_t scores_stride) {
  const int64_t pairs = cb.num_pairs();
  const std::vector<std::vector<float>> q =
      SplitQueries(cb, queries, num_queries);
  std::vector<int32_t> sum(cb.head_dim);
  std::vector<float> key(cb.head_dim);
  for (int64_t t = 0; t < keys.n; ++t) {
    std::fill(sum.begin(), sum.end(), 0);
    AddKeyRows(cb, planes, keys, t, sum.data());
    for (int64_t c = 0; c < cb.head_dim; ++c) {
      key[c] = static_cast<float>(sum[c]) * pair_scale[c % pairs];
    }
    ScoreDecodedKey(cb, key.data(), q, keys, t, scale, scores, scores_stride);
  }
}

}  // namespace commvq
