#include "commvq/eval/exact_attention.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/types/span.h"
#include "commvq/kvcache/rope.h"

namespace commvq {

void RotateSequence(const Rope& rope, int64_t n, int64_t heads,
                    std::vector<float>& x) {
  std::vector<int64_t> positions(n);
  std::iota(positions.begin(), positions.end(), 0);
  std::vector<float> cos(n * rope.num_pairs()), sin(n * rope.num_pairs());
  rope.ComputeCosSin(positions, absl::MakeSpan(cos), absl::MakeSpan(sin));
  rope.Rotate(cos, sin, static_cast<int>(heads), absl::MakeSpan(x));
}

void ExactAttention(const float* q, const float* keys, const float* values,
                    int64_t n, int64_t d, int64_t stride, double scale,
                    double* weights, double* output) {
  std::vector<double> p(n);
  double max_logit = -INFINITY;
  for (int64_t j = 0; j < n; ++j) {
    const float* k = keys + j * stride;
    double dot = 0.0;
    for (int64_t c = 0; c < d; ++c) dot += double{q[c]} * k[c];
    p[j] = scale * dot;
    max_logit = std::max(max_logit, p[j]);
  }
  double total = 0.0;
  for (double& l : p) {
    l = std::exp(l - max_logit);
    total += l;
  }
  std::fill(output, output + d, 0.0);
  for (int64_t j = 0; j < n; ++j) {
    p[j] /= total;
    const float* v = values + j * stride;
    for (int64_t c = 0; c < d; ++c) output[c] += p[j] * v[c];
  }
  if (weights != nullptr) std::copy(p.begin(), p.end(), weights);
}

}  // namespace commvq
