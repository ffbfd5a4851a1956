// Writes a tiny CommVQ codebook file for the C ABI tests of caches that need
// commvq_key keys and commvq_value values (the "cuda" backend's storage):
// 2 layers, 4 query heads, 2 KV heads, head_dim 4, half pairs, quantizers
// trained by the registry on generated Gaussian samples.
//
// Usage: make_commvq_codebook OUT
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "commvq/base/random.h"
#include "commvq/base/status_macros.h"
#include "commvq/io/codebook_file.h"
#include "commvq/registry/registry.h"

namespace commvq {
namespace {

constexpr int kLayers = 2;
constexpr int64_t kDim = 8;  // 2 KV heads x head_dim 4
constexpr int64_t kSamples = 256;

absl::Status Write(const std::string& path) {
  Rng rng(5);
  std::vector<float> samples(kSamples * kDim);
  rng.FillNormal(absl::MakeSpan(samples), 0.0f, 1.0f);
  const TensorView view(samples.data(), DType::kF32, {kSamples, kDim});
  const QuantizerRegistry& registry = QuantizerRegistry::Default();
  std::vector<std::unique_ptr<Quantizer>> quantizers;
  CodebookFileContents contents;
  contents.model = {"tiny-commvq", kLayers, 4, 2, 4, 10000.0, PairLayout::kHalf};
  contents.provenance.trainer = "make_commvq_codebook";
  contents.provenance.library_version = "test";
  contents.provenance.seed = 5;
  contents.provenance.calibration_data = "generated";
  contents.provenance.num_samples = kSamples;
  contents.provenance.created_utc = "2026-11-29T00:00:00Z";
  for (int layer = 0; layer < kLayers; ++layer) {
    CVQ_ASSIGN_OR_RETURN(
        auto key,
        registry.Train("commvq_key:num_kv_heads=2,layout=half,half_bits=2,"
                       "stages=2",
                       view));
    CVQ_ASSIGN_OR_RETURN(
        auto value, registry.Train("commvq_value:num_kv_heads=2,bits=2", view));
    contents.quantizers.push_back(
        {absl::StrCat("layer.", layer, ".key"), layer, CacheRole::kKey,
         key.get()});
    contents.quantizers.push_back(
        {absl::StrCat("layer.", layer, ".value"), layer, CacheRole::kValue,
         value.get()});
    quantizers.push_back(std::move(key));
    quantizers.push_back(std::move(value));
  }
  return WriteCodebookFile(path, contents);
}

}  // namespace
}  // namespace commvq

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " OUT\n";
    return 2;
  }
  const absl::Status status = commvq::Write(argv[1]);
  if (!status.ok()) {
    std::cerr << "make_commvq_codebook: " << status << "\n";
    return 1;
  }
  return 0;
}
