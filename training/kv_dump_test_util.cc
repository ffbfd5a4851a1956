#include "training/kv_dump_test_util.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "commvq/base/float16.h"
#include "commvq/io/safetensors.h"

namespace commvq {
namespace testing {

absl::Status WriteTestKvDump(
    const std::string& path, const TestDumpShape& shape,
    const std::function<std::vector<float>(int layer, const std::string& kind)>&
        rows) {
  std::vector<std::vector<uint16_t>> storage;
  std::vector<NamedTensor> tensors;
  storage.reserve(3 * shape.num_layers);
  for (int layer = 0; layer < shape.num_layers; ++layer) {
    for (const char* kind : {"queries", "keys", "values"}) {
      const int64_t heads =
          std::string(kind) == "queries" ? shape.num_heads : shape.num_kv_heads;
      const std::vector<float> x = rows(layer, kind);
      if (static_cast<int64_t>(x.size()) !=
          shape.tokens * heads * shape.head_dim) {
        return absl::InvalidArgumentError(
            absl::StrCat("test dump: layer ", layer, " ", kind, " has ",
                         x.size(), " floats"));
      }
      std::vector<uint16_t> halves(x.size());
      FloatsToHalves(x, absl::MakeSpan(halves));
      storage.push_back(std::move(halves));
      tensors.push_back({absl::StrCat("layers.", layer, ".", kind),
                         TensorView(storage.back().data(), DType::kF16,
                                    {shape.tokens, heads, shape.head_dim})});
    }
  }
  const std::map<std::string, std::string> metadata = {
      {"format", "commvq-kv-dump-1"},
      {"model", "tiny"},
      {"num_layers", absl::StrCat(shape.num_layers)},
      {"num_heads", absl::StrCat(shape.num_heads)},
      {"num_kv_heads", absl::StrCat(shape.num_kv_heads)},
      {"head_dim", absl::StrCat(shape.head_dim)},
      {"rope_theta", "10000"},
      {"pair_layout", shape.pair_layout},
      {"tokens", absl::StrCat(shape.tokens)},
      {"text_bytes", "123"},
      {"text_crc32c", "0badc0de"}};
  return WriteSafetensors(path, tensors, metadata);
}

}  // namespace testing
}  // namespace commvq
