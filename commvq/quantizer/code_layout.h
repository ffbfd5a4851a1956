// How a quantizer lays out the encoded form of a batch of vectors, and the
// stored-bytes arithmetic every caller (cache, CLI, C ABI) shares.
#ifndef COMMVQ_QUANTIZER_CODE_LAYOUT_H_
#define COMMVQ_QUANTIZER_CODE_LAYOUT_H_

#include <cstdint>

namespace commvq {

// Vectors are encoded in blocks of `block_vectors` consecutive vectors
// (1 for per-token quantizers; e.g. 32 for a quantizer whose scales are
// shared by 32 tokens). Each vector gets `code_bytes` bytes of bit-packed
// codes; each block gets `side_bytes` bytes of side data (norms, scales, zero
// points) in a layout the quantizer defines.
//
//   codes: [num_vectors, code_bytes]              u8, row-major
//   side:  [num_vectors / block_vectors, side_bytes] u8, row-major
struct CodeLayout {
  int64_t dim = 0;            // elements per input vector
  int64_t code_bits = 0;      // meaningful code bits per vector
  int64_t code_bytes = 0;     // == ceil(code_bits / 8): codes are bit-packed
  int64_t side_bytes = 0;     // per block
  int64_t block_vectors = 1;  // vectors per block, >= 1

  // Bytes stored for `num_vectors` vectors (a multiple of block_vectors).
  int64_t StoredBytes(int64_t num_vectors) const {
    return num_vectors * code_bytes + (num_vectors / block_vectors) * side_bytes;
  }

  // Stored bits per input element, side data included.
  double BitsPerElement() const {
    return 8.0 * (static_cast<double>(code_bytes) +
                  static_cast<double>(side_bytes) / block_vectors) /
           static_cast<double>(dim);
  }
};

}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_CODE_LAYOUT_H_
