#include "kernels/cpu/key_encode_gemm.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "commvq/base/random.h"
#include "commvq/base/thread_pool.h"
#include "commvq/quantizer/commvq_key/key_codebook.h"
#include "commvq/quantizer/commvq_key/key_test_data.h"
#include "gtest/gtest.h"
#include "kernels/reference/key_encode_reference.h"

namespace commvq {
namespace {

using ::commvq::testing::KeyLikeRows;
using ::commvq::testing::RandomKeyStages;
using ::commvq::testing::TiedKeyRows;
using ::commvq::testing::TiedKeyStages;

constexpr int kStages = 5;

std::vector<KeyCodebook> RandomStages(const KeyCodebookShape& shape,
                                      uint64_t seed) {
  return RandomKeyStages(shape, kStages, seed);
}

// Expects the oracle's codes for every row of `rows` ([n, head_dim]), with
// and without a pool.
void ExpectReferenceCodes(const std::vector<KeyCodebook>& stages,
                          const std::vector<float>& rows) {
  const GemmKeyEncoder gemm(stages);
  const ReferenceKeyEncoder reference(stages);
  const int64_t head_dim = stages.front().shape().head_dim;
  const int64_t n = static_cast<int64_t>(rows.size()) / head_dim;
  std::vector<uint16_t> codes(n * kStages);
  gemm.EncodeBatch(rows.data(), n, codes.data(), nullptr);
  int64_t mismatches = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint16_t expected[kStages];
    reference.Encode(&rows[i * head_dim], expected);
    for (int s = 0; s < kStages; ++s) {
      if (codes[i * kStages + s] == expected[s]) continue;
      if (mismatches++ < 5) {
        ADD_FAILURE() << "row " << i << ", stage " << s << ": gemm "
                      << codes[i * kStages + s] << ", reference "
                      << expected[s];
      }
    }
  }
  EXPECT_EQ(mismatches, 0);

  ThreadPool pool(3);
  std::vector<uint16_t> pooled(n * kStages);
  gemm.EncodeBatch(rows.data(), n, pooled.data(), &pool);
  EXPECT_EQ(pooled, codes);
}

struct Case {
  PairLayout layout;
  int half_bits;
};

class GemmKeyEncoderTest : public ::testing::TestWithParam<Case> {
 protected:
  KeyCodebookShape Shape(int64_t head_dim) const {
    return {head_dim, GetParam().half_bits, GetParam().layout};
  }
};

TEST_P(GemmKeyEncoderTest, MatchesReferenceOnGaussianRows) {
  const KeyCodebookShape shape = Shape(32);
  Rng rng(11);
  // 101 rows: several blocks and a partial one.
  std::vector<float> rows(101 * shape.head_dim);
  rng.FillNormal(absl::MakeSpan(rows), 0.0f,
                 1.0f / std::sqrt(static_cast<float>(shape.head_dim)));
  ExpectReferenceCodes(RandomStages(shape, 20), rows);
}

TEST_P(GemmKeyEncoderTest, MatchesReferenceOnKeyLikeRows) {
  for (int64_t head_dim : {64, 128}) {
    SCOPED_TRACE(head_dim);
    const KeyCodebookShape shape = Shape(head_dim);
    ExpectReferenceCodes(
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
  ExpectReferenceCodes(stages, rows);
}

INSTANTIATE_TEST_SUITE_P(LayoutsAndHalfBits, GemmKeyEncoderTest,
                         ::testing::Values(Case{PairLayout::kHalf, 2},
                                           Case{PairLayout::kHalf, 6},
                                           Case{PairLayout::kInterleaved, 1},
                                           Case{PairLayout::kInterleaved, 4},
                                           Case{PairLayout::kInterleaved, 6}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return std::string(
                                      PairLayoutName(info.param.layout)) +
                                  "_h" + std::to_string(info.param.half_bits);
                         });

}  // namespace
}  // namespace commvq
