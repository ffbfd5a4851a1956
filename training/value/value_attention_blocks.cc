#include "training/value/value_attention_blocks.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "commvq/base/thread_pool.h"
#include "commvq/eval/exact_attention.h"
#include "commvq/kvcache/rope.h"

namespace commvq {
namespace {

// x ([n, heads, head_dim]) with RoPE at positions 0..n-1.
std::vector<float> Rotated(const Rope& rope, const float* x, int64_t n,
                           int64_t heads) {
  std::vector<float> out(x, x + n * heads * rope.head_dim());
  RotateSequence(rope, n, heads, out);
  return out;
}

}  // namespace

std::vector<int64_t> EvenBlockStarts(int64_t tokens, int64_t window,
                                     int64_t count) {
  std::vector<int64_t> starts;
  if (window > tokens || count < 1) return starts;
  const int64_t blocks = std::min(count, tokens / window);
  const int64_t span = tokens - window;
  for (int64_t b = 0; b < blocks; ++b) {
    starts.push_back(blocks == 1 ? 0 : b * span / (blocks - 1));
  }
  return starts;
}

absl::StatusOr<ValueAttentionData> BuildValueAttentionData(
    const float* queries, const float* keys, const float* values,
    int64_t tokens, int64_t num_heads, int64_t num_kv_heads, const Rope& rope,
    const std::vector<int64_t>& starts, int64_t window, ThreadPool* pool) {
  if (num_kv_heads < 1 || num_heads < 1 || num_heads % num_kv_heads != 0 ||
      window < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "attention blocks: ", num_heads, " query heads, ", num_kv_heads,
        " KV heads, window ", window,
        ": expected query heads a multiple of KV heads and window >= 1"));
  }
  for (int64_t start : starts) {
    if (start < 0 || start + window > tokens) {
      return absl::InvalidArgumentError(
          absl::StrCat("attention blocks: block [", start, ", ", start + window,
                       ") is not within the ", tokens, " tokens"));
    }
  }
  ValueAttentionData data;
  data.num_heads = num_heads;
  data.num_kv_heads = num_kv_heads;
  data.head_dim = rope.head_dim();
  data.window = window;
  data.blocks.resize(starts.size());
  const int64_t hd = data.head_dim;
  const int64_t dim = data.dim();
  const int64_t group = num_heads / num_kv_heads;
  const std::vector<float> q = Rotated(rope, queries, tokens, num_heads);
  const std::vector<float> k = Rotated(rope, keys, tokens, num_kv_heads);
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  const auto run = [&](int64_t first, int64_t last) {
    std::vector<double> p, o(hd);
    for (int64_t b = first; b < last; ++b) {
      ValueAttentionBlock& block = data.blocks[b];
      const int64_t start = starts[b];
      block.values.assign(values + start * dim,
                          values + (start + window) * dim);
      block.probs.assign(num_heads * window * window, 0.0f);
      for (int64_t h = 0; h < num_heads; ++h) {
        const int64_t offset = (h / group) * hd;
        for (int64_t i = 0; i < window; ++i) {
          const int64_t pos = start + i;
          const float* qi = &q[(pos * num_heads + h) * hd];
          p.resize(pos + 1);
          ExactAttention(qi, &k[offset], values + offset, pos + 1, hd, dim,
                         scale, p.data(), o.data());
          for (double oc : o) block.output_energy += oc * oc;
          float* row = &block.probs[(h * window + i) * window];
          for (int64_t t = 0; t <= i; ++t) {
            row[t] = static_cast<float>(p[start + t]);
          }
        }
      }
    }
  };
  const int64_t n = static_cast<int64_t>(starts.size());
  if (pool == nullptr) {
    run(0, n);
  } else {
    pool->ParallelFor(0, n, 1, run);
  }
  return data;
}

}  // namespace commvq
