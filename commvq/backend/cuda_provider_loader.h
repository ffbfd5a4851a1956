// Finds and loads the CUDA backend's provider library (cuda_provider_abi.h)
// at run time, so libcommvq.so itself never depends on the CUDA toolkit.
//
// Where it looks, in order: the file named by the environment variable
// COMMVQ_CUDA_PROVIDER (if set, nothing else is tried); libcommvq_cuda.so.1
// in the directory of the library or program holding this code (an
// installation keeps both libraries side by side); libcommvq_cuda.so.1 on
// the dynamic loader's path.
#ifndef COMMVQ_BACKEND_CUDA_PROVIDER_LOADER_H_
#define COMMVQ_BACKEND_CUDA_PROVIDER_LOADER_H_

#include <string>

#include "absl/status/statusor.h"
#include "commvq/backend/cuda_provider_abi.h"

namespace commvq {

// The provider, loaded on the first call (thread-safe; the library stays
// loaded for the life of the process, and the first call's result, success
// or failure, is returned by every later call). Unavailable with every place
// tried and the loader's message when no library loads; Unavailable naming
// the file when it is not a CommVQ CUDA provider or speaks another provider
// ABI.
absl::StatusOr<const commvq_cuda_provider*> LoadCudaProvider();

// Loads the provider from `path` (a file name, or a path with '/') without
// caching: the checks of LoadCudaProvider, for tests and tools.
absl::StatusOr<const commvq_cuda_provider*> LoadCudaProviderFrom(
    const std::string& path);

}  // namespace commvq

#endif  // COMMVQ_BACKEND_CUDA_PROVIDER_LOADER_H_
