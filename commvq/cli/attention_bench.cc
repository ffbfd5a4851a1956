#include "commvq/cli/attention_bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "commvq/base/float16.h"
#include "commvq/base/random.h"
#include "commvq/base/status_macros.h"
#include "commvq/base/thread_pool.h"
#include "commvq/kvcache/compressed_kv_cache.h"
#include "commvq/kvcache/synthetic_codecs.h"
#include "commvq/registry/registry.h"
#include "kernels/cpu/attention_kernels.h"

namespace commvq {
namespace cli {
namespace {

constexpr int kHeads = 32;
constexpr int kKvHeads = 8;
constexpr int kHeadDim = 128;
constexpr int kGroup = kHeads / kKvHeads;
constexpr int64_t kRow = int64_t{kKvHeads} * kHeadDim;
// CommVQ keys: h = 6, ~1 bit per element per 11 stages (the commvq_key
// default), ~2 bits with 21.
constexpr int kKeyHalfBits = 6;

// Compute floors (printed per CommVQ row, in ms at --peak-gadds billion f32
// additions per second, and as the measured phase time over that floor):
//   keys: a key is the sum of 2R codebook rows (R stages, an a and a b row
//     each), 2R x head_dim additions per token and KV head, whichever
//     kernel adds them;
//   values: one addition of each query head's weight x factor per token and
//     4-bit group of the Nc code bits (the histogram formulation: Nc / 4
//     groups x num_heads additions per token).
struct Floors {
  double key_adds = 0.0;
  double value_adds = 0.0;
};

AttentionShape BenchShape() {
  AttentionShape shape;
  shape.num_layers = 1;
  shape.num_heads = kHeads;
  shape.num_kv_heads = kKvHeads;
  shape.head_dim = kHeadDim;
  shape.rope_theta = 500000.0;
  shape.pair_layout = PairLayout::kHalf;
  return shape;
}

struct Row {
  std::string method;
  int64_t context = 0;
  int threads = 0;
  double ms = 0.0;
  double cpu_ms = 0.0;
  double kv_bytes_per_token = 0.0;
  std::string key_kernel;
  // CommVQ rows: the mean phase times of the timed runs and the floors.
  std::optional<AttendPhaseTimes> phases;
  Floors floors;
};

// One method at one context: `attend` runs one decode step on a pool.
struct Method {
  std::string name;
  std::string key_kernel;
  double kv_bytes_per_token = 0.0;
  std::function<absl::Status(ThreadPool*)> attend;
  // CommVQ: where the cache adds the phase times of each attend.
  std::shared_ptr<AttendPhaseTimes> phases;
  Floors floors;
};

struct Timing {
  double ms = 0.0;      // wall time
  double cpu_ms = 0.0;  // CPU time of the process (all its threads)
};

// Median wall and CPU times of `repeats` runs after one warm-up, in ms (and
// the phases' mean wall times in method.phases). On a shared machine the
// CPU time of a one-thread run is the steadier figure: it leaves out the
// time the process waited for a core.
absl::StatusOr<Timing> TimeMs(const Method& method, ThreadPool* pool,
                              int repeats) {
  CVQ_RETURN_IF_ERROR(method.attend(pool));
  if (method.phases) *method.phases = AttendPhaseTimes();
  std::vector<double> ms, cpu_ms;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    const std::clock_t cpu_start = std::clock();
    CVQ_RETURN_IF_ERROR(method.attend(pool));
    cpu_ms.push_back(1000.0 * static_cast<double>(std::clock() - cpu_start) /
                     CLOCKS_PER_SEC);
    ms.push_back(std::chrono::duration<double, std::milli>(
                     std::chrono::steady_clock::now() - start)
                     .count());
  }
  if (method.phases) {
    for (double* phase :
         {&method.phases->prepare_ms, &method.phases->key_ms,
          &method.phases->softmax_ms, &method.phases->value_ms}) {
      *phase /= repeats;
    }
  }
  std::sort(ms.begin(), ms.end());
  std::sort(cpu_ms.begin(), cpu_ms.end());
  return Timing{ms[ms.size() / 2], cpu_ms[cpu_ms.size() / 2]};
}

// The dense baselines: keys and values head-major, [kv_heads, n, head_dim]
// (keys already rotated), each KV head read once for its query group.
template <typename T>
Method DenseMethod(std::string name, int64_t n, const std::vector<float>& query,
                   const AttentionKernels& kernels) {
  auto keys = std::make_shared<std::vector<T>>(kRow * n);
  auto values = std::make_shared<std::vector<T>>(kRow * n);
  Rng rng(n);
  std::vector<float> chunk(4096);
  for (auto* data : {keys.get(), values.get()}) {
    for (size_t i = 0; i < data->size(); i += chunk.size()) {
      rng.FillNormal(absl::MakeSpan(chunk), 0.0f, 1.0f);
      const size_t count = std::min(chunk.size(), data->size() - i);
      for (size_t j = 0; j < count; ++j) {
        if constexpr (std::is_same_v<T, float>) {
          (*data)[i + j] = chunk[j];
        } else {
          (*data)[i + j] = FloatToHalfBits(chunk[j]);
        }
      }
    }
  }
  auto scores = std::make_shared<std::vector<float>>(kKvHeads * kGroup * n);
  auto out = std::make_shared<std::vector<float>>(kHeads * kHeadDim);
  Method method;
  method.name = std::move(name);
  method.key_kernel = absl::StrCat("dense-", kernels.isa);
  method.kv_bytes_per_token = 2.0 * kRow * sizeof(T);
  method.attend = [=, &query, &kernels](ThreadPool* pool) {
    pool->ParallelFor(0, kKvHeads, 1, [&](int64_t begin, int64_t end) {
      for (int64_t g = begin; g < end; ++g) {
        const float scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim));
        if constexpr (std::is_same_v<T, float>) {
          kernels.dense_group_attention_f32(
              &query[g * kGroup * kHeadDim], kGroup, &(*keys)[g * n * kHeadDim],
              &(*values)[g * n * kHeadDim], kHeadDim, n, scale,
              &(*scores)[g * kGroup * n], &(*out)[g * kGroup * kHeadDim]);
        } else {
          kernels.dense_group_attention_f16(
              &query[g * kGroup * kHeadDim], kGroup, &(*keys)[g * n * kHeadDim],
              &(*values)[g * n * kHeadDim], kHeadDim, n, scale,
              &(*scores)[g * kGroup * n], &(*out)[g * kGroup * kHeadDim]);
        }
      }
    });
    return absl::OkStatus();
  };
  return method;
}

// A compressed cache of n tokens; `attend` runs CompressedKvCache::Attend on
// the pool the cache was made with (one cache per thread count).
absl::StatusOr<Method> CacheMethod(
    std::string name, std::shared_ptr<const CompressedCacheCodecs> codecs,
    KeyKernel key_kernel, int64_t n, const std::vector<float>& query,
    ThreadPool* pool) {
  auto phases = std::make_shared<AttendPhaseTimes>();
  CompressedKvCacheOptions options;
  options.window = 0;
  options.key_kernel = key_kernel;
  options.pool = pool;
  // Phase times only for CommVQ rows, which report them; the block lives as
  // long as the method (it owns the shared_ptr), which the cache writes to.
  if (codecs->layer(0).key_arrays) options.phase_times = phases.get();
  CVQ_ASSIGN_OR_RETURN(std::shared_ptr<CompressedKvCache> cache,
                       CompressedKvCache::Create(codecs, options));
  const LayerQuantizers& q = codecs->layer(0).quantizers;
  if (codecs->layer(0).key_arrays) {
    // CommVQ: random codes with an fp16 norm of 1 and an f32 factor of 1.
    const std::vector<uint8_t> norm = {0x00, 0x3c};
    std::vector<uint8_t> factor(4);
    const float one = 1.0f;
    std::memcpy(factor.data(), &one, 4);
    const EncodedTokens keys = RandomEncodedTokens(*q.key, n, norm, 1);
    const EncodedTokens values = RandomEncodedTokens(*q.value, n, factor, 2);
    CVQ_RETURN_IF_ERROR(cache->AppendEncoded(
        0, TensorView(keys.codes.data(), DType::kU8, {n, q.key->layout().code_bytes}),
        TensorView(keys.side.data(), DType::kU8, {n, q.key->layout().side_bytes}),
        TensorView(values.codes.data(), DType::kU8,
                   {n, q.value->layout().code_bytes}),
        TensorView(values.side.data(), DType::kU8,
                   {n, q.value->layout().side_bytes})));
  } else {
    // Other quantizers encode real (random normal) rows.
    Rng rng(3);
    const int64_t step = 4096;
    std::vector<float> keys(step * kRow), values(step * kRow);
    for (int64_t done = 0; done < n; done += step) {
      const int64_t count = std::min(step, n - done);
      rng.FillNormal(absl::MakeSpan(keys), 0.0f, 1.0f);
      rng.FillNormal(absl::MakeSpan(values), 0.0f, 1.0f);
      CVQ_RETURN_IF_ERROR(cache->Append(
          0, TensorView(keys.data(), DType::kF32, {count, kKvHeads, kHeadDim}),
          TensorView(values.data(), DType::kF32, {count, kKvHeads, kHeadDim})));
    }
  }
  Method method;
  method.name = std::move(name);
  method.key_kernel = cache->KeyKernelName();
  if (const auto& arrays = codecs->layer(0).key_arrays) {
    method.phases = phases;
    method.floors.key_adds =
        static_cast<double>(n) * kKvHeads * 2 * arrays->stages * kHeadDim;
    method.floors.value_adds =
        static_cast<double>(n) * kHeads *
        (codecs->layer(0).value_params->num_code_bits / 4);
  }
  method.kv_bytes_per_token =
      static_cast<double>(cache->StoredBytes()) / static_cast<double>(n);
  auto out = std::make_shared<std::vector<float>>(kHeads * kHeadDim);
  method.attend = [cache, out, n, &query](ThreadPool*) {
    const int64_t position = n - 1;
    return cache->Attend(
        0, TensorView(query.data(), DType::kF32, {1, kHeads, kHeadDim}),
        absl::MakeConstSpan(&position, 1),
        MutableTensorView(out->data(), DType::kF32, {1, kHeads, kHeadDim}));
  };
  return method;
}

absl::StatusOr<std::shared_ptr<const CompressedCacheCodecs>> CommvqCodecs(
    int bits) {
  const AttentionShape shape = BenchShape();
  CVQ_ASSIGN_OR_RETURN(auto key, RandomCommvqKeyQuantizer(
                                     shape, kKeyHalfBits, bits == 1 ? 11 : 21, 1));
  CVQ_ASSIGN_OR_RETURN(auto value, RandomCommvqValueQuantizer(shape, bits, 2));
  return CompressedCacheCodecs::Create(shape, {{key, value}});
}

absl::StatusOr<std::shared_ptr<const CompressedCacheCodecs>> KiviCodecs() {
  std::vector<float> none;
  const TensorView empty(none.data(), DType::kF32, {0, kRow});
  CVQ_ASSIGN_OR_RETURN(std::unique_ptr<Quantizer> key,
                       QuantizerRegistry::Default().Train(
                           "kivi:mode=key,bits=2", empty));
  CVQ_ASSIGN_OR_RETURN(std::unique_ptr<Quantizer> value,
                       QuantizerRegistry::Default().Train(
                           "kivi:mode=value,bits=2", empty));
  return CompressedCacheCodecs::Create(
      BenchShape(), {{std::shared_ptr<const Quantizer>(std::move(key)),
                      std::shared_ptr<const Quantizer>(std::move(value))}});
}

// The phase fields of a CommVQ row (floors in ms, and each phase's time
// over its floor), "" for other rows.
std::string PhaseJson(const Row& r) {
  if (!r.phases) return "";
  const AttendPhaseTimes& p = *r.phases;
  return absl::StrFormat(
      ", \"prepare_ms\": %.3f, \"key_ms\": %.3f, \"softmax_ms\": %.3f, "
      "\"value_ms\": %.3f, \"key_floor_ms\": %.3f, \"value_floor_ms\": "
      "%.3f, \"key_x_floor\": %.2f, \"value_x_floor\": %.2f",
      p.prepare_ms, p.key_ms, p.softmax_ms, p.value_ms, r.floors.key_adds,
      r.floors.value_adds, p.key_ms / r.floors.key_adds,
      p.value_ms / r.floors.value_adds);
}

std::string RowText(const Row& r) {
  std::string text = absl::StrFormat(
      "%-9s context %7d threads %d  %9.3f ms (cpu %9.3f)  %8.1f KV "
      "bytes/token  %s",
      r.method, r.context, r.threads, r.ms, r.cpu_ms, r.kv_bytes_per_token,
      r.key_kernel);
  if (r.phases) {
    absl::StrAppendFormat(
        &text,
        "  (keys %.1f ms = %.1fx floor, softmax %.1f, values %.1f ms = "
        "%.1fx floor, prepare %.1f)",
        r.phases->key_ms, r.phases->key_ms / r.floors.key_adds,
        r.phases->softmax_ms, r.phases->value_ms,
        r.phases->value_ms / r.floors.value_adds, r.phases->prepare_ms);
  }
  return text;
}

// The CommVQ key kernels --key-kernels names (default both).
absl::StatusOr<std::vector<KeyKernel>> KeyKernels(const ParsedFlags& flags) {
  std::vector<KeyKernel> kernels;
  for (absl::string_view name :
       absl::StrSplit(GetStringOr(flags, "key-kernels", "decode,table"), ',')) {
    if (name == "decode") {
      kernels.push_back(KeyKernel::kDecode);
    } else if (name == "table") {
      kernels.push_back(KeyKernel::kTable);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("--key-kernels: unknown kernel '", name,
                       "': expected decode or table"));
    }
  }
  return kernels;
}

absl::StatusOr<std::vector<std::string>> Methods(const ParsedFlags& flags) {
  const std::vector<std::string> all = {"fp32", "fp16", "commvq-1",
                                        "commvq-2", "kivi-2"};
  if (!flags.Has("methods")) return all;
  std::vector<std::string> chosen =
      absl::StrSplit(GetStringOr(flags, "methods", ""), ',');
  for (const std::string& m : chosen) {
    if (std::find(all.begin(), all.end(), m) == all.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--methods: unknown method '", m,
          "': expected fp32, fp16, commvq-1, commvq-2 or kivi-2"));
    }
  }
  return chosen;
}

}  // namespace

std::vector<FlagDef> BenchAttentionFlags() {
  return {StringFlag("contexts", "LIST",
                     "Context lengths in tokens (default 4096,32768,131072; "
                     "fewer for quick runs)."),
          StringFlag("threads", "LIST", "Thread counts (default 1,2)."),
          StringFlag("methods", "LIST",
                     "Subset of fp32,fp16,commvq-1,commvq-2,kivi-2."),
          StringFlag("key-kernels", "LIST",
                     "CommVQ key kernels to run: decode,table (default "
                     "both)."),
          IntFlag("repeats", "Timed runs per row (the median is reported).",
                  "3", 1, 1000),
          IntFlag("peak-gadds",
                  "Billion f32 additions per second one thread can do, for "
                  "the compute floors of CommVQ rows (keys: 2R x head_dim "
                  "additions per token and KV head; values: num_heads "
                  "additions per token and 4-bit group of code bits). The "
                  "default assumes 16 lanes per cycle at 3 GHz.",
                  "48", 1, 100000),
          BoolFlag("json", "Print the rows as JSON."),
          BoolFlag("help", "Show this command's flags.")};
}

absl::Status RunBenchAttention(const ParsedFlags& flags, absl::string_view,
                               const CliIo& io) {
  CVQ_ASSIGN_OR_RETURN(std::vector<int> contexts, GetIntList(flags, "contexts"));
  if (contexts.empty()) contexts = {4096, 32768, 131072};
  CVQ_ASSIGN_OR_RETURN(std::vector<int> threads, GetIntList(flags, "threads"));
  if (threads.empty()) threads = {1, 2};
  for (const int t : threads) {
    if (t < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("--threads: ", t, " is not a positive thread count"));
    }
  }
  for (const int c : contexts) {
    if (c < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("--contexts: ", c, " is not a positive token count"));
    }
  }
  CVQ_ASSIGN_OR_RETURN(const std::vector<std::string> methods, Methods(flags));
  CVQ_ASSIGN_OR_RETURN(const std::vector<KeyKernel> key_kernels,
                       KeyKernels(flags));
  const int repeats = static_cast<int>(flags.GetInt("repeats"));
  const double peak_adds_per_ms = 1e6 * flags.GetInt("peak-gadds");
  const AttentionKernels& kernels = SelectedAttentionKernels();

  std::vector<float> query(kHeads * kHeadDim);
  Rng(7).FillNormal(absl::MakeSpan(query), 0.0f, 1.0f);
  std::vector<Row> rows;
  for (const int context : contexts) {
    for (const int thread_count : threads) {
      ThreadPool pool(thread_count);
      std::vector<Method> runs;
      for (const std::string& name : methods) {
        if (name == "fp32") {
          runs.push_back(DenseMethod<float>(name, context, query, kernels));
        } else if (name == "fp16") {
          runs.push_back(DenseMethod<uint16_t>(name, context, query, kernels));
        } else if (name == "kivi-2") {
          CVQ_ASSIGN_OR_RETURN(auto codecs, KiviCodecs());
          CVQ_ASSIGN_OR_RETURN(
              Method m, CacheMethod(name, codecs, KeyKernel::kAuto, context,
                                    query, &pool));
          runs.push_back(std::move(m));
        } else {
          CVQ_ASSIGN_OR_RETURN(auto codecs,
                               CommvqCodecs(name == "commvq-1" ? 1 : 2));
          for (const KeyKernel k : key_kernels) {
            CVQ_ASSIGN_OR_RETURN(
                Method m, CacheMethod(name, codecs, k, context, query, &pool));
            runs.push_back(std::move(m));
          }
        }
        for (Method& method : runs) {
          CVQ_ASSIGN_OR_RETURN(const Timing timing,
                               TimeMs(method, &pool, repeats));
          Row row;
          row.method = method.name;
          row.context = context;
          row.threads = thread_count;
          row.ms = timing.ms;
          row.cpu_ms = timing.cpu_ms;
          row.kv_bytes_per_token = method.kv_bytes_per_token;
          row.key_kernel = method.key_kernel;
          if (method.phases) row.phases = *method.phases;
          // Floors at the peak rate, spread over the threads.
          row.floors.key_adds =
              method.floors.key_adds / peak_adds_per_ms / thread_count;
          row.floors.value_adds =
              method.floors.value_adds / peak_adds_per_ms / thread_count;
          rows.push_back(row);
          if (!flags.Has("json")) io.out << RowText(row) << "\n";
        }
        runs.clear();  // frees the caches before the next method
      }
    }
  }
  if (flags.Has("json")) {
    io.out << "{\"rows\": [";
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      io.out << absl::StrFormat(
          "%s{\"method\": \"%s\", \"context\": %d, \"threads\": %d, "
          "\"ms\": %.3f, \"cpu_ms\": %.3f, \"kv_bytes_per_token\": %.1f, "
          "\"key_kernel\": \"%s\"%s}",
          i ? ",\n  " : "\n  ", r.method, r.context, r.threads, r.ms, r.cpu_ms,
          r.kv_bytes_per_token, r.key_kernel, PhaseJson(r));
    }
    io.out << "\n]}\n";
  }
  return absl::OkStatus();
}

}  // namespace cli
}  // namespace commvq
