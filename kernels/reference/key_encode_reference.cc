#include "kernels/reference/key_encode_reference.h"

#include <vector>

#include "commvq/base/pair_layout.h"

namespace commvq {

ReferenceKeyEncoder::ReferenceKeyEncoder(absl::Span<const KeyCodebook> stages)
    : stages_(stages.begin(), stages.end()) {
  for (const KeyCodebook& codebook : stages_) {
    const KeyCodebookShape& shape = codebook.shape();
    std::vector<double> centres(shape.num_codes() * shape.head_dim);
    for (int a = 0; a < shape.num_values(); ++a) {
      for (int b = 0; b < shape.num_values(); ++b) {
        double* centre =
            &centres[JoinKeyCode(a, b, shape.half_bits) * shape.head_dim];
        for (int64_t j = 0; j < shape.num_pairs(); ++j) {
          centre[PairFirstChannel(shape.layout, shape.head_dim, j)] =
              double{codebook.x(j, a)} - double{codebook.y(j, b)};
          centre[PairSecondChannel(shape.layout, shape.head_dim, j)] =
              double{codebook.y(j, a)} + double{codebook.x(j, b)};
        }
      }
    }
    centres_.push_back(std::move(centres));
  }
}

uint16_t ReferenceKeyEncoder::Nearest(int stage, const float* residual) const {
  const KeyCodebookShape& shape = stages_[stage].shape();
  const std::vector<double>& centres = centres_[stage];
  int64_t best = 0;
  double best_distance = 0.0;
  for (int64_t k = 0; k < shape.num_codes(); ++k) {
    const double* centre = &centres[k * shape.head_dim];
    double distance = 0.0;
    for (int64_t i = 0; i < shape.head_dim; ++i) {
      const double diff = double{residual[i]} - centre[i];
      distance += diff * diff;
    }
    // Strictly smaller: of equal distances the lowest code stays.
    if (k == 0 || distance < best_distance) {
      best = k;
      best_distance = distance;
    }
  }
  return static_cast<uint16_t>(best);
}

void ReferenceKeyEncoder::Encode(const float* head, uint16_t* codes) const {
  const KeyCodebookShape& shape = stages_.front().shape();
  std::vector<float> residual(head, head + shape.head_dim);
  for (size_t s = 0; s < stages_.size(); ++s) {
    codes[s] = Nearest(static_cast<int>(s), residual.data());
    stages_[s].SubtractCentre(KeyCodeA(codes[s], shape.half_bits),
                              KeyCodeB(codes[s], shape.half_bits),
                              residual.data());
  }
}

}  // namespace commvq
