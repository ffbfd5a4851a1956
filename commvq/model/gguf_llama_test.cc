// Loads the real SmolLM2-135M checkpoint and checks that the forward pass
// knows English facts. Token ids are looked up in the GGUF vocabulary itself
// ("Ġ" is GPT-2's marker for a leading space), so this test does not depend
// on the tokenizer.
#include "commvq/model/gguf_llama.h"

#include <algorithm>
#include <string>
#include <vector>

#include "commvq/base/status_matchers.h"
#include "commvq/base/thread_pool.h"
#include "commvq/kvcache/full_precision_kv_cache.h"
#include "commvq/model/gguf/gguf_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

class GgufLlamaTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::string> path = ModelPathFromEnv();
    ASSERT_THAT(path, testing::IsOk());
    auto file = GgufFile::Open(*path);
    ASSERT_THAT(file, testing::IsOk());
    file_ = new GgufFile(*std::move(file));
  }
  static void TearDownTestSuite() {
    delete file_;
    file_ = nullptr;
  }

  int32_t TokenId(const std::string& text) {
    auto tokens = file_->GetStringArray("tokenizer.ggml.tokens");
    EXPECT_THAT(tokens, testing::IsOk());
    auto it = std::find(tokens->begin(), tokens->end(), text);
    EXPECT_NE(it, tokens->end()) << text;
    return static_cast<int32_t>(it - tokens->begin());
  }

  static GgufFile* file_;
};

GgufFile* GgufLlamaTest::file_ = nullptr;

TEST_F(GgufLlamaTest, ConfigComesFromMetadata) {
  CVQ_ASSERT_OK_AND_ASSIGN(LlamaConfig c, LlamaConfigFromGguf(*file_));
  EXPECT_EQ(c.num_layers, 30);
  EXPECT_EQ(c.hidden, 576);
  EXPECT_EQ(c.ffn_hidden, 1536);
  EXPECT_EQ(c.num_heads, 9);
  EXPECT_EQ(c.num_kv_heads, 3);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.vocab_size, 49152);
  EXPECT_DOUBLE_EQ(c.rope_theta, 100000.0);
  EXPECT_NEAR(c.rms_eps, 1e-5, 1e-12);
  EXPECT_EQ(c.pair_layout, PairLayout::kInterleaved);
  EXPECT_TRUE(c.tied_embeddings);
}

TEST_F(GgufLlamaTest, PredictsParisAfterTheCapitalOfFranceIs) {
  ThreadPool pool(ThreadPool::DefaultNumThreads());
  CVQ_ASSERT_OK_AND_ASSIGN(GgufLlama loaded, LoadLlamaFromGguf(*file_, &pool));
  const LlamaConfig config = loaded.config;
  CVQ_ASSERT_OK_AND_ASSIGN(
      auto model, LlamaModel::Create(config, std::move(loaded.weights), &pool));
  CVQ_ASSERT_OK_AND_ASSIGN(auto cache,
                           FullPrecisionKvCache::Create(AttentionShapeOf(config)));
  const std::vector<int32_t> prompt = {TokenId("The"), TokenId("Ġcapital"),
                                       TokenId("Ġof"), TokenId("ĠFrance"),
                                       TokenId("Ġis")};
  std::vector<float> logits(config.vocab_size);
  ForwardOptions options;
  options.logits = LogitsMode::kLastToken;
  ASSERT_THAT(model->Forward(prompt, 0, *cache,
                             MutableTensorView(logits.data(), DType::kF32,
                                               {1, config.vocab_size}),
                             options),
              testing::IsOk());
  const int32_t best = static_cast<int32_t>(
      std::max_element(logits.begin(), logits.end()) - logits.begin());
  EXPECT_EQ(best, TokenId("ĠParis"));
}

}  // namespace
}  // namespace commvq
