// The f32 filter of the structured key encoder (structured_encode.h): the
// scores A[a] - 2 f(a) + A[b] - 2 g(b) + X[a][b] of all 2^(2h) codes of one
// residual, reduced to each row a's minimum, vectorized. The encoder
// rescores in double every code the filter cannot rule out, so the filter
// only has to stay within the error bound stated there; that holds for any
// summation order and with or without fused multiply-adds.
//
// Built twice from one source: a baseline build and, on x86-64, an
// AVX2 + FMA build chosen once from the CPU's features (no -march flag).
// This file is compiled with contraction allowed (fused multiply-adds);
// the encoder's exact double arithmetic lives in another file, compiled
// without.
#ifndef COMMVQ_QUANTIZER_COMMVQ_KEY_KEY_SCORE_FILTER_H_
#define COMMVQ_QUANTIZER_COMMVQ_KEY_KEY_SCORE_FILTER_H_

#include <cstdint>

namespace commvq {

// Values processed side by side; tables are padded to a multiple of it.
inline constexpr int kKeyFilterLanes = 16;

struct KeyFilterArgs {
  int64_t pairs;
  int values;          // V = 2^h
  int padded;          // V rounded up to kKeyFilterLanes
  const float* xt;     // [pairs, padded]: x_j[v], zero past V
  const float* yt;     // [pairs, padded]: y_j[v], zero past V
  const float* norms;  // [padded]: A[v], +inf past V (never chosen)
  const float* cross;  // [V, padded]: X[a][b], zero past V
  const float* r1;     // [pairs]: the residual's first channel of each pair
  const float* r2;     // [pairs]: its second channel
  float* fa;           // [padded] (written): A[a] - 2 f(a)
  float* gb;           // [padded] (written): A[b] - 2 g(b)
  float* row_best;     // [V] (written): fa[a] + min over b of gb[b] + X[a][b]
};

// Fills fa, gb and row_best; returns the smallest row_best.
using KeyFilterFn = float (*)(const KeyFilterArgs& args);

// The AVX2 + FMA build when the library has one and the CPU runs it, else
// the baseline build. Detected once.
KeyFilterFn PickKeyFilter();

// The baseline build (what the compiler targets by default).
float KeyFilterBaseline(const KeyFilterArgs& args);

}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_COMMVQ_KEY_KEY_SCORE_FILTER_H_
