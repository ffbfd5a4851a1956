// The conformance suite: every quantizer configuration registered in
// QuantizerRegistry::Default() must honour the contract of
// commvq/quantizer/quantizer.h. The cases are generated from the registry
// (each factory's example specs, after loading the example plugin), so a newly
// registered quantizer or plugin is covered without new test code.
//
// Runs under ThreadSanitizer in CI: the test itself synchronizes with
// std::thread and std::mutex only.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "commvq/base/random.h"
#include "commvq/base/status_matchers.h"
#include "commvq/base/thread_pool.h"
#include "commvq/quantizer/quantizer.h"
#include "commvq/quantizer/quantizer_spec.h"
#include "commvq/registry/plugin_loader.h"
#include "commvq/registry/registry.h"
#include "commvq/tensor/tensor_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::IsOk;
using ::commvq::testing::IsOkAndHolds;
using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

constexpr int64_t kDim = 64;
// 64 * bits is a whole number of bytes for every bit width, so at kDim no
// code row has padding bits; at 63 the rows of 1-, 2- and 4-bit codes do.
constexpr int64_t kOddDim = 63;
constexpr int64_t kTrainRows = 512;
// Encoded in one call, so a quantizer's block size must divide it.
constexpr int64_t kTestRows = 256;
// Quantizer::Encode and Decode run up to 256 vectors inline even when given
// a pool; 1024 rows give a ThreadPool(4) four chunks.
constexpr int64_t kBatchRows = 1024;
static_assert(kBatchRows % kTestRows == 0,
              "block sizes dividing kTestRows must divide kBatchRows too");
constexpr uint64_t kSeed = 0x5eed;

// The example plugin, loaded into the default registry once per process. The
// status is kept rather than acted on where cases are generated: a missing
// plugin must fail ExamplePluginIsLoaded, not silently drop its cases.
const absl::Status& ExamplePluginStatus() {
  static const absl::Status* const status = [] {
    const char* srcdir = std::getenv("TEST_SRCDIR");
    if (srcdir == nullptr) {
      return new absl::Status(absl::FailedPreconditionError(
          "TEST_SRCDIR is not set: run this test with `bazel test`, which "
          "provides the example plugin in the runfiles"));
    }
    return new absl::Status(LoadQuantizerPlugin(
        absl::StrCat(srcdir, "/commvq/testing/plugins/libsign_plugin.so"),
        QuantizerRegistry::Default()));
  }();
  return *status;
}

// The test parameter: a spec as a factory lists it. Printed bare, so
// gtest's value_param() is the spec itself.
struct ConformanceCase {
  std::string spec;
};

void PrintTo(const ConformanceCase& c, std::ostream* os) { *os << c.spec; }

// Every example spec of every registered quantizer, or its bare name when it
// lists none.
std::vector<ConformanceCase> ConformanceCases() {
  // Checked by ExamplePluginIsLoaded.
  ExamplePluginStatus().IgnoreError();
  std::vector<ConformanceCase> cases;
  for (const QuantizerDescription* d : QuantizerRegistry::Default().List()) {
    if (d->example_specs.empty()) cases.push_back({d->name});
    for (const std::string& spec : d->example_specs) cases.push_back({spec});
  }
  return cases;
}

std::string CaseName(const ::testing::TestParamInfo<ConformanceCase>& info) {
  std::string name = info.param.spec;
  for (char& c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

// [rows, dim] rows shaped like a KV cache: each channel has its own mean and
// scale, every 16th channel is an outlier (10x the scale, a mean of +-5),
// and tokens differ in magnitude.
std::vector<float> KvLikeRows(int64_t rows, int64_t dim, uint64_t seed) {
  // Channel statistics come from one fixed stream, so that training and test
  // rows share a distribution (what learned codebooks rely on).
  Rng channel_rng(kSeed);
  std::vector<float> mean(dim);
  std::vector<float> scale(dim);
  for (int64_t c = 0; c < dim; ++c) {
    const bool outlier = c % 16 == 3;
    const float outlier_mean = (c / 16) % 2 == 0 ? 5.0f : -5.0f;
    mean[c] =
        outlier ? outlier_mean : static_cast<float>(0.3 * channel_rng.Normal());
    scale[c] = static_cast<float>((outlier ? 10.0 : 1.0) *
                                  (0.5 + channel_rng.Uniform()));
  }
  Rng rng(seed);
  std::vector<float> x(rows * dim);
  rng.FillNormal(absl::MakeSpan(x), 0.0f, 1.0f);
  for (int64_t r = 0; r < rows; ++r) {
    const float token_scale = static_cast<float>(0.5 + rng.Uniform());
    for (int64_t c = 0; c < dim; ++c) {
      float& value = x[r * dim + c];
      value = mean[c] + scale[c] * token_scale * value;
    }
  }
  return x;
}

// Rows a cache really holds and that break range-based scales: all-zero rows
// (empty slots) and a constant row, both with a zero range. Rows 0, 1 and 97
// share blocks of 32 with ordinary rows.
void AddSpecialRows(std::vector<float>& x, int64_t dim) {
  for (int64_t row : {0, 1, 97}) {
    std::fill_n(x.begin() + row * dim, dim, 0.0f);
  }
  std::fill_n(x.begin() + 130 * dim, dim, -2.5f);
}

struct Dataset {
  int64_t dim;
  std::vector<float> train;  // [kTrainRows, dim]
  std::vector<float> test;   // [kTestRows, dim]
  std::vector<float> batch;  // [kBatchRows, dim], for thread pools
};

Dataset MakeDataset(int64_t dim) {
  Dataset data{dim, KvLikeRows(kTrainRows, dim, kSeed + 1),
               KvLikeRows(kTestRows, dim, kSeed + 2),
               KvLikeRows(kBatchRows, dim, kSeed + 3)};
  AddSpecialRows(data.test, dim);
  AddSpecialRows(data.batch, dim);
  return data;
}

const Dataset& MainData() {
  static const Dataset* const data = new Dataset(MakeDataset(kDim));
  return *data;
}

const Dataset& OddDimData() {
  static const Dataset* const data = new Dataset(MakeDataset(kOddDim));
  return *data;
}

absl::StatusOr<std::unique_ptr<Quantizer>> Train(absl::string_view spec,
                                                 const Dataset& data) {
  TrainOptions options;
  options.seed = kSeed;
  return QuantizerRegistry::Default().Train(
      spec, TensorView(data.train.data(), DType::kF32, {kTrainRows, data.dim}),
      options);
}

// Bytes after each buffer of a CodedBatch that no call may write.
constexpr int64_t kGuardBytes = 64;
constexpr uint8_t kGuardByte = 0xa5;

// Codes, side data and decoded output of `num_vectors` vectors for one
// quantizer. Each buffer starts out as `fill` bytes, so tests can tell which
// bytes a call wrote (0xff bytes read as NaN floats), and is followed by
// guard bytes outside the views handed to Encode and Decode.
class CodedBatch {
 public:
  CodedBatch(const Quantizer& q, int64_t num_vectors, uint8_t fill)
      : q_(q),
        num_vectors_(num_vectors),
        codes_(Guarded(num_vectors * q.layout().code_bytes, fill)),
        side_(Guarded(
            num_vectors / q.layout().block_vectors * q.layout().side_bytes,
            fill)),
        output_(Guarded(num_vectors * q.dim() * sizeof(float), fill)) {}

  // `x`: [num_vectors, dim].
  absl::Status Encode(const std::vector<float>& x, ThreadPool* pool = nullptr) {
    return q_.Encode(
        TensorView(x.data(), DType::kF32, {num_vectors_, q_.dim()}),
        CodesView(), SideView(), pool);
  }

  absl::Status Decode(ThreadPool* pool = nullptr) {
    return q_.Decode(CodesView(), SideView(), OutputView(), pool);
  }

  // Replaces the encoded bytes (sizes as codes() and side()).
  void SetEncoded(const std::vector<uint8_t>& codes,
                  const std::vector<uint8_t>& side) {
    std::copy(codes.begin(), codes.end(), codes_.begin());
    std::copy(side.begin(), side.end(), side_.begin());
  }

  // What the views cover, guards excluded.
  std::vector<uint8_t> codes() const { return Unguarded(codes_); }
  std::vector<uint8_t> side() const { return Unguarded(side_); }
  std::vector<uint8_t> output_bytes() const { return Unguarded(output_); }
  std::vector<float> decoded() const {
    std::vector<float> out(num_vectors_ * q_.dim());
    std::memcpy(out.data(), output_.data(), out.size() * sizeof(float));
    return out;
  }

  bool GuardsIntact() const {
    return GuardIntact(codes_) && GuardIntact(side_) && GuardIntact(output_);
  }

 private:
  static std::vector<uint8_t> Guarded(int64_t size, uint8_t fill) {
    std::vector<uint8_t> bytes(size + kGuardBytes, kGuardByte);
    std::fill_n(bytes.begin(), size, fill);
    return bytes;
  }
  static std::vector<uint8_t> Unguarded(const std::vector<uint8_t>& bytes) {
    return std::vector<uint8_t>(bytes.begin(), bytes.end() - kGuardBytes);
  }
  static bool GuardIntact(const std::vector<uint8_t>& bytes) {
    return std::all_of(bytes.end() - kGuardBytes, bytes.end(),
                       [](uint8_t b) { return b == kGuardByte; });
  }

  MutableTensorView CodesView() {
    return MutableTensorView(codes_.data(), DType::kU8,
                             {num_vectors_, q_.layout().code_bytes});
  }
  MutableTensorView SideView() {
    return MutableTensorView(
        side_.data(), DType::kU8,
        {num_vectors_ / q_.layout().block_vectors, q_.layout().side_bytes});
  }
  // std::vector's storage is aligned for any fundamental type, float too.
  MutableTensorView OutputView() {
    return MutableTensorView(output_.data(), DType::kF32,
                             {num_vectors_, q_.dim()});
  }

  const Quantizer& q_;
  int64_t num_vectors_;
  std::vector<uint8_t> codes_;
  std::vector<uint8_t> side_;
  std::vector<uint8_t> output_;
};

// Equality of large buffers, reported as the first differing byte and the
// number of differing bytes rather than as two dumps.
void ExpectSameBytes(const std::vector<uint8_t>& actual,
                     const std::vector<uint8_t>& expected,
                     absl::string_view what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  const auto first =
      std::mismatch(actual.begin(), actual.end(), expected.begin());
  if (first.first == actual.end()) return;
  int64_t differing = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    differing += actual[i] != expected[i];
  }
  ADD_FAILURE() << what << ": " << differing << " of " << actual.size()
                << " bytes differ, the first at byte "
                << (first.first - actual.begin()) << ": "
                << static_cast<int>(*first.first) << " vs "
                << static_cast<int>(*first.second);
}

void ExpectSameEncoding(const CodedBatch& actual, const CodedBatch& expected) {
  ExpectSameBytes(actual.codes(), expected.codes(), "codes");
  ExpectSameBytes(actual.side(), expected.side(), "side");
  ExpectSameBytes(actual.output_bytes(), expected.output_bytes(),
                  "decoded output");
}

auto LayoutFields(const CodeLayout& l) {
  return std::make_tuple(l.dim, l.code_bits, l.code_bytes, l.side_bytes,
                         l.block_vectors);
}

class QuantizerConformanceTest
    : public ::testing::TestWithParam<ConformanceCase> {
 protected:
  void SetUp() override {
    CVQ_ASSERT_OK_AND_ASSIGN(q_, Train(GetParam().spec, MainData()));
    const int64_t block = q_->layout().block_vectors;
    ASSERT_GE(block, 1);
    ASSERT_EQ(kTestRows % block, 0)
        << q_->spec() << " encodes blocks of " << block
        << " vectors, which do not divide the " << kTestRows
        << " test rows: change kTestRows to a multiple of every block size";
  }

  std::unique_ptr<Quantizer> q_;
};

TEST_P(QuantizerConformanceTest, RoundTripIsWithinTheStatedBound) {
  const Dataset& data = MainData();
  CodedBatch batch(*q_, kTestRows, 0xff);
  ASSERT_THAT(batch.Encode(data.test), IsOk());
  ASSERT_THAT(batch.Decode(), IsOk());
  const std::vector<float> decoded = batch.decoded();
  // The output started as NaN, so this also catches elements never written.
  for (size_t i = 0; i < decoded.size(); ++i) {
    ASSERT_TRUE(std::isfinite(decoded[i]))
        << "decoded element [" << i / kDim << ", " << i % kDim << "] is "
        << decoded[i];
  }

  const int64_t block_elements = q_->layout().block_vectors * kDim;
  double error = 0.0;
  double energy = 0.0;
  bool unbounded = false;
  for (int64_t b = 0; b < kTestRows * kDim / block_elements; ++b) {
    const float* x = data.test.data() + b * block_elements;
    double block_error = 0.0;
    for (int64_t i = 0; i < block_elements; ++i) {
      const double diff = double{x[i]} - decoded[b * block_elements + i];
      block_error += diff * diff;
      energy += double{x[i]} * x[i];
    }
    error += block_error;
    const double bound = q_->SquaredErrorBound(x);
    if (bound == std::numeric_limits<double>::infinity()) {
      unbounded = true;
    } else {
      EXPECT_LE(block_error, bound) << "block " << b;
    }
  }
  // Without a guarantee, at least beat decoding everything as zero.
  if (unbounded) {
    EXPECT_LT(error / energy, 1.0) << "relative MSE over the test rows";
  }
}

TEST_P(QuantizerConformanceTest, SerializationRestoresAnIdenticalQuantizer) {
  CVQ_ASSERT_OK_AND_ASSIGN(const std::string bytes, q_->Serialize());
  EXPECT_THAT(q_->Serialize(), IsOkAndHolds(bytes)) << "not deterministic";

  CVQ_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Quantizer> restored,
                           QuantizerRegistry::Default().Deserialize(bytes));
  EXPECT_EQ(restored->spec(), q_->spec());
  EXPECT_EQ(LayoutFields(restored->layout()), LayoutFields(q_->layout()));
  EXPECT_EQ(restored->ParameterBytes(), q_->ParameterBytes());
  EXPECT_THAT(restored->Serialize(), IsOkAndHolds(bytes));

  const std::vector<float>& x = MainData().test;
  CodedBatch original(*q_, kTestRows, 0x00);
  CodedBatch copy(*restored, kTestRows, 0x00);
  ASSERT_THAT(original.Encode(x), IsOk());
  ASSERT_THAT(original.Decode(), IsOk());
  ASSERT_THAT(copy.Encode(x), IsOk());
  ASSERT_THAT(copy.Decode(), IsOk());
  ExpectSameEncoding(copy, original);

  // Training is a function of the samples and the seed alone.
  CVQ_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Quantizer> retrained,
                           Train(GetParam().spec, MainData()));
  EXPECT_THAT(retrained->Serialize(), IsOkAndHolds(bytes));
}

// The layout arithmetic matches what Encode writes: all of the codes and side
// buffers of StoredBytes(n) bytes (encoding into 0x00 and 0xff gives the same
// bytes), nothing past them, and zero padding bits after code_bits.
void ExpectHonestStoredBytes(const Quantizer& q, const std::vector<float>& x) {
  SCOPED_TRACE(absl::StrCat("dim ", q.dim()));
  const CodeLayout& layout = q.layout();
  EXPECT_EQ(layout.code_bytes, (layout.code_bits + 7) / 8);
  const int64_t n = static_cast<int64_t>(x.size()) / q.dim();
  for (int64_t count : {int64_t{0}, layout.block_vectors, n}) {
    EXPECT_EQ(q.StoredBytes(count),
              count * layout.code_bytes +
                  count / layout.block_vectors * layout.side_bytes)
        << count << " vectors";
  }

  CodedBatch zeros(q, n, 0x00);
  CodedBatch ones(q, n, 0xff);
  ASSERT_THAT(zeros.Encode(x), IsOk());
  ASSERT_THAT(ones.Encode(x), IsOk());
  EXPECT_EQ(q.StoredBytes(n),
            static_cast<int64_t>(zeros.codes().size() + zeros.side().size()));
  ExpectSameBytes(ones.codes(), zeros.codes(), "codes (0xff vs 0x00 fill)");
  ExpectSameBytes(ones.side(), zeros.side(), "side (0xff vs 0x00 fill)");
  EXPECT_TRUE(zeros.GuardsIntact());
  EXPECT_TRUE(ones.GuardsIntact());

  if (layout.code_bytes == 0) return;
  // Only the last byte of a row can hold padding: code_bytes is minimal.
  const int64_t bits_in_last_byte =
      layout.code_bits - 8 * (layout.code_bytes - 1);
  const uint8_t padding = static_cast<uint8_t>(0xff << bits_in_last_byte);
  const std::vector<uint8_t> codes = ones.codes();
  int64_t dirty_rows = 0;
  int64_t first_dirty_row = -1;
  for (int64_t row = 0; row < n; ++row) {
    if ((codes[(row + 1) * layout.code_bytes - 1] & padding) == 0) continue;
    if (dirty_rows++ == 0) first_dirty_row = row;
  }
  EXPECT_EQ(dirty_rows, 0) << "code rows with set padding bits (mask "
                           << static_cast<int>(padding)
                           << "), the first is row " << first_dirty_row;
}

TEST_P(QuantizerConformanceTest, StoredBytesAreHonest) {
  ExpectHonestStoredBytes(*q_, MainData().test);
  // Padding bits only exist at a dim like kOddDim. A spec whose options do
  // not fit it must refuse it as QuantizerFactory::Train promises.
  absl::StatusOr<std::unique_ptr<Quantizer>> odd =
      Train(GetParam().spec, OddDimData());
  if (!odd.ok()) {
    EXPECT_THAT(odd, StatusIs(kInvalid, ::testing::_));
    return;
  }
  ExpectHonestStoredBytes(**odd, OddDimData().test);
}

TEST_P(QuantizerConformanceTest, ConcurrentUseMatchesSerialUse) {
  const std::vector<float>& x = MainData().batch;
  CodedBatch serial(*q_, kBatchRows, 0x00);
  ASSERT_THAT(serial.Encode(x), IsOk());
  ASSERT_THAT(serial.Decode(), IsOk());

  // Different fills than `serial`, so identical bytes mean written bytes.
  constexpr int kThreads = 8;
  std::vector<std::unique_ptr<CodedBatch>> batches;
  for (int i = 0; i < kThreads; ++i) {
    batches.push_back(std::make_unique<CodedBatch>(*q_, kBatchRows, 0xff));
  }
  std::vector<absl::Status> encoded(kThreads);
  std::vector<absl::Status> decoded(kThreads);
  {
    // Held until every thread exists, so that they run at the same time
    // rather than one after another as they are started.
    std::mutex start_gate;
    std::unique_lock<std::mutex> start(start_gate);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        { std::lock_guard<std::mutex> wait(start_gate); }
        encoded[i] = batches[i]->Encode(x);
        decoded[i] = batches[i]->Decode();
      });
    }
    start.unlock();
    for (std::thread& t : threads) t.join();
  }
  for (int i = 0; i < kThreads; ++i) {
    SCOPED_TRACE(absl::StrCat("thread ", i));
    EXPECT_THAT(encoded[i], IsOk());
    EXPECT_THAT(decoded[i], IsOk());
    ExpectSameEncoding(*batches[i], serial);
  }

  ThreadPool pool(4);
  CodedBatch pooled(*q_, kBatchRows, 0xff);
  ASSERT_THAT(pooled.Encode(x, &pool), IsOk());
  ASSERT_THAT(pooled.Decode(&pool), IsOk());
  SCOPED_TRACE("ThreadPool(4)");
  ExpectSameEncoding(pooled, serial);
}

// Decode's contract covers only what Encode produced; for arbitrary bytes
// (a corrupt cache) every quantizer can still promise memory safety (ASan
// checks reads; the guards check writes) and a result that depends on the
// bytes alone: the same status, and when OK the same output whatever the
// output buffer held before, so every element is written. Finite or even
// non-NaN output is NOT promised: fp16, bf16 and fp8 codes and the fp16
// scales of int and kivi have bit patterns for inf and NaN that Encode never
// produces, and decoding them faithfully yields inf or NaN.
TEST_P(QuantizerConformanceTest, DecodingArbitraryBytesIsSafeAndDeterministic) {
  Rng rng(kSeed);
  for (int trial = 0; trial < 4; ++trial) {
    SCOPED_TRACE(absl::StrCat("trial ", trial));
    CodedBatch zeros(*q_, kTestRows, 0x00);
    CodedBatch ones(*q_, kTestRows, 0xff);
    std::vector<uint8_t> codes = zeros.codes();
    std::vector<uint8_t> side = zeros.side();
    for (uint8_t& byte : codes) byte = static_cast<uint8_t>(rng.NextU64());
    for (uint8_t& byte : side) byte = static_cast<uint8_t>(rng.NextU64());
    zeros.SetEncoded(codes, side);
    ones.SetEncoded(codes, side);

    const absl::Status status = zeros.Decode();
    EXPECT_EQ(ones.Decode(), status);
    EXPECT_TRUE(zeros.GuardsIntact());
    EXPECT_TRUE(ones.GuardsIntact());
    if (status.ok()) {
      ExpectSameBytes(ones.output_bytes(), zeros.output_bytes(),
                      "decoded output (0xff vs 0x00 fill)");
    } else {
      EXPECT_FALSE(status.message().empty()) << status;
    }
  }
}

TEST_P(QuantizerConformanceTest, EncodeRejectsNonFiniteInputNamingTheElement) {
  std::vector<float> x = MainData().batch;
  // In the third and fourth of four pool chunks: the error names the first
  // bad element whatever the scheduling.
  x[700 * kDim + 5] = std::numeric_limits<float>::quiet_NaN();
  x[900 * kDim + 7] = std::numeric_limits<float>::infinity();
  ThreadPool pool(4);
  for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
    SCOPED_TRACE(p == nullptr ? "serial" : "ThreadPool(4)");
    CodedBatch batch(*q_, kBatchRows, 0x00);
    EXPECT_THAT(
        batch.Encode(x, p),
        StatusIs(kInvalid, HasSubstr("input: element [700, 5] is nan")));
  }
}

TEST_P(QuantizerConformanceTest, WrongCodesShapeIsInvalidArgument) {
  const int64_t n = kTestRows;
  const int64_t block = q_->layout().block_vectors;
  const int64_t code_bytes = q_->layout().code_bytes;
  // Room for every shape tried, so a quantizer that skipped the checks would
  // still stay in bounds.
  std::vector<uint8_t> codes((n + block) * (code_bytes + 1));
  std::vector<uint8_t> side(n / block * q_->layout().side_bytes);
  std::vector<float> output(n * kDim);
  const TensorView input(MainData().test.data(), DType::kF32, {n, kDim});
  const MutableTensorView good_side(side.data(), DType::kU8,
                                    {n / block, q_->layout().side_bytes});
  const MutableTensorView good_output(output.data(), DType::kF32, {n, kDim});
  const auto wrong_shape =
      StatusIs(kInvalid, HasSubstr("codes: expected shape"));

  for (const Shape& shape : {Shape{n, code_bytes + 1}, Shape{n * code_bytes}}) {
    SCOPED_TRACE(ShapeToString(shape));
    const MutableTensorView bad_codes(codes.data(), DType::kU8, shape);
    EXPECT_THAT(q_->Encode(input, bad_codes, good_side), wrong_shape);
    EXPECT_THAT(q_->Decode(bad_codes, good_side, good_output), wrong_shape);
  }
  // Decode takes n from the codes; Encode must match them to the input.
  EXPECT_THAT(q_->Encode(input,
                         MutableTensorView(codes.data(), DType::kU8,
                                           {n + block, code_bytes}),
                         good_side),
              wrong_shape);
}

INSTANTIATE_TEST_SUITE_P(AllRegistered, QuantizerConformanceTest,
                         ::testing::ValuesIn(ConformanceCases()), CaseName);

TEST(QuantizerConformanceCasesTest, ExamplePluginIsLoaded) {
  EXPECT_THAT(ExamplePluginStatus(), IsOk());
}

// Reads the cases gtest actually instantiated (not what ConformanceCases()
// would return now), so that the suite cannot silently run nothing for a
// registered quantizer.
TEST(QuantizerConformanceCasesTest, EveryRegisteredQuantizerHasACase) {
  std::set<std::string> covered;
  const ::testing::UnitTest& unit = *::testing::UnitTest::GetInstance();
  for (int i = 0; i < unit.total_test_suite_count(); ++i) {
    const ::testing::TestSuite& suite = *unit.GetTestSuite(i);
    if (!absl::EndsWith(suite.name(), "/QuantizerConformanceTest")) continue;
    for (int j = 0; j < suite.total_test_count(); ++j) {
      const std::string spec = suite.GetTestInfo(j)->value_param();
      CVQ_ASSERT_OK_AND_ASSIGN(const QuantizerSpec parsed,
                               ParseQuantizerSpec(spec));
      EXPECT_THAT(QuantizerRegistry::Default().Resolve(spec), IsOk()) << spec;
      covered.insert(parsed.name);
    }
  }
  const std::vector<const QuantizerDescription*> registered =
      QuantizerRegistry::Default().List();
  ASSERT_FALSE(registered.empty());
  for (const QuantizerDescription* d : registered) {
    EXPECT_EQ(covered.count(d->name), 1u) << d->name << " has no case";
  }
}

}  // namespace
}  // namespace commvq
