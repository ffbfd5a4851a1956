#include "commvq/quantizer/rvq_quantizer.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "commvq/base/bit_packing.h"
#include "commvq/base/float16.h"
#include "commvq/base/random.h"
#include "commvq/base/status_matchers.h"
#include "commvq/base/thread_pool.h"
#include "commvq/quantizer/quantizer_test_util.h"
#include "commvq/quantizer/serialized_quantizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::Encoded;
using ::commvq::testing::IsOk;
using ::commvq::testing::RandomRows;
using ::commvq::testing::RoundTrip;
using ::commvq::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

// The payload header: stages, bits, subvector, dim (u32 each).
constexpr size_t kHeaderBytes = 16;

absl::StatusOr<ResolvedOptions> Resolve(absl::string_view spec) {
  absl::StatusOr<QuantizerSpec> parsed = ParseQuantizerSpec(spec);
  if (!parsed.ok()) return parsed.status();
  return ResolveOptions(MakeRvqQuantizerFactory()->description().options,
                        *parsed);
}

// Trains `spec` on `samples` ([n, dim]).
absl::StatusOr<std::unique_ptr<Quantizer>> Train(
    absl::string_view spec, const std::vector<float>& samples, int64_t dim,
    uint64_t seed = 1, ThreadPool* pool = nullptr,
    std::function<void(double)> progress = {}) {
  absl::StatusOr<ResolvedOptions> options = Resolve(spec);
  if (!options.ok()) return options.status();
  const int64_t n = static_cast<int64_t>(samples.size()) / dim;
  return MakeRvqQuantizerFactory()->Train(
      *options, TensorView(samples.data(), DType::kF32, {n, dim}),
      TrainOptions{seed, pool, std::move(progress)});
}

absl::StatusOr<std::unique_ptr<Quantizer>> Deserialize(
    absl::string_view spec, int64_t dim, absl::string_view payload) {
  absl::StatusOr<ResolvedOptions> options = Resolve(spec);
  if (!options.ok()) return options.status();
  return MakeRvqQuantizerFactory()->Deserialize(*options, dim, payload);
}

using ::commvq::testing::Payload;

// sum ||x - y||^2 / sum ||x||^2.
double RelativeSquaredError(const std::vector<float>& x,
                            const std::vector<float>& y) {
  double error = 0.0, energy = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    error += (static_cast<double>(x[i]) - y[i]) * (x[i] - y[i]);
    energy += static_cast<double>(x[i]) * x[i];
  }
  return error / energy;
}

TEST(RvqQuantizerTest, ExampleSpecsGiveAboutOneAndTwoBitsPerElement) {
  const std::vector<std::string> specs =
      MakeRvqQuantizerFactory()->description().example_specs;
  ASSERT_EQ(specs.size(), 2u);
  const std::vector<float> samples = RandomRows(512, 64, 1);
  for (size_t i = 0; i < specs.size(); ++i) {
    CVQ_ASSERT_OK_AND_ASSIGN(auto q, Train(specs[i], samples, 64));
    CVQ_ASSERT_OK_AND_ASSIGN(ResolvedOptions options, Resolve(specs[i]));
    const int64_t stages = options.GetInt("stages");
    const int64_t bits = options.GetInt("bits");
    const int64_t subvector = options.GetInt("subvector");
    EXPECT_EQ(q->layout().code_bits, (64 / subvector) * stages * bits);
    EXPECT_EQ(q->layout().side_bytes, 2);
    EXPECT_DOUBLE_EQ(
        q->layout().BitsPerElement(),
        static_cast<double>(stages * bits) / subvector + 16.0 / 64.0)
        << specs[i];
    // 1 and 2 code bits per element, plus the fp16 norm.
    EXPECT_DOUBLE_EQ(q->layout().BitsPerElement(), (i + 1) + 0.25) << specs[i];
  }
}

TEST(RvqQuantizerTest, LayoutAndParameterBytes) {
  const std::vector<float> samples = RandomRows(64, 12, 2);
  CVQ_ASSERT_OK_AND_ASSIGN(
      auto q,
      Train("rvq:stages=3,bits=5,subvector=4,normalize=false", samples, 12));
  EXPECT_EQ(q->spec(),
            "rvq:stages=3,bits=5,subvector=4,iterations=20,normalize=false");
  EXPECT_EQ(q->layout().code_bits, 3 * 3 * 5);  // chunks x stages x bits
  EXPECT_EQ(q->layout().code_bytes, 6);
  EXPECT_EQ(q->layout().side_bytes, 0);
  EXPECT_EQ(q->layout().block_vectors, 1);
  // 9 codebooks of 32 codewords of 4 floats.
  EXPECT_EQ(q->ParameterBytes(), 9 * 32 * 4 * 4);
  EXPECT_EQ(Payload(*q).size(), kHeaderBytes + 9 * 32 * 4 * 4);
  EXPECT_EQ(q->SquaredErrorBound(samples.data()),
            std::numeric_limits<double>::infinity());

  CVQ_ASSERT_OK_AND_ASSIGN(auto whole, Train("rvq:bits=2", samples, 12));
  EXPECT_EQ(whole->spec(),
            "rvq:stages=4,bits=2,subvector=0,iterations=20,normalize=true");
  EXPECT_EQ(whole->layout().code_bits, 4 * 2);
  EXPECT_EQ(whole->layout().side_bytes, 2);
  EXPECT_EQ(whole->ParameterBytes(), 4 * 4 * 12 * 4);
}

TEST(RvqQuantizerTest, TrainingIsDeterministicAndIndependentOfThreads) {
  const std::vector<float> samples = RandomRows(1000, 64, 3);
  constexpr char kSpec[] = "rvq:stages=2,bits=6,subvector=16";
  ThreadPool pool(4);
  CVQ_ASSERT_OK_AND_ASSIGN(auto serial, Train(kSpec, samples, 64, 7));
  CVQ_ASSERT_OK_AND_ASSIGN(auto again, Train(kSpec, samples, 64, 7));
  CVQ_ASSERT_OK_AND_ASSIGN(auto parallel, Train(kSpec, samples, 64, 7, &pool));
  CVQ_ASSERT_OK_AND_ASSIGN(auto other_seed, Train(kSpec, samples, 64, 8));
  const std::string payload = Payload(*serial);
  EXPECT_EQ(Payload(*again), payload);
  EXPECT_EQ(Payload(*parallel), payload);
  EXPECT_NE(Payload(*other_seed), payload);
}

TEST(RvqQuantizerTest, ErrorDecreasesWithMoreStages) {
  const std::vector<float> train = RandomRows(2000, 64, 4);
  const std::vector<float> test = RandomRows(500, 64, 5);
  double previous = 1.0;
  for (int stages : {1, 2, 4}) {
    CVQ_ASSERT_OK_AND_ASSIGN(auto q, Train(absl::StrCat("rvq:stages=", stages,
                                                        ",bits=6,subvector=8,"
                                                        "normalize=false"),
                                           train, 64));
    const double error =
        RelativeSquaredError(test, RoundTrip(*q, test).decoded);
    EXPECT_LT(error, 0.9 * previous) << stages << " stages";
    previous = error;
  }
}

TEST(RvqQuantizerTest, OneStageFindsWellSeparatedClusters) {
  constexpr int64_t kDim = 16;
  std::vector<float> centres(8 * kDim);
  Rng rng(6);
  rng.FillNormal(absl::MakeSpan(centres), 0.0f, 10.0f);
  std::vector<float> samples(800 * kDim);
  rng.FillNormal(absl::MakeSpan(samples), 0.0f, 0.01f);
  for (int64_t i = 0; i < 800; ++i) {
    for (int64_t j = 0; j < kDim; ++j) {
      samples[i * kDim + j] += centres[(i % 8) * kDim + j];
    }
  }
  CVQ_ASSERT_OK_AND_ASSIGN(
      auto q, Train("rvq:stages=1,bits=3,normalize=false", samples, kDim));
  // The noise alone is about 1e-6 of the energy.
  EXPECT_LT(RelativeSquaredError(samples, RoundTrip(*q, samples).decoded),
            1e-5);
}

TEST(RvqQuantizerTest, EncodeChoosesTheNearestCodewordStageByStage) {
  constexpr int64_t kDim = 8, kChunk = 4, kStages = 2, kCodewords = 32;
  const std::vector<float> samples = RandomRows(500, kDim, 7);
  CVQ_ASSERT_OK_AND_ASSIGN(
      auto q,
      Train("rvq:stages=2,bits=5,subvector=4,normalize=false", samples, kDim));
  const std::string payload = Payload(*q);
  // codebooks[c * kStages + s]: [kCodewords, kChunk].
  std::vector<std::vector<float>> codebooks;
  for (int64_t k = 0; k < 2 * kStages; ++k) {
    codebooks.emplace_back(kCodewords * kChunk);
    std::memcpy(
        codebooks.back().data(),
        payload.data() + kHeaderBytes + k * kCodewords * kChunk * sizeof(float),
        kCodewords * kChunk * sizeof(float));
  }
  const std::vector<float> test = RandomRows(300, kDim, 8);
  const Encoded encoded = RoundTrip(*q, test);
  for (int64_t v = 0; v < 300; ++v) {
    std::vector<uint16_t> codes(2 * kStages);
    ASSERT_THAT(UnpackCodes(absl::MakeConstSpan(&encoded.codes[v * 3], 3), 5,
                            absl::MakeSpan(codes)),
                IsOk());
    for (int64_t c = 0; c < 2; ++c) {
      std::vector<float> residual(&test[v * kDim + c * kChunk],
                                  &test[v * kDim + (c + 1) * kChunk]);
      for (int64_t s = 0; s < kStages; ++s) {
        const std::vector<float>& codebook = codebooks[c * kStages + s];
        int64_t nearest = 0;
        double nearest_distance = std::numeric_limits<double>::infinity();
        for (int64_t w = 0; w < kCodewords; ++w) {
          double distance = 0.0;
          for (int64_t j = 0; j < kChunk; ++j) {
            const double d =
                static_cast<double>(residual[j]) - codebook[w * kChunk + j];
            distance += d * d;
          }
          if (distance < nearest_distance) {
            nearest = w;
            nearest_distance = distance;
          }
        }
        ASSERT_EQ(codes[c * kStages + s], nearest)
            << "vector " << v << ", chunk " << c << ", stage " << s;
        for (int64_t j = 0; j < kChunk; ++j) {
          residual[j] -= codebook[nearest * kChunk + j];
        }
      }
    }
  }
}

TEST(RvqQuantizerTest, SerializeThenDeserializeGivesIdenticalCodes) {
  constexpr char kSpec[] = "rvq:stages=2,bits=4,subvector=8";
  const std::vector<float> samples = RandomRows(300, 32, 9);
  CVQ_ASSERT_OK_AND_ASSIGN(auto trained, Train(kSpec, samples, 32));
  const std::string payload = Payload(*trained);
  CVQ_ASSERT_OK_AND_ASSIGN(auto restored, Deserialize(kSpec, 32, payload));
  EXPECT_EQ(restored->spec(), trained->spec());
  EXPECT_EQ(restored->ParameterBytes(), trained->ParameterBytes());
  EXPECT_EQ(Payload(*restored), payload);
  const std::vector<float> test = RandomRows(100, 32, 10);
  const Encoded a = RoundTrip(*trained, test);
  const Encoded b = RoundTrip(*restored, test);
  EXPECT_EQ(a.codes, b.codes);
  EXPECT_EQ(a.side, b.side);
  EXPECT_EQ(a.decoded, b.decoded);
}

class CorruptPayloadTest : public ::testing::Test {
 protected:
  // dim 4 in chunks of 2: 2 codebooks of 4 codewords, 64 bytes after the
  // 16-byte header.
  static constexpr char kSpec[] =
      "rvq:stages=1,bits=2,subvector=2,normalize=false";

  void SetUp() override {
    auto q = Train(kSpec, RandomRows(20, 4, 11), 4);
    ASSERT_THAT(q, IsOk());
    payload_ = Payload(**q);
    ASSERT_EQ(payload_.size(), kHeaderBytes + 64);
  }

  // The payload with u32 header field `index` set to `value`.
  std::string WithHeaderField(int index, uint32_t value) const {
    std::string payload = payload_;
    std::memcpy(&payload[4 * index], &value, sizeof(value));
    return payload;
  }

  // The payload with float `index` of the codebooks set to `value`.
  std::string WithCodebookFloat(int index, float value) const {
    std::string payload = payload_;
    std::memcpy(&payload[kHeaderBytes + 4 * index], &value, sizeof(value));
    return payload;
  }

  std::string payload_;
};

TEST_F(CorruptPayloadTest, TruncatedOrOverlongPayloadsAreInvalid) {
  for (size_t size = 0; size < payload_.size(); ++size) {
    EXPECT_THAT(Deserialize(kSpec, 4, payload_.substr(0, size)),
                StatusIs(kInvalid, HasSubstr("rvq quantizer")))
        << size << " bytes";
  }
  EXPECT_THAT(Deserialize(kSpec, 4, payload_.substr(0, 10)),
              StatusIs(kInvalid, HasSubstr("truncated: subvector needs 4")));
  EXPECT_THAT(Deserialize(kSpec, 4, payload_.substr(0, 20)),
              StatusIs(kInvalid, HasSubstr("has 4 bytes of codebooks: "
                                           "expected 64")));
  EXPECT_THAT(Deserialize(kSpec, 4, payload_ + "x"),
              StatusIs(kInvalid, HasSubstr("has 65 bytes of codebooks: "
                                           "expected 64")));
  EXPECT_THAT(Deserialize(kSpec, 4, payload_), IsOk());
}

TEST_F(CorruptPayloadTest, HeaderMustMatchTheOptionsAndDim) {
  EXPECT_THAT(Deserialize(kSpec, 4, WithHeaderField(0, 3)),
              StatusIs(kInvalid, HasSubstr("payload has stages 3: "
                                           "expected 1")));
  EXPECT_THAT(Deserialize(kSpec, 4, WithHeaderField(1, 40)),
              StatusIs(kInvalid, HasSubstr("bits 40: expected 2")));
  EXPECT_THAT(Deserialize(kSpec, 4, WithHeaderField(2, 4)),
              StatusIs(kInvalid, HasSubstr("subvector 4: expected 2")));
  EXPECT_THAT(Deserialize(kSpec, 4, WithHeaderField(3, 0xffffffff)),
              StatusIs(kInvalid, HasSubstr("dim 4294967295: expected 4")));
}

TEST_F(CorruptPayloadTest, MismatchedOptionsOrDimAreInvalid) {
  EXPECT_THAT(Deserialize("rvq:stages=2,bits=2,subvector=2,normalize=false", 4,
                          payload_),
              StatusIs(kInvalid, HasSubstr("stages 1: expected 2")));
  EXPECT_THAT(Deserialize("rvq:stages=1,bits=3,subvector=2,normalize=false", 4,
                          payload_),
              StatusIs(kInvalid, HasSubstr("bits 2: expected 3")));
  EXPECT_THAT(Deserialize("rvq:stages=1,bits=2,normalize=false", 4, payload_),
              StatusIs(kInvalid, HasSubstr("subvector 2: expected 4")));
  EXPECT_THAT(Deserialize(kSpec, 8, payload_),
              StatusIs(kInvalid, HasSubstr("dim 4: expected 8")));
  EXPECT_THAT(Deserialize(kSpec, 5, payload_),
              StatusIs(kInvalid, HasSubstr("subvector 2 does not divide "
                                           "dim 5")));
}

TEST_F(CorruptPayloadTest, NonFiniteCodewordsAreInvalid) {
  // Float 9: codebook 1 (chunk 1), codeword 0, element 1.
  EXPECT_THAT(
      Deserialize(kSpec, 4, WithCodebookFloat(9, std::nanf(""))),
      StatusIs(kInvalid, HasSubstr("codebook of chunk 1, stage 0: element "
                                   "[0, 1] is nan")));
  EXPECT_THAT(Deserialize(kSpec, 4, WithCodebookFloat(2, -INFINITY)),
              StatusIs(kInvalid, HasSubstr("codebook of chunk 0, stage 0: "
                                           "element [1, 0] is -inf")));
}

TEST(RvqQuantizerTest, TooFewSamplesOrIndivisibleDimAreRejected) {
  EXPECT_THAT(Train("rvq", RandomRows(100, 16, 12), 16),
              StatusIs(kInvalid, AllOf(HasSubstr("100 training samples"),
                                       HasSubstr("256 codewords"))));
  EXPECT_THAT(Train("rvq:bits=4", RandomRows(0, 16, 12), 16),
              StatusIs(kInvalid, HasSubstr("0 training samples are fewer "
                                           "than the 16 codewords")));
  EXPECT_THAT(Train("rvq:subvector=24", RandomRows(300, 64, 12), 64),
              StatusIs(kInvalid, HasSubstr("subvector 24 does not divide "
                                           "dim 64")));
}

TEST(RvqQuantizerTest, NormalizeStoresTheFp16Norm) {
  CVQ_ASSERT_OK_AND_ASSIGN(auto q, Train("rvq:stages=2,bits=4,subvector=8",
                                         RandomRows(300, 16, 13), 16));
  std::vector<float> test = RandomRows(3, 16, 14);
  std::fill(test.begin() + 16, test.begin() + 32, 0.0f);  // row 1: zero
  const Encoded encoded = RoundTrip(*q, test);
  ASSERT_EQ(encoded.side.size(), 3u * 2u);
  for (int64_t v = 0; v < 3; ++v) {
    double squared_norm = 0.0;
    for (int64_t j = 0; j < 16; ++j) {
      squared_norm += static_cast<double>(test[v * 16 + j]) * test[v * 16 + j];
    }
    uint16_t stored;
    std::memcpy(&stored, &encoded.side[v * 2], 2);
    EXPECT_EQ(stored, FloatToHalfBits(std::sqrt(squared_norm))) << v;
  }
  for (int64_t j = 0; j < 16; ++j) {
    EXPECT_EQ(encoded.decoded[16 + j], 0.0f) << j;
  }
  // The direction is quantized at unit scale whatever the norm.
  EXPECT_LT(RelativeSquaredError(test, encoded.decoded), 0.8);

  std::vector<float> huge(16, 0.0f);
  huge[3] = 1e5f;
  std::vector<uint8_t> codes(q->layout().code_bytes), side(2);
  EXPECT_THAT(
      q->Encode(TensorView(huge.data(), DType::kF32, {1, 16}),
                MutableTensorView(codes.data(), DType::kU8,
                                  {1, q->layout().code_bytes}),
                MutableTensorView(side.data(), DType::kU8, {1, 2})),
      StatusIs(kInvalid, HasSubstr("vector 0 has norm 100000, beyond the "
                                   "fp16 range")));
}

TEST(RvqQuantizerTest, ZeroTrainingSamplesAreFine) {
  // Zero vectors normalize to zero instead of NaN, in training too.
  std::vector<float> samples = RandomRows(40, 8, 15);
  std::fill(samples.begin(), samples.begin() + 8 * 8, 0.0f);
  CVQ_ASSERT_OK_AND_ASSIGN(auto q, Train("rvq:stages=2,bits=3", samples, 8));
  const Encoded encoded = RoundTrip(*q, samples);
  for (float value : encoded.decoded) EXPECT_TRUE(std::isfinite(value));
}

TEST(RvqQuantizerTest, ReportsProgressPerCodebook) {
  std::vector<double> progress;
  CVQ_ASSERT_OK_AND_ASSIGN(
      auto q,
      Train("rvq:stages=2,bits=4,subvector=8", RandomRows(100, 16, 16), 16, 1,
            nullptr, [&progress](double done) { progress.push_back(done); }));
  // 2 chunks x 2 stages.
  EXPECT_EQ(progress, (std::vector<double>{0.25, 0.5, 0.75, 1.0}));
}

}  // namespace
}  // namespace commvq
