// Which two channels of an attention head RoPE pair j rotates together, for
// both pair layouts. The key codebook couples exactly these channels, so the
// mapping must agree with the one the cache applies RoPE with
// (commvq/kvcache/rope.h could use these functions too).
#ifndef COMMVQ_QUANTIZER_COMMVQ_KEY_PAIR_CHANNELS_H_
#define COMMVQ_QUANTIZER_COMMVQ_KEY_PAIR_CHANNELS_H_

#include <cstdint>

#include "commvq/base/pair_layout.h"

namespace commvq {

// The channel holding the real part of pair `pair` of a head of `head_dim`
// (even) channels; 0 <= pair < head_dim / 2. layout: kHalf or kInterleaved.
inline int64_t PairFirstChannel(PairLayout layout, int64_t head_dim,
                                int64_t pair) {
  return layout == PairLayout::kHalf ? pair : 2 * pair;
}

// The channel holding the imaginary part of pair `pair`; arguments as above.
inline int64_t PairSecondChannel(PairLayout layout, int64_t head_dim,
                                 int64_t pair) {
  return layout == PairLayout::kHalf ? pair + head_dim / 2 : 2 * pair + 1;
}

}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_COMMVQ_KEY_PAIR_CHANNELS_H_
