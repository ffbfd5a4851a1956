// LaunchPackCodes against the CPU's PackCodes (the layout both caches
// store): the same bytes for every code width and row length.
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "commvq/base/bit_packing.h"
#include "commvq/base/random.h"
#include "commvq/base/status_matchers.h"
#include "gtest/gtest.h"
#include "kernels/cuda/device_memory.h"
#include "kernels/cuda/key_kernels.h"
#include "testing/gpu/cuda_test_util.h"

namespace commvq {
namespace cuda {
namespace {

using ::commvq::testing::IsOk;

TEST(PackCodesTest, MatchesTheCpuPacking) {
  CVQ_SKIP_WITHOUT_GPU();
  Rng rng(3);
  constexpr int64_t kTokens = 37;
  for (const auto& [codes_per_token, bits] :
       {std::pair{168, 12}, std::pair{33, 3}, std::pair{7, 16},
        std::pair{66, 12}, std::pair{5, 1}, std::pair{44, 8}}) {
    SCOPED_TRACE(::testing::Message() << codes_per_token << " codes of "
                                      << bits << " bits");
    std::vector<uint16_t> codes(kTokens * codes_per_token);
    for (uint16_t& c : codes) {
      c = static_cast<uint16_t>(rng.UniformInt(int64_t{1} << bits));
    }
    const int64_t row_bytes = PackedBytes(codes_per_token, bits);
    std::vector<uint8_t> want(kTokens * row_bytes);
    for (int64_t t = 0; t < kTokens; ++t) {
      ASSERT_THAT(
          PackCodes(absl::MakeConstSpan(codes).subspan(t * codes_per_token,
                                                       codes_per_token),
                    bits, absl::MakeSpan(want).subspan(t * row_bytes, row_bytes)),
          IsOk());
    }
    auto device_codes = Upload(absl::MakeConstSpan(codes));
    auto rows = DeviceMemory::Allocate(kTokens * row_bytes);
    ASSERT_THAT(device_codes.status(), IsOk());
    ASSERT_THAT(rows.status(), IsOk());
    ASSERT_EQ(LaunchPackCodes(device_codes->as<uint16_t>(), kTokens,
                              codes_per_token, bits, row_bytes,
                              rows->as<uint8_t>(), nullptr),
              0);
    auto got = Download<uint8_t>(rows->data(), kTokens * row_bytes);
    ASSERT_THAT(got.status(), IsOk());
    EXPECT_EQ(*got, want);
  }
}

}  // namespace
}  // namespace cuda
}  // namespace commvq
