#include "commvq/cli/cli.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "commvq/base/status_macros.h"
#include "commvq/base/thread_pool.h"
#include "commvq/cli/attention_bench.h"
#include "commvq/cli/codebook_info.h"
#include "commvq/cli/demo.h"
#include "commvq/cli/flags.h"
#include "commvq/cli/model_commands.h"
#include "commvq/cli/train_commands.h"
#include "commvq/cli/value_commands.h"
#include "commvq/cli/key_bench_commands.h"
#include "commvq/cli/progress_bar.h"
#include "commvq/cli/quantizer_list.h"
#include "commvq/cli/reproduce.h"
#include "commvq/cli/reproduce_bench.h"
#include "commvq/cli/reproduce_train.h"
#include "commvq/cli/synthetic_kv.h"
#include "commvq/registry/plugin_loader.h"
#include "commvq/registry/registry.h"

namespace commvq {
namespace cli {
namespace {

struct Command {
  std::string name;
  std::string summary;
  std::vector<FlagDef> flags;
  // Placeholder of the one positional argument the command requires before
  // its flags (e.g. "FILE"); empty when it takes none.
  std::string argument;
  absl::Status (*run)(const ParsedFlags& flags, absl::string_view argument,
                      const CliIo& io);
};

FlagDef HelpFlag() { return BoolFlag("help", "Show this command's flags."); }

FlagDef SpecFlag() {
  FlagDef def;
  def.name = "spec";
  def.value_name = "SPEC";
  def.help = "Quantizer spec to evaluate; repeatable.";
  def.default_value = absl::StrJoin(DefaultDemoSpecs(), ", ");
  def.repeatable = true;
  return def;
}

FlagDef PluginFlag() {
  FlagDef def;
  def.name = "plugin";
  def.value_name = "PATH";
  def.help =
      "Load a quantizer plugin (shared object; PATH must contain a '/') "
      "first; repeatable.";
  def.repeatable = true;
  return def;
}

absl::Status LoadPlugins(const ParsedFlags& flags) {
  for (const std::string& path : flags.GetStrings("plugin")) {
    CVQ_RETURN_IF_ERROR(
        LoadQuantizerPlugin(path, QuantizerRegistry::Default()));
  }
  return absl::OkStatus();
}

absl::Status RunList(const ParsedFlags& flags, absl::string_view,
                     const CliIo& io) {
  CVQ_RETURN_IF_ERROR(LoadPlugins(flags));
  PrintQuantizerList(QuantizerRegistry::Default(), io.out);
  return absl::OkStatus();
}

absl::Status RunDemoCommand(const ParsedFlags& flags, absl::string_view,
                            const CliIo& io) {
  CVQ_RETURN_IF_ERROR(LoadPlugins(flags));
  DemoOptions options;
  if (flags.Has("spec")) options.specs = flags.GetStrings("spec");
  options.tokens = flags.GetInt("tokens");
  options.head_dim = flags.GetInt("head_dim");
  options.num_kv_heads = flags.GetInt("num_kv_heads");
  options.seed = static_cast<uint64_t>(flags.GetInt("seed"));
  const int threads = flags.Has("threads")
                          ? static_cast<int>(flags.GetInt("threads"))
                          : ThreadPool::DefaultNumThreads();
  ThreadPool pool(threads);

  ProgressBar bar("demo", static_cast<double>(options.specs.size()), io.err,
                  io.err_is_terminal);
  auto rows = RunDemo(options, QuantizerRegistry::Default(), &pool,
                      [&bar](double done) { bar.Update(done); });
  bar.Finish();
  if (!rows.ok()) return rows.status();
  io.out << "Synthetic KV data: " << options.tokens << " tokens ("
         << options.tokens / 2 << " train, "
         << options.tokens - options.tokens / 2 << " encoded), "
         << options.num_kv_heads << " KV heads x " << options.head_dim
         << " dims, seed " << options.seed << ", " << threads
         << (threads == 1 ? " thread" : " threads") << "\n\n";
  PrintDemoTable(*rows, io.out);
  return absl::OkStatus();
}

absl::Status RunInfo(const ParsedFlags& flags, absl::string_view path,
                     const CliIo& io) {
  CVQ_RETURN_IF_ERROR(LoadPlugins(flags));
  return PrintCodebookInfo(std::string(path), QuantizerRegistry::Default(),
                           io.out);
}

const std::vector<Command>& Commands() {
  static const auto* commands = new std::vector<Command>{
      {"list",
       "List the registered quantizers, their summaries and spec options.",
       {PluginFlag(), HelpFlag()},
       "",
       &RunList},
      {"demo",
       "Quantize synthetic KV-cache data with each spec; compare size, error "
       "and speed.",
       {SpecFlag(),
        IntFlag("tokens",
                "Tokens of data; the first half trains, the second half is "
                "encoded.",
                "4096", 2, int64_t{1} << 24),
        IntFlag("head_dim", "Channels per KV head.", "64",
                kOutlierChannelsPerHead, 4096),
        IntFlag("num_kv_heads", "KV heads per token.", "3", 1, 256),
        IntFlag("seed", "Seed of the data and of training.", "0", 0,
                std::numeric_limits<int64_t>::max()),
        IntFlag("threads", "Worker threads (default: one per core).", "", 1,
                1024),
        PluginFlag(), HelpFlag()},
       "",
       &RunDemoCommand},
      {"dump-kv",
       "Run the model over a text and write every layer's pre-RoPE "
       "queries, keys and values as fp16 safetensors (trainer input).",
       DumpKvFlags(),
       "",
       &RunDumpKv},
      {"eval-ppl",
       "Perplexity of the model on a text in decode mode, through a KV "
       "cache.",
       EvalPplFlags(),
       "",
       &RunEvalPpl},
      {"eval-passkey",
       "Passkey retrieval: a 5-digit number hidden at several depths of "
       "filler text; greedy decoding must repeat it.",
       EvalPasskeyFlags(),
       "",
       &RunEvalPasskey},
      {"eval-kv",
       "Train a key and a value quantizer on one KV dump (or load trained "
       "key codebooks) and report, per layer, reconstruction and attention "
       "error on another dump.",
       EvalKvFlags(),
       "",
       &RunEvalKv},
      {"generate",
       "Greedy continuation of a prompt (a quick look at the model).",
       GenerateFlags(),
       "",
       &RunGenerate},
      {"train-keys",
       "Train CommVQ key codebooks (EM, RoPE-commutative) on a KV dump and "
       "write a codebook file with quantizers layer.<i>.key.",
       TrainKeysFlags(),
       "",
       &RunTrainKeys},
      {"bench key-encode",
       "Benchmark: structured CommVQ key encoding against a blocked-GEMM "
       "brute force (head_dim 128, h 6, 21 stages).",
       BenchKeyEncodeFlags(),
       "",
       &RunBenchKeyEncode},
      {"train-values",
       "Train CommVQ value codebooks (least squares with the search "
       "encoder, optionally the mlp encoder) on a KV dump and add "
       "quantizers layer.<i>.value to a codebook file.",
       TrainValuesFlags(),
       "",
       &RunTrainValues},
      {"bench value-encode",
       "Benchmark: the mlp and search encoders of commvq_value at d 1024, "
       "1 and 2 bits (synthetic values): tokens/s and relative MSE.",
       BenchValueEncodeFlags(),
       "",
       &RunBenchValueEncode},
      {"bench key-em",
       "Benchmark: one key EM stage with structured statistics against the "
       "dense official algorithm (head_dim 128, h 6).",
       BenchKeyEmFlags(),
       "",
       &RunBenchKeyEm},
      {"bench attention",
       "Benchmark: decode attention over one layer of the LLaMA-3.1-8B shape "
       "(32 query heads, 8 KV heads, head_dim 128): dense fp32/fp16 against "
       "CommVQ 1/2 bits (both key kernels) and KIVI-2 on the compressed "
       "cache, at several contexts and thread counts.",
       BenchAttentionFlags(),
       "",
       &RunBenchAttention},
      {"bench decode",
       "Benchmark: decode-attention time of one KV cache (--cache) on a "
       "model's shape, filled from a KV dump, at several context lengths.",
       BenchDecodeFlags(),
       "",
       &RunBenchDecode},
      {"train-codebooks",
       "Train registry quantizers (e.g. rvq) for the keys and values of "
       "every layer of a KV dump into a codebook file the cache loads.",
       TrainCodebooksFlags(),
       "",
       &RunTrainCodebooks},
      {"reproduce",
       "The main job: train CommVQ on a model's KV cache and compare it with "
       "fp16, KIVI, int4, fp8 and residual VQ (perplexity, passkey, errors, "
       "memory, speed); writes report.md, report.json and plots.",
       ReproduceFlags(),
       "",
       [](const ParsedFlags& flags, absl::string_view, const CliIo& io) {
         return RunReproduce(flags, io, &RunCli);
       }},
      {"info",
       "Validate a codebook file and show its model shape, provenance, "
       "tensors and quantizers.",
       {PluginFlag(), HelpFlag()},
       "FILE",
       &RunInfo},
  };
  return *commands;
}

const Command* FindCommand(absl::string_view name) {
  for (const Command& command : Commands()) {
    if (command.name == name) return &command;
  }
  return nullptr;
}

std::string CommandUsage(const Command& command) {
  return absl::StrCat("Usage: commvq ", command.name,
                      command.argument.empty() ? "" : " ", command.argument,
                      " [flags]\n\n",
                      command.summary, "\n\nFlags:\n",
                      FlagUsage(command.flags, "  "));
}

}  // namespace

std::string Usage() {
  std::vector<std::pair<std::string, std::string>> summaries;
  for (const Command& command : Commands()) {
    summaries.push_back(
        {absl::StrCat(command.name, command.argument.empty() ? "" : " ",
                      command.argument),
         command.summary});
  }
  summaries.push_back({"help [COMMAND]", "Show this help, or one command's."});
  size_t width = 0;
  for (const auto& [name, summary] : summaries) {
    width = std::max(width, name.size());
  }

  std::string usage =
      "commvq: KV-cache quantization with learned codebooks.\n\n"
      "Usage: commvq <command> [flags]\n\nCommands:\n";
  for (const auto& [name, summary] : summaries) {
    absl::StrAppend(&usage, "  ", name,
                    std::string(width - name.size() + 2, ' '), summary, "\n");
  }
  for (const Command& command : Commands()) {
    absl::StrAppend(&usage, "\nFlags of ", command.name, ":\n",
                    FlagUsage(command.flags, "  "));
  }
  absl::StrAppend(&usage,
                  "\nFlags take the form --name=value or --name value.\n");
  return usage;
}

int RunCli(absl::Span<const std::string> args, const CliIo& io) {
  if (args.empty()) {
    io.err << Usage();
    return kExitUsage;
  }
  // Benchmarks are two-word commands ("bench attention"): one table entry
  // each, with its own flags.
  const bool is_bench = args[0] == "bench" && args.size() >= 2 &&
                        !absl::StartsWith(args[1], "-");
  const std::string name =
      is_bench ? absl::StrCat(args[0], " ", args[1]) : args[0];
  if (is_bench) args = args.subspan(1);
  if (name == "--help" || (name == "help" && args.size() == 1)) {
    io.out << Usage();
    return kExitOk;
  }
  if (name == "help" && args.size() == 2 && FindCommand(args[1]) != nullptr) {
    io.out << CommandUsage(*FindCommand(args[1]));
    return kExitOk;
  }
  const Command* command = FindCommand(name);
  if (command == nullptr) {
    if (name == "help") {
      io.err << "commvq help: expected at most one known command, got '"
             << absl::StrJoin(args.subspan(1), " ") << "'\n\n";
    } else if (absl::StartsWith(name, "-")) {
      io.err << "commvq: unknown flag " << name
             << "; expected a command first\n\n";
    } else {
      io.err << "commvq: unknown command '" << name << "'\n\n";
    }
    io.err << Usage();
    return kExitUsage;
  }
  absl::Span<const std::string> rest = args.subspan(1);
  std::string argument;
  if (!command->argument.empty()) {
    if (rest.empty() || absl::StartsWith(rest[0], "-")) {
      const bool wants_help = !rest.empty() && rest[0] == "--help";
      (wants_help ? io.out : io.err) << CommandUsage(*command);
      return wants_help ? kExitOk : kExitUsage;
    }
    argument = rest[0];
    rest = rest.subspan(1);
  }
  auto flags = ParseFlags(command->flags, rest);
  if (!flags.ok()) {
    io.err << "commvq " << name << ": " << flags.status().message() << "\n\n"
           << CommandUsage(*command);
    return kExitUsage;
  }
  if (flags->Has("help")) {
    io.out << CommandUsage(*command);
    return kExitOk;
  }
  const absl::Status status = command->run(*flags, argument, io);
  if (!status.ok()) {
    io.err << "commvq " << name << ": " << status.message() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace cli
}  // namespace commvq
