#include "kernels/cuda/value_codec.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/types/span.h"
#include "commvq/base/random.h"
#include "commvq/base/status_matchers.h"
#include "commvq/quantizer/commvq_value/codebook_fit.h"
#include "commvq/quantizer/commvq_value/commvq_value_quantizer.h"
#include "commvq/quantizer/commvq_value/mlp_encode.h"
#include "commvq/quantizer/commvq_value/search_encode.h"
#include "commvq/quantizer/commvq_value/search_reference.h"
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

// The GPU encoding of the rows x ([tokens, dim]).
struct GpuEncoding {
  std::vector<uint32_t> words;  // [tokens, ValueCodeWords(Nc)]
  std::vector<float> factor;    // [tokens]

  int Bit(int64_t token, int64_t num_code_bits, int64_t i) const {
    const int64_t row = ValueCodeWords(num_code_bits);
    return (words[token * row + i / 32] >> (i % 32)) & 1;
  }
};

void EncodeOnGpu(const CudaValueCodec& codec,
                 const ValueQuantizerParams& params,
                 const std::vector<float>& x, int64_t tokens,
                 GpuEncoding* out) {
  absl::StatusOr<CublasHandle> cublas = CublasHandle::Create();
  ASSERT_THAT(cublas.status(), IsOk());
  const int64_t words = ValueCodeWords(params.num_code_bits);
  absl::StatusOr<DeviceMemory> input = Upload(absl::MakeConstSpan(x));
  absl::StatusOr<DeviceMemory> workspace =
      DeviceMemory::Allocate(CudaValueCodec::WorkspaceBytes(params, tokens));
  absl::StatusOr<DeviceMemory> out_words =
      DeviceMemory::Allocate(tokens * words * 4);
  absl::StatusOr<DeviceMemory> out_factor = DeviceMemory::Allocate(tokens * 4);
  ASSERT_THAT(input.status(), IsOk());
  ASSERT_THAT(workspace.status(), IsOk());
  ASSERT_THAT(out_words.status(), IsOk());
  ASSERT_THAT(out_factor.status(), IsOk());
  ASSERT_THAT(codec.Encode(input->as<float>(), tokens, tokens,
                           workspace->data(), out_words->as<uint32_t>(),
                           out_factor->as<float>(), *cublas, nullptr),
              IsOk());
  ASSERT_THAT(SynchronizeStream(nullptr), IsOk());
  absl::StatusOr<std::vector<uint32_t>> gpu_words =
      Download<uint32_t>(out_words->data(), tokens * words);
  absl::StatusOr<std::vector<float>> gpu_factor =
      Download<float>(out_factor->data(), tokens);
  ASSERT_THAT(gpu_words.status(), IsOk());
  ASSERT_THAT(gpu_factor.status(), IsOk());
  out->words = *std::move(gpu_words);
  out->factor = *std::move(gpu_factor);
}

// The CPU quantizer's codes and side bytes (the f32 factors) of the rows x
// ([tokens, dim]).
void EncodeOnCpu(const Quantizer& quantizer, const std::vector<float>& x,
                 int64_t tokens, std::vector<uint8_t>* codes,
                 std::vector<uint8_t>* side) {
  const int64_t d = quantizer.layout().dim;
  const int64_t code_bytes = quantizer.layout().code_bytes;
  codes->resize(tokens * code_bytes);
  side->resize(tokens * 4);
  ASSERT_THAT(
      quantizer.Encode(
          TensorView(x.data(), DType::kF32, {tokens, d}),
          MutableTensorView(codes->data(), DType::kU8, {tokens, code_bytes}),
          MutableTensorView(side->data(), DType::kU8, {tokens, 4})),
      IsOk());
}

// Rows of normal values (mean 0.2, sd 1.5); row 0 is zero (f = 0).
std::vector<float> TestValues(int64_t tokens, int64_t dim) {
  std::vector<float> x(tokens * dim);
  Rng rng(4);
  rng.FillNormal(absl::MakeSpan(x), 0.2f, 1.5f);
  std::fill(x.begin(), x.begin() + dim, 0.0f);
  return x;
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
  const std::vector<float> x = TestValues(kTokens, d);

  // CPU: the commvq_value quantizer (encoder=mlp).
  absl::StatusOr<std::unique_ptr<Quantizer>> cpu =
      commvq::testing::ValueQuantizerOf(params, c.bits);
  ASSERT_THAT(cpu.status(), IsOk());
  const int64_t code_bytes = (*cpu)->layout().code_bytes;
  std::vector<uint8_t> codes, side;
  ASSERT_NO_FATAL_FAILURE(EncodeOnCpu(**cpu, x, kTokens, &codes, &side));

  absl::StatusOr<CudaValueCodec> codec = CudaValueCodec::Create(params);
  ASSERT_THAT(codec.status(), IsOk());
  GpuEncoding gpu;
  ASSERT_NO_FATAL_FAILURE(EncodeOnGpu(*codec, params, x, kTokens, &gpu));

  std::vector<float> unit(d), logits(2 * nc), scratch(d + c.hidden);
  int64_t near_ties = 0;
  for (int64_t t = 0; t < kTokens; ++t) {
    bool same = true;
    bool logits_ready = false;
    for (int64_t g = 0; g < nc / 2; ++g) {
      int gpu_bits[2], cpu_bits[2];
      for (int k = 0; k < 2; ++k) {
        const int64_t i = 2 * g + k;
        gpu_bits[k] = gpu.Bit(t, nc, i);
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
      EXPECT_NEAR(gpu.factor[t], cpu_factor, 1e-4f * cpu_factor + 1e-7f)
          << "token " << t;
    }
  }
  EXPECT_EQ(gpu.factor[0], 0.0f);
  // Near-ties are rare: a handful of groups in all tokens.
  EXPECT_LE(near_ties, kTokens * nc / 2 / 100);
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaValueCodecTest,
                         ::testing::Values(CodecCase{3, 64, 1, 384},
                                           CodecCase{2, 32, 2, 256},
                                           CodecCase{1, 8, 1, 5}));

// s C ([dim]) for one token's bits (one 0/1 byte each).
std::vector<double> CodeSum(const ValueQuantizerParams& params,
                            const uint8_t* bits) {
  std::vector<double> sum(params.dim, 0.0);
  for (int64_t i = 0; i < params.num_code_bits; ++i) {
    if (!bits[i]) continue;
    for (int64_t c = 0; c < params.dim; ++c) {
      sum[c] += params.codebook[i * params.dim + c];
    }
  }
  return sum;
}

// sum_c (x_c - channel_scale_c f (s C)_c)^2 of one token's decoded values.
double DecodedSquaredError(const ValueQuantizerParams& params,
                           const uint8_t* bits, float factor, const float* x) {
  const std::vector<double> sum = CodeSum(params, bits);
  double error = 0.0;
  for (int64_t c = 0; c < params.dim; ++c) {
    const double e = x[c] - double{params.channel_scale[c]} * factor * sum[c];
    error += e * e;
  }
  return error;
}

// The quantizer's factor p / ||s C|| for the bits and prescale p.
float ExpectedFactor(const ValueQuantizerParams& params, const uint8_t* bits,
                     double prescale) {
  double norm2 = 0.0;
  for (const double v : CodeSum(params, bits)) norm2 += v * v;
  return norm2 > 0.0 ? static_cast<float>(prescale / std::sqrt(norm2)) : 0.0f;
}

// Replaces the codebook by rows like the data: 0.1 times prescaled unit
// rows of TestValues' distribution plus a little noise. The search then has
// real work (dozens of changes per token); on RandomValueParams' noise
// codebook most codes stay at zero.
void UseDataLikeCodebook(ValueQuantizerParams* params) {
  const int64_t d = params->dim;
  Rng rng(77);
  std::vector<float> row(d), unit(d), noise(d);
  for (int64_t i = 0; i < params->num_code_bits; ++i) {
    rng.FillNormal(absl::MakeSpan(row), 0.2f, 1.5f);
    rng.FillNormal(absl::MakeSpan(noise), 0.0f,
                   static_cast<float>(0.02 / std::sqrt(double(d))));
    PrescaleToUnit(row.data(), params->channel_scale.data(), d, unit.data());
    for (int64_t c = 0; c < d; ++c) {
      params->codebook[i * d + c] = 0.1f * unit[c] + noise[c];
    }
  }
}

struct SearchCase {
  int64_t num_kv_heads, head_dim;
  int bits;
  bool relaxed_start;
  int restarts;
};

class CudaValueSearchTest : public ::testing::TestWithParam<SearchCase> {};

// The GPU search finds the CPU search's bits (ValueSearchEncoder, as the
// quantizer calls it: unit rows, weights channel_scale^2) except where float
// sums in another order flip a near-tie, and its objective and decoded error
// match the CPU's on average.
TEST_P(CudaValueSearchTest, FindsTheCpuSearchCodes) {
  CVQ_SKIP_WITHOUT_GPU();
  const SearchCase& c = GetParam();
  ValueQuantizerParams params =
      RandomValueParams(c.num_kv_heads, c.head_dim, c.bits, 0, 31);
  UseDataLikeCodebook(&params);
  const int64_t d = params.dim;
  const int64_t nc = params.num_code_bits;
  ValueSearchOptions options;
  options.relaxed_start = c.relaxed_start;
  options.restarts = c.restarts;
  constexpr int64_t kTokens = 100;
  const std::vector<float> x = TestValues(kTokens, d);

  const std::vector<float> weights = SearchWeights(params.channel_scale);
  const ValueSearchEncoder cpu(params.codebook.data(), nc, d, options,
                               weights.data());
  std::vector<float> units(kTokens * d);
  std::vector<double> prescale(kTokens);
  for (int64_t t = 0; t < kTokens; ++t) {
    prescale[t] = PrescaleToUnit(&x[t * d], params.channel_scale.data(), d,
                                 &units[t * d]);
  }
  std::vector<uint8_t> cpu_bits(kTokens * nc);
  ValueSearchEncoder::Scratch scratch;
  cpu.EncodeRows(units.data(), kTokens, cpu_bits.data(), nullptr, &scratch);

  absl::StatusOr<CudaValueCodec> codec =
      CudaValueCodec::Create(params, options);
  ASSERT_THAT(codec.status(), IsOk());
  GpuEncoding gpu;
  ASSERT_NO_FATAL_FAILURE(EncodeOnGpu(*codec, params, x, kTokens, &gpu));

  // Row 0 is zero: zero bits and factor.
  for (int64_t i = 0; i < nc; ++i) ASSERT_EQ(gpu.Bit(0, nc, i), 0) << i;
  EXPECT_EQ(gpu.factor[0], 0.0f);
  int64_t identical = 0;
  double cpu_objective = 0.0, gpu_objective = 0.0;
  double cpu_decoded = 0.0, gpu_decoded = 0.0;
  double zero_objective = 0.0;  // of all-zero codes
  std::vector<uint8_t> gpu_bits(nc);
  for (int64_t t = 1; t < kTokens; ++t) {
    for (int64_t i = 0; i < nc; ++i) gpu_bits[i] = gpu.Bit(t, nc, i);
    const uint8_t* cpu_row = &cpu_bits[t * nc];
    identical += std::equal(gpu_bits.begin(), gpu_bits.end(), cpu_row);
    const float* u = &units[t * d];
    const double cpu_error = ValueCodeSquaredError(
        params.codebook.data(), nc, d, cpu_row, u, weights.data());
    const double gpu_error = ValueCodeSquaredError(
        params.codebook.data(), nc, d, gpu_bits.data(), u, weights.data());
    // A flipped near-tie leads to another local optimum, not a bad one.
    EXPECT_LE(gpu_error, 1.1 * cpu_error + 1e-9) << "token " << t;
    for (int64_t k = 0; k < d; ++k) zero_objective += weights[k] * u[k] * u[k];
    cpu_objective += cpu_error;
    gpu_objective += gpu_error;
    const float expected = ExpectedFactor(params, gpu_bits.data(), prescale[t]);
    EXPECT_NEAR(gpu.factor[t], expected, 1e-4f * expected) << "token " << t;
    cpu_decoded += DecodedSquaredError(
        params, cpu_row, ExpectedFactor(params, cpu_row, prescale[t]),
        &x[t * d]);
    gpu_decoded +=
        DecodedSquaredError(params, gpu_bits.data(), gpu.factor[t], &x[t * d]);
  }
  // The search did real work.
  EXPECT_LT(gpu_objective, 0.97 * zero_objective);
  EXPECT_GE(identical, (kTokens - 1) * 98 / 100);
  EXPECT_NEAR(gpu_objective, cpu_objective, 1e-3 * cpu_objective);
  EXPECT_NEAR(gpu_decoded, cpu_decoded, 1e-3 * cpu_decoded);
}

// d = 192 and 1024 (3 x 64, 8 x 128), 1 and 2 bits, both starts, 0 and 1
// restarts.
INSTANTIATE_TEST_SUITE_P(Shapes, CudaValueSearchTest,
                         ::testing::Values(SearchCase{3, 64, 1, true, 0},
                                           SearchCase{3, 64, 2, true, 0},
                                           SearchCase{3, 64, 2, false, 0},
                                           SearchCase{3, 64, 1, true, 1},
                                           SearchCase{8, 128, 2, true, 0},
                                           SearchCase{8, 128, 1, false, 1}));

// With no options the codec searches as the default search quantizer
// (sweeps, restarts and relaxed_start of CommvqValueSpec).
TEST(CudaValueSearchQuantizerTest, EncodesLikeTheCpuQuantizer) {
  CVQ_SKIP_WITHOUT_GPU();
  constexpr int kBits = 2;
  ValueQuantizerParams params = RandomValueParams(2, 96, kBits, 0, 5);
  UseDataLikeCodebook(&params);
  const int64_t d = params.dim;
  const int64_t nc = params.num_code_bits;
  constexpr int64_t kTokens = 100;
  const std::vector<float> x = TestValues(kTokens, d);
  absl::StatusOr<std::unique_ptr<Quantizer>> cpu =
      commvq::testing::ValueQuantizerOf(params, kBits);
  ASSERT_THAT(cpu.status(), IsOk());
  const int64_t code_bytes = (*cpu)->layout().code_bytes;
  std::vector<uint8_t> codes, side;
  ASSERT_NO_FATAL_FAILURE(EncodeOnCpu(**cpu, x, kTokens, &codes, &side));
  absl::StatusOr<CudaValueCodec> codec = CudaValueCodec::Create(params);
  ASSERT_THAT(codec.status(), IsOk());
  GpuEncoding gpu;
  ASSERT_NO_FATAL_FAILURE(EncodeOnGpu(*codec, params, x, kTokens, &gpu));
  int64_t identical = 0;
  for (int64_t t = 0; t < kTokens; ++t) {
    bool same = true;
    for (int64_t i = 0; i < nc; ++i) {
      same &= gpu.Bit(t, nc, i) == ValueCodeBit(&codes[t * code_bytes], i);
    }
    if (!same) continue;
    ++identical;
    float cpu_factor;
    std::memcpy(&cpu_factor, &side[t * 4], 4);
    EXPECT_NEAR(gpu.factor[t], cpu_factor, 1e-4f * cpu_factor + 1e-7f)
        << "token " << t;
  }
  EXPECT_GE(identical, kTokens * 98 / 100);
}

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

TEST(CudaValueCodecShapeTest, RejectsBadSearchOptions) {
  // Checked before any device work: no GPU needed.
  const ValueQuantizerParams search = RandomValueParams(2, 8, 1, 0, 1);
  ValueSearchOptions no_sweeps;
  no_sweeps.sweeps = 0;
  EXPECT_THAT(CudaValueCodec::Create(search, no_sweeps).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("search sweeps 0 and restarts 0")));
  ValueSearchOptions negative;
  negative.restarts = -1;
  EXPECT_THAT(CudaValueCodec::Create(search, negative).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("restarts -1; expected sweeps >= 1")));
}

TEST(CudaValueCodecShapeTest, EncodeNeedsRoom) {
  CVQ_SKIP_WITHOUT_GPU();
  absl::StatusOr<CublasHandle> cublas = CublasHandle::Create();
  ASSERT_THAT(cublas.status(), IsOk());
  for (const int64_t hidden : {int64_t{0}, int64_t{4}}) {
    absl::StatusOr<CudaValueCodec> codec =
        CudaValueCodec::Create(RandomValueParams(2, 8, 1, hidden, 1));
    ASSERT_THAT(codec.status(), IsOk());
    EXPECT_EQ(codec->has_encoder(), hidden > 0);
    EXPECT_THAT(codec->Encode(nullptr, 9, 8, nullptr, nullptr, nullptr, *cublas,
                              nullptr),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("num_tokens 9; expected 0 to 8")))
        << "hidden " << hidden;
  }
}

}  // namespace
}  // namespace cuda
}  // namespace commvq
