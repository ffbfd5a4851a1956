#include "commvq/quantizer/commvq_key/key_score_filter.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace commvq {
namespace {

// GCC/Clang vector extension: the same source compiles to SSE or AVX
// depending on the function's target (each lane is its own plain sum).
// Kept to locals of the kernel (never a parameter or return value, whose
// ABI would differ between the two builds).
typedef float Vec8 __attribute__((vector_size(32)));

// The f32 scores of all codes, reduced to each row's minimum; returns the
// smallest.
inline float FilterKernel(const KeyFilterArgs& args) {
  for (int v0 = 0; v0 < args.padded; v0 += kKeyFilterLanes) {
    // Separate variables (not arrays) keep the accumulators in registers.
    Vec8 f0 = {}, f1 = {}, g0 = {}, g1 = {};
    for (int64_t j = 0; j < args.pairs; ++j) {
      const float p = args.r1[j];
      const float q = args.r2[j];
      const float* x = args.xt + j * args.padded + v0;
      const float* y = args.yt + j * args.padded + v0;
      Vec8 x0, x1, y0, y1;
      std::memcpy(&x0, x, sizeof(Vec8));
      std::memcpy(&x1, x + 8, sizeof(Vec8));
      std::memcpy(&y0, y, sizeof(Vec8));
      std::memcpy(&y1, y + 8, sizeof(Vec8));
      f0 += p * x0 + q * y0;
      f1 += p * x1 + q * y1;
      g0 += q * x0 - p * y0;
      g1 += q * x1 - p * y1;
    }
    Vec8 n0, n1;
    std::memcpy(&n0, args.norms + v0, sizeof(Vec8));
    std::memcpy(&n1, args.norms + v0 + 8, sizeof(Vec8));
    const Vec8 fa0 = n0 - 2.0f * f0;
    const Vec8 fa1 = n1 - 2.0f * f1;
    const Vec8 gb0 = n0 - 2.0f * g0;
    const Vec8 gb1 = n1 - 2.0f * g1;
    std::memcpy(args.fa + v0, &fa0, sizeof(Vec8));
    std::memcpy(args.fa + v0 + 8, &fa1, sizeof(Vec8));
    std::memcpy(args.gb + v0, &gb0, sizeof(Vec8));
    std::memcpy(args.gb + v0 + 8, &gb1, sizeof(Vec8));
  }
  float best = std::numeric_limits<float>::infinity();
  for (int a = 0; a < args.values; ++a) {
    const float* row = args.cross + a * args.padded;
    const float inf = std::numeric_limits<float>::infinity();
    Vec8 m = {inf, inf, inf, inf, inf, inf, inf, inf};
    for (int b0 = 0; b0 < args.padded; b0 += 8) {
      Vec8 gb;
      Vec8 cross;
      std::memcpy(&gb, args.gb + b0, sizeof(Vec8));
      std::memcpy(&cross, row + b0, sizeof(Vec8));
      const Vec8 s = gb + cross;
      m = s < m ? s : m;
    }
    // Horizontal minimum: exact in any order, and once per row only, so
    // plain lane reads (portable to GCC and clang) cost nothing measurable.
    float row_min = m[0];
    for (int lane = 1; lane < 8; ++lane) row_min = std::min(row_min, m[lane]);
    args.row_best[a] = args.fa[a] + row_min;
    best = std::min(best, args.row_best[a]);
  }
  return best;
}

#if defined(__x86_64__) && defined(__GNUC__)
#define CVQ_KEY_FILTER_HAS_AVX2 1
// `flatten` inlines the whole kernel, so all of it is compiled for AVX2 and
// FMA. No -mavx2 for the file: nothing else may use AVX2 instructions.
// Dispatch is an explicit CPU check (target_clones' ifunc resolver runs
// before the sanitizer runtimes start).
__attribute__((target("avx2,fma"), flatten)) float FilterAvx2(
    const KeyFilterArgs& args) {
  return FilterKernel(args);
}
#else
#define CVQ_KEY_FILTER_HAS_AVX2 0
#endif

}  // namespace

float KeyFilterBaseline(const KeyFilterArgs& args) {
  return FilterKernel(args);
}

KeyFilterFn PickKeyFilter() {
#if CVQ_KEY_FILTER_HAS_AVX2
  static const KeyFilterFn filter = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
               ? &FilterAvx2
               : &KeyFilterBaseline;
  }();
  return filter;
#else
  return &KeyFilterBaseline;
#endif
}

}  // namespace commvq
