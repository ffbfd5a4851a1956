// How RoPE pairs the channels of an attention head. It decides which
// channels a RoPE-commutative key codebook couples, so the model harness,
// the KV cache, the key quantizer and codebook files all record it.
#ifndef COMMVQ_BASE_PAIR_LAYOUT_H_
#define COMMVQ_BASE_PAIR_LAYOUT_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace commvq {

// The values are stored in codebook files: never renumber.
enum class PairLayout {
  kUnspecified = 0,  // a file or model that does not say
  kHalf = 1,         // (j, j + head_dim / 2), Hugging Face rotate_half
  kInterleaved = 2,  // (2j, 2j + 1), GGUF / llama.cpp
};

// "unspecified", "half" or "interleaved" ("invalid" for other values).
absl::string_view PairLayoutName(PairLayout layout);

// Which two channels of a head RoPE pair j rotates together. The cache's RoPE
// and the key codebooks both use these, so they always couple the same
// channels.
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

#endif  // COMMVQ_BASE_PAIR_LAYOUT_H_
