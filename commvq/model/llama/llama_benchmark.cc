// Throughput of the LLaMA harness on a SmolLM2-135M-shaped model with random
// weights (the numbers depend on shapes, not values): prefill and decode
// tokens/s with the full-precision cache, and the GEMM's GFLOP/s on both
// kernel builds, each with 1 and 2 threads.
//
//   bazel run //commvq/model/llama:llama_benchmark
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "benchmark/benchmark.h"
#include "commvq/base/random.h"
#include "commvq/base/thread_pool.h"
#include "commvq/kvcache/full_precision_kv_cache.h"
#include "commvq/model/llama/gemm.h"
#include "commvq/model/llama/llama_model.h"
#include "commvq/model/llama/random_weights.h"

namespace commvq {
namespace {

// Prompt length of the prefill benchmark and context of the decode one.
constexpr int64_t kPromptTokens = 128;

LlamaConfig SmolLm2Config() {
  LlamaConfig config;
  config.vocab_size = 49152;
  config.hidden = 576;
  config.ffn_hidden = 1536;
  config.num_layers = 30;
  config.num_heads = 9;
  config.num_kv_heads = 3;
  config.head_dim = 64;
  config.rope_theta = 100000.0;
  config.rms_eps = 1e-5;
  config.pair_layout = PairLayout::kInterleaved;
  config.tied_embeddings = true;
  return config;
}


// A model bound to a pool of `threads` threads, built on first use and kept
// for the rest of the run (~0.5 GB each).
struct Harness {
  explicit Harness(int threads) : pool(threads) {
    const LlamaConfig config = SmolLm2Config();
    model = LlamaModel::Create(config, RandomLlamaWeights(config, 1), &pool).value();
  }

  std::unique_ptr<FullPrecisionKvCache> NewCache() {
    FullPrecisionKvCacheOptions options;
    options.pool = &pool;
    return FullPrecisionKvCache::Create(AttentionShapeOf(model->config()),
                                        options)
        .value();
  }

  ThreadPool pool;
  std::unique_ptr<LlamaModel> model;
};

Harness& SharedHarness(int threads) {
  static auto* harnesses = new std::map<int, std::unique_ptr<Harness>>();
  std::unique_ptr<Harness>& harness = (*harnesses)[threads];
  if (harness == nullptr) harness = std::make_unique<Harness>(threads);
  return *harness;
}

std::vector<int32_t> PromptTokens(int64_t n, int vocab_size) {
  Rng rng(2);
  std::vector<int32_t> tokens(n);
  for (int32_t& token : tokens) {
    token = static_cast<int32_t>(rng.UniformInt(vocab_size));
  }
  return tokens;
}

void BM_Prefill(benchmark::State& state) {
  Harness& harness = SharedHarness(static_cast<int>(state.range(0)));
  const LlamaModel& model = *harness.model;
  const int vocab = model.config().vocab_size;
  const std::vector<int32_t> tokens = PromptTokens(kPromptTokens, vocab);
  std::unique_ptr<FullPrecisionKvCache> cache = harness.NewCache();
  std::vector<float> logits(vocab);
  ForwardOptions options;
  options.logits = LogitsMode::kLastToken;
  for (auto _ : state) {
    if (!cache->Truncate(0).ok()) state.SkipWithError("Truncate failed");
    const absl::Status status = model.Forward(
        tokens, 0, *cache,
        MutableTensorView(logits.data(), DType::kF32, {1, vocab}), options);
    if (!status.ok()) state.SkipWithError(status.ToString().c_str());
  }
  state.counters["tokens/s"] = benchmark::Counter(
      static_cast<double>(kPromptTokens * state.iterations()),
      benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Prefill)
    ->ArgName("threads")
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_Decode(benchmark::State& state) {
  Harness& harness = SharedHarness(static_cast<int>(state.range(0)));
  const LlamaModel& model = *harness.model;
  const int vocab = model.config().vocab_size;
  const std::vector<int32_t> tokens = PromptTokens(kPromptTokens + 1, vocab);
  std::unique_ptr<FullPrecisionKvCache> cache = harness.NewCache();
  std::vector<float> logits(vocab);
  const MutableTensorView logits_view(logits.data(), DType::kF32, {1, vocab});
  ForwardOptions options;
  options.logits = LogitsMode::kLastToken;
  const absl::Span<const int32_t> prompt(tokens.data(), kPromptTokens);
  if (!model.Forward(prompt, 0, *cache, logits_view, options).ok()) {
    state.SkipWithError("prefill failed");
  }
  // Each iteration decodes the token after the prompt, then drops it again,
  // so every step runs at the same context length.
  const absl::Span<const int32_t> next(&tokens[kPromptTokens], 1);
  for (auto _ : state) {
    const absl::Status status =
        model.Forward(next, kPromptTokens, *cache, logits_view, options);
    if (!status.ok()) state.SkipWithError(status.ToString().c_str());
    if (!cache->Truncate(kPromptTokens).ok()) {
      state.SkipWithError("Truncate failed");
    }
  }
  state.counters["tokens/s"] = benchmark::Counter(
      static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Decode)
    ->ArgName("threads")
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The FFN up projection of SmolLM2: y = x W^T with W [1536, 576]; m = 1 is a
// decode step, m = kPromptTokens a prefill.
void BM_Gemm(benchmark::State& state) {
  const int64_t m = state.range(0);
  const GemmIsa isa = state.range(1) ? DetectGemmIsa() : GemmIsa::kBaseline;
  constexpr int64_t kN = 1536, kK = 576;
  Rng rng(3);
  std::vector<float> x(m * kK), weights(kN * kK);
  rng.FillNormal(absl::MakeSpan(x), 0.0f, 1.0f);
  rng.FillNormal(absl::MakeSpan(weights), 0.0f, 1.0f);
  const PackedMatrix w(std::move(weights), kN, kK);
  std::vector<float> y(m * kN);
  ThreadPool pool(static_cast<int>(state.range(2)));
  for (auto _ : state) {
    MatMulTransposedOn(isa, x, m, w, absl::MakeSpan(y), &pool);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetLabel(isa == GemmIsa::kAvx2 ? "avx2" : "baseline");
  state.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * m * kN * kK * state.iterations(), benchmark::Counter::kIsRate,
      benchmark::Counter::kIs1000);
}
BENCHMARK(BM_Gemm)
    ->ArgNames({"m", "best_isa", "threads"})
    ->ArgsProduct({{1, kPromptTokens}, {0, 1}, {1, 2}})
    ->UseRealTime();

}  // namespace
}  // namespace commvq

BENCHMARK_MAIN();
