// The RoPE-commutative key codebook of CommVQ (docs/METHOD.md section 3):
// for one KV head and one residual stage, every RoPE pair j of the head has
// 2^h complex parameters z_j[v] = (x, y), v in [0, 2^h). A code is a pair of
// h-bit halves (a, b), and pair j of its centre is
//   z_j[a] + i * z_j[b] = (x_a - y_b, y_a + x_b),
// a complex number, so the centre commutes with RoPE's rotation of the pair:
// 2^(2h) centres from 2 * 2^h * head_dim / 2 stored floats.
//
// Also the parameters of a whole key quantizer: one codebook per KV head and
// residual stage.
#ifndef COMMVQ_QUANTIZER_COMMVQ_KEY_KEY_CODEBOOK_H_
#define COMMVQ_QUANTIZER_COMMVQ_KEY_KEY_CODEBOOK_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "commvq/base/pair_layout.h"

namespace commvq {

// Largest h: a joined code of 2h bits must fit a uint16_t.
inline constexpr int kMaxKeyHalfBits = 8;

// What every codebook of one quantizer shares.
struct KeyCodebookShape {
  int64_t head_dim = 0;  // even, >= 2
  int half_bits = 0;     // h, in [1, kMaxKeyHalfBits]
  PairLayout layout = PairLayout::kUnspecified;  // kHalf or kInterleaved

  int64_t num_pairs() const { return head_dim / 2; }
  int num_values() const { return 1 << half_bits; }       // 2^h
  int64_t num_codes() const { return int64_t{1} << (2 * half_bits); }
  // Floats of z: [num_pairs, num_values, 2].
  int64_t num_floats() const { return num_pairs() * num_values() * 2; }
};

// InvalidArgument naming the field unless head_dim is even and >= 2,
// half_bits is in [1, kMaxKeyHalfBits] and layout is kHalf or kInterleaved.
absl::Status ValidateKeyCodebookShape(const KeyCodebookShape& shape);

// Codes are the halves joined as a * 2^h + b, the order ties are broken in.
inline uint16_t JoinKeyCode(int a, int b, int half_bits) {
  return static_cast<uint16_t>((a << half_bits) | b);
}
inline int KeyCodeA(uint16_t code, int half_bits) { return code >> half_bits; }
inline int KeyCodeB(uint16_t code, int half_bits) {
  return code & ((1 << half_bits) - 1);
}

// One stage of one head. Immutable; copyable.
class KeyCodebook {
 public:
  // z: [shape.num_pairs(), shape.num_values(), 2] f32, (x, y) per value.
  // InvalidArgument for an invalid shape, a wrong size of z or a NaN/Inf
  // element (named by pair, value and component).
  static absl::StatusOr<KeyCodebook> Create(const KeyCodebookShape& shape,
                                            std::vector<float> z);

  const KeyCodebookShape& shape() const { return shape_; }
  // [num_pairs, num_values, 2].
  absl::Span<const float> z() const { return z_; }
  float x(int64_t pair, int v) const {
    return z_[(pair * shape_.num_values() + v) * 2];
  }
  float y(int64_t pair, int v) const {
    return z_[(pair * shape_.num_values() + v) * 2 + 1];
  }

  // head: [head_dim] += / -= the centre of code (a, b), a and b in
  // [0, 2^h), computed in f32. Decoding adds and residual encoding
  // subtracts through these, so encoders agree on every residual.
  void AddCentre(int a, int b, float* head) const;
  void SubtractCentre(int a, int b, float* head) const;

 private:
  KeyCodebook(const KeyCodebookShape& shape, std::vector<float> z)
      : shape_(shape), z_(std::move(z)) {}

  KeyCodebookShape shape_;
  std::vector<float> z_;
};

// The trained parameters of a key quantizer.
struct KeyQuantizerParams {
  int64_t num_kv_heads = 0;
  int stages = 0;
  KeyCodebookShape shape;
  // [num_kv_heads, stages]: the codebook of head h, stage s at
  // h * stages + s, each of `shape`.
  std::vector<KeyCodebook> codebooks;

  const KeyCodebook& codebook(int64_t head, int stage) const {
    return codebooks[head * stages + stage];
  }
  // The stages of one head: [stages].
  absl::Span<const KeyCodebook> head_codebooks(int64_t head) const {
    return absl::MakeConstSpan(codebooks).subspan(head * stages, stages);
  }
  // f32 bytes of all codebooks.
  int64_t codebook_bytes() const {
    return num_kv_heads * stages * shape.num_floats() *
           static_cast<int64_t>(sizeof(float));
  }
};

// The parameters of num_kv_heads * stages codebooks of `shape` from their z
// arrays one after the other: z [num_kv_heads, stages, shape.num_floats()]
// (the layout of the quantizer's payload and of the cache's kernel arrays).
// InvalidArgument for counts below 1, a z of another size, or a codebook
// KeyCodebook::Create refuses (named "codebook of head H, stage S").
absl::StatusOr<KeyQuantizerParams> KeyQuantizerParamsFromZ(
    int64_t num_kv_heads, int stages, const KeyCodebookShape& shape,
    absl::Span<const float> z);

}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_COMMVQ_KEY_KEY_CODEBOOK_H_
