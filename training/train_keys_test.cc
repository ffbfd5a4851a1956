#include "training/train_keys.h"

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "commvq/base/status_matchers.h"
#include "commvq/base/thread_pool.h"
#include "commvq/io/codebook_file.h"
#include "commvq/quantizer/commvq_key/commvq_key_quantizer.h"
#include "commvq/quantizer/commvq_key/key_test_data.h"
#include "commvq/quantizer/options.h"
#include "commvq/quantizer/quantizer_spec.h"
#include "commvq/quantizer/quantizer_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "training/key_checkpoint.h"
#include "training/kv_dump_test_util.h"

namespace commvq {
namespace {

using ::commvq::testing::IsOk;
using ::commvq::testing::KeyLikeRows;
using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

// Relative squared error of q's round trip on x ([n, dim]).
double RelativeError(const Quantizer& q, const std::vector<float>& x) {
  return testing::RelativeSquaredError(x, testing::RoundTrip(q, x).decoded);
}

TEST(TrainKeysTest, TemperatureScheduleAndStageCounts) {
  EXPECT_DOUBLE_EQ(KeyStageTemperatureScale(0), 1.0);
  for (int s = 1; s <= 4; ++s)
    EXPECT_DOUBLE_EQ(KeyStageTemperatureScale(s), 0.1);
  for (int s = 5; s <= 8; ++s) {
    EXPECT_DOUBLE_EQ(KeyStageTemperatureScale(s), 0.01);
  }
  EXPECT_DOUBLE_EQ(KeyStageTemperatureScale(9), 1e-3);
  EXPECT_EQ(KeyStagesForBits(1, 128, 6), 11);
  EXPECT_EQ(KeyStagesForBits(2, 128, 6), 21);
  EXPECT_EQ(KeyStagesForBits(1, 64, 6), 5);
  EXPECT_EQ(KeyStagesForBits(2, 64, 6), 11);
  EXPECT_EQ(KeyStagesForBits(1, 8, 6), 1);
}

TrainKeysOptions SmallOptions() {
  TrainKeysOptions options;
  options.num_kv_heads = 2;
  options.head_dim = 16;
  options.layout = PairLayout::kHalf;
  options.half_bits = 4;
  // 2 bits per element: 4 stages of 8 bits over 16 channels.
  options.stages = KeyStagesForBits(2, 16, 4);
  options.em.iterations = 20;
  options.seed = 7;
  return options;
}

TEST(TrainKeysTest, RequestedBitsAndDeterministicAcrossThreads) {
  const std::vector<float> keys = KeyLikeRows(800, 32, 1);
  TrainKeysOptions options = SmallOptions();
  ASSERT_EQ(options.stages, 4);
  CVQ_ASSERT_OK_AND_ASSIGN(auto serial,
                           TrainCommvqKeyLayer(keys.data(), 800, options));
  EXPECT_EQ(serial->spec(),
            "commvq_key:num_kv_heads=2,layout=half,half_bits=4,stages=4");
  EXPECT_EQ(serial->dim(), 32);
  // 2 heads x 4 stages x 8 bits = 64 code bits: 2 per element, + fp16 norm.
  EXPECT_EQ(serial->layout().code_bits, 64);
  EXPECT_DOUBLE_EQ(serial->layout().BitsPerElement(), (64.0 + 16.0) / 32.0);

  ThreadPool pool(4);
  options.pool = &pool;
  CVQ_ASSERT_OK_AND_ASSIGN(auto parallel,
                           TrainCommvqKeyLayer(keys.data(), 800, options));
  CVQ_ASSERT_OK_AND_ASSIGN(const std::string a, serial->Serialize());
  CVQ_ASSERT_OK_AND_ASSIGN(const std::string b, parallel->Serialize());
  EXPECT_EQ(a, b);
  options.seed = 8;
  CVQ_ASSERT_OK_AND_ASSIGN(auto other,
                           TrainCommvqKeyLayer(keys.data(), 800, options));
  CVQ_ASSERT_OK_AND_ASSIGN(const std::string c, other->Serialize());
  EXPECT_NE(a, c);
}

TEST(TrainKeysTest, EmBeatsTheInterimHardFitOnHeldOutKeys) {
  const std::vector<float> train = KeyLikeRows(2000, 32, 2);
  const std::vector<float> test = KeyLikeRows(500, 32, 3);
  TrainKeysOptions options = SmallOptions();
  options.em.iterations = 50;
  ThreadPool pool(4);
  options.pool = &pool;
  CVQ_ASSERT_OK_AND_ASSIGN(auto em,
                           TrainCommvqKeyLayer(train.data(), 2000, options));

  const std::unique_ptr<QuantizerFactory> factory =
      MakeCommvqKeyQuantizerFactory();
  CVQ_ASSERT_OK_AND_ASSIGN(const QuantizerSpec spec,
                           ParseQuantizerSpec(em->spec()));
  CVQ_ASSERT_OK_AND_ASSIGN(
      const ResolvedOptions resolved,
      ResolveOptions(factory->description().options, spec));
  TrainOptions hard_options;
  hard_options.seed = 7;
  hard_options.pool = &pool;
  CVQ_ASSERT_OK_AND_ASSIGN(
      auto hard,
      factory->Train(resolved,
                     TensorView(train.data(), DType::kF32, {2000, 32}),
                     hard_options));
  const double em_error = RelativeError(*em, test);
  const double hard_error = RelativeError(*hard, test);
  std::printf("held-out relative MSE: EM %.6f, hard fit %.6f\n", em_error,
              hard_error);
  RecordProperty("em_relative_mse", absl::StrCat(em_error));
  RecordProperty("hard_fit_relative_mse", absl::StrCat(hard_error));
  EXPECT_LT(em_error, 0.5);
  EXPECT_LT(em_error, hard_error);
}

TEST(TrainKeysTest, RejectsBadOptionsAndTooFewKeys) {
  const std::vector<float> keys = KeyLikeRows(10, 32, 4);
  TrainKeysOptions options = SmallOptions();
  EXPECT_THAT(TrainCommvqKeyLayer(keys.data(), 10, options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("10 non-zero keys: expected at least")));
  options.head_dim = 15;
  EXPECT_THAT(TrainCommvqKeyLayer(keys.data(), 10, options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("head_dim is 15")));
}

// An interrupted run resumed from its saved codebooks gives the same
// quantizer as an uninterrupted one, wherever it was interrupted (inside
// the first head, at the head boundary, in the last head).
TEST(TrainKeysTest, ResumingGivesTheUninterruptedResult) {
  const std::vector<float> keys = KeyLikeRows(600, 32, 5);
  TrainKeysOptions options = SmallOptions();
  options.em.iterations = 8;
  CVQ_ASSERT_OK_AND_ASSIGN(auto full,
                           TrainCommvqKeyLayer(keys.data(), 600, options));
  CVQ_ASSERT_OK_AND_ASSIGN(const std::string expected, full->Serialize());
  for (size_t stop_after : {1u, 4u, 7u}) {
    SCOPED_TRACE(stop_after);
    TrainKeysOptions first = options;
    std::vector<KeyCodebook> saved;
    first.on_stage = [&](absl::Span<const KeyCodebook> codebooks) {
      saved.assign(codebooks.begin(), codebooks.end());
      return codebooks.size() == stop_after
                 ? absl::CancelledError("interrupted")
                 : absl::OkStatus();
    };
    EXPECT_THAT(
        TrainCommvqKeyLayer(keys.data(), 600, first),
        StatusIs(absl::StatusCode::kCancelled, HasSubstr("interrupted")));
    ASSERT_EQ(saved.size(), stop_after);
    TrainKeysOptions second = options;
    second.resume = saved;
    int new_stages = 0;
    second.on_stage = [&](absl::Span<const KeyCodebook>) {
      ++new_stages;
      return absl::OkStatus();
    };
    CVQ_ASSERT_OK_AND_ASSIGN(auto resumed,
                             TrainCommvqKeyLayer(keys.data(), 600, second));
    EXPECT_EQ(new_stages, 8 - static_cast<int>(stop_after));
    CVQ_ASSERT_OK_AND_ASSIGN(const std::string got, resumed->Serialize());
    EXPECT_EQ(got, expected);
  }
  // Codebooks of another shape are not taken.
  TrainKeysOptions other = options;
  other.resume = {
      testing::RandomKeyCodebook({16, 3, PairLayout::kHalf}, 0.1f, 1)};
  EXPECT_THAT(
      TrainCommvqKeyLayer(keys.data(), 600, other),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("half_bits 3")));
}

// A KV dump in the eval/kv_dump.h format: 2 layers, 2 query and 2 KV heads
// of 8, key-like rows throughout.
void WriteTinyDump(const std::string& path, int64_t tokens) {
  testing::TestDumpShape shape;
  shape.tokens = tokens;
  shape.num_heads = 2;
  shape.num_kv_heads = 2;
  shape.head_dim = 8;
  ASSERT_THAT(testing::WriteTestKvDump(path, shape,
                                       [&](int layer, const std::string& kind) {
                                         const int k = kind == "queries" ? 0
                                                       : kind == "keys"  ? 1
                                                                         : 2;
                                         return KeyLikeRows(
                                             tokens, 16, 100 + layer * 6 + k);
                                       }),
              IsOk());
}

TEST(TrainKeysTest, TrainKeysFromDumpWritesALoadableCodebookFile) {
  const std::string dir = ::testing::TempDir();
  const std::string dump = dir + "/tiny_dump.safetensors";
  const std::string out = dir + "/tiny_keys.cvqcb";
  WriteTinyDump(dump, 300);
  TrainKeysFileOptions options;
  options.bits = 2;
  options.iterations = 5;
  options.max_samples = 200;
  options.seed = 3;
  std::vector<double> progress;
  options.progress = [&](double f) { progress.push_back(f); };
  ASSERT_THAT(TrainKeysFromDump(dump, options, out), IsOk());
  ASSERT_FALSE(progress.empty());
  EXPECT_DOUBLE_EQ(progress.back(), 1.0);

  CVQ_ASSERT_OK_AND_ASSIGN(const CodebookFile file, CodebookFile::Open(out));
  EXPECT_EQ(file.model().model_name, "tiny");
  EXPECT_EQ(file.model().num_layers, 2);
  EXPECT_EQ(file.model().num_kv_heads, 2);
  EXPECT_EQ(file.model().head_dim, 8);
  EXPECT_EQ(file.model().pair_layout, PairLayout::kInterleaved);
  EXPECT_DOUBLE_EQ(file.model().rope_theta, 10000.0);
  EXPECT_EQ(file.provenance().trainer, "commvq train-keys");
  EXPECT_EQ(file.provenance().seed, 3u);
  EXPECT_EQ(file.provenance().num_samples, 200);
  EXPECT_EQ(file.provenance().calibration_data, "text_crc32c=0badc0de");
  ASSERT_EQ(file.quantizers().size(), 2u);
  const std::vector<float> x = KeyLikeRows(50, 16, 999);
  for (int layer = 0; layer < 2; ++layer) {
    const QuantizerInfo& info = file.quantizers()[layer];
    EXPECT_EQ(info.name, absl::StrCat("layer.", layer, ".key"));
    EXPECT_EQ(info.layer, layer);
    EXPECT_EQ(info.role, CacheRole::kKey);
    EXPECT_EQ(info.dim, 16);
    // 2 bits at head_dim 8, h = 6: round(2 * 8 / 12) = 1 stage.
    EXPECT_EQ(info.spec,
              "commvq_key:num_kv_heads=2,layout=interleaved,half_bits=6,"
              "stages=1");
    CVQ_ASSERT_OK_AND_ASSIGN(auto q, file.LoadQuantizer(info.name));
    EXPECT_EQ(q->spec(), info.spec);
    EXPECT_LT(RelativeError(*q, x), 1.0);
  }

  // A subset of layers, and errors.
  options.layers = {1};
  options.stages = 2;
  ASSERT_THAT(TrainKeysFromDump(dump, options, out), IsOk());
  CVQ_ASSERT_OK_AND_ASSIGN(const CodebookFile subset, CodebookFile::Open(out));
  ASSERT_EQ(subset.quantizers().size(), 1u);
  EXPECT_EQ(subset.quantizers()[0].name, "layer.1.key");
  EXPECT_THAT(subset.quantizers()[0].spec, HasSubstr("stages=2"));
  options.layers = {2};
  EXPECT_THAT(TrainKeysFromDump(dump, options, out),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("layer 2 is not in the dump")));
  options.layers = {};
  options.stages = 0;
  options.bits = 3;
  EXPECT_THAT(
      TrainKeysFromDump(dump, options, out),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bits is 3")));
}

// The same through files: a run with --checkpoint leaves one checkpoint per
// layer; a rerun with a layer's checkpoint cut back to its first stages (as
// an interrupted run leaves it) and another layer's missing writes the same
// codebooks. Checkpoints of other settings are refused.
TEST(TrainKeysTest, CheckpointedRunResumesBitIdentically) {
  const std::string dir = ::testing::TempDir() + "/resume";
  std::filesystem::remove_all(dir);
  const std::string dump = dir + "_dump.safetensors";
  WriteTinyDump(dump, 300);
  TrainKeysFileOptions options;
  options.stages = 3;
  options.half_bits = 3;
  options.iterations = 5;
  options.seed = 4;
  options.checkpoint_dir = dir + "/ckpt";
  const std::string first = dir + "/first.cvqcb";
  ASSERT_THAT(TrainKeysFromDump(dump, options, first), IsOk());

  // What layer 1's checkpoint must say about the run.
  const std::string fingerprint =
      "text_crc32c=0badc0de,tokens=300,layer=1,samples=300,kv_heads=2,"
      "head_dim=8,layout=interleaved,half_bits=3,stages=3,iters=5,seed=4";
  const KeyCodebookShape shape{8, 3, PairLayout::kInterleaved};
  const std::string layer1 = KeyCheckpointPath(options.checkpoint_dir, 1);
  CVQ_ASSERT_OK_AND_ASSIGN(std::vector<KeyCodebook> saved,
                           ReadKeyCheckpoint(layer1, fingerprint, shape));
  ASSERT_EQ(saved.size(), 6u);  // 2 heads x 3 stages
  saved.erase(saved.begin() + 2, saved.end());
  ASSERT_THAT(WriteKeyCheckpoint(layer1, fingerprint, saved), IsOk());
  ASSERT_TRUE(
      std::filesystem::remove(KeyCheckpointPath(options.checkpoint_dir, 0)));
  const std::string second = dir + "/second.cvqcb";
  ASSERT_THAT(TrainKeysFromDump(dump, options, second), IsOk());

  CVQ_ASSERT_OK_AND_ASSIGN(const CodebookFile a, CodebookFile::Open(first));
  CVQ_ASSERT_OK_AND_ASSIGN(const CodebookFile b, CodebookFile::Open(second));
  for (const char* name : {"layer.0.key", "layer.1.key"}) {
    SCOPED_TRACE(name);
    CVQ_ASSERT_OK_AND_ASSIGN(auto qa, a.LoadQuantizer(name));
    CVQ_ASSERT_OK_AND_ASSIGN(auto qb, b.LoadQuantizer(name));
    CVQ_ASSERT_OK_AND_ASSIGN(const std::string sa, qa->Serialize());
    CVQ_ASSERT_OK_AND_ASSIGN(const std::string sb, qb->Serialize());
    EXPECT_EQ(sa, sb);
  }
  CVQ_ASSERT_OK_AND_ASSIGN(saved,
                           ReadKeyCheckpoint(layer1, fingerprint, shape));
  EXPECT_EQ(saved.size(), 6u);

  options.seed = 5;
  EXPECT_THAT(TrainKeysFromDump(dump, options, second),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("was written by a run with other settings")));
  EXPECT_THAT(ReadKeyCheckpoint(dir + "/none.ckpt", fingerprint, shape),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("none.ckpt")));
}

}  // namespace
}  // namespace commvq
