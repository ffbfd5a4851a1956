#include "commvq/model/llama/gemm.h"

#include <cstdint>
#include <tuple>
#include <vector>

#include "commvq/base/random.h"
#include "commvq/base/thread_pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

std::vector<float> RandomVector(int64_t size, uint64_t seed) {
  std::vector<float> v(size);
  Rng(seed).FillNormal(absl::MakeSpan(v), 0.0f, 1.0f);
  return v;
}

// (m, n, k): rows of x, rows of W, shared dimension.
class GemmTest
    : public ::testing::TestWithParam<std::tuple<int64_t, int64_t, int64_t>> {};

TEST_P(GemmTest, MatchesScalarReference) {
  const auto [m, n, k] = GetParam();
  const std::vector<float> x = RandomVector(m * k, 1);
  const std::vector<float> w = RandomVector(n * k, 2);
  std::vector<float> expected(m * n);
  MatMulTransposedReference(x, m, w, n, k, absl::MakeSpan(expected));

  const PackedMatrix packed(w, n, k);
  // The same products summed in the same order, without fused multiply-add
  // (see the BUILD file), on every build: bit-identical.
  for (GemmIsa isa : {GemmIsa::kBaseline, DetectGemmIsa()}) {
    std::vector<float> y(m * n, -1.0f);
    MatMulTransposedOn(isa, x, m, packed, absl::MakeSpan(y), nullptr);
    EXPECT_EQ(y, expected) << "isa " << static_cast<int>(isa);
  }
}

TEST_P(GemmTest, ThreadCountDoesNotChangeResults) {
  const auto [m, n, k] = GetParam();
  const std::vector<float> x = RandomVector(m * k, 3);
  const PackedMatrix packed(RandomVector(n * k, 4), n, k);
  std::vector<float> serial(m * n), parallel(m * n);
  MatMulTransposed(x, m, packed, absl::MakeSpan(serial), nullptr);
  ThreadPool pool(4);
  MatMulTransposed(x, m, packed, absl::MakeSpan(parallel), &pool);
  EXPECT_EQ(parallel, serial);
}

TEST_P(GemmTest, CopyRowReturnsTheOriginalRow) {
  const auto [m, n, k] = GetParam();
  const std::vector<float> w = RandomVector(n * k, 5);
  const PackedMatrix packed(w, n, k);
  EXPECT_EQ(packed.rows(), n);
  EXPECT_EQ(packed.cols(), k);
  std::vector<float> row(k);
  for (int64_t r = 0; r < n; ++r) {
    packed.CopyRow(r, absl::MakeSpan(row));
    EXPECT_EQ(row,
              std::vector<float>(w.begin() + r * k, w.begin() + (r + 1) * k))
        << "row " << r;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, GemmTest,
    // Row counts around the 4-row tile, column counts around the 16-row
    // panel, and the SmolLM2 shared dimensions.
    ::testing::Values(std::make_tuple(1, 1, 1), std::make_tuple(1, 37, 19),
                      std::make_tuple(2, 16, 8), std::make_tuple(3, 17, 5),
                      std::make_tuple(4, 32, 64), std::make_tuple(5, 15, 33),
                      std::make_tuple(7, 50, 31), std::make_tuple(9, 64, 576),
                      std::make_tuple(33, 200, 1536)),
    [](const auto& info) {
      return "M" + std::to_string(std::get<0>(info.param)) + "N" +
             std::to_string(std::get<1>(info.param)) + "K" +
             std::to_string(std::get<2>(info.param));
    });

TEST(GemmPackingTest, PadsTheLastPanelWithZeros) {
  const PackedMatrix packed(RandomVector(17 * 3, 6), 17, 3);
  ASSERT_EQ(packed.num_panels(), 2);
  EXPECT_EQ(packed.bytes(), 2 * 3 * PackedMatrix::kPanelRows * 4);
  const float* last = packed.panel(1);
  for (int64_t c = 0; c < 3; ++c) {
    for (int64_t r = 1; r < PackedMatrix::kPanelRows; ++r) {
      EXPECT_EQ(last[c * PackedMatrix::kPanelRows + r], 0.0f);
    }
  }
}

}  // namespace
}  // namespace commvq
