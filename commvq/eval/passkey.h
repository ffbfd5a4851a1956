// Passkey retrieval: a random 5-digit number hidden at a given depth of
// filler text; the model must repeat it (greedy decoding). A long-context
// probe that a lossy KV cache fails first.
#ifndef COMMVQ_EVAL_PASSKEY_H_
#define COMMVQ_EVAL_PASSKEY_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "commvq/kvcache/kv_cache.h"
#include "commvq/model/llama/llama_model.h"
#include "commvq/model/tokenizer/bpe_tokenizer.h"

namespace commvq {

struct PasskeyOptions {
  // Approximate prompt length in tokens.
  int64_t context_tokens = 2048;
  // Where the passkey sits, as a fraction of the filler (0 = start).
  std::vector<double> depths = {0.0, 0.25, 0.5, 0.75, 1.0};
  int trials_per_depth = 2;
  uint64_t seed = 0;
  // Tokens per Forward call while reading the prompt; 0: the whole prompt
  // in one call.
  int64_t chunk_tokens = 256;
  std::function<void(double)> progress;
};

struct PasskeyTrial {
  double depth = 0.0;
  int64_t prompt_tokens = 0;
  std::string passkey;
  std::string answer;  // what the model generated
  bool correct = false;
};

struct PasskeyResult {
  std::vector<PasskeyTrial> trials;
  double accuracy = 0.0;
};

// The prompt of one trial (exposed for tests and for showing it).
std::string PasskeyPrompt(const std::string& passkey, int64_t filler_before,
                          int64_t filler_after);

// make_cache: a fresh empty cache per trial.
absl::StatusOr<PasskeyResult> EvaluatePasskey(
    const LlamaModel& model, const BpeTokenizer& tokenizer,
    const std::function<absl::StatusOr<std::unique_ptr<KvCache>>()>& make_cache,
    const PasskeyOptions& options);

}  // namespace commvq

#endif  // COMMVQ_EVAL_PASSKEY_H_
