// The optimized CPU attention kernels, written as plain loops over
// consecutive floats that the compiler vectorizes for the instruction set
// this file is built for (BUILD compiles it once per ISA with its own flags,
// defining CVQ_ATTENTION_ISA and CVQ_ATTENTION_TABLE_FN). Everything here
// has internal linkage and uses no inline function or template of another
// header that other files also instantiate: such code would be compiled with
// AVX-512 here and could be the copy the linker keeps for everyone.
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

// Local, not std::min: see the top of the file.
int64_t Min(int64_t a, int64_t b) { return a < b ? a : b; }

// Lays out the sub-buffers of a caller's scratch buffer, each on a 64-byte
// boundary from its start (whole cache lines when the buffer is aligned).
// With a null base it only counts the bytes: the *_scratch_bytes functions
// run the kernels' own layout code, so the two cannot disagree.
class ScratchCarver {
 public:
  explicit ScratchCarver(void* base) : base_(static_cast<char*>(base)) {}
  template <typename T>
  T* Take(int64_t count) {
    T* part = base_ == nullptr ? nullptr : reinterpret_cast<T*>(base_ + used_);
    used_ += (count * static_cast<int64_t>(sizeof(T)) + 63) / 64 * 64;
    return part;
  }
  int64_t used() const { return used_; }

 private:
  char* const base_;
  int64_t used_ = 0;
};

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

// 32 int16 lanes: one AVX-512 register, two AVX2 ones (GCC's vector
// extension, so both builds share the code and no intrinsics header's
// inline functions are involved).
typedef int16_t I16x32 __attribute__((vector_size(64)));

// Tokens decoded into an int16 buffer before their scores are taken.
constexpr int64_t kKeyBlockTokens = 32;
// How many tokens ahead the decode kernel prefetches code rows.
constexpr int64_t kCodePrefetchTokens = 16;

// The integer keys of tokens [begin, begin + count): out[t - begin] is the
// sum of token t's a- and b-rows of every stage, [count, head_dim] int16.
// The codes are first turned into row offsets (rows[t][2 s + half]), so
// that the adding loop is only loads and adds and the CPU can have the
// rows of several tokens in flight; two tokens are added at a time.
// kVecs: head_dim / 32 when the sums fit in registers (head_dim 64 and
// 128), else 0 (a loop over head_dim in memory).
template <int kVecs>
void DecodeKeysI16(const KeyCodebookArrays& cb, const int16_t* planes,
                   const PackedKeyCodes& keys, int64_t begin, int64_t count,
                   int32_t* rows, int16_t* out) {
  const int64_t dim = cb.head_dim;
  const int bits = 2 * cb.half_bits;
  const uint32_t b_mask = (1u << cb.half_bits) - 1;
  const int64_t plane = int64_t{cb.num_values()} * dim;
  const int row_count = 2 * cb.stages;
  const uint32_t mask = (1u << bits) - 1;
  for (int64_t t = 0; t < count; ++t) {
    const uint8_t* row = keys.codes + (begin + t) * keys.code_stride;
    int32_t* __restrict r = rows + t * row_count;
    // A 4-byte load per code, without branches, reads up to 3 bytes past
    // the code: inside the next token's row except for the last token of
    // the call, which reads byte by byte.
    const bool last = begin + t == keys.n - 1;
    // The codes of later tokens, from memory ahead of their use (one or
    // two cache lines per token and KV head): a latency the adds cannot
    // hide.
    if (begin + t + kCodePrefetchTokens < keys.n) {
      const uint8_t* ahead = row + kCodePrefetchTokens * keys.code_stride;
      __builtin_prefetch(ahead + keys.first_code * bits / 8);
      __builtin_prefetch(ahead +
                         ((keys.first_code + cb.stages) * bits - 1) / 8);
    }
    for (int s = 0; s < cb.stages; ++s) {
      uint32_t code;
      if (last) {
        code = ReadCode(row, keys.first_code + s, bits);
      } else {
        const int64_t bit = (keys.first_code + s) * bits;
        uint32_t word;
        std::memcpy(&word, row + (bit >> 3), sizeof(word));
        code = (word >> (bit & 7)) & mask;
      }
      r[2 * s] =
          static_cast<int32_t>((2 * s) * plane + (code >> cb.half_bits) * dim);
      r[2 * s + 1] =
          static_cast<int32_t>((2 * s + 1) * plane + (code & b_mask) * dim);
    }
  }
  if (kVecs == 0) {
    for (int64_t t = 0; t < count; ++t) {
      int16_t* __restrict key = out + t * dim;
      for (int64_t c = 0; c < dim; ++c) key[c] = 0;
      for (int i = 0; i < row_count; ++i) {
        const int16_t* __restrict p = planes + rows[t * row_count + i];
        for (int64_t c = 0; c < dim; ++c) {
          key[c] = static_cast<int16_t>(key[c] + p[c]);
        }
      }
    }
    return;
  }
  constexpr int kTokens = 2;
  for (int64_t t = 0; t < count; t += kTokens) {
    // The last odd token is added twice into the second slot, unused.
    const int32_t* r[kTokens];
    for (int k = 0; k < kTokens; ++k) {
      r[k] = rows + Min(t + k, count - 1) * row_count;
    }
    I16x32 acc[kTokens][kVecs > 0 ? kVecs : 1] = {};
    for (int i = 0; i < row_count; ++i) {
      for (int k = 0; k < kTokens; ++k) {
        const int16_t* p = planes + r[k][i];
        for (int v = 0; v < kVecs; ++v) {
          // An unaligned load (no value returned: a 64-byte vector return
          // would change the ABI of the AVX2 build).
          I16x32 part;
          std::memcpy(&part, p + 32 * v, sizeof(part));
          acc[k][v] += part;
        }
      }
    }
    for (int k = 0; k < kTokens && t + k < count; ++k) {
      std::memcpy(out + (t + k) * dim, acc[k], sizeof(acc[k]));
    }
  }
}

// 16 floats and their int16 source, for the scores of decoded keys.
typedef float F32x16 __attribute__((vector_size(64)));
typedef int16_t I16x16 __attribute__((vector_size(32)));
typedef int32_t I32x16 __attribute__((vector_size(64)));

// The sum of the 16 lanes of *v (by pointer: see I16x32).
float LaneSum(const F32x16* v) {
  F32x16 s = *v;
  // __builtin_shufflevector: GCC 12 and clang both have it.
  s += __builtin_shufflevector(s, s, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3,
                               4, 5, 6, 7);
  s += __builtin_shufflevector(s, s, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1,
                               2, 3);
  s += __builtin_shufflevector(s, s, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3,
                               0, 1);
  s += __builtin_shufflevector(s, s, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0,
                               1, 0);
  return s[0];
}

// The scores of tokens [t0, t0 + count) from their integer keys (block,
// [count, 32 * kVecs] int16): convert, rotate and dot with the queries q
// (split, times the pair scales), all in registers. kVecs: head_dim / 32.
template <int kVecs>
void ScoreDecodedKeys(const int16_t* block, int64_t t0, int64_t count,
                      const PackedKeyCodes& keys, const float* q,
                      int num_queries, float scale, float* scores,
                      int64_t scores_stride) {
  constexpr int kPairs = 16 * kVecs;
  for (int64_t t = t0; t < t0 + count; ++t) {
    const int16_t* key = block + (t - t0) * 2 * kPairs;
    const float* cs = keys.cos + t * kPairs;
    const float* sn = keys.sin + t * kPairs;
    F32x16 rx[kVecs], ry[kVecs];
    for (int v = 0; v < kVecs; ++v) {
      I16x16 xi, yi;
      F32x16 c, s;
      std::memcpy(&xi, key + 16 * v, sizeof(xi));
      std::memcpy(&yi, key + kPairs + 16 * v, sizeof(yi));
      std::memcpy(&c, cs + 16 * v, sizeof(c));
      std::memcpy(&s, sn + 16 * v, sizeof(s));
      const F32x16 x = __builtin_convertvector(xi, F32x16);
      const F32x16 y = __builtin_convertvector(yi, F32x16);
      rx[v] = x * c - y * s;
      ry[v] = x * s + y * c;
    }
    const float factor = scale * keys.norms[t];
    for (int g = 0; g < num_queries; ++g) {
      const float* qg = q + g * 2 * kPairs;
      F32x16 dot = {};
      for (int v = 0; v < kVecs; ++v) {
        F32x16 qx, qy;
        std::memcpy(&qx, qg + 16 * v, sizeof(qx));
        std::memcpy(&qy, qg + kPairs + 16 * v, sizeof(qy));
        dot += qx * rx[v] + qy * ry[v];
      }
      scores[g * scores_stride + t] = factor * LaneSum(&dot);
    }
  }
}

// ScoreDecodedKeys for any head_dim, with loops over it in memory.
void ScoreDecodedKeysAnyDim(const int16_t* block, int64_t t0, int64_t count,
                            const PackedKeyCodes& keys, const float* q,
                            int num_queries, int64_t dim, float scale,
                            float* scores, int64_t scores_stride,
                            float* rotated) {
  const int64_t pairs = dim / 2;
  for (int64_t t = t0; t < t0 + count; ++t) {
    const int16_t* __restrict key = block + (t - t0) * dim;
    const float* __restrict cs = keys.cos + t * pairs;
    const float* __restrict sn = keys.sin + t * pairs;
    for (int64_t j = 0; j < pairs; ++j) {
      const float x = key[j];
      const float y = key[pairs + j];
      rotated[j] = x * cs[j] - y * sn[j];
      rotated[pairs + j] = x * sn[j] + y * cs[j];
    }
    const float factor = scale * keys.norms[t];
    for (int g = 0; g < num_queries; ++g) {
      scores[g * scores_stride + t] = factor * Dot(q + g * dim, rotated, dim);
    }
  }
}

// The scratch of ScoresByDecodingI16: q, the split queries times the pair
// scales (so integer keys need no scaling); rotated, one key as floats,
// rotated (any head_dim only); block, integer keys; rows, their plane rows.
struct KeyScratch {
  float* q;
  float* rotated;
  int16_t* block;
  int32_t* rows;
  int64_t bytes;
};

KeyScratch CarveKeyScratch(const KeyCodebookArrays& cb, int num_queries,
                           void* base) {
  ScratchCarver carver(base);
  KeyScratch scratch;
  scratch.q = carver.Take<float>(num_queries * cb.head_dim);
  scratch.rotated = carver.Take<float>(cb.head_dim);
  scratch.block = carver.Take<int16_t>(kKeyBlockTokens * cb.head_dim);
  scratch.rows = carver.Take<int32_t>(kKeyBlockTokens * 2 * cb.stages);
  scratch.bytes = carver.used();
  return scratch;
}

int64_t KeyDecodingScratchBytes(const KeyCodebookArrays& cb, int num_queries) {
  return CarveKeyScratch(cb, num_queries, nullptr).bytes;
}

void ScoresByDecodingI16(const KeyCodebookArrays& cb, const int16_t* planes,
                         const float* pair_scale, const float* queries,
                         int num_queries, const PackedKeyCodes& keys,
                         float scale, float* scores, int64_t scores_stride,
                         void* scratch_base) {
  const int64_t pairs = cb.num_pairs();
  const int64_t dim = cb.head_dim;
  const KeyScratch scratch = CarveKeyScratch(cb, num_queries, scratch_base);
  float* q = scratch.q;
  float* rotated = scratch.rotated;
  int16_t* block = scratch.block;
  int32_t* rows = scratch.rows;
  for (int g = 0; g < num_queries; ++g) {
    float* __restrict qg = q + g * dim;
    SplitPairs(cb, queries + g * dim, qg);
    for (int64_t j = 0; j < pairs; ++j) {
      qg[j] *= pair_scale[j];
      qg[pairs + j] *= pair_scale[j];
    }
  }
  for (int64_t t0 = 0; t0 < keys.n; t0 += kKeyBlockTokens) {
    const int64_t count = Min(kKeyBlockTokens, keys.n - t0);
    // head_dim 64 and 128 (nearly every model) in registers.
    if (dim == 64) {
      DecodeKeysI16<2>(cb, planes, keys, t0, count, rows, block);
      ScoreDecodedKeys<2>(block, t0, count, keys, q, num_queries, scale, scores,
                          scores_stride);
    } else if (dim == 128) {
      DecodeKeysI16<4>(cb, planes, keys, t0, count, rows, block);
      ScoreDecodedKeys<4>(block, t0, count, keys, q, num_queries, scale, scores,
                          scores_stride);
    } else {
      DecodeKeysI16<0>(cb, planes, keys, t0, count, rows, block);
      ScoreDecodedKeysAnyDim(block, t0, count, keys, q, num_queries, dim, scale,
                             scores, scores_stride, rotated);
    }
  }
}

// The value accumulator is a histogram per 4-bit group of code bits
// ("nibble") of all query heads at once: acc[(j * 16 + v) * padded + h]
// sums weight x factor of head h over the tokens whose nibble j has value
// v, heads padded to whole vectors. A token adds one contiguous vector of
// its heads' weights per nibble (num_heads / 16 AVX-512 adds) instead of
// one add per bit and head; value_product expands nibbles to bits once.
int64_t PaddedHeads(int num_heads) { return (num_heads + 15) / 16 * 16; }

int64_t ValueAccumulatorFloats(int64_t num_bits, int num_heads) {
  // Two nibbles per code byte: the last byte's padding bits too.
  return (num_bits + 7) / 8 * 2 * 16 * PaddedHeads(num_heads);
}

// Tokens whose weight rows are transposed together (256 KB of them for 32
// heads: they stay in L2 while every tile of code bytes is added; the whole
// accumulator, 1 MB for Nc = 2048 and 32 heads, is swept once per block),
// and code bytes whose histograms (kTileBytes * 2 * 16 rows of padded
// heads: 16 KB for 32 heads) stay in L1 while the block's tokens are added.
constexpr int64_t kValueBlockTokens = 2048;
constexpr int64_t kValueTileBytes = 4;

// Adds the n transposed weight rows wf ([n, width]) of tokens whose code
// rows are `codes`, code_stride apart, to the histograms of code bytes
// [byte_begin, byte_end). kWidth: the padded head count when it is a
// compile-time constant, else 0 (width at run time).
template <int kWidth>
void AccumulateTile(const float* wf, int64_t width, const uint8_t* codes,
                    int64_t code_stride, int64_t byte_begin, int64_t byte_end,
                    int64_t n, float* acc) {
  const int64_t w_count = kWidth > 0 ? kWidth : width;
  for (int64_t t = 0; t < n; ++t) {
    const float* __restrict w = wf + t * w_count;
    const uint8_t* row = codes + t * code_stride;
    for (int64_t b = byte_begin; b < byte_end; ++b) {
      const uint32_t byte = row[b];
      float* __restrict lo = acc + (2 * b * 16 + (byte & 15)) * w_count;
      float* __restrict hi = acc + ((2 * b + 1) * 16 + (byte >> 4)) * w_count;
      for (int64_t h = 0; h < w_count; ++h) lo[h] += w[h];
      for (int64_t h = 0; h < w_count; ++h) hi[h] += w[h];
    }
  }
}

// AccumulateTile over the tokens [t0, t0 + count) of the pages.
template <int kWidth>
void AccumulateTileOfPages(const float* wf, int64_t width,
                           const uint8_t* const* pages, int64_t page_tokens,
                           int64_t code_stride, int64_t byte_begin,
                           int64_t byte_end, int64_t t0, int64_t count,
                           float* acc) {
  for (int64_t t = t0; t < t0 + count;) {
    const int64_t slot = t % page_tokens;
    const int64_t run = Min(page_tokens - slot, t0 + count - t);
    AccumulateTile<kWidth>(wf + (t - t0) * width, width,
                           pages[t / page_tokens] + slot * code_stride,
                           code_stride, byte_begin, byte_end, run, acc);
    t += run;
  }
}

// The scratch of AccumulateValues: wf, the weight x factor rows of a block
// of tokens, transposed ([tokens, padded heads]).
struct AccumulationScratch {
  float* wf;
  int64_t bytes;
};

AccumulationScratch CarveAccumulationScratch(int num_heads, int64_t n,
                                             void* base) {
  ScratchCarver carver(base);
  AccumulationScratch scratch;
  scratch.wf =
      carver.Take<float>(Min(kValueBlockTokens, n) * PaddedHeads(num_heads));
  scratch.bytes = carver.used();
  return scratch;
}

int64_t AccumulateValuesScratchBytes(int num_heads, int64_t n) {
  return CarveAccumulationScratch(num_heads, n, nullptr).bytes;
}

void AccumulateValues(const float* weights, int64_t weight_stride,
                      int num_heads, const float* factors,
                      const uint8_t* const* pages, int64_t page_tokens,
                      int64_t code_stride, int64_t, int64_t byte_begin,
                      int64_t byte_end, int64_t n, float* acc, void* scratch) {
  const int64_t width = PaddedHeads(num_heads);
  float* wf = CarveAccumulationScratch(num_heads, n, scratch).wf;
  // Padding heads keep weight 0: only the heads' columns are written below.
  for (int64_t t = 0; t < Min(kValueBlockTokens, n); ++t) {
    for (int64_t h = num_heads; h < width; ++h) wf[t * width + h] = 0.0f;
  }
  for (int64_t t0 = 0; t0 < n; t0 += kValueBlockTokens) {
    const int64_t count = Min(kValueBlockTokens, n - t0);
    for (int h = 0; h < num_heads; ++h) {
      const float* w = weights + h * weight_stride + t0;
      for (int64_t t = 0; t < count; ++t) {
        wf[t * width + h] = w[t] * factors[t0 + t];
      }
    }
    for (int64_t b = byte_begin; b < byte_end; b += kValueTileBytes) {
      const int64_t end = Min(b + kValueTileBytes, byte_end);
      // Models' head counts padded: 16 (<= 16 heads), 32 (LLaMA-3 8B), 64.
      switch (width) {
        case 16:
          AccumulateTileOfPages<16>(wf, width, pages, page_tokens, code_stride,
                                    b, end, t0, count, acc);
          break;
        case 32:
          AccumulateTileOfPages<32>(wf, width, pages, page_tokens, code_stride,
                                    b, end, t0, count, acc);
          break;
        case 64:
          AccumulateTileOfPages<64>(wf, width, pages, page_tokens, code_stride,
                                    b, end, t0, count, acc);
          break;
        default:
          AccumulateTileOfPages<0>(wf, width, pages, page_tokens, code_stride,
                                   b, end, t0, count, acc);
      }
    }
  }
}

// The scratch of ValueProduct: bits[i * count + g], bit i's accumulated
// weight for head first_head + g (the sum of nibble i / 4's histogram over
// the values with that bit); sum, the heads' products with the codebook
// before the channel scales ([count, head_dim]).
struct ProductScratch {
  float* bits;
  float* sum;
  int64_t bytes;
};

ProductScratch CarveProductScratch(int64_t num_bits, int count,
                                   int64_t head_dim, void* base) {
  ScratchCarver carver(base);
  ProductScratch scratch;
  scratch.bits = carver.Take<float>(num_bits * count);
  scratch.sum = carver.Take<float>(count * head_dim);
  scratch.bytes = carver.used();
  return scratch;
}

int64_t ValueProductScratchBytes(int64_t num_bits, int count,
                                 int64_t head_dim) {
  return CarveProductScratch(num_bits, count, head_dim, nullptr).bytes;
}

void ValueProduct(const float* acc, int num_heads, int first_head, int count,
                  const float* codebook, const float* channel_scale,
                  int64_t num_bits, int64_t dim, int64_t first_channel,
                  int64_t head_dim, float* out, void* scratch_base) {
  const int64_t width = PaddedHeads(num_heads);
  const ProductScratch scratch =
      CarveProductScratch(num_bits, count, head_dim, scratch_base);
  float* bits = scratch.bits;
  float* __restrict sum = scratch.sum;
  for (int64_t i = 0; i < count * head_dim; ++i) sum[i] = 0.0f;
  for (int64_t i = 0; i < num_bits; ++i) {
    const float* histogram = acc + (i / 4) * 16 * width + first_head;
    for (int g = 0; g < count; ++g) {
      float total = 0.0f;
      for (int v = 0; v < 16; ++v) {
        if ((v >> (i % 4)) & 1) total += histogram[v * width + g];
      }
      bits[i * count + g] = total;
    }
  }
  for (int64_t i = 0; i < num_bits; ++i) {
    const float* __restrict row = codebook + i * dim + first_channel;
    for (int g = 0; g < count; ++g) {
      const float a = bits[i * count + g];
      float* __restrict s = sum + g * head_dim;
      for (int64_t c = 0; c < head_dim; ++c) s[c] += a * row[c];
    }
  }
  for (int g = 0; g < count; ++g) {
    for (int64_t c = 0; c < head_dim; ++c) {
      out[g * head_dim + c] +=
          channel_scale[first_channel + c] * sum[g * head_dim + c];
    }
  }
}

// e^x of the 16 lanes of *v, all <= 0: x = k ln2 + r (|r| <= ln2 / 2),
// e^r by its Taylor polynomial of degree 7 (relative error < 1e-8 on that
// range), 2^k from exponent bits; x < -87 (e^x below the smallest normal
// float) gives 0. By pointer: see I16x32.
void ExpNonPositive16(F32x16* v) {
  const F32x16 x = *v;
  const I32x16 in_range = x >= -87.0f;
  const F32x16 clamped = x < -87.0f ? F32x16{} - 87.0f : x;
  // Truncation of k - 1/2 rounds k <= 0 to the nearest integer.
  const I32x16 k =
      __builtin_convertvector(clamped * 1.44269504088896341f - 0.5f, I32x16);
  const F32x16 kf = __builtin_convertvector(k, F32x16);
  // ln 2 in two parts, so that k ln 2 is exact enough.
  const F32x16 r =
      (clamped - kf * 0.693145751953125f) - kf * 1.428606765330187045e-6f;
  F32x16 p = r * (1.0f / 5040) + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const I32x16 exponent = (k + 127) << 23;
  F32x16 scale;
  std::memcpy(&scale, &exponent, sizeof(scale));
  I32x16 bits;
  const F32x16 result = p * scale;
  std::memcpy(&bits, &result, sizeof(bits));
  bits &= in_range;
  std::memcpy(v, &bits, sizeof(bits));
}

// SoftmaxReference with a vectorized exp (the reference sums in double,
// this in float lanes: relative differences ~1e-6).
void Softmax(float* scores, int64_t n) {
  float max_score = scores[0];
  for (int64_t t = 1; t < n; ++t) {
    max_score = scores[t] > max_score ? scores[t] : max_score;
  }
  F32x16 sum = {};
  int64_t t = 0;
  for (; t + 16 <= n; t += 16) {
    F32x16 v;
    std::memcpy(&v, scores + t, sizeof(v));
    v -= max_score;
    ExpNonPositive16(&v);
    sum += v;
    std::memcpy(scores + t, &v, sizeof(v));
  }
  if (t < n) {
    // The last partial vector, padded with lanes whose exp is 0.
    F32x16 v = F32x16{} - 1000.0f;
    for (int64_t i = 0; t + i < n; ++i) v[i] = scores[t + i] - max_score;
    ExpNonPositive16(&v);
    sum += v;
    for (int64_t i = 0; t + i < n; ++i) scores[t + i] = v[i];
  }
  const float inverse = 1.0f / LaneSum(&sum);
  for (int64_t t = 0; t < n; ++t) scores[t] *= inverse;
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
    Softmax(scores + g * n, n);
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
    CVQ_ATTENTION_ISA,
    BuildTable,
    ScoresFromTable,
    KeyDecodingScratchBytes,
    ScoresByDecodingI16,
    ValueAccumulatorFloats,
    AccumulateValuesScratchBytes,
    AccumulateValues,
    ValueProductScratchBytes,
    ValueProduct,
    DenseScores,
    Softmax,
    DenseWeightedSum,
    DenseGroupF32,
    DenseGroupF16,
};

}  // namespace

const AttentionKernels& CVQ_ATTENTION_TABLE_FN() { return kKernels; }

}  // namespace commvq
