#include "commvq/quantizer/commvq_key/structured_encode.h"

#include <cstdint>
#include <string>
#include <vector>

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

constexpr int kStages = 4;

std::vector<KeyCodebook> RandomStages(const KeyCodebookShape& shape,
                                      uint64_t seed) {
  return RandomKeyStages(shape, kStages, seed);
}

// Expects the reference encoder's codes from the structured encoder for
// every row of `rows` ([n, head_dim]).
void ExpectSameCodes(const std::vector<KeyCodebook>& stages,
                     const std::vector<float>& rows) {
  const StructuredKeyEncoder structured(stages);
  const int64_t head_dim = stages.front().shape().head_dim;
  const int64_t n = static_cast<int64_t>(rows.size()) / head_dim;
  std::vector<uint16_t> codes(n * kStages);
  for (int64_t i = 0; i < n; ++i) {
    structured.Encode(&rows[i * head_dim], &codes[i * kStages]);
  }
  ExpectReferenceCodes(stages, rows, codes, "structured");
}

class StructuredEncodeTest : public ::testing::TestWithParam<KeyEncoderCase> {
 protected:
  KeyCodebookShape Shape(int64_t head_dim) const {
    return {head_dim, GetParam().half_bits, GetParam().layout};
  }
};

TEST_P(StructuredEncodeTest, MatchesReferenceOnGaussianRows) {
  const KeyCodebookShape shape = Shape(32);
  ExpectSameCodes(RandomStages(shape, 20),
                  GaussianKeyRows(200, shape.head_dim, 11));
}

TEST_P(StructuredEncodeTest, MatchesReferenceOnKeyLikeRows) {
  for (int64_t head_dim : {64, 128}) {
    SCOPED_TRACE(head_dim);
    const KeyCodebookShape shape = Shape(head_dim);
    ExpectSameCodes(
        RandomStages(shape, 30),
        KeyLikeRows(GetParam().half_bits == 6 ? 40 : 150, head_dim, 31));
  }
}

// Repeated codebook values make whole rows and columns of centres equal:
// both encoders must keep the lowest code a * 2^h + b. The rows include the
// tied centres themselves (distance exactly 0 to two or more codes) and
// the zero vector.
TEST_P(StructuredEncodeTest, BreaksExactTiesLikeReference) {
  const KeyCodebookShape shape = Shape(16);
  const int values = shape.num_values();
  const std::vector<KeyCodebook> stages = TiedKeyStages(shape, kStages, 40);
  const std::vector<float> rows = TiedKeyRows(stages, 41);
  ExpectSameCodes(stages, rows);

  // The tied centre (v, w) with v >= values / 2 is never chosen over its
  // lower copy (v / 2, w).
  const StructuredKeyEncoder encoder(stages);
  uint16_t codes[kStages];
  const std::vector<float> tied(rows.begin() + shape.head_dim,
                                rows.begin() + 2 * shape.head_dim);
  encoder.Encode(tied.data(), codes);
  EXPECT_EQ(KeyCodeA(codes[0], shape.half_bits), (values - 1) / 2);
  EXPECT_EQ(KeyCodeB(codes[0], shape.half_bits),
            (values - 1 - (values - 1) / 2) / 2);
}

TEST_P(StructuredEncodeTest, ResidualIsWhatTheLastStageLeft) {
  const KeyCodebookShape shape = Shape(32);
  const std::vector<KeyCodebook> stages = RandomStages(shape, 50);
  const std::vector<float> row = KeyLikeRows(1, shape.head_dim, 51);
  const StructuredKeyEncoder encoder(stages);
  uint16_t codes[kStages];
  std::vector<float> residual(shape.head_dim);
  encoder.Encode(row.data(), codes, residual.data());
  std::vector<float> expected = row;
  for (int s = 0; s < kStages; ++s) {
    stages[s].SubtractCentre(KeyCodeA(codes[s], shape.half_bits),
                             KeyCodeB(codes[s], shape.half_bits),
                             expected.data());
  }
  EXPECT_EQ(residual, expected);
}

// 37 rows: two whole blocks of EncodeRows and a partial one.
TEST_P(StructuredEncodeTest, EncodeRowsMatchesEncode) {
  const KeyCodebookShape shape = Shape(32);
  const std::vector<KeyCodebook> stages = RandomStages(shape, 60);
  const std::vector<float> rows = KeyLikeRows(37, shape.head_dim, 61);
  const StructuredKeyEncoder encoder(stages);
  std::vector<uint16_t> batch(37 * kStages);
  encoder.EncodeRows(rows.data(), 37, batch.data());
  std::vector<uint16_t> one_by_one(37 * kStages);
  for (int64_t i = 0; i < 37; ++i) {
    encoder.Encode(&rows[i * shape.head_dim], &one_by_one[i * kStages]);
  }
  EXPECT_EQ(batch, one_by_one);
}

INSTANTIATE_TEST_SUITE_P(LayoutsAndHalfBits, StructuredEncodeTest,
                         ::testing::ValuesIn(KeyEncoderCases()),
                         KeyEncoderCaseName);

}  // namespace
}  // namespace commvq
