// The contents of the golden codebook files, shared by the program that
// writes them and the test that checks what a reader gets back.
#ifndef COMMVQ_TESTING_GOLDEN_GOLDEN_CONTENTS_H_
#define COMMVQ_TESTING_GOLDEN_GOLDEN_CONTENTS_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "commvq/io/codebook_file.h"

namespace commvq {

// Owns the data the contents borrow.
struct GoldenTensors {
  std::vector<float> codebook;     // [2, 4] f32: 0.5 * i - 1
  std::vector<uint16_t> scales;    // [3] f16 bits of 1, 2, -0.5
  std::vector<float> samples;      // [4, 8] f32 training data
  std::unique_ptr<Quantizer> key;    // int:bits=2,group_size=4 on samples
  std::unique_ptr<Quantizer> value;  // fp16 on samples
};

struct GoldenContents {
  CodebookFileContents small;  // the tensors above and both quantizers
  CodebookFileContents empty;  // model shape only
};

absl::StatusOr<GoldenContents> MakeGoldenContents(GoldenTensors& tensors);

}  // namespace commvq

#endif  // COMMVQ_TESTING_GOLDEN_GOLDEN_CONTENTS_H_
