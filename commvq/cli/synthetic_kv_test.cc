#include "commvq/cli/synthetic_kv.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace cli {
namespace {

using ::testing::Each;
using ::testing::SizeIs;

struct ChannelStats {
  std::vector<double> mean;
  std::vector<double> stddev;
};

ChannelStats StatsPerChannel(const std::vector<float>& x, int64_t tokens,
                             int64_t dim) {
  ChannelStats stats{std::vector<double>(dim), std::vector<double>(dim)};
  for (int64_t c = 0; c < dim; ++c) {
    double sum = 0.0, sum_squares = 0.0;
    for (int64_t t = 0; t < tokens; ++t) {
      sum += x[t * dim + c];
      sum_squares += static_cast<double>(x[t * dim + c]) * x[t * dim + c];
    }
    stats.mean[c] = sum / tokens;
    stats.stddev[c] =
        std::sqrt(sum_squares / tokens - stats.mean[c] * stats.mean[c]);
  }
  return stats;
}

double Median(std::vector<double> values) {
  std::nth_element(values.begin(), values.begin() + values.size() / 2,
                   values.end());
  return values[values.size() / 2];
}

constexpr SyntheticKvOptions kOptions{/*tokens=*/2048, /*num_kv_heads=*/3,
                                      /*head_dim=*/64, /*seed=*/7};

TEST(SyntheticKvTest, HasTheRequestedShape) {
  const SyntheticKv kv = GenerateSyntheticKv(kOptions);
  EXPECT_EQ(kv.tokens, 2048);
  EXPECT_EQ(kv.dim, 3 * 64);
  EXPECT_THAT(kv.keys, SizeIs(2048 * 3 * 64));
  EXPECT_THAT(kv.values, SizeIs(2048 * 3 * 64));
}

TEST(SyntheticKvTest, IsDeterministicForASeed) {
  const SyntheticKv a = GenerateSyntheticKv(kOptions);
  const SyntheticKv b = GenerateSyntheticKv(kOptions);
  EXPECT_EQ(a.keys, b.keys);
  EXPECT_EQ(a.values, b.values);
  EXPECT_EQ(a.key_outlier_channels, b.key_outlier_channels);

  SyntheticKvOptions other = kOptions;
  other.seed = 8;
  const SyntheticKv c = GenerateSyntheticKv(other);
  EXPECT_NE(a.keys, c.keys);
  EXPECT_NE(a.values, c.values);
}

TEST(SyntheticKvTest, KeysHaveAFewOutlierChannelsPerHead) {
  const SyntheticKv kv = GenerateSyntheticKv(kOptions);
  ASSERT_THAT(kv.key_outlier_channels, SizeIs(3 * kOutlierChannelsPerHead));
  for (int64_t head = 0; head < 3; ++head) {
    EXPECT_EQ(std::count_if(kv.key_outlier_channels.begin(),
                            kv.key_outlier_channels.end(),
                            [&](int64_t c) { return c / 64 == head; }),
              kOutlierChannelsPerHead)
        << "head " << head;
  }

  const ChannelStats stats = StatsPerChannel(kv.keys, kv.tokens, kv.dim);
  std::vector<double> ordinary_stddevs;
  for (int64_t c = 0; c < kv.dim; ++c) {
    const bool outlier = std::binary_search(kv.key_outlier_channels.begin(),
                                            kv.key_outlier_channels.end(), c);
    if (outlier) continue;
    ordinary_stddevs.push_back(stats.stddev[c]);
    EXPECT_LT(std::abs(stats.mean[c]), 2.0) << "channel " << c;
  }
  const double typical = Median(ordinary_stddevs);
  for (int64_t c : kv.key_outlier_channels) {
    EXPECT_GT(stats.stddev[c], 5.0 * typical) << "channel " << c;
    EXPECT_GT(std::abs(stats.mean[c]), 3.0 * typical) << "channel " << c;
  }
}

TEST(SyntheticKvTest, ValuesAreCenteredWithPerTokenScales) {
  const SyntheticKv kv = GenerateSyntheticKv(kOptions);
  const ChannelStats stats = StatsPerChannel(kv.values, kv.tokens, kv.dim);
  const double typical = Median(stats.stddev);
  for (int64_t c = 0; c < kv.dim; ++c) {
    EXPECT_LT(std::abs(stats.mean[c]), 0.2 * typical) << "channel " << c;
    EXPECT_LT(stats.stddev[c], 1.5 * typical) << "channel " << c;
  }

  std::vector<double> token_rms(kv.tokens);
  for (int64_t t = 0; t < kv.tokens; ++t) {
    double sum_squares = 0.0;
    for (int64_t c = 0; c < kv.dim; ++c) {
      sum_squares += static_cast<double>(kv.values[t * kv.dim + c]) *
                     kv.values[t * kv.dim + c];
    }
    token_rms[t] = std::sqrt(sum_squares / kv.dim);
  }
  const auto [lo, hi] = std::minmax_element(token_rms.begin(), token_rms.end());
  EXPECT_GT(*hi / *lo, 4.0);
  EXPECT_THAT(kv.values,
              Each(::testing::Truly([](float v) { return std::isfinite(v); })));
}

}  // namespace
}  // namespace cli
}  // namespace commvq
