#include "commvq/model/llama/llama_model.h"
#include "commvq/model/llama/random_weights.h"

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "commvq/base/random.h"
#include "commvq/base/status_matchers.h"
#include "commvq/base/thread_pool.h"
#include "commvq/kvcache/full_precision_kv_cache.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::IsOk;
using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

LlamaConfig TinyConfig(PairLayout layout, bool tied) {
  LlamaConfig config;
  config.vocab_size = 64;
  config.hidden = 32;
  config.ffn_hidden = 40;  // not a multiple of the 16-row GEMM panel
  config.num_layers = 2;
  config.num_heads = 4;
  config.num_kv_heads = 2;
  config.head_dim = 8;
  config.rope_theta = 10000.0;
  config.rms_eps = 1e-5;
  config.pair_layout = layout;
  config.tied_embeddings = tied;
  return config;
}


// ---- The naive reference forward pass, in double, from the definitions. ----

using Matrix = std::vector<std::vector<double>>;  // [rows][cols]

// y = W x for each row x of `x`; w: [out, in] row-major.
Matrix Project(const Matrix& x, const std::vector<float>& w, int64_t out) {
  Matrix y(x.size(), std::vector<double>(out));
  const int64_t in = static_cast<int64_t>(x[0].size());
  for (size_t r = 0; r < x.size(); ++r) {
    for (int64_t o = 0; o < out; ++o) {
      for (int64_t i = 0; i < in; ++i) y[r][o] += w[o * in + i] * x[r][i];
    }
  }
  return y;
}

Matrix Normalize(const Matrix& x, const std::vector<float>& gain, double eps) {
  Matrix y = x;
  for (auto& row : y) {
    double sum_squares = 0.0;
    for (double v : row) sum_squares += v * v;
    const double scale = 1.0 / std::sqrt(sum_squares / row.size() + eps);
    for (size_t i = 0; i < row.size(); ++i) row[i] *= scale * gain[i];
  }
  return y;
}

// Rotates every head of row p by RoPE at position p (rows are positions).
void ApplyRope(const LlamaConfig& config, Matrix& x) {
  const int d = config.head_dim;
  for (size_t p = 0; p < x.size(); ++p) {
    for (size_t head = 0; head < x[p].size() / d; ++head) {
      double* v = &x[p][head * d];
      for (int j = 0; j < d / 2; ++j) {
        const bool half = config.pair_layout == PairLayout::kHalf;
        const int a = half ? j : 2 * j;
        const int b = half ? j + d / 2 : 2 * j + 1;
        const double angle = p * std::pow(config.rope_theta, -2.0 * j / d);
        const double va = v[a], vb = v[b];
        v[a] = va * std::cos(angle) - vb * std::sin(angle);
        v[b] = va * std::sin(angle) + vb * std::cos(angle);
      }
    }
  }
}

struct ReferenceResult {
  Matrix logits;             // [t][vocab]
  std::vector<Matrix> keys;  // per layer, pre-RoPE [t][kv * head_dim]
};

ReferenceResult ReferenceForward(const LlamaConfig& config,
                                 const LlamaWeights& w,
                                 const std::vector<int32_t>& tokens) {
  const int64_t t = static_cast<int64_t>(tokens.size());
  const int d = config.head_dim;
  const int group = config.num_heads / config.num_kv_heads;
  ReferenceResult result;
  Matrix x(t, std::vector<double>(config.hidden));
  for (int64_t i = 0; i < t; ++i) {
    for (int c = 0; c < config.hidden; ++c) {
      x[i][c] = w.token_embedding[tokens[i] * config.hidden + c];
    }
  }
  for (const LlamaLayerWeights& layer : w.layers) {
    Matrix h = Normalize(x, layer.attn_norm, config.rms_eps);
    Matrix q = Project(h, layer.wq, config.num_heads * d);
    Matrix k = Project(h, layer.wk, config.num_kv_heads * d);
    const Matrix v = Project(h, layer.wv, config.num_kv_heads * d);
    result.keys.push_back(k);
    ApplyRope(config, q);
    ApplyRope(config, k);
    Matrix attention(t, std::vector<double>(config.num_heads * d));
    for (int64_t i = 0; i < t; ++i) {
      for (int head = 0; head < config.num_heads; ++head) {
        const int g = head / group;
        std::vector<double> p(i + 1);
        double max_score = -INFINITY, sum = 0.0;
        for (int64_t j = 0; j <= i; ++j) {
          for (int c = 0; c < d; ++c)
            p[j] += q[i][head * d + c] * k[j][g * d + c];
          p[j] /= std::sqrt(double(d));
          max_score = std::max(max_score, p[j]);
        }
        for (double& s : p) sum += (s = std::exp(s - max_score));
        for (int64_t j = 0; j <= i; ++j) {
          for (int c = 0; c < d; ++c) {
            attention[i][head * d + c] += p[j] / sum * v[j][g * d + c];
          }
        }
      }
    }
    const Matrix o = Project(attention, layer.wo, config.hidden);
    for (int64_t i = 0; i < t; ++i) {
      for (int c = 0; c < config.hidden; ++c) x[i][c] += o[i][c];
    }
    h = Normalize(x, layer.ffn_norm, config.rms_eps);
    Matrix gate = Project(h, layer.w_gate, config.ffn_hidden);
    const Matrix up = Project(h, layer.w_up, config.ffn_hidden);
    for (int64_t i = 0; i < t; ++i) {
      for (int c = 0; c < config.ffn_hidden; ++c) {
        gate[i][c] = gate[i][c] / (1.0 + std::exp(-gate[i][c])) * up[i][c];
      }
    }
    const Matrix down = Project(gate, layer.w_down, config.hidden);
    for (int64_t i = 0; i < t; ++i) {
      for (int c = 0; c < config.hidden; ++c) x[i][c] += down[i][c];
    }
  }
  result.logits = Project(Normalize(x, w.output_norm, config.rms_eps),
                          config.tied_embeddings ? w.token_embedding : w.output,
                          config.vocab_size);
  return result;
}

// ---- Helpers around the model under test. ----

std::unique_ptr<FullPrecisionKvCache> NewCache(const LlamaConfig& config,
                                               ThreadPool* pool = nullptr) {
  FullPrecisionKvCacheOptions options;
  options.block_tokens = 4;  // several blocks in every test
  options.pool = pool;
  absl::StatusOr<std::unique_ptr<FullPrecisionKvCache>> cache =
      FullPrecisionKvCache::Create(AttentionShapeOf(config), options);
  EXPECT_THAT(cache, IsOk());
  return std::move(cache).value();
}

// Forward of `tokens` at first_position with logits of every token (or of
// the last one); the logits come back row-major.
absl::StatusOr<std::vector<float>> RunForward(
    const LlamaModel& model, const std::vector<int32_t>& tokens,
    int64_t first_position, KvCache& cache,
    const ForwardOptions& options = {}) {
  const int64_t rows = options.logits == LogitsMode::kAllTokens
                           ? static_cast<int64_t>(tokens.size())
                           : 1;
  const int64_t vocab = model.config().vocab_size;
  std::vector<float> logits(rows * vocab);
  CVQ_RETURN_IF_ERROR(model.Forward(
      tokens, first_position, cache,
      MutableTensorView(logits.data(), DType::kF32, {rows, vocab}), options));
  return logits;
}

std::vector<int32_t> RandomTokens(int64_t n, int vocab, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> tokens(n);
  for (int32_t& token : tokens)
    token = static_cast<int32_t>(rng.UniformInt(vocab));
  return tokens;
}

std::vector<float> Flatten(const Matrix& m) {
  std::vector<float> flat;
  for (const auto& row : m) flat.insert(flat.end(), row.begin(), row.end());
  return flat;
}

// (pair layout, tied embeddings).
class LlamaModelTest
    : public ::testing::TestWithParam<std::tuple<PairLayout, bool>> {
 protected:
  static constexpr int64_t kTokens = 11;

  LlamaModelTest()
      : config_(TinyConfig(std::get<0>(GetParam()), std::get<1>(GetParam()))),
        weights_(RandomLlamaWeights(config_, 7)),
        tokens_(RandomTokens(kTokens, config_.vocab_size, 8)) {}

  std::unique_ptr<LlamaModel> NewModel(ThreadPool* pool = nullptr) const {
    absl::StatusOr<std::unique_ptr<LlamaModel>> model =
        LlamaModel::Create(config_, weights_, pool);
    EXPECT_THAT(model, IsOk());
    return std::move(model).value();
  }

  const LlamaConfig config_;
  const LlamaWeights weights_;
  const std::vector<int32_t> tokens_;
};

TEST_P(LlamaModelTest, PrefillMatchesNaiveReference) {
  std::unique_ptr<LlamaModel> model = NewModel();
  std::unique_ptr<FullPrecisionKvCache> cache = NewCache(config_);
  CVQ_ASSERT_OK_AND_ASSIGN(std::vector<float> logits,
                           RunForward(*model, tokens_, 0, *cache));
  EXPECT_THAT(
      logits,
      ::testing::Pointwise(
          ::testing::FloatNear(1e-4),
          Flatten(ReferenceForward(config_, weights_, tokens_).logits)));
  EXPECT_EQ(cache->length(0), kTokens);
  EXPECT_EQ(cache->length(1), kTokens);
}

TEST_P(LlamaModelTest, DecodeOneTokenAtATimeMatchesPrefill) {
  std::unique_ptr<LlamaModel> model = NewModel();
  std::unique_ptr<FullPrecisionKvCache> prefill_cache = NewCache(config_);
  CVQ_ASSERT_OK_AND_ASSIGN(std::vector<float> prefill,
                           RunForward(*model, tokens_, 0, *prefill_cache));

  std::unique_ptr<FullPrecisionKvCache> cache = NewCache(config_);
  std::vector<float> decoded;
  for (int64_t i = 0; i < kTokens; ++i) {
    CVQ_ASSERT_OK_AND_ASSIGN(std::vector<float> step,
                             RunForward(*model, {tokens_[i]}, i, *cache));
    decoded.insert(decoded.end(), step.begin(), step.end());
  }
  EXPECT_THAT(decoded,
              ::testing::Pointwise(::testing::FloatNear(1e-4), prefill));
}

TEST_P(LlamaModelTest, ChunkedPrefillWithLastTokenLogitsMatchesPrefill) {
  std::unique_ptr<LlamaModel> model = NewModel();
  std::unique_ptr<FullPrecisionKvCache> full_cache = NewCache(config_);
  CVQ_ASSERT_OK_AND_ASSIGN(std::vector<float> full,
                           RunForward(*model, tokens_, 0, *full_cache));

  std::unique_ptr<FullPrecisionKvCache> cache = NewCache(config_);
  ForwardOptions last_only;
  last_only.logits = LogitsMode::kLastToken;
  const std::vector<int32_t> head(tokens_.begin(), tokens_.begin() + 6);
  const std::vector<int32_t> tail(tokens_.begin() + 6, tokens_.end());
  CVQ_ASSERT_OK_AND_ASSIGN(std::vector<float> head_logits,
                           RunForward(*model, head, 0, *cache, last_only));
  CVQ_ASSERT_OK_AND_ASSIGN(std::vector<float> tail_logits,
                           RunForward(*model, tail, 6, *cache, last_only));
  const int64_t vocab = config_.vocab_size;
  EXPECT_THAT(head_logits, ::testing::Pointwise(
                               ::testing::FloatNear(1e-4),
                               std::vector<float>(full.begin() + 5 * vocab,
                                                  full.begin() + 6 * vocab)));
  EXPECT_THAT(
      tail_logits,
      ::testing::Pointwise(::testing::FloatNear(1e-4),
                           std::vector<float>(full.end() - vocab, full.end())));
}

TEST_P(LlamaModelTest, ThreadCountDoesNotChangeLogits) {
  std::unique_ptr<LlamaModel> serial = NewModel();
  std::unique_ptr<FullPrecisionKvCache> serial_cache = NewCache(config_);
  ThreadPool pool(4);
  std::unique_ptr<LlamaModel> parallel = NewModel(&pool);
  std::unique_ptr<FullPrecisionKvCache> parallel_cache =
      NewCache(config_, &pool);
  for (const auto& [tokens, position] :
       std::vector<std::pair<std::vector<int32_t>, int64_t>>{
           {tokens_, 0}, {{5}, kTokens}, {{9}, kTokens + 1}}) {
    CVQ_ASSERT_OK_AND_ASSIGN(
        std::vector<float> expected,
        RunForward(*serial, tokens, position, *serial_cache));
    CVQ_ASSERT_OK_AND_ASSIGN(
        std::vector<float> actual,
        RunForward(*parallel, tokens, position, *parallel_cache));
    EXPECT_EQ(actual, expected) << "at position " << position;
  }
}

// Records what the model shows a LayerObserver.
class RecordingObserver : public LayerObserver {
 public:
  void OnLayer(int layer, const TensorView& queries, const TensorView& keys,
               const TensorView& values) override {
    layers.push_back(layer);
    query_shapes.push_back(queries.shape());
    value_shapes.push_back(values.shape());
    const auto k = keys.span<float>();
    this->keys.emplace_back(k.begin(), k.end());
    key_shapes.push_back(keys.shape());
  }

  std::vector<int> layers;
  std::vector<Shape> query_shapes, key_shapes, value_shapes;
  std::vector<std::vector<float>> keys;
};

TEST_P(LlamaModelTest, ObserverSeesPreRopeProjectionsOfEveryLayer) {
  std::unique_ptr<LlamaModel> model = NewModel();
  std::unique_ptr<FullPrecisionKvCache> cache = NewCache(config_);
  RecordingObserver observer;
  ForwardOptions options;
  options.observer = &observer;
  ASSERT_THAT(RunForward(*model, tokens_, 0, *cache, options), IsOk());

  EXPECT_EQ(observer.layers, std::vector<int>({0, 1}));
  const ReferenceResult reference =
      ReferenceForward(config_, weights_, tokens_);
  for (int l = 0; l < 2; ++l) {
    EXPECT_EQ(observer.query_shapes[l], Shape({kTokens, 4, 8}));
    EXPECT_EQ(observer.key_shapes[l], Shape({kTokens, 2, 8}));
    EXPECT_EQ(observer.value_shapes[l], Shape({kTokens, 2, 8}));
    EXPECT_THAT(observer.keys[l],
                ::testing::Pointwise(::testing::FloatNear(1e-4),
                                     Flatten(reference.keys[l])))
        << "layer " << l;
  }
}

INSTANTIATE_TEST_SUITE_P(
    LayoutsAndTying, LlamaModelTest,
    ::testing::Combine(::testing::Values(PairLayout::kHalf,
                                         PairLayout::kInterleaved),
                       ::testing::Bool()),
    [](const auto& info) {
      return absl::StrCat(PairLayoutName(std::get<0>(info.param)),
                          std::get<1>(info.param) ? "_tied" : "_untied");
    });

class LlamaModelErrorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CVQ_ASSERT_OK_AND_ASSIGN(
        model_, LlamaModel::Create(config_, RandomLlamaWeights(config_, 3)));
    cache_ = NewCache(config_);
  }

  const LlamaConfig config_ = TinyConfig(PairLayout::kInterleaved, false);
  std::unique_ptr<LlamaModel> model_;
  std::unique_ptr<FullPrecisionKvCache> cache_;
};

TEST_F(LlamaModelErrorTest, RejectsTokensOutsideTheVocabulary) {
  EXPECT_THAT(RunForward(*model_, {1, 64, 2}, 0, *cache_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tokens[1] = 64 is outside the vocabulary "
                                 "[0, 64)")));
  EXPECT_THAT(RunForward(*model_, {-1}, 0, *cache_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tokens[0] = -1")));
  EXPECT_THAT(RunForward(*model_, {}, 0, *cache_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("at least one token")));
  EXPECT_EQ(cache_->length(0), 0);
}

TEST_F(LlamaModelErrorTest, RejectsPositionsThatDoNotContinueTheCache) {
  ASSERT_THAT(RunForward(*model_, {1, 2, 3}, 0, *cache_), IsOk());
  EXPECT_THAT(RunForward(*model_, {4}, 2, *cache_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("first_position 2 does not continue the "
                                 "cache: layer 0 holds 3 tokens")));
  EXPECT_EQ(cache_->length(0), 3);
}

TEST_F(LlamaModelErrorTest, RejectsAMismatchedCacheOrLogits) {
  std::unique_ptr<FullPrecisionKvCache> half_cache =
      NewCache(TinyConfig(PairLayout::kHalf, false));
  EXPECT_THAT(RunForward(*model_, {1}, 0, *half_cache),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("pairs half} differs from the model's")));
  std::vector<float> logits(2 * 64);
  EXPECT_THAT(
      model_->Forward({1}, 0, *cache_,
                      MutableTensorView(logits.data(), DType::kF32, {2, 64})),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("logits: expected shape [1, 64], got [2, 64]")));
}

// Delegates to another cache but fails attention in one layer.
class FailingCache : public KvCache {
 public:
  FailingCache(std::unique_ptr<KvCache> inner, int failing_layer)
      : KvCache(inner->shape()),
        inner_(std::move(inner)),
        failing_layer_(failing_layer) {}
  int64_t length(int layer) const override { return inner_->length(layer); }
  int64_t StoredBytes() const override { return inner_->StoredBytes(); }

 protected:
  absl::Status DoAppend(int layer, const float* keys, const float* values,
                        int64_t t) override {
    const int kv_heads = shape().num_kv_heads, head_dim = shape().head_dim;
    return inner_->Append(
        layer, TensorView(keys, DType::kF32, {t, kv_heads, head_dim}),
        TensorView(values, DType::kF32, {t, kv_heads, head_dim}));
  }
  absl::Status DoAttend(int layer, const float* queries,
                        absl::Span<const int64_t> positions,
                        float* out) const override {
    if (layer == failing_layer_) {
      return absl::InternalError(
          absl::StrCat("attention failed in layer ", layer));
    }
    const int64_t t = static_cast<int64_t>(positions.size());
    const int heads = shape().num_heads, head_dim = shape().head_dim;
    return inner_->Attend(
        layer, TensorView(queries, DType::kF32, {t, heads, head_dim}),
        positions, MutableTensorView(out, DType::kF32, {t, heads, head_dim}));
  }
  absl::Status DoTruncate(int64_t length) override {
    return inner_->Truncate(length);
  }

 private:
  std::unique_ptr<KvCache> inner_;
  const int failing_layer_;
};

TEST_F(LlamaModelErrorTest, CacheErrorRollsTheCacheBack) {
  ASSERT_THAT(RunForward(*model_, {7, 8, 9}, 0, *cache_), IsOk());
  FailingCache cache(std::move(cache_), /*failing_layer=*/1);
  // Layer 0 appends and attends; layer 1 appends, then fails.
  EXPECT_THAT(RunForward(*model_, {1, 2}, 3, cache),
              StatusIs(absl::StatusCode::kInternal,
                       HasSubstr("attention failed in layer 1")));
  EXPECT_EQ(cache.length(0), 3);
  EXPECT_EQ(cache.length(1), 3);
}

TEST(LlamaWeightsTest, ValidateWeightsNamesTheMismatch) {
  LlamaConfig config = TinyConfig(PairLayout::kInterleaved, false);
  LlamaWeights weights = RandomLlamaWeights(config, 1);
  CVQ_EXPECT_OK(ValidateWeights(config, weights));

  weights.layers[1].wk.resize(100);
  EXPECT_THAT(ValidateWeights(config, weights),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("layers[1].wk has 100 floats; expected "
                                 "[16, 32] = 512")));
  EXPECT_THAT(
      LlamaModel::Create(config, weights),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("layers[1].wk")));

  weights = RandomLlamaWeights(config, 1);
  weights.layers.pop_back();
  EXPECT_THAT(
      ValidateWeights(config, weights),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("layers has 1 entries; expected num_layers = 2")));

  weights = RandomLlamaWeights(config, 1);
  config.tied_embeddings = true;
  EXPECT_THAT(ValidateWeights(config, weights),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("output has 2048 floats; expected none")));
  config.tied_embeddings = false;
  weights.output_norm.clear();
  EXPECT_THAT(ValidateWeights(config, weights),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("output_norm has 0 floats; expected [32]")));
}

TEST(LlamaConfigTest, ValidateConfigNamesTheField) {
  LlamaConfig config = TinyConfig(PairLayout::kInterleaved, false);
  CVQ_EXPECT_OK(ValidateConfig(config));
  config.num_kv_heads = 3;
  EXPECT_THAT(
      ValidateConfig(config),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("num_kv_heads 3 does not divide num_heads 4")));
  config = TinyConfig(PairLayout::kInterleaved, false);
  config.ffn_hidden = 0;
  EXPECT_THAT(ValidateConfig(config),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("ffn_hidden must be positive; got 0")));
  config = TinyConfig(PairLayout::kInterleaved, false);
  config.rms_eps = 0.0;
  EXPECT_THAT(
      ValidateConfig(config),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rms_eps")));
}

}  // namespace
}  // namespace commvq
