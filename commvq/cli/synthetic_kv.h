// Synthetic KV-cache data for `commvq demo`: deterministic for a seed, and
// shaped like real LLM keys and values so the demo's errors mean something.
//
// Keys (pre-RoPE) have a few outlier channels per head with ~10x the scale
// of the others and a large nonzero mean, the structure that makes
// per-token integer quantization of keys hard. Values are roughly Gaussian
// with a per-token scale (some tokens carry much larger values than others).
#ifndef COMMVQ_CLI_SYNTHETIC_KV_H_
#define COMMVQ_CLI_SYNTHETIC_KV_H_

#include <cstdint>
#include <vector>

namespace commvq {
namespace cli {

// Outlier channels in each head's keys.
inline constexpr int kOutlierChannelsPerHead = 2;

struct SyntheticKvOptions {
  int64_t tokens = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  uint64_t seed = 0;
};

struct SyntheticKv {
  int64_t tokens = 0;
  int64_t dim = 0;  // num_kv_heads * head_dim: all heads of a token
  // [tokens, dim] row-major.
  std::vector<float> keys;
  std::vector<float> values;
  // Indices in [0, dim) of the key outlier channels, ascending.
  std::vector<int64_t> key_outlier_channels;
};

// Requires tokens >= 0, num_kv_heads >= 1 and head_dim >=
// kOutlierChannelsPerHead (checked by assert).
SyntheticKv GenerateSyntheticKv(const SyntheticKvOptions& options);

}  // namespace cli
}  // namespace commvq

#endif  // COMMVQ_CLI_SYNTHETIC_KV_H_
