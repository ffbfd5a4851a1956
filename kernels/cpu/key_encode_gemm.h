// Brute-force CommVQ key encoding done the way a tensor library would
// (torch.cdist + argmin): every one of the 2^(2h) centres of a stage is
// materialized in f32, and the squared distances of a block of vectors to
// all of them come from one matrix product,
//   ||x - c||^2 = ||x||^2 - 2 x.c + ||c||^2,
// with the cache-blocked, vectorized GEMM of commvq/model/llama/gemm.h
// (AVX2 when the CPU has it), threaded over blocks of vectors. It is the
// fair baseline of `commvq bench key-encode` for the structured encoder
// (commvq/quantizer/commvq_key/structured_encode.h).
//
// Identical codes to the scalar oracle (kernels/reference/
// key_encode_reference.h), not just near-identical: f32 scores can swap
// two codes whose distances differ by less than their rounding error, so
// every code whose f32 score is within twice a proven error bound of the
// smallest is rescored exactly as the oracle scores it (double centre
// components, the squared differences summed in channel order) and the
// smallest exact distance wins, ties to the lowest code. The bound: with
// u = 2^-24, the f32 score ||c||^2 - 2 x.c of a centre is off from the
// exact value by at most (d + 4) u (||c||^2 + 2 ||x|| ||c||) (rounding of
// the centre's components, of the length-d dot product, of ||c||^2 and of
// the final difference), which key_encode_gemm.cc doubles for safety and
// evaluates with the stage's largest centre norm. Since the oracle's own
// double rounding (~d 2^-53) is far below it, the oracle's choice is always
// among the rescored codes; typically one to three are.
#ifndef KERNELS_CPU_KEY_ENCODE_GEMM_H_
#define KERNELS_CPU_KEY_ENCODE_GEMM_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "commvq/model/llama/gemm.h"
#include "commvq/quantizer/commvq_key/key_codebook.h"

namespace commvq {

class ThreadPool;

// Thread safety: immutable after construction.
class GemmKeyEncoder {
 public:
  // stages: the codebooks of one head in stage order, all of one shape; not
  // empty. Copied; materializes and packs their centres
  // (num_codes x head_dim f32 each: 2 MiB per stage at h = 6, head_dim 128).
  explicit GemmKeyEncoder(absl::Span<const KeyCodebook> stages);

  int num_stages() const { return static_cast<int>(stages_.size()); }

  // heads: [n, head_dim] f32, finite. codes: [n, num_stages()] (written),
  // the same codes as ReferenceKeyEncoder::Encode row by row. pool:
  // optional, not owned; the codes do not depend on it.
  void EncodeBatch(const float* heads, int64_t n, uint16_t* codes,
                   ThreadPool* pool) const;

 private:
  struct Stage {
    // Centre k of code k = a * 2^h + b as row k of a [num_codes, head_dim]
    // matrix.
    PackedMatrix centres;
    // [num_codes]: ||c_k||^2 of the exact centre, rounded to f32.
    std::vector<float> norms;
    // The largest ||c_k|| and ||c_k||^2, for the error bound.
    double max_norm = 0.0;
    double max_norm2 = 0.0;
  };

  // Encodes rows [begin, end) of `heads` into `codes`, all stages.
  void EncodeRange(const float* heads, int64_t begin, int64_t end,
                   uint16_t* codes) const;

  // The oracle's exact squared distance of `residual` to code `code` of
  // `stage`.
  double ExactDistance(int stage, const float* residual, int code) const;

  std::vector<KeyCodebook> stages_;
  std::vector<Stage> packed_;
};

}  // namespace commvq

#endif  // KERNELS_CPU_KEY_ENCODE_GEMM_H_
