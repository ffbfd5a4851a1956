#include "commvq/quantizer/commvq_value/commvq_value_quantizer.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "commvq/base/random.h"
#include "commvq/base/status_matchers.h"
#include "commvq/base/thread_pool.h"
#include "commvq/quantizer/commvq_value/value_codebook.h"
#include "commvq/quantizer/options.h"
#include "commvq/quantizer/quantizer_spec.h"
#include "commvq/quantizer/quantizer_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::IsOk;
using ::commvq::testing::Payload;
using ::commvq::testing::RelativeSquaredError;
using ::commvq::testing::RoundTrip;
using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;
// The payload header: three u32.
constexpr int64_t kHeaderBytes = 12;

absl::StatusOr<std::unique_ptr<Quantizer>> Train(
    absl::string_view spec, const std::vector<float>& samples, int64_t dim,
    ThreadPool* pool = nullptr) {
  return testing::TrainFromSpec(*MakeCommvqValueQuantizerFactory(), spec,
                                samples, dim, 3, pool);
}

absl::StatusOr<std::unique_ptr<Quantizer>> Deserialize(
    absl::string_view spec, int64_t dim, absl::string_view payload) {
  return testing::DeserializeFromSpec(*MakeCommvqValueQuantizerFactory(), spec,
                                      dim, payload);
}

// Value-like rows: a few shared directions, channel scales that differ by
// 10x, and token magnitudes that vary.
std::vector<float> ValueRows(int64_t n, int64_t dim, uint64_t seed) {
  Rng fixed(99);
  std::vector<float> basis(4 * dim), scale(dim);
  fixed.FillNormal(absl::MakeSpan(basis), 0.0f, 1.0f);
  for (float& s : scale) s = static_cast<float>(0.2 + 2.0 * fixed.Uniform());
  Rng rng(seed);
  std::vector<float> x(n * dim);
  for (int64_t r = 0; r < n; ++r) {
    double c[4];
    for (double& v : c) v = rng.Normal();
    const double magnitude = 0.5 + rng.Uniform();
    for (int64_t d = 0; d < dim; ++d) {
      double v = 0.1 * rng.Normal();
      for (int k = 0; k < 4; ++k) v += c[k] * basis[k * dim + d];
      x[r * dim + d] = static_cast<float>(magnitude * scale[d] * v);
    }
  }
  return x;
}

TEST(CommvqValueQuantizerTest, LayoutCountsCodeBitsAndTheFactor) {
  CVQ_ASSERT_OK_AND_ASSIGN(auto q1,
                           Train("commvq_value", ValueRows(64, 24, 1), 24));
  EXPECT_EQ(q1->spec(),
            "commvq_value:num_kv_heads=1,bits=1,code_bits=0,encoder=search,"
            "sweeps=16,relaxed_start=true,restarts=0,iterations=6");
  EXPECT_EQ(q1->layout().code_bits, 24);
  EXPECT_EQ(q1->layout().code_bytes, 3);
  EXPECT_EQ(q1->layout().side_bytes, 4);
  EXPECT_EQ(q1->StoredBytes(10), 10 * 7);
  EXPECT_EQ(q1->ParameterBytes(), (24 * 24 + 24) * 4);
  CVQ_ASSERT_OK_AND_ASSIGN(auto q2, Train("commvq_value:num_kv_heads=3,bits=2",
                                          ValueRows(64, 24, 1), 24));
  EXPECT_EQ(q2->layout().code_bits, 48);
  CVQ_ASSERT_OK_AND_ASSIGN(
      auto odd, Train("commvq_value:bits=1", ValueRows(64, 7, 1), 7));
  EXPECT_EQ(odd->layout().code_bits, 8);  // rounded up to even
  CVQ_ASSERT_OK_AND_ASSIGN(
      auto custom, Train("commvq_value:code_bits=10", ValueRows(64, 7, 1), 7));
  EXPECT_EQ(custom->layout().code_bits, 10);
  const ValueQuantizerParams* params = CommvqValueParams(*q2);
  ASSERT_NE(params, nullptr);
  EXPECT_EQ(params->num_kv_heads, 3);
  EXPECT_EQ(params->head_dim(), 8);
  EXPECT_EQ(params->num_groups(), 24);
}

TEST(CommvqValueQuantizerTest, TwoBitsBeatOneAndBothBeatZero) {
  const std::vector<float> train = ValueRows(600, 32, 2);
  const std::vector<float> test = ValueRows(200, 32, 3);
  CVQ_ASSERT_OK_AND_ASSIGN(auto q1, Train("commvq_value:bits=1", train, 32));
  CVQ_ASSERT_OK_AND_ASSIGN(auto q2, Train("commvq_value:bits=2", train, 32));
  const double e1 = RelativeSquaredError(test, RoundTrip(*q1, test).decoded);
  const double e2 = RelativeSquaredError(test, RoundTrip(*q2, test).decoded);
  EXPECT_LT(e1, 0.2);
  EXPECT_LT(e2, e1);
}

TEST(CommvqValueQuantizerTest, DecodingFollowsTheSharedRule) {
  const std::vector<float> x = ValueRows(50, 16, 4);
  CVQ_ASSERT_OK_AND_ASSIGN(auto q, Train("commvq_value:bits=2", x, 16));
  const ValueQuantizerParams& p = *CommvqValueParams(*q);
  const testing::Encoded e = RoundTrip(*q, x);
  for (int64_t v = 0; v < 50; ++v) {
    float f;
    std::memcpy(&f, &e.side[4 * v], 4);
    double scaled_norm2 = 0.0, decoded_scaled_norm2 = 0.0;
    for (int64_t c = 0; c < 16; ++c) {
      double y = 0.0;
      for (int64_t i = 0; i < p.num_code_bits; ++i) {
        if (ValueCodeBit(&e.codes[v * q->layout().code_bytes], i)) {
          y += p.codebook[i * 16 + c];
        }
      }
      EXPECT_NEAR(e.decoded[v * 16 + c], p.channel_scale[c] * f * y,
                  1e-4 * (1.0 + std::fabs(e.decoded[v * 16 + c])));
      const double u = x[v * 16 + c] / p.channel_scale[c];
      scaled_norm2 += u * u;
      const double w = e.decoded[v * 16 + c] / p.channel_scale[c];
      decoded_scaled_norm2 += w * w;
    }
    // The decoded vector keeps the norm of the scaled input.
    EXPECT_NEAR(std::sqrt(decoded_scaled_norm2), std::sqrt(scaled_norm2),
                1e-4 * std::sqrt(scaled_norm2));
  }
}

TEST(CommvqValueQuantizerTest, ZeroVectorDecodesToZero) {
  CVQ_ASSERT_OK_AND_ASSIGN(auto q,
                           Train("commvq_value", ValueRows(40, 8, 5), 8));
  const testing::Encoded e = RoundTrip(*q, std::vector<float>(8, 0.0f));
  EXPECT_EQ(e.codes, std::vector<uint8_t>(1, 0));
  EXPECT_EQ(e.side, std::vector<uint8_t>(4, 0));
  EXPECT_EQ(e.decoded, std::vector<float>(8, 0.0f));
}

// Encoding slices long inputs (and the search encodes in blocks); every
// vector still gets the codes it gets alone, zero vectors included.
TEST(CommvqValueQuantizerTest, LongInputsEncodeLikeSingleVectors) {
  std::vector<float> x = ValueRows(700, 16, 8);
  std::fill(x.begin() + 300 * 16, x.begin() + 301 * 16, 0.0f);
  CVQ_ASSERT_OK_AND_ASSIGN(auto q, Train("commvq_value:bits=2", x, 16));
  const testing::Encoded all = RoundTrip(*q, x);
  const int64_t code_bytes = q->layout().code_bytes;
  for (int64_t v : {0, 255, 256, 300, 511, 699}) {
    const std::vector<float> one(x.begin() + v * 16, x.begin() + (v + 1) * 16);
    const testing::Encoded alone = RoundTrip(*q, one);
    EXPECT_EQ(alone.codes,
              std::vector<uint8_t>(all.codes.begin() + v * code_bytes,
                                   all.codes.begin() + (v + 1) * code_bytes))
        << v;
    EXPECT_EQ(alone.side, std::vector<uint8_t>(all.side.begin() + v * 4,
                                               all.side.begin() + (v + 1) * 4))
        << v;
  }
  EXPECT_EQ(std::vector<uint8_t>(all.side.begin() + 300 * 4,
                                 all.side.begin() + 301 * 4),
            std::vector<uint8_t>(4, 0));
}

TEST(CommvqValueQuantizerTest, TrainingIsDeterministicAcrossThreads) {
  const std::vector<float> x = ValueRows(300, 16, 6);
  ThreadPool pool(4);
  CVQ_ASSERT_OK_AND_ASSIGN(auto a, Train("commvq_value:bits=2", x, 16));
  CVQ_ASSERT_OK_AND_ASSIGN(auto b, Train("commvq_value:bits=2", x, 16, &pool));
  EXPECT_EQ(Payload(*a), Payload(*b));
}

TEST(CommvqValueQuantizerTest, SerializationRoundTripGivesIdenticalCodes) {
  const char* spec = "commvq_value:num_kv_heads=2,bits=2,restarts=1";
  CVQ_ASSERT_OK_AND_ASSIGN(auto q, Train(spec, ValueRows(100, 16, 7), 16));
  const std::string payload = Payload(*q);
  EXPECT_EQ(static_cast<int64_t>(payload.size()),
            kHeaderBytes + q->ParameterBytes());
  CVQ_ASSERT_OK_AND_ASSIGN(auto restored, Deserialize(spec, 16, payload));
  EXPECT_EQ(Payload(*restored), payload);
  const std::vector<float> x = ValueRows(30, 16, 8);
  const testing::Encoded a = RoundTrip(*q, x);
  const testing::Encoded b = RoundTrip(*restored, x);
  EXPECT_EQ(a.codes, b.codes);
  EXPECT_EQ(a.side, b.side);
  EXPECT_EQ(a.decoded, b.decoded);
}

TEST(CommvqValueQuantizerTest, CorruptPayloadsAreRejected) {
  CVQ_ASSERT_OK_AND_ASSIGN(auto q,
                           Train("commvq_value", ValueRows(50, 4, 9), 4));
  const std::string payload = Payload(*q);
  EXPECT_THAT(Deserialize("commvq_value", 4, payload.substr(0, 6)),
              StatusIs(kInvalid, HasSubstr("truncated")));
  EXPECT_THAT(Deserialize("commvq_value:num_kv_heads=2", 4, payload),
              StatusIs(kInvalid, HasSubstr("num_kv_heads 1: expected 2")));
  EXPECT_THAT(Deserialize("commvq_value", 4, payload + "x"),
              StatusIs(kInvalid, HasSubstr("expected 80")));
  std::string negative = payload;
  const float minus = -1.0f;
  std::memcpy(&negative[kHeaderBytes + 4], &minus, 4);
  EXPECT_THAT(Deserialize("commvq_value", 4, negative),
              StatusIs(kInvalid, HasSubstr("channel_scale[1] is -1")));
  std::string nan = payload;
  const float value = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(&nan[kHeaderBytes + 4 * 6], &value, 4);
  EXPECT_THAT(Deserialize("commvq_value", 4, nan),
              StatusIs(kInvalid, HasSubstr("codebook has a NaN")));
  // A hidden width claiming a huge encoder is refused before allocating.
  std::string huge = payload;
  const uint32_t hidden = 65536;
  std::memcpy(&huge[8], &hidden, 4);
  EXPECT_THAT(Deserialize("commvq_value:encoder=mlp", 4, huge),
              StatusIs(kInvalid, HasSubstr("bytes of tensors")));
}

TEST(CommvqValueQuantizerTest, BadSideFactorIsAnErrorNamingTheVector) {
  CVQ_ASSERT_OK_AND_ASSIGN(auto q,
                           Train("commvq_value", ValueRows(50, 8, 9), 8));
  std::vector<uint8_t> codes(2, 0);
  std::vector<uint8_t> side(8, 0);
  const float inf = std::numeric_limits<float>::infinity();
  std::memcpy(&side[4], &inf, 4);
  std::vector<float> out(16);
  EXPECT_THAT(q->Decode(TensorView(codes.data(), DType::kU8, {2, 1}),
                        TensorView(side.data(), DType::kU8, {2, 4}),
                        MutableTensorView(out.data(), DType::kF32, {2, 8})),
              StatusIs(kInvalid, HasSubstr("side factor of vector 1 is inf")));
}

TEST(CommvqValueQuantizerTest, OptionsMustFitTheData) {
  EXPECT_THAT(Train("commvq_value:num_kv_heads=3", ValueRows(10, 8, 1), 8),
              StatusIs(kInvalid, HasSubstr("num_kv_heads 3")));
  EXPECT_THAT(Train("commvq_value:code_bits=7", ValueRows(10, 8, 1), 8),
              StatusIs(kInvalid, HasSubstr("code_bits is 7")));
  EXPECT_THAT(Train("commvq_value:encoder=mlp", ValueRows(10, 8, 1), 8),
              StatusIs(kInvalid, HasSubstr("encoder=search only")));
  EXPECT_THAT(Train("commvq_value", std::vector<float>(16, 0.0f), 8),
              StatusIs(kInvalid, HasSubstr("none non-zero")));
}

ValueQuantizerParams MlpParams() {
  ValueQuantizerParams p;
  p.dim = 4;
  p.num_kv_heads = 2;
  p.num_code_bits = 4;
  Rng rng(11);
  p.codebook.resize(16);
  rng.FillNormal(absl::MakeSpan(p.codebook), 0.0f, 0.5f);
  p.channel_scale = {1, 2, 0.5f, 1};
  ValueEncoderWeights& e = p.encoder;
  e.hidden = 3;
  e.ln_gamma.assign(4, 1.0f);
  e.ln_beta.assign(4, 0.0f);
  e.w1.resize(12);
  rng.FillNormal(absl::MakeSpan(e.w1), 0.0f, 1.0f);
  e.b1.assign(3, 0.0f);
  e.w2.resize(8 * 3);
  rng.FillNormal(absl::MakeSpan(e.w2), 0.0f, 1.0f);
  e.b2.assign(8, 0.0f);
  return p;
}

TEST(MakeCommvqValueQuantizerTest, BuildsAnMlpQuantizerThatSerializes) {
  const std::string spec = CommvqValueSpec(2, 1, "mlp");
  CVQ_ASSERT_OK_AND_ASSIGN(auto q,
                           MakeCommvqValueQuantizer(spec, 4, MlpParams()));
  EXPECT_EQ(q->layout().code_bits, 4);
  const std::string payload = Payload(*q);
  CVQ_ASSERT_OK_AND_ASSIGN(auto restored, Deserialize(spec, 4, payload));
  const std::vector<float> x = ValueRows(20, 4, 12);
  EXPECT_EQ(RoundTrip(*q, x).codes, RoundTrip(*restored, x).codes);
  EXPECT_EQ(RoundTrip(*q, x).decoded, RoundTrip(*restored, x).decoded);
}

TEST(MakeCommvqValueQuantizerTest, RejectsParamsThatDoNotMatchTheSpec) {
  EXPECT_THAT(
      MakeCommvqValueQuantizer(CommvqValueSpec(2, 1, "search"), 4, MlpParams()),
      StatusIs(kInvalid, HasSubstr("expected 0 (no weights)")));
  EXPECT_THAT(
      MakeCommvqValueQuantizer(CommvqValueSpec(2, 2, "mlp"), 4, MlpParams()),
      StatusIs(kInvalid, HasSubstr("num_code_bits is 4: expected 8")));
  ValueQuantizerParams short_w2 = MlpParams();
  short_w2.encoder.w2.pop_back();
  EXPECT_THAT(
      MakeCommvqValueQuantizer(CommvqValueSpec(2, 1, "mlp"), 4, short_w2),
      StatusIs(kInvalid, HasSubstr("w2 size is 23: expected 24")));
  EXPECT_THAT(MakeCommvqValueQuantizer("rvq", 4, MlpParams()),
              StatusIs(kInvalid, HasSubstr("expected 'commvq_value'")));
}

}  // namespace
}  // namespace commvq
