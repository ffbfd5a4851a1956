#include "kernels/cpu/key_encode_gemm.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "commvq/base/pair_layout.h"
#include "commvq/base/thread_pool.h"

namespace commvq {
namespace {

// Vectors whose distances one GEMM call computes: the [kBlockRows, 4096]
// f32 scores (512 KiB at h = 6) stay in the L2 cache, and each packed
// panel of centres is reused by all rows of the block.
constexpr int64_t kBlockRows = 32;

// f32 unit roundoff.
constexpr double kF32Roundoff = 1.0 / (1 << 24);

// The centre of (a, b) in double: each component is the exact difference
// or sum of two floats, as the oracle materializes it. centre: [head_dim].
void ExactCentre(const KeyCodebook& codebook, int a, int b, double* centre) {
  const KeyCodebookShape& shape = codebook.shape();
  for (int64_t j = 0; j < shape.num_pairs(); ++j) {
    centre[PairFirstChannel(shape.layout, shape.head_dim, j)] =
        double{codebook.x(j, a)} - double{codebook.y(j, b)};
    centre[PairSecondChannel(shape.layout, shape.head_dim, j)] =
        double{codebook.y(j, a)} + double{codebook.x(j, b)};
  }
}

}  // namespace

GemmKeyEncoder::GemmKeyEncoder(absl::Span<const KeyCodebook> stages)
    : stages_(stages.begin(), stages.end()) {
  for (const KeyCodebook& codebook : stages_) {
    const KeyCodebookShape& shape = codebook.shape();
    const int64_t d = shape.head_dim;
    std::vector<float> centres(shape.num_codes() * d);
    std::vector<double> exact(d);
    Stage stage;
    stage.norms.resize(shape.num_codes());
    for (int a = 0; a < shape.num_values(); ++a) {
      for (int b = 0; b < shape.num_values(); ++b) {
        const int code = JoinKeyCode(a, b, shape.half_bits);
        ExactCentre(codebook, a, b, exact.data());
        double norm2 = 0.0;
        for (int64_t i = 0; i < d; ++i) {
          centres[code * d + i] = static_cast<float>(exact[i]);
          norm2 += exact[i] * exact[i];
        }
        stage.norms[code] = static_cast<float>(norm2);
        stage.max_norm2 = std::max(stage.max_norm2, norm2);
      }
    }
    stage.max_norm = std::sqrt(stage.max_norm2);
    stage.centres = PackedMatrix(centres, shape.num_codes(), d);
    packed_.push_back(std::move(stage));
  }
}

double GemmKeyEncoder::ExactDistance(int stage, const float* residual,
                                     int code) const {
  const KeyCodebook& codebook = stages_[stage];
  const KeyCodebookShape& shape = codebook.shape();
  // Allocated per call: rescoring is rare (a few codes per stage).
  std::vector<double> centre(shape.head_dim);
  ExactCentre(codebook, KeyCodeA(code, shape.half_bits),
              KeyCodeB(code, shape.half_bits), centre.data());
  double distance = 0.0;
  for (int64_t i = 0; i < shape.head_dim; ++i) {
    const double diff = double{residual[i]} - centre[i];
    distance += diff * diff;
  }
  return distance;
}

void GemmKeyEncoder::EncodeRange(const float* heads, int64_t begin, int64_t end,
                                 uint16_t* codes) const {
  const KeyCodebookShape& shape = stages_.front().shape();
  const int64_t d = shape.head_dim;
  const int64_t num_codes = shape.num_codes();
  const int stages = num_stages();
  std::vector<float> residuals(kBlockRows * d);
  std::vector<float> dots(kBlockRows * num_codes);
  std::vector<int> candidates;
  for (int64_t block = begin; block < end; block += kBlockRows) {
    const int64_t rows = std::min(kBlockRows, end - block);
    std::copy(heads + block * d, heads + (block + rows) * d, residuals.begin());
    for (int s = 0; s < stages; ++s) {
      const Stage& stage = packed_[s];
      MatMulTransposed(absl::MakeConstSpan(residuals.data(), rows * d), rows,
                       stage.centres,
                       absl::MakeSpan(dots.data(), rows * num_codes),
                       /*pool=*/nullptr);
      for (int64_t r = 0; r < rows; ++r) {
        float* score = &dots[r * num_codes];
        float* residual = &residuals[r * d];
        // ||x||^2 is common to all codes: scores are ||c||^2 - 2 x.c.
        float best = std::numeric_limits<float>::infinity();
        for (int64_t k = 0; k < num_codes; ++k) {
          score[k] = stage.norms[k] - 2.0f * score[k];
          best = std::min(best, score[k]);
        }
        double x_norm2 = 0.0;
        for (int64_t i = 0; i < d; ++i) {
          x_norm2 += double{residual[i]} * residual[i];
        }
        const double bound =
            2.0 * (d + 4) * kF32Roundoff *
            (stage.max_norm2 + 2.0 * std::sqrt(x_norm2) * stage.max_norm);
        const double limit = best + 2.0 * bound;
        candidates.clear();
        for (int64_t k = 0; k < num_codes; ++k) {
          if (score[k] <= limit) candidates.push_back(static_cast<int>(k));
        }
        // Candidates are in code order: a strict comparison keeps the
        // lowest of equal exact distances, like the oracle.
        int code = candidates.front();
        double best_distance = ExactDistance(s, residual, code);
        for (size_t c = 1; c < candidates.size(); ++c) {
          const double distance = ExactDistance(s, residual, candidates[c]);
          if (distance < best_distance) {
            best_distance = distance;
            code = candidates[c];
          }
        }
        codes[(block + r) * stages + s] = static_cast<uint16_t>(code);
        stages_[s].SubtractCentre(KeyCodeA(code, shape.half_bits),
                                  KeyCodeB(code, shape.half_bits), residual);
      }
    }
  }
}

void GemmKeyEncoder::EncodeBatch(const float* heads, int64_t n, uint16_t* codes,
                                 ThreadPool* pool) const {
  const auto encode = [&](int64_t begin, int64_t end) {
    EncodeRange(heads, begin, end, codes);
  };
  if (pool == nullptr) {
    encode(0, n);
  } else {
    pool->ParallelFor(0, n, kBlockRows, encode);
  }
}

}  // namespace commvq
