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

// `stages` codebooks of `shape` from seeds seed, seed + 1, ...; stage 0 of
// scale 1 / sqrt(head_dim), each later stage 0.6 times smaller (later
// stages fit smaller residuals, as trained ones do).
std::vector<KeyCodebook> RandomKeyStages(const KeyCodebookShape& shape,
                                         int stages, uint64_t seed);

// `stages` codebooks of `shape` in which value v repeats value v / 2 (and,
// with h = 1, value 1 repeats 0), so whole rows and columns of centres are
// equal: encoders must break the exact ties to the lowest code.
std::vector<KeyCodebook> TiedKeyStages(const KeyCodebookShape& shape,
                                       int stages, uint64_t seed);

// Rows for TiedKeyStages(stages): the zero vector, then the tied centres
// (a, 2^h - 1 - a / 2) of stage 0 for a from 2^h - 1 down to 2^h / 2
// (distance exactly 0 to two or more codes), then 30 key-like rows.
std::vector<float> TiedKeyRows(const std::vector<KeyCodebook>& stages,
                               uint64_t seed);

}  // namespace testing
}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_COMMVQ_KEY_KEY_TEST_DATA_H_
