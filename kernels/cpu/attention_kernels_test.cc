// The attention kernels on codes against their definitions: the scalar
// references against a brute-force decode + RoPE + dot, and every ISA
// variant this CPU has against the references (variants it lacks are
// skipped, and listed by the test's output).
#include "kernels/cpu/attention_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "commvq/base/bit_packing.h"
#include "commvq/base/float16.h"
#include "commvq/base/random.h"
#include "gtest/gtest.h"
#include "kernels/reference/attention_dense_reference.h"
#include "kernels/reference/attention_key_reference.h"
#include "kernels/reference/attention_value_reference.h"

namespace commvq {
namespace {

std::vector<float> Normal(int64_t size, Rng& rng) {
  std::vector<float> v(size);
  rng.FillNormal(absl::MakeSpan(v), 0.0f, 1.0f);
  return v;
}

// Scratch of `bytes` for a kernel, full of NaNs: a kernel that read its
// scratch before writing it would spoil its results (callers reuse one
// buffer for every call, whatever it holds).
std::vector<float> PoisonedScratch(int64_t bytes) {
  return std::vector<float>((bytes + 3) / 4, std::nanf(""));
}

// n tokens of random keys of one KV head and what the kernels read.
struct KeyCase {
  int64_t head_dim;
  int half_bits;
  int stages;
  PairLayout layout;
  int64_t n;
  int first_code;  // codes of other heads before this one in a row
  std::vector<float> z;
  std::vector<float> planes;
  std::vector<int16_t> planes_i16;  // the decode kernels' form
  std::vector<float> pair_scale;
  std::vector<uint16_t> codes;  // [n, first_code + stages + 1]
  std::vector<uint8_t> packed;
  int64_t code_stride;
  std::vector<float> norms, cos, sin;

  KeyCase(int64_t head_dim_in, int half_bits_in, int stages_in,
          PairLayout layout_in, int64_t n_in, uint64_t seed)
      : head_dim(head_dim_in),
        half_bits(half_bits_in),
        stages(stages_in),
        layout(layout_in),
        n(n_in),
        first_code(2) {
    Rng rng(seed);
    const int64_t pairs = head_dim / 2;
    z = Normal(int64_t{stages} * pairs * (1 << half_bits) * 2, rng);
    planes.resize(2 * z.size());
    MakeKeyCentrePlanesReference(arrays(), planes.data());
    planes_i16.resize(planes.size());
    pair_scale.resize(head_dim / 2);
    MakeKeyCentrePlanesI16Reference(arrays(), planes_i16.data(),
                                    pair_scale.data());
    const int64_t per_row = first_code + stages + 1;
    codes.resize(n * per_row);
    for (uint16_t& c : codes) {
      c = static_cast<uint16_t>(rng.UniformInt(int64_t{1} << (2 * half_bits)));
    }
    code_stride = PackedBytes(per_row, 2 * half_bits);
    packed.resize(n * code_stride);
    for (int64_t t = 0; t < n; ++t) {
      EXPECT_TRUE(PackCodes(absl::MakeConstSpan(&codes[t * per_row], per_row),
                            2 * half_bits,
                            absl::MakeSpan(&packed[t * code_stride],
                                           code_stride))
                      .ok());
    }
    norms = Normal(n, rng);
    cos.resize(n * pairs);
    sin.resize(n * pairs);
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t j = 0; j < pairs; ++j) {
        const double angle = (t + 1000) * std::pow(10000.0, -2.0 * j / head_dim);
        cos[t * pairs + j] = static_cast<float>(std::cos(angle));
        sin[t * pairs + j] = static_cast<float>(std::sin(angle));
      }
    }
  }

  KeyCodebookArrays arrays() const {
    KeyCodebookArrays a;
    a.z = z.data();
    a.stages = stages;
    a.half_bits = half_bits;
    a.head_dim = head_dim;
    a.layout = layout;
    return a;
  }
  PackedKeyCodes keys() const {
    PackedKeyCodes k;
    k.codes = packed.data();
    k.code_stride = code_stride;
    k.first_code = first_code;
    k.norms = norms.data();
    k.cos = cos.data();
    k.sin = sin.data();
    k.n = n;
    return k;
  }

  // The definition: decode in double, rotate by RoPE, dot with the query.
  double Score(const float* query, int64_t t, float scale) const {
    const int64_t pairs = head_dim / 2;
    const int values = 1 << half_bits;
    double score = 0.0;
    for (int64_t j = 0; j < pairs; ++j) {
      double x = 0.0;
      double y = 0.0;
      for (int s = 0; s < stages; ++s) {
        const int code = codes[t * (first_code + stages + 1) + first_code + s];
        const float* za = &z[((s * pairs + j) * values + (code >> half_bits)) * 2];
        const float* zb =
            &z[((s * pairs + j) * values + (code & (values - 1))) * 2];
        x += double{za[0]} - zb[1];
        y += double{za[1]} + zb[0];
      }
      const double c = cos[t * pairs + j];
      const double sn = sin[t * pairs + j];
      const int64_t first = PairFirstChannel(layout, head_dim, j);
      const int64_t second = PairSecondChannel(layout, head_dim, j);
      score += query[first] * (x * c - y * sn) + query[second] * (x * sn + y * c);
    }
    return scale * norms[t] * score;
  }

  // The bound MakeKeyCentrePlanesI16Reference states on how far a score
  // from the int16 planes may be from Score.
  double I16Bound(const float* query, int64_t t, float scale) const {
    double bound = 0.0;
    for (int64_t j = 0; j < head_dim / 2; ++j) {
      const double qx = query[PairFirstChannel(layout, head_dim, j)];
      const double qy = query[PairSecondChannel(layout, head_dim, j)];
      bound += std::hypot(qx, qy) * std::sqrt(2.0) * stages * pair_scale[j];
    }
    return std::abs(scale * norms[t]) * bound;
  }
};

using KeyParam = std::tuple<int64_t, int, PairLayout>;  // head_dim, h, layout

class KeyKernelTest : public ::testing::TestWithParam<KeyParam> {};

TEST_P(KeyKernelTest, EveryVariantMatchesTheDefinition) {
  const auto [head_dim, half_bits, layout] = GetParam();
  const int stages = 3;
  const int group = 4;
  const KeyCase c(head_dim, half_bits, stages, layout, 37, 7 + half_bits);
  Rng rng(99);
  const std::vector<float> queries = Normal(group * head_dim, rng);
  const float scale = 0.125f;
  // Scores reach ~sqrt(stages * head_dim); sums of that many floats.
  const double tolerance = 2e-5 * stages * head_dim;
  // The references of the decode kernel, f32 and int16 planes.
  std::vector<float> f32_scores(group * c.n), i16_scores(group * c.n);
  KeyScoresByDecodingReference(c.arrays(), c.planes.data(), queries.data(),
                               group, c.keys(), scale, f32_scores.data(), c.n);
  KeyScoresByDecodingI16Reference(c.arrays(), c.planes_i16.data(),
                                  c.pair_scale.data(), queries.data(), group,
                                  c.keys(), scale, i16_scores.data(), c.n);
  for (int g = 0; g < group; ++g) {
    for (int64_t t = 0; t < c.n; ++t) {
      const double want = c.Score(&queries[g * head_dim], t, scale);
      ASSERT_NEAR(f32_scores[g * c.n + t], want, tolerance)
          << "f32 planes, head " << g << " t " << t;
      ASSERT_NEAR(i16_scores[g * c.n + t], want,
                  tolerance + c.I16Bound(&queries[g * head_dim], t, scale))
          << "int16 planes, head " << g << " t " << t;
    }
  }
  for (const AttentionKernels* kernels : AvailableAttentionKernels()) {
    SCOPED_TRACE(kernels->isa);
    std::vector<float> table(c.z.size());
    std::vector<float> scores(c.n);
    std::vector<float> decoded(group * c.n), again(group * c.n);
    std::vector<float> scratch =
        PoisonedScratch(kernels->key_decoding_scratch_bytes(c.arrays(), group));
    kernels->key_scores_by_decoding(c.arrays(), c.planes_i16.data(),
                                    c.pair_scale.data(), queries.data(), group,
                                    c.keys(), scale, decoded.data(), c.n,
                                    scratch.data());
    // The scratch as the first call left it: the same bits.
    kernels->key_scores_by_decoding(c.arrays(), c.planes_i16.data(),
                                    c.pair_scale.data(), queries.data(), group,
                                    c.keys(), scale, again.data(), c.n,
                                    scratch.data());
    ASSERT_EQ(again, decoded);
    for (int g = 0; g < group; ++g) {
      kernels->build_key_score_table(c.arrays(), &queries[g * head_dim],
                                     table.data());
      kernels->key_scores_from_table(c.arrays(), table.data(), c.keys(),
                                     scale, scores.data());
      for (int64_t t = 0; t < c.n; ++t) {
        const double want = c.Score(&queries[g * head_dim], t, scale);
        ASSERT_NEAR(scores[t], want, tolerance) << "table, head " << g << " t " << t;
        // The same integer sums as the int16 reference: float rounding only.
        ASSERT_NEAR(decoded[g * c.n + t], i16_scores[g * c.n + t], tolerance)
            << "decode, head " << g << " t " << t;
      }
    }
  }
}

// Int16 planes of codebooks whose stages shrink (as residual stages do):
// the scores stay within the stated (worst-case) bound, and their actual
// error is far below it: small next to the scores.
TEST(KeyKernelTest, Int16PlanesOfShrinkingStagesAreAccurate) {
  const int stages = 21;
  KeyCase c(128, 6, stages, PairLayout::kHalf, 200, 3);
  const int64_t per_stage = c.z.size() / stages;
  for (size_t i = 0; i < c.z.size(); ++i) {
    c.z[i] *= std::pow(0.7f, static_cast<float>(i / per_stage));
  }
  MakeKeyCentrePlanesReference(c.arrays(), c.planes.data());
  MakeKeyCentrePlanesI16Reference(c.arrays(), c.planes_i16.data(),
                                  c.pair_scale.data());
  Rng rng(4);
  const std::vector<float> query = Normal(128, rng);
  std::vector<float> scores(c.n);
  KeyScoresByDecodingI16Reference(c.arrays(), c.planes_i16.data(),
                                  c.pair_scale.data(), query.data(), 1,
                                  c.keys(), 1.0f, scores.data(), c.n);
  double score_square = 0.0, error_square = 0.0;
  for (int64_t t = 0; t < c.n; ++t) {
    const double want = c.Score(query.data(), t, 1.0f);
    ASSERT_NEAR(scores[t], want,
                1e-4 * std::abs(want) + c.I16Bound(query.data(), t, 1.0f))
        << "t " << t;
    score_square += want * want;
    error_square += (scores[t] - want) * (scores[t] - want);
  }
  const double relative_error = std::sqrt(error_square / score_square);
  std::printf("int16 planes: rms score error / rms score = %.2e\n",
              relative_error);
  EXPECT_LT(relative_error, 1e-3);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, KeyKernelTest,
    // head_dim 96: the kernels' path for sizes other than 64 and 128.
    ::testing::Combine(
        ::testing::Values(int64_t{64}, int64_t{96}, int64_t{128}),
        ::testing::Values(1, 4, 6, 8),
        ::testing::Values(PairLayout::kHalf, PairLayout::kInterleaved)));

TEST(ValueKernelTest, EveryVariantMatchesDecodeThenWeightedSum) {
  Rng rng(5);
  const int64_t num_kv_heads = 2;
  const int64_t head_dim = 64;
  const int64_t dim = num_kv_heads * head_dim;
  // n: a few tokens, and more than the AVX kernels' blocks of 2048.
  for (const auto& bits_and_tokens :
       {std::pair<int64_t, int64_t>{128, 45}, {250, 45}, {250, 2100}}) {
    // Plain variables: C++17 lambdas cannot capture structured bindings.
    const int64_t num_bits = bits_and_tokens.first;
    const int64_t n = bits_and_tokens.second;
    const int64_t stride = (num_bits + 7) / 8;
    const std::vector<float> codebook = Normal(num_bits * dim, rng);
    std::vector<float> channel_scale = Normal(dim, rng);
    for (float& s : channel_scale) s = std::abs(s) + 0.1f;
    std::vector<uint8_t> codes(n * stride);
    for (uint8_t& b : codes) b = static_cast<uint8_t>(rng.UniformInt(256));
    std::vector<float> factors = Normal(n, rng);
    std::vector<float> weights(n);
    for (float& w : weights) w = static_cast<float>(rng.Uniform());
    // The definition: decode each token, then the weighted sum, in double.
    std::vector<double> want(dim, 0.0);
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t i = 0; i < num_bits; ++i) {
        if (((codes[t * stride + i / 8] >> (i % 8)) & 1) == 0) continue;
        for (int64_t c = 0; c < dim; ++c) {
          want[c] += double{weights[t]} * factors[t] * channel_scale[c] *
                     codebook[i * dim + c];
        }
      }
    }
    for (const AttentionKernels* kernels : AvailableAttentionKernels()) {
      SCOPED_TRACE(absl::StrCat(kernels->isa, " bits ", num_bits, " n ", n));
      // Query heads per KV head (GQA ratios), and so all query heads.
      for (const int group : {1, 3, 4, 8, 16, 20}) {
        const int num_heads = static_cast<int>(num_kv_heads) * group;
        // Query head k weighs the tokens by (k + 1) * weights: rows n apart.
        std::vector<float> head_weights(num_heads * n);
        for (int k = 0; k < num_heads; ++k) {
          for (int64_t t = 0; t < n; ++t) {
            head_weights[k * n + t] = (k + 1) * weights[t];
          }
        }
        std::vector<float> acc(
            kernels->value_accumulator_floats(num_bits, num_heads), 0.0f);
        // Tokens in two calls, [0, 20) and [20, n), over pages of 16
        // tokens (last pages partly filled), and code bytes in two ranges,
        // as the cache splits them over threads.
        const int64_t page_tokens = 16;
        const auto pages_from = [&](int64_t first_token) {
          std::vector<const uint8_t*> pages;
          for (int64_t t = first_token; t < n; t += page_tokens) {
            pages.push_back(codes.data() + t * stride);
          }
          return pages;
        };
        const std::vector<const uint8_t*> first_pages = pages_from(0);
        const std::vector<const uint8_t*> second_pages = pages_from(20);
        // One scratch for every call, as a thread of the cache uses it.
        std::vector<float> scratch = PoisonedScratch(std::max(
            kernels->accumulate_values_scratch_bytes(num_heads, n),
            kernels->value_product_scratch_bytes(num_bits, group, head_dim)));
        for (const auto& [first_byte, end_byte] :
             {std::pair<int64_t, int64_t>{0, 5}, {5, stride}}) {
          kernels->accumulate_values(head_weights.data(), n, num_heads,
                                     factors.data(), first_pages.data(),
                                     page_tokens, stride, num_bits, first_byte,
                                     end_byte, 20, acc.data(), scratch.data());
          kernels->accumulate_values(head_weights.data() + 20, n, num_heads,
                                     factors.data() + 20, second_pages.data(),
                                     page_tokens, stride, num_bits, first_byte,
                                     end_byte, n - 20, acc.data(),
                                     scratch.data());
        }
        for (int64_t h = 0; h < num_kv_heads; ++h) {
          std::vector<float> out(group * head_dim, 0.0f);
          kernels->value_product(
              acc.data(), num_heads, static_cast<int>(h) * group, group,
              codebook.data(), channel_scale.data(), num_bits, dim,
              h * head_dim, head_dim, out.data(), scratch.data());
          for (int g = 0; g < group; ++g) {
            const int k = static_cast<int>(h) * group + g;
            for (int64_t c = 0; c < head_dim; ++c) {
              ASSERT_NEAR(out[g * head_dim + c],
                          (k + 1) * want[h * head_dim + c],
                          (k + 1) * 1e-3 * std::sqrt(n * num_bits))
                  << "group " << group << " head " << k << " channel " << c;
            }
          }
        }
      }
    }
  }
}

// Scores over a wide range (most weights underflow to 0, a few dominate)
// and lengths that are not whole vectors: every variant's softmax equals
// the reference's to ~1e-6 of each weight.
TEST(DenseKernelTest, SoftmaxOfEveryVariantMatchesTheReference) {
  Rng rng(12);
  for (const int64_t n :
       {int64_t{1}, int64_t{15}, int64_t{16}, int64_t{17}, int64_t{1000}}) {
    std::vector<float> scores = Normal(n, rng);
    for (float& x : scores) x *= 40.0f;
    std::vector<float> want = scores;
    SoftmaxReference(want.data(), n);
    for (const AttentionKernels* kernels : AvailableAttentionKernels()) {
      SCOPED_TRACE(absl::StrCat(kernels->isa, " n ", n));
      std::vector<float> got = scores;
      kernels->softmax(got.data(), n);
      for (int64_t t = 0; t < n; ++t) {
        ASSERT_NEAR(got[t], want[t], 2e-6 * want[t] + 1e-30) << t;
      }
    }
  }
}

TEST(DenseKernelTest, EveryVariantMatchesTheReference) {
  Rng rng(11);
  const int64_t head_dim = 128;
  const int64_t stride = 3 * head_dim;
  const int64_t n = 300;
  const std::vector<float> query = Normal(head_dim, rng);
  const std::vector<float> keys = Normal(n * stride, rng);
  const std::vector<float> values = Normal(n * stride, rng);
  std::vector<float> want(n);
  DenseScoresReference(query.data(), keys.data() + head_dim, stride, head_dim,
                       n, 0.1f, want.data());
  SoftmaxReference(want.data(), n);
  std::vector<float> want_out(head_dim, 0.0f);
  DenseWeightedSumReference(want.data(), values.data(), stride, head_dim, n,
                            want_out.data());
  for (const AttentionKernels* kernels : AvailableAttentionKernels()) {
    SCOPED_TRACE(kernels->isa);
    std::vector<float> scores(n);
    kernels->dense_scores(query.data(), keys.data() + head_dim, stride,
                          head_dim, n, 0.1f, scores.data());
    kernels->softmax(scores.data(), n);
    double sum = 0.0;
    for (int64_t t = 0; t < n; ++t) {
      ASSERT_NEAR(scores[t], want[t], 1e-5) << t;
      sum += scores[t];
    }
    EXPECT_NEAR(sum, 1.0, 1e-5);
    std::vector<float> out(head_dim, 0.0f);
    kernels->dense_weighted_sum(scores.data(), values.data(), stride, head_dim,
                                n, out.data());
    for (int64_t c = 0; c < head_dim; ++c) ASSERT_NEAR(out[c], want_out[c], 1e-4);
  }
}

TEST(DenseKernelTest, GroupAttentionOfEveryVariantMatchesTheReference) {
  Rng rng(12);
  const int64_t head_dim = 72;  // not a multiple of 16: the vector tails run
  const int group = 4;
  const int64_t n = 257;
  const std::vector<float> queries = Normal(group * head_dim, rng);
  const std::vector<float> keys = Normal(n * head_dim, rng);
  const std::vector<float> values = Normal(n * head_dim, rng);
  std::vector<uint16_t> keys16(keys.size()), values16(values.size());
  FloatsToHalves(keys, absl::MakeSpan(keys16));
  FloatsToHalves(values, absl::MakeSpan(values16));
  std::vector<float> scores(group * n);
  std::vector<float> want32(group * head_dim), want16(group * head_dim);
  DenseGroupAttentionF32Reference(queries.data(), group, keys.data(),
                                  values.data(), head_dim, n, 0.1f,
                                  scores.data(), want32.data());
  DenseGroupAttentionF16Reference(queries.data(), group, keys16.data(),
                                  values16.data(), head_dim, n, 0.1f,
                                  scores.data(), want16.data());
  for (const AttentionKernels* kernels : AvailableAttentionKernels()) {
    SCOPED_TRACE(kernels->isa);
    std::vector<float> out(group * head_dim, 1.0f);
    kernels->dense_group_attention_f32(queries.data(), group, keys.data(),
                                       values.data(), head_dim, n, 0.1f,
                                       scores.data(), out.data());
    for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], want32[i], 1e-5);
    kernels->dense_group_attention_f16(queries.data(), group, keys16.data(),
                                       values16.data(), head_dim, n, 0.1f,
                                       scores.data(), out.data());
    for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], want16[i], 1e-5);
  }
}

TEST(AttentionKernelsTest, DispatchNamesVariantsAndRejectsUnknownOnes) {
  const std::vector<const AttentionKernels*> available =
      AvailableAttentionKernels();
  ASSERT_FALSE(available.empty());
  EXPECT_STREQ(available.front()->isa, "scalar");
  for (const char* isa : {"avx2", "avx512"}) {
    bool found = false;
    for (const AttentionKernels* k : available) found |= std::string(k->isa) == isa;
    if (!found) std::printf("CPU lacks %s: its kernels are not tested\n", isa);
  }
  EXPECT_FALSE(AttentionKernelsFor("sse9").ok());
  EXPECT_EQ(AttentionKernelsFor("sse9").status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(AttentionKernelsFor("scalar").ok());
  EXPECT_STREQ((*AttentionKernelsFor("scalar"))->isa, "scalar");
}

}  // namespace
}  // namespace commvq
