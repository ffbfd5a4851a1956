#include "commvq/kvcache/full_precision_kv_cache.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "commvq/base/status_macros.h"
#include "commvq/base/thread_pool.h"

namespace commvq {
namespace {

// Multiply-adds below which a parallel task costs more to schedule than it
// saves.
constexpr int64_t kMinWorkPerTask = int64_t{1} << 15;

}  // namespace

absl::StatusOr<std::unique_ptr<FullPrecisionKvCache>>
FullPrecisionKvCache::Create(const AttentionShape& shape,
                             const FullPrecisionKvCacheOptions& options) {
  CVQ_RETURN_IF_ERROR(ValidateAttentionShape(shape));
  if (options.block_tokens < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "block_tokens must be at least 1; got ", options.block_tokens));
  }
  CVQ_ASSIGN_OR_RETURN(Rope rope, Rope::Create(shape.head_dim, shape.rope_theta,
                                               shape.pair_layout));
  return std::unique_ptr<FullPrecisionKvCache>(
      new FullPrecisionKvCache(shape, std::move(rope), options));
}

FullPrecisionKvCache::FullPrecisionKvCache(
    const AttentionShape& shape, Rope rope,
    const FullPrecisionKvCacheOptions& options)
    : KvCache(shape),
      rope_(std::move(rope)),
      block_tokens_(options.block_tokens),
      key_floats_per_block_(int64_t{shape.num_kv_heads} * shape.head_dim *
                            options.block_tokens),
      pool_(options.pool),
      layers_(shape.num_layers) {}

int64_t FullPrecisionKvCache::length(int layer) const {
  return layers_[layer].length;
}

int64_t FullPrecisionKvCache::StoredBytes() const {
  int64_t blocks = 0;
  for (const Layer& layer : layers_) {
    blocks += static_cast<int64_t>(layer.blocks.size());
  }
  return blocks * block_floats() * static_cast<int64_t>(sizeof(float));
}

absl::Status FullPrecisionKvCache::DoAppend(int layer_index, const float* keys,
                                            const float* values,
                                            int64_t num_tokens) {
  Layer& layer = layers_[layer_index];
  const int kv_heads = shape().num_kv_heads;
  const int head_dim = shape().head_dim;
  const int64_t row_floats = int64_t{kv_heads} * head_dim;

  std::vector<int64_t> positions(num_tokens);
  for (int64_t i = 0; i < num_tokens; ++i) positions[i] = layer.length + i;
  std::vector<float> cos(num_tokens * rope_.num_pairs());
  std::vector<float> sin(cos.size());
  rope_.ComputeCosSin(positions, absl::MakeSpan(cos), absl::MakeSpan(sin));
  std::vector<float> rotated(keys, keys + num_tokens * row_floats);
  rope_.Rotate(cos, sin, kv_heads, absl::MakeSpan(rotated));

  for (int64_t i = 0; i < num_tokens; ++i) {
    const int64_t block_index = positions[i] / block_tokens_;
    const int64_t slot = positions[i] % block_tokens_;
    if (block_index == static_cast<int64_t>(layer.blocks.size())) {
      layer.blocks.emplace_back(block_floats());
    }
    float* block_keys = layer.blocks[block_index].data();
    float* block_values = block_keys + key_floats_per_block_;
    const float* key_row = &rotated[i * row_floats];
    const float* value_row = values + i * row_floats;
    for (int g = 0; g < kv_heads; ++g) {
      for (int d = 0; d < head_dim; ++d) {
        block_keys[(int64_t{g} * head_dim + d) * block_tokens_ + slot] =
            key_row[g * head_dim + d];
      }
      std::copy(value_row + g * head_dim, value_row + (g + 1) * head_dim,
                block_values + (g * block_tokens_ + slot) * head_dim);
    }
  }
  layer.length += num_tokens;
  return absl::OkStatus();
}

void FullPrecisionKvCache::AttendHead(const Layer& layer, int kv_head,
                                      const float* query, int64_t num_tokens,
                                      float* scores, float* out) const {
  const int head_dim = shape().head_dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  const int64_t num_blocks = (num_tokens + block_tokens_ - 1) / block_tokens_;

  for (int64_t b = 0; b < num_blocks; ++b) {
    const int64_t count =
        std::min(block_tokens_, num_tokens - b * block_tokens_);
    const float* keys =
        layer.blocks[b].data() + int64_t{kv_head} * head_dim * block_tokens_;
    float* block_scores = scores + b * block_tokens_;
    std::fill(block_scores, block_scores + count, 0.0f);
    for (int d = 0; d < head_dim; ++d) {
      const float q = query[d];
      const float* key_channel = keys + d * block_tokens_;
      for (int64_t j = 0; j < count; ++j) {
        block_scores[j] += q * key_channel[j];
      }
    }
    for (int64_t j = 0; j < count; ++j) block_scores[j] *= scale;
  }

  const float max_score = *std::max_element(scores, scores + num_tokens);
  float sum = 0.0f;
  for (int64_t j = 0; j < num_tokens; ++j) {
    scores[j] = std::exp(scores[j] - max_score);
    sum += scores[j];
  }

  std::fill(out, out + head_dim, 0.0f);
  for (int64_t b = 0; b < num_blocks; ++b) {
    const int64_t count =
        std::min(block_tokens_, num_tokens - b * block_tokens_);
    const float* values = layer.blocks[b].data() + key_floats_per_block_ +
                          int64_t{kv_head} * block_tokens_ * head_dim;
    for (int64_t j = 0; j < count; ++j) {
      const float weight = scores[b * block_tokens_ + j];
      const float* value = values + j * head_dim;
      for (int d = 0; d < head_dim; ++d) out[d] += weight * value[d];
    }
  }
  const float inverse_sum = 1.0f / sum;
  for (int d = 0; d < head_dim; ++d) out[d] *= inverse_sum;
}

absl::Status FullPrecisionKvCache::DoAttend(int layer_index,
                                            const float* queries,
                                            absl::Span<const int64_t> positions,
                                            float* out) const {
  const Layer& layer = layers_[layer_index];
  const int num_heads = shape().num_heads;
  const int head_dim = shape().head_dim;
  const int group_size = shape().group_size();
  const int64_t num_queries = static_cast<int64_t>(positions.size());
  const int num_pairs = rope_.num_pairs();

  std::vector<float> cos(num_queries * num_pairs);
  std::vector<float> sin(cos.size());
  rope_.ComputeCosSin(positions, absl::MakeSpan(cos), absl::MakeSpan(sin));

  // Positions increase, so the last query sees the most tokens.
  const int64_t max_tokens = positions.back() + 1;
  // One item per (query, head): item = i * num_heads + h, the row of `out`
  // it writes.
  const auto attend_items = [&](int64_t begin, int64_t end) {
    std::vector<float> query(head_dim);
    std::vector<float> scores(max_tokens);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t i = item / num_heads;
      const int h = static_cast<int>(item % num_heads);
      std::copy(queries + item * head_dim, queries + (item + 1) * head_dim,
                query.begin());
      rope_.RotateHead(&cos[i * num_pairs], &sin[i * num_pairs], query.data());
      AttendHead(layer, h / group_size, query.data(), positions[i] + 1,
                 scores.data(), out + item * head_dim);
    }
  };
  const int64_t num_items = num_queries * num_heads;
  if (pool_ == nullptr) {
    attend_items(0, num_items);
  } else {
    const int64_t work_per_item = 2 * max_tokens * head_dim;
    pool_->ParallelFor(0, num_items,
                       std::max<int64_t>(1, kMinWorkPerTask / work_per_item),
                       attend_items);
  }
  return absl::OkStatus();
}

absl::Status FullPrecisionKvCache::DoTruncate(int64_t length) {
  for (Layer& layer : layers_) {
    if (layer.length <= length) continue;
    layer.length = length;
    layer.blocks.resize((length + block_tokens_ - 1) / block_tokens_);
  }
  return absl::OkStatus();
}

}  // namespace commvq
