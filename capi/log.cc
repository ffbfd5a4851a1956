// The process-wide log callback: the library's only way to say anything
// (it never prints).
#include <mutex>

#include "absl/strings/str_cat.h"
#include "capi/internal.h"

namespace commvq {
namespace capi {
namespace {

struct LogSink {
  std::mutex mu;
  cvq_log_fn fn = nullptr;
  void* user_data = nullptr;
  int32_t min_level = CVQ_LOG_INFO;
};

LogSink& Sink() {
  static LogSink* const sink = new LogSink;
  return *sink;
}

}  // namespace

void Log(int32_t level, absl::string_view message) {
  LogSink& sink = Sink();
  cvq_log_fn fn;
  void* user_data;
  {
    std::lock_guard<std::mutex> lock(sink.mu);
    if (sink.fn == nullptr || level < sink.min_level) return;
    fn = sink.fn;
    user_data = sink.user_data;
  }
  // Called outside the lock: a slow callback must not serialize the library.
  const std::string text(message);
  fn(user_data, level, text.c_str());
}

}  // namespace capi
}  // namespace commvq

extern "C" cvq_status* cvq_set_log_callback(cvq_log_fn fn, void* user_data,
                                            int32_t min_level) {
  return commvq::capi::Guard([&]() -> absl::Status {
    if (min_level < CVQ_LOG_DEBUG || min_level > CVQ_LOG_ERROR) {
      return absl::InvalidArgumentError(absl::StrCat(
          "`min_level` is ", min_level, "; expected CVQ_LOG_DEBUG (",
          CVQ_LOG_DEBUG, ") .. CVQ_LOG_ERROR (", CVQ_LOG_ERROR, ")"));
    }
    commvq::capi::LogSink& sink = commvq::capi::Sink();
    std::lock_guard<std::mutex> lock(sink.mu);
    sink.fn = fn;
    sink.user_data = user_data;
    sink.min_level = min_level;
    return absl::OkStatus();
  });
}
