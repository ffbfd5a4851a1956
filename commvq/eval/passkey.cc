#include "commvq/eval/passkey.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "commvq/base/random.h"
#include "commvq/base/status_macros.h"

namespace commvq {
namespace {

// The prompt of the usual passkey test (Mohtashami & Jaggi, 2023).
constexpr absl::string_view kIntroduction =
    "There is an important info hidden inside a lot of irrelevant text. Find "
    "it and memorize it. I will quiz you about the important information "
    "there.\n";
constexpr absl::string_view kFiller =
    "The grass is green. The sky is blue. The sun is yellow. Here we go. "
    "There and back again.\n";
constexpr absl::string_view kQuestion = "What is the pass key? The pass key is";
constexpr int kAnswerTokens = 8;

std::string Repeat(absl::string_view text, int64_t times) {
  std::string out;
  for (int64_t i = 0; i < times; ++i) absl::StrAppend(&out, text);
  return out;
}

// The first run of 5 digits in `text`, or "".
std::string FirstFiveDigits(const std::string& text) {
  for (size_t i = 0; i + 5 <= text.size(); ++i) {
    if (std::all_of(text.begin() + i, text.begin() + i + 5,
                    [](char c) { return c >= '0' && c <= '9'; })) {
      return text.substr(i, 5);
    }
  }
  return "";
}

int ArgMax(const std::vector<float>& logits) {
  return static_cast<int>(std::max_element(logits.begin(), logits.end()) -
                          logits.begin());
}

}  // namespace

std::string PasskeyPrompt(const std::string& passkey, int64_t filler_before,
                          int64_t filler_after) {
  return absl::StrCat(kIntroduction, Repeat(kFiller, filler_before),
                      "The pass key is ", passkey, ". Remember it. ", passkey,
                      " is the pass key.\n", Repeat(kFiller, filler_after),
                      kQuestion);
}

absl::StatusOr<PasskeyResult> EvaluatePasskey(
    const LlamaModel& model, const BpeTokenizer& tokenizer,
    const std::function<absl::StatusOr<std::unique_ptr<KvCache>>()>& make_cache,
    const PasskeyOptions& options) {
  if (options.depths.empty() || options.trials_per_depth < 1 ||
      options.context_tokens < 64 || options.chunk_tokens < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "passkey: expected depths, trials_per_depth >= 1, context_tokens >= "
        "64 and chunk_tokens >= 0; got ", options.depths.size(), " depths, ",
        options.trials_per_depth, " trials, ", options.context_tokens,
        " tokens, chunk ", options.chunk_tokens));
  }
  CVQ_ASSIGN_OR_RETURN(std::vector<int32_t> filler_ids,
                       tokenizer.Encode(kFiller, false));
  const int64_t fillers = std::max<int64_t>(
      1, options.context_tokens / static_cast<int64_t>(filler_ids.size()));
  const int vocab = model.config().vocab_size;
  Rng rng(options.seed);
  PasskeyResult result;
  const int total = static_cast<int>(options.depths.size()) * options.trials_per_depth;
  for (double depth : options.depths) {
    if (!(depth >= 0.0 && depth <= 1.0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("passkey depth ", depth, " is outside [0, 1]"));
    }
    for (int t = 0; t < options.trials_per_depth; ++t) {
      PasskeyTrial trial;
      trial.depth = depth;
      trial.passkey = absl::StrCat(10000 + rng.UniformInt(90000));
      const int64_t before = std::llround(depth * fillers);
      CVQ_ASSIGN_OR_RETURN(
          std::vector<int32_t> prompt,
          tokenizer.Encode(PasskeyPrompt(trial.passkey, before, fillers - before),
                           false));
      trial.prompt_tokens = static_cast<int64_t>(prompt.size());
      CVQ_ASSIGN_OR_RETURN(std::unique_ptr<KvCache> cache, make_cache());
      std::vector<float> logits(vocab);
      ForwardOptions last;
      last.logits = LogitsMode::kLastToken;
      const MutableTensorView logits_view(logits.data(), DType::kF32, {1, vocab});
      const int64_t chunk =
          options.chunk_tokens > 0 ? options.chunk_tokens : trial.prompt_tokens;
      for (int64_t begin = 0; begin < trial.prompt_tokens; begin += chunk) {
        const int64_t count = std::min(chunk, trial.prompt_tokens - begin);
        CVQ_RETURN_IF_ERROR(model.Forward(absl::MakeConstSpan(prompt).subspan(begin, count),
                                          begin, *cache, logits_view, last));
      }
      std::vector<int32_t> answer;
      for (int i = 0; i < kAnswerTokens; ++i) {
        answer.push_back(ArgMax(logits));
        if (answer.back() == tokenizer.eos_id()) break;
        const int32_t next = answer.back();
        CVQ_RETURN_IF_ERROR(model.Forward(absl::MakeConstSpan(&next, 1),
                                          trial.prompt_tokens + i, *cache,
                                          logits_view, last));
      }
      CVQ_ASSIGN_OR_RETURN(trial.answer, tokenizer.Decode(answer));
      trial.correct = FirstFiveDigits(trial.answer) == trial.passkey;
      result.trials.push_back(std::move(trial));
      if (options.progress) {
        options.progress(static_cast<double>(result.trials.size()) / total);
      }
    }
  }
  int correct = 0;
  for (const PasskeyTrial& trial : result.trials) correct += trial.correct;
  result.accuracy = static_cast<double>(correct) / result.trials.size();
  return result;
}

}  // namespace commvq
