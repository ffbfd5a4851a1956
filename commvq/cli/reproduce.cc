#include "commvq/cli/reproduce.h"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "commvq/base/status_macros.h"
#include "commvq/base/thread_pool.h"
#include "commvq/cli/model_commands.h"
#include "commvq/cli/reproduce_methods.h"
#include "commvq/io/atomic_file.h"
#include "commvq/io/safetensors.h"
#include "commvq/model/gguf/gguf_file.h"
#include "commvq/report/json.h"
#include "commvq/report/plots.h"
#include "commvq/report/report.h"

namespace commvq {
namespace cli {
namespace {

constexpr char kDefaultModel[] =
    ".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf";

// What the run measures with; the defaults fit in 15 minutes on 2 cores,
// --full trains with the official budget.
struct Settings {
  std::string model, calibration_text, evaluation_text, out_dir, gnuplot;
  int64_t calibration_tokens = 0;  // dumped and trained on
  int64_t kv_eval_tokens = 0;      // evaluation dump (eval-kv)
  int64_t ppl_tokens = 0;
  int64_t passkey_context = 0;
  int64_t passkey_trials = 0;
  int64_t window = 0;
  int64_t key_iterations = 0;
  int64_t key_samples = 0;  // 0 = all calibration tokens
  int64_t value_samples = 0;
  int64_t baseline_samples = 0;  // rvq training (and eval-kv's training)
  std::vector<int64_t> bench_contexts;
  bool full = false;
  int threads = 1;
  std::vector<ReproduceMethod> methods;
};

int64_t IntOr(const ParsedFlags& flags, absl::string_view name,
              int64_t full_value, bool full) {
  return full && !flags.Has(name) ? full_value : flags.GetInt(name);
}

absl::StatusOr<Settings> ReadSettings(const ParsedFlags& flags) {
  Settings s;
  s.full = flags.Has("full");
  s.model = UserPath(GetStringOr(flags, "model", kDefaultModel));
  s.calibration_text = UserPath(
      GetStringOr(flags, "calibration_text", ".cache/texts/calibration.txt"));
  s.evaluation_text = UserPath(
      GetStringOr(flags, "evaluation_text", ".cache/texts/evaluation.txt"));
  s.out_dir = UserPath(GetStringOr(flags, "out", "out/reproduce"));
  s.gnuplot = GetStringOr(flags, "gnuplot", "gnuplot");
  // --full: the official EM budget (100 iterations per stage) on every
  // token of a longer calibration dump, and longer evaluations.
  s.calibration_tokens = IntOr(flags, "calibration_tokens", 8192, s.full);
  s.kv_eval_tokens = IntOr(flags, "kv_eval_tokens", 2048, s.full);
  s.ppl_tokens = IntOr(flags, "ppl_tokens", 2048, s.full);
  s.passkey_context = IntOr(flags, "passkey_context", 2048, s.full);
  s.passkey_trials = IntOr(flags, "passkey_trials", 2, s.full);
  s.window = flags.GetInt("window");
  s.key_iterations = IntOr(flags, "key_iters", 100, s.full);
  s.key_samples = IntOr(flags, "key_samples", 0, s.full);
  s.value_samples = IntOr(flags, "value_samples", 0, s.full);
  s.baseline_samples = IntOr(flags, "baseline_samples", 0, s.full);
  s.threads = flags.Has("threads") ? static_cast<int>(flags.GetInt("threads"))
                                   : ThreadPool::DefaultNumThreads();
  for (absl::string_view item :
       absl::StrSplit(GetStringOr(flags, "bench_contexts", "512,1024,2048,4096"),
                      ',', absl::SkipEmpty())) {
    int64_t context = 0;
    if (!absl::SimpleAtoi(item, &context) || context < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--bench_contexts: expected positive token counts, got '", item, "'"));
    }
    s.bench_contexts.push_back(context);
  }
  const std::string wanted = GetStringOr(flags, "methods", "");
  for (const ReproduceMethod& method : ReproduceMethods()) {
    if (wanted.empty()) s.methods.push_back(method);
  }
  for (absl::string_view name : absl::StrSplit(wanted, ',', absl::SkipEmpty())) {
    const ReproduceMethod* found = nullptr;
    std::vector<std::string> known;
    for (const ReproduceMethod& method : ReproduceMethods()) {
      if (method.name == name) found = &method;
      known.push_back(method.name);
    }
    if (found == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("--methods: unknown method '", name, "'; expected some of ",
                       absl::StrJoin(known, ", ")));
    }
    s.methods.push_back(*found);
  }
  return s;
}

std::string CalibrationDump(const Settings& s) {
  return s.out_dir + "/kv_calibration.safetensors";
}
std::string EvaluationDump(const Settings& s) {
  return s.out_dir + "/kv_evaluation.safetensors";
}

absl::Status CopyFile(const std::string& from, const std::string& to) {
  CVQ_ASSIGN_OR_RETURN(const std::string bytes, ReadFile(from));
  return WriteFileAtomically(to, bytes);
}

// Every stage the run needs, in order, built from the settings alone so
// that the count is known before the first runs.
class StagePlan {
 public:
  explicit StagePlan(const Settings& s) : s_(s) {
    threads_ = {"--threads", absl::StrCat(s.threads)};
  }

  Stage Dump(bool calibration) const {
    const std::string text =
        calibration ? s_.calibration_text : s_.evaluation_text;
    const std::string out = calibration ? CalibrationDump(s_) : EvaluationDump(s_);
    const int64_t tokens = calibration
                               ? s_.calibration_tokens
                               : std::max(s_.kv_eval_tokens, s_.ppl_tokens);
    return Make(calibration ? "dump.calibration" : "dump.evaluation",
                absl::StrCat("dump KV of the ",
                             calibration ? "calibration" : "evaluation",
                             " text (", tokens, " tokens)"),
                {"dump-kv", "--model", s_.model, "--text", text, "--tokens",
                 absl::StrCat(tokens), "--out", out},
                {s_.model, text}, {out});
  }

  Stage TrainKeys(int bits) const {
    const std::string out = KeyCodebookFile(s_.out_dir, bits);
    return Make(absl::StrCat("train.keys", bits),
                absl::StrCat("train CommVQ keys, ", bits, " bit"),
                {"train-keys", "--kv", CalibrationDump(s_), "--bits",
                 absl::StrCat(bits), "--iters", absl::StrCat(s_.key_iterations),
                 "--samples", absl::StrCat(s_.key_samples), "--out", out},
                {CalibrationDump(s_)}, {out});
  }

  // Adds the value quantizers to a copy of the key codebooks: the cache
  // reads both from one file.
  Stage TrainValues(const ReproduceMethod& m) const {
    const std::string keys = KeyCodebookFile(s_.out_dir, m.commvq_bits);
    const std::string out = CodebookFileFor(s_.out_dir, m);
    Stage stage = Make(
        absl::StrCat("train.values", m.commvq_bits),
        absl::StrCat("train CommVQ values, ", m.commvq_bits, " bit"),
        {"train-values", "--kv", CalibrationDump(s_), "--bits",
         absl::StrCat(m.commvq_bits), "--samples",
         absl::StrCat(s_.value_samples), "--out", out},
        {CalibrationDump(s_), keys}, {out});
    stage.prepare = [keys, out] { return CopyFile(keys, out); };
    return stage;
  }

  // The baselines that need training data (rvq), into a codebook file the
  // cache loads.
  Stage TrainBaseline(const ReproduceMethod& m) const {
    const std::string out = CodebookFileFor(s_.out_dir, m);
    return Make(absl::StrCat("train.", m.name),
                absl::StrCat("train ", m.name, " codebooks"),
                {"train-codebooks", "--kv", CalibrationDump(s_), "--keys",
                 m.key_spec, "--values", m.value_spec, "--samples",
                 absl::StrCat(s_.baseline_samples), "--out", out},
                {CalibrationDump(s_)}, {out});
  }

  Stage Quality(const ReproduceMethod& m) const {
    // eval-kv trains the registry quantizers itself, on the same tokens as
    // TrainBaseline.
    std::vector<std::string> args = {
        "eval-kv",      "--calibration", CalibrationDump(s_),
        "--evaluation", EvaluationDump(s_), "--eval_tokens",
        absl::StrCat(s_.kv_eval_tokens), "--train_tokens",
        absl::StrCat(s_.baseline_samples), "--json"};
    for (std::string& arg : QualityArgs(m, s_.out_dir)) args.push_back(arg);
    return Make(absl::StrCat("quality.", m.name),
                absl::StrCat(m.name, ": key/value and attention error"), args,
                Inputs(m, {CalibrationDump(s_), EvaluationDump(s_)}), {});
  }

  Stage Ppl(const ReproduceMethod& m, int64_t window) const {
    return Make(absl::StrCat("ppl.", m.name, ".window", window),
                absl::StrCat(m.name, ": perplexity, window ", window, " (",
                             s_.ppl_tokens, " tokens, decode mode)"),
                {"eval-ppl", "--model", s_.model, "--text", s_.evaluation_text,
                 "--tokens", absl::StrCat(s_.ppl_tokens), "--cache",
                 Cache(m, window), "--json"},
                Inputs(m, {s_.model, s_.evaluation_text}), {});
  }

  Stage Passkey(const ReproduceMethod& m) const {
    return Make(absl::StrCat("passkey.", m.name),
                absl::StrCat(m.name, ": passkey retrieval (", s_.passkey_context,
                             " tokens)"),
                // The official runtime's policy (METHOD.md section 4): the
                // prompt is prefilled in full precision in one call, and the
                // answer is decoded on the compressed cache.
                {"eval-passkey", "--model", s_.model, "--context",
                 absl::StrCat(s_.passkey_context), "--trials",
                 absl::StrCat(s_.passkey_trials), "--chunk", "0", "--cache",
                 CacheSpec(m, s_.out_dir, s_.window,
                           /*full_precision_prefill=*/true),
                 "--json"},
                Inputs(m, {s_.model}), {});
  }

  Stage Bench(const ReproduceMethod& m) const {
    std::vector<std::string> contexts;
    for (int64_t c : s_.bench_contexts) contexts.push_back(absl::StrCat(c));
    Stage stage = Make(absl::StrCat("bench.", m.name),
                       absl::StrCat(m.name, ": decode-attention time"),
                       {"bench", "decode", "--kv", EvaluationDump(s_), "--cache",
                        Cache(m, s_.window), "--contexts",
                        absl::StrJoin(contexts, ","), "--json"},
                       Inputs(m, {EvaluationDump(s_)}), {});
    // One thread: the CPU time of one decode step, comparable across
    // methods.
    stage.run_args = {"--threads", "1"};
    return stage;
  }

 private:
  Stage Make(std::string id, std::string label, std::vector<std::string> args,
             std::vector<std::string> inputs,
             std::vector<std::string> outputs) const {
    Stage stage;
    stage.id = std::move(id);
    stage.label = std::move(label);
    stage.args = std::move(args);
    stage.run_args = threads_;
    stage.inputs = std::move(inputs);
    stage.outputs = std::move(outputs);
    return stage;
  }

  std::vector<std::string> Inputs(const ReproduceMethod& m,
                                  std::vector<std::string> inputs) const {
    for (std::string& file : MethodInputs(m, s_.out_dir)) {
      inputs.push_back(std::move(file));
    }
    return inputs;
  }

  std::string Cache(const ReproduceMethod& m, int64_t window) const {
    return CacheSpec(m, s_.out_dir, window);
  }

  const Settings& s_;
  std::vector<std::string> threads_;
};

// The model facts the report needs that no stage prints: its name, trained
// context length and KV shape (from the GGUF header and the dump).
absl::Status ReadModelFacts(const Settings& s, ReproductionReport* report,
                            int64_t* num_layers, int64_t* kv_dim) {
  CVQ_ASSIGN_OR_RETURN(GgufFile gguf, GgufFile::Open(s.model));
  CVQ_ASSIGN_OR_RETURN(absl::string_view arch,
                       gguf.GetString("general.architecture"));
  CVQ_ASSIGN_OR_RETURN(report->max_context,
                       gguf.GetInt(absl::StrCat(arch, ".context_length")));
  report->model = std::string(gguf.GetString("general.name").value_or(arch));
  CVQ_ASSIGN_OR_RETURN(SafetensorsFile dump,
                       SafetensorsFile::Open(EvaluationDump(s)));
  int64_t values[3] = {0, 0, 0};
  const char* keys[3] = {"num_layers", "num_kv_heads", "head_dim"};
  for (int i = 0; i < 3; ++i) {
    auto it = dump.metadata().find(keys[i]);
    if (it == dump.metadata().end() || !absl::SimpleAtoi(it->second, &values[i])) {
      return absl::InvalidArgumentError(absl::StrCat(
          EvaluationDump(s), ": expected integer metadata ", keys[i]));
    }
  }
  *num_layers = values[0];
  *kv_dim = values[1] * values[2];
  report->fp16_bytes_per_token = 2.0 * 2.0 * values[0] * *kv_dim;
  return absl::OkStatus();
}

// Mean of a member over eval-kv's layers.
absl::StatusOr<double> LayerMean(const JsonValue& layers, absl::string_view key) {
  double sum = 0;
  for (const JsonValue& layer : layers.items()) {
    CVQ_ASSIGN_OR_RETURN(const double x, GetJsonNumber(layer, key));
    sum += x;
  }
  return sum / layers.items().size();
}

absl::Status ApplyQuality(const std::string& out, int64_t num_layers,
                          int64_t kv_dim, MethodResult* m) {
  CVQ_ASSIGN_OR_RETURN(JsonValue root, ParseJson(out));
  const JsonValue* layers = root.Find("layers");
  if (layers == nullptr || layers->items().empty()) {
    return absl::InvalidArgumentError("eval-kv printed no layers");
  }
  CVQ_ASSIGN_OR_RETURN(const double key_bits,
                       LayerMean(*layers, "key_bits_per_element"));
  CVQ_ASSIGN_OR_RETURN(const double value_bits,
                       LayerMean(*layers, "value_bits_per_element"));
  m->bits_per_element = (key_bits + value_bits) / 2;
  m->key_bytes_per_token = key_bits * kv_dim / 8 * num_layers;
  m->value_bytes_per_token = value_bits * kv_dim / 8 * num_layers;
  CVQ_ASSIGN_OR_RETURN(m->key_relative_mse,
                       LayerMean(*layers, "key_relative_mse"));
  CVQ_ASSIGN_OR_RETURN(m->value_relative_mse,
                       LayerMean(*layers, "value_relative_mse"));
  CVQ_ASSIGN_OR_RETURN(m->attention_output_error,
                       LayerMean(*layers, "attention_output_relative_error"));
  return absl::OkStatus();
}

absl::StatusOr<double> NumberFrom(const std::string& out, absl::string_view key) {
  CVQ_ASSIGN_OR_RETURN(JsonValue root, ParseJson(out));
  return GetJsonNumber(root, key);
}

absl::Status ApplyBench(const std::string& out, MethodResult* m) {
  CVQ_ASSIGN_OR_RETURN(JsonValue root, ParseJson(out));
  const JsonValue* points = root.Find("contexts");
  if (points == nullptr || points->items().empty()) {
    return absl::InvalidArgumentError("bench decode printed no contexts");
  }
  for (const JsonValue& point : points->items()) {
    DecodeTiming t;
    CVQ_ASSIGN_OR_RETURN(const double context, GetJsonNumber(point, "context"));
    t.context = static_cast<int64_t>(context);
    CVQ_ASSIGN_OR_RETURN(t.microseconds, GetJsonNumber(point, "microseconds"));
    m->decode.push_back(t);
  }
  return absl::OkStatus();
}

// Runs `stage` and hands its stdout to `apply`; a failure becomes a note of
// `m` (the measurement stays missing) instead of ending the run.
template <typename Apply>
void Measure(StageRunner& runner, const Stage& stage, MethodResult* m,
             Apply apply) {
  absl::StatusOr<StageResult> result = runner.Run(stage);
  absl::Status status = result.status();
  if (result.ok()) status = apply(result->stdout_text);
  if (!status.ok()) m->notes.push_back(std::string(status.message()));
}

std::string CommandLine(const ParsedFlags& flags) {
  return flags.Has("full") ? "commvq reproduce --full" : "commvq reproduce";
}

}  // namespace

std::vector<FlagDef> ReproduceFlags() {
  return {
      StringFlag("model", "PATH", "GGUF checkpoint (llama architecture).",
                 kDefaultModel),
      StringFlag("calibration_text", "PATH", "Text the codebooks train on.",
                 ".cache/texts/calibration.txt"),
      StringFlag("evaluation_text", "PATH", "Text the methods are scored on.",
                 ".cache/texts/evaluation.txt"),
      StringFlag("out", "DIR",
                 "Output folder: report.md, report.json, plots, dumps, "
                 "codebooks and the stage records a second run reuses.",
                 "out/reproduce"),
      BoolFlag("full",
               "Official training budget (100 EM iterations on every token of "
               "an 8192-token dump) and longer evaluations; flags given "
               "explicitly still win."),
      StringFlag("methods", "LIST",
                 "Comma-separated subset of fp16, commvq-1, commvq-2, kivi-1, "
                 "kivi-2, int4, fp8, rvq-1, rvq-2 (default: all)."),
      IntFlag("calibration_tokens", "Calibration tokens dumped and trained on.",
              "2048", 256, int64_t{1} << 24),
      IntFlag("kv_eval_tokens", "Evaluation tokens of the key/value error.",
              "1024", 64, int64_t{1} << 24),
      IntFlag("ppl_tokens", "Evaluation tokens of the perplexity.", "512", 2,
              int64_t{1} << 24),
      IntFlag("passkey_context", "Prompt tokens of each passkey trial.", "768",
              64, int64_t{1} << 20),
      IntFlag("passkey_trials", "Passkey trials per depth (5 depths).", "1", 1,
              1000),
      IntFlag("window", "Full-precision window of the ppl and passkey runs.",
              "128", 0, int64_t{1} << 20),
      IntFlag("key_iters", "EM iterations per key stage.", "6", 1, 100000),
      IntFlag("key_samples", "Calibration tokens per layer for keys (0: all).",
              "1024", 0, int64_t{1} << 24),
      IntFlag("value_samples",
              "Calibration tokens per layer for values (0: all).", "1024", 0,
              int64_t{1} << 24),
      IntFlag("baseline_samples",
              "First calibration tokens the baselines (rvq) train on (0: all).",
              "1024", 0, int64_t{1} << 24),
      StringFlag("bench_contexts", "LIST",
                 "Context lengths of the decode-attention benchmark.",
                 "512,1024,2048,4096"),
      StringFlag("gnuplot", "PROGRAM", "gnuplot program drawing the plots.",
                 "gnuplot"),
      IntFlag("threads", "Worker threads (default: one per core).", "", 1,
              1024),
      BoolFlag("json", "Print report.json instead of the table."),
      BoolFlag("help", "Show this command's flags.")};
}

absl::Status RunReproduce(const ParsedFlags& flags, const CliIo& io,
                          const CommandRunner& command_runner) {
  const auto start = std::chrono::steady_clock::now();
  CVQ_ASSIGN_OR_RETURN(const Settings s, ReadSettings(flags));
  std::error_code error;
  std::filesystem::create_directories(s.out_dir, error);
  if (error) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--out: cannot create folder ", s.out_dir, ": ", error.message()));
  }
  const StagePlan plan(s);
  // dumps + (keys, values) x 2 bits + per method: quality, 2 ppl, passkey,
  // bench (fp16 runs ppl once: a window of full-precision tokens in a
  // full-precision cache changes nothing).
  bool has_fp16 = false;
  for (const ReproduceMethod& m : s.methods) has_fp16 |= m.name == "fp16";
  int training_stages = 0;
  for (const ReproduceMethod& m : s.methods) {
    training_stages += m.commvq_bits != 0 ? 2 : m.cache_spec.empty() ? 1 : 0;
  }
  const int total = 2 + training_stages +
                    static_cast<int>(s.methods.size()) * 5 - (has_fp16 ? 1 : 0);
  StageRunner runner(s.out_dir, command_runner, io.err, total);

  for (bool calibration : {true, false}) {
    CVQ_RETURN_IF_ERROR(runner.Run(plan.Dump(calibration)).status());
  }
  ReproductionReport report;
  int64_t num_layers = 0, kv_dim = 0;
  CVQ_RETURN_IF_ERROR(ReadModelFacts(s, &report, &num_layers, &kv_dim));
  report.window = s.window;
  report.command = CommandLine(flags);

  // Training failures are notes of the trained methods.
  std::map<std::string, std::vector<std::string>> training_notes;
  for (const ReproduceMethod& method : s.methods) {
    std::vector<Stage> stages;
    if (method.commvq_bits != 0) {
      stages = {plan.TrainKeys(method.commvq_bits), plan.TrainValues(method)};
    } else if (method.cache_spec.empty()) {
      stages = {plan.TrainBaseline(method)};
    }
    for (const Stage& stage : stages) {
      absl::Status status = runner.Run(stage).status();
      if (!status.ok()) {
        training_notes[method.name].push_back(std::string(status.message()));
      }
    }
  }

  for (const ReproduceMethod& method : s.methods) {
    MethodResult m;
    m.name = method.name;
    m.nominal_bits = method.nominal_bits;
    const bool trained = method.cache_spec.empty();
    const std::string file = CodebookFileFor(s.out_dir, method);
    m.key_spec = trained && method.commvq_bits != 0 ? file : method.key_spec;
    m.value_spec = trained && method.commvq_bits != 0 ? file : method.value_spec;
    m.notes = training_notes[method.name];
    if (trained) {
      // The codebooks are stored once, whatever the context.
      std::error_code size_error;
      const auto size = std::filesystem::file_size(file, size_error);
      if (!size_error) m.fixed_bytes = static_cast<double>(size);
    }
    Measure(runner, plan.Quality(method), &m, [&](const std::string& out) {
      return ApplyQuality(out, num_layers, kv_dim, &m);
    });
    const bool fp16 = method.name == "fp16";
    Measure(runner, plan.Ppl(method, fp16 ? 0 : s.window), &m,
            [&](const std::string& out) {
              CVQ_ASSIGN_OR_RETURN(m.ppl, NumberFrom(out, "ppl"));
              if (fp16) m.ppl_window0 = m.ppl;
              return absl::OkStatus();
            });
    if (!fp16) {
      Measure(runner, plan.Ppl(method, 0), &m, [&](const std::string& out) {
        CVQ_ASSIGN_OR_RETURN(m.ppl_window0, NumberFrom(out, "ppl"));
        return absl::OkStatus();
      });
    }
    Measure(runner, plan.Passkey(method), &m, [&](const std::string& out) {
      CVQ_ASSIGN_OR_RETURN(m.passkey_accuracy,
                           NumberFrom(out, "passkey_accuracy"));
      return absl::OkStatus();
    });
    Measure(runner, plan.Bench(method), &m,
            [&](const std::string& out) { return ApplyBench(out, &m); });
    report.methods.push_back(std::move(m));
  }

  report.settings = {
      {"model", s.model},
      {"calibration text", absl::StrCat(s.calibration_text, " (first ",
                                        s.calibration_tokens, " tokens)")},
      {"evaluation text", s.evaluation_text},
      {"training", absl::StrCat(s.full ? "--full: " : "", "keys ",
                                s.key_iterations, " EM iterations per stage on ",
                                s.key_samples == 0 ? std::string("all")
                                                   : absl::StrCat(s.key_samples),
                                " tokens per layer; values on ",
                                s.value_samples == 0 ? std::string("all")
                                                     : absl::StrCat(s.value_samples),
                                " tokens per layer; rvq on the first ",
                                s.baseline_samples == 0
                                    ? std::string("all")
                                    : absl::StrCat(s.baseline_samples),
                                " tokens")},
      {"perplexity", absl::StrCat("first ", s.ppl_tokens,
                                  " evaluation tokens, decode mode; fp16 is one "
                                  "run (its window would hold the same values)")},
      {"key/value error", absl::StrCat("first ", s.kv_eval_tokens,
                                       " evaluation tokens, every layer")},
      {"passkey", absl::StrCat(s.passkey_context, "-token prompts, ",
                               s.passkey_trials,
                               " trial(s) at each of 5 depths, window ",
                               s.window)},
      {"threads", absl::StrCat(s.threads)},
  };
  report.seconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start)
                       .count();

  std::vector<std::string> plots;
  absl::StatusOr<std::vector<std::string>> drawn =
      DrawPlots(report, s.out_dir, s.gnuplot);
  if (drawn.ok()) {
    plots = *std::move(drawn);
  } else {
    io.err << "commvq reproduce: no plots: " << drawn.status().message() << "\n";
  }
  const std::string json = ReportJson(report).Serialize(2) + "\n";
  CVQ_RETURN_IF_ERROR(WriteFileAtomically(s.out_dir + "/report.json", json));
  CVQ_RETURN_IF_ERROR(WriteFileAtomically(s.out_dir + "/report.md",
                                          ReportMarkdown(report, plots)));
  if (flags.Has("json")) {
    io.out << json;
    return absl::OkStatus();
  }
  io.out << ReportTable(report) << "\n";
  for (const Goal& goal : EvaluateGoals(report)) {
    io.out << (goal.state == Goal::kMet      ? "[met]     "
               : goal.state == Goal::kNotMet ? "[not met] "
                                             : "[unknown] ")
           << goal.description << " (" << goal.detail << ")\n";
  }
  io.out << "\nreport: " << s.out_dir << "/report.md, report.json"
         << (plots.empty() ? "" : ", ") << absl::StrJoin(plots, ", ") << " ("
         << runner.runs() << " stages run, the rest cached)\n";
  return absl::OkStatus();
}

}  // namespace cli
}  // namespace commvq
