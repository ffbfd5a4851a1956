// Attend of the compressed cache allocates nothing once warm: this binary
// replaces the global operator new to count heap allocations (a binary of
// its own, so that no other test runs under the counting allocator).
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "commvq/base/random.h"
#include "commvq/base/status_matchers.h"
#include "commvq/base/thread_pool.h"
#include "commvq/kvcache/compressed_kv_cache.h"
#include "commvq/kvcache/synthetic_codecs.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu/attention_kernels.h"

namespace {
std::atomic<int64_t> heap_allocations{0};

void* Allocate(std::size_t size, std::size_t alignment) {
  heap_allocations.fetch_add(1, std::memory_order_relaxed);
  // aligned_alloc wants a multiple of the alignment.
  void* p = alignment <= alignof(std::max_align_t)
                ? std::malloc(size == 0 ? 1 : size)
                : std::aligned_alloc(
                      alignment, (size + alignment - 1) / alignment * alignment);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
}  // namespace

void* operator new(std::size_t size) { return Allocate(size, 1); }
void* operator new(std::size_t size, std::align_val_t alignment) {
  return Allocate(size, static_cast<std::size_t>(alignment));
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}

namespace commvq {
namespace {

using ::commvq::testing::IsOk;

// A cache of `length` random tokens, commvq keys and values (attended on
// their codes), attending with `kernels` over `pool` (may be null).
std::unique_ptr<CompressedKvCache> FilledCache(const AttentionShape& shape,
                                               const AttentionKernels& kernels,
                                               ThreadPool* pool,
                                               int64_t length) {
  auto key = RandomCommvqKeyQuantizer(shape, 4, 3, 71);
  auto value = RandomCommvqValueQuantizer(shape, 2, 72);
  EXPECT_THAT(key.status(), IsOk());
  EXPECT_THAT(value.status(), IsOk());
  auto codecs = CompressedCacheCodecs::Create(
      shape, std::vector<LayerQuantizers>(shape.num_layers, {*key, *value}));
  EXPECT_THAT(codecs.status(), IsOk());
  CompressedKvCacheOptions options;
  options.window = 16;
  options.page_tokens = 64;
  options.kernels = &kernels;
  options.pool = pool;
  auto cache = *CompressedKvCache::Create(*codecs, options);
  const int64_t row = int64_t{shape.num_kv_heads} * shape.head_dim;
  std::vector<float> keys(length * row), values(length * row);
  Rng(73).FillNormal(absl::MakeSpan(keys), 0.0f, 1.0f);
  Rng(74).FillNormal(absl::MakeSpan(values), 0.0f, 1.0f);
  EXPECT_THAT(
      cache->Append(0,
                    TensorView(keys.data(), DType::kF32,
                               {length, shape.num_kv_heads, shape.head_dim}),
                    TensorView(values.data(), DType::kF32,
                               {length, shape.num_kv_heads, shape.head_dim})),
      IsOk());
  return cache;
}

// Heap allocations of `calls` decode steps over the whole cache, after one
// call that sizes the workspace.
int64_t AllocationsOfWarmAttends(const CompressedKvCache& cache, int calls) {
  const AttentionShape& shape = cache.shape();
  std::vector<float> query(shape.num_heads * shape.head_dim);
  Rng(75).FillNormal(absl::MakeSpan(query), 0.0f, 1.0f);
  std::vector<float> out(query.size());
  const TensorView q(query.data(), DType::kF32,
                     {1, shape.num_heads, shape.head_dim});
  const MutableTensorView o(out.data(), DType::kF32,
                            {1, shape.num_heads, shape.head_dim});
  const int64_t last = cache.length(0) - 1;
  EXPECT_THAT(cache.Attend(0, q, {last}, o), IsOk());
  // Statuses are checked after counting: a matcher allocates.
  bool all_ok = true;
  const int64_t before = heap_allocations.load();
  for (int i = 0; i < calls; ++i) {
    all_ok &= cache.Attend(0, q, {last}, o).ok();
  }
  const int64_t allocations = heap_allocations.load() - before;
  EXPECT_TRUE(all_ok);
  return allocations;
}

TEST(CompressedKvCacheAllocationTest, WarmAttendAllocatesNothing) {
  AttentionShape shape;
  shape.num_layers = 1;
  shape.num_heads = 8;
  shape.num_kv_heads = 2;
  shape.head_dim = 128;
  shape.pair_layout = PairLayout::kHalf;
  // Every variant but the scalar one (the references allocate: they are
  // the definitions, not the fast path).
  for (const AttentionKernels* kernels : AvailableAttentionKernels()) {
    if (std::string(kernels->isa) == "scalar") continue;
    SCOPED_TRACE(kernels->isa);
    const auto cache = FilledCache(shape, *kernels, nullptr, 1000);
    EXPECT_EQ(AllocationsOfWarmAttends(*cache, 10), 0);
    // Over a pool too: only the pool's own task queue may allocate, now and
    // then (a node of its deque every so many batches), not every call.
    ThreadPool pool(2);
    const auto pooled = FilledCache(shape, *kernels, &pool, 1000);
    EXPECT_LT(AllocationsOfWarmAttends(*pooled, 32), 8);
  }
}

}  // namespace
}  // namespace commvq
