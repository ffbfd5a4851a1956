// Which compute backend runs attention, chosen at run time (a context
// option such as `--backend=cuda`): the CPU kernels, always built, or the
// CUDA backend (cuda_layer_cache.h), built only when the toolkit is present
// and CUDA is not switched off (--define cuda=off). This header needs no
// CUDA: callers choose and check a backend the same way in every build.
#ifndef COMMVQ_BACKEND_BACKEND_H_
#define COMMVQ_BACKEND_BACKEND_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace commvq {

enum class Backend {
  kCpu = 0,
  kCuda = 1,
};

// "cpu" or "cuda" ("invalid" for other values).
absl::string_view BackendName(Backend backend);

// "cpu" or "cuda"; InvalidArgument naming the value otherwise.
absl::StatusOr<Backend> ParseBackend(absl::string_view name);

// Whether this build contains the CUDA backend.
bool CudaBackendCompiled();

// OK when `backend` can run on this machine: the CPU always; CUDA when it is
// compiled in and a device is visible (FailedPrecondition saying which is
// missing, with the runtime's message).
absl::Status CheckBackendAvailable(Backend backend);

}  // namespace commvq

#endif  // COMMVQ_BACKEND_BACKEND_H_
