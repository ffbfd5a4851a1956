// Evidence that the harness runs SmolLM2-135M correctly: low perplexity on
// English and much higher on the same tokens shuffled, passkey retrieval,
// and a KV dump that loads back with the model's shapes. Needs ./setup.sh.
#include <algorithm>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "commvq/base/status_matchers.h"
#include "commvq/base/thread_pool.h"
#include "commvq/eval/kv_dump.h"
#include "commvq/eval/kv_dump_info.h"
#include "commvq/eval/passkey.h"
#include "commvq/eval/perplexity.h"
#include "commvq/io/atomic_file.h"
#include "commvq/io/safetensors.h"
#include "commvq/kvcache/full_precision_kv_cache.h"
#include "commvq/model/loaded_model.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

std::string EnvPath(const char* variable, const char* file) {
  const char* dir = std::getenv(variable);
  EXPECT_NE(dir, nullptr) << variable << " is unset: run ./setup.sh";
  return dir == nullptr ? "" : std::string(dir) + "/" + file;
}

class RealModelEvalTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pool_ = new ThreadPool(ThreadPool::DefaultNumThreads());
    auto loaded = LoadModel(
        EnvPath("COMMVQ_MODEL_DIR", "SmolLM2-135M-Instruct.Q4_1.gguf"), pool_);
    ASSERT_THAT(loaded, testing::IsOk());
    loaded_ = new LoadedModel(*std::move(loaded));
    auto text = ReadFile(EnvPath("COMMVQ_TEXT_DIR", "evaluation.txt"));
    ASSERT_THAT(text, testing::IsOk());
    text_ = new std::string(*std::move(text));
  }
  static void TearDownTestSuite() {
    delete loaded_;
    delete pool_;
    delete text_;
  }
  static std::unique_ptr<KvCache> NewCache() {
    return *FullPrecisionKvCache::Create(
        AttentionShapeOf(loaded_->model->config()));
  }
  static std::vector<int32_t> Tokens(int64_t n) {
    std::vector<int32_t> tokens = *loaded_->tokenizer->Encode(*text_, false);
    tokens.resize(std::min<int64_t>(n, tokens.size()));
    return tokens;
  }

  static ThreadPool* pool_;
  static LoadedModel* loaded_;
  static std::string* text_;
};

ThreadPool* RealModelEvalTest::pool_ = nullptr;
LoadedModel* RealModelEvalTest::loaded_ = nullptr;
std::string* RealModelEvalTest::text_ = nullptr;

TEST_F(RealModelEvalTest, EnglishIsLikelyShuffledTokensAreNot) {
  ASSERT_NE(loaded_, nullptr);
  std::vector<int32_t> tokens = Tokens(512);
  PerplexityOptions options;
  options.chunk_tokens = 128;
  auto cache = NewCache();
  CVQ_ASSERT_OK_AND_ASSIGN(PerplexityResult english,
                           EvaluatePerplexity(*loaded_->model, *cache, tokens,
                                              options));
  std::mt19937_64 rng(1);
  std::shuffle(tokens.begin(), tokens.end(), rng);
  auto shuffled_cache = NewCache();
  CVQ_ASSERT_OK_AND_ASSIGN(PerplexityResult shuffled,
                           EvaluatePerplexity(*loaded_->model, *shuffled_cache,
                                              tokens, options));
  std::cout << "perplexity over 512 tokens: English " << english.perplexity
            << ", same tokens shuffled " << shuffled.perplexity << "\n";
  EXPECT_LT(english.perplexity, 20.0);
  EXPECT_GT(shuffled.perplexity, 10 * english.perplexity);
}

TEST_F(RealModelEvalTest, RetrievesAPasskey) {
  ASSERT_NE(loaded_, nullptr);
  PasskeyOptions options;
  options.context_tokens = 512;
  options.depths = {0.5};
  options.trials_per_depth = 1;
  CVQ_ASSERT_OK_AND_ASSIGN(
      PasskeyResult result,
      EvaluatePasskey(*loaded_->model, *loaded_->tokenizer,
                      [] { return absl::StatusOr<std::unique_ptr<KvCache>>(NewCache()); },
                      options));
  ASSERT_EQ(result.trials.size(), 1u);
  EXPECT_TRUE(result.trials[0].correct)
      << "passkey " << result.trials[0].passkey << ", answer "
      << result.trials[0].answer;

  // The whole prompt in one forward call (chunk 0) reads the same prompt.
  options.chunk_tokens = 0;
  CVQ_ASSERT_OK_AND_ASSIGN(
      PasskeyResult one_call,
      EvaluatePasskey(*loaded_->model, *loaded_->tokenizer,
                      [] { return absl::StatusOr<std::unique_ptr<KvCache>>(NewCache()); },
                      options));
  ASSERT_EQ(one_call.trials.size(), 1u);
  EXPECT_EQ(one_call.trials[0].prompt_tokens, result.trials[0].prompt_tokens);
  EXPECT_TRUE(one_call.trials[0].correct)
      << "passkey " << one_call.trials[0].passkey << ", answer "
      << one_call.trials[0].answer;
}

TEST_F(RealModelEvalTest, KvDumpLoadsBackWithTheModelsShapes) {
  ASSERT_NE(loaded_, nullptr);
  const std::vector<int32_t> tokens = Tokens(40);
  const std::string path =
      std::string(std::getenv("TEST_TMPDIR")) + "/dump.safetensors";
  KvDumpOptions options;
  options.model_name = loaded_->name;
  options.text = *text_;
  options.chunk_tokens = 16;
  ASSERT_THAT(WriteKvDump(*loaded_->model, tokens, path, options),
              testing::IsOk());
  CVQ_ASSERT_OK_AND_ASSIGN(SafetensorsFile dump, SafetensorsFile::Open(path));
  const LlamaConfig& c = loaded_->model->config();
  EXPECT_EQ(dump.tensors().size(), 3u * c.num_layers);
  EXPECT_EQ(dump.metadata().at("format"), std::string(kKvDumpFormat));
  EXPECT_EQ(dump.metadata().at("pair_layout"), "interleaved");
  EXPECT_EQ(dump.metadata().at("tokens"), "40");
  EXPECT_EQ(dump.metadata().at("rope_theta"), "100000");
  // The writer's metadata passes its reader's checks and says the same.
  CVQ_ASSERT_OK_AND_ASSIGN(const KvDumpInfo info, ReadKvDumpInfo(dump, path));
  EXPECT_EQ(info.num_layers, c.num_layers);
  EXPECT_EQ(info.num_heads, c.num_heads);
  EXPECT_EQ(info.num_kv_heads, c.num_kv_heads);
  EXPECT_EQ(info.head_dim, c.head_dim);
  EXPECT_DOUBLE_EQ(info.rope_theta, c.rope_theta);
  EXPECT_EQ(info.pair_layout, c.pair_layout);
  for (int layer : {0, c.num_layers - 1}) {
    const std::string prefix = "layers." + std::to_string(layer) + ".";
    CVQ_ASSERT_OK_AND_ASSIGN(const SafetensorsTensor* keys,
                             dump.Find(prefix + "keys"));
    EXPECT_EQ(keys->dtype, DType::kF16);
    EXPECT_EQ(keys->shape, Shape({40, c.num_kv_heads, c.head_dim}));
    CVQ_ASSERT_OK_AND_ASSIGN(const SafetensorsTensor* queries,
                             dump.Find(prefix + "queries"));
    EXPECT_EQ(queries->shape, Shape({40, c.num_heads, c.head_dim}));
    CVQ_ASSERT_OK_AND_ASSIGN(const SafetensorsTensor* values,
                             dump.Find(prefix + "values"));
    EXPECT_EQ(values->shape, Shape({40, c.num_kv_heads, c.head_dim}));
    // Real activations, not zeros.
    EXPECT_NE(keys->data.find_first_not_of('\0'), absl::string_view::npos);
  }
}

}  // namespace
}  // namespace commvq
