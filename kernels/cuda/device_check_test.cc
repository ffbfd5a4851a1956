#include "kernels/cuda/device_check.h"

#include <vector>

#include "gtest/gtest.h"

namespace commvq {
namespace cuda {
namespace {

// Skips (does not fail) on machines without a GPU or driver.
#define CVQ_SKIP_WITHOUT_GPU()                                          \
  do {                                                                  \
    int count = 0;                                                      \
    const CudaResult result = CudaDeviceCount(&count);                  \
    if (result.error != 0 || count == 0) {                              \
      GTEST_SKIP() << "no CUDA device (error " << result.error << ": "  \
                   << result.message << ")";                            \
    }                                                                   \
  } while (0)

TEST(CudaDeviceCheckTest, KernelRunsAndCopiesBack) {
  CVQ_SKIP_WITHOUT_GPU();
  std::vector<float> out(1000, -1.0f);
  const CudaResult result = CudaIotaScaled(0.5f, 1000, out.data());
  ASSERT_EQ(result.error, 0) << result.message;
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(out[i], 0.5f * i);
}

TEST(CudaDeviceCheckTest, CountIsUntouchedOnError) {
  int count = 12345;
  const CudaResult result = CudaDeviceCount(&count);
  if (result.error == 0) {
    EXPECT_GE(count, 0);
  } else {
    EXPECT_EQ(count, 12345);
    EXPECT_NE(result.message, nullptr);
  }
}

}  // namespace
}  // namespace cuda
}  // namespace commvq
