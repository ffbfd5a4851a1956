// Scalar oracles for attention scores computed on CommVQ key codes
// (docs/METHOD.md section 3, paper Eq. 19), without materializing the keys.
//
// A cached key of one KV head is norm * sum_s centre_s(a_s, b_s), whose pair
// j is the complex number k_j = sum_s z_{s,j}[a_s] + i z_{s,j}[b_s]; at
// position p RoPE multiplies it by e^{i phi_j}, phi_j = p * theta_j. The
// score of a rotated query q (pair j: the complex q_j) is
//   sum_j Re(conj(q_j) k_j e^{i phi_j})
// and conj(q_j) k_j = sum_s T_{s,j}[a_s] + i T_{s,j}[b_s] with the table
// T_{s,j}[v] = conj(q_j) z_{s,j}[v]: a gather and sum per stage, then one
// rotation per pair. Two kernels compute the same scores:
//   * from the table: per query head, 2 * stages table reads per pair;
//   * by decoding: per KV head, decode the key once, rotate it, and take the
//     dot product with every query head of the group (cheaper for GQA); in
//     f32, or from int16 planes (the CPU kernels' form).
// Plain arrays only, so CPU and CUDA kernels share these oracles.
#ifndef KERNELS_REFERENCE_ATTENTION_KEY_REFERENCE_H_
#define KERNELS_REFERENCE_ATTENTION_KEY_REFERENCE_H_

#include <cstdint>

#include "commvq/base/pair_layout.h"

namespace commvq {

// The codebooks of one KV head (KeyQuantizerParams::head_codebooks, their z
// concatenated in stage order).
struct KeyCodebookArrays {
  const float* z = nullptr;  // [stages, head_dim / 2, 2^half_bits, 2]: (x, y)
  int stages = 0;
  int half_bits = 0;  // codes are a * 2^half_bits + b, 2 * half_bits bits
  int64_t head_dim = 0;
  PairLayout layout = PairLayout::kInterleaved;  // which channels pair j holds

  int64_t num_pairs() const { return head_dim / 2; }
  int num_values() const { return 1 << half_bits; }
};

// n cached keys of one KV head.
struct PackedKeyCodes {
  // Token t's code row starts at codes + t * code_stride (bytes) and holds
  // 2 * half_bits-bit codes packed LSB-first; this head's stage s code is
  // code first_code + s of the row.
  const uint8_t* codes = nullptr;
  int64_t code_stride = 0;
  int64_t first_code = 0;
  const float* norms = nullptr;  // [n] the stored per-token norm
  // [n, head_dim / 2]: cos / sin of the RoPE angle of each token's position.
  const float* cos = nullptr;
  const float* sin = nullptr;
  int64_t n = 0;
};

// Both kernels work on pairs split into their two components, whatever the
// layout: "x" is channel PairFirstChannel(j), "y" channel PairSecondChannel(j),
// so every loop over pairs reads consecutive floats.

// The table of one query head: table[((s * 2^h + v) * 2 + 0) * num_pairs + j]
// = Re(conj(q_j) z_{s,j}[v]) and [.. * 2 + 1) * num_pairs + j] = Im(..):
// [stages, 2^half_bits, 2, num_pairs]. query: [head_dim], already rotated.
void BuildKeyScoreTableReference(const KeyCodebookArrays& codebooks,
                                 const float* query, float* table);

// scores[t] = scale * norms[t] * sum_j Re(e^{i phi_{t,j}} *
// sum_s (T_{s,j}[a_s] + i T_{s,j}[b_s])) for t < keys.n.
void KeyScoresFromTableReference(const KeyCodebookArrays& codebooks,
                                 const float* table,
                                 const PackedKeyCodes& keys, float scale,
                                 float* scores);

// The centres of one KV head as planes a decoder adds without arithmetic on
// codebook entries: key pair j = sum_s P[s][0][a_s][.][j] + P[s][1][b_s][.][j]
// with P[s][0][v] = (x_{s,j}[v], y_{s,j}[v]) (the z_a term) and
// P[s][1][v] = (-y_{s,j}[v], x_{s,j}[v]) (the i z_b term), each [2, num_pairs]
// (x components, then y components). planes: [stages, 2, 2^half_bits, 2,
// num_pairs] (written).
void MakeKeyCentrePlanesReference(const KeyCodebookArrays& codebooks,
                                  float* planes);

// The scores of num_queries query heads sharing the KV head, by decoding
// each key once from `planes` (MakeKeyCentrePlanesReference), rotating it and
// taking dot products: scores[g * scores_stride + t] for g < num_queries.
// queries: [num_queries, head_dim], already rotated.
void KeyScoresByDecodingReference(const KeyCodebookArrays& codebooks,
                                  const float* planes, const float* queries,
                                  int num_queries, const PackedKeyCodes& keys,
                                  float scale, float* scores,
                                  int64_t scores_stride);

// The centre planes in int16, so that a decoder adds integers exactly and
// reads half the bytes (the planes of a KV head then fit a CPU's L2): one
// scale per pair j, pair_scale[j] = 2 * sum_s m_{s,j} / (32767 - 2 * stages)
// with m_{s,j} the largest |entry| of pair j in stage s's planes, and
// planes[i] = round(float plane[i] / pair_scale[j]). Any key's decoded
// integer sum (one a- and one b-row per stage) then fits int16, and each of
// its components is off the f32 sum by at most stages * pair_scale[j] (the
// entries' rounding), so a score is off by at most
// scale * |norm| * sum_j |q_j| * sqrt(2) * stages * pair_scale[j].
// planes: as MakeKeyCentrePlanesReference's, int16 (written);
// pair_scale: [num_pairs] (written; 1 for a pair of zero entries).
void MakeKeyCentrePlanesI16Reference(const KeyCodebookArrays& codebooks,
                                     int16_t* planes, float* pair_scale);

// KeyScoresByDecodingReference on int16 planes: each key decoded as the
// integer sum of its rows, times pair_scale per pair.
void KeyScoresByDecodingI16Reference(const KeyCodebookArrays& codebooks,
                                     const int16_t* planes,
                                     const float* pair_scale,
                                     const float* queries, int num_queries,
                                     const PackedKeyCodes& keys, float scale,
                                     float* scores, int64_t scores_stride);

}  // namespace commvq

#endif  // KERNELS_REFERENCE_ATTENTION_KEY_REFERENCE_H_
