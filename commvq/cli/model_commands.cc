#include "commvq/cli/model_commands.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "commvq/base/status_macros.h"
#include "commvq/base/thread_pool.h"
#include "commvq/cli/progress_bar.h"
#include "commvq/eval/kv_dump.h"
#include "commvq/eval/kv_quality.h"
#include "commvq/eval/passkey.h"
#include "commvq/eval/perplexity.h"
#include "commvq/io/atomic_file.h"
#include "commvq/io/codebook_file.h"
#include "commvq/io/safetensors.h"
#include "commvq/kvcache/cache_spec.h"
#include "commvq/model/loaded_model.h"
#include "commvq/report/json.h"

namespace commvq {
namespace cli {
namespace {

// --cache's default; kvcache/cache_spec.h has every form it accepts.
constexpr absl::string_view kFullPrecisionCache = "fp32";

FlagDef ModelFlag() {
  return StringFlag("model", "PATH", "GGUF checkpoint (llama architecture).",
                    ".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf");
}
FlagDef TextFlag() {
  return StringFlag("text", "PATH", "UTF-8 text file.",
                    ".cache/texts/evaluation.txt");
}
FlagDef ThreadsFlag() {
  return IntFlag("threads", "Worker threads (default: one per core).", "", 1,
                 1024);
}
FlagDef JsonFlag() { return BoolFlag("json", "Print the result as JSON."); }
FlagDef HelpFlag() { return BoolFlag("help", "Show this command's flags."); }

int Threads(const ParsedFlags& flags) {
  return flags.Has("threads") ? static_cast<int>(flags.GetInt("threads"))
                              : ThreadPool::DefaultNumThreads();
}

// Everything the model commands share: the pool (which the model keeps a
// pointer to, so it is declared first) and the loaded model.
struct Session {
  explicit Session(int threads) : pool(threads) {}
  ThreadPool pool;
  LoadedModel loaded;
};

absl::StatusOr<std::unique_ptr<Session>> OpenSession(const ParsedFlags& flags) {
  auto session = std::make_unique<Session>(Threads(flags));
  CVQ_ASSIGN_OR_RETURN(
      session->loaded,
      LoadModel(UserPath(GetStringOr(flags, "model", ModelFlag().default_value)),
                &session->pool));
  return session;
}

// The first `max_tokens` tokens of the text file (all when max_tokens is 0).
absl::StatusOr<std::vector<int32_t>> ReadTokens(const ParsedFlags& flags,
                                                const BpeTokenizer& tokenizer,
                                                std::string* text) {
  const std::string path =
      UserPath(GetStringOr(flags, "text", TextFlag().default_value));
  CVQ_ASSIGN_OR_RETURN(*text, ReadFile(path));
  CVQ_ASSIGN_OR_RETURN(std::vector<int32_t> tokens,
                       tokenizer.Encode(*text, /*parse_special_tokens=*/false));
  const int64_t limit = flags.GetInt("tokens");
  if (limit > 0 && static_cast<int64_t>(tokens.size()) > limit) {
    tokens.resize(limit);
  }
  return tokens;
}

absl::StatusOr<std::unique_ptr<KvCache>> MakeCache(const ParsedFlags& flags,
                                                   const LlamaModel& model,
                                                   ThreadPool* pool) {
  CVQ_ASSIGN_OR_RETURN(
      CacheSpec spec,
      ParseCacheSpec(GetStringOr(flags, "cache", std::string(kFullPrecisionCache))));
  // Relative codebook paths are the user's, as every other path flag.
  spec.codebooks = spec.codebooks.empty() ? "" : UserPath(spec.codebooks);
  const AttentionShape shape = AttentionShapeOf(model.config());
  CVQ_ASSIGN_OR_RETURN(auto codecs, MakeCacheCodecs(spec, shape));
  return MakeKvCache(spec, shape, std::move(codecs), pool);
}

}  // namespace

std::string UserPath(absl::string_view path) {
  const char* base = std::getenv("BUILD_WORKSPACE_DIRECTORY");
  if (path.empty() || path[0] == '/' || base == nullptr) return std::string(path);
  return absl::StrCat(base, "/", path);
}

std::vector<FlagDef> DumpKvFlags() {
  return {ModelFlag(),
          TextFlag(),
          IntFlag("tokens", "Tokens of the text to run (0: all).", "4096", 0,
                  int64_t{1} << 24),
          StringFlag("out", "PATH", "Output safetensors file.", "kv_dump.safetensors"),
          ThreadsFlag(),
          HelpFlag()};
}

absl::Status RunDumpKv(const ParsedFlags& flags, absl::string_view,
                       const CliIo& io) {
  CVQ_ASSIGN_OR_RETURN(auto session, OpenSession(flags));
  std::string text;
  CVQ_ASSIGN_OR_RETURN(std::vector<int32_t> tokens,
                       ReadTokens(flags, *session->loaded.tokenizer, &text));
  const std::string out =
      UserPath(GetStringOr(flags, "out", "kv_dump.safetensors"));
  ProgressBar bar("dump-kv", 1.0, io.err, io.err_is_terminal);
  KvDumpOptions options;
  options.model_name = session->loaded.name;
  options.text = text;
  options.progress = [&bar](double done) { bar.Update(done); };
  CVQ_RETURN_IF_ERROR(WriteKvDump(*session->loaded.model, tokens, out, options));
  bar.Finish();
  const LlamaConfig& c = session->loaded.model->config();
  io.out << "wrote " << out << ": " << tokens.size() << " tokens x "
         << c.num_layers << " layers (queries [tokens, " << c.num_heads << ", "
         << c.head_dim << "], keys and values [tokens, " << c.num_kv_heads
         << ", " << c.head_dim << "], fp16, pre-RoPE, pairs "
         << PairLayoutName(c.pair_layout) << ")\n";
  return absl::OkStatus();
}

std::vector<FlagDef> EvalPplFlags() {
  return {ModelFlag(),
          TextFlag(),
          IntFlag("tokens", "Tokens of the text to score (0: all).", "2048", 0,
                  int64_t{1} << 24),
          StringFlag("cache", "SPEC", std::string(CacheSpecHelp()),
                     std::string(kFullPrecisionCache)),
          IntFlag("chunk", "Tokens per forward call (1 = decode mode).", "1", 1,
                  4096),
          ThreadsFlag(),
          JsonFlag(),
          HelpFlag()};
}

absl::Status RunEvalPpl(const ParsedFlags& flags, absl::string_view,
                        const CliIo& io) {
  CVQ_ASSIGN_OR_RETURN(auto session, OpenSession(flags));
  const LlamaModel& model = *session->loaded.model;
  std::string text;
  CVQ_ASSIGN_OR_RETURN(std::vector<int32_t> tokens,
                       ReadTokens(flags, *session->loaded.tokenizer, &text));
  CVQ_ASSIGN_OR_RETURN(auto cache, MakeCache(flags, model, &session->pool));
  ProgressBar bar("eval-ppl", 1.0, io.err, io.err_is_terminal);
  PerplexityOptions options;
  options.chunk_tokens = flags.GetInt("chunk");
  options.progress = [&bar](double done) { bar.Update(done); };
  CVQ_ASSIGN_OR_RETURN(PerplexityResult result,
                       EvaluatePerplexity(model, *cache, tokens, options));
  bar.Finish();
  const std::string cache_name =
      GetStringOr(flags, "cache", std::string(kFullPrecisionCache));
  const double bytes_per_token =
      static_cast<double>(cache->StoredBytes()) / cache->length(0);
  if (flags.Has("json")) {
    io.out << absl::StrFormat(
        "{\"ppl\": %.6f, \"tokens\": %d, \"cache\": \"%s\", "
        "\"kv_bytes_per_token\": %.1f}\n",
        result.perplexity, result.scored_tokens + 1, cache_name,
        bytes_per_token);
  } else {
    io.out << absl::StrFormat(
        "perplexity %.4f over %d tokens (%d scored), cache %s, %.1f KV bytes "
        "per token held\n",
        result.perplexity, result.scored_tokens + 1, result.scored_tokens,
        cache_name, bytes_per_token);
  }
  return absl::OkStatus();
}

std::vector<FlagDef> EvalPasskeyFlags() {
  return {ModelFlag(),
          IntFlag("context", "Approximate prompt length in tokens.", "2048", 64,
                  int64_t{1} << 20),
          IntFlag("trials", "Trials per depth (depths 0, .25, .5, .75, 1).",
                  "2", 1, 1000),
          IntFlag("seed", "Seed of the passkeys.", "0", 0,
                  std::numeric_limits<int64_t>::max()),
          StringFlag("cache", "SPEC", std::string(CacheSpecHelp()),
                     std::string(kFullPrecisionCache)),
          IntFlag("chunk",
                  "Prompt tokens per forward call (0: the whole prompt in "
                  "one call; with prefill=full in --cache that is the "
                  "official runtime's full-precision prefill).",
                  "256", 0, int64_t{1} << 20),
          ThreadsFlag(),
          JsonFlag(),
          HelpFlag()};
}

absl::Status RunEvalPasskey(const ParsedFlags& flags, absl::string_view,
                            const CliIo& io) {
  CVQ_ASSIGN_OR_RETURN(auto session, OpenSession(flags));
  const LlamaModel& model = *session->loaded.model;
  ProgressBar bar("eval-passkey", 1.0, io.err, io.err_is_terminal);
  PasskeyOptions options;
  options.context_tokens = flags.GetInt("context");
  options.trials_per_depth = static_cast<int>(flags.GetInt("trials"));
  options.seed = static_cast<uint64_t>(flags.GetInt("seed"));
  options.chunk_tokens = flags.GetInt("chunk");
  options.progress = [&bar](double done) { bar.Update(done); };
  CVQ_ASSIGN_OR_RETURN(
      PasskeyResult result,
      EvaluatePasskey(model, *session->loaded.tokenizer,
                      [&] { return MakeCache(flags, model, &session->pool); },
                      options));
  bar.Finish();
  if (flags.Has("json")) {
    io.out << absl::StrFormat("{\"passkey_accuracy\": %.4f, \"trials\": [",
                              result.accuracy);
    for (size_t i = 0; i < result.trials.size(); ++i) {
      const PasskeyTrial& t = result.trials[i];
      io.out << absl::StrFormat(
          "%s{\"depth\": %.2f, \"prompt_tokens\": %d, \"passkey\": \"%s\", "
          "\"answer\": %s, \"correct\": %s}",
          i ? ", " : "", t.depth, t.prompt_tokens, t.passkey,
          JsonValue::String(t.answer).Serialize(), t.correct ? "true" : "false");
    }
    io.out << "]}\n";
    return absl::OkStatus();
  }
  for (const PasskeyTrial& t : result.trials) {
    std::string answer = t.answer;
    for (char& ch : answer) {
      if (ch == '\n') ch = ' ';
    }
    io.out << absl::StrFormat("depth %.2f  %5d tokens  passkey %s  answer \"%s\"  %s\n",
                              t.depth, t.prompt_tokens, t.passkey, answer,
                              t.correct ? "ok" : "MISSED");
  }
  io.out << absl::StrFormat("passkey accuracy %.1f%% (%d trials)\n",
                            100.0 * result.accuracy, result.trials.size());
  return absl::OkStatus();
}

std::vector<FlagDef> EvalKvFlags() {
  return {StringFlag("calibration", "PATH",
                     "KV dump (dump-kv) the quantizers are trained on.",
                     "kv_calibration.safetensors"),
          StringFlag("evaluation", "PATH", "KV dump (dump-kv) they are scored on.",
                     "kv_evaluation.safetensors"),
          StringFlag("keys", "SPEC", "Key quantizer.", "kivi:mode=key,bits=2"),
          StringFlag("key_codebooks", "FILE",
                     "Use the trained key quantizers layer.<i>.key of this "
                     "codebook file (train-keys) instead of --keys."),
          StringFlag("values", "SPEC", "Value quantizer.",
                     "kivi:mode=value,bits=2"),
          StringFlag("value_codebooks", "FILE",
                     "Use the trained value quantizers layer.<i>.value of "
                     "this codebook file (train-values) instead of --values."),
          StringFlag("layers", "LIST",
                     "Comma-separated layers, e.g. 0,10,20 (default: all)."),
          IntFlag("train_tokens", "Calibration tokens to train on (0: all).",
                  "0", 0, int64_t{1} << 24),
          IntFlag("eval_tokens", "Evaluation tokens to score (0: all).", "0",
                  0, int64_t{1} << 24),
          IntFlag("queries",
                  "Query positions per head, over the second half of the "
                  "scored tokens.",
                  "64", 1, int64_t{1} << 20),
          IntFlag("seed", "Seed of training.", "0", 0,
                  std::numeric_limits<int64_t>::max()),
          ThreadsFlag(),
          JsonFlag(),
          HelpFlag()};
}

absl::Status RunEvalKv(const ParsedFlags& flags, absl::string_view,
                       const CliIo& io) {
  CVQ_ASSIGN_OR_RETURN(
      SafetensorsFile calibration,
      SafetensorsFile::Open(UserPath(GetStringOr(
          flags, "calibration", "kv_calibration.safetensors"))));
  CVQ_ASSIGN_OR_RETURN(
      SafetensorsFile evaluation,
      SafetensorsFile::Open(UserPath(
          GetStringOr(flags, "evaluation", "kv_evaluation.safetensors"))));
  std::optional<CodebookFile> key_codebooks;
  if (flags.Has("key_codebooks")) {
    CVQ_ASSIGN_OR_RETURN(key_codebooks,
                         CodebookFile::Open(UserPath(
                             GetStringOr(flags, "key_codebooks", ""))));
  }
  std::optional<CodebookFile> value_codebooks;
  if (flags.Has("value_codebooks")) {
    CVQ_ASSIGN_OR_RETURN(value_codebooks,
                         CodebookFile::Open(UserPath(
                             GetStringOr(flags, "value_codebooks", ""))));
  }
  ThreadPool pool(Threads(flags));
  KvQualityOptions options;
  options.key_spec = GetStringOr(flags, "keys", "kivi:mode=key,bits=2");
  options.key_codebooks = key_codebooks ? &*key_codebooks : nullptr;
  options.value_spec = GetStringOr(flags, "values", "kivi:mode=value,bits=2");
  options.value_codebooks = value_codebooks ? &*value_codebooks : nullptr;
  CVQ_ASSIGN_OR_RETURN(options.layers, GetIntList(flags, "layers"));
  options.max_train_tokens = flags.GetInt("train_tokens");
  options.max_eval_tokens = flags.GetInt("eval_tokens");
  options.attention_queries = static_cast<int>(flags.GetInt("queries"));
  options.seed = static_cast<uint64_t>(flags.GetInt("seed"));
  options.pool = &pool;
  ProgressBar bar("eval-kv", 1.0, io.err, io.err_is_terminal);
  options.progress = [&bar](double done) { bar.Update(done); };
  CVQ_ASSIGN_OR_RETURN(std::vector<LayerQuality> results,
                       MeasureKvQuality(calibration, evaluation, options));
  bar.Finish();
  if (flags.Has("json")) {
    io.out << KvQualityJson(results);
    return absl::OkStatus();
  }
  io.out << "keys " << results.front().key_spec << ", values "
         << results.front().value_spec << "; trained on "
         << results.front().train_tokens << " tokens, scored on "
         << results.front().eval_tokens << " tokens, "
         << results.front().attention_queries << " queries per head\n"
         << FormatKvQualityTable(results);
  return absl::OkStatus();
}

std::vector<FlagDef> GenerateFlags() {
  return {ModelFlag(),
          StringFlag("prompt", "TEXT", "Text to continue.",
                     "The capital of France is"),
          IntFlag("tokens", "Tokens to generate.", "48", 1, 4096),
          ThreadsFlag(),
          HelpFlag()};
}

absl::Status RunGenerate(const ParsedFlags& flags, absl::string_view,
                         const CliIo& io) {
  CVQ_ASSIGN_OR_RETURN(auto session, OpenSession(flags));
  const LlamaModel& model = *session->loaded.model;
  const BpeTokenizer& tokenizer = *session->loaded.tokenizer;
  const std::string prompt =
      GetStringOr(flags, "prompt", GenerateFlags()[1].default_value);
  CVQ_ASSIGN_OR_RETURN(std::vector<int32_t> tokens,
                       tokenizer.Encode(prompt, /*parse_special_tokens=*/true));
  if (tokens.empty()) {
    return absl::InvalidArgumentError("--prompt gives no tokens");
  }
  CVQ_ASSIGN_OR_RETURN(auto cache, MakeCache(flags, model, &session->pool));
  const int vocab = model.config().vocab_size;
  std::vector<float> logits(vocab);
  const MutableTensorView logits_view(logits.data(), DType::kF32, {1, vocab});
  ForwardOptions last;
  last.logits = LogitsMode::kLastToken;
  CVQ_RETURN_IF_ERROR(model.Forward(tokens, 0, *cache, logits_view, last));
  io.out << prompt;
  for (int64_t i = 0; i < flags.GetInt("tokens"); ++i) {
    const int32_t next = static_cast<int32_t>(
        std::max_element(logits.begin(), logits.end()) - logits.begin());
    if (next == tokenizer.eos_id()) break;
    CVQ_ASSIGN_OR_RETURN(std::string piece,
                         tokenizer.Decode(absl::MakeConstSpan(&next, 1)));
    io.out << piece << std::flush;
    tokens.push_back(next);
    CVQ_RETURN_IF_ERROR(model.Forward(absl::MakeConstSpan(&next, 1),
                                      static_cast<int64_t>(tokens.size()) - 1,
                                      *cache, logits_view, last));
  }
  io.out << "\n";
  return absl::OkStatus();
}

}  // namespace cli
}  // namespace commvq
