#include "commvq/backend/cuda_rope_table.h"

#include <numeric>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "commvq/base/status_macros.h"
#include "commvq/kvcache/rope.h"

namespace commvq {

absl::StatusOr<cuda::DeviceMemory> UploadRopeTable(const AttentionShape& shape,
                                                   int64_t capacity) {
  if (capacity < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("RoPE table: capacity ", capacity, "; expected >= 1"));
  }
  CVQ_ASSIGN_OR_RETURN(
      const Rope rope,
      Rope::Create(shape.head_dim, shape.rope_theta, shape.pair_layout));
  const int64_t pairs = rope.num_pairs();
  std::vector<int64_t> positions(capacity);
  std::iota(positions.begin(), positions.end(), int64_t{0});
  std::vector<float> cos(capacity * pairs), sin(cos.size());
  rope.ComputeCosSin(positions, absl::MakeSpan(cos), absl::MakeSpan(sin));
  std::vector<float> table(2 * cos.size());
  for (int64_t p = 0; p < capacity; ++p) {
    for (int64_t j = 0; j < pairs; ++j) {
      table[2 * (j * capacity + p)] = cos[p * pairs + j];
      table[2 * (j * capacity + p) + 1] = sin[p * pairs + j];
    }
  }
  return cuda::Upload(absl::MakeConstSpan(table));
}

}  // namespace commvq
