// Device kernels of the CommVQ key path, behind a plain C++ boundary (nvcc
// and the host compiler meet here, see bazel/cuda.bzl): the structured
// nearest-centre search, the query-side table inputs, and the per-token key
// scores of decode attention. The launchers in key_encoder.h and
// decode_attention.h validate shapes; these functions only check that the
// launch itself succeeded.
//
// Every pointer is device memory; `stream` is a cudaStream_t (nullptr: the
// legacy default stream). Each function returns the cudaError_t value of its
// launch (0 = success).
#ifndef COMMVQ_KERNELS_CUDA_KEY_KERNELS_H_
#define COMMVQ_KERNELS_CUDA_KEY_KERNELS_H_

#include <cstdint>

namespace commvq {
namespace cuda {

// Limits of these kernels (the launchers reject larger shapes).
inline constexpr int kMaxKeyHeadDim = 256;
inline constexpr int kMaxKeyStages = 32;
// Query heads per KV head handled by one score thread; larger GQA ratios run
// in several chunks.
inline constexpr int kScoreHeadChunk = 8;
// Threads (= tokens) per block of the key score kernel.
inline constexpr int kScoreThreads = 128;

// The key codebooks of all KV heads of a layer on the device.
struct DeviceKeyCodebooks {
  int num_kv_heads = 0;
  int stages = 0;
  int head_dim = 0;
  int half_bits = 0;
  int interleaved = 0;  // 1: pairs (2j, 2j + 1); 0: pairs (j, j + head_dim/2)
  // z: [num_kv_heads, stages, head_dim / 2, 2^h, 2] f32 (x, y).
  const float* z = nullptr;
  // A: [num_kv_heads, stages, 2^h] f64, sum_j x_v^2 + y_v^2.
  const double* norms = nullptr;
  // X: [num_kv_heads, stages, 2^h, 2^h] f64, sum_j 2 (y_a x_b - x_a y_b).
  const double* cross = nullptr;
};

// Computes A and X from codebooks.z (codebooks.norms/cross are not read) in
// the operation order of StructuredKeyEncoder, so scores round identically.
// norms: [num_kv_heads, stages, 2^h], cross: [..., 2^h, 2^h] (written).
int LaunchKeyCodebookTables(const DeviceKeyCodebooks& codebooks, double* norms,
                            double* cross, void* stream);

// Greedy residual encoding, one block per (token, KV head), identical codes
// to StructuredKeyEncoder (f64 scores, no fused multiply-adds, ties to the
// lowest code, f32 residual updates).
// heads: [num_tokens, num_kv_heads, head_dim] f32, the vectors to encode
//        (already divided by the key norm).
// codes: [num_tokens, num_kv_heads, stages] (written).
int LaunchKeyEncode(const DeviceKeyCodebooks& codebooks, const float* heads,
                    int64_t num_tokens, uint16_t* codes, void* stream);

// Per-row L2 norm and normalization, as the key quantizer does before
// encoding (a zero row stays zero): the norm is rounded to fp16 and rows are
// divided by the rounded value. Unlike the CPU quantizer, which rejects a
// norm beyond fp16's 65504, the GPU cannot report per-row errors: such a row
// gets norm +inf and zero codes input (no LLM key comes near that norm). The
// squares are summed in f32 (the CPU sums in f64), so the fp16 norm can
// differ by one unit in rare ties.
// rows: [num_rows, dim] f32. normalized: [num_rows, dim] (written).
// norms: [num_rows] (written).
int LaunchRowNormalize(const float* rows, int64_t num_rows, int dim,
                       float* normalized, float* norms, void* stream);

// RoPE of one query token and its rearrangement into the left operands of
// the per-pair table GEMM.
// queries:   [num_heads, head_dim] f32, pre-RoPE.
// rope:      [head_dim / 2, rope_capacity] float2 (cos, sin) per pair and
//            position; `position` < rope_capacity.
// rotated:   [num_heads, head_dim] (written), the query after RoPE.
// pair_rows: [num_kv_heads, head_dim / 2, group, 2] (written): (q1, q2) of
//            pair j of query head g * group + i.
int LaunchQueryPrepare(const float* queries, int num_heads, int num_kv_heads,
                       int head_dim, int interleaved, const float* rope,
                       int64_t rope_capacity, int64_t position, float* rotated,
                       float* pair_rows, void* stream);

// Packs num_tokens rows of codes_per_token codes ([num_tokens,
// codes_per_token] u16, each < 2^bits) into rows of row_bytes =
// ceil(codes_per_token * bits / 8) bytes, LSB-first (bit_packing.h), unused
// high bits zero. bits in 1..16.
int LaunchPackCodes(const uint16_t* codes, int64_t num_tokens,
                    int codes_per_token, int bits, int64_t row_bytes,
                    uint8_t* rows, void* stream);

// Where the compressed key codes of a layer live: a pool of pages of
// page_tokens tokens, token t in page page_table[t / page_tokens].
struct DeviceKeyPages {
  const int32_t* page_table = nullptr;  // [>= ceil(num_tokens / page_tokens)]
  int page_tokens = 0;
  // codes: [num_pages, page_tokens] rows of code_row_bytes bytes, each the
  // token's num_kv_heads * stages codes (head-major, as LaunchKeyEncode
  // writes them) packed at 2 * half_bits bits, LSB-first, as the CPU cache
  // stores them (commvq/base/bit_packing.h). The pool must be readable 2
  // bytes past its last row (a code is read with a 3-byte load).
  const uint8_t* codes = nullptr;
  int64_t code_row_bytes = 0;
  // norms: [num_pages, page_tokens] f32, the key prescale of each token.
  const float* norms = nullptr;
};

// Scores of one query against num_tokens compressed keys (positions 0 ..
// num_tokens - 1) with the commutative trick: per pair, gather and sum the
// table entries of every stage, rotate by the key position, sum over pairs,
// times prescale * scale.
// table:  [num_kv_heads, head_dim / 2, group, stages, 2^h, 2] f32, per pair
//         the complex conj(q'_j) * z_j[v] (output of the table GEMM).
// rope:   as above; num_tokens <= rope_capacity.
// scores: [num_kv_heads * group, score_stride] (written for t < num_tokens).
int LaunchKeyScores(const DeviceKeyCodebooks& codebooks,
                    const DeviceKeyPages& pages, const float* table, int group,
                    const float* rope, int64_t rope_capacity,
                    int64_t num_tokens, float scale, float* scores,
                    int64_t score_stride, void* stream);

// The same scores by decoding each key once per KV head (cheaper than the
// table when a KV head serves several query heads): per pair, sum the
// centre planes of every stage's a and b, rotate by the key position, and
// take the dot product with each rotated query head of the group.
// planes:  [num_kv_heads, head_dim / 2, stages, 2, 2^h] float2: for half 0
//          (x_v, y_v), the z_a term; for half 1 (-y_v, x_v), the i z_b term.
// rotated: [num_kv_heads * group, head_dim], the query after RoPE.
// Other arguments as LaunchKeyScores.
int LaunchKeyScoresByDecoding(const DeviceKeyCodebooks& codebooks,
                              const DeviceKeyPages& pages, const float* planes,
                              const float* rotated, int group,
                              const float* rope, int64_t rope_capacity,
                              int64_t num_tokens, float scale, float* scores,
                              int64_t score_stride, void* stream);

}  // namespace cuda
}  // namespace commvq

#endif  // COMMVQ_KERNELS_CUDA_KEY_KERNELS_H_
