#include "commvq/cli/demo.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "commvq/base/status_macros.h"
#include "commvq/cli/synthetic_kv.h"
#include "commvq/cli/text_table.h"
#include "commvq/quantizer/quantizer.h"
#include "commvq/tensor/tensor_view.h"

namespace commvq {
namespace cli {
namespace {

// Keys, values and their reconstructions are all held at once: cap each
// tensor at 2^27 f32 elements (512 MiB).
constexpr int64_t kMaxElements = int64_t{1} << 27;

// The share of one spec's progress that training keys (and again training
// values) stands for; encoding and decoding take the rest.
constexpr double kTrainShare = 0.4;

absl::Status WithSpec(const absl::Status& status, absl::string_view spec) {
  return absl::Status(status.code(),
                      absl::StrCat("spec '", spec, "': ", status.message()));
}

absl::Status CheckOptions(const DemoOptions& options) {
  if (options.specs.empty()) {
    return absl::InvalidArgumentError("no quantizer specs to run");
  }
  if (options.tokens < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokens is ", options.tokens,
                     ": expected at least 2 (half train, half encode)"));
  }
  if (options.num_kv_heads < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "num_kv_heads is ", options.num_kv_heads, ": expected at least 1"));
  }
  if (options.head_dim < kOutlierChannelsPerHead) {
    return absl::InvalidArgumentError(
        absl::StrCat("head_dim is ", options.head_dim, ": expected at least ",
                     kOutlierChannelsPerHead, " (the key outlier channels)"));
  }
  // Checked by division so the product cannot overflow.
  if (options.num_kv_heads > kMaxElements / options.head_dim ||
      options.tokens >
          kMaxElements / (options.num_kv_heads * options.head_dim)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokens * num_kv_heads * head_dim = ", options.tokens,
                     " * ", options.num_kv_heads, " * ", options.head_dim,
                     ": expected at most ", kMaxElements, " elements"));
  }
  return absl::OkStatus();
}

double RelativeMse(absl::Span<const float> x, absl::Span<const float> x_hat) {
  double error = 0.0, energy = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double diff = static_cast<double>(x[i]) - x_hat[i];
    error += diff * diff;
    energy += static_cast<double>(x[i]) * x[i];
  }
  return energy > 0.0 ? error / energy : 0.0;
}

// One trained quantizer, the held-out data it encodes and room for the
// codes.
struct Trial {
  std::unique_ptr<Quantizer> quantizer;
  TensorView input;  // [n, dim] f32, n a multiple of the block size
  std::vector<uint8_t> codes;
  std::vector<uint8_t> side;
};

MutableTensorView CodesView(Trial& trial) {
  return MutableTensorView(
      trial.codes.data(), DType::kU8,
      {trial.input.dim(0), trial.quantizer->layout().code_bytes});
}

MutableTensorView SideView(Trial& trial) {
  const CodeLayout& layout = trial.quantizer->layout();
  return MutableTensorView(
      trial.side.data(), DType::kU8,
      {trial.input.dim(0) / layout.block_vectors, layout.side_bytes});
}

absl::StatusOr<Trial> TrainTrial(absl::string_view spec,
                                 const QuantizerRegistry& registry,
                                 const std::vector<float>& data, int64_t tokens,
                                 int64_t dim, const TrainOptions& train) {
  const int64_t train_tokens = tokens / 2;
  const TensorView samples(data.data(), DType::kF32, {train_tokens, dim});
  Trial trial;
  CVQ_ASSIGN_OR_RETURN(trial.quantizer, registry.Train(spec, samples, train));
  const CodeLayout& layout = trial.quantizer->layout();
  const int64_t held_out = tokens - train_tokens;
  const int64_t n = held_out / layout.block_vectors * layout.block_vectors;
  if (n == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "encodes blocks of ", layout.block_vectors, " tokens, more than the ",
        held_out, " held-out tokens; use more tokens"));
  }
  trial.input =
      TensorView(data.data() + train_tokens * dim, DType::kF32, {n, dim});
  trial.codes.resize(n * layout.code_bytes);
  trial.side.resize(n / layout.block_vectors * layout.side_bytes);
  return trial;
}

absl::StatusOr<double> DecodeRelativeMse(Trial& trial, ThreadPool* pool) {
  std::vector<float> decoded(trial.input.num_elements());
  CVQ_RETURN_IF_ERROR(trial.quantizer->Decode(
      CodesView(trial), SideView(trial),
      MutableTensorView(decoded.data(), DType::kF32, trial.input.shape()),
      pool));
  return RelativeMse(trial.input.span<float>(), decoded);
}

absl::StatusOr<DemoRow> RunSpec(const std::string& spec,
                                const DemoOptions& options,
                                const SyntheticKv& kv,
                                const QuantizerRegistry& registry,
                                ThreadPool* pool,
                                const std::function<void(double)>& progress) {
  auto train_options = [&](double offset) {
    TrainOptions train{options.seed, pool, {}};
    if (progress) {
      train.progress = [&progress, offset](double fraction) {
        progress(offset + kTrainShare * fraction);
      };
    }
    return train;
  };
  CVQ_ASSIGN_OR_RETURN(Trial keys,
                       TrainTrial(spec, registry, kv.keys, kv.tokens, kv.dim,
                                  train_options(0.0)));
  CVQ_ASSIGN_OR_RETURN(Trial values,
                       TrainTrial(spec, registry, kv.values, kv.tokens, kv.dim,
                                  train_options(kTrainShare)));

  // Encode both tensors at least once, and repeat until the timing is
  // long enough to trust.
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  double elapsed = 0.0;
  int64_t encoded_bytes = 0;
  do {
    for (Trial* trial : {&keys, &values}) {
      CVQ_RETURN_IF_ERROR(trial->quantizer->Encode(
          trial->input, CodesView(*trial), SideView(*trial), pool));
      encoded_bytes += trial->input.size_bytes();
    }
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  } while (elapsed < options.min_timing_seconds);

  DemoRow row;
  row.spec = spec;
  CVQ_ASSIGN_OR_RETURN(row.key_relative_mse, DecodeRelativeMse(keys, pool));
  CVQ_ASSIGN_OR_RETURN(row.value_relative_mse, DecodeRelativeMse(values, pool));
  // Keys and values may round the held-out tokens to different block
  // sizes, so both are normalized per token before adding.
  const Quantizer& kq = *keys.quantizer;
  const Quantizer& vq = *values.quantizer;
  const int64_t kn = keys.input.dim(0), vn = values.input.dim(0);
  row.bytes_per_token = static_cast<double>(kq.StoredBytes(kn)) / kn +
                        static_cast<double>(vq.StoredBytes(vn)) / vn;
  // The two quantizers share a spec and a dim, so normally a layout; the
  // mean stays right for a plugin whose key and value layouts differ.
  row.bits_per_element =
      (kq.layout().BitsPerElement() + vq.layout().BitsPerElement()) / 2.0;
  row.encode_mb_per_second =
      elapsed > 0.0 ? encoded_bytes / elapsed / 1e6 : 0.0;
  return row;
}

}  // namespace

std::vector<std::string> DefaultDemoSpecs() {
  return {"fp16",       "bf16",       "int:bits=8",
          "int:bits=4", "int:bits=2", "int:bits=1"};
}

absl::StatusOr<std::vector<DemoRow>> RunDemo(
    const DemoOptions& options, const QuantizerRegistry& registry,
    ThreadPool* pool, const std::function<void(double)>& progress) {
  CVQ_RETURN_IF_ERROR(CheckOptions(options));
  const SyntheticKv kv = GenerateSyntheticKv(
      {options.tokens, options.num_kv_heads, options.head_dim, options.seed});
  std::vector<DemoRow> rows;
  for (size_t i = 0; i < options.specs.size(); ++i) {
    std::function<void(double)> spec_progress;
    if (progress) {
      spec_progress = [&progress, i](double done) { progress(i + done); };
    }
    auto row =
        RunSpec(options.specs[i], options, kv, registry, pool, spec_progress);
    if (!row.ok()) return WithSpec(row.status(), options.specs[i]);
    rows.push_back(*std::move(row));
    if (progress) progress(static_cast<double>(i + 1));
  }
  return rows;
}

void PrintDemoTable(absl::Span<const DemoRow> rows, std::ostream& out) {
  using Align = TextTable::Align;
  TextTable table({{"spec", Align::kLeft},
                   {"bits/elem", Align::kRight},
                   {"bytes/token", Align::kRight},
                   {"key rel MSE", Align::kRight},
                   {"value rel MSE", Align::kRight},
                   {"encode MB/s", Align::kRight}});
  for (const DemoRow& row : rows) {
    table.AddRow({row.spec, absl::StrFormat("%.2f", row.bits_per_element),
                  absl::StrFormat("%.1f", row.bytes_per_token),
                  absl::StrFormat("%.3e", row.key_relative_mse),
                  absl::StrFormat("%.3e", row.value_relative_mse),
                  absl::StrFormat("%.0f", row.encode_mb_per_second)});
  }
  table.Print(out);
}

}  // namespace cli
}  // namespace commvq
