#include "commvq/kvcache/kv_cache.h"

#include "absl/strings/str_cat.h"
#include "commvq/base/status_macros.h"

namespace commvq {

std::string AttentionShapeToString(const AttentionShape& shape) {
  return absl::StrCat("{layers ", shape.num_layers, ", heads ", shape.num_heads,
                      ", kv_heads ", shape.num_kv_heads, ", head_dim ",
                      shape.head_dim, ", rope_theta ", shape.rope_theta,
                      ", pairs ", PairLayoutName(shape.pair_layout), "}");
}

absl::Status ValidateAttentionShape(const AttentionShape& shape) {
  const auto positive = [](int value, absl::string_view name) {
    return value > 0 ? absl::OkStatus()
                     : absl::InvalidArgumentError(
                           absl::StrCat("attention shape: ", name,
                                        " must be positive; got ", value));
  };
  CVQ_RETURN_IF_ERROR(positive(shape.num_layers, "num_layers"));
  CVQ_RETURN_IF_ERROR(positive(shape.num_heads, "num_heads"));
  CVQ_RETURN_IF_ERROR(positive(shape.num_kv_heads, "num_kv_heads"));
  if (shape.num_heads % shape.num_kv_heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("attention shape: num_kv_heads ", shape.num_kv_heads,
                     " does not divide num_heads ", shape.num_heads));
  }
  absl::StatusOr<Rope> rope =
      Rope::Create(shape.head_dim, shape.rope_theta, shape.pair_layout);
  if (!rope.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("attention shape: ", rope.status().message()));
  }
  return absl::OkStatus();
}

absl::Status KvCache::CheckLayer(int layer) const {
  if (layer < 0 || layer >= shape_.num_layers) {
    return absl::InvalidArgumentError(absl::StrCat(
        "layer ", layer, " is out of range [0, ", shape_.num_layers, ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckAppendTensors(const AttentionShape& shape,
                                const TensorView& keys,
                                const TensorView& values) {
  CVQ_RETURN_IF_ERROR(
      CheckTensor(keys, "keys", DType::kF32,
                  {kAnyDim, shape.num_kv_heads, shape.head_dim}));
  return CheckTensor(values, "values", DType::kF32,
                     {keys.dim(0), shape.num_kv_heads, shape.head_dim});
}

absl::Status CheckAttendTensors(const AttentionShape& shape,
                                const TensorView& queries,
                                const TensorView& out, int64_t num_queries) {
  CVQ_RETURN_IF_ERROR(
      CheckTensor(queries, "queries", DType::kF32,
                  {num_queries, shape.num_heads, shape.head_dim}));
  return CheckTensor(out, "out", DType::kF32,
                     {num_queries, shape.num_heads, shape.head_dim});
}

absl::Status KvCache::Append(int layer, const TensorView& keys,
                             const TensorView& values) {
  CVQ_RETURN_IF_ERROR(CheckLayer(layer));
  CVQ_RETURN_IF_ERROR(CheckAppendTensors(shape_, keys, values));
  if (keys.dim(0) == 0) return absl::OkStatus();
  return DoAppend(layer, static_cast<const float*>(keys.data()),
                  static_cast<const float*>(values.data()), keys.dim(0));
}

absl::Status KvCache::Attend(int layer, const TensorView& queries,
                             absl::Span<const int64_t> positions,
                             const MutableTensorView& out) const {
  CVQ_RETURN_IF_ERROR(CheckLayer(layer));
  const int64_t num_queries = static_cast<int64_t>(positions.size());
  CVQ_RETURN_IF_ERROR(CheckAttendTensors(shape_, queries, out, num_queries));
  const int64_t cached = length(layer);
  for (int64_t i = 0; i < num_queries; ++i) {
    if (positions[i] < 0 || positions[i] >= cached) {
      return absl::InvalidArgumentError(absl::StrCat(
          "positions[", i, "] = ", positions[i], " is outside [0, ", cached,
          "): layer ", layer, " caches ", cached,
          " tokens, and a query attends to its own (appended) token"));
    }
    if (i > 0 && positions[i] <= positions[i - 1]) {
      return absl::InvalidArgumentError(
          absl::StrCat("positions must increase strictly; positions[", i,
                       "] = ", positions[i], " follows positions[", i - 1,
                       "] = ", positions[i - 1]));
    }
  }
  if (num_queries == 0) return absl::OkStatus();
  return DoAttend(layer, static_cast<const float*>(queries.data()), positions,
                  static_cast<float*>(out.data()));
}

absl::Status KvCache::Truncate(int64_t length) {
  if (length < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot truncate to a negative length ", length));
  }
  return DoTruncate(length);
}

}  // namespace commvq
