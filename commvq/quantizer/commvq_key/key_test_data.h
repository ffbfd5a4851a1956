// Seeded test data for key codebook tests and benchmarks: random codebooks
// and key-like head vectors.
#ifndef COMMVQ_QUANTIZER_COMMVQ_KEY_KEY_TEST_DATA_H_
#define COMMVQ_QUANTIZER_COMMVQ_KEY_KEY_TEST_DATA_H_

#include <cstdint>
#include <vector>

#include "commvq/quantizer/commvq_key/key_codebook.h"

namespace commvq {
namespace testing {

// A codebook of `shape` (valid) with normal values of standard deviation
// `scale`, from `seed`.
KeyCodebook RandomKeyCodebook(const KeyCodebookShape& shape, float scale,
                              uint64_t seed);

// [rows, head_dim] rows shaped like pre-RoPE keys: per-channel means and
// scales, every 16th channel an outlier (10x the scale, mean +-4), tokens of
// different magnitude; scaled to about unit norm per row, as the quantizer
// encodes them.
std::vector<float> KeyLikeRows(int64_t rows, int64_t head_dim, uint64_t seed);

}  // namespace testing
}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_COMMVQ_KEY_KEY_TEST_DATA_H_
