#include "training/value/train_values.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "commvq/base/float16.h"
#include "commvq/base/random.h"
#include "commvq/base/status_matchers.h"
#include "commvq/base/thread_pool.h"
#include "commvq/io/codebook_file.h"
#include "commvq/quantizer/commvq_value/commvq_value_quantizer.h"
#include "commvq/quantizer/quantizer_test_util.h"
#include "commvq/registry/registry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "training/kv_dump_test_util.h"

namespace commvq {
namespace {

using ::commvq::testing::IsOk;
using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

constexpr int64_t kLayers = 2, kHeads = 3, kHeadDim = 8, kTokens = 160;
constexpr int64_t kDim = kHeads * kHeadDim;

std::string TempPath(const std::string& name) {
  return absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
}

// Value rows of a few directions with per-channel scales, per layer.
std::vector<float> LayerValues(int layer) {
  Rng rng(100 + layer);
  std::vector<float> basis(3 * kDim);
  rng.FillNormal(absl::MakeSpan(basis), 0.0f, 1.0f);
  std::vector<float> v(kTokens * kDim);
  for (int64_t t = 0; t < kTokens; ++t) {
    const double a = rng.Normal(), b = rng.Normal(), c = rng.Normal();
    for (int64_t d = 0; d < kDim; ++d) {
      v[t * kDim + d] = static_cast<float>(
          (1.0 + d % 4) * (a * basis[d] + b * basis[kDim + d] +
                           c * basis[2 * kDim + d] + 0.05 * rng.Normal()));
    }
  }
  return v;
}

// A KV dump of kLayers layers with these values and random queries and
// keys (6 query heads).
std::string WriteDump() {
  const std::string path = TempPath("dump.safetensors");
  testing::TestDumpShape shape;
  shape.num_layers = kLayers;
  shape.tokens = kTokens;
  shape.num_heads = 2 * kHeads;
  shape.num_kv_heads = kHeads;
  shape.head_dim = kHeadDim;
  shape.pair_layout = "half";
  EXPECT_THAT(testing::WriteTestKvDump(
                  path, shape,
                  [](int layer, const std::string& kind) {
                    if (kind == "values") return LayerValues(layer);
                    const int64_t heads =
                        kind == "queries" ? 2 * kHeads : kHeads;
                    std::vector<float> x(kTokens * heads * kHeadDim);
                    Rng rng(kind == "queries" ? 200 + layer : 300 + layer);
                    rng.FillNormal(absl::MakeSpan(x), 0.0f, 1.0f);
                    return x;
                  }),
              IsOk());
  return path;
}

double RelativeError(const Quantizer& q, const std::vector<float>& x) {
  return testing::RelativeSquaredError(x, testing::RoundTrip(q, x).decoded);
}

TEST(TrainValuesFromDumpTest, WritesAValueQuantizerPerLayer) {
  const std::string dump = WriteDump();
  const std::string out = TempPath("new.cvqcb");
  TrainValuesFileOptions options;
  options.train.bits = 2;
  double last = 0.0;
  options.progress = [&](double f) {
    EXPECT_GE(f, last);
    last = f;
  };
  ASSERT_THAT(TrainValuesFromDump(dump, options, out), IsOk());
  EXPECT_DOUBLE_EQ(last, 1.0);
  CVQ_ASSERT_OK_AND_ASSIGN(const CodebookFile file, CodebookFile::Open(out));
  EXPECT_EQ(file.model().num_kv_heads, kHeads);
  EXPECT_EQ(file.provenance().trainer, "commvq train-values");
  EXPECT_EQ(file.provenance().extra.at("value_bits"), "2");
  ASSERT_EQ(file.quantizers().size(), 2u);
  for (int layer = 0; layer < kLayers; ++layer) {
    const QuantizerInfo& info = file.quantizers()[layer];
    EXPECT_EQ(info.name, absl::StrCat("layer.", layer, ".value"));
    EXPECT_EQ(info.role, CacheRole::kValue);
    CVQ_ASSERT_OK_AND_ASSIGN(auto q, file.LoadQuantizer(info.name));
    const ValueQuantizerParams* params = CommvqValueParams(*q);
    ASSERT_NE(params, nullptr);
    EXPECT_EQ(params->num_kv_heads, kHeads);
    EXPECT_EQ(params->num_code_bits, 2 * kDim);
    // Values half-rounded to fp16, as the dump stores them.
    std::vector<float> values = LayerValues(layer);
    for (float& v : values) v = HalfBitsToFloat(FloatToHalfBits(v));
    EXPECT_LT(RelativeError(*q, values), 0.05) << "layer " << layer;
  }
}

TEST(TrainValuesFromDumpTest, AddsToAnExistingFileKeepingEverythingElse) {
  const std::string dump = WriteDump();
  const std::string out = TempPath("keys.cvqcb");
  std::vector<float> samples(64 * kDim, 1.0f);
  CVQ_ASSERT_OK_AND_ASSIGN(
      auto key, QuantizerRegistry::Default().Train(
                    "int:bits=4,group_size=8",
                    TensorView(samples.data(), DType::kF32, {64, kDim})));
  const std::vector<float> extra_tensor = {1, 2, 3};
  CodebookFileContents contents;
  contents.model.num_layers = kLayers;
  contents.model.num_kv_heads = kHeads;
  contents.model.head_dim = kHeadDim;
  contents.provenance.trainer = "commvq train-keys";
  contents.tensors.push_back(
      {"extra", TensorView(extra_tensor.data(), DType::kF32, {3})});
  contents.quantizers.push_back({"layer.0.key", 0, CacheRole::kKey, key.get()});
  ASSERT_THAT(WriteCodebookFile(out, contents), IsOk());

  TrainValuesFileOptions options;
  options.layers = {1};
  options.train.encoder = "mlp";
  options.train.iterations = 2;
  options.train.mlp.distill_epochs = 1;
  options.train.mlp.epochs = 1;
  ThreadPool pool(2);
  options.train.pool = &pool;
  ASSERT_THAT(TrainValuesFromDump(dump, options, out), IsOk());
  // Twice: the second run replaces layer.1.value.
  ASSERT_THAT(TrainValuesFromDump(dump, options, out), IsOk());
  CVQ_ASSERT_OK_AND_ASSIGN(const CodebookFile file, CodebookFile::Open(out));
  EXPECT_EQ(file.provenance().trainer, "commvq train-keys");
  EXPECT_EQ(file.provenance().extra.at("value_encoder"), "mlp");
  ASSERT_EQ(file.quantizers().size(), 2u);
  EXPECT_EQ(file.quantizers()[0].name, "layer.0.key");
  EXPECT_EQ(file.quantizers()[1].name, "layer.1.value");
  EXPECT_THAT(file.quantizers()[1].spec, HasSubstr("encoder=mlp"));
  CVQ_ASSERT_OK_AND_ASSIGN(auto loaded_key, file.LoadQuantizer("layer.0.key"));
  EXPECT_EQ(*loaded_key->Serialize(), *key->Serialize());
  CVQ_ASSERT_OK_AND_ASSIGN(TensorView t, file.Tensor("extra"));
  EXPECT_EQ(t.span<float>()[2], 3.0f);
  CVQ_ASSERT_OK_AND_ASSIGN(auto value, file.LoadQuantizer("layer.1.value"));
  std::vector<float> values = LayerValues(1);
  EXPECT_LT(RelativeError(*value, values), 0.3);
}

TEST(TrainValuesFromDumpTest, MlpWithTheAttentionOutputTerm) {
  const std::string dump = WriteDump();
  const std::string out = TempPath("attention.cvqcb");
  TrainValuesFileOptions options;
  options.layers = {0};
  options.train.encoder = "mlp";
  options.train.iterations = 2;
  options.train.mlp.distill_epochs = 1;
  options.train.mlp.epochs = 2;
  options.train.mlp.attention_weight = 1.0;
  options.attention_blocks = 3;
  options.attention_window = 16;
  ASSERT_THAT(TrainValuesFromDump(dump, options, out), IsOk());
  CVQ_ASSERT_OK_AND_ASSIGN(const CodebookFile file, CodebookFile::Open(out));
  EXPECT_EQ(file.provenance().extra.at("value_attention_loss"),
            "weight=1,blocks=3,window=16");
  CVQ_ASSERT_OK_AND_ASSIGN(auto value, file.LoadQuantizer("layer.0.value"));
  EXPECT_LT(RelativeError(*value, LayerValues(0)), 0.3);

  options.attention_window = kTokens + 1;
  EXPECT_THAT(TrainValuesFromDump(dump, options, out),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("attention window 161 is longer")));
  options.attention_blocks = 0;
  EXPECT_THAT(TrainValuesFromDump(dump, options, out),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("0 attention blocks")));
}

TEST(TrainValuesFromDumpTest, ErrorsNameTheProblem) {
  const std::string dump = WriteDump();
  TrainValuesFileOptions options;
  options.train.bits = 3;
  EXPECT_THAT(TrainValuesFromDump(dump, options, TempPath("x.cvqcb")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("bits is 3: expected 1 or 2")));
  options.train.bits = 1;
  options.train.encoder = "net";
  EXPECT_THAT(TrainValuesFromDump(dump, options, TempPath("x.cvqcb")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("encoder is 'net'")));
  options.train.encoder = "search";
  options.layers = {2};
  EXPECT_THAT(TrainValuesFromDump(dump, options, TempPath("x.cvqcb")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("layer 2 is not in the dump's [0, 2)")));
  // An existing file of another model shape.
  const std::string other = TempPath("other.cvqcb");
  CodebookFileContents contents;
  contents.model.num_layers = 5;
  contents.model.num_kv_heads = kHeads;
  contents.model.head_dim = kHeadDim;
  ASSERT_THAT(WriteCodebookFile(other, contents), IsOk());
  options.layers = {};
  EXPECT_THAT(TrainValuesFromDump(dump, options, other),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is for 5 layers")));
}

}  // namespace
}  // namespace commvq
