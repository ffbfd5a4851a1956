// A stand-in codebook trainer for the commvq_key quantizer, so the registry
// can train it before the EM trainer of docs/METHOD.md section 3 (being
// written in training/) replaces it: the method's initialization from random
// data points, then a few rounds of hard alternating least squares (assign
// every row to its nearest centre, then refit z to those assignments).
#ifndef COMMVQ_QUANTIZER_COMMVQ_KEY_HARD_FIT_H_
#define COMMVQ_QUANTIZER_COMMVQ_KEY_HARD_FIT_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "commvq/quantizer/commvq_key/key_codebook.h"

namespace commvq {

class Rng;

// A codebook whose diagonal centres (v, v) are 2^h rows of `residuals`
// drawn with replacement from `rng` (not null; advanced): with
// z_j[v] = p_j (1 - i) / 2 for the drawn row's pair p_j, the centre
// z_j[v] + i z_j[v] = p_j (1 - i)(1 + i) / 2 = p_j. Off-diagonal centres are
// (p_a (1 - i) + p_b (1 + i)) / 2, mixtures of two drawn rows.
// residuals: [num_rows, shape.head_dim] f32, finite; num_rows >= 1.
// InvalidArgument for an invalid shape or no rows.
absl::StatusOr<KeyCodebook> InitKeyCodebookFromRows(
    const KeyCodebookShape& shape, const float* residuals, int64_t num_rows,
    Rng* rng);

// InitKeyCodebookFromRows, then `iterations` rounds of: encode every row
// with the exact structured search, then solve the least-squares problem
// min_z sum_rows ||row - c_{a b}(z)||^2 for those codes. Its normal matrix
// depends on the codes only, so one (2 * 2^h)-square Cholesky solve serves
// all pairs; a small ridge towards the previous z keeps unused values where
// they were. Arguments as for InitKeyCodebookFromRows.
absl::StatusOr<KeyCodebook> HardFitKeyCodebook(const KeyCodebookShape& shape,
                                               const float* residuals,
                                               int64_t num_rows,
                                               int iterations, Rng* rng);

}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_COMMVQ_KEY_HARD_FIT_H_
