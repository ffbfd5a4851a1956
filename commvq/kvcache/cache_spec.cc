#include "commvq/kvcache/cache_spec.h"

#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "commvq/base/status_macros.h"
#include "commvq/io/codebook_file.h"
#include "commvq/kvcache/full_precision_kv_cache.h"
#include "commvq/quantizer/quantizer_spec.h"
#include "commvq/registry/registry.h"

namespace commvq {
namespace {

absl::Status BadOption(absl::string_view text, absl::string_view option,
                       absl::string_view expected) {
  return absl::InvalidArgumentError(
      absl::StrCat("cache spec '", text, "': bad option '", option,
                   "': expected ", expected));
}

// Applies one cache option (window, page, capacity, prefill, kernel); false
// when `key` is not one.
absl::StatusOr<bool> ApplyCacheOption(absl::string_view text,
                                      absl::string_view key,
                                      absl::string_view value,
                                      CompressedKvCacheOptions* options) {
  if (key == "window" || key == "page") {
    int64_t n = 0;
    const int64_t min = key == "window" ? 0 : 1;
    if (!absl::SimpleAtoi(value, &n) || n < min) {
      return BadOption(text, absl::StrCat(key, "=", value),
                       absl::StrCat("an integer >= ", min));
    }
    (key == "window" ? options->window : options->page_tokens) = n;
    return true;
  }
  if (key == "capacity") {
    int64_t n = 0;
    if (!absl::SimpleAtoi(value, &n) || n < 0) {
      return BadOption(text, absl::StrCat(key, "=", value),
                       "an integer >= 0 (0: no limit)");
    }
    options->capacity = n;
    return true;
  }
  if (key == "prefill") {
    if (value != "full" && value != "compressed") {
      return BadOption(text, absl::StrCat(key, "=", value),
                       "prefill=full or compressed");
    }
    options->full_precision_prefill = value == "full";
    return true;
  }
  if (key == "kernel") {
    if (value == "auto") {
      options->key_kernel = KeyKernel::kAuto;
    } else if (value == "table") {
      options->key_kernel = KeyKernel::kTable;
    } else if (value == "decode") {
      options->key_kernel = KeyKernel::kDecode;
    } else {
      return BadOption(text, absl::StrCat(key, "=", value),
                       "kernel=auto, table or decode");
    }
    return true;
  }
  return false;
}

absl::StatusOr<CacheSpec> ParseCommvq(absl::string_view text,
                                      absl::string_view options) {
  CacheSpec spec;
  spec.full_precision = false;
  const size_t values_at = options.find("values=");
  if (values_at != absl::string_view::npos) {
    if (values_at != 0 && options[values_at - 1] != ',') {
      return BadOption(text, options.substr(values_at), "values=QSPEC last");
    }
    spec.value_spec = std::string(options.substr(values_at + 7));
    options = options.substr(0, values_at == 0 ? 0 : values_at - 1);
  }
  for (absl::string_view option : absl::StrSplit(options, ',', absl::SkipEmpty())) {
    const std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(option, absl::MaxSplits('=', 1));
    if (kv.first == "codebooks") {
      spec.codebooks = std::string(kv.second);
      continue;
    }
    CVQ_ASSIGN_OR_RETURN(const bool applied,
                         ApplyCacheOption(text, kv.first, kv.second,
                                          &spec.options));
    if (!applied) {
      return BadOption(text, option,
                       "codebooks=FILE, window=N, page=N, capacity=N, "
                       "prefill=P, kernel=K or values=QSPEC");
    }
  }
  if (spec.codebooks.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cache spec '", text, "': commvq needs codebooks=FILE (from "
        "commvq train-keys)"));
  }
  return spec;
}

// kivi and registry specs: the quantizer options, with the cache options
// taken out.
absl::StatusOr<CacheSpec> ParseQuantizers(absl::string_view text) {
  CacheSpec spec;
  spec.full_precision = false;
  std::vector<absl::string_view> parts = absl::StrSplit(text, ';');
  CVQ_ASSIGN_OR_RETURN(QuantizerSpec quantizer, ParseQuantizerSpec(parts[0]));
  for (size_t i = 1; i < parts.size(); ++i) {
    const std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(parts[i], absl::MaxSplits('=', 1));
    CVQ_ASSIGN_OR_RETURN(const bool applied,
                         ApplyCacheOption(text, kv.first, kv.second,
                                          &spec.options));
    if (!applied) {
      return BadOption(text, parts[i],
                       "window=N, page=N, capacity=N or prefill=P");
    }
  }
  std::vector<std::pair<std::string, std::string>> kept;
  for (const auto& [key, value] : quantizer.options) {
    CVQ_ASSIGN_OR_RETURN(const bool applied,
                         ApplyCacheOption(text, key, value, &spec.options));
    if (!applied) kept.emplace_back(key, value);
  }
  quantizer.options = std::move(kept);
  if (quantizer.name == "kivi") {
    QuantizerSpec key = quantizer;
    QuantizerSpec value = quantizer;
    key.options.emplace_back("mode", "key");
    value.options.emplace_back("mode", "value");
    spec.key_spec = key.ToString();
    spec.value_spec = value.ToString();
  } else {
    spec.key_spec = spec.value_spec = quantizer.ToString();
  }
  return spec;
}

// The quantizers of every layer trained data-free from `spec` (one
// quantizer, shared by the layers).
absl::StatusOr<std::shared_ptr<const Quantizer>> DataFree(
    absl::string_view spec, int64_t dim) {
  std::vector<float> none;
  absl::StatusOr<std::unique_ptr<Quantizer>> q = QuantizerRegistry::Default().Train(
      spec, TensorView(none.data(), DType::kF32, {0, dim}));
  if (!q.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cache quantizer '", spec, "' cannot be built without training data (",
        q.status().message(), "): use a data-free quantizer or a codebook file"));
  }
  return std::shared_ptr<const Quantizer>(*std::move(q));
}

}  // namespace

absl::StatusOr<CacheSpec> ParseCacheSpec(absl::string_view text) {
  if (text == "fp32") return CacheSpec();
  if (absl::StartsWith(text, "commvq:")) {
    return ParseCommvq(text, text.substr(7));
  }
  if (text == "commvq") return ParseCommvq(text, "");
  return ParseQuantizers(text);
}

absl::StatusOr<std::shared_ptr<const CompressedCacheCodecs>> MakeCacheCodecs(
    const CacheSpec& spec, const AttentionShape& shape) {
  if (spec.full_precision) return nullptr;
  const int64_t dim = int64_t{shape.num_kv_heads} * shape.head_dim;
  std::vector<LayerQuantizers> layers(shape.num_layers);
  std::shared_ptr<const Quantizer> shared_key, shared_value;
  if (!spec.key_spec.empty()) {
    CVQ_ASSIGN_OR_RETURN(shared_key, DataFree(spec.key_spec, dim));
  }
  if (!spec.value_spec.empty()) {
    CVQ_ASSIGN_OR_RETURN(shared_value, DataFree(spec.value_spec, dim));
  }
  std::optional<CodebookFile> file;
  if (!spec.codebooks.empty()) {
    CVQ_ASSIGN_OR_RETURN(file, CodebookFile::Open(spec.codebooks));
  }
  for (int l = 0; l < shape.num_layers; ++l) {
    layers[l].key = shared_key;
    layers[l].value = shared_value;
    if (!file) continue;
    for (const auto& [role, slot] :
         {std::make_pair("key", &layers[l].key),
          std::make_pair("value", &layers[l].value)}) {
      if (*slot != nullptr) continue;
      const std::string name = absl::StrCat("layer.", l, ".", role);
      absl::StatusOr<std::unique_ptr<Quantizer>> q = file->LoadQuantizer(name);
      if (!q.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "codebook file ", spec.codebooks, ": ", q.status().message(),
            std::string(role) == "value"
                ? " (add values=QSPEC to the cache spec for files with keys "
                  "only)"
                : ""));
      }
      *slot = std::shared_ptr<const Quantizer>(*std::move(q));
    }
  }
  return CompressedCacheCodecs::Create(shape, std::move(layers));
}

absl::StatusOr<std::unique_ptr<KvCache>> MakeKvCache(
    const CacheSpec& spec, const AttentionShape& shape,
    std::shared_ptr<const CompressedCacheCodecs> codecs, ThreadPool* pool) {
  if (spec.full_precision) {
    FullPrecisionKvCacheOptions options;
    options.pool = pool;
    CVQ_ASSIGN_OR_RETURN(auto cache, FullPrecisionKvCache::Create(shape, options));
    return std::unique_ptr<KvCache>(std::move(cache));
  }
  CompressedKvCacheOptions options = spec.options;
  options.pool = pool;
  CVQ_ASSIGN_OR_RETURN(auto cache,
                       CompressedKvCache::Create(std::move(codecs), options));
  return std::unique_ptr<KvCache>(std::move(cache));
}

absl::string_view CacheSpecHelp() {
  return "KV cache: fp32 | commvq:codebooks=FILE[,window=N][,page=N]"
         "[,capacity=N][,prefill=full|compressed][,kernel=auto|table|decode]"
         "[,values=QSPEC] | kivi[:bits=B][,window=N] | "
         "QSPEC[;window=N][;page=N][;prefill=P] (a data-free registry "
         "quantizer for keys and values, e.g. int:bits=4;window=0). window: "
         "full-precision recent tokens (default 128). prefill=full: the "
         "tokens of one forward pass (a prompt) stay in full precision for "
         "its own attention and are encoded at the next append (default "
         "compressed: encoded at once).";
}

}  // namespace commvq
