#include "commvq/cli/reproduce_train.h"

#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "commvq/base/float16.h"
#include "commvq/base/pair_layout.h"
#include "commvq/base/status_macros.h"
#include "commvq/base/thread_pool.h"
#include "commvq/cli/model_commands.h"
#include "commvq/cli/progress_bar.h"
#include "commvq/io/codebook_file.h"
#include "commvq/io/safetensors.h"
#include "commvq/registry/registry.h"

namespace commvq {
namespace cli {
namespace {

absl::StatusOr<int64_t> MetaInt(const SafetensorsFile& dump,
                                const std::string& path,
                                const std::string& key) {
  int64_t value = 0;
  auto it = dump.metadata().find(key);
  if (it == dump.metadata().end() || !absl::SimpleAtoi(it->second, &value) ||
      value < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "KV dump ", path, ": expected a positive integer metadata '", key, "'"));
  }
  return value;
}

// The first `n` tokens (all when 0) of layers.<layer>.<kind> ([tokens,
// kv_heads, head_dim] f16) as [n, dim] f32.
absl::StatusOr<std::vector<float>> FirstTokens(const SafetensorsFile& dump,
                                               const std::string& name,
                                               int64_t dim, int64_t* n) {
  CVQ_ASSIGN_OR_RETURN(const SafetensorsTensor* tensor, dump.Find(name));
  if (tensor->dtype != DType::kF16 || tensor->shape.size() != 3 ||
      tensor->shape[1] * tensor->shape[2] != dim) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor ", name, ": expected f16 [tokens, kv_heads, head_dim] with ",
        dim, " elements per token"));
  }
  if (*n == 0 || *n > tensor->shape[0]) *n = tensor->shape[0];
  std::vector<uint16_t> halves(*n * dim);
  std::memcpy(halves.data(), tensor->data.data(), halves.size() * 2);
  std::vector<float> out(halves.size());
  HalvesToFloats(halves, absl::MakeSpan(out));
  return out;
}

}  // namespace

std::vector<FlagDef> TrainCodebooksFlags() {
  return {StringFlag("kv", "DUMP", "KV dump from dump-kv (safetensors)."),
          StringFlag("keys", "SPEC", "Registry spec of the key quantizers."),
          StringFlag("values", "SPEC",
                     "Registry spec of the value quantizers."),
          IntFlag("samples", "First tokens of the dump to train on (0: all).",
                  "0", 0, int64_t{1} << 24),
          IntFlag("seed", "Seed of training.", "0", 0,
                  std::numeric_limits<int64_t>::max()),
          IntFlag("threads", "Worker threads (default: one per core).", "", 1,
                  1024),
          StringFlag("out", "FILE", "Codebook file to write."),
          BoolFlag("help", "Show this command's flags.")};
}

absl::Status RunTrainCodebooks(const ParsedFlags& flags, absl::string_view,
                               const CliIo& io) {
  for (const char* required : {"kv", "keys", "values", "out"}) {
    if (!flags.Has(required)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "train-codebooks needs --kv=DUMP, --keys=SPEC, --values=SPEC and "
          "--out=FILE; --",
          required, " is missing"));
    }
  }
  const std::string path = UserPath(GetStringOr(flags, "kv", ""));
  CVQ_ASSIGN_OR_RETURN(const SafetensorsFile dump, SafetensorsFile::Open(path));
  CodebookFileContents contents;
  ModelShape& model = contents.model;
  int64_t num_layers = 0, num_heads = 0, num_kv_heads = 0, head_dim = 0;
  CVQ_ASSIGN_OR_RETURN(num_layers, MetaInt(dump, path, "num_layers"));
  CVQ_ASSIGN_OR_RETURN(num_heads, MetaInt(dump, path, "num_heads"));
  CVQ_ASSIGN_OR_RETURN(num_kv_heads, MetaInt(dump, path, "num_kv_heads"));
  CVQ_ASSIGN_OR_RETURN(head_dim, MetaInt(dump, path, "head_dim"));
  model.num_layers = static_cast<int32_t>(num_layers);
  model.num_heads = static_cast<int32_t>(num_heads);
  model.num_kv_heads = static_cast<int32_t>(num_kv_heads);
  model.head_dim = static_cast<int32_t>(head_dim);
  const auto meta = [&](const std::string& key) {
    auto it = dump.metadata().find(key);
    return it == dump.metadata().end() ? std::string() : it->second;
  };
  model.model_name = meta("model");
  if (!absl::SimpleAtod(meta("rope_theta"), &model.rope_theta)) {
    return absl::InvalidArgumentError(
        absl::StrCat("KV dump ", path, ": expected metadata 'rope_theta'"));
  }
  const std::string layout = meta("pair_layout");
  for (PairLayout candidate : {PairLayout::kHalf, PairLayout::kInterleaved}) {
    if (layout == PairLayoutName(candidate)) model.pair_layout = candidate;
  }
  if (model.pair_layout == PairLayout::kUnspecified) {
    return absl::InvalidArgumentError(absl::StrCat(
        "KV dump ", path, ": pair_layout '", layout,
        "', expected 'half' or 'interleaved'"));
  }

  ThreadPool pool(flags.Has("threads")
                      ? static_cast<int>(flags.GetInt("threads"))
                      : ThreadPool::DefaultNumThreads());
  TrainOptions train;
  train.seed = static_cast<uint64_t>(flags.GetInt("seed"));
  train.pool = &pool;
  const int64_t dim = num_kv_heads * head_dim;
  ProgressBar bar("train-codebooks", 2.0 * num_layers, io.err,
                  io.err_is_terminal);
  // The quantizers must outlive the write (the contents borrow them).
  std::vector<std::unique_ptr<Quantizer>> quantizers;
  int64_t samples = 0;
  for (int layer = 0; layer < num_layers; ++layer) {
    for (const auto& [kind, role] : {std::make_pair("key", CacheRole::kKey),
                                     std::make_pair("value", CacheRole::kValue)}) {
      const std::string spec = GetStringOr(flags, absl::StrCat(kind, "s"), "");
      samples = flags.GetInt("samples");
      CVQ_ASSIGN_OR_RETURN(
          const std::vector<float> data,
          FirstTokens(dump, absl::StrCat("layers.", layer, ".", kind, "s"), dim,
                      &samples));
      auto q = QuantizerRegistry::Default().Train(
          spec, TensorView(data.data(), DType::kF32, {samples, dim}), train);
      if (!q.ok()) {
        return absl::Status(q.status().code(),
                            absl::StrCat("layer ", layer, " ", kind, "s: ",
                                         q.status().message()));
      }
      quantizers.push_back(*std::move(q));
      contents.quantizers.push_back({absl::StrCat("layer.", layer, ".", kind),
                                     layer, role, quantizers.back().get()});
      bar.Update(static_cast<double>(quantizers.size()));
    }
  }
  bar.Finish();
  contents.provenance.trainer = "commvq train-codebooks";
  contents.provenance.seed = train.seed;
  contents.provenance.num_samples = samples;
  contents.provenance.calibration_data =
      absl::StrCat("text_crc32c=", meta("text_crc32c"));
  const std::string out = UserPath(GetStringOr(flags, "out", ""));
  CVQ_RETURN_IF_ERROR(WriteCodebookFile(out, contents));
  io.out << "wrote " << num_layers << " layers of "
         << GetStringOr(flags, "keys", "") << " keys and "
         << GetStringOr(flags, "values", "") << " values to " << out << "\n";
  return absl::OkStatus();
}

}  // namespace cli
}  // namespace commvq
