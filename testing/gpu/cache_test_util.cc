#include "testing/gpu/cache_test_util.h"

#include <algorithm>
#include <cmath>

#include "absl/types/span.h"
#include "commvq/base/status_matchers.h"
#include "commvq/tensor/tensor_view.h"
#include "gtest/gtest.h"
#include "kernels/cuda/device_memory.h"

namespace commvq {
namespace testing {

std::vector<float> GpuAttend(CudaLayerCache& cache,
                             const std::vector<float>& query) {
  absl::StatusOr<cuda::DeviceMemory> q =
      cuda::Upload(absl::MakeConstSpan(query));
  absl::StatusOr<cuda::DeviceMemory> out =
      cuda::DeviceMemory::Allocate(query.size() * sizeof(float));
  EXPECT_THAT(q.status(), IsOk());
  EXPECT_THAT(out.status(), IsOk());
  if (!q.ok() || !out.ok()) return {};
  EXPECT_THAT(cache.Attend(q->as<float>(), out->as<float>(), nullptr), IsOk());
  EXPECT_THAT(cuda::SynchronizeStream(nullptr), IsOk());
  absl::StatusOr<std::vector<float>> host =
      cuda::Download<float>(out->data(), query.size());
  EXPECT_THAT(host.status(), IsOk());
  return host.ok() ? *host : std::vector<float>();
}

absl::Status GpuAppend(CudaLayerCache& cache, const std::vector<float>& keys,
                       const std::vector<float>& values, int64_t begin,
                       int64_t count, int64_t dim) {
  const auto k =
      cuda::Upload(absl::MakeConstSpan(keys).subspan(begin * dim, count * dim));
  const auto v = cuda::Upload(
      absl::MakeConstSpan(values).subspan(begin * dim, count * dim));
  if (!k.ok()) return k.status();
  if (!v.ok()) return v.status();
  return cache.Append(k->as<float>(), v->as<float>(), count, nullptr);
}

// max |a - b| <= tolerance * max(1, max |b|).
void ExpectClose(const std::vector<float>& a, const std::vector<float>& b,
                 float tolerance) {
  ASSERT_EQ(a.size(), b.size());
  float scale = 1.0f;
  for (float x : b) scale = std::max(scale, std::fabs(x));
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_NEAR(a[i], b[i], tolerance * scale) << "element " << i;
  }
}

std::vector<float> CpuAttendLast(const KvCache& cache,
                                 const std::vector<float>& query) {
  const AttentionShape& shape = cache.shape();
  std::vector<float> out(query.size());
  const int64_t position = cache.length(0) - 1;
  EXPECT_THAT(
      cache.Attend(0,
                   TensorView(query.data(), DType::kF32,
                              {1, shape.num_heads, shape.head_dim}),
                   absl::MakeConstSpan(&position, 1),
                   MutableTensorView(out.data(), DType::kF32,
                                     {1, shape.num_heads, shape.head_dim})),
      IsOk());
  return out;
}

}  // namespace testing
}  // namespace commvq
