#include "commvq/quantizer/kmeans.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "commvq/base/random.h"
#include "commvq/base/thread_pool.h"

namespace commvq {
namespace {

// Centroids searched side by side by Codebook::Nearest: 16 f32 lanes fill
// whole SSE/AVX/AVX-512 registers.
constexpr int64_t kTile = 16;

// Multiply-adds below which a parallel task costs more to schedule than it
// saves.
constexpr int64_t kMinWorkPerTask = int64_t{1} << 16;

// Runs fn(begin, end) over contiguous ranges covering [0, num_points), on
// `pool` when there is one. `work_per_point` (multiply-adds) sizes the
// ranges. Callers write per-point results only, so the split (which depends
// on the thread count) cannot change them.
void ForEachPointRange(ThreadPool* pool, int64_t num_points,
                       int64_t work_per_point,
                       const std::function<void(int64_t, int64_t)>& fn) {
  if (pool == nullptr) {
    fn(0, num_points);
    return;
  }
  pool->ParallelFor(0, num_points,
                    kMinWorkPerTask / std::max<int64_t>(1, work_per_point), fn);
}

float SquaredDistance(const float* a, const float* b, int64_t dim) {
  float sum = 0.0f;
  for (int64_t j = 0; j < dim; ++j) {
    const float d = a[j] - b[j];
    sum += d * d;
  }
  return sum;
}

// Index i drawn with probability weights[i] / total, where total (> 0,
// finite) is the sum of the non-negative weights; never a zero weight.
int64_t SampleProportionally(absl::Span<const float> weights, double total,
                             Rng* rng) {
  const double target = rng->Uniform() * total;
  double cumulative = 0.0;
  int64_t last_positive = 0;
  for (int64_t i = 0; i < static_cast<int64_t>(weights.size()); ++i) {
    if (weights[i] <= 0.0f) continue;
    cumulative += weights[i];
    last_positive = i;
    if (cumulative > target) return i;
  }
  // Rounding left the running sum just short of `target`.
  return last_positive;
}

// k-means++: the first seed is a uniformly drawn point, each further seed a
// point drawn with probability proportional to its squared distance to the
// nearest seed so far (uniformly once every point coincides with a seed).
Codebook SeedKMeansPlusPlus(const float* points, int64_t num_points,
                            int64_t dim, int64_t num_clusters, ThreadPool* pool,
                            Rng* rng) {
  std::vector<float> seeds(num_clusters * dim);
  std::vector<float> distances(num_points,
                               std::numeric_limits<float>::infinity());
  int64_t chosen = rng->UniformInt(num_points);
  for (int64_t c = 0;; ++c) {
    float* seed = &seeds[c * dim];
    std::copy_n(points + chosen * dim, dim, seed);
    if (c + 1 == num_clusters) break;
    ForEachPointRange(pool, num_points, dim, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        distances[i] = std::min(distances[i],
                                SquaredDistance(points + i * dim, seed, dim));
      }
    });
    double total = 0.0;
    for (float d : distances) total += d;
    chosen = total > 0.0 && std::isfinite(total)
                 ? SampleProportionally(distances, total, rng)
                 : rng->UniformInt(num_points);
  }
  return Codebook(std::move(seeds), dim);
}

// Assigns every point to its nearest centroid and records the squared
// distance in (*errors)[i]; returns how many assignments changed.
// assignments, errors: [num_points].
int64_t AssignPoints(const Codebook& codebook, const float* points,
                     int64_t num_points, ThreadPool* pool,
                     std::vector<int32_t>* assignments,
                     std::vector<float>* errors) {
  std::vector<uint8_t> changed(num_points);
  const int64_t dim = codebook.dim();
  ForEachPointRange(pool, num_points, codebook.size() * dim,
                    [&](int64_t begin, int64_t end) {
                      for (int64_t i = begin; i < end; ++i) {
                        const auto nearest = static_cast<int32_t>(
                            codebook.Nearest(points + i * dim, &(*errors)[i]));
                        changed[i] = nearest != (*assignments)[i];
                        (*assignments)[i] = nearest;
                      }
                    });
  return std::count(changed.begin(), changed.end(), 1);
}

// The Lloyd update: each centroid moves to the mean of its points (summed
// serially in point order, so the result does not depend on threads). A
// cluster without points takes the point with the largest error instead,
// whose error then drops to 0 so that the next empty cluster takes another.
// assignments, errors: [num_points] from AssignPoints.
Codebook UpdateCentroids(const Codebook& codebook, const float* points,
                         int64_t num_points,
                         absl::Span<const int32_t> assignments,
                         std::vector<float>* errors) {
  const int64_t dim = codebook.dim();
  const int64_t num_clusters = codebook.size();
  std::vector<double> sums(num_clusters * dim, 0.0);
  std::vector<int64_t> counts(num_clusters, 0);
  for (int64_t i = 0; i < num_points; ++i) {
    double* sum = &sums[assignments[i] * dim];
    ++counts[assignments[i]];
    for (int64_t j = 0; j < dim; ++j) sum[j] += points[i * dim + j];
  }
  std::vector<float> centroids(num_clusters * dim);
  for (int64_t c = 0; c < num_clusters; ++c) {
    float* centroid = &centroids[c * dim];
    if (counts[c] == 0) {
      const auto farthest =
          std::max_element(errors->begin(), errors->end()) - errors->begin();
      (*errors)[farthest] = 0.0f;
      std::copy_n(points + farthest * dim, dim, centroid);
      continue;
    }
    for (int64_t j = 0; j < dim; ++j) {
      centroid[j] = static_cast<float>(sums[c * dim + j] / counts[c]);
    }
  }
  return Codebook(std::move(centroids), dim);
}

}  // namespace

Codebook::Codebook(std::vector<float> centroids, int64_t dim)
    : dim_(dim), centroids_(std::move(centroids)) {
  size_ = static_cast<int64_t>(centroids_.size()) / dim_;
  const int64_t num_tiles = (size_ + kTile - 1) / kTile;
  tiles_.assign(num_tiles * dim_ * kTile, 0.0f);
  half_squared_norms_.assign(num_tiles * kTile,
                             std::numeric_limits<float>::infinity());
  for (int64_t i = 0; i < size_; ++i) {
    float* tile = &tiles_[i / kTile * dim_ * kTile];
    float squared_norm = 0.0f;
    for (int64_t j = 0; j < dim_; ++j) {
      const float value = centroids_[i * dim_ + j];
      tile[j * kTile + i % kTile] = value;
      squared_norm += value * value;
    }
    half_squared_norms_[i] = 0.5f * squared_norm;
  }
}

int64_t Codebook::Nearest(const float* x, float* squared_distance) const {
  // argmin ||x - c||^2 = argmin (0.5 ||c||^2 - x.c): one multiply-add per
  // element and centroid, ||x||^2 being the same for every centroid.
  float best = std::numeric_limits<float>::infinity();
  int64_t best_index = 0;
  for (int64_t first = 0; first < size_; first += kTile) {
    const float* tile = &tiles_[first * dim_];
    // Fully unrolled, these loops keep `scores` in vector registers across
    // the element loop (about 3x faster at -O2 than a loop over memory).
    float scores[kTile];
#pragma GCC unroll 16
    for (int64_t l = 0; l < kTile; ++l) {
      scores[l] = half_squared_norms_[first + l];
    }
    for (int64_t j = 0; j < dim_; ++j) {
      const float xj = x[j];
      const float* lanes = tile + j * kTile;
#pragma GCC unroll 16
      for (int64_t l = 0; l < kTile; ++l) scores[l] -= xj * lanes[l];
    }
    // Strictly smaller only, in index order: ties go to the lowest index,
    // and the padding's +inf never wins.
    for (int64_t l = 0; l < kTile; ++l) {
      if (scores[l] < best) {
        best = scores[l];
        best_index = first + l;
      }
    }
  }
  if (squared_distance != nullptr) {
    float x_squared_norm = 0.0f;
    for (int64_t j = 0; j < dim_; ++j) x_squared_norm += x[j] * x[j];
    // Rounding can take the expanded form slightly below 0.
    *squared_distance = std::max(0.0f, x_squared_norm + 2.0f * best);
  }
  return best_index;
}

absl::StatusOr<KMeansResult> TrainKMeans(const float* points,
                                         int64_t num_points, int64_t dim,
                                         const KMeansOptions& options,
                                         Rng* rng) {
  const int64_t num_clusters = options.num_clusters;
  if (num_clusters < 1 || num_clusters > std::numeric_limits<int32_t>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat("k-means: num_clusters is ", num_clusters,
                     ": expected 1 to ", std::numeric_limits<int32_t>::max()));
  }
  if (dim < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("k-means: dim is ", dim, ": expected at least 1"));
  }
  if (num_points < num_clusters) {
    return absl::InvalidArgumentError(absl::StrCat(
        "k-means: ", num_points, " points are fewer than the ", num_clusters,
        " clusters: expected at least one point per cluster"));
  }
  Codebook codebook = SeedKMeansPlusPlus(points, num_points, dim, num_clusters,
                                         options.pool, rng);
  // -1: no point starts assigned, so the first assignment changes all.
  std::vector<int32_t> assignments(num_points, -1);
  std::vector<float> errors(num_points);
  AssignPoints(codebook, points, num_points, options.pool, &assignments,
               &errors);
  int iterations = 0;
  while (iterations < options.max_iterations) {
    codebook =
        UpdateCentroids(codebook, points, num_points, assignments, &errors);
    ++iterations;
    if (AssignPoints(codebook, points, num_points, options.pool, &assignments,
                     &errors) == 0) {
      break;
    }
  }
  return KMeansResult{std::move(codebook), std::move(assignments), iterations};
}

}  // namespace commvq
