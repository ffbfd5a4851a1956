// `kivi`: the KIVI baseline (Liu et al., 2024, "KIVI: A Tuning-Free
// Asymmetric 2bit Quantization for KV Cache"): asymmetric k-bit integers with
// an fp16 scale and an fp16 zero point (the minimum) per group, grouped the
// way KIVI groups each half of the cache:
//   mode=value: per token, groups of `group_size` consecutive channels;
//               each vector is its own block.
//   mode=key:   per channel, over blocks of `group_size` consecutive tokens
//               (keys have outlier channels, so the scale follows the
//               channel); Encode takes a multiple of group_size vectors.
// Codes are stored per vector either way (dim * bits bits); side data is 4
// bytes per group. Bits per element: bits + 32 / group_size, e.g. 3 for
// KIVI-2 with group_size 32. No trained parameters.
#ifndef COMMVQ_QUANTIZER_KIVI_QUANTIZER_H_
#define COMMVQ_QUANTIZER_KIVI_QUANTIZER_H_

#include <memory>

#include "commvq/quantizer/quantizer.h"

namespace commvq {

std::unique_ptr<QuantizerFactory> MakeKiviQuantizerFactory();

}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_KIVI_QUANTIZER_H_
