#include "commvq/base/random.h"

#include <cassert>
#include <cmath>

namespace commvq {
namespace {

// splitmix64's output function: a bijection that scatters nearby inputs
// (seeds 0, 1, 2...) across all 64 bits.
uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9;
  x = (x ^ (x >> 27)) * 0x94d049bb133111eb;
  return x ^ (x >> 31);
}

}  // namespace

double Rng::Uniform() { return (NextU64() >> 11) * 0x1p-53; }

int64_t Rng::UniformInt(int64_t n) {
  assert(n >= 1);
  const uint64_t range = n;
  // Rejecting the lowest 2^64 mod n raw values leaves a multiple of n
  // equally likely values, so the remainder is exactly uniform.
  const uint64_t rejected = -range % range;
  uint64_t x;
  do {
    x = NextU64();
  } while (x < rejected);
  return x % range;
}

double Rng::Normal() {
  if (has_spare_normal_) {
    has_spare_normal_ = false;
    return spare_normal_;
  }
  // Draw a point in the unit disc from two signed 32-bit halves of one raw
  // value. Deciding acceptance in integers keeps the number of raw values
  // consumed identical on every platform, whatever its floating point does.
  int64_t x, y;
  uint64_t radius_squared;
  do {
    const uint64_t raw = NextU64();
    x = static_cast<int64_t>(raw >> 32) - (int64_t{1} << 31);
    y = static_cast<int64_t>(raw & 0xffffffff) - (int64_t{1} << 31);
    radius_squared =
        static_cast<uint64_t>(x * x) + static_cast<uint64_t>(y * y);
  } while (radius_squared == 0 || radius_squared >= (uint64_t{1} << 62));
  // With u = x / 2^31, v = y / 2^31 and s = u^2 + v^2 in (0, 1), u * f and
  // v * f are independent standard normals for f = sqrt(-2 ln(s) / s).
  const double s = radius_squared * 0x1p-62;
  const double factor = std::sqrt(-2.0 * std::log(s) / s) * 0x1p-31;
  spare_normal_ = y * factor;
  has_spare_normal_ = true;
  return x * factor;
}

void Rng::FillNormal(absl::Span<float> out, float mean, float stddev) {
  for (float& value : out) value = mean + stddev * Normal();
}

Rng Rng::Fork(uint64_t stream) const {
  return Rng(SplitMix64(seed_ ^ SplitMix64(stream)));
}

}  // namespace commvq
