#include "commvq/quantizer/commvq_value/search_rules.h"

#include <algorithm>

#include "commvq/base/random.h"

namespace commvq {

void StartBits(int restart, int64_t num_code_bits, uint8_t* s) {
  if (restart == 0) {
    std::fill(s, s + num_code_bits, 0);
    return;
  }
  Rng rng(static_cast<uint64_t>(restart));
  for (int64_t i = 0; i < num_code_bits; ++i) {
    s[i] = static_cast<uint8_t>(rng.NextU64() & 1);
  }
}

}  // namespace commvq
