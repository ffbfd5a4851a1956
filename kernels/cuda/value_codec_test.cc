#include "kernels/cuda/value_codec.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/types/span.h"
#include "commvq/base/random.h"
#include "commvq/base/status_matchers.h"
#include "commvq/quantizer/commvq_value/codebook_fit.h"
#include "commvq/quantizer/commvq_value/mlp_encode.h"
#include "commvq/tensor/tensor_view.h"
#include "gtest/gtest.h"
#include "kernels/cuda/value_kernels.h"
#include "testing/gpu/cuda_test_util.h"

namespace commvq {
namespace cuda {
namespace {

using ::commvq::testing::IsOk;
using ::commvq::testing::RandomValueParams;
using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

// The category whose two bits are (b0, b1).
int CategoryOf(int b0, int b1) {
  for (int k = 0; k < 4; ++k) {
    if (kValueCategoryBits[k][0] == b0 && kValueCategoryBits[k][1] == b1) {
      return k;
    }
  }
  return -1;
}

struct CodecCase {
  int64_t num_kv_heads, head_dim;
  int bits;
  int64_t hidden;
};

class CudaValueCodecTest : public ::testing::TestWithParam<CodecCase> {};

// Same bits as the CPU quantizer except at near-ties of the logits (GPU and
// CPU sum in different orders), and the same factor where the bits agree.
TEST_P(CudaValueCodecTest, EncodesLikeTheCpuQuantizer) {
  CVQ_SKIP_WITHOUT_GPU();
  const CodecCase& c = GetParam();
  const ValueQuantizerParams params =
      RandomValueParams(c.num_kv_heads, c.head_dim, c.bits, c.hidden, 21);
  const int64_t d = params.dim;
  const int64_t nc = params.num_code_bits;
  constexpr int64_t kTokens = 50;
  std::vector<float> x(kTokens * d);
  Rng rng(4);
  rng.FillNormal(absl::MakeSpan(x), 0.2f, 1.5f);
  std::fill(x.begin(), x.begin() + d, 0.0f);  // a zero row: f = 0

  // CPU: the commvq_value quantizer (encoder=mlp).
  absl::StatusOr<std::unique_ptr<Quantizer>> cpu =
      commvq::testing::ValueQuantizerOf(params, c.bits);
  ASSERT_THAT(cpu.status(), IsOk());
  const int64_t code_bytes = (*cpu)->layout().code_bytes;
  std::vector<uint8_t> codes(kTokens * code_bytes), side(kTokens * 4);
  ASSERT_THAT(
      (*cpu)->Encode(
          TensorView(x.data(), DType::kF32, {kTokens, d}),
          MutableTensorView(codes.data(), DType::kU8, {kTokens, code_bytes}),
          MutableTensorView(side.data(), DType::kU8, {kTokens, 4})),
      IsOk());

  // GPU.
  absl::StatusOr<CudaValueCodec> codec = CudaValueCodec::Create(params);
  ASSERT_THAT(codec.status(), IsOk());
  absl::StatusOr<CublasHandle> cublas = CublasHandle::Create();
  ASSERT_THAT(cublas.status(), IsOk());
  const int64_t words = ValueCodeWords(nc);
  absl::StatusOr<DeviceMemory> input = Upload(absl::MakeConstSpan(x));
  absl::StatusOr<DeviceMemory> workspace =
      DeviceMemory::Allocate(CudaValueCodec::WorkspaceBytes(params, kTokens));
  absl::StatusOr<DeviceMemory> out_words =
      DeviceMemory::Allocate(kTokens * words * 4);
  absl::StatusOr<DeviceMemory> out_factor = DeviceMemory::Allocate(kTokens * 4);
  ASSERT_THAT(input.status(), IsOk());
  ASSERT_THAT(workspace.status(), IsOk());
  ASSERT_THAT(out_words.status(), IsOk());
  ASSERT_THAT(out_factor.status(), IsOk());
  ASSERT_THAT(codec->Encode(input->as<float>(), kTokens, kTokens,
                            workspace->data(), out_words->as<uint32_t>(),
                            out_factor->as<float>(), *cublas, nullptr),
              IsOk());
  ASSERT_THAT(SynchronizeStream(nullptr), IsOk());
  absl::StatusOr<std::vector<uint32_t>> gpu_words =
      Download<uint32_t>(out_words->data(), kTokens * words);
  absl::StatusOr<std::vector<float>> gpu_factor =
      Download<float>(out_factor->data(), kTokens);
  ASSERT_THAT(gpu_words.status(), IsOk());
  ASSERT_THAT(gpu_factor.status(), IsOk());

  std::vector<float> unit(d), logits(2 * nc), scratch(d + c.hidden);
  int64_t near_ties = 0;
  for (int64_t t = 0; t < kTokens; ++t) {
    bool same = true;
    bool logits_ready = false;
    for (int64_t g = 0; g < nc / 2; ++g) {
      int gpu_bits[2], cpu_bits[2];
      for (int k = 0; k < 2; ++k) {
        const int64_t i = 2 * g + k;
        gpu_bits[k] = ((*gpu_words)[t * words + i / 32] >> (i % 32)) & 1;
        cpu_bits[k] = (codes[t * code_bytes + i / 8] >> (i % 8)) & 1;
      }
      const int gpu_category = CategoryOf(gpu_bits[0], gpu_bits[1]);
      const int cpu_category = CategoryOf(cpu_bits[0], cpu_bits[1]);
      if (gpu_category == cpu_category) continue;
      same = false;
      ++near_ties;
      if (!logits_ready) {
        PrescaleToUnit(&x[t * d], params.channel_scale.data(), d, unit.data());
        ValueMlpLogits(params.encoder, d, nc, unit.data(), logits.data(),
                       scratch.data());
        logits_ready = true;
      }
      const float a = logits[4 * g + gpu_category];
      const float b = logits[4 * g + cpu_category];
      EXPECT_NEAR(a, b, 1e-4f * std::max(1.0f, std::fabs(b)))
          << "token " << t << " group " << g << ": GPU category "
          << gpu_category << " is not a near-tie of the CPU's " << cpu_category;
    }
    float cpu_factor;
    std::memcpy(&cpu_factor, &side[t * 4], 4);
    if (same) {
      EXPECT_NEAR((*gpu_factor)[t], cpu_factor, 1e-4f * cpu_factor + 1e-7f)
          << "token " << t;
    }
  }
  EXPECT_EQ((*gpu_factor)[0], 0.0f);
  // Near-ties are rare: a handful of groups in all tokens.
  EXPECT_LE(near_ties, kTokens * nc / 2 / 100);
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaValueCodecTest,
                         ::testing::Values(CodecCase{3, 64, 1, 384},
                                           CodecCase{2, 32, 2, 256},
                                           CodecCase{1, 8, 1, 5}));

TEST(CudaValueCodecShapeTest, RejectsInconsistentParameters) {
  const ValueQuantizerParams good = RandomValueParams(2, 8, 1, 4, 1);
  EXPECT_THAT(CudaValueCodec::CheckShape(good), IsOk());
  ValueQuantizerParams odd = good;
  odd.num_code_bits = 15;
  EXPECT_THAT(CudaValueCodec::CheckShape(odd),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("num_code_bits 15; expected even")));
  ValueQuantizerParams short_w2 = good;
  short_w2.encoder.w2.pop_back();
  EXPECT_THAT(CudaValueCodec::CheckShape(short_w2),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("w2 has 127 floats; expected 128")));
  ValueQuantizerParams heads = good;
  heads.num_kv_heads = 3;
  EXPECT_THAT(CudaValueCodec::CheckShape(heads),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("num_kv_heads 3")));
}

TEST(CudaValueCodecShapeTest, EncodeNeedsMlpWeightsAndRoom) {
  CVQ_SKIP_WITHOUT_GPU();
  absl::StatusOr<CublasHandle> cublas = CublasHandle::Create();
  ASSERT_THAT(cublas.status(), IsOk());
  absl::StatusOr<CudaValueCodec> search =
      CudaValueCodec::Create(RandomValueParams(2, 8, 1, 0, 1));
  ASSERT_THAT(search.status(), IsOk());
  EXPECT_THAT(search->Encode(nullptr, 1, 1, nullptr, nullptr, nullptr, *cublas,
                             nullptr),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("no mlp encoder weights")));
  absl::StatusOr<CudaValueCodec> mlp =
      CudaValueCodec::Create(RandomValueParams(2, 8, 1, 4, 1));
  ASSERT_THAT(mlp.status(), IsOk());
  EXPECT_THAT(
      mlp->Encode(nullptr, 9, 8, nullptr, nullptr, nullptr, *cublas, nullptr),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("num_tokens 9; expected 0 to 8")));
}

}  // namespace
}  // namespace cuda
}  // namespace commvq
