#include "kernels/cpu/key_encode_gemm.h"

#include <cstdint>
#include <string>
#include <vector>

#include "commvq/base/thread_pool.h"
#include "commvq/quantizer/commvq_key/key_codebook.h"
#include "commvq/quantizer/commvq_key/key_encoder_test_util.h"
#include "commvq/quantizer/commvq_key/key_test_data.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::ExpectReferenceCodes;
using ::commvq::testing::GaussianKeyRows;
using ::commvq::testing::KeyEncoderCase;
using ::commvq::testing::KeyEncoderCaseName;
using ::commvq::testing::KeyEncoderCases;
using ::commvq::testing::KeyLikeRows;
using ::commvq::testing::RandomKeyStages;
using ::commvq::testing::TiedKeyRows;
using ::commvq::testing::TiedKeyStages;

constexpr int kStages = 5;

std::vector<KeyCodebook> RandomStages(const KeyCodebookShape& shape,
                                      uint64_t seed) {
  return RandomKeyStages(shape, kStages, seed);
}

// Expects the reference encoder's codes from the GEMM encoder for every row
// of `rows` ([n, head_dim]), with and without a pool.
void ExpectGemmCodes(const std::vector<KeyCodebook>& stages,
                     const std::vector<float>& rows) {
  const GemmKeyEncoder gemm(stages);
  const int64_t n =
      static_cast<int64_t>(rows.size()) / stages.front().shape().head_dim;
  std::vector<uint16_t> codes(n * kStages);
  gemm.EncodeBatch(rows.data(), n, codes.data(), nullptr);
  ExpectReferenceCodes(stages, rows, codes, "gemm");

  ThreadPool pool(3);
  std::vector<uint16_t> pooled(n * kStages);
  gemm.EncodeBatch(rows.data(), n, pooled.data(), &pool);
  EXPECT_EQ(pooled, codes);
}

class GemmKeyEncoderTest : public ::testing::TestWithParam<KeyEncoderCase> {
 protected:
  KeyCodebookShape Shape(int64_t head_dim) const {
    return {head_dim, GetParam().half_bits, GetParam().layout};
  }
};

TEST_P(GemmKeyEncoderTest, MatchesReferenceOnGaussianRows) {
  const KeyCodebookShape shape = Shape(32);
  // 101 rows: several blocks and a partial one.
  ExpectGemmCodes(RandomStages(shape, 20),
                  GaussianKeyRows(101, shape.head_dim, 11));
}

TEST_P(GemmKeyEncoderTest, MatchesReferenceOnKeyLikeRows) {
  for (int64_t head_dim : {64, 128}) {
    SCOPED_TRACE(head_dim);
    const KeyCodebookShape shape = Shape(head_dim);
    ExpectGemmCodes(
        RandomStages(shape, 30),
        KeyLikeRows(GetParam().half_bits == 6 ? 40 : 150, head_dim, 31));
  }
}

// Repeated codebook values make whole rows and columns of centres equal, so
// f32 scores tie exactly: the exact rescoring must keep the lowest code.
// The rows include the tied centres themselves and the zero vector.
TEST_P(GemmKeyEncoderTest, BreaksExactTiesLikeReference) {
  const KeyCodebookShape shape = Shape(16);
  const std::vector<KeyCodebook> stages = TiedKeyStages(shape, kStages, 40);
  const std::vector<float> rows = TiedKeyRows(stages, 41);
  ExpectGemmCodes(stages, rows);
}

INSTANTIATE_TEST_SUITE_P(LayoutsAndHalfBits, GemmKeyEncoderTest,
                         ::testing::ValuesIn(KeyEncoderCases()),
                         KeyEncoderCaseName);

}  // namespace
}  // namespace commvq
