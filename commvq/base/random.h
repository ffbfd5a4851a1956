// Deterministic seeded random numbers for tests, benchmarks and codebook
// initialization: the same seed gives the same stream everywhere.
//
// std::mt19937_64's output is fixed by the C++ standard, but the standard
// distributions (std::normal_distribution, std::uniform_int_distribution...)
// are implementation-defined, so every distribution here is our own.
// NextU64, Uniform and UniformInt are bit-exact on every platform. Normal
// draws the same uniforms everywhere but calls std::log, which math libraries
// do not all round identically, so its last bits may differ across libms.
#ifndef COMMVQ_BASE_RANDOM_H_
#define COMMVQ_BASE_RANDOM_H_

#include <cstdint>
#include <random>

#include "absl/types/span.h"

namespace commvq {

// Not thread-safe; give each thread its own Rng (see Fork).
class Rng {
 public:
  explicit Rng(uint64_t seed) : seed_(seed), engine_(seed) {}

  // The next raw output of std::mt19937_64 seeded with `seed`.
  uint64_t NextU64() { return engine_(); }

  // Uniform in [0, 1): the top 53 bits of one NextU64, scaled by 2^-53.
  double Uniform();

  // Uniform in [0, n) without modulo bias. Requires n >= 1.
  int64_t UniformInt(int64_t n);

  // Standard normal (mean 0, variance 1), by the Marsaglia polar method.
  double Normal();

  // Fills `out` with mean + stddev * Normal(), rounded to float.
  void FillNormal(absl::Span<float> out, float mean, float stddev);

  // A generator for sub-stream `stream`, seeded from this generator's seed
  // and `stream` only (not from how far this one has advanced), so work split
  // over threads or shards can draw reproducible, unrelated streams.
  Rng Fork(uint64_t stream) const;

 private:
  uint64_t seed_;
  std::mt19937_64 engine_;
  // The polar method yields normals in pairs; the second waits here.
  bool has_spare_normal_ = false;
  double spare_normal_ = 0.0;
};

}  // namespace commvq

#endif  // COMMVQ_BASE_RANDOM_H_
