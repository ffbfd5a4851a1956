// `fp16` and `bf16`: the identity baselines, storing each element as a
// 16-bit float (round-to-nearest-even). No trained parameters.
#ifndef COMMVQ_QUANTIZER_FLOAT_QUANTIZER_H_
#define COMMVQ_QUANTIZER_FLOAT_QUANTIZER_H_

#include <memory>

#include "commvq/quantizer/quantizer.h"

namespace commvq {

std::unique_ptr<QuantizerFactory> MakeFp16QuantizerFactory();
std::unique_ptr<QuantizerFactory> MakeBf16QuantizerFactory();

}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_FLOAT_QUANTIZER_H_
