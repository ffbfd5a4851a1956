#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <climits>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/key_kernels.h"

namespace commvq {
namespace cuda {
namespace {

constexpr int kEncodeThreads = 256;
constexpr int kMaxValues = 256;  // 2^h for h <= 8

// f64 arithmetic without fused multiply-adds: the host encoder (x86-64
// without FMA) rounds every product and sum, and equal codes need equal
// roundings.
__device__ __forceinline__ double Mul(double a, double b) {
  return __dmul_rn(a, b);
}
__device__ __forceinline__ double Add(double a, double b) {
  return __dadd_rn(a, b);
}
__device__ __forceinline__ double Sub(double a, double b) {
  return __dsub_rn(a, b);
}

__global__ void KeyCodebookTablesKernel(DeviceKeyCodebooks cb, double* norms,
                                        double* cross) {
  const int64_t book = blockIdx.x;  // head * stages + stage
  const int pairs = cb.head_dim / 2;
  const int values = 1 << cb.half_bits;
  const float* z = cb.z + book * pairs * values * 2;
  for (int k = threadIdx.x; k < values * values; k += blockDim.x) {
    const int a = k / values;
    const int b = k % values;
    double sum = 0.0;
    for (int j = 0; j < pairs; ++j) {
      const double xa = z[(j * values + a) * 2];
      const double ya = z[(j * values + a) * 2 + 1];
      const double xb = z[(j * values + b) * 2];
      const double yb = z[(j * values + b) * 2 + 1];
      sum = Add(sum, Mul(2.0, Sub(Mul(ya, xb), Mul(xa, yb))));
    }
    cross[book * values * values + k] = sum;
  }
  for (int v = threadIdx.x; v < values; v += blockDim.x) {
    double sum = 0.0;
    for (int j = 0; j < pairs; ++j) {
      const double x = z[(j * values + v) * 2];
      const double y = z[(j * values + v) * 2 + 1];
      sum = Add(sum, Add(Mul(x, x), Mul(y, y)));
    }
    norms[book * values + v] = sum;
  }
}

// (score, code) order: lower score, then lower code.
__device__ __forceinline__ bool Better(double score, int code,
                                       double best_score, int best_code) {
  return score < best_score || (score == best_score && code < best_code);
}

__global__ void __launch_bounds__(kEncodeThreads)
    KeyEncodeKernel(DeviceKeyCodebooks cb, const float* heads,
                    uint16_t* codes) {
  __shared__ float residual[kMaxKeyHeadDim];
  __shared__ double halves[2 * kMaxValues];  // A - 2f, then A - 2g
  __shared__ double warp_score[kEncodeThreads / 32];
  __shared__ int warp_code[kEncodeThreads / 32];
  const int64_t token = blockIdx.x / cb.num_kv_heads;
  const int head = blockIdx.x % cb.num_kv_heads;
  const int head_dim = cb.head_dim;
  const int pairs = head_dim / 2;
  const int values = 1 << cb.half_bits;
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  const float* in = heads + (token * cb.num_kv_heads + head) * head_dim;
  for (int i = threadIdx.x; i < head_dim; i += blockDim.x) residual[i] = in[i];
  __syncthreads();
  for (int s = 0; s < cb.stages; ++s) {
    const int64_t book = static_cast<int64_t>(head) * cb.stages + s;
    const float* z = cb.z + book * pairs * values * 2;
    const double* norms = cb.norms + book * values;
    const double* cross = cb.cross + book * values * values;
    // f(a) and g(b), each summed over pairs in order as on the host.
    for (int i = threadIdx.x; i < 2 * values; i += blockDim.x) {
      const int v = i % values;
      const bool is_g = i >= values;
      double sum = 0.0;
      for (int j = 0; j < pairs; ++j) {
        const double r1 = residual[PairFirst(cb.interleaved, head_dim, j)];
        const double r2 = residual[PairSecond(cb.interleaved, head_dim, j)];
        const double x = z[(j * values + v) * 2];
        const double y = z[(j * values + v) * 2 + 1];
        sum = Add(sum, is_g ? Sub(Mul(r2, x), Mul(r1, y))
                            : Add(Mul(r1, x), Mul(r2, y)));
      }
      halves[i] = Sub(norms[v], Mul(2.0, sum));
    }
    __syncthreads();
    // Each thread scans its codes in increasing order with a strict
    // comparison; the reductions break ties towards the lower code.
    double best = INFINITY;
    int best_code = INT_MAX;
    for (int k = threadIdx.x; k < values * values; k += blockDim.x) {
      const double score = Add(
          Add(halves[k >> cb.half_bits], halves[values + (k & (values - 1))]),
          cross[k]);
      if (score < best) {
        best = score;
        best_code = k;
      }
    }
    for (int offset = 16; offset > 0; offset >>= 1) {
      const double other = __shfl_down_sync(0xffffffffu, best, offset);
      const int other_code = __shfl_down_sync(0xffffffffu, best_code, offset);
      if (Better(other, other_code, best, best_code)) {
        best = other;
        best_code = other_code;
      }
    }
    if (lane == 0) {
      warp_score[warp] = best;
      warp_code[warp] = best_code;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      for (int w = 1; w < kEncodeThreads / 32; ++w) {
        if (Better(warp_score[w], warp_code[w], warp_score[0], warp_code[0])) {
          warp_score[0] = warp_score[w];
          warp_code[0] = warp_code[w];
        }
      }
      codes[(token * cb.num_kv_heads + head) * cb.stages + s] =
          static_cast<uint16_t>(warp_code[0]);
    }
    __syncthreads();
    // The residual update of KeyCodebook::SubtractCentre, in f32.
    const int a = warp_code[0] >> cb.half_bits;
    const int b = warp_code[0] & (values - 1);
    for (int j = threadIdx.x; j < pairs; j += blockDim.x) {
      const float xa = z[(j * values + a) * 2];
      const float ya = z[(j * values + a) * 2 + 1];
      const float xb = z[(j * values + b) * 2];
      const float yb = z[(j * values + b) * 2 + 1];
      const int c1 = PairFirst(cb.interleaved, head_dim, j);
      const int c2 = PairSecond(cb.interleaved, head_dim, j);
      residual[c1] = __fsub_rn(residual[c1], __fsub_rn(xa, yb));
      residual[c2] = __fsub_rn(residual[c2], __fadd_rn(ya, xb));
    }
    __syncthreads();
  }
}

constexpr int kNormThreads = 256;

__global__ void RowNormalizeKernel(const float* rows, int dim,
                                   float* normalized, float* norms) {
  __shared__ float scratch[32];
  const int64_t row = blockIdx.x;
  const float* in = rows + row * dim;
  float sum = 0.0f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) sum += in[i] * in[i];
  // The norm is stored as fp16 (as the key quantizer does), and rows are
  // divided by the rounded value: the codes fit what decoding multiplies by.
  const float norm =
      __half2float(__float2half_rn(sqrtf(BlockSum(sum, scratch))));
  const float inverse = norm > 0.0f ? 1.0f / norm : 0.0f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    normalized[row * dim + i] = in[i] * inverse;
  }
  if (threadIdx.x == 0) norms[row] = norm;
}

__global__ void QueryPrepareKernel(const float* queries, int num_heads,
                                   int group, int head_dim, int interleaved,
                                   const float2* rope, int64_t rope_capacity,
                                   int64_t position, float* rotated,
                                   float* pair_rows) {
  const int pairs = head_dim / 2;
  const int index = blockIdx.x * blockDim.x + threadIdx.x;
  if (index >= num_heads * pairs) return;
  const int head = index / pairs;
  const int j = index % pairs;
  const int c1 = PairFirst(interleaved, head_dim, j);
  const int c2 = PairSecond(interleaved, head_dim, j);
  const float2 cs = rope[j * rope_capacity + position];
  const float q1 = queries[head * head_dim + c1];
  const float q2 = queries[head * head_dim + c2];
  const float r1 = q1 * cs.x - q2 * cs.y;
  const float r2 = q1 * cs.y + q2 * cs.x;
  rotated[head * head_dim + c1] = r1;
  rotated[head * head_dim + c2] = r2;
  const int kv_head = head / group;
  float* row = pair_rows + ((kv_head * pairs + j) * group + head % group) * 2;
  row[0] = r1;
  row[1] = r2;
}

// Both score kernels: where token t's codes are, their a- and b-offsets into
// a per-pair block of float2 entries (stage s at s * stage_stride, the b
// entries b_shift further), and the store of a chunk of scores.
__device__ __forceinline__ int64_t PoolSlot(const DeviceKeyPages& pages,
                                            int64_t t) {
  return static_cast<int64_t>(pages.page_table[t / pages.page_tokens]) *
             pages.page_tokens +
         t % pages.page_tokens;
}

__device__ __forceinline__ void CodeOffsets(const DeviceKeyCodebooks& cb,
                                            const DeviceKeyPages& pages,
                                            int64_t slot, int kv_head,
                                            int stage_stride, int b_shift,
                                            int* a_offset, int* b_offset) {
  const uint8_t* row = pages.codes + slot * pages.code_row_bytes;
  const int bits = 2 * cb.half_bits;
  const int mask = (1 << cb.half_bits) - 1;
#pragma unroll
  for (int s = 0; s < kMaxKeyStages; ++s) {
    if (s < cb.stages) {
      // A code of <= 16 bits at any bit offset lies within 3 bytes.
      const int64_t bit = (static_cast<int64_t>(kv_head) * cb.stages + s) * bits;
      const uint8_t* p = row + bit / 8;
      const uint32_t window = static_cast<uint32_t>(p[0]) |
                              static_cast<uint32_t>(p[1]) << 8 |
                              static_cast<uint32_t>(p[2]) << 16;
      const int code = static_cast<int>((window >> (bit % 8)) &
                                        ((1u << bits) - 1u));
      a_offset[s] = s * stage_stride + (code >> cb.half_bits);
      b_offset[s] = s * stage_stride + b_shift + (code & mask);
    }
  }
}

// scores[(kv_head * group + head_begin + i) * score_stride + t] =
// acc[i] * factor for i < heads.
__device__ __forceinline__ void StoreScores(const float* acc, int heads,
                                            float factor, int kv_head,
                                            int group, int head_begin,
                                            int64_t t, float* scores,
                                            int64_t score_stride) {
#pragma unroll
  for (int i = 0; i < kScoreHeadChunk; ++i) {
    if (i < heads) {
      scores[(static_cast<int64_t>(kv_head) * group + head_begin + i) *
                 score_stride +
             t] = acc[i] * factor;
    }
  }
}

// One thread per compressed token, `kScoreHeadChunk` query heads of one KV
// head at a time. Per pair, the table entries of the token's codes are
// gathered from global memory (a slice of a few tens of KB shared by the
// block's tokens, so it stays in L1/L2).
__global__ void __launch_bounds__(kScoreThreads)
    KeyScoresKernel(DeviceKeyCodebooks cb, DeviceKeyPages pages,
                    const float* table, int group, const float2* rope,
                    int64_t rope_capacity, int64_t num_tokens, float scale,
                    float* scores, int64_t score_stride) {
  const int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  const int kv_head = blockIdx.y;
  const int head_begin = blockIdx.z * kScoreHeadChunk;
  if (t >= num_tokens) return;
  const int heads = min(kScoreHeadChunk, group - head_begin);
  const int pairs = cb.head_dim / 2;
  const int values = 1 << cb.half_bits;
  const int stages = cb.stages;
  const int64_t slot = PoolSlot(pages, t);
  // Offsets (in float2, within one head's [stages, values] block) of the a-
  // and b-entries of every stage.
  int a_offset[kMaxKeyStages];
  int b_offset[kMaxKeyStages];
  CodeOffsets(cb, pages, slot, kv_head, values, 0, a_offset, b_offset);
  float acc[kScoreHeadChunk];
#pragma unroll
  for (int i = 0; i < kScoreHeadChunk; ++i) acc[i] = 0.0f;
  const int64_t head_block = static_cast<int64_t>(stages) * values * 2;
  for (int j = 0; j < pairs; ++j) {
    const float2 cs = rope[j * rope_capacity + t];
    const float* pair_table =
        table +
        ((static_cast<int64_t>(kv_head) * pairs + j) * group + head_begin) *
            head_block;
#pragma unroll
    for (int i = 0; i < kScoreHeadChunk; ++i) {
      if (i < heads) {
        const float2* entries =
            reinterpret_cast<const float2*>(pair_table + i * head_block);
        float re = 0.0f;
        float im = 0.0f;
#pragma unroll
        for (int s = 0; s < kMaxKeyStages; ++s) {
          if (s < stages) {
            // P[a] + i * P[b].
            const float2 pa = __ldg(entries + a_offset[s]);
            const float2 pb = __ldg(entries + b_offset[s]);
            re += pa.x - pb.y;
            im += pa.y + pb.x;
          }
        }
        acc[i] += re * cs.x - im * cs.y;
      }
    }
  }
  StoreScores(acc, heads, pages.norms[slot] * scale, kv_head, group, head_begin,
              t, scores, score_stride);
}

// One thread per compressed token and KV head, `kScoreHeadChunk` query
// heads at a time; the chunk's rotated query pairs sit in shared memory.
__global__ void __launch_bounds__(kScoreThreads) KeyScoresByDecodingKernel(
    DeviceKeyCodebooks cb, DeviceKeyPages pages, const float2* planes,
    const float* rotated, int group, const float2* rope, int64_t rope_capacity,
    int64_t num_tokens, float scale, float* scores, int64_t score_stride) {
  __shared__ float2 query[kScoreHeadChunk * kMaxKeyHeadDim / 2];
  const int kv_head = blockIdx.y;
  const int head_begin = blockIdx.z * kScoreHeadChunk;
  const int heads = min(kScoreHeadChunk, group - head_begin);
  const int head_dim = cb.head_dim;
  const int pairs = head_dim / 2;
  // query[i * pairs + j] = (q1, q2) of pair j of head head_begin + i.
  for (int k = threadIdx.x; k < heads * pairs; k += blockDim.x) {
    const int i = k / pairs;
    const int j = k % pairs;
    const float* q =
        rotated +
        (static_cast<int64_t>(kv_head) * group + head_begin + i) * head_dim;
    query[k] = make_float2(q[PairFirst(cb.interleaved, head_dim, j)],
                           q[PairSecond(cb.interleaved, head_dim, j)]);
  }
  __syncthreads();
  const int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (t >= num_tokens) return;  // after the only barrier
  const int values = 1 << cb.half_bits;
  const int stages = cb.stages;
  const int64_t slot = PoolSlot(pages, t);
  // Offsets (in float2, within one pair's [stages, 2, values] block) of the
  // a- and b-planes of every stage.
  int a_offset[kMaxKeyStages];
  int b_offset[kMaxKeyStages];
  CodeOffsets(cb, pages, slot, kv_head, 2 * values, values, a_offset, b_offset);
  float acc[kScoreHeadChunk];
#pragma unroll
  for (int i = 0; i < kScoreHeadChunk; ++i) acc[i] = 0.0f;
  const int64_t pair_block = static_cast<int64_t>(stages) * 2 * values;
  for (int j = 0; j < pairs; ++j) {
    const float2* pair_planes =
        planes + (static_cast<int64_t>(kv_head) * pairs + j) * pair_block;
    float kx = 0.0f;
    float ky = 0.0f;
#pragma unroll
    for (int s = 0; s < kMaxKeyStages; ++s) {
      if (s < stages) {
        const float2 pa = __ldg(pair_planes + a_offset[s]);
        const float2 pb = __ldg(pair_planes + b_offset[s]);
        kx += pa.x + pb.x;
        ky += pa.y + pb.y;
      }
    }
    const float2 cs = rope[j * rope_capacity + t];
    const float rx = kx * cs.x - ky * cs.y;
    const float ry = kx * cs.y + ky * cs.x;
#pragma unroll
    for (int i = 0; i < kScoreHeadChunk; ++i) {
      if (i < heads) {
        const float2 q = query[i * pairs + j];
        acc[i] += q.x * rx + q.y * ry;
      }
    }
  }
  StoreScores(acc, heads, pages.norms[slot] * scale, kv_head, group, head_begin,
              t, scores, score_stride);
}

}  // namespace

int LaunchKeyCodebookTables(const DeviceKeyCodebooks& codebooks, double* norms,
                            double* cross, void* stream) {
  KeyCodebookTablesKernel<<<codebooks.num_kv_heads * codebooks.stages, 256, 0,
                            AsStream(stream)>>>(codebooks, norms, cross);
  return LaunchError();
}

int LaunchKeyEncode(const DeviceKeyCodebooks& codebooks, const float* heads,
                    int64_t num_tokens, uint16_t* codes, void* stream) {
  const int64_t blocks = num_tokens * codebooks.num_kv_heads;
  if (blocks == 0) return 0;
  KeyEncodeKernel<<<static_cast<unsigned>(blocks), kEncodeThreads, 0,
                    AsStream(stream)>>>(codebooks, heads, codes);
  return LaunchError();
}

int LaunchRowNormalize(const float* rows, int64_t num_rows, int dim,
                       float* normalized, float* norms, void* stream) {
  if (num_rows == 0) return 0;
  RowNormalizeKernel<<<static_cast<unsigned>(num_rows), kNormThreads, 0,
                       AsStream(stream)>>>(rows, dim, normalized, norms);
  return LaunchError();
}

int LaunchQueryPrepare(const float* queries, int num_heads, int num_kv_heads,
                       int head_dim, int interleaved, const float* rope,
                       int64_t rope_capacity, int64_t position, float* rotated,
                       float* pair_rows, void* stream) {
  constexpr int kThreads = 128;
  const int count = num_heads * (head_dim / 2);
  QueryPrepareKernel<<<static_cast<unsigned>(CeilDiv(count, kThreads)),
                       kThreads, 0, AsStream(stream)>>>(
      queries, num_heads, num_heads / num_kv_heads, head_dim, interleaved,
      reinterpret_cast<const float2*>(rope), rope_capacity, position, rotated,
      pair_rows);
  return LaunchError();
}

int LaunchKeyScores(const DeviceKeyCodebooks& codebooks,
                    const DeviceKeyPages& pages, const float* table, int group,
                    const float* rope, int64_t rope_capacity,
                    int64_t num_tokens, float scale, float* scores,
                    int64_t score_stride, void* stream) {
  if (num_tokens == 0) return 0;
  const dim3 grid(static_cast<unsigned>(CeilDiv(num_tokens, kScoreThreads)),
                  codebooks.num_kv_heads,
                  static_cast<unsigned>(CeilDiv(group, kScoreHeadChunk)));
  KeyScoresKernel<<<grid, kScoreThreads, 0, AsStream(stream)>>>(
      codebooks, pages, table, group, reinterpret_cast<const float2*>(rope),
      rope_capacity, num_tokens, scale, scores, score_stride);
  return LaunchError();
}

int LaunchKeyScoresByDecoding(const DeviceKeyCodebooks& codebooks,
                              const DeviceKeyPages& pages, const float* planes,
                              const float* rotated, int group,
                              const float* rope, int64_t rope_capacity,
                              int64_t num_tokens, float scale, float* scores,
                              int64_t score_stride, void* stream) {
  if (num_tokens == 0) return 0;
  const dim3 grid(static_cast<unsigned>(CeilDiv(num_tokens, kScoreThreads)),
                  codebooks.num_kv_heads,
                  static_cast<unsigned>(CeilDiv(group, kScoreHeadChunk)));
  KeyScoresByDecodingKernel<<<grid, kScoreThreads, 0, AsStream(stream)>>>(
      codebooks, pages, reinterpret_cast<const float2*>(planes), rotated, group,
      reinterpret_cast<const float2*>(rope), rope_capacity, num_tokens, scale,
      scores, score_stride);
  return LaunchError();
}

namespace {

// One thread per output byte: gathers its 8 stream bits from the codes.
__global__ void PackCodesKernel(const uint16_t* codes, int64_t num_tokens,
                                int codes_per_token, int bits,
                                int64_t row_bytes, uint8_t* rows) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= num_tokens * row_bytes) return;
  const int64_t token = i / row_bytes;
  const int64_t byte = i % row_bytes;
  const uint16_t* token_codes = codes + token * codes_per_token;
  uint32_t value = 0;
  for (int b = 0; b < 8; ++b) {
    const int64_t bit = byte * 8 + b;
    const int64_t code = bit / bits;
    if (code < codes_per_token) {
      value |= ((static_cast<uint32_t>(token_codes[code]) >> (bit % bits)) & 1u)
               << b;
    }
  }
  rows[token * row_bytes + byte] = static_cast<uint8_t>(value);
}

}  // namespace

int LaunchPackCodes(const uint16_t* codes, int64_t num_tokens,
                    int codes_per_token, int bits, int64_t row_bytes,
                    uint8_t* rows, void* stream) {
  const int64_t count = num_tokens * row_bytes;
  if (count == 0) return 0;
  PackCodesKernel<<<static_cast<unsigned>(CeilDiv(count, 256)), 256, 0,
                    AsStream(stream)>>>(codes, num_tokens, codes_per_token,
                                        bits, row_bytes, rows);
  return LaunchError();
}

}  // namespace cuda
}  // namespace commvq
