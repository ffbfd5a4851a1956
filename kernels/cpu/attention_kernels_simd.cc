// The optimized CPU attention kernels, written as plain loops over
// consecutive floats that the compiler vectorizes for the instruction set
// this file is built for (BUILD compiles it once per ISA with its own flags,
// defining CVQ_ATTENTION_ISA and CVQ_ATTENTION_TABLE_FN). Everything here
// has internal linkage and uses no inline function or template of another
// header that other files also instantiate: such code would be compiled with
// AVX-512 here and could be the copy the linker keeps for everyone. (Calling
// functions defined elsewhere, like the softmax reference, is fine: exp
// bounds it, not the vector width.)
//
// Same results as kernels/reference/attention_* up to the order of float
// sums (reductions are vectorized: see the tests' tolerances).
#include <math.h>

#include <cmath>
#include <cstring>

#include <immintrin.h>

#include "kernels/cpu/attention_isa_variants.h"
#include "kernels/reference/attention_dense_reference.h"

#if !defined(CVQ_ATTENTION_ISA) || !defined(CVQ_ATTENTION_TABLE_FN)
#error "build through kernels/cpu/BUILD, which defines the ISA macros"
#endif

namespace commvq {
namespace {

// Code `index` of `bits` (<= 16) bits of an LSB-first stream; reads at most
// the three bytes holding it.
uint32_t ReadCode(const uint8_t* row, int64_t index, int bits) {
  const int64_t bit = index * bits;
  const uint8_t* p = row + (bit >> 3);
  const int shift = static_cast<int>(bit & 7);
  uint32_t word = p[0];
  if (shift + bits > 8) word |= static_cast<uint32_t>(p[1]) << 8;
  if (shift + bits > 16) word |= static_cast<uint32_t>(p[2]) << 16;
  return (word >> shift) & ((1u << bits) - 1);
}

// The channels of `head` split into pair components: xy[j] = x_j,
// xy[pairs + j] = y_j.
void SplitPairs(const KeyCodebookArrays& cb, const float* head, float* xy) {
  const int64_t pairs = cb.num_pairs();
  const bool half = cb.layout == PairLayout::kHalf;
  for (int64_t j = 0; j < pairs; ++j) {
    xy[j] = head[half ? j : 2 * j];
    xy[pairs + j] = head[half ? j + pairs : 2 * j + 1];
  }
}

float Dot(const float* __restrict a, const float* __restrict b, int64_t n) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

void BuildTable(const KeyCodebookArrays& cb, const float* query,
                float* table) {
  const int64_t pairs = cb.num_pairs();
  const int values = cb.num_values();
  float* q = new float[2 * pairs];
  SplitPairs(cb, query, q);
  for (int s = 0; s < cb.stages; ++s) {
    for (int v = 0; v < values; ++v) {
      float* __restrict re = table + ((s * values + v) * 2) * pairs;
      float* __restrict im = re + pairs;
      const float* z = cb.z + (int64_t{s} * pairs * values + v) * 2;
      for (int64_t j = 0; j < pairs; ++j) {
        const float x = z[j * values * 2];
        const float y = z[j * values * 2 + 1];
        re[j] = q[j] * x + q[pairs + j] * y;
        im[j] = q[j] * y - q[pairs + j] * x;
      }
    }
  }
  delete[] q;
}

void ScoresFromTable(const KeyCodebookArrays& cb, const float* table,
                     const PackedKeyCodes& keys, float scale, float* scores) {
  const int64_t pairs = cb.num_pairs();
  const int bits = 2 * cb.half_bits;
  const uint32_t b_mask = (1u << cb.half_bits) - 1;
  float* acc = new float[2 * pairs];
  float* __restrict re = acc;
  float* __restrict im = acc + pairs;
  for (int64_t t = 0; t < keys.n; ++t) {
    const uint8_t* row = keys.codes + t * keys.code_stride;
    for (int64_t j = 0; j < 2 * pairs; ++j) acc[j] = 0.0f;
    for (int s = 0; s < cb.stages; ++s) {
      const uint32_t code = ReadCode(row, keys.first_code + s, bits);
      const float* __restrict ta =
          table + ((s * cb.num_values() + (code >> cb.half_bits)) * 2) * pairs;
      const float* __restrict tb =
          table + ((s * cb.num_values() + (code & b_mask)) * 2) * pairs;
      for (int64_t j = 0; j < pairs; ++j) {
        re[j] += ta[j] - tb[pairs + j];
        im[j] += ta[pairs + j] + tb[j];
      }
    }
    const float* __restrict c = keys.cos + t * pairs;
    const float* __restrict sn = keys.sin + t * pairs;
    float score = 0.0f;
    for (int64_t j = 0; j < pairs; ++j) score += re[j] * c[j] - im[j] * sn[j];
    scores[t] = scale * keys.norms[t] * score;
  }
  delete[] acc;
}

void ScoresByDecoding(const KeyCodebookArrays& cb, const float* planes,
                      const float* queries, int num_queries,
                      const PackedKeyCodes& keys, float scale, float* scores,
                      int64_t scores_stride) {
  const int64_t pairs = cb.num_pairs();
  const int64_t dim = cb.head_dim;
  const int bits = 2 * cb.half_bits;
  const uint32_t b_mask = (1u << cb.half_bits) - 1;
  const int64_t plane_floats = cb.num_values() * dim;
  // q: the split queries; key: one decoded key, then rotated.
  float* q = new float[(num_queries + 2) * dim];
  float* __restrict key = q + num_queries * dim;
  float* __restrict rotated = key + dim;
  for (int g = 0; g < num_queries; ++g) {
    SplitPairs(cb, queries + g * dim, q + g * dim);
  }
  for (int64_t t = 0; t < keys.n; ++t) {
    const uint8_t* row = keys.codes + t * keys.code_stride;
    for (int64_t c = 0; c < dim; ++c) key[c] = 0.0f;
    for (int s = 0; s < cb.stages; ++s) {
      const uint32_t code = ReadCode(row, keys.first_code + s, bits);
      const float* __restrict a =
          planes + (2 * s) * plane_floats + (code >> cb.half_bits) * dim;
      const float* __restrict b =
          planes + (2 * s + 1) * plane_floats + (code & b_mask) * dim;
      for (int64_t c = 0; c < dim; ++c) key[c] += a[c] + b[c];
    }
    const float* __restrict cs = keys.cos + t * pairs;
    const float* __restrict sn = keys.sin + t * pairs;
    for (int64_t j = 0; j < pairs; ++j) {
      rotated[j] = key[j] * cs[j] - key[pairs + j] * sn[j];
      rotated[pairs + j] = key[j] * sn[j] + key[pairs + j] * cs[j];
    }
    const float factor = scale * keys.norms[t];
    for (int g = 0; g < num_queries; ++g) {
      scores[g * scores_stride + t] = factor * Dot(q + g * dim, rotated, dim);
    }
  }
  delete[] q;
}

// The value accumulator is a histogram per 4-bit group of code bits
// ("nibble") instead of one slot per bit: acc[(j * 16 + v) * group + g] sums
// weight x factor of head g over the tokens whose nibble j has value v. A
// token costs one add per nibble and head (a quarter of one per bit);
// value_group_product expands nibbles to bits once per call.
int64_t Nibbles(int64_t num_bits) { return (num_bits + 3) / 4; }

int64_t ValueAccumulatorFloats(int64_t num_bits, int group) {
  return Nibbles(num_bits) * 16 * group;
}

template <int kGroup>
void AccumulateNibbles(const float* weights, int64_t weight_stride, int group,
                       const float* factors, const uint8_t* codes,
                       int64_t code_stride, int64_t nibbles, int64_t n,
                       float* acc) {
  const int g_count = kGroup > 0 ? kGroup : group;
  float* wf = new float[g_count];
  for (int64_t t = 0; t < n; ++t) {
    for (int g = 0; g < g_count; ++g) {
      wf[g] = weights[g * weight_stride + t] * factors[t];
    }
    const uint8_t* row = codes + t * code_stride;
    for (int64_t j = 0; j < nibbles; ++j) {
      const int v = (row[j >> 1] >> ((j & 1) * 4)) & 15;
      float* __restrict h = acc + (j * 16 + v) * g_count;
      for (int g = 0; g < g_count; ++g) h[g] += wf[g];
    }
  }
  delete[] wf;
}

void AccumulateValueGroup(const float* weights, int64_t weight_stride,
                          int group, const float* factors, const uint8_t* codes,
                          int64_t code_stride, int64_t num_bits, int64_t n,
                          float* acc) {
  const int64_t nibbles = Nibbles(num_bits);
  // Groups of GQA models (1 .. 8 query heads per KV head) get loops the
  // compiler unrolls and vectorizes; other sizes the generic loop.
  switch (group) {
    case 1:
      return AccumulateNibbles<1>(weights, weight_stride, group, factors, codes,
                                  code_stride, nibbles, n, acc);
    case 2:
      return AccumulateNibbles<2>(weights, weight_stride, group, factors, codes,
                                  code_stride, nibbles, n, acc);
    case 4:
      return AccumulateNibbles<4>(weights, weight_stride, group, factors, codes,
                                  code_stride, nibbles, n, acc);
    case 8:
      return AccumulateNibbles<8>(weights, weight_stride, group, factors, codes,
                                  code_stride, nibbles, n, acc);
    default:
      return AccumulateNibbles<0>(weights, weight_stride, group, factors, codes,
                                  code_stride, nibbles, n, acc);
  }
}

void ValueGroupProduct(const float* acc, int group, const float* codebook,
                       const float* channel_scale, int64_t num_bits,
                       int64_t dim, int64_t first_channel, int64_t head_dim,
                       float* out) {
  float* bits = new float[num_bits + 4];
  float* __restrict sum = new float[head_dim];
  for (int g = 0; g < group; ++g) {
    // Bit b of nibble j: the sum of the histogram over values with that bit.
    for (int64_t j = 0; j < Nibbles(num_bits); ++j) {
      for (int b = 0; b < 4; ++b) {
        float total = 0.0f;
        for (int v = 0; v < 16; ++v) {
          if ((v >> b) & 1) total += acc[(j * 16 + v) * group + g];
        }
        bits[4 * j + b] = total;
      }
    }
    for (int64_t c = 0; c < head_dim; ++c) sum[c] = 0.0f;
    for (int64_t i = 0; i < num_bits; ++i) {
      const float* __restrict row = codebook + i * dim + first_channel;
      const float a = bits[i];
      for (int64_t c = 0; c < head_dim; ++c) sum[c] += a * row[c];
    }
    for (int64_t c = 0; c < head_dim; ++c) {
      out[g * head_dim + c] += channel_scale[first_channel + c] * sum[c];
    }
  }
  delete[] sum;
  delete[] bits;
}

void DenseScores(const float* query, const float* keys, int64_t key_stride,
                 int64_t head_dim, int64_t n, float scale, float* scores) {
  for (int64_t t = 0; t < n; ++t) {
    scores[t] = scale * Dot(query, keys + t * key_stride, head_dim);
  }
}

void DenseWeightedSum(const float* weights, const float* values,
                      int64_t value_stride, int64_t head_dim, int64_t n,
                      float* out) {
  float* __restrict o = out;
  for (int64_t t = 0; t < n; ++t) {
    const float w = weights[t];
    const float* __restrict v = values + t * value_stride;
    for (int64_t c = 0; c < head_dim; ++c) o[c] += w * v[c];
  }
}

// Rows of fp16 bits to floats: the F16C / AVX-512 conversion instructions
// for whole vectors, exact bit arithmetic for the rest.
float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exponent = (h >> 10) & 0x1f;
  const uint32_t mantissa = h & 0x3ff;
  float value;
  if (exponent == 0) {
    value = ldexpf(static_cast<float>(mantissa), -24);
  } else if (exponent == 31) {
    value = mantissa == 0 ? INFINITY : NAN;
  } else {
    value = ldexpf(static_cast<float>(mantissa | 0x400),
                       static_cast<int>(exponent) - 25);
  }
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  bits |= sign;
  std::memcpy(&value, &bits, sizeof(bits));
  return value;
}

void HalvesToFloats(const uint16_t* in, int64_t n, float* out) {
  int64_t i = 0;
#if defined(__AVX512F__)
  for (; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(out + i, _mm512_cvtph_ps(_mm256_loadu_si256(
                                  reinterpret_cast<const __m256i*>(in + i))));
  }
#elif defined(__F16C__)
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(
                                  reinterpret_cast<const __m128i*>(in + i))));
  }
#endif
  for (; i < n; ++i) out[i] = HalfToFloat(in[i]);
}

// Dense attention of a query group over one KV head, keys and values read
// once per token for the whole group; `row(t, kind, buffer)` gives token t's
// key (kind 0) or value (kind 1) as floats, converting into `buffer` if
// needed.
template <typename Row>
void DenseGroup(const float* queries, int group, int64_t head_dim, int64_t n,
                float scale, float* scores, float* out, Row row) {
  float* buffer = new float[head_dim];
  for (int64_t t = 0; t < n; ++t) {
    const float* key = row(t, 0, buffer);
    for (int g = 0; g < group; ++g) {
      scores[g * n + t] = scale * Dot(queries + g * head_dim, key, head_dim);
    }
  }
  for (int g = 0; g < group; ++g) {
    SoftmaxReference(scores + g * n, n);
    for (int64_t c = 0; c < head_dim; ++c) out[g * head_dim + c] = 0.0f;
  }
  for (int64_t t = 0; t < n; ++t) {
    const float* __restrict value = row(t, 1, buffer);
    for (int g = 0; g < group; ++g) {
      const float w = scores[g * n + t];
      float* __restrict o = out + g * head_dim;
      for (int64_t c = 0; c < head_dim; ++c) o[c] += w * value[c];
    }
  }
  delete[] buffer;
}

void DenseGroupF32(const float* queries, int group, const float* keys,
                   const float* values, int64_t head_dim, int64_t n,
                   float scale, float* scores, float* out) {
  DenseGroup(queries, group, head_dim, n, scale, scores, out,
             [&](int64_t t, int kind, float*) {
               return (kind == 0 ? keys : values) + t * head_dim;
             });
}

void DenseGroupF16(const float* queries, int group, const uint16_t* keys,
                   const uint16_t* values, int64_t head_dim, int64_t n,
                   float scale, float* scores, float* out) {
  DenseGroup(queries, group, head_dim, n, scale, scores, out,
             [&](int64_t t, int kind, float* buffer) {
               HalvesToFloats((kind == 0 ? keys : values) + t * head_dim,
                              head_dim, buffer);
               return static_cast<const float*>(buffer);
             });
}

const AttentionKernels kKernels = {
    CVQ_ATTENTION_ISA,   BuildTable,       ScoresFromTable,
    ScoresByDecoding,    ValueAccumulatorFloats,
    AccumulateValueGroup, ValueGroupProduct, DenseScores,
    SoftmaxReference,    DenseWeightedSum,       DenseGroupF32,
    DenseGroupF16,
};

}  // namespace

const AttentionKernels& CVQ_ATTENTION_TABLE_FN() { return kKernels; }

}  // namespace commvq
