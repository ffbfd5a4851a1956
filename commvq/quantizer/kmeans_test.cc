#include "commvq/quantizer/kmeans.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "commvq/base/random.h"
#include "commvq/base/status_matchers.h"
#include "commvq/base/thread_pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

double SquaredDistance(const float* a, const float* b, int64_t dim) {
  double sum = 0.0;
  for (int64_t j = 0; j < dim; ++j) {
    const double d = static_cast<double>(a[j]) - b[j];
    sum += d * d;
  }
  return sum;
}

std::vector<float> Normal(int64_t size, float stddev, uint64_t seed) {
  std::vector<float> values(size);
  Rng rng(seed);
  rng.FillNormal(absl::MakeSpan(values), 0.0f, stddev);
  return values;
}

// `per_cluster` points around each of `centres` ([num_centres, dim]), with
// noise of standard deviation `noise`, cluster after cluster.
std::vector<float> Clustered(const std::vector<float>& centres, int64_t dim,
                             int64_t per_cluster, float noise, uint64_t seed) {
  const int64_t num_centres = static_cast<int64_t>(centres.size()) / dim;
  std::vector<float> points =
      Normal(num_centres * per_cluster * dim, noise, seed);
  for (int64_t i = 0; i < num_centres * per_cluster; ++i) {
    for (int64_t j = 0; j < dim; ++j) {
      points[i * dim + j] += centres[(i / per_cluster) * dim + j];
    }
  }
  return points;
}

KMeansOptions Clusters(int64_t num_clusters, int max_iterations = 20,
                       ThreadPool* pool = nullptr) {
  KMeansOptions options;
  options.num_clusters = num_clusters;
  options.max_iterations = max_iterations;
  options.pool = pool;
  return options;
}

TEST(CodebookTest, NearestMatchesBruteForceSearch) {
  // 37 centroids: two full tiles of the search and a padded one.
  constexpr int64_t kDim = 5;
  constexpr int64_t kSize = 37;
  const Codebook codebook(Normal(kSize * kDim, 1.0f, 1), kDim);
  ASSERT_EQ(codebook.size(), kSize);
  const std::vector<float> queries = Normal(500 * kDim, 1.5f, 2);
  for (int64_t i = 0; i < 500; ++i) {
    const float* x = &queries[i * kDim];
    int64_t best = 0;
    for (int64_t c = 1; c < kSize; ++c) {
      if (SquaredDistance(x, codebook.centroid(c), kDim) <
          SquaredDistance(x, codebook.centroid(best), kDim)) {
        best = c;
      }
    }
    float distance = -1.0f;
    EXPECT_EQ(codebook.Nearest(x, &distance), best) << "query " << i;
    EXPECT_NEAR(distance, SquaredDistance(x, codebook.centroid(best), kDim),
                1e-4)
        << "query " << i;
  }
}

TEST(CodebookTest, TiesGoToTheLowestIndex) {
  const Codebook codebook({1.0f, -1.0f, 1.0f, 3.0f}, 1);
  const float between = 0.0f;
  const float at_duplicate = 1.0f;
  EXPECT_EQ(codebook.Nearest(&between), 0);
  EXPECT_EQ(codebook.Nearest(&at_duplicate), 0);
  const float far_right = 100.0f;
  EXPECT_EQ(codebook.Nearest(&far_right), 3);
}

TEST(KMeansTest, FindsWellSeparatedClustersAndStopsEarly) {
  constexpr int64_t kDim = 4;
  const std::vector<float> centres = Normal(8 * kDim, 10.0f, 3);
  const std::vector<float> points = Clustered(centres, kDim, 50, 0.01f, 4);
  Rng rng(5);
  CVQ_ASSERT_OK_AND_ASSIGN(
      KMeansResult result,
      TrainKMeans(points.data(), 400, kDim, Clusters(8, 100), &rng));
  EXPECT_LT(result.iterations, 100);
  // Every cluster of points lands on one centroid, a different one each.
  std::vector<int32_t> centroid_of_cluster;
  for (int64_t cluster = 0; cluster < 8; ++cluster) {
    const int32_t centroid = result.assignments[cluster * 50];
    for (int64_t i = cluster * 50; i < (cluster + 1) * 50; ++i) {
      EXPECT_EQ(result.assignments[i], centroid) << "point " << i;
    }
    EXPECT_LT(SquaredDistance(result.codebook.centroid(centroid),
                              &centres[cluster * kDim], kDim),
              1e-3);
    EXPECT_THAT(centroid_of_cluster,
                ::testing::Not(::testing::Contains(centroid)));
    centroid_of_cluster.push_back(centroid);
  }
}

TEST(KMeansTest, AssignmentsAreTheNearestCentroidsOfTheResult) {
  constexpr int64_t kDim = 3;
  const std::vector<float> points = Normal(300 * kDim, 1.0f, 6);
  for (int max_iterations : {0, 1, 20}) {
    Rng rng(7);
    CVQ_ASSERT_OK_AND_ASSIGN(KMeansResult result,
                             TrainKMeans(points.data(), 300, kDim,
                                         Clusters(10, max_iterations), &rng));
    EXPECT_LE(result.iterations, max_iterations);
    for (int64_t i = 0; i < 300; ++i) {
      EXPECT_EQ(result.assignments[i],
                result.codebook.Nearest(&points[i * kDim]))
          << "point " << i << ", max_iterations " << max_iterations;
    }
  }
}

TEST(KMeansTest, ZeroIterationsKeepsDistinctKMeansPlusPlusSeeds) {
  constexpr int64_t kDim = 2;
  const std::vector<float> points = Normal(50 * kDim, 1.0f, 8);
  Rng rng(9);
  CVQ_ASSERT_OK_AND_ASSIGN(
      KMeansResult result,
      TrainKMeans(points.data(), 50, kDim, Clusters(50, 0), &rng));
  EXPECT_EQ(result.iterations, 0);
  // With as many clusters as points, every point is drawn exactly once: a
  // point already chosen has distance 0 and is never drawn again.
  const Codebook points_as_codebook(points, kDim);
  std::vector<int> times_chosen(50, 0);
  for (int64_t c = 0; c < 50; ++c) {
    const int64_t nearest =
        points_as_codebook.Nearest(result.codebook.centroid(c));
    EXPECT_EQ(SquaredDistance(&points[nearest * kDim],
                              result.codebook.centroid(c), kDim),
              0.0);
    ++times_chosen[nearest];
  }
  EXPECT_EQ(times_chosen, std::vector<int>(50, 1));
}

TEST(KMeansTest, LloydIterationsReduceTheErrorOfTheSeeds) {
  constexpr int64_t kDim = 4;
  const std::vector<float> points = Normal(1000 * kDim, 1.0f, 10);
  double previous = std::numeric_limits<double>::infinity();
  for (int max_iterations : {0, 2, 20}) {
    Rng rng(11);  // the same seeds each time
    CVQ_ASSERT_OK_AND_ASSIGN(KMeansResult result,
                             TrainKMeans(points.data(), 1000, kDim,
                                         Clusters(16, max_iterations), &rng));
    double error = 0.0;
    for (int64_t i = 0; i < 1000; ++i) {
      error += SquaredDistance(&points[i * kDim],
                               result.codebook.centroid(result.assignments[i]),
                               kDim);
    }
    EXPECT_LT(error, previous) << "max_iterations " << max_iterations;
    previous = error;
  }
}

TEST(KMeansTest, DeterministicAndIndependentOfTheThreadCount) {
  constexpr int64_t kDim = 8;
  const std::vector<float> points = Normal(3000 * kDim, 1.0f, 12);
  ThreadPool pool(4);
  std::vector<KMeansResult> results;
  for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool, &pool}) {
    Rng rng(13);
    CVQ_ASSERT_OK_AND_ASSIGN(
        KMeansResult result,
        TrainKMeans(points.data(), 3000, kDim, Clusters(64, 20, p), &rng));
    results.push_back(std::move(result));
  }
  for (const KMeansResult& result : results) {
    EXPECT_EQ(result.codebook.centroids(), results[0].codebook.centroids());
    EXPECT_EQ(result.assignments, results[0].assignments);
    EXPECT_EQ(result.iterations, results[0].iterations);
  }
  Rng other_seed(14);
  CVQ_ASSERT_OK_AND_ASSIGN(
      KMeansResult other,
      TrainKMeans(points.data(), 3000, kDim, Clusters(64), &other_seed));
  EXPECT_NE(other.codebook.centroids(), results[0].codebook.centroids());
}

TEST(KMeansTest, MoreClustersThanDistinctPointsStayFinite) {
  // Two distinct points, 50 copies each, in three clusters: one cluster is
  // always empty and keeps being re-seeded.
  std::vector<float> points(100);
  for (int64_t i = 0; i < 100; ++i) points[i] = i % 2 == 0 ? -1.0f : 2.0f;
  Rng rng(15);
  CVQ_ASSERT_OK_AND_ASSIGN(
      KMeansResult result,
      TrainKMeans(points.data(), 100, 1, Clusters(3), &rng));
  for (float centroid : result.codebook.centroids()) {
    EXPECT_TRUE(centroid == -1.0f || centroid == 2.0f) << centroid;
  }
  for (int64_t i = 0; i < 100; ++i) {
    EXPECT_EQ(*result.codebook.centroid(result.assignments[i]), points[i]);
  }
}

TEST(KMeansTest, RejectsTooFewPointsAndBadSizes) {
  const std::vector<float> points = Normal(5 * 2, 1.0f, 16);
  Rng rng(17);
  EXPECT_THAT(TrainKMeans(points.data(), 5, 2, Clusters(8), &rng),
              StatusIs(kInvalid, HasSubstr("5 points are fewer than the 8 "
                                           "clusters")));
  EXPECT_THAT(TrainKMeans(points.data(), 5, 2, Clusters(0), &rng),
              StatusIs(kInvalid, HasSubstr("num_clusters is 0")));
  EXPECT_THAT(TrainKMeans(points.data(), 5, 0, Clusters(2), &rng),
              StatusIs(kInvalid, HasSubstr("dim is 0")));
}

}  // namespace
}  // namespace commvq
