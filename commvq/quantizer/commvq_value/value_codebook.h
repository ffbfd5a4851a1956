// The trained parameters of the CommVQ value quantizer (docs/METHOD.md
// section 2) and the one decoding rule every consumer (the quantizer, the
// compressed cache, the CPU and CUDA attention kernels) shares.
//
// A token's value vector x of all KV heads of a layer (d = num_kv_heads *
// head_dim channels) is stored as Nc code bits s in {0,1}^Nc plus one f32
// factor f, and decodes as
//   v_hat[c] = channel_scale[c] * f * sum_i s_i * C[i][c]
// which is linear in the bits: attention can accumulate weight * f * s over
// tokens first and multiply by C once per query head (paper Eq. 22).
//
// f = ||x / channel_scale|| / ||s . C|| (the official decoder rescales the
// decoded vector to the prescale, the norm of the scaled input), or 0 when
// either norm is 0, so a zero vector decodes to zero.
//
// Bits are grouped in pairs (2g, 2g + 1); the encoder picks one of four
// categories per group, mapped as in the official code:
//   0 -> (1, 0), 1 -> (0, 1), 2 -> (1, 1), 3 -> (0, 0).
// Codes are packed LSB-first: bit i of a token is bit (i % 8) of byte i / 8.
#ifndef COMMVQ_QUANTIZER_COMMVQ_VALUE_VALUE_CODEBOOK_H_
#define COMMVQ_QUANTIZER_COMMVQ_VALUE_VALUE_CODEBOOK_H_

#include <cstdint>
#include <vector>

namespace commvq {

// The two code bits of group category k in [0, 4).
inline constexpr uint8_t kValueCategoryBits[4][2] = {
    {1, 0}, {0, 1}, {1, 1}, {0, 0}};

// The light encoder: LayerNorm(d) -> Linear(d, hidden) -> GELU ->
// Linear(hidden, 2 * Nc) -> argmax over each group of 4 logits. Empty
// (hidden == 0) when the quantizer encodes by search only.
struct ValueEncoderWeights {
  int64_t hidden = 0;
  std::vector<float> ln_gamma, ln_beta;  // [d]
  std::vector<float> w1, b1;             // [hidden, d], [hidden]
  std::vector<float> w2, b2;             // [2 * Nc, hidden], [2 * Nc]
};

struct ValueQuantizerParams {
  int64_t dim = 0;             // d = num_kv_heads * head_dim
  int64_t num_kv_heads = 0;    // divides dim; head h owns channels
                               // [h * dim / num_kv_heads, (h + 1) * ...)
  int64_t num_code_bits = 0;   // Nc, even (pairs of bits form groups)
  std::vector<float> codebook;       // C: [Nc, d] row-major
  std::vector<float> channel_scale;  // [d], > 0
  ValueEncoderWeights encoder;

  int64_t head_dim() const { return dim / num_kv_heads; }
  int64_t num_groups() const { return num_code_bits / 2; }
  // Packed code bytes per token (the factor f is stored beside them).
  int64_t code_bytes() const { return (num_code_bits + 7) / 8; }
};

// The category (0..3) of the group bits (lo, hi); 3 for anything else.
inline int ValueCategoryOf(uint8_t lo, uint8_t hi) {
  for (int k = 0; k < 4; ++k) {
    if (kValueCategoryBits[k][0] == lo && kValueCategoryBits[k][1] == hi) {
      return k;
    }
  }
  return 3;
}

// Packs `num_code_bits` bits (one 0/1 byte each) LSB-first into
// (num_code_bits + 7) / 8 bytes; padding bits of the last byte are zero.
inline void PackValueCodeBits(const uint8_t* bits, int64_t num_code_bits,
                              uint8_t* packed) {
  for (int64_t b = 0; b < (num_code_bits + 7) / 8; ++b) packed[b] = 0;
  for (int64_t i = 0; i < num_code_bits; ++i) {
    packed[i / 8] |= static_cast<uint8_t>((bits[i] & 1) << (i % 8));
  }
}

// Bit i of a packed code row.
inline uint8_t ValueCodeBit(const uint8_t* packed, int64_t i) {
  return static_cast<uint8_t>((packed[i / 8] >> (i % 8)) & 1);
}

}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_COMMVQ_VALUE_VALUE_CODEBOOK_H_
