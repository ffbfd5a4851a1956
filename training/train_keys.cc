#include "training/train_keys.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <system_error>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "commvq/base/float16.h"
#include "commvq/base/random.h"
#include "commvq/base/status_macros.h"
#include "commvq/base/thread_pool.h"
#include "commvq/io/codebook_file.h"
#include "commvq/io/safetensors.h"
#include "commvq/quantizer/commvq_key/commvq_key_quantizer.h"
#include "commvq/quantizer/commvq_key/key_codebook.h"
#include "commvq/quantizer/commvq_key/structured_encode.h"
#include "commvq/quantizer/vector_norm.h"
#include "training/key_checkpoint.h"

namespace commvq {
namespace {

// The commvq_key `stages` option's maximum.
constexpr int kMaxStages = 64;

absl::Status ValidateOptions(const TrainKeysOptions& options) {
  if (options.num_kv_heads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("train keys: num_kv_heads is ", options.num_kv_heads,
                     ": expected >= 1"));
  }
  if (options.head_dim < 2 || options.head_dim % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("train keys: head_dim is ", options.head_dim,
                     ": expected an even number >= 2"));
  }
  if (options.layout != PairLayout::kHalf &&
      options.layout != PairLayout::kInterleaved) {
    return absl::InvalidArgumentError(absl::StrCat(
        "train keys: pair layout is ", PairLayoutName(options.layout),
        ": expected half or interleaved"));
  }
  if (options.half_bits < 1 || options.half_bits > kMaxKeyHalfBits) {
    return absl::InvalidArgumentError(
        absl::StrCat("train keys: half_bits is ", options.half_bits,
                     ": expected 1 to ", kMaxKeyHalfBits));
  }
  if (options.stages < 0 || options.stages > kMaxStages) {
    return absl::InvalidArgumentError(
        absl::StrCat("train keys: stages is ", options.stages,
                     ": expected 0 (automatic) to ", kMaxStages));
  }
  return absl::OkStatus();
}

int ResolvedStages(const TrainKeysOptions& options) {
  if (options.stages != 0) return options.stages;
  return std::clamp<int>(
      static_cast<int>(std::llround(static_cast<double>(options.head_dim) /
                                    (2.0 * options.half_bits))),
      1, kMaxStages);
}

absl::StatusOr<int64_t> MetaInt(const SafetensorsFile& dump,
                                const std::string& path,
                                const std::string& key) {
  const auto it = dump.metadata().find(key);
  int64_t value = 0;
  if (it == dump.metadata().end() || !absl::SimpleAtoi(it->second, &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("train keys: KV dump ", path, ": metadata '", key,
                     "' is missing or not an integer"));
  }
  return value;
}

std::string MetaString(const SafetensorsFile& dump, const std::string& key) {
  const auto it = dump.metadata().find(key);
  return it == dump.metadata().end() ? std::string() : it->second;
}

// [rows, cols] f32 of a f16 / bf16 / f32 tensor's rows `rows` (indices).
absl::StatusOr<std::vector<float>> ReadRows(const SafetensorsTensor& tensor,
                                            const std::vector<int64_t>& rows,
                                            int64_t cols) {
  std::vector<float> out(rows.size() * cols);
  const size_t element = tensor.dtype == DType::kF32 ? 4 : 2;
  std::vector<uint16_t> halves(cols);
  for (size_t r = 0; r < rows.size(); ++r) {
    const char* src = tensor.data.data() + rows[r] * cols * element;
    float* dst = &out[r * cols];
    switch (tensor.dtype) {
      case DType::kF32:
        std::memcpy(dst, src, cols * sizeof(float));
        break;
      case DType::kF16:
        std::memcpy(halves.data(), src, cols * 2);
        HalvesToFloats(halves, absl::MakeSpan(dst, cols));
        break;
      case DType::kBF16:
        std::memcpy(halves.data(), src, cols * 2);
        Bfloat16sToFloats(halves, absl::MakeSpan(dst, cols));
        break;
      default:
        return absl::InvalidArgumentError(absl::StrCat(
            "train keys: tensor ", tensor.name, " is not f16, bf16 or f32"));
    }
  }
  return out;
}

}  // namespace

double KeyStageTemperatureScale(int stage) {
  // Official loop: after stage i, `if i % 4 == 0: T_scale /= 10`. Before
  // stage s the divisions happened after stages 0, 4, ... < s: ceil(s / 4).
  const int divisions = stage <= 0 ? 0 : (stage + 3) / 4;
  return std::pow(10.0, -divisions);
}

int KeyStagesForBits(int bits, int64_t head_dim, int half_bits) {
  return std::max<int>(
      1, static_cast<int>(std::llround(static_cast<double>(bits) * head_dim /
                                       (2.0 * half_bits))));
}

std::string CommvqKeySpec(const TrainKeysOptions& options, int stages) {
  return absl::StrCat(
      "commvq_key:num_kv_heads=", options.num_kv_heads,
      ",layout=", options.layout == PairLayout::kHalf ? "half" : "interleaved",
      ",half_bits=", options.half_bits, ",stages=", stages);
}

absl::StatusOr<std::unique_ptr<Quantizer>> TrainCommvqKeyLayer(
    const float* keys, int64_t n, const TrainKeysOptions& options) {
  CVQ_RETURN_IF_ERROR(ValidateOptions(options));
  const int64_t heads = options.num_kv_heads;
  const int64_t head_dim = options.head_dim;
  const int64_t dim = heads * head_dim;
  const int64_t pairs = head_dim / 2;
  const int stages = ResolvedStages(options);
  CVQ_RETURN_IF_ERROR(CheckFinite(keys, std::max<int64_t>(n, 0), dim, "keys"));

  // Unit keys (whole-key norm, rounded to fp16 as the quantizer encodes);
  // zero-norm tokens encode to zero codes and are left out.
  std::vector<float> units;
  units.reserve(std::max<int64_t>(n, 0) * dim);
  std::vector<float> unit(dim);
  for (int64_t i = 0; i < n; ++i) {
    CVQ_ASSIGN_OR_RETURN(
        const uint16_t norm,
        NormalizeToUnit(keys + i * dim, dim, unit.data(), "train keys",
                        absl::StrCat("key ", i)));
    if (HalfBitsToFloat(norm) == 0.0f) continue;
    units.insert(units.end(), unit.begin(), unit.end());
  }
  const int64_t rows = static_cast<int64_t>(units.size()) / dim;
  const int64_t values = int64_t{1} << options.half_bits;
  if (rows < values) {
    return absl::InvalidArgumentError(absl::StrCat(
        "train keys: ", rows,
        " non-zero keys: expected at least 2^half_bits = ", values));
  }

  KeyQuantizerParams params;
  params.num_kv_heads = heads;
  params.stages = stages;
  params.shape.head_dim = head_dim;
  params.shape.half_bits = options.half_bits;
  params.shape.layout = options.layout;
  params.codebooks.reserve(heads * stages);

  if (static_cast<int64_t>(options.resume.size()) > heads * stages) {
    return absl::InvalidArgumentError(absl::StrCat(
        "train keys: ", options.resume.size(),
        " codebooks to resume from: expected at most ", heads * stages));
  }
  for (const KeyCodebook& codebook : options.resume) {
    const KeyCodebookShape& shape = codebook.shape();
    if (shape.head_dim != head_dim || shape.half_bits != options.half_bits ||
        shape.layout != options.layout) {
      return absl::InvalidArgumentError(absl::StrCat(
          "train keys: a codebook to resume from has head_dim ", shape.head_dim,
          ", half_bits ", shape.half_bits, ", layout ",
          PairLayoutName(shape.layout), ": expected ", head_dim, ", ",
          options.half_bits, ", ", PairLayoutName(options.layout)));
    }
  }

  const auto report_progress = [&] {
    if (options.progress) {
      options.progress(static_cast<double>(params.codebooks.size()) /
                       static_cast<double>(heads * stages));
    }
  };
  const Rng root(options.seed);
  std::vector<float> residual(rows * head_dim);
  std::vector<float> gathered(rows * pairs * 2);
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < rows; ++i) {
      std::memcpy(&residual[i * head_dim], &units[i * dim + h * head_dim],
                  head_dim * sizeof(float));
    }
    for (int s = 0; s < stages; ++s) {
      const size_t index = params.codebooks.size();
      if (index < options.resume.size()) {
        // Trained before: only its residuals are needed, recomputed as the
        // first run computed them.
        SubtractNearestCentres(options.resume[index], residual.data(), rows,
                               options.pool);
        params.codebooks.push_back(options.resume[index]);
        report_progress();
        continue;
      }
      for (int64_t i = 0; i < rows; ++i) {
        const float* row = &residual[i * head_dim];
        float* out = &gathered[i * pairs * 2];
        for (int64_t j = 0; j < pairs; ++j) {
          out[2 * j] = row[PairFirstChannel(options.layout, head_dim, j)];
          out[2 * j + 1] = row[PairSecondChannel(options.layout, head_dim, j)];
        }
      }
      KeyEmOptions em = options.em;
      em.half_bits = options.half_bits;
      em.temperature_scale = KeyStageTemperatureScale(s);
      em.seed = root.Fork(static_cast<uint64_t>(h * stages + s)).NextU64();
      em.pool = options.pool;
      absl::StatusOr<KeyEmResult> result =
          TrainKeyStage(gathered, rows, static_cast<int>(pairs), em);
      if (!result.ok()) {
        return absl::Status(result.status().code(),
                            absl::StrCat("train keys: head ", h, ", stage ", s,
                                         ": ", result.status().message()));
      }
      CVQ_ASSIGN_OR_RETURN(
          KeyCodebook codebook,
          KeyCodebook::Create(params.shape, std::move(result->z)));
      // Subtract with the quantizer's own encoder, so later stages train
      // on exactly the residuals encoding will leave.
      SubtractNearestCentres(codebook, residual.data(), rows, options.pool);
      params.codebooks.push_back(std::move(codebook));
      if (options.on_stage) {
        CVQ_RETURN_IF_ERROR(options.on_stage(params.codebooks));
      }
      report_progress();
    }
  }
  return MakeCommvqKeyQuantizer(CommvqKeySpec(options, stages), dim,
                                std::move(params));
}

absl::Status TrainKeysFromDump(const std::string& dump_path,
                               const TrainKeysFileOptions& options,
                               const std::string& out_path) {
  if (options.stages == 0 && options.bits != 1 && options.bits != 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "train keys: bits is ", options.bits, ": expected 1 or 2"));
  }
  if (options.max_samples < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("train keys: max samples is ", options.max_samples,
                     ": expected >= 0 (0 = all tokens)"));
  }
  CVQ_ASSIGN_OR_RETURN(const SafetensorsFile dump,
                       SafetensorsFile::Open(dump_path));
  const std::string format = MetaString(dump, "format");
  if (format != "commvq-kv-dump-1") {
    return absl::InvalidArgumentError(
        absl::StrCat("train keys: ", dump_path, " has format '", format,
                     "': expected a KV dump (commvq-kv-dump-1)"));
  }
  CVQ_ASSIGN_OR_RETURN(const int64_t num_layers,
                       MetaInt(dump, dump_path, "num_layers"));
  CVQ_ASSIGN_OR_RETURN(const int64_t num_heads,
                       MetaInt(dump, dump_path, "num_heads"));
  CVQ_ASSIGN_OR_RETURN(const int64_t num_kv_heads,
                       MetaInt(dump, dump_path, "num_kv_heads"));
  CVQ_ASSIGN_OR_RETURN(const int64_t head_dim,
                       MetaInt(dump, dump_path, "head_dim"));
  const std::string layout_name = MetaString(dump, "pair_layout");
  PairLayout layout;
  if (layout_name == "half") {
    layout = PairLayout::kHalf;
  } else if (layout_name == "interleaved") {
    layout = PairLayout::kInterleaved;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("train keys: KV dump ", dump_path, ": pair_layout '",
                     layout_name, "': expected half or interleaved"));
  }
  double rope_theta = 0.0;
  if (!absl::SimpleAtod(MetaString(dump, "rope_theta"), &rope_theta)) {
    return absl::InvalidArgumentError(
        absl::StrCat("train keys: KV dump ", dump_path,
                     ": metadata 'rope_theta' is missing or not a number"));
  }

  if (!options.checkpoint_dir.empty()) {
    std::error_code error;
    std::filesystem::create_directories(options.checkpoint_dir, error);
    if (error) {
      return absl::InvalidArgumentError(
          absl::StrCat("train keys: cannot create the checkpoint folder ",
                       options.checkpoint_dir, ": ", error.message()));
    }
  }

  std::vector<int> layers = options.layers;
  if (layers.empty()) {
    for (int i = 0; i < num_layers; ++i) layers.push_back(i);
  }
  for (int layer : layers) {
    if (layer < 0 || layer >= num_layers) {
      return absl::InvalidArgumentError(
          absl::StrCat("train keys: layer ", layer,
                       " is not in the dump's [0, ", num_layers, ")"));
    }
  }

  TrainKeysOptions train;
  train.num_kv_heads = num_kv_heads;
  train.head_dim = head_dim;
  train.layout = layout;
  train.half_bits = options.half_bits;
  train.stages = options.stages > 0 ? options.stages
                                    : KeyStagesForBits(options.bits, head_dim,
                                                       options.half_bits);
  train.em.iterations = options.iterations;
  train.seed = options.seed;
  train.pool = options.pool;

  const int64_t dim = num_kv_heads * head_dim;
  std::vector<std::unique_ptr<Quantizer>> quantizers;
  int64_t num_samples = 0;
  for (size_t l = 0; l < layers.size(); ++l) {
    const int layer = layers[l];
    const std::string name = absl::StrCat("layers.", layer, ".keys");
    CVQ_ASSIGN_OR_RETURN(const SafetensorsTensor* tensor, dump.Find(name));
    if (tensor->shape.size() != 3 || tensor->shape[1] != num_kv_heads ||
        tensor->shape[2] != head_dim || tensor->shape[0] < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("train keys: KV dump ", dump_path, ": ", name,
                       " is not [tokens, ", num_kv_heads, ", ", head_dim, "]"));
    }
    const int64_t tokens = tensor->shape[0];
    const int64_t n = options.max_samples > 0
                          ? std::min(options.max_samples, tokens)
                          : tokens;
    std::vector<int64_t> rows(n);
    for (int64_t i = 0; i < n; ++i) rows[i] = i * tokens / n;
    CVQ_ASSIGN_OR_RETURN(const std::vector<float> keys,
                         ReadRows(*tensor, rows, dim));
    num_samples = n;
    train.resume.clear();
    train.on_stage = nullptr;
    if (!options.checkpoint_dir.empty()) {
      const std::string path = KeyCheckpointPath(options.checkpoint_dir, layer);
      // Everything that determines the layer's codebooks.
      const std::string fingerprint = absl::StrCat(
          "text_crc32c=", MetaString(dump, "text_crc32c"), ",tokens=", tokens,
          ",layer=", layer, ",samples=", n, ",kv_heads=", num_kv_heads,
          ",head_dim=", head_dim, ",layout=", layout_name,
          ",half_bits=", train.half_bits, ",stages=", train.stages,
          ",iters=", train.em.iterations, ",seed=", train.seed);
      const KeyCodebookShape shape{head_dim, train.half_bits, layout};
      absl::StatusOr<std::vector<KeyCodebook>> saved =
          ReadKeyCheckpoint(path, fingerprint, shape);
      if (saved.ok()) {
        train.resume = *std::move(saved);
      } else if (!absl::IsNotFound(saved.status())) {
        return saved.status();
      }
      train.on_stage = [path,
                        fingerprint](absl::Span<const KeyCodebook> codebooks) {
        return WriteKeyCheckpoint(path, fingerprint, codebooks);
      };
    }
    // Layers share the seed (each layer's codebooks are independent).
    train.progress = [&](double fraction) {
      if (options.progress) {
        options.progress((static_cast<double>(l) + fraction) /
                         static_cast<double>(layers.size()));
      }
    };
    absl::StatusOr<std::unique_ptr<Quantizer>> q =
        TrainCommvqKeyLayer(keys.data(), n, train);
    if (!q.ok()) {
      return absl::Status(
          q.status().code(),
          absl::StrCat("layer ", layer, ": ", q.status().message()));
    }
    quantizers.push_back(*std::move(q));
  }

  CodebookFileContents contents;
  contents.model.model_name = MetaString(dump, "model");
  contents.model.num_layers = static_cast<int32_t>(num_layers);
  contents.model.num_heads = static_cast<int32_t>(num_heads);
  contents.model.num_kv_heads = static_cast<int32_t>(num_kv_heads);
  contents.model.head_dim = static_cast<int32_t>(head_dim);
  contents.model.rope_theta = rope_theta;
  contents.model.pair_layout = layout;
  contents.provenance.trainer = "commvq train-keys";
  contents.provenance.seed = options.seed;
  contents.provenance.num_samples = num_samples;
  contents.provenance.calibration_data =
      absl::StrCat("text_crc32c=", MetaString(dump, "text_crc32c"));
  contents.provenance.extra = {
      {"bits", absl::StrCat(options.bits)},
      {"stages", absl::StrCat(train.stages)},
      {"half_bits", absl::StrCat(options.half_bits)},
      {"em_iterations", absl::StrCat(options.iterations)},
      {"dump_tokens", MetaString(dump, "tokens")},
      {"text_bytes", MetaString(dump, "text_bytes")},
  };
  for (size_t l = 0; l < layers.size(); ++l) {
    contents.quantizers.push_back({absl::StrCat("layer.", layers[l], ".key"),
                                   layers[l], CacheRole::kKey,
                                   quantizers[l].get()});
  }
  return WriteCodebookFile(out_path, contents);
}

}  // namespace commvq
