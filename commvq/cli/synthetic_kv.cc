#include "commvq/cli/synthetic_kv.h"

#include <algorithm>
#include <cassert>
#include <cmath>

#include "commvq/base/random.h"

namespace commvq {
namespace cli {
namespace {

// Scales and means, in units of a typical channel's standard deviation.
constexpr double kOutlierScale = 10.0;
constexpr double kOutlierMeanMin = 5.0;
constexpr double kOutlierMeanMax = 15.0;
constexpr double kNormalMeanStddev = 0.3;
// Spread of log(per-token value scale).
constexpr double kValueLogScaleStddev = 0.5;

// Independent streams, so changing how one tensor is drawn leaves the
// other unchanged.
enum Stream : uint64_t { kChannelStream = 0, kKeyStream = 1, kValueStream = 2 };

}  // namespace

SyntheticKv GenerateSyntheticKv(const SyntheticKvOptions& options) {
  assert(options.tokens >= 0 && options.num_kv_heads >= 1 &&
         options.head_dim >= kOutlierChannelsPerHead);
  SyntheticKv kv;
  kv.tokens = options.tokens;
  kv.dim = options.num_kv_heads * options.head_dim;
  const Rng root(options.seed);

  // Per-channel key statistics: ordinary channels vary a little in scale
  // and mean; each head gets a few distinct outlier channels.
  Rng channel_rng = root.Fork(kChannelStream);
  std::vector<double> key_mean(kv.dim), key_scale(kv.dim);
  for (int64_t c = 0; c < kv.dim; ++c) {
    key_scale[c] = 0.5 + channel_rng.Uniform();
    key_mean[c] = kNormalMeanStddev * channel_rng.Normal();
  }
  for (int64_t head = 0; head < options.num_kv_heads; ++head) {
    const int64_t first = head * options.head_dim;
    int chosen = 0;
    while (chosen < kOutlierChannelsPerHead) {
      const int64_t c = first + channel_rng.UniformInt(options.head_dim);
      if (std::find(kv.key_outlier_channels.begin(),
                    kv.key_outlier_channels.end(),
                    c) != kv.key_outlier_channels.end()) {
        continue;
      }
      kv.key_outlier_channels.push_back(c);
      const double sign = channel_rng.Uniform() < 0.5 ? -1.0 : 1.0;
      key_scale[c] = kOutlierScale;
      key_mean[c] =
          sign * (kOutlierMeanMin +
                  (kOutlierMeanMax - kOutlierMeanMin) * channel_rng.Uniform());
      ++chosen;
    }
  }
  std::sort(kv.key_outlier_channels.begin(), kv.key_outlier_channels.end());

  kv.keys.resize(kv.tokens * kv.dim);
  Rng key_rng = root.Fork(kKeyStream);
  for (int64_t t = 0; t < kv.tokens; ++t) {
    for (int64_t c = 0; c < kv.dim; ++c) {
      kv.keys[t * kv.dim + c] =
          static_cast<float>(key_mean[c] + key_scale[c] * key_rng.Normal());
    }
  }

  kv.values.resize(kv.tokens * kv.dim);
  Rng value_rng = root.Fork(kValueStream);
  for (int64_t t = 0; t < kv.tokens; ++t) {
    const double scale = std::exp(kValueLogScaleStddev * value_rng.Normal());
    for (int64_t c = 0; c < kv.dim; ++c) {
      kv.values[t * kv.dim + c] =
          static_cast<float>(scale * value_rng.Normal());
    }
  }
  return kv;
}

}  // namespace cli
}  // namespace commvq
