// Exact nearest-centre search for the CommVQ key codebook without
// materializing its 2^(2h) centres (docs/METHOD.md section 7).
//
// For a residual r of one head and the centre c_ab of code (a, b), whose
// pair j is (x_a - y_b, y_a + x_b) on channels (j1, j2):
//   ||r - c_ab||^2 = ||r||^2 - 2 <r, c_ab> + ||c_ab||^2,
//   <r, c_ab>  = f(a) + g(b),
//     f(a) = sum_j  r_j1 x_a + r_j2 y_a,   g(b) = sum_j -r_j1 y_b + r_j2 x_b,
//   ||c_ab||^2 = A[a] + A[b] + X[a][b],
//     A[v] = sum_j x_v^2 + y_v^2,          X[a][b] = sum_j 2 (y_a x_b - x_a
//     y_b).
// A and X depend on the codebook only and are computed once; per residual,
// f and g cost 2^h x head_dim multiply-adds each, and the search scans
//   score(a, b) = (A[a] - 2 f(a)) + (A[b] - 2 g(b)) + X[a][b]
// over all (a, b): ~head_dim / 2 times fewer operations than distances to
// materialized centres. ||r||^2 is common to all codes and left out.
//
// Why the codes equal the brute-force oracle's
// (kernels/reference/key_encode_reference.h): the decision is made in
// double, where products of two floats are exact, so each method's score is
// the exact squared distance (minus ||r||^2 here) up to the rounding of its
// double sums, a relative error near head_dim * 2^-53. Two different codes
// can then only swap order when their distances agree to ~14 significant
// digits, which continuous f32 data does not produce. Exact ties do occur,
// when a codebook repeats a value (z_j[a1] = z_j[a2] for all j): then both
// methods compute bitwise-equal scores for the tied codes (the same
// operations on the same numbers), and both keep the lowest code
// a * 2^h + b by taking candidates in code order with a strict comparison.
//
// Speed: the scan runs in f32, vectorized (key_score_filter.h), as a
// filter. With u = 2^-24, each f32 score is within
//   B = (head_dim + 16) u (2 (max A + 2 ||r|| sqrt(max A)) + max |X|)
// of the exact one (f and g are length-head_dim dot products bounded by
// ||r|| sqrt(max A); the stored A and X and the sums round once each); the
// code uses 4B. Every code whose f32 score is within 2 * 4B of the smallest
// is rescored in double exactly as a full double scan would score it, so
// the double minimum and all codes tied with it are always among them and
// the result is that of the full double scan; when a single code passes
// (the common case) it is that result without any rescoring.
#ifndef COMMVQ_QUANTIZER_COMMVQ_KEY_STRUCTURED_ENCODE_H_
#define COMMVQ_QUANTIZER_COMMVQ_KEY_STRUCTURED_ENCODE_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "commvq/quantizer/commvq_key/key_codebook.h"
#include "commvq/quantizer/commvq_key/key_score_filter.h"

namespace commvq {

class ThreadPool;

// Greedy residual encoder of one head. Thread safety: immutable after
// construction; Encode may run concurrently.
class StructuredKeyEncoder {
 public:
  // stages: the codebooks of one head in stage order, all of one shape; not
  // empty. Borrowed, not copied (a quantizer keeps its codebooks once): they
  // must outlive the encoder. Precomputes A and X of each.
  explicit StructuredKeyEncoder(absl::Span<const KeyCodebook> stages);

  const KeyCodebookShape& shape() const { return stages_.front().shape(); }
  int num_stages() const { return static_cast<int>(stages_.size()); }

  // head: [head_dim] f32, finite. codes: [num_stages()] (written): per stage
  // the code a * 2^h + b of the centre nearest to the residual the previous
  // stages left (updated by KeyCodebook::SubtractCentre), ties to the lowest
  // code. residual: optional [head_dim], receives what the last stage left.
  void Encode(const float* head, uint16_t* codes,
              float* residual = nullptr) const;

  // Encode of each of the `n` rows of `heads` ([n, head_dim]) into
  // `codes` ([n, num_stages()]): the same codes, faster for many rows.
  void EncodeRows(const float* heads, int64_t n, uint16_t* codes) const;

 private:
  // Per-residual scratch of Nearest.
  struct Scratch;
  // Per stage: the exact tables and their f32, lane-padded copies.
  struct Tables {
    // [num_values]: A. [num_values, num_values]: X[a][b] at a * V + b.
    std::vector<double> norms;
    std::vector<double> cross;
    // [num_pairs, padded_]: x_j[v] and y_j[v], zero past num_values.
    std::vector<float> xt;
    std::vector<float> yt;
    // [padded_]: A as f32, +inf past num_values (never chosen).
    std::vector<float> norms_f;
    // [num_values, padded_]: X as f32, zero past num_values.
    std::vector<float> cross_f;
    // [num_values, num_pairs, 2]: z by value, for the exact rescoring.
    std::vector<float> by_value;
    // max A and max |X|, for the error bound.
    double max_norm2 = 0.0;
    double max_cross = 0.0;
  };

  // The code of `stage` nearest to `residual` ([head_dim]).
  uint16_t Nearest(int stage, const float* residual, Scratch* scratch) const;
  // The exact per-half score term A[v] - 2 f(v) (or - 2 g(v) when
  // `second_half`) of the residual gathered in `scratch`, summed in double
  // over the pairs in order.
  double HalfTerm(int stage, const Scratch& scratch, int v,
                  bool second_half) const;

  absl::Span<const KeyCodebook> stages_;
  // The f32 filter of Nearest, chosen once for the CPU.
  KeyFilterFn filter_;
  // num_values rounded up to the filter's lane count.
  int padded_ = 0;
  // Per pair: its two channels.
  std::vector<int64_t> first_;
  std::vector<int64_t> second_;
  std::vector<Tables> tables_;
};

// Training's step between stages: replaces every row of `residuals`
// ([rows, head_dim]) by what remains after subtracting its nearest centre of
// `codebook`, split over `pool` (optional, not owned; same result without).
void SubtractNearestCentres(const KeyCodebook& codebook, float* residuals,
                            int64_t rows, ThreadPool* pool);

}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_COMMVQ_KEY_STRUCTURED_ENCODE_H_
