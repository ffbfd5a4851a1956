// The dense reference of key_em.h: the official algorithm taken literally.
// All V^2 centres are materialized, the softmax runs over every centre and
// the statistics are the soft sums of every centre (O(N V^2 d) per E-step),
// reduced through the parameter-to-centre map T afterwards. For tests (tiny
// sizes) and for the benchmark of the structured E-step.
#ifndef COMMVQ_TRAINING_KEY_EM_DENSE_H_
#define COMMVQ_TRAINING_KEY_EM_DENSE_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "training/key_em.h"

namespace commvq {

class ThreadPool;

// All centres of `z` ([pairs, V, 2], V = 2^half_bits): [V * V, pairs, 2] in
// double, centre a * V + b at pair j being (x_a - y_b, y_a + x_b).
std::vector<double> MaterializeKeyCentres(absl::Span<const float> z, int pairs,
                                          int half_bits);

// Same contract as ComputeKeyEmStats, computed densely: distances to every
// materialized centre, full softmax of -dist / temperature (hard when
// temperature <= 0), per-centre soft sums. If `centre_sums` is not null it
// receives them: [V * V, pairs, 2], sum_n W[n][c] x_n.
KeyEmStats ComputeKeyEmStatsDense(absl::Span<const float> residuals, int64_t n,
                                  int pairs, int half_bits,
                                  absl::Span<const float> z,
                                  double temperature, ThreadPool* pool,
                                  std::vector<double>* centre_sums = nullptr);

// T^T S T ([2V, 2V], unknowns as KeyNormalMatrix orders them) formed
// literally: T ([2 V^2, 2V], entries in {-1, 0, 1}) maps the parameters of
// one pair to both coordinates of every centre, S repeats each count over
// the two coordinates.
std::vector<double> LiteralKeyNormalMatrix(absl::Span<const double> counts,
                                           int values);

// TrainKeyStage with the dense E-step.
absl::StatusOr<KeyEmResult> TrainKeyStageDense(
    absl::Span<const float> residuals, int64_t n, int pairs,
    const KeyEmOptions& options);

}  // namespace commvq

#endif  // COMMVQ_TRAINING_KEY_EM_DENSE_H_
