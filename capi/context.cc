// cvq_context: the backend and the thread pool work runs on.
#include "absl/strings/str_cat.h"
#include "capi/handles.h"
#include "capi/internal.h"
#include "commvq/base/status_macros.h"

namespace {

using commvq::capi::CheckNotNull;
using commvq::capi::CheckStruct;
using commvq::capi::Guard;

constexpr int32_t kMaxThreads = 4096;

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
    if (backend == "cuda") {
      return absl::UnavailableError(
          "backend \"cuda\" is not available: this libcommvq has no CUDA "
          "entry points yet; use \"cpu\"");
    }
    if (backend != "cpu") {
      return absl::InvalidArgumentError(
          absl::StrCat("`options->backend` is \"", backend,
                       "\"; expected \"cpu\" or \"cuda\""));
    }
    if (defaults.stream != nullptr || defaults.device_id != 0) {
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
