#include "commvq/cli/key_bench_commands.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "commvq/base/random.h"
#include "commvq/base/status_macros.h"
#include "commvq/base/thread_pool.h"
#include "commvq/cli/synthetic_kv.h"
#include "commvq/quantizer/commvq_key/hard_fit.h"
#include "commvq/quantizer/commvq_key/key_codebook.h"
#include "commvq/quantizer/commvq_key/structured_encode.h"
#include "commvq/quantizer/vector_norm.h"
#include "kernels/cpu/key_encode_gemm.h"
#include "training/key_em_bench.h"

namespace commvq {
namespace cli {
namespace {

// The configuration of the issue: head_dim 128, h = 6, all 21 stages of the
// official 2-bit setting.
constexpr int64_t kHeadDim = 128;
constexpr int kHalfBits = 6;
constexpr int kStages = 21;
// The quick codebook fit: hard alternating least squares (hard_fit.h) on
// this many synthetic keys, this many rounds per stage.
constexpr int64_t kFitRows = 4096;
constexpr int kFitRounds = 2;

// Slices the encoders alternate over.
constexpr int64_t kSlices = 8;

// Accumulated wall-clock and process CPU seconds (all threads) of the
// intervals between Start and Stop.
struct Timer {
  void Start() {
    wall_start = std::chrono::steady_clock::now();
    cpu_start = std::clock();
  }
  void Stop() {
    wall += std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                          wall_start)
                .count();
    cpu += static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  }
  std::chrono::steady_clock::time_point wall_start;
  std::clock_t cpu_start = 0;
  double wall = 0.0;
  double cpu = 0.0;
};

// [n, kHeadDim] synthetic pre-RoPE keys of one KV head (outlier channels,
// as `demo` uses), each divided by its norm as the quantizer encodes them.
absl::StatusOr<std::vector<float>> UnitKeys(int64_t n, uint64_t seed) {
  SyntheticKvOptions options;
  options.tokens = n;
  options.num_kv_heads = 1;
  options.head_dim = kHeadDim;
  options.seed = seed;
  std::vector<float> keys = GenerateSyntheticKv(options).keys;
  for (int64_t i = 0; i < n; ++i) {
    float* row = &keys[i * kHeadDim];
    CVQ_RETURN_IF_ERROR(NormalizeToUnit(row, kHeadDim, row, "bench key-encode",
                                        absl::StrFormat("key %d", i))
                            .status());
  }
  return keys;
}

// Codebooks of every stage fitted to the residuals of the previous ones.
absl::StatusOr<std::vector<KeyCodebook>> FitStages(std::vector<float> residual,
                                                   uint64_t seed,
                                                   ThreadPool* pool) {
  const KeyCodebookShape shape{kHeadDim, kHalfBits, PairLayout::kHalf};
  const int64_t n = static_cast<int64_t>(residual.size()) / kHeadDim;
  Rng rng(seed);
  std::vector<KeyCodebook> stages;
  for (int s = 0; s < kStages; ++s) {
    CVQ_ASSIGN_OR_RETURN(
        KeyCodebook codebook,
        HardFitKeyCodebook(shape, residual.data(), n, kFitRounds, &rng));
    SubtractNearestCentres(codebook, residual.data(), n, pool);
    stages.push_back(std::move(codebook));
  }
  return stages;
}

}  // namespace

std::vector<FlagDef> BenchKeyEncodeFlags() {
  return {IntFlag("vectors", "Head vectors to encode.", "65536", 1,
                  int64_t{1} << 24),
          IntFlag("threads", "Worker threads of both encoders.", "2", 1, 1024),
          IntFlag("seed", "Seed of the data and of the codebook fit.", "0", 0,
                  std::numeric_limits<int64_t>::max()),
          BoolFlag("json", "Print the result as JSON."),
          BoolFlag("help", "Show this command's flags.")};
}

absl::Status RunBenchKeyEncode(const ParsedFlags& flags, absl::string_view,
                               const CliIo& io) {
  const int64_t n = flags.GetInt("vectors");
  const int threads = static_cast<int>(flags.GetInt("threads"));
  const uint64_t seed = static_cast<uint64_t>(flags.GetInt("seed"));
  ThreadPool pool(threads);
  CVQ_ASSIGN_OR_RETURN(std::vector<float> fit_rows,
                       UnitKeys(kFitRows, seed + 1));
  CVQ_ASSIGN_OR_RETURN(const std::vector<KeyCodebook> stages,
                       FitStages(std::move(fit_rows), seed, &pool));
  CVQ_ASSIGN_OR_RETURN(const std::vector<float> rows, UnitKeys(n, seed + 2));

  // Both encoders precompute per codebook (tables, packed centres) outside
  // the timed part.
  const StructuredKeyEncoder structured(stages);
  const GemmKeyEncoder brute(stages);
  std::vector<uint16_t> codes(n * kStages);
  std::vector<uint16_t> brute_codes(n * kStages);
  // The two encoders alternate over slices of the vectors, so a burst of
  // load from other processes hits both alike; wall and process CPU time
  // are summed per encoder.
  Timer structured_time;
  Timer brute_time;
  const int64_t slices = std::min<int64_t>(kSlices, n);
  for (int64_t k = 0; k < slices; ++k) {
    const int64_t begin = k * n / slices;
    const int64_t end = (k + 1) * n / slices;
    structured_time.Start();
    // Rows per task: each is 21 full searches.
    pool.ParallelFor(begin, end, 64, [&](int64_t b, int64_t e) {
      structured.EncodeRows(&rows[b * kHeadDim], e - b, &codes[b * kStages]);
    });
    structured_time.Stop();
    brute_time.Start();
    brute.EncodeBatch(&rows[begin * kHeadDim], end - begin,
                      &brute_codes[begin * kStages], &pool);
    brute_time.Stop();
  }
  const double structured_seconds = structured_time.wall;
  const double brute_seconds = brute_time.wall;
  const double cpu_speedup = brute_time.cpu / structured_time.cpu;
  const double rate = static_cast<double>(n) / structured_seconds;
  const double brute_rate = static_cast<double>(n) / brute_seconds;
  const bool identical = codes == brute_codes;
  if (flags.Has("json")) {
    io.out << absl::StrFormat(
        "{\"vectors_per_s\": %.1f, \"bruteforce_vectors_per_s\": %.1f, "
        "\"speedup\": %.2f, \"identical_codes\": %s, "
        "\"cpu_time_speedup\": %.2f, \"vectors\": %d, "
        "\"head_dim\": %d, \"half_bits\": %d, \"stages\": %d, "
        "\"threads\": %d, \"codebooks\": \"hard ALS fit, %d rounds per "
        "stage on %d synthetic keys\"}\n",
        rate, brute_rate, rate / brute_rate, identical ? "true" : "false",
        cpu_speedup, n, kHeadDim, kHalfBits, kStages, threads, kFitRounds,
        kFitRows);
  } else {
    io.out << absl::StrFormat(
        "key encode, head_dim %d, h %d, %d stages, %d vectors, %d threads:\n"
        "  structured  %.1f vectors/s\n  brute force %.1f vectors/s "
        "(blocked GEMM)\n  speedup %.2fx (%.2fx in CPU time), codes %s\n",
        kHeadDim, kHalfBits, kStages, n, threads, rate, brute_rate,
        rate / brute_rate, cpu_speedup, identical ? "identical" : "DIFFER");
  }
  if (!identical) {
    return absl::InternalError(
        "bench key-encode: the structured and brute-force codes differ");
  }
  return absl::OkStatus();
}

std::vector<FlagDef> BenchKeyEmFlags() {
  return {IntFlag("vectors", "Vectors of the structured run.", "65536", 64,
                  int64_t{1} << 24),
          IntFlag("dense_vectors",
                  "Vectors of the dense run (its time is scaled to "
                  "--vectors; the MSEs compare runs on these).",
                  "4096", 64, int64_t{1} << 24),
          IntFlag("iters", "EM iterations of every run.", "4", 1, 1000),
          IntFlag("threads", "Worker threads.", "2", 1, 1024),
          IntFlag("seed", "Seed of the data and of training.", "1", 0,
                  std::numeric_limits<int64_t>::max()),
          BoolFlag("json", "Print the result as JSON."),
          BoolFlag("help", "Show this command's flags.")};
}

absl::Status RunBenchKeyEm(const ParsedFlags& flags, absl::string_view,
                           const CliIo& io) {
  KeyEmBenchOptions options;
  options.vectors = flags.GetInt("vectors");
  options.dense_vectors = flags.GetInt("dense_vectors");
  options.iterations = static_cast<int>(flags.GetInt("iters"));
  options.threads = static_cast<int>(flags.GetInt("threads"));
  options.seed = static_cast<uint64_t>(flags.GetInt("seed"));
  CVQ_ASSIGN_OR_RETURN(const KeyEmBenchResult r, RunKeyEmBench(options));
  const double speedup = r.dense_seconds_per_iter / r.seconds_per_iter;
  const std::string note = absl::StrFormat(
      "dense timed on the first %d vectors and scaled by %d / %d; mse and "
      "dense_mse both trained on those %d; T from %g to %g over %d "
      "iterations",
      options.dense_vectors, options.vectors, options.dense_vectors,
      options.dense_vectors, r.t_start, r.t_end, options.iterations);
  if (flags.Has("json")) {
    io.out << absl::StrFormat(
        "{\"seconds_per_iter\": %.6g, \"dense_seconds_per_iter\": %.6g, "
        "\"speedup\": %.2f, \"mse\": %.9g, \"dense_mse\": %.9g, "
        "\"mse_full_n\": %.9g, \"softmax_terms_kept_at_t_start\": %.6g, "
        "\"vectors\": %d, \"dim\": %d, \"half_bits\": 6, "
        "\"threads\": %d, \"iterations\": %d, \"note\": \"%s\"}\n",
        r.seconds_per_iter, r.dense_seconds_per_iter, speedup, r.mse,
        r.dense_mse, r.mse_full_n, r.softmax_terms_kept, options.vectors,
        kHeadDim, options.threads, options.iterations, note);
  } else {
    io.out << absl::StrFormat(
        "key EM, one stage, %d vectors of dim %d, h 6, %d threads:\n"
        "  structured %.4g s/iter, dense %.4g s/iter, speedup %.2fx\n"
        "  hard MSE %.6g (structured) vs %.6g (dense), %+.3f%%\n  (%s)\n",
        options.vectors, kHeadDim, options.threads, r.seconds_per_iter,
        r.dense_seconds_per_iter, speedup, r.mse, r.dense_mse,
        100.0 * (r.mse / r.dense_mse - 1.0), note);
  }
  return absl::OkStatus();
}

}  // namespace cli
}  // namespace commvq
