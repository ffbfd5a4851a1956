#include "commvq/model/llama/gemm.h"

#include <algorithm>

#include "commvq/base/thread_pool.h"

namespace commvq {
namespace {

constexpr int64_t kPanelRows = PackedMatrix::kPanelRows;

// Rows of x that share one pass over a panel: each loaded panel column
// feeds kRowTile rows, and the kRowTile x kPanelRows accumulators still fit
// in the vector registers.
constexpr int64_t kRowTile = 4;

// An AVX2 build of the kernel needs only a function attribute (no -mavx2 for
// the whole file, which would let the compiler use AVX2 anywhere). The
// dispatch is an explicit CPU check rather than GCC's target_clones: its
// ifunc resolver runs before the sanitizer runtimes start and crashes them.
#if defined(__x86_64__) && defined(__GNUC__)
#define CVQ_GEMM_HAS_AVX2 1
#else
#define CVQ_GEMM_HAS_AVX2 0
#endif

// Multiply-adds below which a parallel task costs more to schedule than it
// saves.
constexpr int64_t kMinWorkPerTask = int64_t{1} << 16;

// y[r][c] = sum over i of x[r][i] * panel[i][c] for r < kRows and
// c < valid_cols, with the sum over i in order.
// x: [kRows, k] with row stride k; panel: [k, kPanelRows];
// y: [kRows, valid_cols] with row stride y_stride.
template <int kRows>
inline void PanelKernel(const float* x, int64_t k, const float* panel,
                        int64_t valid_cols, float* y, int64_t y_stride) {
  float acc[kRows][kPanelRows] = {};
  for (int64_t i = 0; i < k; ++i) {
    const float* w = panel + i * kPanelRows;
    // Unrolled completely so the accumulators live in registers rather than
    // on the stack (GCC keeps an indexed local array in memory otherwise).
#pragma GCC unroll 4
    for (int r = 0; r < kRows; ++r) {
      const float xv = x[r * k + i];
#pragma GCC unroll 16
      for (int64_t c = 0; c < kPanelRows; ++c) acc[r][c] += xv * w[c];
    }
  }
  for (int r = 0; r < kRows; ++r) {
    std::copy(acc[r], acc[r] + valid_cols, y + r * y_stride);
  }
}

// y = x W^T for panels [panel_begin, panel_end) of `w`: the output columns
// of those panels, every row of x. Inlined into one function per build.
inline void MultiplyPanels(const float* x, int64_t m, const PackedMatrix& w,
                           float* y, int64_t panel_begin, int64_t panel_end) {
  const int64_t k = w.cols();
  const int64_t n = w.rows();
  for (int64_t p = panel_begin; p < panel_end; ++p) {
    const float* panel = w.panel(p);
    const int64_t col = p * kPanelRows;
    const int64_t valid_cols = std::min(kPanelRows, n - col);
    int64_t r = 0;
    for (; r + kRowTile <= m; r += kRowTile) {
      PanelKernel<kRowTile>(x + r * k, k, panel, valid_cols, y + r * n + col,
                            n);
    }
    switch (m - r) {
      case 3:
        PanelKernel<3>(x + r * k, k, panel, valid_cols, y + r * n + col, n);
        break;
      case 2:
        PanelKernel<2>(x + r * k, k, panel, valid_cols, y + r * n + col, n);
        break;
      case 1:
        PanelKernel<1>(x + r * k, k, panel, valid_cols, y + r * n + col, n);
        break;
      default:
        break;
    }
  }
}

void MultiplyPanelsBaseline(const float* x, int64_t m, const PackedMatrix& w,
                            float* y, int64_t panel_begin, int64_t panel_end) {
  MultiplyPanels(x, m, w, y, panel_begin, panel_end);
}

#if CVQ_GEMM_HAS_AVX2
// `flatten` inlines the whole kernel, so all of it is compiled for AVX2.
__attribute__((target("avx2"), flatten)) void MultiplyPanelsAvx2(
    const float* x, int64_t m, const PackedMatrix& w, float* y,
    int64_t panel_begin, int64_t panel_end) {
  MultiplyPanels(x, m, w, y, panel_begin, panel_end);
}
#endif

}  // namespace

GemmIsa DetectGemmIsa() {
#if CVQ_GEMM_HAS_AVX2
  static const GemmIsa isa = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") ? GemmIsa::kAvx2 : GemmIsa::kBaseline;
  }();
  return isa;
#else
  return GemmIsa::kBaseline;
#endif
}

PackedMatrix::PackedMatrix(absl::Span<const float> w, int64_t rows,
                           int64_t cols)
    : rows_(rows), cols_(cols), data_(num_panels() * cols * kPanelRows) {
  for (int64_t row = 0; row < rows; ++row) {
    float* panel_column = data_.data() +
                          (row / kPanelRows) * cols * kPanelRows +
                          row % kPanelRows;
    for (int64_t c = 0; c < cols; ++c) {
      panel_column[c * kPanelRows] = w[row * cols + c];
    }
  }
}

void PackedMatrix::CopyRow(int64_t row, absl::Span<float> out) const {
  const float* panel_column = panel(row / kPanelRows) + row % kPanelRows;
  for (int64_t c = 0; c < cols_; ++c) out[c] = panel_column[c * kPanelRows];
}

void MatMulTransposed(absl::Span<const float> x, int64_t m,
                      const PackedMatrix& w, absl::Span<float> y,
                      ThreadPool* pool) {
  MatMulTransposedOn(DetectGemmIsa(), x, m, w, y, pool);
}

void MatMulTransposedOn(GemmIsa isa, absl::Span<const float> x, int64_t m,
                        const PackedMatrix& w, absl::Span<float> y,
                        ThreadPool* pool) {
  auto* multiply_panels = &MultiplyPanelsBaseline;
#if CVQ_GEMM_HAS_AVX2
  if (isa == GemmIsa::kAvx2) multiply_panels = &MultiplyPanelsAvx2;
#endif
  const auto multiply = [&](int64_t begin, int64_t end) {
    multiply_panels(x.data(), m, w, y.data(), begin, end);
  };
  if (pool == nullptr) {
    multiply(0, w.num_panels());
    return;
  }
  const int64_t work_per_panel =
      std::max<int64_t>(1, m * w.cols() * kPanelRows);
  pool->ParallelFor(0, w.num_panels(),
                    std::max<int64_t>(1, kMinWorkPerTask / work_per_panel),
                    multiply);
}

void MatMulTransposedReference(absl::Span<const float> x, int64_t m,
                               absl::Span<const float> w, int64_t n, int64_t k,
                               absl::Span<float> y) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      float sum = 0.0f;
      for (int64_t c = 0; c < k; ++c) sum += x[i * k + c] * w[j * k + c];
      y[i * n + j] = sum;
    }
  }
}

}  // namespace commvq
