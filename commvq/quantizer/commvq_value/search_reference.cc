#include "commvq/quantizer/commvq_value/search_reference.h"

#include <algorithm>
#include <vector>

#include "commvq/quantizer/commvq_value/search_rules.h"
#include "commvq/quantizer/commvq_value/value_codebook.h"

namespace commvq {

double ValueCodeSquaredError(const float* codebook, int64_t num_code_bits,
                             int64_t dim, const uint8_t* bits, const float* x,
                             const float* channel_weights) {
  std::vector<double> y(dim, 0.0);
  for (int64_t i = 0; i < num_code_bits; ++i) {
    if (!bits[i]) continue;
    for (int64_t c = 0; c < dim; ++c) y[c] += codebook[i * dim + c];
  }
  double error = 0.0;
  for (int64_t c = 0; c < dim; ++c) {
    const double diff = x[c] - y[c];
    error +=
        (channel_weights != nullptr ? channel_weights[c] : 1.0) * diff * diff;
  }
  return error;
}

double ReferenceValueSearch(const float* codebook, int64_t num_code_bits,
                            int64_t dim, ValueSearchOptions options,
                            const float* x, uint8_t* bits,
                            const float* channel_weights,
                            const uint8_t* first_start) {
  std::vector<uint8_t> s(num_code_bits);
  double best = 0.0;
  for (int restart = 0; restart <= options.restarts; ++restart) {
    if (restart == 0 && first_start != nullptr) {
      std::copy(first_start, first_start + num_code_bits, s.begin());
    } else {
      StartBits(restart, num_code_bits, s.data());
    }
    for (int sweep = 0; sweep < options.sweeps; ++sweep) {
      bool changed = false;
      for (int64_t i = 0; i < num_code_bits; i += 2) {
        const int current = ValueCategoryOf(s[i], s[i + 1]);
        double cost[4];
        for (int k = 0; k < 4; ++k) {
          s[i] = kValueCategoryBits[k][0];
          s[i + 1] = kValueCategoryBits[k][1];
          cost[k] = ValueCodeSquaredError(codebook, num_code_bits, dim,
                                          s.data(), x, channel_weights);
        }
        const int chosen = BestCategory(cost, current);
        s[i] = kValueCategoryBits[chosen][0];
        s[i + 1] = kValueCategoryBits[chosen][1];
        changed |= chosen != current;
      }
      if (!changed) break;
    }
    const double objective = ValueCodeSquaredError(
        codebook, num_code_bits, dim, s.data(), x, channel_weights);
    if (restart == 0 || objective < best) {
      best = objective;
      std::copy(s.begin(), s.end(), bits);
    }
  }
  return best;
}

}  // namespace commvq
