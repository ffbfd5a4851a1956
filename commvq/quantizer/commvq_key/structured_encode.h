// Exact nearest-centre search for the CommVQ key codebook without
// materializing its 2^(2h) centres (docs/METHOD.md section 7).
//
// For a residual r of one head and the centre c_ab of code (a, b), whose
// pair j is (x_a - y_b, y_a + x_b) on channels (j1, j2):
//   ||r - c_ab||^2 = ||r||^2 - 2 <r, c_ab> + ||c_ab||^2,
//   <r, c_ab>  = f(a) + g(b),
//     f(a) = sum_j  r_j1 x_a + r_j2 y_a,   g(b) = sum_j -r_j1 y_b + r_j2 x_b,
//   ||c_ab||^2 = A[a] + A[b] + X[a][b],
//     A[v] = sum_j x_v^2 + y_v^2,          X[a][b] = sum_j 2 (y_a x_b - x_a y_b).
// A and X depend on the codebook only and are computed once; per residual,
// f and g cost 2^h x head_dim multiply-adds each, and the search scans
//   score(a, b) = (A[a] - 2 f(a)) + (A[b] - 2 g(b)) + X[a][b]
// over all (a, b): ~head_dim / 2 times fewer operations than distances to
// materialized centres. ||r||^2 is common to all codes and left out.
//
// Why the codes equal the brute-force oracle's
// (kernels/reference/key_encode_reference.h): both compute in double, where
// products of two floats are exact, so each method's score is the exact
// squared distance (minus ||r||^2 here) up to the rounding of its double
// sums, a relative error near head_dim * 2^-53. Two different codes can then
// only swap order when their distances agree to ~14 significant digits, which
// continuous f32 data does not produce. Exact ties do occur, when a codebook
// repeats a value (z_j[a1] = z_j[a2] for all j): then both methods compute
// bitwise-equal scores for the tied codes (the same operations on the same
// numbers), and both keep the lowest code a * 2^h + b by scanning in code
// order with a strict comparison.
#ifndef COMMVQ_QUANTIZER_COMMVQ_KEY_STRUCTURED_ENCODE_H_
#define COMMVQ_QUANTIZER_COMMVQ_KEY_STRUCTURED_ENCODE_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "commvq/quantizer/commvq_key/key_codebook.h"

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

 private:
  // The code of `stage` nearest to `residual` ([head_dim]); `halves`:
  // [2, num_values] scratch for the per-residual terms of a and of b.
  uint16_t Nearest(int stage, const float* residual, double* halves) const;

  absl::Span<const KeyCodebook> stages_;
  // Per stage: A, [num_values].
  std::vector<std::vector<double>> norms_;
  // Per stage: X, [num_values, num_values], X[a][b] at a * num_values + b.
  std::vector<std::vector<double>> cross_;
};

// Training's step between stages: replaces every row of `residuals`
// ([rows, head_dim]) by what remains after subtracting its nearest centre of
// `codebook`, split over `pool` (optional, not owned; same result without).
void SubtractNearestCentres(const KeyCodebook& codebook, float* residuals,
                            int64_t rows, ThreadPool* pool);

}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_COMMVQ_KEY_STRUCTURED_ENCODE_H_
