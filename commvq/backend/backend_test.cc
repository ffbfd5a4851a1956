#include "commvq/backend/backend.h"

#include "commvq/base/status_matchers.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::IsOk;
using ::commvq::testing::IsOkAndHolds;
using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

TEST(BackendTest, NamesParseBack) {
  for (const Backend backend : {Backend::kCpu, Backend::kCuda}) {
    EXPECT_THAT(ParseBackend(BackendName(backend)), IsOkAndHolds(backend));
  }
  EXPECT_THAT(ParseBackend("gpu"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("backend 'gpu'; expected cpu or cuda")));
  EXPECT_EQ(BackendName(static_cast<Backend>(7)), "invalid");
}

TEST(BackendTest, CpuIsAlwaysAvailable) {
  EXPECT_THAT(CheckBackendAvailable(Backend::kCpu), IsOk());
}

// Without CUDA in the build, or without a device, CUDA is refused with a
// reason; with both it is available.
TEST(BackendTest, CudaSaysWhatIsMissing) {
  const absl::Status status = CheckBackendAvailable(Backend::kCuda);
  if (!CudaBackendCompiled()) {
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kFailedPrecondition,
                                 HasSubstr("no CUDA backend")));
  } else if (!status.ok()) {
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kFailedPrecondition,
                                 HasSubstr("no usable CUDA device")));
  }
  EXPECT_THAT(CheckBackendAvailable(static_cast<Backend>(7)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("backend value 7")));
}

}  // namespace
}  // namespace commvq
