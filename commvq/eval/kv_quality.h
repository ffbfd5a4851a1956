// Quality of a key and a value quantizer on a real model's KV cache, layer by
// layer, measured from two KV dumps (kv_dump.h): quantizers are trained on
// the calibration dump and scored on the evaluation dump, so the numbers are
// held-out errors.
//
// For each selected layer:
//   - the key quantizer is trained on the calibration keys as vectors of
//     num_kv_heads * head_dim elements, one per token (every KV head of the
//     token concatenated, the CommVQ convention), and the value quantizer
//     likewise on the values;
//   - the evaluation keys and values are encoded and decoded, and the
//     element-wise error reported (MeasureReconstruction, pre-RoPE);
//   - attention is measured for every query head h (with grouped-query
//     attention it reads KV head h / (num_heads / num_kv_heads)) at
//     `attention_queries` positions spread over the second half of the
//     evaluation tokens: query and keys get RoPE at their positions (the
//     decoded keys after decoding, as a cache that stores pre-RoPE codes
//     does), and each query attends causally to the original and to the
//     decoded keys and values (MeasureAttention).
//
// Thread safety: MeasureKvQuality may be called concurrently; the dumps are
// only read.
#ifndef COMMVQ_EVAL_KV_QUALITY_H_
#define COMMVQ_EVAL_KV_QUALITY_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "commvq/io/codebook_file.h"
#include "commvq/io/safetensors.h"

namespace commvq {

class ThreadPool;

struct KvQualityOptions {
  // Registry specs (registry.h) of the key and of the value quantizer.
  std::string key_spec = "fp16";
  // When set (not owned), each layer's key quantizer is not trained from
  // key_spec but loaded from this codebook file's quantizer "layer.<i>.key"
  // (e.g. written by `commvq train-keys`).
  const CodebookFile* key_codebooks = nullptr;
  std::string value_spec = "fp16";
  // Likewise for values: quantizer "layer.<i>.value" of this codebook file
  // (e.g. written by `commvq train-values`) instead of value_spec.
  const CodebookFile* value_codebooks = nullptr;
  // Layers to measure, in this order; empty means every layer. Each must be
  // in [0, num_layers) and appear once.
  std::vector<int> layers;
  // Training uses the first min(max_train_tokens, tokens) calibration tokens
  // and scoring the first min(max_eval_tokens, tokens) evaluation tokens;
  // 0 means all. Scoring then drops the last tokens that do not fill a
  // whole block of both quantizers (CodeLayout::block_vectors).
  int64_t max_train_tokens = 0;
  int64_t max_eval_tokens = 0;
  // Query positions per head (>= 1), spread evenly over the second half of
  // the scored tokens (the first at tokens / 2, the last at tokens - 1);
  // fewer when the second half has fewer tokens.
  int attention_queries = 64;
  // Seed of every quantizer's training.
  uint64_t seed = 0;
  // Not owned; null runs on the calling thread. The results do not depend
  // on it.
  ThreadPool* pool = nullptr;
  // Called with the completed fraction in [0, 1]; may be empty.
  std::function<void(double)> progress;
};

// The measurements of one layer.
struct LayerQuality {
  int layer = 0;
  // Canonical specs of the trained quantizers.
  std::string key_spec;
  std::string value_spec;
  // CodeLayout::BitsPerElement of each quantizer.
  double key_bits_per_element = 0.0;
  double value_bits_per_element = 0.0;
  // (key StoredBytes + value StoredBytes) / tokens over the scored tokens:
  // what one token of this layer costs in the cache (fp16 costs
  // 4 * num_kv_heads * head_dim).
  double bytes_per_token = 0.0;
  // ReconstructionError::relative_mse of the scored keys and values
  // ([tokens, num_kv_heads * head_dim], pre-RoPE).
  double key_relative_mse = 0.0;
  double value_relative_mse = 0.0;
  // Mean over query heads and query positions of KL(p || p') in nats, with
  // p, p' the attention weights over the original and the decoded keys.
  double attention_kl = 0.0;
  // Mean over query heads of sum_q ||o - o'||^2 / sum_q ||o||^2, with o, o'
  // the attention outputs from the original and the decoded keys and values.
  double attention_output_relative_error = 0.0;
  // Tokens trained on, tokens scored, and query positions per head.
  int64_t train_tokens = 0;
  int64_t eval_tokens = 0;
  int64_t attention_queries = 0;
};

// Trains and scores `options.key_spec` / `options.value_spec` on every
// selected layer of two dumps in the kv_dump.h format; results are in the
// order of options.layers. Errors:
//   - InvalidArgument naming the file ("calibration dump" / "evaluation
//     dump"), key and value for missing or malformed metadata (format,
//     num_layers, num_heads, num_kv_heads, head_dim, rope_theta,
//     pair_layout; checked by ReadKvDumpInfo, kv_dump_info.h), or naming
//     both values where the dumps' model shapes differ;
//   - NotFound naming the tensor for a missing layers.<i>.* tensor, and
//     InvalidArgument naming it for a dtype other than F16 or a shape other
//     than the metadata says;
//   - InvalidArgument for bad options (naming the option and value), and the
//     registry's errors for a bad spec, prefixed with "key_spec" /
//     "value_spec" and the layer.
absl::StatusOr<std::vector<LayerQuality>> MeasureKvQuality(
    const SafetensorsFile& calibration_dump,
    const SafetensorsFile& evaluation_dump, const KvQualityOptions& options);

// An aligned text table, one row per layer plus a "mean" row when there is
// more than one, each line ending in '\n'.
std::string FormatKvQualityTable(const std::vector<LayerQuality>& results);

// A JSON object {"layers": [{...}, ...]} holding every field of every
// result (non-finite numbers as null), ending in '\n'.
std::string KvQualityJson(const std::vector<LayerQuality>& results);

}  // namespace commvq

#endif  // COMMVQ_EVAL_KV_QUALITY_H_
