#include "commvq/eval/kv_quality.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "commvq/base/float16.h"
#include "commvq/base/status_matchers.h"
#include "commvq/base/thread_pool.h"
#include "commvq/io/codebook_file.h"
#include "commvq/io/safetensors.h"
#include "commvq/registry/registry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr int kLayers = 2;
constexpr int kHeads = 4;
constexpr int kKvHeads = 2;
constexpr int kHeadDim = 8;
constexpr int kTokens = 64;

struct DumpSpec {
  int layers = kLayers;
  int heads = kHeads;
  int kv_heads = kKvHeads;
  int head_dim = kHeadDim;
  int tokens = kTokens;
  uint32_t seed = 1;
  // A tensor to leave out, e.g. "layers.1.values".
  std::string skip;
  // A tensor written with one token too many.
  std::string longer;
  // Metadata entries to replace ("" erases the entry).
  std::map<std::string, std::string> metadata_overrides;
};

// Writes a synthetic dump in the kv_dump.h format and returns its path.
// Keys have a few large-magnitude channels (as real keys do) and every
// layer's data differ.
std::string WriteDump(const std::string& name, const DumpSpec& spec) {
  const std::string path =
      absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name, ".safetensors");
  std::mt19937 rng(spec.seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<std::vector<uint16_t>> storage;
  std::vector<NamedTensor> tensors;
  storage.reserve(3 * spec.layers);
  for (int layer = 0; layer < spec.layers; ++layer) {
    const struct {
      const char* kind;
      int heads;
    } kinds[] = {{"queries", spec.heads},
                 {"keys", spec.kv_heads},
                 {"values", spec.kv_heads}};
    for (const auto& kind : kinds) {
      const std::string tensor = absl::StrCat("layers.", layer, ".", kind.kind);
      if (tensor == spec.skip) continue;
      const int64_t tokens = spec.tokens + (tensor == spec.longer ? 1 : 0);
      std::vector<float> x(tokens * kind.heads * spec.head_dim);
      for (size_t i = 0; i < x.size(); ++i) {
        const int channel = static_cast<int>(i % spec.head_dim);
        const float scale = channel == 1 ? 4.0f : 1.0f + 0.3f * layer;
        x[i] = scale * normal(rng) + (channel == 2 ? 2.0f : 0.0f);
      }
      storage.emplace_back(x.size());
      FloatsToHalves(x, absl::MakeSpan(storage.back()));
      tensors.push_back(
          {tensor, TensorView(storage.back().data(), DType::kF16,
                              {tokens, kind.heads, spec.head_dim})});
    }
  }
  std::map<std::string, std::string> metadata = {
      {"format", "commvq-kv-dump-1"},
      {"model", "synthetic"},
      {"num_layers", absl::StrCat(spec.layers)},
      {"num_heads", absl::StrCat(spec.heads)},
      {"num_kv_heads", absl::StrCat(spec.kv_heads)},
      {"head_dim", absl::StrCat(spec.head_dim)},
      {"rope_theta", "10000"},
      {"pair_layout", "half"},
      {"tokens", absl::StrCat(spec.tokens)},
  };
  for (const auto& [key, value] : spec.metadata_overrides) {
    if (value.empty()) {
      metadata.erase(key);
    } else {
      metadata[key] = value;
    }
  }
  const absl::Status status = WriteSafetensors(path, tensors, metadata);
  EXPECT_TRUE(status.ok()) << status;
  return path;
}

class KvQualityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DumpSpec calibration;
    calibration.seed = 1;
    DumpSpec evaluation;
    evaluation.seed = 2;
    CVQ_ASSERT_OK_AND_ASSIGN(
        calibration_, SafetensorsFile::Open(WriteDump("cal", calibration)));
    CVQ_ASSERT_OK_AND_ASSIGN(
        evaluation_, SafetensorsFile::Open(WriteDump("eval", evaluation)));
  }

  absl::StatusOr<std::vector<LayerQuality>> Measure(
      const std::string& key_spec, const std::string& value_spec) {
    KvQualityOptions options;
    options.key_spec = key_spec;
    options.value_spec = value_spec;
    options.attention_queries = 16;
    return MeasureKvQuality(*calibration_, *evaluation_, options);
  }

  absl::StatusOr<std::vector<LayerQuality>> MeasureAgainst(
      const DumpSpec& evaluation, const KvQualityOptions& options = {}) {
    CVQ_ASSIGN_OR_RETURN(SafetensorsFile file,
                         SafetensorsFile::Open(WriteDump("bad", evaluation)));
    return MeasureKvQuality(*calibration_, file, options);
  }

  std::optional<SafetensorsFile> calibration_;
  std::optional<SafetensorsFile> evaluation_;
};

TEST_F(KvQualityTest, Fp16IsLossless) {
  CVQ_ASSERT_OK_AND_ASSIGN(std::vector<LayerQuality> results,
                           Measure("fp16", "fp16"));
  ASSERT_EQ(results.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const LayerQuality& q = results[i];
    SCOPED_TRACE(q.layer);
    EXPECT_EQ(q.layer, i);
    EXPECT_EQ(q.key_spec, "fp16");
    EXPECT_DOUBLE_EQ(q.key_bits_per_element, 16.0);
    EXPECT_DOUBLE_EQ(q.value_bits_per_element, 16.0);
    // Two vectors of kKvHeads * kHeadDim fp16 elements per token.
    EXPECT_DOUBLE_EQ(q.bytes_per_token, 2.0 * kKvHeads * kHeadDim * 2);
    EXPECT_LT(q.key_relative_mse, 1e-7);
    EXPECT_LT(q.value_relative_mse, 1e-7);
    EXPECT_GE(q.attention_kl, 0.0);
    EXPECT_LT(q.attention_kl, 1e-9);
    EXPECT_LT(q.attention_output_relative_error, 1e-9);
    EXPECT_EQ(q.train_tokens, kTokens);
    EXPECT_EQ(q.eval_tokens, kTokens);
    EXPECT_EQ(q.attention_queries, 16);
  }
}

TEST_F(KvQualityTest, TwoBitIntegersHaveVisibleError) {
  CVQ_ASSERT_OK_AND_ASSIGN(std::vector<LayerQuality> results,
                           Measure("int:bits=2,group_size=8", "int:bits=2,group_size=8"));
  ASSERT_EQ(results.size(), 2u);
  for (const LayerQuality& q : results) {
    SCOPED_TRACE(q.layer);
    EXPECT_GT(q.key_relative_mse, 1e-3);
    EXPECT_GT(q.value_relative_mse, 1e-3);
    EXPECT_GT(q.attention_kl, 1e-6);
    EXPECT_GT(q.attention_output_relative_error, 1e-4);
    EXPECT_TRUE(std::isfinite(q.attention_kl));
    EXPECT_LT(q.key_bits_per_element, 16.0);
    EXPECT_LT(q.bytes_per_token, 2.0 * kKvHeads * kHeadDim * 2);
  }
}

TEST_F(KvQualityTest, MoreBitsAreBetter) {
  CVQ_ASSERT_OK_AND_ASSIGN(std::vector<LayerQuality> two,
                           Measure("int:bits=2,group_size=8", "int:bits=2,group_size=8"));
  CVQ_ASSERT_OK_AND_ASSIGN(std::vector<LayerQuality> four,
                           Measure("int:bits=4,group_size=8", "int:bits=4,group_size=8"));
  ASSERT_EQ(two.size(), four.size());
  for (size_t i = 0; i < two.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_GT(four[i].key_bits_per_element, two[i].key_bits_per_element);
    EXPECT_GT(four[i].bytes_per_token, two[i].bytes_per_token);
    EXPECT_LT(four[i].key_relative_mse, two[i].key_relative_mse);
    EXPECT_LT(four[i].value_relative_mse, two[i].value_relative_mse);
    EXPECT_LT(four[i].attention_kl, two[i].attention_kl);
    EXPECT_LT(four[i].attention_output_relative_error,
              two[i].attention_output_relative_error);
  }
}

// A codebook file holding quantizer `spec` (no trained parameters) as
// "layer.<i>.value" for each of `layers`, of dim `dim`.
CodebookFile ValueCodebookFile(const std::string& spec,
                               const std::vector<int>& layers, int64_t dim) {
  std::vector<std::unique_ptr<Quantizer>> quantizers;
  CodebookFileContents contents;
  contents.model.num_layers = kLayers;
  for (int layer : layers) {
    auto q = QuantizerRegistry::Default().Train(
        spec, TensorView(nullptr, DType::kF32, {0, dim}));
    EXPECT_TRUE(q.ok()) << q.status();
    quantizers.push_back(*std::move(q));
    contents.quantizers.push_back({absl::StrCat("layer.", layer, ".value"),
                                   layer, CacheRole::kValue,
                                   quantizers.back().get()});
  }
  auto bytes = SerializeCodebookFile(contents);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  auto file = CodebookFile::Parse(*bytes);
  EXPECT_TRUE(file.ok()) << file.status();
  return *std::move(file);
}

TEST_F(KvQualityTest, ValueQuantizersCanComeFromACodebookFile) {
  const std::string spec = "int:bits=2,group_size=8";
  const CodebookFile file = ValueCodebookFile(spec, {0, 1}, kKvHeads * kHeadDim);
  KvQualityOptions options;
  options.key_spec = "fp16";
  options.value_spec = "no such spec: not used";
  options.value_codebooks = &file;
  options.attention_queries = 16;
  CVQ_ASSERT_OK_AND_ASSIGN(
      std::vector<LayerQuality> loaded,
      MeasureKvQuality(*calibration_, *evaluation_, options));
  CVQ_ASSERT_OK_AND_ASSIGN(std::vector<LayerQuality> trained,
                           Measure("fp16", spec));
  ASSERT_EQ(loaded.size(), trained.size());
  for (size_t i = 0; i < loaded.size(); ++i) {
    EXPECT_EQ(loaded[i].value_spec, trained[i].value_spec);
    EXPECT_EQ(loaded[i].value_relative_mse, trained[i].value_relative_mse);
    EXPECT_EQ(loaded[i].attention_output_relative_error,
              trained[i].attention_output_relative_error);
  }

  const CodebookFile layer0 = ValueCodebookFile(spec, {0}, kKvHeads * kHeadDim);
  options.value_codebooks = &layer0;
  EXPECT_THAT(MeasureKvQuality(*calibration_, *evaluation_, options),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("layer.1.value")));
  const CodebookFile narrow = ValueCodebookFile(spec, {0, 1}, 8);
  options.value_codebooks = &narrow;
  EXPECT_THAT(MeasureKvQuality(*calibration_, *evaluation_, options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("value codebooks of layer 0 have dim 8 but "
                                 "the dumps' values have 16")));
}

TEST_F(KvQualityTest, KeysAndValuesAreMeasuredSeparately) {
  // Lossless keys: the attention weights do not change, only the outputs.
  CVQ_ASSERT_OK_AND_ASSIGN(std::vector<LayerQuality> results,
                           Measure("fp16", "int:bits=2,group_size=8"));
  for (const LayerQuality& q : results) {
    EXPECT_LT(q.key_relative_mse, 1e-7);
    EXPECT_GT(q.value_relative_mse, 1e-3);
    EXPECT_LT(q.attention_kl, 1e-9);
    EXPECT_GT(q.attention_output_relative_error, 1e-4);
  }
}

TEST_F(KvQualityTest, OptionsSelectLayersTokensAndQueries) {
  KvQualityOptions options;
  options.key_spec = "int:bits=4,group_size=8";
  options.value_spec = "int:bits=4,group_size=8";
  options.layers = {1};
  options.max_train_tokens = 40;
  options.max_eval_tokens = 48;
  options.attention_queries = 1000;  // more than the second half holds
  CVQ_ASSERT_OK_AND_ASSIGN(
      std::vector<LayerQuality> results,
      MeasureKvQuality(*calibration_, *evaluation_, options));
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].layer, 1);
  EXPECT_EQ(results[0].train_tokens, 40);
  EXPECT_EQ(results[0].eval_tokens, 48);
  EXPECT_EQ(results[0].attention_queries, 24);
}

TEST_F(KvQualityTest, ResultsDoNotDependOnThePool) {
  KvQualityOptions options;
  options.key_spec = "int:bits=3,group_size=8";
  options.value_spec = "int:bits=2,group_size=8";
  std::vector<double> fractions;
  options.progress = [&fractions](double f) { fractions.push_back(f); };
  CVQ_ASSERT_OK_AND_ASSIGN(
      std::vector<LayerQuality> serial,
      MeasureKvQuality(*calibration_, *evaluation_, options));
  ASSERT_FALSE(fractions.empty());
  EXPECT_DOUBLE_EQ(fractions.back(), 1.0);
  ThreadPool pool(4);
  options.pool = &pool;
  options.progress = nullptr;
  CVQ_ASSERT_OK_AND_ASSIGN(
      std::vector<LayerQuality> parallel,
      MeasureKvQuality(*calibration_, *evaluation_, options));
  ASSERT_EQ(serial.size(), parallel.size());
  for (size_t i = 0; i < serial.size(); ++i) {
    EXPECT_EQ(serial[i].key_relative_mse, parallel[i].key_relative_mse);
    EXPECT_EQ(serial[i].value_relative_mse, parallel[i].value_relative_mse);
    EXPECT_EQ(serial[i].attention_kl, parallel[i].attention_kl);
    EXPECT_EQ(serial[i].attention_output_relative_error,
              parallel[i].attention_output_relative_error);
  }
}

TEST_F(KvQualityTest, TableAndJson) {
  CVQ_ASSERT_OK_AND_ASSIGN(std::vector<LayerQuality> results,
                           Measure("int:bits=4,group_size=8", "fp16"));
  const std::string table = FormatKvQualityTable(results);
  EXPECT_THAT(table, AllOf(HasSubstr("layer"), HasSubstr("key rel MSE"),
                           HasSubstr("attn KL"), HasSubstr("\nmean ")));
  // Every line has the same width up to trailing spaces: aligned columns
  // end at the same place since the last column is right-aligned.
  std::vector<size_t> lengths;
  size_t start = 0;
  for (size_t end; (end = table.find('\n', start)) != std::string::npos;
       start = end + 1) {
    lengths.push_back(end - start);
  }
  ASSERT_EQ(lengths.size(), 4u);  // header, 2 layers, mean
  for (size_t length : lengths) EXPECT_EQ(length, lengths[0]);

  const std::string json = KvQualityJson(results);
  EXPECT_THAT(json, AllOf(HasSubstr("{\"layers\": [{\"layer\": 0, "),
                          HasSubstr("\"layer\": 1, "),
                          HasSubstr("\"value_spec\": \"fp16\""),
                          HasSubstr("\"attention_kl\": "),
                          HasSubstr("\"eval_tokens\": 64")));
  EXPECT_EQ(json.back(), '\n');
}

TEST_F(KvQualityTest, MissingTensor) {
  DumpSpec spec;
  spec.skip = "layers.1.values";
  EXPECT_THAT(MeasureAgainst(spec),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr("evaluation dump"),
                             HasSubstr("layers.1.values"))));
}

TEST_F(KvQualityTest, TensorShapeDisagreesWithTheOthers) {
  DumpSpec spec;
  spec.longer = "layers.0.keys";
  EXPECT_THAT(MeasureAgainst(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("layers.0.keys"), HasSubstr("[65, 2, 8]"),
                             HasSubstr("expected [64, 2, 8]"))));
}

TEST_F(KvQualityTest, DumpsOfDifferentModels) {
  DumpSpec spec;
  spec.head_dim = 16;
  EXPECT_THAT(MeasureAgainst(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("head_dim is 8 in the calibration dump "
                                       "but 16 in the evaluation dump"))));
  DumpSpec kv_heads;
  kv_heads.kv_heads = 4;
  EXPECT_THAT(MeasureAgainst(kv_heads),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("num_kv_heads is 2")));
}

TEST_F(KvQualityTest, MetadataDisagreesWithTensors) {
  DumpSpec spec;
  spec.head_dim = 16;
  spec.metadata_overrides["head_dim"] = "8";
  EXPECT_THAT(MeasureAgainst(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("evaluation dump: layers.0.queries"),
                             HasSubstr("[64, 4, 16]"),
                             HasSubstr("expected [tokens, 4, 8]"))));
}

TEST_F(KvQualityTest, NotADump) {
  DumpSpec no_format;
  no_format.metadata_overrides["format"] = "";
  EXPECT_THAT(MeasureAgainst(no_format),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("evaluation dump"),
                             HasSubstr("\"format\""))));
  DumpSpec bad_layout;
  bad_layout.metadata_overrides["pair_layout"] = "diagonal";
  EXPECT_THAT(MeasureAgainst(bad_layout),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("pair_layout is \"diagonal\"")));
  DumpSpec bad_number;
  bad_number.metadata_overrides["num_heads"] = "four";
  EXPECT_THAT(MeasureAgainst(bad_number),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("num_heads is \"four\"")));
}

TEST_F(KvQualityTest, BadSpecs) {
  EXPECT_THAT(Measure("nope", "fp16"),
              StatusIs(absl::StatusCode::kNotFound, AllOf(HasSubstr("key_spec \"nope\""),
                                           HasSubstr("nope"))));
  EXPECT_THAT(Measure("fp16", "int:bits=99"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("value_spec \"int:bits=99\"")));
  EXPECT_THAT(Measure("int:bogus=1", "fp16"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("key_spec \"int:bogus=1\"")));
}

TEST_F(KvQualityTest, BadOptions) {
  KvQualityOptions options;
  options.layers = {2};
  EXPECT_THAT(MeasureKvQuality(*calibration_, *evaluation_, options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("layer 2 is out of range: the dumps have 2")));
  options.layers = {1, 1};
  EXPECT_THAT(MeasureKvQuality(*calibration_, *evaluation_, options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("layer 1 is listed twice")));
  options.layers = {};
  options.attention_queries = 0;
  EXPECT_THAT(MeasureKvQuality(*calibration_, *evaluation_, options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("attention_queries is 0")));
  options.attention_queries = 4;
  options.max_eval_tokens = -1;
  EXPECT_THAT(MeasureKvQuality(*calibration_, *evaluation_, options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("max_eval_tokens is -1")));
  options.max_eval_tokens = 1;
  EXPECT_THAT(MeasureKvQuality(*calibration_, *evaluation_, options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expected at least 2")));
}

}  // namespace
}  // namespace commvq
