// Brute-force oracle for CommVQ key encoding: materializes every one of the
// 2^(2h) centres of a stage and picks the one at the smallest squared L2
// distance, greedily stage after stage on the residual. Plain scalar code,
// slow on purpose: the structured encoder
// (commvq/quantizer/commvq_key/structured_encode.h) must return identical
// codes.
//
// Precision: centres are materialized and distances summed in double. The
// components x_a - y_b and y_a + x_b of two floats are exact in double (for
// codebook values within 2^29 of each other in magnitude), so the only
// rounding is that of the double sums, as in the structured encoder; see
// structured_encode.h for why both therefore pick the same codes.
#ifndef KERNELS_REFERENCE_KEY_ENCODE_REFERENCE_H_
#define KERNELS_REFERENCE_KEY_ENCODE_REFERENCE_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "commvq/quantizer/commvq_key/key_codebook.h"

namespace commvq {

// Thread safety: immutable after construction.
class ReferenceKeyEncoder {
 public:
  // stages: the codebooks of one head, stage order, all of one shape; not
  // empty. Materializes their centres (num_codes x head_dim doubles each).
  explicit ReferenceKeyEncoder(absl::Span<const KeyCodebook> stages);

  // head: [head_dim] f32, finite. codes: [stages] (written), each
  // a * 2^h + b of the nearest centre of its stage to what the previous
  // stages left (the residual updated by KeyCodebook::SubtractCentre);
  // ties go to the lowest code.
  void Encode(const float* head, uint16_t* codes) const;

 private:
  // Code of the centre of `stage` nearest to `residual` ([head_dim]).
  uint16_t Nearest(int stage, const float* residual) const;

  std::vector<KeyCodebook> stages_;
  // Per stage: [num_codes, head_dim], centre of code k in row k.
  std::vector<std::vector<double>> centres_;
};

}  // namespace commvq

#endif  // KERNELS_REFERENCE_KEY_ENCODE_REFERENCE_H_
