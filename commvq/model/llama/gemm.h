// Dense f32 products y = x W^T with the weight matrix W stored row-major as
// [out, in], the layout of every projection in a LLaMA checkpoint: batched
// for prefill (many rows of x) and matrix-vector for decode (one row).
//
// W is repacked once into panels of kPanelRows rows, stored column by
// column, so the inner loop updates kPanelRows outputs at once from
// contiguous memory. That loop vectorizes without -ffast-math because no sum
// is reordered: every output element is the plain sequential sum over the
// input dimension. Packing keeps the size of W (plus padding of the last
// panel).
//
// The kernel has a baseline build and, on x86-64, an AVX2 build chosen once
// from the CPU's features; no -march flag is needed, and both builds round
// identically (no fused multiply-add), so results do not depend on the
// machine either.
//
// Thread safety: a PackedMatrix is immutable. Results do not depend on the
// thread pool: work is split by whole panels and the row tiling is fixed.
#ifndef COMMVQ_MODEL_LLAMA_GEMM_H_
#define COMMVQ_MODEL_LLAMA_GEMM_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace commvq {

class ThreadPool;

class PackedMatrix {
 public:
  // Output rows computed side by side: 16 f32 lanes fill whole SSE, AVX and
  // AVX-512 registers.
  static constexpr int64_t kPanelRows = 16;

  PackedMatrix() = default;

  // w: [rows, cols] row-major. Precondition: w.size() == rows * cols.
  PackedMatrix(absl::Span<const float> w, int64_t rows, int64_t cols);

  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int64_t num_panels() const { return (rows_ + kPanelRows - 1) / kPanelRows; }

  // Panel p: [cols, kPanelRows], element (c, r) = W[p * kPanelRows + r][c]
  // (zero past the last row).
  const float* panel(int64_t p) const {
    return data_.data() + p * cols_ * kPanelRows;
  }

  // Copies row `row` of W (e.g. a token's embedding).
  // out: [cols] (written).
  void CopyRow(int64_t row, absl::Span<float> out) const;

  int64_t bytes() const {
    return static_cast<int64_t>(data_.size() * sizeof(float));
  }

 private:
  int64_t rows_ = 0;
  int64_t cols_ = 0;
  // [num_panels, cols, kPanelRows].
  std::vector<float> data_;
};

// Builds of the MatMulTransposed kernel.
enum class GemmIsa {
  kBaseline,  // what the compiler targets by default (SSE2 on x86-64)
  kAvx2,      // x86-64 with AVX2
};

// kAvx2 when the library has an AVX2 build and the CPU runs it, else
// kBaseline. Detected on the first call.
GemmIsa DetectGemmIsa();

// y = x W^T on the build DetectGemmIsa() picks.
// x: [m, w.cols()] row-major.
// y: [m, w.rows()] row-major (written).
// pool: optional, not owned; the result does not depend on it.
// Preconditions: the spans have exactly these sizes.
void MatMulTransposed(absl::Span<const float> x, int64_t m,
                      const PackedMatrix& w, absl::Span<float> y,
                      ThreadPool* pool);

// MatMulTransposed on a chosen build (tests and benchmarks compare them).
// Precondition: isa is kBaseline or DetectGemmIsa().
void MatMulTransposedOn(GemmIsa isa, absl::Span<const float> x, int64_t m,
                        const PackedMatrix& w, absl::Span<float> y,
                        ThreadPool* pool);

// The scalar reference (the oracle of the tests): y[i][j] = sum over c, in
// order, of x[i][c] * w[j][c].
// x: [m, k]; w: [n, k]; y: [m, n] (written), all row-major.
void MatMulTransposedReference(absl::Span<const float> x, int64_t m,
                               absl::Span<const float> w, int64_t n, int64_t k,
                               absl::Span<float> y);

}  // namespace commvq

#endif  // COMMVQ_MODEL_LLAMA_GEMM_H_
