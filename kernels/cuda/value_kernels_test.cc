// LaunchValueAccumulate in both forms against a double-precision sum on the
// host, over pages reached through a shuffled page table, with head counts
// and code widths that leave partial tiles.
#include "kernels/cuda/value_kernels.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "absl/types/span.h"
#include "commvq/base/random.h"
#include "commvq/base/status_matchers.h"
#include "gtest/gtest.h"
#include "kernels/cuda/device_memory.h"
#include "testing/gpu/cuda_test_util.h"

namespace commvq {
namespace cuda {
namespace {

using ::commvq::testing::IsOk;

struct Case {
  int num_heads;
  int64_t num_code_bits;
  int64_t num_tokens;
};

class ValueAccumulateTest
    : public ::testing::TestWithParam<std::tuple<Case, ValueAccumulateForm>> {};

TEST_P(ValueAccumulateTest, MatchesTheHostSum) {
  CVQ_SKIP_WITHOUT_GPU();
  const auto [c, form] = GetParam();
  constexpr int kPageTokens = 256;
  const int64_t words = ValueCodeWords(c.num_code_bits);
  const int64_t num_pages = (c.num_tokens + kPageTokens - 1) / kPageTokens;
  Rng rng(7);
  // Pages in reverse order, so the page table matters.
  std::vector<int32_t> page_table(num_pages);
  std::iota(page_table.rbegin(), page_table.rend(), 0);
  const int64_t slots = num_pages * kPageTokens;
  std::vector<uint32_t> bits(slots * words, 0);
  std::vector<float> factor(slots);
  for (int64_t slot = 0; slot < slots; ++slot) {
    for (int64_t i = 0; i < c.num_code_bits; ++i) {
      if (rng.NextU64() & 1) bits[slot * words + i / 32] |= 1u << (i % 32);
    }
    factor[slot] = 0.5f + static_cast<float>(rng.Uniform());
  }
  // Softmax numerators: exp(s - max) in (0, 1], some tiny.
  std::vector<float> probs(int64_t{c.num_heads} * c.num_tokens);
  for (float& p : probs) p = std::exp(-12.0f * static_cast<float>(rng.Uniform()));

  std::vector<double> want(int64_t{c.num_heads} * 32 * words, 0.0);
  double scale = 0.0;
  for (int h = 0; h < c.num_heads; ++h) {
    for (int64_t t = 0; t < c.num_tokens; ++t) {
      const int64_t slot =
          int64_t{page_table[t / kPageTokens]} * kPageTokens + t % kPageTokens;
      const double w = double{probs[h * c.num_tokens + t]} * factor[slot];
      scale += w;
      for (int64_t i = 0; i < c.num_code_bits; ++i) {
        if ((bits[slot * words + i / 32] >> (i % 32)) & 1u) {
          want[h * 32 * words + i] += w;
        }
      }
    }
  }
  scale /= c.num_heads;  // the typical size of a head's largest sum

  auto table = Upload(absl::MakeConstSpan(page_table));
  auto device_bits = Upload(absl::MakeConstSpan(bits));
  auto device_factor = Upload(absl::MakeConstSpan(factor));
  auto device_probs = Upload(absl::MakeConstSpan(probs));
  auto partial = DeviceMemory::Allocate(
      int64_t{ValueAccumulateSplits(c.num_tokens)} * c.num_heads * 32 * words *
      int64_t{sizeof(float)});
  auto acc = DeviceMemory::Allocate(int64_t{c.num_heads} * 32 * words *
                                    int64_t{sizeof(float)});
  for (const auto* m : {&table, &device_bits, &device_factor, &device_probs,
                        &partial, &acc}) {
    ASSERT_THAT(m->status(), IsOk());
  }
  DeviceValuePages pages;
  pages.page_table = table->as<int32_t>();
  pages.page_tokens = kPageTokens;
  pages.words = words;
  pages.bits = device_bits->as<uint32_t>();
  pages.factor = device_factor->as<float>();
  ASSERT_EQ(LaunchValueAccumulate(device_probs->as<float>(), c.num_tokens,
                                  c.num_heads, pages, c.num_tokens,
                                  partial->as<float>(), acc->as<float>(),
                                  nullptr, form),
            0);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  auto got = Download<float>(acc->data(), int64_t{c.num_heads} * 32 * words);
  ASSERT_THAT(got.status(), IsOk());
  // f32 sums: ~1e-6 relative; f16 weights: 2^-11 relative each, random
  // signs of the rounding errors over thousands of tokens.
  const double tolerance =
      (form == ValueAccumulateForm::kCudaCores ? 1e-5 : 2e-3) * scale;
  double worst = 0.0;
  for (size_t i = 0; i < want.size(); ++i) {
    worst = std::max(worst, std::fabs((*got)[i] - want[i]));
  }
  EXPECT_LE(worst, tolerance) << "heads " << c.num_heads << ", bits "
                              << c.num_code_bits << ", tokens "
                              << c.num_tokens;
  // Padding bits of the last word are 0 in both forms.
  for (int h = 0; h < c.num_heads; ++h) {
    for (int64_t i = c.num_code_bits; i < 32 * words; ++i) {
      EXPECT_EQ((*got)[h * 32 * words + i], 0.0f);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ValueAccumulateTest,
    ::testing::Combine(
        ::testing::Values(Case{32, 2048, 3000},  // LLaMA-3.1-8B, 2 bits
                          Case{9, 384, 700},     // SmolLM2: 9 heads, 2 bits
                          Case{3, 40, 17},       // one partial tile
                          Case{16, 96, 256}),    // 3 words: a partial block
        ::testing::Values(ValueAccumulateForm::kCudaCores,
                          ValueAccumulateForm::kTensorCores)));

}  // namespace
}  // namespace cuda
}  // namespace commvq
