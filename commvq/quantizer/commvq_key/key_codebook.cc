#include "commvq/quantizer/commvq_key/key_codebook.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "commvq/base/status_macros.h"
#include "commvq/base/pair_layout.h"

namespace commvq {

absl::Status ValidateKeyCodebookShape(const KeyCodebookShape& shape) {
  if (shape.head_dim < 2 || shape.head_dim % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("key codebook: head_dim is ", shape.head_dim,
                     ": expected an even number >= 2 (RoPE pairs channels)"));
  }
  if (shape.half_bits < 1 || shape.half_bits > kMaxKeyHalfBits) {
    return absl::InvalidArgumentError(
        absl::StrCat("key codebook: half_bits is ", shape.half_bits,
                     ": expected 1..", kMaxKeyHalfBits));
  }
  if (shape.layout != PairLayout::kHalf &&
      shape.layout != PairLayout::kInterleaved) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key codebook: pair layout is ", PairLayoutName(shape.layout), " (",
        static_cast<int>(shape.layout), "): expected half or interleaved"));
  }
  return absl::OkStatus();
}

absl::StatusOr<KeyCodebook> KeyCodebook::Create(const KeyCodebookShape& shape,
                                                std::vector<float> z) {
  CVQ_RETURN_IF_ERROR(ValidateKeyCodebookShape(shape));
  if (static_cast<int64_t>(z.size()) != shape.num_floats()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key codebook: z has ", z.size(), " floats: expected ",
        shape.num_floats(), " (", shape.num_pairs(), " pairs x ",
        shape.num_values(), " values x 2)"));
  }
  for (size_t i = 0; i < z.size(); ++i) {
    if (!std::isfinite(z[i])) {
      const int64_t entry = static_cast<int64_t>(i) / 2;
      return absl::InvalidArgumentError(absl::StrCat(
          "key codebook: ", i % 2 == 0 ? "x" : "y", " of pair ",
          entry / shape.num_values(), ", value ", entry % shape.num_values(),
          " is ", z[i], ": expected a finite number"));
    }
  }
  return KeyCodebook(shape, std::move(z));
}

void KeyCodebook::AddCentre(int a, int b, float* head) const {
  for (int64_t j = 0; j < shape_.num_pairs(); ++j) {
    head[PairFirstChannel(shape_.layout, shape_.head_dim, j)] +=
        x(j, a) - y(j, b);
    head[PairSecondChannel(shape_.layout, shape_.head_dim, j)] +=
        y(j, a) + x(j, b);
  }
}

void KeyCodebook::SubtractCentre(int a, int b, float* head) const {
  for (int64_t j = 0; j < shape_.num_pairs(); ++j) {
    head[PairFirstChannel(shape_.layout, shape_.head_dim, j)] -=
        x(j, a) - y(j, b);
    head[PairSecondChannel(shape_.layout, shape_.head_dim, j)] -=
        y(j, a) + x(j, b);
  }
}

absl::StatusOr<KeyQuantizerParams> KeyQuantizerParamsFromZ(
    int64_t num_kv_heads, int stages, const KeyCodebookShape& shape,
    absl::Span<const float> z) {
  CVQ_RETURN_IF_ERROR(ValidateKeyCodebookShape(shape));
  if (num_kv_heads < 1 || stages < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("key codebooks: num_kv_heads ", num_kv_heads,
                     " and stages ", stages, ": expected both >= 1"));
  }
  const int64_t floats = shape.num_floats();
  const int64_t total = num_kv_heads * stages;
  if (static_cast<int64_t>(z.size()) != total * floats) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key codebooks: z has ", z.size(), " floats: expected ",
        total * floats, " (", total, " codebooks of ", floats, ")"));
  }
  KeyQuantizerParams params;
  params.num_kv_heads = num_kv_heads;
  params.stages = stages;
  params.shape = shape;
  params.codebooks.reserve(total);
  for (int64_t k = 0; k < total; ++k) {
    const absl::Span<const float> one = z.subspan(k * floats, floats);
    absl::StatusOr<KeyCodebook> codebook =
        KeyCodebook::Create(shape, std::vector<float>(one.begin(), one.end()));
    if (!codebook.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("codebook of head ", k / stages, ", stage ", k % stages,
                       ": ", codebook.status().message()));
    }
    params.codebooks.push_back(*std::move(codebook));
  }
  return params;
}

}  // namespace commvq
