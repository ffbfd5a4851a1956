#include "training/dump_samples.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "commvq/base/float16.h"
#include "commvq/base/status_macros.h"

namespace commvq {
std::string DumpMeta(const SafetensorsFile& dump, const std::string& key) {
  const auto it = dump.metadata().find(key);
  return it == dump.metadata().end() ? std::string() : it->second;
}

absl::StatusOr<KvDumpInfo> ReadKvDumpInfo(const SafetensorsFile& dump,
                                          const std::string& path,
                                          absl::string_view who) {
  absl::StatusOr<KvDumpInfo> info =
      ReadKvDumpInfo(dump, absl::StrCat("KV dump ", path));
  if (!info.ok()) {
    return absl::Status(info.status().code(),
                        absl::StrCat(who, ": ", info.status().message()));
  }
  return info;
}

absl::StatusOr<std::vector<int>> DumpLayers(const std::vector<int>& requested,
                                            int64_t num_layers,
                                            absl::string_view who) {
  std::vector<int> layers = requested;
  if (layers.empty()) {
    for (int i = 0; i < num_layers; ++i) layers.push_back(i);
  }
  for (int layer : layers) {
    if (layer < 0 || layer >= num_layers) {
      return absl::InvalidArgumentError(
          absl::StrCat(who, ": layer ", layer, " is not in the dump's [0, ",
                       num_layers, ")"));
    }
  }
  return layers;
}

std::vector<int64_t> EvenRows(int64_t tokens, int64_t max_samples) {
  const int64_t n = max_samples > 0 ? std::min(max_samples, tokens)
                                    : std::max<int64_t>(tokens, 0);
  std::vector<int64_t> rows(n);
  for (int64_t i = 0; i < n; ++i) rows[i] = i * tokens / n;
  return rows;
}

absl::StatusOr<std::vector<float>> ReadDumpRows(
    const SafetensorsTensor& tensor, const std::vector<int64_t>& rows,
    int64_t cols, absl::string_view who) {
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
            who, ": tensor ", tensor.name, " is not f16, bf16 or f32"));
    }
  }
  return out;
}

absl::StatusOr<DumpSamples> ReadDumpSamples(const SafetensorsFile& dump,
                                            const std::string& path, int layer,
                                            const std::string& kind,
                                            int64_t heads, int64_t head_dim,
                                            int64_t max_samples,
                                            absl::string_view who) {
  const std::string name = absl::StrCat("layers.", layer, ".", kind);
  CVQ_ASSIGN_OR_RETURN(const SafetensorsTensor* tensor, dump.Find(name));
  if (tensor->shape.size() != 3 || tensor->shape[0] < 1 ||
      tensor->shape[1] != heads || tensor->shape[2] != head_dim) {
    return absl::InvalidArgumentError(
        absl::StrCat(who, ": KV dump ", path, ": ", name, " is not [tokens, ",
                     heads, ", ", head_dim, "]"));
  }
  DumpSamples samples;
  samples.tokens = tensor->shape[0];
  const std::vector<int64_t> rows = EvenRows(samples.tokens, max_samples);
  samples.n = static_cast<int64_t>(rows.size());
  CVQ_ASSIGN_OR_RETURN(samples.rows,
                       ReadDumpRows(*tensor, rows, heads * head_dim, who));
  return samples;
}

}  // namespace commvq
