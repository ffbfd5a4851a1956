// Seeded random LlamaWeights for tests and benchmarks: matrices with
// standard deviation 1/sqrt(fan_in) and norm gains around 1, so activations
// stay O(1) through any number of layers.
#ifndef COMMVQ_MODEL_LLAMA_RANDOM_WEIGHTS_H_
#define COMMVQ_MODEL_LLAMA_RANDOM_WEIGHTS_H_

#include <cstdint>

#include "commvq/model/llama/llama_model.h"

namespace commvq {

LlamaWeights RandomLlamaWeights(const LlamaConfig& config, uint64_t seed);

}  // namespace commvq

#endif  // COMMVQ_MODEL_LLAMA_RANDOM_WEIGHTS_H_
