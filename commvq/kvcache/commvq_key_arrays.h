// The codebooks of a `commvq_key` quantizer as the flat arrays the attention
// kernels read (kernels/reference/attention_key_reference.h), taken from the
// quantizer's own serialized payload (layout in commvq_key_quantizer.h), so
// the cache computes attention with exactly the codebooks that encoded its
// keys.
#ifndef COMMVQ_KVCACHE_COMMVQ_KEY_ARRAYS_H_
#define COMMVQ_KVCACHE_COMMVQ_KEY_ARRAYS_H_

#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

#include "absl/status/statusor.h"
#include "commvq/base/pair_layout.h"
#include "commvq/quantizer/quantizer.h"
#include "kernels/reference/attention_key_reference.h"

namespace commvq {

// Allocates on 64-byte boundaries: rows of the int16 planes (head_dim * 2
// bytes) then start on cache lines, and the kernels' 64-byte loads never
// straddle two.
template <typename T>
struct CacheLineAllocator {
  using value_type = T;
  CacheLineAllocator() = default;
  template <typename U>
  explicit CacheLineAllocator(const CacheLineAllocator<U>&) {}
  T* allocate(size_t n) {
    return static_cast<T*>(
        ::operator new (n * sizeof(T), std::align_val_t{64}));
  }
  void deallocate(T* p, size_t) { ::operator delete (p, std::align_val_t{64}); }
  bool operator==(const CacheLineAllocator&) const { return true; }
  bool operator!=(const CacheLineAllocator&) const { return false; }
};

struct CommvqKeyArrays {
  int64_t num_kv_heads = 0;
  int stages = 0;
  int half_bits = 0;
  int64_t head_dim = 0;
  PairLayout layout = PairLayout::kUnspecified;
  // [num_kv_heads, stages, head_dim / 2, 2^half_bits, 2].
  std::vector<float> z;
  // MakeKeyCentrePlanesI16Reference of each head: the int16 planes the
  // decode kernel reads, [num_kv_heads, stages, 2, 2^half_bits, 2,
  // head_dim / 2], and their scales, [num_kv_heads, head_dim / 2].
  std::vector<int16_t, CacheLineAllocator<int16_t>> planes;
  std::vector<float> pair_scale;

  // The codebooks of KV head h (z; planes and pair scales of head h start
  // at h * entries_per_head_planes() and h * head_dim / 2).
  KeyCodebookArrays head(int64_t h) const;
  int64_t floats_per_head() const {
    return int64_t{stages} * (head_dim / 2) * (int64_t{1} << half_bits) * 2;
  }
  int64_t entries_per_head_planes() const { return 2 * floats_per_head(); }
  // Bits of one code; codes of head h start at code h * stages of a row.
  int code_bits() const { return 2 * half_bits; }
};

// The arrays of `quantizer`, which must be a commvq_key quantizer
// (InvalidArgument naming the quantizer otherwise, or for a payload that
// does not have the documented layout).
absl::StatusOr<CommvqKeyArrays> CommvqKeyArraysOf(const Quantizer& quantizer);

}  // namespace commvq

#endif  // COMMVQ_KVCACHE_COMMVQ_KEY_ARRAYS_H_
