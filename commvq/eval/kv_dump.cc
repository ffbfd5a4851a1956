#include "commvq/eval/kv_dump.h"

#include <algorithm>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "commvq/base/crc32c.h"
#include "commvq/base/float16.h"
#include "commvq/base/status_macros.h"
#include "commvq/eval/kv_dump_info.h"
#include "commvq/io/safetensors.h"
#include "commvq/kvcache/full_precision_kv_cache.h"

namespace commvq {
namespace {

// Collects each layer's projections as fp16, appended in token order.
class DumpObserver : public LayerObserver {
 public:
  explicit DumpObserver(int num_layers) : layers_(num_layers) {}

  void OnLayer(int layer, const TensorView& queries, const TensorView& keys,
               const TensorView& values) override {
    Append(queries, layers_[layer].queries);
    Append(keys, layers_[layer].keys);
    Append(values, layers_[layer].values);
  }

  struct Layer {
    std::vector<uint16_t> queries, keys, values;
  };
  const std::vector<Layer>& layers() const { return layers_; }

 private:
  static void Append(const TensorView& view, std::vector<uint16_t>& out) {
    const size_t old_size = out.size();
    out.resize(old_size + view.num_elements());
    FloatsToHalves(view.span<float>(), absl::MakeSpan(out).subspan(old_size));
  }

  std::vector<Layer> layers_;
};

}  // namespace

absl::Status WriteKvDump(const LlamaModel& model,
                         absl::Span<const int32_t> tokens,
                         const std::string& path, const KvDumpOptions& options) {
  const LlamaConfig& c = model.config();
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n < 1 || options.chunk_tokens < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "KV dump needs at least one token and chunk_tokens >= 1, got ", n,
        " tokens and chunk_tokens ", options.chunk_tokens));
  }
  CVQ_ASSIGN_OR_RETURN(auto cache,
                       FullPrecisionKvCache::Create(AttentionShapeOf(c)));
  DumpObserver observer(c.num_layers);
  ForwardOptions forward;
  forward.logits = LogitsMode::kLastToken;
  forward.observer = &observer;
  std::vector<float> logits(c.vocab_size);
  for (int64_t begin = 0; begin < n; begin += options.chunk_tokens) {
    const int64_t count = std::min(options.chunk_tokens, n - begin);
    CVQ_RETURN_IF_ERROR(model.Forward(
        tokens.subspan(begin, count), begin, *cache,
        MutableTensorView(logits.data(), DType::kF32, {1, c.vocab_size}),
        forward));
    if (options.progress) options.progress(static_cast<double>(begin + count) / n);
  }

  std::vector<NamedTensor> tensors;
  for (int i = 0; i < c.num_layers; ++i) {
    const DumpObserver::Layer& layer = observer.layers()[i];
    const std::string prefix = absl::StrCat("layers.", i, ".");
    tensors.push_back({prefix + "queries",
                       TensorView(layer.queries.data(), DType::kF16,
                                  {n, c.num_heads, c.head_dim})});
    tensors.push_back({prefix + "keys",
                       TensorView(layer.keys.data(), DType::kF16,
                                  {n, c.num_kv_heads, c.head_dim})});
    tensors.push_back({prefix + "values",
                       TensorView(layer.values.data(), DType::kF16,
                                  {n, c.num_kv_heads, c.head_dim})});
  }
  const std::map<std::string, std::string> metadata = {
      {"format", std::string(kKvDumpFormat)},
      {"model", options.model_name},
      {"num_layers", absl::StrCat(c.num_layers)},
      {"num_heads", absl::StrCat(c.num_heads)},
      {"num_kv_heads", absl::StrCat(c.num_kv_heads)},
      {"head_dim", absl::StrCat(c.head_dim)},
      {"rope_theta", absl::StrCat(c.rope_theta)},
      {"pair_layout", std::string(PairLayoutName(c.pair_layout))},
      {"tokens", absl::StrCat(n)},
      {"text_bytes", absl::StrCat(options.text.size())},
      {"text_crc32c", absl::StrCat(absl::Hex(Crc32c(options.text), absl::kZeroPad8))},
  };
  return WriteSafetensors(path, tensors, metadata);
}

}  // namespace commvq
