#include "commvq/cli/value_commands.h"

#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "commvq/base/status_macros.h"
#include "commvq/base/thread_pool.h"
#include "commvq/cli/dump_trainer.h"
#include "commvq/cli/model_commands.h"
#include "commvq/cli/synthetic_kv.h"
#include "commvq/quantizer/quantizer.h"
#include "training/value/train_values.h"

namespace commvq {
namespace cli {
namespace {

// train-values --attention_loss_weight: off. On SmolLM2 (layers 0, 10, 20,
// 1 bit, eval-kv attention output error, mean of 3 seeds) 0.3 gave 0.3111
// against 0.3118 without it (seed spread +-0.004), 1 gave 0.3155, 3 gave
// 0.3280 and 10 gave 0.3371: no measurable gain for the extra time.
constexpr char kDefaultAttentionWeight[] = "0";

// The number of flag `name` (default `fallback`): > 0 when `positive`,
// else >= 0.
absl::StatusOr<double> ParseNumber(const ParsedFlags& flags,
                                   const std::string& name,
                                   const std::string& fallback, bool positive) {
  const std::string text = GetStringOr(flags, name, fallback);
  double value = 0.0;
  if (!absl::SimpleAtod(text, &value) ||
      !(positive ? value > 0.0 : value >= 0.0)) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " is '", text,
                                                   "': expected a number ",
                                                   positive ? "> 0" : ">= 0"));
  }
  return value;
}

// The mlp settings shared by train-values and the benchmark.
absl::Status ReadMlpFlags(const ParsedFlags& flags, ValueMlpTrainOptions* mlp) {
  mlp->hidden = flags.GetInt("hidden");
  mlp->epochs = static_cast<int>(flags.GetInt("epochs"));
  mlp->distill_epochs = static_cast<int>(flags.GetInt("distill_epochs"));
  mlp->batch = flags.GetInt("batch");
  CVQ_ASSIGN_OR_RETURN(mlp->learning_rate,
                       ParseNumber(flags, "lr", "0.001", true));
  return absl::OkStatus();
}

std::vector<FlagDef> MlpFlags(const char* default_hidden) {
  return {
      IntFlag("hidden", "mlp hidden width; 0 = min(4096, 2 Nc).",
              default_hidden, 0, 65536),
      IntFlag("distill_epochs", "mlp epochs distilling the search codes first.",
              "2", 0, 1000),
      IntFlag("epochs", "mlp epochs of Gumbel-softmax straight-through.", "3",
              0, 1000),
      IntFlag("batch", "mlp batch size.", "64", 1, 65536),
      StringFlag("lr", "RATE", "mlp Adam learning rate (cosine schedule).",
                 "0.001")};
}

// Encodes and decodes `x` ([n, q.dim()]) with `pool`; returns the encode
// wall seconds and writes the relative squared error.
absl::StatusOr<double> TimeEncode(const Quantizer& q,
                                  const std::vector<float>& x, ThreadPool* pool,
                                  double* relative_mse) {
  const int64_t n = static_cast<int64_t>(x.size()) / q.dim();
  std::vector<uint8_t> codes(n * q.layout().code_bytes);
  std::vector<uint8_t> side(n * q.layout().side_bytes);
  std::vector<float> out(x.size());
  const auto start = std::chrono::steady_clock::now();
  CVQ_RETURN_IF_ERROR(q.Encode(
      TensorView(x.data(), DType::kF32, {n, q.dim()}),
      MutableTensorView(codes.data(), DType::kU8, {n, q.layout().code_bytes}),
      MutableTensorView(side.data(), DType::kU8, {n, q.layout().side_bytes}),
      pool));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  CVQ_RETURN_IF_ERROR(
      q.Decode(TensorView(codes.data(), DType::kU8, {n, q.layout().code_bytes}),
               TensorView(side.data(), DType::kU8, {n, q.layout().side_bytes}),
               MutableTensorView(out.data(), DType::kF32, {n, q.dim()}), pool));
  double error = 0.0, energy = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    error += (double{x[i]} - out[i]) * (double{x[i]} - out[i]);
    energy += double{x[i]} * x[i];
  }
  *relative_mse = error / energy;
  return seconds;
}

}  // namespace

std::vector<FlagDef> TrainValuesFlags() {
  std::vector<FlagDef> flags = {
      StringFlag("kv", "DUMP", "KV dump from dump-kv (safetensors)."),
      IntFlag("bits", "Code bits per element (1 or 2).", "1", 1, 2),
      StringFlag("encoder", "NAME",
                 "search (least squares with the search encoder) or mlp "
                 "(the light network on top).",
                 "search"),
      IntFlag("iters", "Rounds of least squares and search.", "6", 1, 1000),
      IntFlag("sweeps", "Search sweeps over the groups.", "16", 1, 64),
      IntFlag("restarts", "Extra random starts of the search.", "0", 0, 16),
      IntFlag("samples", "Tokens per layer, evenly spaced; 0 = all.", "0", 0,
              std::numeric_limits<int64_t>::max()),
      StringFlag("layers", "LIST",
                 "Comma-separated layer indices (default: all)."),
      IntFlag("seed", "Seed of training.", "0", 0,
              std::numeric_limits<int64_t>::max()),
      IntFlag("threads", "Worker threads (default: one per core).", "", 1,
              1024),
      StringFlag("out", "FILE",
                 "Codebook file to write; an existing one (train-keys) "
                 "keeps its contents and gains layer.<i>.value."),
      StringFlag("attention_loss_weight", "W",
                 "mlp: weight of the attention-output error (real queries "
                 "and keys of the dump) beside the reconstruction MSE; 0 = "
                 "off.",
                 kDefaultAttentionWeight),
      IntFlag("attention_blocks",
              "mlp: blocks of consecutive tokens for "
              "the attention-output error.",
              "16", 1, 1 << 20),
      IntFlag("attention_window", "mlp: tokens per attention block.", "32", 1,
              1 << 16)};
  for (FlagDef& def : MlpFlags("0")) flags.push_back(std::move(def));
  flags.push_back(BoolFlag("help", "Show this command's flags."));
  return flags;
}

absl::Status RunTrainValues(const ParsedFlags& flags, absl::string_view,
                            const CliIo& io) {
  TrainValuesFileOptions options;
  TrainValuesOptions& train = options.train;
  train.bits = static_cast<int>(flags.GetInt("bits"));
  train.encoder = GetStringOr(flags, "encoder", "search");
  train.iterations = static_cast<int>(flags.GetInt("iters"));
  train.search.sweeps = static_cast<int>(flags.GetInt("sweeps"));
  train.search.restarts = static_cast<int>(flags.GetInt("restarts"));
  train.seed = static_cast<uint64_t>(flags.GetInt("seed"));
  CVQ_RETURN_IF_ERROR(ReadMlpFlags(flags, &train.mlp));
  CVQ_ASSIGN_OR_RETURN(train.mlp.attention_weight,
                       ParseNumber(flags, "attention_loss_weight",
                                   kDefaultAttentionWeight, false));
  options.attention_blocks = flags.GetInt("attention_blocks");
  options.attention_window = flags.GetInt("attention_window");
  options.max_samples = flags.GetInt("samples");
  CVQ_ASSIGN_OR_RETURN(options.layers, GetIntList(flags, "layers"));
  return RunDumpTrainer(flags, io, "train-values", "value codebooks",
                        [&](const DumpTrainerRun& run) {
                          train.pool = run.pool;
                          options.progress = run.progress;
                          return TrainValuesFromDump(run.kv, options, run.out);
                        });
}

std::vector<FlagDef> BenchValueEncodeFlags() {
  std::vector<FlagDef> flags = {
      IntFlag("train_tokens", "Synthetic tokens to train on.", "2048", 16,
              int64_t{1} << 20),
      IntFlag("tokens", "Synthetic tokens to encode (held out).", "512", 1,
              int64_t{1} << 20),
      IntFlag("iters", "Rounds of least squares and search.", "3", 1, 1000),
      IntFlag("threads", "Worker threads.", "2", 1, 1024),
      // The shape: d = 8 KV heads x 128 = 1024, as LLaMA-3.1-8B.
      IntFlag("kv_heads", "KV heads of the synthetic values.", "8", 1, 64),
      IntFlag("head_dim", "Channels per KV head.", "128",
              kOutlierChannelsPerHead, 1024),
      IntFlag("seed", "Seed of the data and of training.", "0", 0,
              std::numeric_limits<int64_t>::max())};
  for (FlagDef& def : MlpFlags("512")) flags.push_back(std::move(def));
  flags.push_back(BoolFlag("json", "Print the result as JSON."));
  flags.push_back(BoolFlag("help", "Show this command's flags."));
  return flags;
}

absl::Status RunBenchValueEncode(const ParsedFlags& flags, absl::string_view,
                                 const CliIo& io) {
  const int64_t train_tokens = flags.GetInt("train_tokens");
  const int64_t tokens = flags.GetInt("tokens");
  const uint64_t seed = static_cast<uint64_t>(flags.GetInt("seed"));
  ThreadPool pool(static_cast<int>(flags.GetInt("threads")));
  SyntheticKvOptions data;
  data.tokens = train_tokens + tokens;
  data.num_kv_heads = flags.GetInt("kv_heads");
  data.head_dim = flags.GetInt("head_dim");
  data.seed = seed;
  const SyntheticKv kv = GenerateSyntheticKv(data);
  const int64_t dim = kv.dim;
  const std::vector<float> test(kv.values.begin() + train_tokens * dim,
                                kv.values.end());

  TrainValuesOptions train;
  train.iterations = static_cast<int>(flags.GetInt("iters"));
  train.seed = seed;
  train.pool = &pool;
  CVQ_RETURN_IF_ERROR(ReadMlpFlags(flags, &train.mlp));
  std::string json = "{";
  std::string text;
  for (int bits : {1, 2}) {
    train.bits = bits;
    double rate[2], mse[2];
    const char* encoders[2] = {"mlp", "search"};
    for (int e = 0; e < 2; ++e) {
      train.encoder = encoders[e];
      CVQ_ASSIGN_OR_RETURN(
          const std::unique_ptr<Quantizer> q,
          TrainCommvqValueLayer(kv.values.data(), train_tokens, dim,
                                data.num_kv_heads, train));
      CVQ_ASSIGN_OR_RETURN(const double seconds,
                           TimeEncode(*q, test, &pool, &mse[e]));
      rate[e] = static_cast<double>(tokens) / seconds;
    }
    // The keys are those of 1 bit; 2 bits get a _2bit suffix.
    const std::string suffix = bits == 1 ? "" : "_2bit";
    absl::StrAppendFormat(
        &json,
        "%s\"mlp_tokens_per_s%s\": %.1f, \"search_tokens_per_s%s\": %.1f, "
        "\"mlp_rel_mse%s\": %.6g, \"search_rel_mse%s\": %.6g, "
        "\"mlp_speedup_vs_search%s\": %.3f",
        bits == 1 ? "" : ", ", suffix, rate[0], suffix, rate[1], suffix, mse[0],
        suffix, mse[1], suffix, rate[0] / rate[1]);
    absl::StrAppendFormat(
        &text,
        "%d bit: mlp %.0f tokens/s (relative MSE %.4f), search %.0f tokens/s "
        "(relative MSE %.4f): mlp is %.2fx the speed of search\n",
        bits, rate[0], mse[0], rate[1], mse[1], rate[0] / rate[1]);
  }
  json += "}\n";
  if (flags.Has("json")) {
    io.out << json;
  } else {
    io.out << "Synthetic values (not a real model): d = " << dim << " ("
           << data.num_kv_heads << " KV heads x " << data.head_dim
           << "), trained on " << train_tokens << " tokens, " << tokens
           << " held-out tokens "
           << "encoded with " << pool.num_threads() << " threads\n"
           << text;
  }
  return absl::OkStatus();
}

}  // namespace cli
}  // namespace commvq
