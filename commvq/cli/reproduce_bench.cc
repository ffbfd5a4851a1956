#include "commvq/cli/reproduce_bench.h"

#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "commvq/base/float16.h"
#include "commvq/base/pair_layout.h"
#include "commvq/base/status_macros.h"
#include "commvq/base/thread_pool.h"
#include "commvq/cli/model_commands.h"
#include "commvq/eval/kv_dump_info.h"
#include "commvq/io/safetensors.h"
#include "commvq/kvcache/cache_spec.h"

namespace commvq {
namespace cli {
namespace {

// The attention shape recorded in a dump-kv file's metadata.
// The attention shape the dump's metadata gives (kv_dump_info.h checks it).
absl::StatusOr<AttentionShape> DumpShape(const SafetensorsFile& dump,
                                         const std::string& path) {
  CVQ_ASSIGN_OR_RETURN(const KvDumpInfo info,
                       ReadKvDumpInfo(dump, absl::StrCat("KV dump ", path)));
  AttentionShape shape;
  shape.num_layers = static_cast<int>(info.num_layers);
  shape.num_heads = static_cast<int>(info.num_heads);
  shape.num_kv_heads = static_cast<int>(info.num_kv_heads);
  shape.head_dim = static_cast<int>(info.head_dim);
  shape.rope_theta = info.rope_theta;
  shape.pair_layout = info.pair_layout;
  CVQ_RETURN_IF_ERROR(ValidateAttentionShape(shape));
  return shape;
}

// Row `row` of an f16 dump tensor [tokens, heads, head_dim] into `out`.
void HalfRow(const SafetensorsTensor& tensor, int64_t row, float* out) {
  const int64_t width = tensor.shape[1] * tensor.shape[2];
  std::vector<uint16_t> halves(width);
  std::memcpy(halves.data(), tensor.data.data() + row * width * 2, width * 2);
  HalvesToFloats(halves, absl::MakeSpan(out, width));
}

// CPU time of the process (all threads): on a shared machine it does not
// count the time other processes hold the cores, which wall time would.
double CpuSeconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

struct LayerTensors {
  const SafetensorsTensor* queries;
  const SafetensorsTensor* keys;
  const SafetensorsTensor* values;
};

}  // namespace

std::vector<FlagDef> BenchDecodeFlags() {
  return {StringFlag("kv", "DUMP", "KV dump from dump-kv (shape and data)."),
          StringFlag("cache", "SPEC", std::string(CacheSpecHelp()), "fp32"),
          StringFlag("contexts", "LIST", "Context lengths in tokens.",
                     "1024,2048,4096"),
          IntFlag("repeats", "Timed decode steps per context (median).", "5", 1,
                  1000),
          IntFlag("threads", "Worker threads (default: one per core).", "", 1,
                  1024),
          BoolFlag("json", "Print the result as JSON."),
          BoolFlag("help", "Show this command's flags.")};
}

absl::Status RunBenchDecode(const ParsedFlags& flags, absl::string_view,
                            const CliIo& io) {
  if (!flags.Has("kv")) {
    return absl::InvalidArgumentError("bench decode needs --kv=DUMP");
  }
  const std::string path = UserPath(GetStringOr(flags, "kv", ""));
  CVQ_ASSIGN_OR_RETURN(const SafetensorsFile dump, SafetensorsFile::Open(path));
  CVQ_ASSIGN_OR_RETURN(const AttentionShape shape, DumpShape(dump, path));
  CVQ_ASSIGN_OR_RETURN(std::vector<int> contexts,
                       GetIntList(flags, "contexts"));
  if (contexts.empty()) contexts = {1024, 2048, 4096};
  std::sort(contexts.begin(), contexts.end());
  if (contexts.front() < 1) {
    return absl::InvalidArgumentError("--contexts: expected positive lengths");
  }
  const std::string cache_text = GetStringOr(flags, "cache", "fp32");
  CVQ_ASSIGN_OR_RETURN(CacheSpec spec, ParseCacheSpec(cache_text));
  spec.codebooks = spec.codebooks.empty() ? "" : UserPath(spec.codebooks);
  CVQ_ASSIGN_OR_RETURN(auto codecs, MakeCacheCodecs(spec, shape));
  ThreadPool pool(flags.Has("threads")
                      ? static_cast<int>(flags.GetInt("threads"))
                      : ThreadPool::DefaultNumThreads());
  CVQ_ASSIGN_OR_RETURN(std::unique_ptr<KvCache> cache,
                       MakeKvCache(spec, shape, codecs, &pool));

  std::vector<LayerTensors> layers(shape.num_layers);
  int64_t dump_tokens = 0;
  for (int l = 0; l < shape.num_layers; ++l) {
    const std::string prefix = absl::StrCat("layers.", l, ".");
    CVQ_ASSIGN_OR_RETURN(layers[l].queries, dump.Find(prefix + "queries"));
    CVQ_ASSIGN_OR_RETURN(layers[l].keys, dump.Find(prefix + "keys"));
    CVQ_ASSIGN_OR_RETURN(layers[l].values, dump.Find(prefix + "values"));
    for (const SafetensorsTensor* t :
         {layers[l].queries, layers[l].keys, layers[l].values}) {
      if (t->dtype != DType::kF16 || t->shape.size() != 3 ||
          t->shape[0] < 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            "KV dump ", path, ": ", t->name, " is not f16 [tokens, heads, dim]"));
      }
    }
    dump_tokens = layers[l].keys->shape[0];
  }

  const int64_t kv_width = int64_t{shape.num_kv_heads} * shape.head_dim;
  const int64_t q_width = int64_t{shape.num_heads} * shape.head_dim;
  // Tokens are appended in chunks, as a prefill would.
  constexpr int64_t kChunk = 256;
  std::vector<float> keys(kChunk * kv_width), values(kChunk * kv_width);
  std::vector<float> query(q_width), out(q_width);
  std::vector<std::pair<int64_t, double>> results;
  int64_t length = 0;
  for (const int context : contexts) {
    while (length < context) {
      const int64_t n = std::min<int64_t>(kChunk, context - length);
      for (int l = 0; l < shape.num_layers; ++l) {
        for (int64_t i = 0; i < n; ++i) {
          const int64_t row = (length + i) % dump_tokens;
          HalfRow(*layers[l].keys, row, &keys[i * kv_width]);
          HalfRow(*layers[l].values, row, &values[i * kv_width]);
        }
        const Shape rows = {n, shape.num_kv_heads, shape.head_dim};
        CVQ_RETURN_IF_ERROR(cache->Append(
            l, TensorView(keys.data(), DType::kF32, rows),
            TensorView(values.data(), DType::kF32, rows)));
      }
      length += n;
    }
    const int64_t position = context - 1;
    std::vector<double> seconds;
    for (int64_t r = 0; r <= flags.GetInt("repeats"); ++r) {
      const double start = CpuSeconds();
      for (int l = 0; l < shape.num_layers; ++l) {
        HalfRow(*layers[l].queries, position % dump_tokens, query.data());
        CVQ_RETURN_IF_ERROR(cache->Attend(
            l,
            TensorView(query.data(), DType::kF32,
                       {1, shape.num_heads, shape.head_dim}),
            absl::MakeConstSpan(&position, 1),
            MutableTensorView(out.data(), DType::kF32,
                              {1, shape.num_heads, shape.head_dim})));
      }
      // The first step warms caches and is not counted.
      if (r > 0) seconds.push_back(CpuSeconds() - start);
    }
    std::sort(seconds.begin(), seconds.end());
    results.emplace_back(context, seconds[seconds.size() / 2] * 1e6);
  }

  if (flags.Has("json")) {
    io.out << absl::StrFormat("{\"cache\": \"%s\", \"layers\": %d, \"contexts\": [",
                              cache_text, shape.num_layers);
    for (size_t i = 0; i < results.size(); ++i) {
      io.out << absl::StrFormat("%s{\"context\": %d, \"microseconds\": %.3f}",
                                i ? ", " : "", results[i].first,
                                results[i].second);
    }
    io.out << "]}\n";
    return absl::OkStatus();
  }
  for (const auto& [context, us] : results) {
    io.out << absl::StrFormat(
        "cache %s  context %6d  %10.1f us per decoded token (%d layers)\n",
        cache_text, context, us, shape.num_layers);
  }
  return absl::OkStatus();
}

}  // namespace cli
}  // namespace commvq
