// The scalar reference of the search encoder (search_encode.h), built
// without the vectorizing flags of the encoder: every candidate is scored by
// evaluating the objective directly.
#ifndef COMMVQ_QUANTIZER_COMMVQ_VALUE_SEARCH_REFERENCE_H_
#define COMMVQ_QUANTIZER_COMMVQ_VALUE_SEARCH_REFERENCE_H_

#include <cstdint>

#include "commvq/quantizer/commvq_value/search_encode.h"

namespace commvq {

// The scalar reference of the same search: the same visiting order, tie
// rule and starts, but every candidate scored by evaluating ||x - s C||^2
// directly. The first descent starts from `first_start` ([num_code_bits];
// the encoder's FirstStart) or zeros when it is null; restarts as the
// encoder. Writes bits and returns the objective.
double ReferenceValueSearch(const float* codebook, int64_t num_code_bits,
                            int64_t dim, ValueSearchOptions options,
                            const float* x, uint8_t* bits,
                            const float* channel_weights = nullptr,
                            const uint8_t* first_start = nullptr);

// sum_c w_c (x - s C)_c^2 computed directly (bits: 0/1 bytes; w = 1 when
// channel_weights is null).
double ValueCodeSquaredError(const float* codebook, int64_t num_code_bits,
                             int64_t dim, const uint8_t* bits, const float* x,
                             const float* channel_weights = nullptr);

}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_COMMVQ_VALUE_SEARCH_REFERENCE_H_
