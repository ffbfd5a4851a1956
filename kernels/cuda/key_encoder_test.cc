#include "kernels/cuda/key_encoder.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "commvq/base/status_matchers.h"
#include "commvq/quantizer/commvq_key/key_test_data.h"
#include "commvq/quantizer/commvq_key/structured_encode.h"
#include "gtest/gtest.h"
#include "kernels/reference/key_encode_reference.h"
#include "testing/gpu/cuda_test_util.h"

namespace commvq {
namespace cuda {
namespace {

using ::commvq::testing::IsOk;
using ::commvq::testing::KeyLikeRows;
using ::commvq::testing::RandomKeyParams;
using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

// GPU codes of `heads` ([tokens, num_kv_heads, head_dim]).
std::vector<uint16_t> GpuCodes(const KeyQuantizerParams& params,
                               const std::vector<float>& heads,
                               int64_t tokens) {
  absl::StatusOr<CudaKeyEncoder> encoder = CudaKeyEncoder::Create(params);
  EXPECT_THAT(encoder.status(), IsOk());
  if (!encoder.ok()) return {};
  absl::StatusOr<DeviceMemory> input = Upload(absl::MakeConstSpan(heads));
  const int64_t count = tokens * params.num_kv_heads * params.stages;
  absl::StatusOr<DeviceMemory> codes =
      DeviceMemory::Allocate(count * int64_t{sizeof(uint16_t)});
  EXPECT_THAT(input.status(), IsOk());
  EXPECT_THAT(codes.status(), IsOk());
  if (!input.ok() || !codes.ok()) return {};
  EXPECT_THAT(encoder->Encode(input->as<float>(), tokens, codes->as<uint16_t>(),
                              nullptr),
              IsOk());
  EXPECT_THAT(SynchronizeStream(nullptr), IsOk());
  absl::StatusOr<std::vector<uint16_t>> host =
      Download<uint16_t>(codes->data(), count);
  EXPECT_THAT(host.status(), IsOk());
  return host.ok() ? *host : std::vector<uint16_t>();
}

struct EncodeCase {
  int64_t num_kv_heads;
  int64_t head_dim;
  int stages;
  int half_bits;
  PairLayout layout;
};

class CudaKeyEncoderTest : public ::testing::TestWithParam<EncodeCase> {};

// Same codes as the CPU structured encoder, head by head, token by token.
TEST_P(CudaKeyEncoderTest, CodesEqualTheStructuredEncoder) {
  CVQ_SKIP_WITHOUT_GPU();
  const EncodeCase& c = GetParam();
  const KeyQuantizerParams params = RandomKeyParams(
      c.num_kv_heads, c.head_dim, c.stages, c.half_bits, c.layout, 0.3f, 7);
  constexpr int64_t kTokens = 97;
  const std::vector<float> heads =
      KeyLikeRows(kTokens * c.num_kv_heads, c.head_dim, 11);
  const std::vector<uint16_t> gpu = GpuCodes(params, heads, kTokens);
  ASSERT_EQ(static_cast<int64_t>(gpu.size()),
            kTokens * c.num_kv_heads * c.stages);
  std::vector<uint16_t> cpu(c.stages);
  int64_t mismatches = 0;
  for (int64_t h = 0; h < c.num_kv_heads; ++h) {
    const StructuredKeyEncoder encoder(params.head_codebooks(h));
    for (int64_t t = 0; t < kTokens; ++t) {
      encoder.Encode(&heads[(t * c.num_kv_heads + h) * c.head_dim], cpu.data());
      for (int s = 0; s < c.stages; ++s) {
        const uint16_t g = gpu[(t * c.num_kv_heads + h) * c.stages + s];
        if (g != cpu[s]) {
          ++mismatches;
          ADD_FAILURE() << "token " << t << " head " << h << " stage " << s
                        << ": GPU code " << g << ", CPU code " << cpu[s];
          break;  // later stages code another residual
        }
      }
      if (mismatches > 5) return;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CudaKeyEncoderTest,
    ::testing::Values(
        EncodeCase{3, 64, 6, 6, PairLayout::kInterleaved},    // SmolLM2 1-bit
        EncodeCase{2, 128, 11, 6, PairLayout::kHalf},         // LLaMA 1-bit
        EncodeCase{1, 128, 21, 6, PairLayout::kInterleaved},  // LLaMA 2-bit
        EncodeCase{2, 16, 3, 3, PairLayout::kHalf},
        EncodeCase{1, 8, 2, 8, PairLayout::kInterleaved}));  // 65536 codes

// And the brute-force oracle that materializes every centre.
TEST(CudaKeyEncoderOracleTest, CodesEqualTheBruteForceReference) {
  CVQ_SKIP_WITHOUT_GPU();
  const KeyQuantizerParams params =
      RandomKeyParams(2, 32, 4, 5, PairLayout::kInterleaved, 0.3f, 3);
  constexpr int64_t kTokens = 40;
  const std::vector<float> heads = KeyLikeRows(kTokens * 2, 32, 5);
  const std::vector<uint16_t> gpu = GpuCodes(params, heads, kTokens);
  ASSERT_EQ(gpu.size(), size_t{kTokens * 2 * 4});
  std::vector<uint16_t> cpu(4);
  for (int64_t h = 0; h < 2; ++h) {
    const ReferenceKeyEncoder reference(params.head_codebooks(h));
    for (int64_t t = 0; t < kTokens; ++t) {
      reference.Encode(&heads[(t * 2 + h) * 32], cpu.data());
      for (int s = 0; s < 4; ++s) {
        ASSERT_EQ(gpu[(t * 2 + h) * 4 + s], cpu[s])
            << "token " << t << " head " << h << " stage " << s;
      }
    }
  }
}

// Codebooks with repeated values tie exactly; both pick the lowest code.
TEST(CudaKeyEncoderOracleTest, TiesGoToTheLowestCode) {
  CVQ_SKIP_WITHOUT_GPU();
  KeyQuantizerParams params =
      RandomKeyParams(1, 16, 2, 3, PairLayout::kHalf, 0.3f, 9);
  for (KeyCodebook& codebook : params.codebooks) {
    std::vector<float> z(codebook.z().begin(), codebook.z().end());
    // Value 5 of every pair repeats value 2.
    for (int64_t j = 0; j < 8; ++j) {
      z[(j * 8 + 5) * 2] = z[(j * 8 + 2) * 2];
      z[(j * 8 + 5) * 2 + 1] = z[(j * 8 + 2) * 2 + 1];
    }
    codebook = *KeyCodebook::Create(params.shape, z);
  }
  const std::vector<float> heads = KeyLikeRows(64 * 1, 16, 13);
  const std::vector<uint16_t> gpu = GpuCodes(params, heads, 64);
  ASSERT_EQ(gpu.size(), size_t{64 * 2});
  const StructuredKeyEncoder encoder(params.head_codebooks(0));
  std::vector<uint16_t> cpu(2);
  for (int64_t t = 0; t < 64; ++t) {
    encoder.Encode(&heads[t * 16], cpu.data());
    EXPECT_EQ(gpu[t * 2], cpu[0]) << "token " << t;
    EXPECT_EQ(gpu[t * 2 + 1], cpu[1]) << "token " << t;
  }
}

// Shape checks run on the host: no device needed.
TEST(CudaKeyEncoderShapeTest, RejectsWhatTheKernelsCannotRun) {
  KeyQuantizerParams params =
      RandomKeyParams(2, 16, 2, 3, PairLayout::kHalf, 0.3f, 1);
  EXPECT_THAT(CudaKeyEncoder::CheckShape(params), IsOk());

  KeyQuantizerParams wide =
      RandomKeyParams(1, 512, 1, 2, PairLayout::kHalf, 0.3f, 1);
  EXPECT_THAT(CudaKeyEncoder::CheckShape(wide),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("head_dim 512 exceeds the limit 256")));

  KeyQuantizerParams deep = params;
  deep.stages = 33;
  EXPECT_THAT(CudaKeyEncoder::CheckShape(deep),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("stages 33; expected 1 to 32")));

  KeyQuantizerParams missing = params;
  missing.codebooks.pop_back();
  EXPECT_THAT(CudaKeyEncoder::CheckShape(missing),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("3 codebooks; expected")));

  KeyQuantizerParams no_layout = params;
  no_layout.shape.layout = PairLayout::kUnspecified;
  EXPECT_THAT(CudaKeyEncoder::CheckShape(no_layout),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

TEST(CudaKeyEncoderShapeTest, CreateFailsCleanlyOnBadShapes) {
  KeyQuantizerParams params =
      RandomKeyParams(2, 16, 2, 3, PairLayout::kHalf, 0.3f, 1);
  params.stages = 0;
  EXPECT_THAT(CudaKeyEncoder::Create(params).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

TEST(CudaKeyEncoderShapeTest, EncodeRejectsANegativeTokenCount) {
  CVQ_SKIP_WITHOUT_GPU();
  const KeyQuantizerParams params =
      RandomKeyParams(2, 16, 2, 3, PairLayout::kHalf, 0.3f, 1);
  absl::StatusOr<CudaKeyEncoder> encoder = CudaKeyEncoder::Create(params);
  ASSERT_THAT(encoder.status(), IsOk());
  EXPECT_THAT(
      encoder->Encode(nullptr, -1, nullptr, nullptr),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("num_tokens -1")));
}

}  // namespace
}  // namespace cuda
}  // namespace commvq
