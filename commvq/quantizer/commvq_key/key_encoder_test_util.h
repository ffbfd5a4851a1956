// What the tests of every key encoder share (the structured encoder here,
// the GEMM brute force in kernels/cpu): the configurations they run in,
// Gaussian rows, and an exact comparison of an encoder's codes with the
// scalar reference encoder (kernels/reference/key_encode_reference.h).
#ifndef COMMVQ_QUANTIZER_COMMVQ_KEY_KEY_ENCODER_TEST_UTIL_H_
#define COMMVQ_QUANTIZER_COMMVQ_KEY_KEY_ENCODER_TEST_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "commvq/base/pair_layout.h"
#include "commvq/quantizer/commvq_key/key_codebook.h"
#include "gtest/gtest.h"

namespace commvq {
namespace testing {

struct KeyEncoderCase {
  PairLayout layout;
  int half_bits;
};

// Both pair layouts with small, medium and the largest half-code widths.
std::vector<KeyEncoderCase> KeyEncoderCases();

// The test-name suffix of a case, e.g. "interleaved_h4".
std::string KeyEncoderCaseName(
    const ::testing::TestParamInfo<KeyEncoderCase>& info);

// [rows, head_dim] normal values of standard deviation 1 / sqrt(head_dim)
// (rows of about unit norm), from `seed`.
std::vector<float> GaussianKeyRows(int64_t rows, int64_t head_dim,
                                   uint64_t seed);

// Adds a failure for every code of `codes` ([n, stages], from the encoder
// named `encoder`) that differs from the reference encoder's for `rows`
// ([n, head_dim]); the first five are described.
void ExpectReferenceCodes(const std::vector<KeyCodebook>& stages,
                          const std::vector<float>& rows,
                          const std::vector<uint16_t>& codes,
                          absl::string_view encoder);

}  // namespace testing
}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_COMMVQ_KEY_KEY_ENCODER_TEST_UTIL_H_
