#include "commvq/eval/kv_quality.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "commvq/base/float16.h"
#include "commvq/base/pair_layout.h"
#include "commvq/base/status_macros.h"
#include "commvq/base/thread_pool.h"
#include "commvq/eval/exact_attention.h"
#include "commvq/eval/kv_dump_info.h"
#include "commvq/kvcache/rope.h"
#include "commvq/metrics/metrics.h"
#include "commvq/quantizer/quantizer.h"
#include "commvq/registry/registry.h"
#include "commvq/tensor/tensor_view.h"

namespace commvq {
namespace {

absl::Status CheckSameShape(const KvDumpInfo& a, const KvDumpInfo& b) {
  const auto mismatch = [](absl::string_view key, auto x, auto y) {
    return absl::InvalidArgumentError(
        absl::StrCat("the dumps come from different models: ", key, " is ", x,
                     " in the calibration dump but ", y,
                     " in the evaluation dump"));
  };
  if (a.num_layers != b.num_layers) {
    return mismatch("num_layers", a.num_layers, b.num_layers);
  }
  if (a.num_heads != b.num_heads) {
    return mismatch("num_heads", a.num_heads, b.num_heads);
  }
  if (a.num_kv_heads != b.num_kv_heads) {
    return mismatch("num_kv_heads", a.num_kv_heads, b.num_kv_heads);
  }
  if (a.head_dim != b.head_dim) {
    return mismatch("head_dim", a.head_dim, b.head_dim);
  }
  if (a.rope_theta != b.rope_theta) {
    return mismatch("rope_theta", a.rope_theta, b.rope_theta);
  }
  if (a.pair_layout != b.pair_layout) {
    return mismatch("pair_layout", PairLayoutName(a.pair_layout),
                    PairLayoutName(b.pair_layout));
  }
  return absl::OkStatus();
}

// The tensor layers.<layer>.<kind> of a dump, checked to be F16
// [tokens, heads, head_dim]; *tokens is set from the first tensor read
// (when it is -1) and checked against for the others.
absl::StatusOr<const SafetensorsTensor*> FindLayerTensor(
    const SafetensorsFile& file, absl::string_view file_name, int layer,
    absl::string_view kind, int64_t heads, int64_t head_dim, int64_t* tokens) {
  const std::string name = absl::StrCat("layers.", layer, ".", kind);
  absl::StatusOr<const SafetensorsTensor*> found = file.Find(name);
  if (!found.ok()) {
    return absl::Status(found.status().code(),
                        absl::StrCat(file_name, ": ", found.status().message()));
  }
  const SafetensorsTensor& t = **found;
  if (t.dtype != DType::kF16) {
    return absl::InvalidArgumentError(
        absl::StrCat(file_name, ": ", name, " has dtype ", DTypeName(t.dtype),
                     ": expected f16"));
  }
  const bool shape_ok = t.shape.size() == 3 && t.shape[1] == heads &&
                        t.shape[2] == head_dim &&
                        (*tokens < 0 || t.shape[0] == *tokens);
  if (!shape_ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        file_name, ": ", name, " has shape ", ShapeToString(t.shape),
        ": expected [", *tokens < 0 ? "tokens" : absl::StrCat(*tokens), ", ",
        heads, ", ", head_dim, "]"));
  }
  if (t.shape[0] < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(file_name, ": ", name, " holds no tokens"));
  }
  *tokens = t.shape[0];
  return &t;
}

// The first `rows` rows of an F16 tensor as f32 (the data need not be
// aligned).
std::vector<float> ReadRows(const SafetensorsTensor& t, int64_t rows) {
  const int64_t row_elements = t.shape[1] * t.shape[2];
  const size_t count = static_cast<size_t>(rows * row_elements);
  std::vector<uint16_t> halves(count);
  std::memcpy(halves.data(), t.data.data(), count * sizeof(uint16_t));
  std::vector<float> out(count);
  HalvesToFloats(halves, absl::MakeSpan(out));
  return out;
}

// The tensors of one layer of one dump.
struct LayerTensors {
  const SafetensorsTensor* queries = nullptr;
  const SafetensorsTensor* keys = nullptr;
  const SafetensorsTensor* values = nullptr;
  int64_t tokens = -1;
};

absl::StatusOr<LayerTensors> FindLayer(const SafetensorsFile& file,
                                       absl::string_view file_name, int layer,
                                       const KvDumpInfo& shape) {
  LayerTensors out;
  CVQ_ASSIGN_OR_RETURN(out.queries,
                       FindLayerTensor(file, file_name, layer, "queries",
                                       shape.num_heads, shape.head_dim,
                                       &out.tokens));
  CVQ_ASSIGN_OR_RETURN(out.keys, FindLayerTensor(file, file_name, layer, "keys",
                                                 shape.num_kv_heads,
                                                 shape.head_dim, &out.tokens));
  CVQ_ASSIGN_OR_RETURN(out.values,
                       FindLayerTensor(file, file_name, layer, "values",
                                       shape.num_kv_heads, shape.head_dim,
                                       &out.tokens));
  return out;
}

// Decode(Encode(x)) for x: [n, dim] f32.
absl::StatusOr<std::vector<float>> RoundTrip(const Quantizer& quantizer,
                                             const std::vector<float>& x,
                                             int64_t n, int64_t dim,
                                             ThreadPool* pool) {
  const CodeLayout& layout = quantizer.layout();
  const int64_t blocks = n / layout.block_vectors;
  std::vector<uint8_t> codes(static_cast<size_t>(n * layout.code_bytes));
  std::vector<uint8_t> side(static_cast<size_t>(blocks * layout.side_bytes));
  std::vector<float> out(static_cast<size_t>(n * dim));
  CVQ_RETURN_IF_ERROR(quantizer.Encode(
      TensorView(x.data(), DType::kF32, {n, dim}),
      MutableTensorView(codes.data(), DType::kU8, {n, layout.code_bytes}),
      MutableTensorView(side.data(), DType::kU8, {blocks, layout.side_bytes}),
      pool));
  CVQ_RETURN_IF_ERROR(quantizer.Decode(
      TensorView(codes.data(), DType::kU8, {n, layout.code_bytes}),
      TensorView(side.data(), DType::kU8, {blocks, layout.side_bytes}),
      MutableTensorView(out.data(), DType::kF32, {n, dim}), pool));
  return out;
}

// [n, heads, d] -> [heads, n, d].
std::vector<float> HeadMajor(const std::vector<float>& x, int64_t n,
                             int64_t heads, int64_t d) {
  std::vector<float> out(x.size());
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t h = 0; h < heads; ++h) {
      std::memcpy(&out[(h * n + t) * d], &x[(t * heads + h) * d],
                  d * sizeof(float));
    }
  }
  return out;
}

// sum ||o||^2 of one query's attention output o = softmax(scale q K^T) V,
// in double. q: [d]; keys: [n, d]; values: [n, d].
double OutputSquaredNorm(const float* q, const float* keys,
                         const float* values, int64_t n, int64_t d,
                         double scale) {
  std::vector<double> o(d);
  ExactAttention(q, keys, values, n, d, d, scale, nullptr, o.data());
  double norm = 0.0;
  for (double oc : o) norm += oc * oc;
  return norm;
}

struct AttentionSummary {
  double kl = 0.0;
  double output_relative_error = 0.0;
};

// Attention error over all query heads of one layer at `query_positions`.
//   queries:     [n, H, d] pre-RoPE (only the query positions are read).
//   keys, dkeys: [n, KVH, d] pre-RoPE, original and decoded.
//   values, dvalues: [n, KVH, d], original and decoded.
absl::StatusOr<AttentionSummary> MeasureLayerAttention(
    const KvDumpInfo& shape, const Rope& rope, int64_t n,
    const std::vector<float>& queries, std::vector<float> keys,
    std::vector<float> dkeys, const std::vector<float>& values,
    const std::vector<float>& dvalues,
    const std::vector<int64_t>& query_positions, ThreadPool* pool) {
  const int64_t heads = shape.num_heads;
  const int64_t kv_heads = shape.num_kv_heads;
  const int64_t d = shape.head_dim;
  const int64_t m = static_cast<int64_t>(query_positions.size());
  const int64_t group = heads / kv_heads;

  // Queries at their positions, with RoPE: [H, m, d].
  std::vector<float> q(m * heads * d);
  for (int64_t i = 0; i < m; ++i) {
    std::memcpy(&q[i * heads * d], &queries[query_positions[i] * heads * d],
                heads * d * sizeof(float));
  }
  std::vector<float> cos(m * rope.num_pairs()), sin(m * rope.num_pairs());
  rope.ComputeCosSin(query_positions, absl::MakeSpan(cos), absl::MakeSpan(sin));
  rope.Rotate(cos, sin, static_cast<int>(heads), absl::MakeSpan(q));
  q = HeadMajor(q, m, heads, d);

  // RoPE after decoding, then [KVH, n, d].
  RotateSequence(rope, n, kv_heads, keys);
  RotateSequence(rope, n, kv_heads, dkeys);
  const std::vector<float> k = HeadMajor(keys, n, kv_heads, d);
  const std::vector<float> dk = HeadMajor(dkeys, n, kv_heads, d);
  const std::vector<float> v = HeadMajor(values, n, kv_heads, d);
  const std::vector<float> dv = HeadMajor(dvalues, n, kv_heads, d);

  // One MeasureAttention call per (head, query): query i attends keys
  // [0, query_positions[i]].
  const int64_t pairs = heads * m;
  std::vector<absl::Status> statuses(pairs);
  std::vector<double> kl(pairs), error(pairs), norm(pairs);
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  const auto run = [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const int64_t h = p / m;
      const int64_t i = p % m;
      const int64_t kvh = h / group;
      const int64_t length = query_positions[i] + 1;
      const float* qi = &q[(h * m + i) * d];
      const size_t offset = static_cast<size_t>(kvh * n * d);
      const TensorView query(qi, DType::kF32, {1, d});
      const TensorView kv_k(&k[offset], DType::kF32, {length, d});
      const TensorView kv_v(&v[offset], DType::kF32, {length, d});
      const TensorView kv_dk(&dk[offset], DType::kF32, {length, d});
      const TensorView kv_dv(&dv[offset], DType::kF32, {length, d});
      AttentionErrorOptions options;
      options.causal = true;
      absl::StatusOr<AttentionError> result =
          MeasureAttention(query, kv_k, kv_v, kv_dk, kv_dv, options);
      if (!result.ok()) {
        statuses[p] = result.status();
        continue;
      }
      norm[p] = OutputSquaredNorm(qi, &k[offset], &v[offset], length, d, scale);
      kl[p] = result->softmax_kl;
      // ||o - o'||^2 of this query: its relative error times ||o||^2 (an
      // all-zero o with a nonzero o' gives +inf, which stays +inf).
      error[p] = norm[p] == 0.0 ? (result->output_relative_error == 0.0
                                       ? 0.0
                                       : INFINITY)
                                : result->output_relative_error * norm[p];
    }
  };
  if (pool != nullptr) {
    pool->ParallelFor(0, pairs, 1, run);
  } else {
    run(0, pairs);
  }
  for (const absl::Status& status : statuses) CVQ_RETURN_IF_ERROR(status);

  AttentionSummary summary;
  for (int64_t h = 0; h < heads; ++h) {
    double error_sum = 0.0, norm_sum = 0.0;
    for (int64_t i = 0; i < m; ++i) {
      summary.kl += kl[h * m + i];
      error_sum += error[h * m + i];
      norm_sum += norm[h * m + i];
    }
    summary.output_relative_error +=
        norm_sum == 0.0 ? (error_sum == 0.0 ? 0.0 : INFINITY)
                        : error_sum / norm_sum;
  }
  summary.kl /= static_cast<double>(heads * m);
  summary.output_relative_error /= static_cast<double>(heads);
  return summary;
}

absl::Status Prefix(const absl::Status& status, absl::string_view prefix) {
  if (status.ok()) return status;
  return absl::Status(status.code(),
                      absl::StrCat(prefix, ": ", status.message()));
}

// Trains `spec` on samples: [n, dim].
absl::StatusOr<std::unique_ptr<Quantizer>> TrainOn(
    absl::string_view option_name, const std::string& spec, int layer,
    const std::vector<float>& samples, int64_t n, int64_t dim,
    const KvQualityOptions& options) {
  TrainOptions train;
  train.seed = options.seed;
  train.pool = options.pool;
  absl::StatusOr<std::unique_ptr<Quantizer>> quantizer =
      QuantizerRegistry::Default().Train(
          spec, TensorView(samples.data(), DType::kF32, {n, dim}), train);
  if (!quantizer.ok()) {
    return Prefix(quantizer.status(),
                  absl::StrCat(option_name, " \"", spec, "\" on layer ", layer));
  }
  return quantizer;
}

// The layer's quantizer "layer.<i>.<role>" from `codebooks` when it is set,
// else trained from `spec` on the first n rows of `calibration`.
absl::StatusOr<std::unique_ptr<Quantizer>> LoadOrTrain(
    const CodebookFile* codebooks, absl::string_view role,
    absl::string_view option_name, const std::string& spec, int layer,
    const SafetensorsTensor& calibration, int64_t n, int64_t dim,
    const KvQualityOptions& options) {
  if (codebooks == nullptr) {
    return TrainOn(option_name, spec, layer, ReadRows(calibration, n), n, dim,
                   options);
  }
  CVQ_ASSIGN_OR_RETURN(
      std::unique_ptr<Quantizer> quantizer,
      codebooks->LoadQuantizer(absl::StrCat("layer.", layer, ".", role)));
  if (quantizer->dim() != dim) {
    return absl::InvalidArgumentError(
        absl::StrCat(role, " codebooks of layer ", layer, " have dim ",
                     quantizer->dim(), " but the dumps' ", role, "s have ",
                     dim));
  }
  return quantizer;
}

int64_t Gcd(int64_t a, int64_t b) { return b == 0 ? a : Gcd(b, a % b); }

std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      absl::StrAppend(&out, "\\", std::string(1, c));
    } else if (static_cast<unsigned char>(c) < 0x20) {
      absl::StrAppendFormat(&out, "\\u%04x", static_cast<int>(c));
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

std::string JsonNumber(double x) {
  return std::isfinite(x) ? absl::StrFormat("%.9g", x) : "null";
}

}  // namespace

absl::StatusOr<std::vector<LayerQuality>> MeasureKvQuality(
    const SafetensorsFile& calibration_dump,
    const SafetensorsFile& evaluation_dump, const KvQualityOptions& options) {
  constexpr absl::string_view kCalibration = "calibration dump";
  constexpr absl::string_view kEvaluation = "evaluation dump";
  if (options.max_train_tokens < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_train_tokens is ", options.max_train_tokens,
                     ": expected 0 (all) or more"));
  }
  if (options.max_eval_tokens < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_eval_tokens is ", options.max_eval_tokens,
                     ": expected 0 (all) or more"));
  }
  if (options.attention_queries < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("attention_queries is ", options.attention_queries,
                     ": expected at least 1"));
  }
  CVQ_ASSIGN_OR_RETURN(KvDumpInfo shape,
                       ReadKvDumpInfo(calibration_dump, kCalibration));
  CVQ_ASSIGN_OR_RETURN(KvDumpInfo eval_shape,
                       ReadKvDumpInfo(evaluation_dump, kEvaluation));
  CVQ_RETURN_IF_ERROR(CheckSameShape(shape, eval_shape));
  // Specs are checked before any training so that a typo fails at once.
  if (options.key_codebooks == nullptr) {
    CVQ_RETURN_IF_ERROR(Prefix(
        QuantizerRegistry::Default().Resolve(options.key_spec).status(),
        absl::StrCat("key_spec \"", options.key_spec, "\"")));
  }
  if (options.value_codebooks == nullptr) {
    CVQ_RETURN_IF_ERROR(Prefix(
        QuantizerRegistry::Default().Resolve(options.value_spec).status(),
        absl::StrCat("value_spec \"", options.value_spec, "\"")));
  }

  std::vector<int> layers = options.layers;
  if (layers.empty()) {
    layers.resize(shape.num_layers);
    std::iota(layers.begin(), layers.end(), 0);
  }
  absl::flat_hash_set<int> seen;
  for (int layer : layers) {
    if (layer < 0 || layer >= shape.num_layers) {
      return absl::InvalidArgumentError(
          absl::StrCat("layer ", layer, " is out of range: the dumps have ",
                       shape.num_layers, " layers"));
    }
    if (!seen.insert(layer).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("layer ", layer, " is listed twice"));
    }
  }
  // Check every tensor before the (slow) training.
  std::vector<LayerTensors> calibration(layers.size()), evaluation(layers.size());
  for (size_t i = 0; i < layers.size(); ++i) {
    CVQ_ASSIGN_OR_RETURN(calibration[i], FindLayer(calibration_dump, kCalibration,
                                                   layers[i], shape));
    CVQ_ASSIGN_OR_RETURN(evaluation[i], FindLayer(evaluation_dump, kEvaluation,
                                                  layers[i], shape));
  }
  CVQ_ASSIGN_OR_RETURN(
      Rope rope, Rope::Create(static_cast<int>(shape.head_dim),
                              shape.rope_theta, shape.pair_layout));

  const int64_t dim = shape.num_kv_heads * shape.head_dim;
  const auto report = [&](size_t layer_index, double fraction) {
    if (options.progress) {
      options.progress((static_cast<double>(layer_index) + fraction) /
                       static_cast<double>(layers.size()));
    }
  };
  std::vector<LayerQuality> results;
  for (size_t li = 0; li < layers.size(); ++li) {
    const int layer = layers[li];
    LayerQuality q;
    q.layer = layer;

    q.train_tokens = calibration[li].tokens;
    if (options.max_train_tokens > 0) {
      q.train_tokens = std::min(q.train_tokens, options.max_train_tokens);
    }
    CVQ_ASSIGN_OR_RETURN(
        std::unique_ptr<Quantizer> key_quantizer,
        LoadOrTrain(options.key_codebooks, "key", "key_spec", options.key_spec,
                    layer, *calibration[li].keys, q.train_tokens, dim,
                    options));
    report(li, 0.4);
    CVQ_ASSIGN_OR_RETURN(
        std::unique_ptr<Quantizer> value_quantizer,
        LoadOrTrain(options.value_codebooks, "value", "value_spec",
                    options.value_spec, layer, *calibration[li].values,
                    q.train_tokens, dim, options));
    report(li, 0.8);
    q.key_spec = key_quantizer->spec();
    q.value_spec = value_quantizer->spec();
    q.key_bits_per_element = key_quantizer->layout().BitsPerElement();
    q.value_bits_per_element = value_quantizer->layout().BitsPerElement();

    // Score whole blocks of both quantizers only.
    const int64_t bk = key_quantizer->layout().block_vectors;
    const int64_t bv = value_quantizer->layout().block_vectors;
    const int64_t block = bk / Gcd(bk, bv) * bv;
    int64_t n = evaluation[li].tokens;
    if (options.max_eval_tokens > 0) n = std::min(n, options.max_eval_tokens);
    n -= n % block;
    if (n < 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "layer ", layer, ": ", std::min(evaluation[li].tokens,
                                          options.max_eval_tokens > 0
                                              ? options.max_eval_tokens
                                              : evaluation[li].tokens),
          " evaluation tokens leave ", n,
          " after rounding down to whole blocks of ", block,
          " (the quantizers' blocks): expected at least 2"));
    }
    q.eval_tokens = n;
    q.bytes_per_token = static_cast<double>(key_quantizer->StoredBytes(n) +
                                            value_quantizer->StoredBytes(n)) /
                        static_cast<double>(n);

    const std::vector<float> keys = ReadRows(*evaluation[li].keys, n);
    const std::vector<float> values = ReadRows(*evaluation[li].values, n);
    CVQ_ASSIGN_OR_RETURN(
        std::vector<float> dkeys,
        RoundTrip(*key_quantizer, keys, n, dim, options.pool));
    CVQ_ASSIGN_OR_RETURN(
        std::vector<float> dvalues,
        RoundTrip(*value_quantizer, values, n, dim, options.pool));
    CVQ_ASSIGN_OR_RETURN(
        ReconstructionError key_error,
        MeasureReconstruction(TensorView(keys.data(), DType::kF32, {n, dim}),
                              TensorView(dkeys.data(), DType::kF32, {n, dim})));
    CVQ_ASSIGN_OR_RETURN(
        ReconstructionError value_error,
        MeasureReconstruction(
            TensorView(values.data(), DType::kF32, {n, dim}),
            TensorView(dvalues.data(), DType::kF32, {n, dim})));
    q.key_relative_mse = key_error.relative_mse;
    q.value_relative_mse = value_error.relative_mse;

    // Query positions spread over [n / 2, n - 1].
    const int64_t first = n / 2;
    const int64_t span = n - 1 - first;
    const int64_t m = std::min<int64_t>(options.attention_queries, span + 1);
    std::vector<int64_t> positions(m);
    for (int64_t i = 0; i < m; ++i) {
      positions[i] = m == 1 ? n - 1 : first + (i * span) / (m - 1);
    }
    q.attention_queries = m;
    const std::vector<float> queries = ReadRows(*evaluation[li].queries, n);
    CVQ_ASSIGN_OR_RETURN(
        AttentionSummary attention,
        MeasureLayerAttention(shape, rope, n, queries, keys, std::move(dkeys),
                              values, dvalues, positions, options.pool));
    q.attention_kl = attention.kl;
    q.attention_output_relative_error = attention.output_relative_error;
    results.push_back(std::move(q));
    report(li, 1.0);
  }
  return results;
}

std::string FormatKvQualityTable(const std::vector<LayerQuality>& results) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"layer", "key bits", "value bits", "bytes/token",
                  "key rel MSE", "value rel MSE", "attn KL", "attn out err"});
  const auto add = [&rows](const std::string& name, const LayerQuality& q) {
    rows.push_back({name, absl::StrFormat("%.3f", q.key_bits_per_element),
                    absl::StrFormat("%.3f", q.value_bits_per_element),
                    absl::StrFormat("%.1f", q.bytes_per_token),
                    absl::StrFormat("%.3e", q.key_relative_mse),
                    absl::StrFormat("%.3e", q.value_relative_mse),
                    absl::StrFormat("%.3e", q.attention_kl),
                    absl::StrFormat("%.3e", q.attention_output_relative_error)});
  };
  LayerQuality mean;
  for (const LayerQuality& q : results) {
    add(absl::StrCat(q.layer), q);
    mean.key_bits_per_element += q.key_bits_per_element;
    mean.value_bits_per_element += q.value_bits_per_element;
    mean.bytes_per_token += q.bytes_per_token;
    mean.key_relative_mse += q.key_relative_mse;
    mean.value_relative_mse += q.value_relative_mse;
    mean.attention_kl += q.attention_kl;
    mean.attention_output_relative_error += q.attention_output_relative_error;
  }
  if (results.size() > 1) {
    const double n = static_cast<double>(results.size());
    mean.key_bits_per_element /= n;
    mean.value_bits_per_element /= n;
    mean.bytes_per_token /= n;
    mean.key_relative_mse /= n;
    mean.value_relative_mse /= n;
    mean.attention_kl /= n;
    mean.attention_output_relative_error /= n;
    add("mean", mean);
  }
  std::vector<size_t> widths(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) {
      widths[c] = std::max(widths[c], row[c].size());
    }
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      if (c > 0) line += "  ";
      // The layer column is left-aligned, the numbers right-aligned.
      const std::string pad(widths[c] - row[c].size(), ' ');
      line += c == 0 ? row[c] + pad : pad + row[c];
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

std::string KvQualityJson(const std::vector<LayerQuality>& results) {
  std::string out = "{\"layers\": [";
  for (size_t i = 0; i < results.size(); ++i) {
    const LayerQuality& q = results[i];
    absl::StrAppend(
        &out, i == 0 ? "" : ", ", "{\"layer\": ", q.layer,
        ", \"key_spec\": ", JsonString(q.key_spec),
        ", \"value_spec\": ", JsonString(q.value_spec),
        ", \"key_bits_per_element\": ", JsonNumber(q.key_bits_per_element),
        ", \"value_bits_per_element\": ", JsonNumber(q.value_bits_per_element),
        ", \"bytes_per_token\": ", JsonNumber(q.bytes_per_token),
        ", \"key_relative_mse\": ", JsonNumber(q.key_relative_mse),
        ", \"value_relative_mse\": ", JsonNumber(q.value_relative_mse),
        ", \"attention_kl\": ", JsonNumber(q.attention_kl),
        ", \"attention_output_relative_error\": ",
        JsonNumber(q.attention_output_relative_error),
        ", \"train_tokens\": ", q.train_tokens,
        ", \"eval_tokens\": ", q.eval_tokens,
        ", \"attention_queries\": ", q.attention_queries, "}");
  }
  absl::StrAppend(&out, "]}\n");
  return out;
}

}  // namespace commvq
