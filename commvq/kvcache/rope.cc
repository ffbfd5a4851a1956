#include "commvq/kvcache/rope.h"

#include <cmath>
#include <cstddef>

#include "absl/strings/str_cat.h"

namespace commvq {

absl::StatusOr<Rope> Rope::Create(int head_dim, double rope_theta,
                                  PairLayout layout) {
  if (head_dim <= 0 || head_dim % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("RoPE needs a positive, even head_dim; got ", head_dim));
  }
  // theta <= 1 would make the frequencies grow with the pair index (or all
  // equal 1), which no model uses and is almost surely a misread field.
  if (!std::isfinite(rope_theta) || rope_theta <= 1.0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rope_theta must be finite and greater than 1; got ", rope_theta));
  }
  if (layout != PairLayout::kHalf &&
      layout != PairLayout::kInterleaved) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown RoPE pair layout ", static_cast<int>(layout),
                     "; expected half (1) or interleaved (2)"));
  }
  return Rope(head_dim, rope_theta, layout);
}

Rope::Rope(int head_dim, double rope_theta, PairLayout layout)
    : head_dim_(head_dim),
      rope_theta_(rope_theta),
      layout_(layout),
      inverse_frequencies_(head_dim / 2) {
  for (int j = 0; j < num_pairs(); ++j) {
    inverse_frequencies_[j] = std::pow(rope_theta, -2.0 * j / head_dim);
  }
}

void Rope::ComputeCosSin(absl::Span<const int64_t> positions,
                         absl::Span<float> cos, absl::Span<float> sin) const {
  const int pairs = num_pairs();
  for (size_t i = 0; i < positions.size(); ++i) {
    const double position = static_cast<double>(positions[i]);
    for (int j = 0; j < pairs; ++j) {
      const double angle = position * inverse_frequencies_[j];
      cos[i * pairs + j] = static_cast<float>(std::cos(angle));
      sin[i * pairs + j] = static_cast<float>(std::sin(angle));
    }
  }
}

void Rope::RotateHead(const float* cos, const float* sin, float* head) const {
  for (int j = 0; j < num_pairs(); ++j) {
    float& x = head[FirstChannel(j)];
    float& y = head[SecondChannel(j)];
    const float rotated_x = x * cos[j] - y * sin[j];
    const float rotated_y = x * sin[j] + y * cos[j];
    x = rotated_x;
    y = rotated_y;
  }
}

void Rope::Rotate(absl::Span<const float> cos, absl::Span<const float> sin,
                  int num_heads, absl::Span<float> data) const {
  const int64_t row_size = int64_t{num_heads} * head_dim_;
  const int64_t rows = row_size == 0 ? 0 : data.size() / row_size;
  for (int64_t i = 0; i < rows; ++i) {
    for (int h = 0; h < num_heads; ++h) {
      RotateHead(&cos[i * num_pairs()], &sin[i * num_pairs()],
                 &data[i * row_size + int64_t{h} * head_dim_]);
    }
  }
}

}  // namespace commvq
