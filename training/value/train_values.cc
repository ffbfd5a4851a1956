#include "training/value/train_values.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "commvq/base/status_macros.h"
#include "commvq/io/codebook_file.h"
#include "commvq/io/safetensors.h"
#include "commvq/kvcache/rope.h"
#include "commvq/quantizer/commvq_value/codebook_fit.h"
#include "commvq/quantizer/commvq_value/commvq_value_quantizer.h"
#include "commvq/quantizer/commvq_value/mlp_encode.h"
#include "training/dump_samples.h"
#include "training/value/value_attention_blocks.h"

namespace commvq {
namespace {

constexpr absl::string_view kTrainer = "commvq train-values";

absl::Status ValidateOptions(const TrainValuesOptions& options) {
  if (options.bits != 1 && options.bits != 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "train values: bits is ", options.bits, ": expected 1 or 2"));
  }
  if (options.encoder != "search" && options.encoder != "mlp") {
    return absl::InvalidArgumentError(
        absl::StrCat("train values: encoder is '", options.encoder,
                     "': expected search or mlp"));
  }
  return absl::OkStatus();
}

// The mlp codes of every unit row ([n, nc]).
std::vector<uint8_t> MlpCodes(const ValueEncoderWeights& w, const float* units,
                              int64_t n, int64_t dim, int64_t nc) {
  std::vector<uint8_t> bits(n * nc);
  std::vector<float> logits(2 * nc), scratch(dim + w.hidden);
  for (int64_t r = 0; r < n; ++r) {
    ValueMlpLogits(w, dim, nc, units + r * dim, logits.data(), scratch.data());
    CategoriesToBits(logits.data(), nc / 2, &bits[r * nc]);
  }
  return bits;
}

constexpr absl::string_view kWho = "train values";

// The model's RoPE from the dump's metadata.
absl::StatusOr<Rope> DumpRope(const KvDumpInfo& info, const std::string& path) {
  absl::StatusOr<Rope> rope = Rope::Create(static_cast<int>(info.head_dim),
                                           info.rope_theta, info.pair_layout);
  if (!rope.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kWho, ": KV dump ", path, ": ", rope.status().message()));
  }
  return rope;
}

// The attention blocks of one layer: its queries, keys and values, whole.
absl::StatusOr<ValueAttentionData> ReadAttentionBlocks(
    const SafetensorsFile& dump, const std::string& path, int layer,
    const KvDumpInfo& info, const Rope& rope,
    const TrainValuesFileOptions& options) {
  const int64_t hd = info.head_dim;
  CVQ_ASSIGN_OR_RETURN(const DumpSamples q,
                       ReadDumpSamples(dump, path, layer, "queries",
                                       info.num_heads, hd, 0, kWho));
  CVQ_ASSIGN_OR_RETURN(const DumpSamples k,
                       ReadDumpSamples(dump, path, layer, "keys",
                                       info.num_kv_heads, hd, 0, kWho));
  CVQ_ASSIGN_OR_RETURN(const DumpSamples v,
                       ReadDumpSamples(dump, path, layer, "values",
                                       info.num_kv_heads, hd, 0, kWho));
  if (q.tokens != v.tokens || k.tokens != v.tokens) {
    return absl::InvalidArgumentError(absl::StrCat(
        kWho, ": KV dump ", path, ": layer ", layer, " has ", q.tokens,
        " queries, ", k.tokens, " keys and ", v.tokens, " values"));
  }
  const std::vector<int64_t> starts = EvenBlockStarts(
      v.tokens, options.attention_window, options.attention_blocks);
  if (starts.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kWho, ": attention window ", options.attention_window,
                     " is longer than the dump's ", v.tokens, " tokens"));
  }
  return BuildValueAttentionData(q.rows.data(), k.rows.data(), v.rows.data(),
                                 v.tokens, info.num_heads, info.num_kv_heads,
                                 rope, starts, options.attention_window,
                                 options.train.pool);
}

}  // namespace

std::string TrainedValueSpec(int64_t num_kv_heads,
                             const TrainValuesOptions& options) {
  return absl::StrCat(
      CommvqValueSpec(num_kv_heads, options.bits, options.encoder),
      ",sweeps=", options.search.sweeps,
      ",relaxed_start=", options.search.relaxed_start ? "true" : "false",
      ",restarts=", options.search.restarts,
      ",iterations=", options.iterations);
}

absl::StatusOr<std::unique_ptr<Quantizer>> TrainCommvqValueLayer(
    const float* values, int64_t n, int64_t dim, int64_t num_kv_heads,
    const TrainValuesOptions& options) {
  CVQ_RETURN_IF_ERROR(ValidateOptions(options));
  if (num_kv_heads < 1 || dim < 1 || dim % num_kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat("train values: dim ", dim,
                                                   " is not a multiple of ",
                                                   num_kv_heads, " KV heads"));
  }
  CVQ_RETURN_IF_ERROR(
      CheckFinite(values, std::max<int64_t>(n, 0), dim, "values"));
  ValueQuantizerParams params;
  params.dim = dim;
  params.num_kv_heads = num_kv_heads;
  params.num_code_bits = options.bits * dim + (options.bits * dim) % 2;
  params.channel_scale = ValueChannelScale(values, n, dim);
  std::vector<float> units;
  std::vector<float> unit(dim);
  for (int64_t i = 0; i < n; ++i) {
    if (PrescaleToUnit(values + i * dim, params.channel_scale.data(), dim,
                       unit.data()) > 0.0) {
      units.insert(units.end(), unit.begin(), unit.end());
    }
  }
  const int64_t rows = static_cast<int64_t>(units.size()) / dim;
  if (rows < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("train values: ", n, " tokens, none non-zero"));
  }
  const int64_t nc = params.num_code_bits;
  const bool mlp = options.encoder == "mlp";
  // Progress: the search rounds, then (mlp) the network.
  const double search_share = mlp ? 0.3 : 1.0;
  const auto report = [&](double fraction) {
    if (options.progress) options.progress(fraction);
  };
  ValueCodebookTrainOptions fit;
  fit.iterations = options.iterations;
  fit.ridge = options.ridge;
  fit.search = options.search;
  fit.channel_weights = SearchWeights(params.channel_scale);
  fit.seed = options.seed;
  fit.pool = options.pool;
  fit.progress = [&](double f) { report(search_share * f); };
  CVQ_ASSIGN_OR_RETURN(
      ValueCodebookTrainResult search,
      TrainValueCodebookBySearch(units.data(), rows, dim, nc, fit));
  params.codebook = std::move(search.codebook);
  if (mlp) {
    ValueMlpTrainOptions train = options.mlp;
    std::optional<ValueAttentionData> attention;
    if (options.attention != nullptr && train.attention_weight > 0.0) {
      attention = *options.attention;
      if (attention->dim() != dim) {
        return absl::InvalidArgumentError(
            absl::StrCat("train values: attention blocks of dim ",
                         attention->dim(), " for values of dim ", dim));
      }
      PrescaleValueAttention(params.channel_scale, &*attention);
      train.attention = &*attention;
    }
    train.seed = options.seed;
    train.pool = options.pool;
    train.progress = [&](double f) {
      report(search_share + (1.0 - search_share) * f);
    };
    CVQ_ASSIGN_OR_RETURN(
        ValueMlpTrainResult net,
        TrainValueMlp(units.data(), rows, dim, params.codebook.data(), nc,
                      search.bits.data(), train));
    params.encoder = std::move(net.weights);
    // The codebook that best decodes the codes the network gives.
    const std::vector<uint8_t> codes =
        MlpCodes(params.encoder, units.data(), rows, dim, nc);
    CVQ_ASSIGN_OR_RETURN(params.codebook,
                         FitValueCodebook(codes.data(), units.data(), rows, nc,
                                          dim, options.ridge, options.pool));
  }
  return MakeCommvqValueQuantizer(TrainedValueSpec(num_kv_heads, options), dim,
                                  std::move(params));
}

absl::Status TrainValuesFromDump(const std::string& dump_path,
                                 const TrainValuesFileOptions& options,
                                 const std::string& out_path) {
  CVQ_RETURN_IF_ERROR(ValidateOptions(options.train));
  if (options.max_samples < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("train values: max samples is ", options.max_samples,
                     ": expected >= 0 (0 = all tokens)"));
  }
  CVQ_ASSIGN_OR_RETURN(const SafetensorsFile dump,
                       SafetensorsFile::Open(dump_path));
  CVQ_ASSIGN_OR_RETURN(const KvDumpInfo info,
                       ReadKvDumpInfo(dump, dump_path, kWho));
  const int64_t num_layers = info.num_layers;
  const int64_t num_kv_heads = info.num_kv_heads;
  const int64_t head_dim = info.head_dim;
  CVQ_ASSIGN_OR_RETURN(const std::vector<int> layers,
                       DumpLayers(options.layers, num_layers, kWho));

  // An existing file is read (and checked) before the slow training.
  std::optional<CodebookFile> existing;
  if (FILE* f = std::fopen(out_path.c_str(), "rb")) {
    std::fclose(f);
    CVQ_ASSIGN_OR_RETURN(existing, CodebookFile::Open(out_path));
    const ModelShape& m = existing->model();
    if (m.num_layers != num_layers || m.num_kv_heads != num_kv_heads ||
        m.head_dim != head_dim) {
      return absl::InvalidArgumentError(absl::StrCat(
          "train values: ", out_path, " is for ", m.num_layers, " layers of ",
          m.num_kv_heads, " KV heads x ", m.head_dim, ": the dump ", dump_path,
          " has ", num_layers, " x ", num_kv_heads, " x ", head_dim));
    }
  }

  const int64_t dim = num_kv_heads * head_dim;
  const bool attend = options.train.encoder == "mlp" &&
                      options.train.mlp.attention_weight > 0.0;
  std::optional<Rope> rope;
  if (attend) {
    if (options.attention_blocks < 1 || options.attention_window < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("train values: ", options.attention_blocks,
                       " attention blocks of window ", options.attention_window,
                       ": expected >= 1 of each"));
    }
    CVQ_ASSIGN_OR_RETURN(rope, DumpRope(info, dump_path));
  }
  std::vector<std::unique_ptr<Quantizer>> trained;
  int64_t num_samples = 0;
  for (size_t l = 0; l < layers.size(); ++l) {
    CVQ_ASSIGN_OR_RETURN(
        const DumpSamples values,
        ReadDumpSamples(dump, dump_path, layers[l], "values", num_kv_heads,
                        head_dim, options.max_samples, kWho));
    num_samples = values.n;
    TrainValuesOptions train = options.train;
    std::optional<ValueAttentionData> attention;
    if (attend) {
      CVQ_ASSIGN_OR_RETURN(attention,
                           ReadAttentionBlocks(dump, dump_path, layers[l], info,
                                               *rope, options));
      train.attention = &*attention;
    }
    train.progress = [&](double f) {
      if (options.progress) {
        options.progress((static_cast<double>(l) + f) /
                         static_cast<double>(layers.size()));
      }
    };
    absl::StatusOr<std::unique_ptr<Quantizer>> q = TrainCommvqValueLayer(
        values.rows.data(), values.n, dim, num_kv_heads, train);
    if (!q.ok()) {
      return absl::Status(
          q.status().code(),
          absl::StrCat("layer ", layers[l], ": ", q.status().message()));
    }
    trained.push_back(*std::move(q));
  }

  CodebookFileContents contents;
  std::vector<std::string> new_names;
  for (int layer : layers)
    new_names.push_back(absl::StrCat("layer.", layer, ".value"));
  std::vector<std::unique_ptr<Quantizer>> kept;
  if (existing) {
    contents.model = existing->model();
    contents.provenance = existing->provenance();
    std::vector<std::string> quantizer_tensors;
    for (const QuantizerInfo& q : existing->quantizers()) {
      quantizer_tensors.push_back(q.serialized_tensor);
      if (std::find(new_names.begin(), new_names.end(), q.name) !=
          new_names.end()) {
        continue;
      }
      CVQ_ASSIGN_OR_RETURN(std::unique_ptr<Quantizer> loaded,
                           existing->LoadQuantizer(q.name));
      contents.quantizers.push_back({q.name, q.layer, q.role, loaded.get()});
      kept.push_back(std::move(loaded));
    }
    for (const TensorInfo& t : existing->tensors()) {
      if (std::find(quantizer_tensors.begin(), quantizer_tensors.end(),
                    t.name) != quantizer_tensors.end()) {
        continue;
      }
      CVQ_ASSIGN_OR_RETURN(const TensorView view, existing->Tensor(t.name));
      contents.tensors.push_back({t.name, view});
    }
  } else {
    contents.model.model_name = DumpMeta(dump, "model");
    contents.model.num_layers = static_cast<int32_t>(num_layers);
    contents.model.num_heads = static_cast<int32_t>(info.num_heads);
    contents.model.num_kv_heads = static_cast<int32_t>(num_kv_heads);
    contents.model.head_dim = static_cast<int32_t>(head_dim);
    contents.model.rope_theta = info.rope_theta;
    contents.model.pair_layout = info.pair_layout;
    contents.provenance.trainer = std::string(kTrainer);
    contents.provenance.seed = options.train.seed;
    contents.provenance.num_samples = num_samples;
    contents.provenance.calibration_data =
        absl::StrCat("text_crc32c=", DumpMeta(dump, "text_crc32c"));
  }
  auto& extra = contents.provenance.extra;
  extra["value_trainer"] = std::string(kTrainer);
  extra["value_bits"] = absl::StrCat(options.train.bits);
  extra["value_encoder"] = options.train.encoder;
  extra["value_iterations"] = absl::StrCat(options.train.iterations);
  if (attend) {
    extra["value_attention_loss"] =
        absl::StrCat("weight=", options.train.mlp.attention_weight,
                     ",blocks=", options.attention_blocks,
                     ",window=", options.attention_window);
  }
  extra["value_seed"] = absl::StrCat(options.train.seed);
  extra["value_num_samples"] = absl::StrCat(num_samples);
  extra["value_calibration_data"] =
      absl::StrCat("text_crc32c=", DumpMeta(dump, "text_crc32c"));
  for (size_t l = 0; l < layers.size(); ++l) {
    contents.quantizers.push_back(
        {new_names[l], layers[l], CacheRole::kValue, trained[l].get()});
  }
  return WriteCodebookFile(out_path, contents);
}

}  // namespace commvq
