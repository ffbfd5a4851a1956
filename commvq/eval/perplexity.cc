#include "commvq/eval/perplexity.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "commvq/base/status_macros.h"

namespace commvq {

double NegativeLogLikelihood(absl::Span<const float> logits, int32_t target) {
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (float l : logits) sum += std::exp(double{l} - max_logit);
  return std::log(sum) - (double{logits[target]} - max_logit);
}

absl::StatusOr<PerplexityResult> EvaluatePerplexity(
    const LlamaModel& model, KvCache& cache, absl::Span<const int32_t> tokens,
    const PerplexityOptions& options) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "perplexity needs at least 2 tokens, got ", n));
  }
  if (options.chunk_tokens < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "chunk_tokens is ", options.chunk_tokens, ": expected at least 1"));
  }
  if (cache.length(0) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "perplexity needs an empty cache; it holds ", cache.length(0),
        " tokens"));
  }
  const int vocab = model.config().vocab_size;
  std::vector<float> logits;
  double total_nll = 0.0;
  for (int64_t begin = 0; begin < n - 1; begin += options.chunk_tokens) {
    // The last token is never fed: nothing follows it to score.
    const int64_t count = std::min(options.chunk_tokens, n - 1 - begin);
    logits.resize(count * vocab);
    CVQ_RETURN_IF_ERROR(model.Forward(
        tokens.subspan(begin, count), begin, cache,
        MutableTensorView(logits.data(), DType::kF32, {count, vocab})));
    for (int64_t i = 0; i < count; ++i) {
      total_nll += NegativeLogLikelihood(
          absl::MakeConstSpan(logits).subspan(i * vocab, vocab),
          tokens[begin + i + 1]);
    }
    if (options.progress) {
      options.progress(static_cast<double>(begin + count) / (n - 1));
    }
  }
  PerplexityResult result;
  result.scored_tokens = n - 1;
  result.mean_nll = total_nll / result.scored_tokens;
  result.perplexity = std::exp(result.mean_nll);
  return result;
}

}  // namespace commvq
