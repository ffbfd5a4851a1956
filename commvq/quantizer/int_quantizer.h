// `int`: per-token asymmetric k-bit integer quantization (k = 1..8) in
// groups of `group_size` consecutive channels, each group with an fp16 scale
// and an fp16 zero point (its minimum):
//   x ~= zero + scale * q,  q in [0, 2^k - 1],  scale = (max - min) / (2^k - 1)
// Stored per vector: dim * k code bits + 4 bytes per group. No trained
// parameters.
#ifndef COMMVQ_QUANTIZER_INT_QUANTIZER_H_
#define COMMVQ_QUANTIZER_INT_QUANTIZER_H_

#include <memory>

#include "commvq/quantizer/quantizer.h"

namespace commvq {

std::unique_ptr<QuantizerFactory> MakeIntQuantizerFactory();

}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_INT_QUANTIZER_H_
