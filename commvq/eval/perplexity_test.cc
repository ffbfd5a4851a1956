#include "commvq/eval/perplexity.h"

#include <cmath>
#include <vector>

#include "commvq/base/status_matchers.h"
#include "commvq/kvcache/full_precision_kv_cache.h"
#include "commvq/model/llama/random_weights.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

TEST(NegativeLogLikelihoodTest, MatchesTheDefinition) {
  const std::vector<float> logits = {1.0f, 2.0f, 3.0f};
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(NegativeLogLikelihood(logits, 0), -std::log(std::exp(1.0) / z),
              1e-12);
  EXPECT_NEAR(NegativeLogLikelihood(logits, 2), -std::log(std::exp(3.0) / z),
              1e-12);
  // Large logits do not overflow.
  const std::vector<float> big = {1000.0f, 1000.0f};
  EXPECT_NEAR(NegativeLogLikelihood(big, 1), std::log(2.0), 1e-12);
}

class PerplexityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.vocab_size = 50;
    config_.hidden = 32;
    config_.ffn_hidden = 48;
    config_.num_layers = 2;
    config_.num_heads = 4;
    config_.num_kv_heads = 2;
    config_.head_dim = 8;
    CVQ_ASSERT_OK_AND_ASSIGN(
        model_, LlamaModel::Create(config_, RandomLlamaWeights(config_, 5)));
    for (int i = 0; i < 23; ++i) tokens_.push_back((i * 7) % 50);
  }
  std::unique_ptr<KvCache> NewCache() {
    return *FullPrecisionKvCache::Create(AttentionShapeOf(config_));
  }

  LlamaConfig config_;
  std::unique_ptr<LlamaModel> model_;
  std::vector<int32_t> tokens_;
};

TEST_F(PerplexityTest, EqualsTheMeanNllOfAFullForward) {
  // Reference: one prefill over all but the last token, scored by hand.
  auto cache = NewCache();
  const int64_t n = tokens_.size();
  std::vector<float> logits((n - 1) * config_.vocab_size);
  ASSERT_THAT(model_->Forward(absl::MakeConstSpan(tokens_).first(n - 1), 0,
                              *cache,
                              MutableTensorView(logits.data(), DType::kF32,
                                                {n - 1, config_.vocab_size})),
              testing::IsOk());
  double nll = 0.0;
  for (int64_t i = 0; i + 1 < n; ++i) {
    nll += NegativeLogLikelihood(
        absl::MakeConstSpan(logits).subspan(i * config_.vocab_size,
                                            config_.vocab_size),
        tokens_[i + 1]);
  }
  for (int64_t chunk : {1, 5, 64}) {
    auto fresh = NewCache();
    PerplexityOptions options;
    options.chunk_tokens = chunk;
    CVQ_ASSERT_OK_AND_ASSIGN(PerplexityResult result,
                             EvaluatePerplexity(*model_, *fresh, tokens_, options));
    EXPECT_EQ(result.scored_tokens, n - 1);
    EXPECT_NEAR(result.mean_nll, nll / (n - 1), 1e-5) << "chunk " << chunk;
    EXPECT_NEAR(result.perplexity, std::exp(nll / (n - 1)), 1e-3);
    EXPECT_EQ(fresh->length(0), n - 1);
  }
}

TEST_F(PerplexityTest, RejectsBadInput) {
  auto cache = NewCache();
  EXPECT_THAT(EvaluatePerplexity(*model_, *cache, absl::MakeConstSpan(tokens_).first(1)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("at least 2 tokens, got 1")));
  PerplexityOptions zero_chunk;
  zero_chunk.chunk_tokens = 0;
  EXPECT_THAT(EvaluatePerplexity(*model_, *cache, tokens_, zero_chunk),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("chunk_tokens is 0")));
  ASSERT_THAT(EvaluatePerplexity(*model_, *cache, tokens_), testing::IsOk());
  EXPECT_THAT(EvaluatePerplexity(*model_, *cache, tokens_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("needs an empty cache")));
}

}  // namespace
}  // namespace commvq
