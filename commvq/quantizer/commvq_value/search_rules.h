// The choices the search encoder and its scalar reference share, so both
// make the same decisions: where a restart starts and how ties are broken.
#ifndef COMMVQ_QUANTIZER_COMMVQ_VALUE_SEARCH_RULES_H_
#define COMMVQ_QUANTIZER_COMMVQ_VALUE_SEARCH_RULES_H_

#include <cstdint>

namespace commvq {

// The starting bits ([num_code_bits], 0/1) of restart k: zeros for k = 0,
// else drawn from the stream Rng(k), the same for every vector.
void StartBits(int restart, int64_t num_code_bits, uint8_t* s);

// The index of the lowest of four costs; `current` wins ties, and otherwise
// the first lowest one. Inline: the search calls it once per group visit.
inline int BestCategory(const double cost[4], int current) {
  int best = current;
  for (int k = 0; k < 4; ++k) {
    if (cost[k] < cost[best]) best = k;
  }
  return best;
}

}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_COMMVQ_VALUE_SEARCH_RULES_H_
