#include "commvq/backend/cuda_provider_loader.h"

#include <cstdlib>
#include <string>

#include "commvq/base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::IsOk;
using ::commvq::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

std::string TestLibrary(const std::string& name) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  return std::string(srcdir ? srcdir : ".") + "/commvq/testing/plugins/lib" +
         name + ".so";
}

TEST(CudaProviderLoaderTest, LoadsAProviderOfThisAbi) {
  auto provider = LoadCudaProviderFrom(TestLibrary("fake_cuda_provider"));
  ASSERT_THAT(provider.status(), IsOk());
  EXPECT_EQ((*provider)->abi_version, COMMVQ_CUDA_PROVIDER_ABI);
  char message[128] = {0};
  EXPECT_EQ((*provider)->check_device(0, message, sizeof(message)), 0);
  EXPECT_NE((*provider)->check_device(3, message, sizeof(message)), 0);
  EXPECT_THAT(message, HasSubstr("device 3 does not exist"));
}

TEST(CudaProviderLoaderTest, RefusesAnotherProviderAbi) {
  const std::string path = TestLibrary("wrong_abi_cuda_provider");
  EXPECT_THAT(LoadCudaProviderFrom(path).status(),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr(path), HasSubstr("provider ABI 2"),
                             HasSubstr("expects ABI 1"))));
}

TEST(CudaProviderLoaderTest, RefusesALibraryWithoutTheEntryPoint) {
  const std::string path = TestLibrary("sign_plugin");
  EXPECT_THAT(LoadCudaProviderFrom(path).status(),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr(path),
                             HasSubstr("not a CommVQ CUDA provider"),
                             HasSubstr("commvq_cuda_provider_v1"))));
}

TEST(CudaProviderLoaderTest, MissingFileIsUnavailableWithTheLoadersMessage) {
  EXPECT_THAT(LoadCudaProviderFrom("/nonexistent/libcommvq_cuda.so.1").status(),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("cannot load /nonexistent/"),
                             HasSubstr("No such file"))));
}

// Without COMMVQ_CUDA_PROVIDER and with no provider beside this test or on
// the loader path, the search fails and says where to get the library.
TEST(CudaProviderLoaderTest, SearchFailsWithAHint) {
  unsetenv("COMMVQ_CUDA_PROVIDER");
  const auto provider = LoadCudaProvider();
  EXPECT_THAT(provider.status(),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("libcommvq_cuda.so.1"),
                             HasSubstr("COMMVQ_CUDA_PROVIDER"))));
  // The first result is kept.
  EXPECT_EQ(LoadCudaProvider().status(), provider.status());
}

}  // namespace
}  // namespace commvq
