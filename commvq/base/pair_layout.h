// How RoPE pairs the channels of an attention head. It decides which
// channels a RoPE-commutative key codebook couples, so the model harness,
// the KV cache, the key quantizer and codebook files all record it.
#ifndef COMMVQ_BASE_PAIR_LAYOUT_H_
#define COMMVQ_BASE_PAIR_LAYOUT_H_

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

}  // namespace commvq

#endif  // COMMVQ_BASE_PAIR_LAYOUT_H_
