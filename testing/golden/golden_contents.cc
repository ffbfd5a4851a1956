#include "testing/golden/golden_contents.h"

#include "commvq/base/float16.h"
#include "commvq/base/status_macros.h"
#include "commvq/registry/registry.h"

namespace commvq {

absl::StatusOr<GoldenContents> MakeGoldenContents(GoldenTensors& tensors) {
  for (int i = 0; i < 8; ++i) tensors.codebook.push_back(0.5f * i - 1.0f);
  for (float s : {1.0f, 2.0f, -0.5f}) tensors.scales.push_back(FloatToHalfBits(s));
  for (int i = 0; i < 32; ++i) {
    tensors.samples.push_back(static_cast<float>((i * 5) % 7) - 3.0f);
  }
  const TensorView samples(tensors.samples.data(), DType::kF32, {4, 8});
  const QuantizerRegistry& registry = QuantizerRegistry::Default();
  CVQ_ASSIGN_OR_RETURN(tensors.key,
                       registry.Train("int:bits=2,group_size=4", samples));
  CVQ_ASSIGN_OR_RETURN(tensors.value, registry.Train("fp16", samples));

  GoldenContents golden;
  golden.small.model = {"golden-model", 1, 4, 2, 4, 500000.0, PairLayout::kHalf};
  golden.small.provenance.trainer = "make_golden_files";
  golden.small.provenance.library_version = "golden";
  golden.small.provenance.seed = 42;
  golden.small.provenance.calibration_data = "generated";
  golden.small.provenance.num_samples = 4;
  golden.small.provenance.created_utc = "2026-11-29T00:00:00Z";
  golden.small.provenance.extra = {{"purpose", "format golden file"}};
  golden.small.tensors = {
      {"codebook", TensorView(tensors.codebook.data(), DType::kF32, {2, 4})},
      {"scales", TensorView(tensors.scales.data(), DType::kF16, {3})},
  };
  golden.small.quantizers = {
      {"layer.0.key", 0, CacheRole::kKey, tensors.key.get()},
      {"layer.0.value", 0, CacheRole::kValue, tensors.value.get()},
  };
  golden.empty.model = {"empty", 0, 0, 0, 0, 0.0, PairLayout::kUnspecified};
  return golden;
}

}  // namespace commvq
