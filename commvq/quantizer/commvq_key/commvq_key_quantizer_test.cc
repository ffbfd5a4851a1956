#include "commvq/quantizer/commvq_key/commvq_key_quantizer.h"

#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "commvq/base/float16.h"
#include "commvq/base/random.h"
#include "commvq/base/status_matchers.h"
#include "commvq/base/thread_pool.h"
#include "commvq/quantizer/options.h"
#include "commvq/quantizer/quantizer_spec.h"
#include "commvq/quantizer/quantizer_test_util.h"
#include "commvq/quantizer/serialized_quantizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::IsOk;
using ::commvq::testing::RandomRows;
using ::commvq::testing::RelativeSquaredError;
using ::commvq::testing::RoundTrip;
using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;
// The payload header: five u32.
constexpr int64_t kHeaderBytes = 20;

absl::StatusOr<ResolvedOptions> Resolve(absl::string_view spec) {
  return testing::ResolveSpec(*MakeCommvqKeyQuantizerFactory(), spec);
}

absl::StatusOr<std::unique_ptr<Quantizer>> Train(
    absl::string_view spec, const std::vector<float>& samples, int64_t dim,
    uint64_t seed = 1, ThreadPool* pool = nullptr) {
  return testing::TrainFromSpec(*MakeCommvqKeyQuantizerFactory(), spec, samples,
                                dim, seed, pool);
}

absl::StatusOr<std::unique_ptr<Quantizer>> Deserialize(
    absl::string_view spec, int64_t dim, absl::string_view payload) {
  return testing::DeserializeFromSpec(*MakeCommvqKeyQuantizerFactory(), spec,
                                      dim, payload);
}

using ::commvq::testing::Payload;

TEST(CommvqKeyQuantizerTest, LayoutCountsCodesAndNorm) {
  // Few samples: only the layout is checked, and training time grows with
  // them (21 stages of 4096 codes; minutes under ASan at 300).
  const std::vector<float> samples = RandomRows(16, 256, 2);
  struct Expected {
    std::string spec;
    int64_t stages;
  };
  // dim 256: head_dim 128 with 2 heads, 64 with 4.
  for (const Expected& e :
       {Expected{"commvq_key:num_kv_heads=2", 11},
        Expected{"commvq_key:num_kv_heads=4", 5},
        Expected{"commvq_key:num_kv_heads=2,stages=21", 21},
        Expected{"commvq_key:num_kv_heads=4,half_bits=3", 11}}) {
    SCOPED_TRACE(e.spec);
    CVQ_ASSERT_OK_AND_ASSIGN(auto q, Train(e.spec, samples, 256));
    const int64_t heads = e.spec.find("heads=2") != std::string::npos ? 2 : 4;
    const int64_t half_bits =
        e.spec.find("half_bits=3") != std::string::npos ? 3 : 6;
    const int64_t code_bits = heads * e.stages * 2 * half_bits;
    EXPECT_EQ(q->layout().code_bits, code_bits);
    EXPECT_EQ(q->layout().code_bytes, (code_bits + 7) / 8);
    EXPECT_EQ(q->layout().side_bytes, 2);
    EXPECT_EQ(q->layout().block_vectors, 1);
    EXPECT_EQ(q->StoredBytes(10), 10 * ((code_bits + 7) / 8 + 2));
    if (code_bits % 8 == 0) {
      EXPECT_DOUBLE_EQ(q->layout().BitsPerElement(),
                       static_cast<double>(code_bits + 16) / 256.0);
    }
    EXPECT_EQ(q->ParameterBytes(),
              heads * e.stages * (256 / heads / 2) * (1 << half_bits) * 2 * 4);
  }
}

TEST(CommvqKeyQuantizerTest, RoundTripReducesTheErrorWithMoreStages) {
  const std::vector<float> train = RandomRows(1000, 64, 3);
  const std::vector<float> test = RandomRows(100, 64, 4);
  double previous = 1.0;
  for (int stages : {1, 4, 8}) {
    CVQ_ASSERT_OK_AND_ASSIGN(
        auto q, Train(absl::StrCat("commvq_key:half_bits=4,stages=", stages),
                      train, 64));
    const double error =
        RelativeSquaredError(test, RoundTrip(*q, test).decoded);
    EXPECT_LT(error, previous) << stages << " stages";
    previous = error;
  }
}

TEST(CommvqKeyQuantizerTest, ZeroVectorHasZeroNormAndCodes) {
  CVQ_ASSERT_OK_AND_ASSIGN(auto q, Train("commvq_key:num_kv_heads=2",
                                         RandomRows(200, 64, 5), 64));
  const std::vector<float> zero(64, 0.0f);
  const testing::Encoded e = RoundTrip(*q, zero);
  EXPECT_EQ(e.side, std::vector<uint8_t>(2, 0));
  EXPECT_EQ(e.codes, std::vector<uint8_t>(q->layout().code_bytes, 0));
  EXPECT_EQ(e.decoded, zero);
}

TEST(CommvqKeyQuantizerTest, TrainingIsDeterministicAcrossThreads) {
  const std::vector<float> samples = RandomRows(500, 64, 6);
  ThreadPool pool(4);
  CVQ_ASSERT_OK_AND_ASSIGN(auto serial,
                           Train("commvq_key:num_kv_heads=2", samples, 64));
  CVQ_ASSERT_OK_AND_ASSIGN(
      auto parallel, Train("commvq_key:num_kv_heads=2", samples, 64, 1, &pool));
  CVQ_ASSERT_OK_AND_ASSIGN(auto other_seed,
                           Train("commvq_key:num_kv_heads=2", samples, 64, 2));
  EXPECT_EQ(Payload(*parallel), Payload(*serial));
  EXPECT_NE(Payload(*other_seed), Payload(*serial));
}

TEST(CommvqKeyQuantizerTest, SerializationRoundTripGivesIdenticalCodes) {
  for (const char* spec : {"commvq_key:num_kv_heads=2,layout=half",
                           "commvq_key:half_bits=4,stages=3"}) {
    SCOPED_TRACE(spec);
    CVQ_ASSERT_OK_AND_ASSIGN(auto q, Train(spec, RandomRows(300, 64, 7), 64));
    const std::string payload = Payload(*q);
    EXPECT_EQ(static_cast<int64_t>(payload.size()),
              kHeaderBytes + q->ParameterBytes());
    CVQ_ASSERT_OK_AND_ASSIGN(auto restored, Deserialize(spec, 64, payload));
    EXPECT_EQ(Payload(*restored), payload);
    const std::vector<float> x = RandomRows(50, 64, 8);
    const testing::Encoded a = RoundTrip(*q, x);
    const testing::Encoded b = RoundTrip(*restored, x);
    EXPECT_EQ(a.codes, b.codes);
    EXPECT_EQ(a.side, b.side);
    EXPECT_EQ(a.decoded, b.decoded);
  }
}

class CorruptPayloadTest : public ::testing::Test {
 protected:
  static constexpr char kSpec[] = "commvq_key:half_bits=2,stages=2";
  void SetUp() override {
    CVQ_ASSERT_OK_AND_ASSIGN(auto q, Train(kSpec, RandomRows(100, 8, 9), 8));
    payload_ = Payload(*q);
    // 2 stages of 4 pairs x 4 values x 2 floats.
    ASSERT_EQ(payload_.size(), kHeaderBytes + 2 * 4 * 4 * 2 * 4);
  }
  // The payload with u32 header field `index` set to `value`.
  std::string WithHeaderField(int index, uint32_t value) const {
    std::string payload = payload_;
    std::memcpy(&payload[4 * index], &value, 4);
    return payload;
  }
  std::string payload_;
};

TEST_F(CorruptPayloadTest, RejectsWrongHeaderFields) {
  EXPECT_THAT(Deserialize(kSpec, 8, WithHeaderField(0, 2)),
              StatusIs(kInvalid, HasSubstr("num_kv_heads 2: expected 1")));
  EXPECT_THAT(Deserialize(kSpec, 8, WithHeaderField(1, 4)),
              StatusIs(kInvalid, HasSubstr("head_dim 4: expected 8")));
  EXPECT_THAT(Deserialize(kSpec, 8, WithHeaderField(2, 3)),
              StatusIs(kInvalid, HasSubstr("half_bits 3: expected 2")));
  EXPECT_THAT(Deserialize(kSpec, 8, WithHeaderField(3, 1)),
              StatusIs(kInvalid, HasSubstr("stages 1: expected 2")));
  EXPECT_THAT(Deserialize(kSpec, 8, WithHeaderField(4, 1)),
              StatusIs(kInvalid, HasSubstr("layout 1: expected 2")));
}

TEST_F(CorruptPayloadTest, RejectsWrongSizesAndNonFiniteValues) {
  EXPECT_THAT(Deserialize(kSpec, 8, payload_.substr(0, 10)),
              StatusIs(kInvalid, HasSubstr("truncated")));
  EXPECT_THAT(Deserialize(kSpec, 8, payload_.substr(0, payload_.size() - 4)),
              StatusIs(kInvalid, HasSubstr("expected 256")));
  EXPECT_THAT(Deserialize(kSpec, 8, payload_ + "x"),
              StatusIs(kInvalid, HasSubstr("expected 256")));
  std::string nan = payload_;
  const float value = std::numeric_limits<float>::quiet_NaN();
  // Stage 1, pair 2, value 3, y: float 32 + (2 * 4 + 3) * 2 + 1.
  std::memcpy(&nan[kHeaderBytes + 4 * (32 + 23)], &value, 4);
  EXPECT_THAT(Deserialize(kSpec, 8, nan),
              StatusIs(kInvalid, HasSubstr("codebook of head 0, stage 1: key "
                                           "codebook: y of pair 2, value 3 "
                                           "is nan")));
}

TEST(CommvqKeyQuantizerTest, CraftedHugeShapesAreRejectedNotAllocated) {
  // 65536 heads of 2^31 channels would claim 2^80 codebook bytes; the
  // header-sized payload must be refused before any size is computed.
  const std::string header(kHeaderBytes, '\0');
  EXPECT_THAT(Deserialize("commvq_key:num_kv_heads=65536,half_bits=1",
                          int64_t{1} << 47, header),
              StatusIs(kInvalid, HasSubstr("head_dim 2147483648 exceeds the "
                                           "supported maximum 4096")));
}

TEST(CommvqKeyQuantizerTest, OptionsMustFitTheDim) {
  const std::vector<float> odd = RandomRows(100, 63, 10);
  EXPECT_THAT(Train("commvq_key", odd, 63),
              StatusIs(kInvalid, HasSubstr("is 63: expected an even number")));
  EXPECT_THAT(
      Train("commvq_key:num_kv_heads=2", odd, 63),
      StatusIs(kInvalid, HasSubstr("dim 63 is not a positive multiple of "
                                   "num_kv_heads 2")));
  EXPECT_THAT(Train("commvq_key:num_kv_heads=4", RandomRows(10, 36, 11), 36),
              StatusIs(kInvalid, HasSubstr("is 9: expected an even number")));
  EXPECT_THAT(Train("commvq_key", {}, 64),
              StatusIs(kInvalid, HasSubstr("no training samples")));
  EXPECT_THAT(Resolve("commvq_key:half_bits=9"),
              StatusIs(kInvalid, HasSubstr("half_bits")));
  EXPECT_THAT(Resolve("commvq_key:layout=diagonal"),
              StatusIs(kInvalid, HasSubstr("layout")));
}


// Params of 2 heads of head_dim 8, half_bits 3, 2 stages, half layout, with
// normal codebook values from `seed`.
KeyQuantizerParams HandMadeParams(uint64_t seed) {
  KeyQuantizerParams params;
  params.num_kv_heads = 2;
  params.stages = 2;
  params.shape.head_dim = 8;
  params.shape.half_bits = 3;
  params.shape.layout = PairLayout::kHalf;
  Rng rng(seed);
  for (int k = 0; k < 4; ++k) {
    std::vector<float> z(params.shape.num_floats());
    rng.FillNormal(absl::MakeSpan(z), 0.0f, k < 2 ? 0.2f : 0.05f);
    absl::StatusOr<KeyCodebook> codebook =
        KeyCodebook::Create(params.shape, std::move(z));
    EXPECT_THAT(codebook, IsOk());
    params.codebooks.push_back(*std::move(codebook));
  }
  return params;
}

constexpr char kHandMadeSpec[] =
    "commvq_key:num_kv_heads=2,layout=half,half_bits=3,stages=2";

TEST(MakeCommvqKeyQuantizerTest, BuildsAQuantizerFromGivenCodebooks) {
  const KeyQuantizerParams params = HandMadeParams(21);
  CVQ_ASSERT_OK_AND_ASSIGN(auto q,
                           MakeCommvqKeyQuantizer(kHandMadeSpec, 16, params));
  EXPECT_EQ(q->spec(), kHandMadeSpec);
  EXPECT_EQ(q->dim(), 16);
  EXPECT_EQ(q->layout().code_bits, 2 * 2 * 6);
  EXPECT_EQ(q->ParameterBytes(), params.codebook_bytes());
  // The payload holds exactly the given codebooks, in (head, stage) order.
  const std::string payload = Payload(*q);
  ASSERT_EQ(static_cast<int64_t>(payload.size()),
            kHeaderBytes + params.codebook_bytes());
  std::string expected;
  for (const KeyCodebook& codebook : params.codebooks) {
    expected.append(reinterpret_cast<const char*>(codebook.z().data()),
                    codebook.z().size() * sizeof(float));
  }
  EXPECT_EQ(payload.substr(kHeaderBytes), expected);
  // It round-trips like a trained one, and Deserialize rebuilds it.
  const std::vector<float> x = RandomRows(40, 16, 22);
  const testing::Encoded a = RoundTrip(*q, x);
  EXPECT_LT(RelativeSquaredError(x, a.decoded), 1.0);
  CVQ_ASSERT_OK_AND_ASSIGN(auto restored,
                           Deserialize(kHandMadeSpec, 16, payload));
  const testing::Encoded b = RoundTrip(*restored, x);
  EXPECT_EQ(a.codes, b.codes);
  EXPECT_EQ(a.decoded, b.decoded);
  // stages=0 resolves to round(8 / 6) = 1 stage.
  KeyQuantizerParams one_stage = HandMadeParams(23);
  one_stage.stages = 1;
  one_stage.codebooks = {one_stage.codebooks[0], one_stage.codebooks[2]};
  EXPECT_THAT(
      MakeCommvqKeyQuantizer("commvq_key:num_kv_heads=2,layout=half,"
                             "half_bits=3",
                             16, one_stage),
      IsOk());
}

TEST(MakeCommvqKeyQuantizerTest, RejectsParamsThatDoNotMatchTheSpec) {
  const KeyQuantizerParams good = HandMadeParams(24);
  EXPECT_THAT(MakeCommvqKeyQuantizer("rvq:stages=2", 16, good),
              StatusIs(kInvalid, HasSubstr("expected 'commvq_key'")));
  EXPECT_THAT(MakeCommvqKeyQuantizer(kHandMadeSpec, 15, good),
              StatusIs(kInvalid, HasSubstr("not a positive multiple")));
  EXPECT_THAT(MakeCommvqKeyQuantizer(kHandMadeSpec, 32, good),
              StatusIs(kInvalid, HasSubstr("head_dim is 8: expected 16")));
  EXPECT_THAT(
      MakeCommvqKeyQuantizer("commvq_key:num_kv_heads=2,half_bits=3,stages=2",
                             16, good),
      StatusIs(kInvalid, HasSubstr("layout is 1: expected 2")));
  EXPECT_THAT(MakeCommvqKeyQuantizer(
                  "commvq_key:num_kv_heads=2,layout=half,half_bits=4,stages=2",
                  16, good),
              StatusIs(kInvalid, HasSubstr("half_bits is 3: expected 4")));
  EXPECT_THAT(MakeCommvqKeyQuantizer(
                  "commvq_key:num_kv_heads=2,layout=half,half_bits=3,stages=3",
                  16, good),
              StatusIs(kInvalid, HasSubstr("stages is 2: expected 3")));
  EXPECT_THAT(
      MakeCommvqKeyQuantizer(
          "commvq_key:num_kv_heads=1,layout=half,half_bits=3,stages=2", 8,
          good),
      StatusIs(kInvalid, HasSubstr("num_kv_heads is 2: expected 1")));
  KeyQuantizerParams missing = good;
  missing.codebooks.pop_back();
  EXPECT_THAT(MakeCommvqKeyQuantizer(kHandMadeSpec, 16, missing),
              StatusIs(kInvalid, HasSubstr("codebook count is 3: expected 4")));
  KeyQuantizerParams wrong_shape = good;
  KeyCodebookShape other = good.shape;
  other.layout = PairLayout::kInterleaved;
  CVQ_ASSERT_OK_AND_ASSIGN(
      wrong_shape.codebooks[3],
      KeyCodebook::Create(other, std::vector<float>(other.num_floats())));
  EXPECT_THAT(MakeCommvqKeyQuantizer(kHandMadeSpec, 16, wrong_shape),
              StatusIs(kInvalid, HasSubstr("codebook of head 1, stage 1")));
}

}  // namespace
}  // namespace commvq
