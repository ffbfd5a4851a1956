// cvq_context: the backend and the thread pool work runs on. Backend "cuda"
// loads the CUDA provider library at run time (cuda_provider_loader.h), so
// this library has no CUDA dependency of its own.
#include "absl/strings/str_cat.h"
#include "capi/handles.h"
#include "capi/internal.h"
#include "commvq/backend/cuda_provider_loader.h"
#include "commvq/base/status_macros.h"

namespace {

using commvq::capi::CheckNotNull;
using commvq::capi::CheckStruct;
using commvq::capi::Guard;

constexpr int32_t kMaxThreads = 4096;

// Loads the CUDA provider and checks the device: Unavailable (with the
// loader's or the driver's message) when either is missing.
absl::Status UseCuda(const cvq_context_options& options,
                     cvq_context* context) {
  if (options.device_id < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "`options->device_id` is ", options.device_id,
        "; expected a CUDA device ordinal >= 0"));
  }
  CVQ_ASSIGN_OR_RETURN(context->cuda_provider, commvq::LoadCudaProvider());
  char message[1024] = {0};
  if (context->cuda_provider->check_device(options.device_id, message,
                                            sizeof(message)) != 0) {
    return absl::UnavailableError(
        absl::StrCat("backend \"cuda\" is not available: ", message));
  }
  context->device_id = options.device_id;
  context->stream = options.stream;
  return absl::OkStatus();
}

}  // namespace

extern "C" {

cvq_status* cvq_context_create(const cvq_context_options* options,
                               cvq_context** out) {
  return Guard([&]() -> absl::Status {
    CVQ_RETURN_IF_ERROR(CheckNotNull(out, "out", "a cvq_context* to fill"));
    cvq_context_options defaults = {
        sizeof(cvq_context_options), 0, nullptr, 0, 0, nullptr};
    if (options != nullptr) {
      CVQ_RETURN_IF_ERROR(
          CheckStruct(options, "options", "cvq_context_options"));
      defaults = *options;
    }
    const std::string backend =
        defaults.backend == nullptr ? "cpu" : defaults.backend;
    if (backend != "cpu" && backend != "cuda") {
      return absl::InvalidArgumentError(
          absl::StrCat("`options->backend` is \"", backend,
                       "\"; expected \"cpu\" or \"cuda\""));
    }
    if (backend == "cpu" &&
        (defaults.stream != nullptr || defaults.device_id != 0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "backend \"cpu\" takes no stream or device: `options->stream` must "
          "be NULL and `options->device_id` 0 (got ",
          defaults.device_id, ")"));
    }
    if (defaults.num_threads < 0 || defaults.num_threads > kMaxThreads) {
      return absl::InvalidArgumentError(
          absl::StrCat("`options->num_threads` is ", defaults.num_threads,
                       "; expected 0 (all hardware threads) .. ", kMaxThreads));
    }
    const int threads = defaults.num_threads == 0
                            ? commvq::ThreadPool::DefaultNumThreads()
                            : defaults.num_threads;
    auto context = std::make_unique<cvq_context>();
    if (backend == "cuda") {
      CVQ_RETURN_IF_ERROR(UseCuda(defaults, context.get()));
    }
    context->pool = std::make_unique<commvq::ThreadPool>(threads);
    *out = context.release();
    return absl::OkStatus();
  });
}

void cvq_context_destroy(cvq_context* context) { delete context; }

cvq_status* cvq_context_num_threads(const cvq_context* context,
                                    int32_t* num_threads) {
  return Guard([&]() -> absl::Status {
    CVQ_RETURN_IF_ERROR(CheckNotNull(context, "context", "a cvq_context"));
    CVQ_RETURN_IF_ERROR(
        CheckNotNull(num_threads, "num_threads", "an int32_t to fill"));
    *num_threads = context->pool->num_threads();
    return absl::OkStatus();
  });
}

}  // extern "C"
