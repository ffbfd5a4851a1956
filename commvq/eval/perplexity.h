// Perplexity of a model on a token sequence, computed the way inference
// sees the cache: tokens go through Forward in chunks (1 = pure decode mode,
// each token attending to everything the cache holds), and every next token
// is scored from the logits of its predecessor.
#ifndef COMMVQ_EVAL_PERPLEXITY_H_
#define COMMVQ_EVAL_PERPLEXITY_H_

#include <cstdint>
#include <functional>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "commvq/kvcache/kv_cache.h"
#include "commvq/model/llama/llama_model.h"

namespace commvq {

struct PerplexityOptions {
  // Tokens per Forward call: 1 is decode mode. Larger chunks are faster and
  // give the same result for a cache whose attention does not depend on how
  // tokens were appended (the full-precision cache).
  int64_t chunk_tokens = 1;
  // Completed fraction in [0, 1]; may be empty.
  std::function<void(double)> progress;
};

struct PerplexityResult {
  double perplexity = 0.0;  // exp(mean negative log-likelihood)
  double mean_nll = 0.0;    // nats per scored token
  int64_t scored_tokens = 0;  // tokens.size() - 1
};

// tokens: [n], n >= 2, ids of the model's vocabulary; `cache` must be empty
// and have the model's attention shape. Afterwards the cache holds the
// first n - 1 tokens (the last one is only scored).
absl::StatusOr<PerplexityResult> EvaluatePerplexity(
    const LlamaModel& model, KvCache& cache, absl::Span<const int32_t> tokens,
    const PerplexityOptions& options = {});

// -log softmax(logits)[target], computed in double with the max subtracted.
double NegativeLogLikelihood(absl::Span<const float> logits, int32_t target);

}  // namespace commvq

#endif  // COMMVQ_EVAL_PERPLEXITY_H_
