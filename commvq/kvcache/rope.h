// Rotary position embedding (RoPE) as LLaMA-family models apply it to
// queries and keys: each head vector is split into head_dim / 2 channel
// pairs, and pair j of the token at position p is rotated by the angle
// p * rope_theta^(-2j / head_dim).
//
// Which channels form a pair depends on where the weights come from:
// Hugging Face checkpoints pair (j, j + head_dim / 2) ("rotate_half"), while
// GGUF / llama.cpp LLaMA checkpoints permute the Q and K projection rows so
// that pairs are adjacent, (2j, 2j + 1). The KV cache applies RoPE itself
// (keys arrive pre-RoPE, see kv_cache.h), so the layout travels with the
// attention shape.
//
// Angles are computed in double: at positions beyond ~10^5 a float angle
// loses the low-frequency pairs' precision.
//
// Thread safety: a Rope is immutable; all methods may be called concurrently.
#ifndef COMMVQ_KVCACHE_ROPE_H_
#define COMMVQ_KVCACHE_ROPE_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "commvq/base/pair_layout.h"

namespace commvq {

class Rope {
 public:
  // InvalidArgument unless head_dim is positive and even, rope_theta is
  // finite and greater than 1, and layout is one of the enumerators.
  static absl::StatusOr<Rope> Create(int head_dim, double rope_theta,
                                     PairLayout layout);

  int head_dim() const { return head_dim_; }
  int num_pairs() const { return head_dim_ / 2; }
  double rope_theta() const { return rope_theta_; }
  PairLayout layout() const { return layout_; }

  // rope_theta^(-2j / head_dim) for pair j: [num_pairs].
  absl::Span<const double> inverse_frequencies() const {
    return inverse_frequencies_;
  }

  // The two channels of a head that pair `pair` rotates together.
  int FirstChannel(int pair) const {
    return static_cast<int>(PairFirstChannel(layout_, head_dim_, pair));
  }
  int SecondChannel(int pair) const {
    return static_cast<int>(PairSecondChannel(layout_, head_dim_, pair));
  }

  // The rotation of every pair at every position, computed in double and
  // rounded to float.
  // positions: [n], each >= 0.
  // cos, sin:  [n, num_pairs] (written): cos/sin of positions[i] *
  //            inverse_frequencies()[j].
  void ComputeCosSin(absl::Span<const int64_t> positions, absl::Span<float> cos,
                     absl::Span<float> sin) const;

  // Rotates one head vector in place: (x, y) of pair j becomes
  // (x cos_j - y sin_j, x sin_j + y cos_j).
  // cos, sin: [num_pairs], one row of ComputeCosSin.
  // head:     [head_dim].
  void RotateHead(const float* cos, const float* sin, float* head) const;

  // Rotates every head of row i by the angles of row i of cos/sin.
  // cos, sin: [n, num_pairs] from ComputeCosSin.
  // data:     [n, num_heads, head_dim], rotated in place.
  void Rotate(absl::Span<const float> cos, absl::Span<const float> sin,
              int num_heads, absl::Span<float> data) const;

 private:
  Rope(int head_dim, double rope_theta, PairLayout layout);

  int head_dim_;
  double rope_theta_;
  PairLayout layout_;
  std::vector<double> inverse_frequencies_;
};

}  // namespace commvq

#endif  // COMMVQ_KVCACHE_ROPE_H_
