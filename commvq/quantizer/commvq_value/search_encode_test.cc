#include "commvq/quantizer/commvq_value/search_encode.h"

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "commvq/base/random.h"
#include "commvq/base/thread_pool.h"
#include "commvq/quantizer/commvq_value/search_reference.h"
#include "commvq/quantizer/commvq_value/value_codebook.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

constexpr int64_t kBits = 16;
constexpr int64_t kDim = 12;

std::vector<float> Normals(int64_t n, float stddev, uint64_t seed) {
  std::vector<float> v(n);
  Rng rng(seed);
  rng.FillNormal(absl::MakeSpan(v), 0.0f, stddev);
  return v;
}

TEST(ValueSearchEncoderTest, MatchesTheScalarReference) {
  const std::vector<float> codebook = Normals(kBits * kDim, 0.3f, 1);
  const std::vector<float> x = Normals(200 * kDim, 1.0f, 2);
  for (int restarts : {0, 2}) {
    SCOPED_TRACE(restarts);
    for (bool relaxed : {false, true}) {
      SCOPED_TRACE(relaxed);
      const ValueSearchOptions options{4, restarts, relaxed};
      const ValueSearchEncoder encoder(codebook.data(), kBits, kDim, options);
      ValueSearchEncoder::Scratch scratch;
      int same = 0;
      for (int64_t v = 0; v < 200; ++v) {
        std::vector<uint8_t> fast(kBits), slow(kBits), start(kBits);
        encoder.FirstStart(&x[v * kDim], start.data());
        const double e = encoder.Encode(&x[v * kDim], fast.data(), &scratch);
        const double r = ReferenceValueSearch(
            codebook.data(), kBits, kDim, options, &x[v * kDim], slow.data(),
            nullptr, start.data());
        // The reported objective is the true one for the bits returned.
        EXPECT_NEAR(e,
                    ValueCodeSquaredError(codebook.data(), kBits, kDim,
                                          fast.data(), &x[v * kDim]),
                    1e-4 * (1.0 + e));
        EXPECT_NEAR(e, r, 1e-3 * (1.0 + r));
        same += fast == slow;
      }
      // Rounding may flip a near-tie now and then; nothing more.
      EXPECT_GE(same, 196);
    }
  }
}

// The relaxed start rounds the solution of (G + eps I) y = b, here solved
// by plain Gaussian elimination.
TEST(ValueSearchEncoderTest, RelaxedStartRoundsTheLeastSquaresSolution) {
  const std::vector<float> codebook = Normals(kBits * kDim, 0.3f, 21);
  const std::vector<float> x = Normals(20 * kDim, 1.0f, 22);
  const ValueSearchEncoder encoder(codebook.data(), kBits, kDim, {4, 0, true});
  std::vector<double> g(kBits * kBits);
  double trace = 0.0;
  for (int64_t i = 0; i < kBits; ++i) {
    for (int64_t j = 0; j < kBits; ++j) {
      double sum = 0.0;
      for (int64_t c = 0; c < kDim; ++c) {
        sum += double{codebook[i * kDim + c]} * codebook[j * kDim + c];
      }
      g[i * kBits + j] = sum;
    }
    trace += g[i * kBits + i];
  }
  for (int64_t i = 0; i < kBits; ++i) g[i * kBits + i] += 1e-3 * trace / kBits;
  int same = 0;
  for (int64_t v = 0; v < 20; ++v) {
    std::vector<double> a = g, y(kBits);
    for (int64_t i = 0; i < kBits; ++i) {
      double sum = 0.0;
      for (int64_t c = 0; c < kDim; ++c) {
        sum += double{codebook[i * kDim + c]} * x[v * kDim + c];
      }
      y[i] = sum;
    }
    for (int64_t p = 0; p < kBits; ++p) {
      for (int64_t i = p + 1; i < kBits; ++i) {
        const double f = a[i * kBits + p] / a[p * kBits + p];
        for (int64_t j = p; j < kBits; ++j)
          a[i * kBits + j] -= f * a[p * kBits + j];
        y[i] -= f * y[p];
      }
    }
    for (int64_t i = kBits - 1; i >= 0; --i) {
      for (int64_t j = i + 1; j < kBits; ++j) y[i] -= a[i * kBits + j] * y[j];
      y[i] /= a[i * kBits + i];
    }
    std::vector<uint8_t> expected(kBits), got(kBits);
    for (int64_t i = 0; i < kBits; ++i) expected[i] = y[i] > 0.5 ? 1 : 0;
    encoder.FirstStart(&x[v * kDim], got.data());
    same += expected == got;
  }
  EXPECT_GE(same, 19);
}

TEST(ValueSearchEncoderTest, WeightedSearchMatchesTheWeightedReference) {
  const std::vector<float> codebook = Normals(kBits * kDim, 0.3f, 11);
  const std::vector<float> x = Normals(100 * kDim, 1.0f, 12);
  std::vector<float> weights(kDim);
  for (int64_t c = 0; c < kDim; ++c) weights[c] = 0.1f + 0.5f * (c % 5);
  const ValueSearchOptions options{4, 1, false};
  const ValueSearchEncoder encoder(codebook.data(), kBits, kDim, options,
                                   weights.data());
  ValueSearchEncoder::Scratch scratch;
  int same = 0;
  for (int64_t v = 0; v < 100; ++v) {
    std::vector<uint8_t> fast(kBits), slow(kBits);
    const double e = encoder.Encode(&x[v * kDim], fast.data(), &scratch);
    const double r =
        ReferenceValueSearch(codebook.data(), kBits, kDim, options,
                             &x[v * kDim], slow.data(), weights.data());
    EXPECT_NEAR(e,
                ValueCodeSquaredError(codebook.data(), kBits, kDim, fast.data(),
                                      &x[v * kDim], weights.data()),
                1e-4 * (1.0 + e));
    EXPECT_NEAR(e, r, 1e-3 * (1.0 + r));
    same += fast == slow;
  }
  EXPECT_GE(same, 98);
}

TEST(ValueSearchEncoderTest, ResultIsALocalOptimumOverEveryGroup) {
  const std::vector<float> codebook = Normals(kBits * kDim, 0.3f, 3);
  const std::vector<float> x = Normals(20 * kDim, 1.0f, 4);
  const ValueSearchEncoder encoder(codebook.data(), kBits, kDim, {16, 0, true});
  ValueSearchEncoder::Scratch scratch;
  for (int64_t v = 0; v < 20; ++v) {
    std::vector<uint8_t> bits(kBits);
    const double e = encoder.Encode(&x[v * kDim], bits.data(), &scratch);
    for (int64_t g = 0; g < kBits / 2; ++g) {
      for (int k = 0; k < 4; ++k) {
        std::vector<uint8_t> other = bits;
        other[2 * g] = kValueCategoryBits[k][0];
        other[2 * g + 1] = kValueCategoryBits[k][1];
        EXPECT_GE(ValueCodeSquaredError(codebook.data(), kBits, kDim,
                                        other.data(), &x[v * kDim]),
                  e - 1e-4)
            << "vector " << v << " group " << g << " category " << k;
      }
    }
  }
}

TEST(ValueSearchEncoderTest, BeatsTheAllZeroCodeAndRestartsNeverHurt) {
  const std::vector<float> codebook = Normals(kBits * kDim, 0.3f, 5);
  const std::vector<float> x = Normals(100 * kDim, 1.0f, 6);
  const ValueSearchEncoder plain(codebook.data(), kBits, kDim, {4, 0, true});
  const ValueSearchEncoder restarted(codebook.data(), kBits, kDim,
                                     {4, 3, true});
  std::vector<uint8_t> bits(100 * kBits);
  const double a = plain.EncodeBatch(x.data(), 100, bits.data(), nullptr);
  const double b = restarted.EncodeBatch(x.data(), 100, bits.data(), nullptr);
  double energy = 0.0;
  for (float value : x) energy += double{value} * value;
  EXPECT_LT(a, 0.8 * energy);
  EXPECT_LE(b, a + 1e-6);
}

// Vectors encoded in blocks get exactly what each gets alone.
TEST(ValueSearchEncoderTest, BlocksGiveEachVectorItsOwnResult) {
  const std::vector<float> codebook = Normals(kBits * kDim, 0.3f, 31);
  const int64_t n = 2 * ValueSearchEncoder::kBlockVectors + 5;
  const std::vector<float> x = Normals(n * kDim, 1.0f, 32);
  for (const ValueSearchOptions options :
       {ValueSearchOptions{4, 0, true}, ValueSearchOptions{4, 2, false}}) {
    const ValueSearchEncoder encoder(codebook.data(), kBits, kDim, options);
    ValueSearchEncoder::Scratch scratch;
    std::vector<uint8_t> together(n * kBits);
    std::vector<double> errors(n);
    encoder.EncodeRows(x.data(), n, together.data(), errors.data(), &scratch);
    for (int64_t v = 0; v < n; ++v) {
      std::vector<uint8_t> alone(kBits);
      EXPECT_EQ(encoder.Encode(&x[v * kDim], alone.data(), &scratch),
                errors[v]);
      EXPECT_EQ(alone, std::vector<uint8_t>(&together[v * kBits],
                                            &together[(v + 1) * kBits]))
          << v;
    }
  }
}

// A larger codebook (more code bits than channels, as at 2 bits) against
// the scalar reference.
TEST(ValueSearchEncoderTest, TwoBitShapeMatchesTheScalarReference) {
  constexpr int64_t kWideBits = 64, kWideDim = 32, kN = 40;
  const std::vector<float> codebook = Normals(kWideBits * kWideDim, 0.2f, 41);
  const std::vector<float> x = Normals(kN * kWideDim, 1.0f, 42);
  std::vector<float> weights(kWideDim);
  for (int64_t c = 0; c < kWideDim; ++c) weights[c] = 0.5f + 0.25f * (c % 3);
  const ValueSearchOptions options{8, 1, true};
  const ValueSearchEncoder encoder(codebook.data(), kWideBits, kWideDim,
                                   options, weights.data());
  std::vector<uint8_t> fast(kN * kWideBits);
  std::vector<double> errors(kN);
  ValueSearchEncoder::Scratch scratch;
  encoder.EncodeRows(x.data(), kN, fast.data(), errors.data(), &scratch);
  int same = 0;
  for (int64_t v = 0; v < kN; ++v) {
    std::vector<uint8_t> slow(kWideBits), start(kWideBits);
    encoder.FirstStart(&x[v * kWideDim], start.data());
    const double r = ReferenceValueSearch(
        codebook.data(), kWideBits, kWideDim, options, &x[v * kWideDim],
        slow.data(), weights.data(), start.data());
    EXPECT_NEAR(errors[v],
                ValueCodeSquaredError(codebook.data(), kWideBits, kWideDim,
                                      &fast[v * kWideBits], &x[v * kWideDim],
                                      weights.data()),
                1e-4 * (1.0 + errors[v]));
    EXPECT_NEAR(errors[v], r, 1e-3 * (1.0 + r));
    same += slow == std::vector<uint8_t>(&fast[v * kWideBits],
                                         &fast[(v + 1) * kWideBits]);
  }
  EXPECT_GE(same, kN - 2);
}

TEST(ValueSearchEncoderTest, BatchDoesNotDependOnThePool) {
  const std::vector<float> codebook = Normals(kBits * kDim, 0.3f, 7);
  const std::vector<float> x = Normals(300 * kDim, 1.0f, 8);
  const ValueSearchEncoder encoder(codebook.data(), kBits, kDim, {4, 1, true});
  std::vector<uint8_t> serial(300 * kBits), pooled(300 * kBits);
  ThreadPool pool(3);
  const double a = encoder.EncodeBatch(x.data(), 300, serial.data(), nullptr);
  const double b = encoder.EncodeBatch(x.data(), 300, pooled.data(), &pool);
  EXPECT_EQ(serial, pooled);
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace commvq
