#include "commvq/quantizer/commvq_key/key_score_filter.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "commvq/base/random.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

// Both builds keep every row minimum within the error bound that
// structured_encode.h states (the encoder uses 4 times it), for values
// that are and are not a multiple of the lane count.
TEST(KeyScoreFilterTest, RowMinimaWithinTheStatedBoundOnEveryBuild) {
  for (int values : {2, 16, 64, 128}) {
    SCOPED_TRACE(values);
    const int64_t pairs = 64;
    const int padded =
        (values + kKeyFilterLanes - 1) / kKeyFilterLanes * kKeyFilterLanes;
    Rng rng(values);
    std::vector<float> x(pairs * values), y(pairs * values);
    rng.FillNormal(absl::MakeSpan(x), 0.0f, 0.1f);
    rng.FillNormal(absl::MakeSpan(y), 0.0f, 0.1f);
    std::vector<float> r1(pairs), r2(pairs);
    rng.FillNormal(absl::MakeSpan(r1), 0.0f, 0.1f);
    rng.FillNormal(absl::MakeSpan(r2), 0.0f, 0.1f);

    // Exact (double) terms and the padded f32 tables.
    std::vector<double> norms(values, 0.0), cross(values * values, 0.0);
    std::vector<double> f(values, 0.0), g(values, 0.0);
    std::vector<float> xt(pairs * padded, 0.0f), yt(pairs * padded, 0.0f);
    double r_norm2 = 0.0;
    for (int64_t j = 0; j < pairs; ++j) {
      r_norm2 += double{r1[j]} * r1[j] + double{r2[j]} * r2[j];
      for (int a = 0; a < values; ++a) {
        const double xa = x[j * values + a], ya = y[j * values + a];
        xt[j * padded + a] = x[j * values + a];
        yt[j * padded + a] = y[j * values + a];
        norms[a] += xa * xa + ya * ya;
        f[a] += r1[j] * xa + r2[j] * ya;
        g[a] += r2[j] * xa - r1[j] * ya;
        for (int b = 0; b < values; ++b) {
          cross[a * values + b] +=
              2.0 * (ya * x[j * values + b] - xa * y[j * values + b]);
        }
      }
    }
    std::vector<float> norms_f(padded, std::numeric_limits<float>::infinity());
    std::vector<float> cross_f(values * padded, 0.0f);
    double max_norm2 = 0.0, max_cross = 0.0;
    for (int a = 0; a < values; ++a) {
      norms_f[a] = static_cast<float>(norms[a]);
      max_norm2 = std::max(max_norm2, norms[a]);
      for (int b = 0; b < values; ++b) {
        cross_f[a * padded + b] = static_cast<float>(cross[a * values + b]);
        max_cross = std::max(max_cross, std::abs(cross[a * values + b]));
      }
    }
    const double bound =
        (2 * pairs + 16) * std::ldexp(1.0, -24) *
        (2.0 * (max_norm2 + 2.0 * std::sqrt(r_norm2 * max_norm2)) + max_cross);

    for (KeyFilterFn filter : {&KeyFilterBaseline, PickKeyFilter()}) {
      std::vector<float> fa(padded), gb(padded), row_best(values);
      const KeyFilterArgs args{pairs,          values,    padded,
                               xt.data(),      yt.data(), norms_f.data(),
                               cross_f.data(), r1.data(), r2.data(),
                               fa.data(),      gb.data(), row_best.data()};
      const float best = filter(args);
      double exact_best = std::numeric_limits<double>::infinity();
      float min_row = std::numeric_limits<float>::infinity();
      for (int a = 0; a < values; ++a) {
        double exact_row = std::numeric_limits<double>::infinity();
        for (int b = 0; b < values; ++b) {
          exact_row =
              std::min(exact_row, norms[a] - 2.0 * f[a] + norms[b] -
                                      2.0 * g[b] + cross[a * values + b]);
        }
        EXPECT_NEAR(row_best[a], exact_row, bound) << "row " << a;
        exact_best = std::min(exact_best, exact_row);
        min_row = std::min(min_row, row_best[a]);
      }
      EXPECT_EQ(best, min_row);
      EXPECT_NEAR(best, exact_best, bound);
    }
  }
}

}  // namespace
}  // namespace commvq
