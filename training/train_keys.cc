#include "training/train_keys.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <system_error>
#include <utility>

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
#include "training/dump_samples.h"
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

constexpr absl::string_view kWho = "train keys";

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
  CVQ_ASSIGN_OR_RETURN(const KvDumpInfo info,
                       ReadKvDumpInfo(dump, dump_path, kWho));
  const int64_t num_layers = info.num_layers;
  const int64_t num_kv_heads = info.num_kv_heads;
  const int64_t head_dim = info.head_dim;
  const PairLayout layout = info.pair_layout;

  if (!options.checkpoint_dir.empty()) {
    std::error_code error;
    std::filesystem::create_directories(options.checkpoint_dir, error);
    if (error) {
      return absl::InvalidArgumentError(
          absl::StrCat("train keys: cannot create the checkpoint folder ",
                       options.checkpoint_dir, ": ", error.message()));
    }
  }

  CVQ_ASSIGN_OR_RETURN(const std::vector<int> layers,
                       DumpLayers(options.layers, num_layers, kWho));

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

  std::vector<std::unique_ptr<Quantizer>> quantizers;
  int64_t num_samples = 0;
  for (size_t l = 0; l < layers.size(); ++l) {
    const int layer = layers[l];
    CVQ_ASSIGN_OR_RETURN(
        const DumpSamples samples,
        ReadDumpSamples(dump, dump_path, layer, "keys", num_kv_heads, head_dim,
                        options.max_samples, kWho));
    const int64_t tokens = samples.tokens;
    const int64_t n = samples.n;
    num_samples = n;
    train.resume.clear();
    train.on_stage = nullptr;
    if (!options.checkpoint_dir.empty()) {
      const std::string path = KeyCheckpointPath(options.checkpoint_dir, layer);
      // Everything that determines the layer's codebooks.
      const std::string fingerprint = absl::StrCat(
          "text_crc32c=", DumpMeta(dump, "text_crc32c"), ",tokens=", tokens,
          ",layer=", layer, ",samples=", n, ",kv_heads=", num_kv_heads,
          ",head_dim=", head_dim, ",layout=", PairLayoutName(layout),
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
        TrainCommvqKeyLayer(samples.rows.data(), n, train);
    if (!q.ok()) {
      return absl::Status(
          q.status().code(),
          absl::StrCat("layer ", layer, ": ", q.status().message()));
    }
    quantizers.push_back(*std::move(q));
  }

  CodebookFileContents contents;
  contents.model.model_name = DumpMeta(dump, "model");
  contents.model.num_layers = static_cast<int32_t>(num_layers);
  contents.model.num_heads = static_cast<int32_t>(info.num_heads);
  contents.model.num_kv_heads = static_cast<int32_t>(num_kv_heads);
  contents.model.head_dim = static_cast<int32_t>(head_dim);
  contents.model.rope_theta = info.rope_theta;
  contents.model.pair_layout = layout;
  contents.provenance.trainer = "commvq train-keys";
  contents.provenance.seed = options.seed;
  contents.provenance.num_samples = num_samples;
  contents.provenance.calibration_data =
      absl::StrCat("text_crc32c=", DumpMeta(dump, "text_crc32c"));
  contents.provenance.extra = {
      {"bits", absl::StrCat(options.bits)},
      {"stages", absl::StrCat(train.stages)},
      {"half_bits", absl::StrCat(options.half_bits)},
      {"em_iterations", absl::StrCat(options.iterations)},
      {"dump_tokens", DumpMeta(dump, "tokens")},
      {"text_bytes", DumpMeta(dump, "text_bytes")},
  };
  for (size_t l = 0; l < layers.size(); ++l) {
    contents.quantizers.push_back({absl::StrCat("layer.", layers[l], ".key"),
                                   layers[l], CacheRole::kKey,
                                   quantizers[l].get()});
  }
  return WriteCodebookFile(out_path, contents);
}

}  // namespace commvq
