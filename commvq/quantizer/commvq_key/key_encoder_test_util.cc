#include "commvq/quantizer/commvq_key/key_encoder_test_util.h"

#include <cmath>

#include "absl/types/span.h"
#include "commvq/base/random.h"
#include "kernels/reference/key_encode_reference.h"

namespace commvq {
namespace testing {

std::vector<KeyEncoderCase> KeyEncoderCases() {
  return {{PairLayout::kHalf, 2},        {PairLayout::kHalf, 4},
          {PairLayout::kHalf, 6},        {PairLayout::kInterleaved, 1},
          {PairLayout::kInterleaved, 2}, {PairLayout::kInterleaved, 4},
          {PairLayout::kInterleaved, 6}};
}

std::string KeyEncoderCaseName(
    const ::testing::TestParamInfo<KeyEncoderCase>& info) {
  return std::string(PairLayoutName(info.param.layout)) + "_h" +
         std::to_string(info.param.half_bits);
}

std::vector<float> GaussianKeyRows(int64_t rows, int64_t head_dim,
                                   uint64_t seed) {
  Rng rng(seed);
  std::vector<float> x(rows * head_dim);
  rng.FillNormal(absl::MakeSpan(x), 0.0f,
                 1.0f / std::sqrt(static_cast<float>(head_dim)));
  return x;
}

void ExpectReferenceCodes(const std::vector<KeyCodebook>& stages,
                          const std::vector<float>& rows,
                          const std::vector<uint16_t>& codes,
                          absl::string_view encoder) {
  const ReferenceKeyEncoder reference(stages);
  const int64_t num_stages = static_cast<int64_t>(stages.size());
  const int64_t head_dim = stages.front().shape().head_dim;
  const int64_t n = static_cast<int64_t>(rows.size()) / head_dim;
  ASSERT_EQ(static_cast<int64_t>(codes.size()), n * num_stages);
  std::vector<uint16_t> expected(num_stages);
  int64_t mismatches = 0;
  for (int64_t i = 0; i < n; ++i) {
    reference.Encode(rows.data() + i * head_dim, expected.data());
    for (int64_t s = 0; s < num_stages; ++s) {
      const uint16_t got = codes[i * num_stages + s];
      if (got == expected[s]) continue;
      if (mismatches++ < 5) {
        ADD_FAILURE() << "row " << i << ", stage " << s << ": " << encoder
                      << " " << got << ", reference " << expected[s];
      }
    }
  }
  EXPECT_EQ(mismatches, 0);
}

}  // namespace testing
}  // namespace commvq
