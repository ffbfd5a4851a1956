// k-means clustering for learned codebooks: a Codebook with exhaustive
// nearest-centroid search, and Lloyd's algorithm with k-means++
// initialization to train one.
//
// Training is deterministic: it depends on the points, the options and the
// Rng only, never on the number of threads of the pool (work is split per
// point and every sum over points runs serially, in point order).
#ifndef COMMVQ_QUANTIZER_KMEANS_H_
#define COMMVQ_QUANTIZER_KMEANS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace commvq {

class Rng;
class ThreadPool;

// An immutable set of `size` centroids of `dim` elements each.
class Codebook {
 public:
  // centroids: [size, dim] f32 row-major, finite; size >= 1, dim >= 1.
  Codebook(std::vector<float> centroids, int64_t dim);

  int64_t size() const { return size_; }
  int64_t dim() const { return dim_; }
  // [size, dim] row-major.
  const std::vector<float>& centroids() const { return centroids_; }
  // Centroid i: [dim]; 0 <= i < size.
  const float* centroid(int64_t i) const { return &centroids_[i * dim_]; }

  // Index of the centroid nearest to `x` ([dim], finite) in Euclidean
  // distance, searching all of them; ties go to the lowest index. Distances
  // are compared as ||c||^2 - 2 x.c in f32, so centroids whose distances
  // differ by about the f32 rounding of these terms count as tied. If
  // `squared_distance` is not null, receives ||x - c||^2 computed that way.
  int64_t Nearest(const float* x, float* squared_distance = nullptr) const;

 private:
  int64_t dim_;
  int64_t size_;
  std::vector<float> centroids_;
  // The search layout: tiles of kTile centroids, each tile [dim, kTile]
  // (element j of the tile's centroids side by side, so the search updates
  // kTile independent accumulators per element, which compilers vectorize).
  // The last tile is padded with zero centroids that never win.
  std::vector<float> tiles_;
  // 0.5 * ||c||^2 per tiled centroid; +inf for the padding.
  std::vector<float> half_squared_norms_;
};

struct KMeansOptions {
  int64_t num_clusters = 1;
  // Lloyd iterations (centroid updates) at most; training stops earlier when
  // an assignment step changes no assignment. 0 keeps the k-means++ seeds.
  int max_iterations = 20;
  // Not owned; null runs on the calling thread.
  ThreadPool* pool = nullptr;
};

struct KMeansResult {
  Codebook codebook;
  // [num_points]: Codebook::Nearest of each point in the final codebook.
  std::vector<int32_t> assignments;
  // Lloyd iterations run (<= max_iterations).
  int iterations = 0;
};

// Clusters `points` ([num_points, dim] f32 row-major, finite; dim >= 1):
// k-means++ seeding drawn from `rng` (not null; advanced), then Lloyd
// iterations. A cluster left empty by an update is re-seeded with the point
// whose distance to its centroid is largest. InvalidArgument if num_points is
// smaller than options.num_clusters or num_clusters is not in [1, 2^31).
absl::StatusOr<KMeansResult> TrainKMeans(const float* points,
                                         int64_t num_points, int64_t dim,
                                         const KMeansOptions& options,
                                         Rng* rng);

}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_KMEANS_H_
