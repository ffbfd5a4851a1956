// Status objects, versions and argument checks of the C ABI.
#include <new>

#include "absl/strings/str_cat.h"
#include "capi/internal.h"

namespace commvq {
namespace capi {
namespace {

// Returned when allocating a status fails; never freed.
cvq_status* OutOfMemoryStatus() {
  static cvq_status* const status =
      new cvq_status{CVQ_STATUS_RESOURCE_EXHAUSTED,
                     "out of memory (while reporting another error)"};
  return status;
}

}  // namespace

cvq_status* ToCStatus(const absl::Status& status) {
  if (status.ok()) return nullptr;
  try {
    return new cvq_status{static_cast<int32_t>(status.code()),
                          std::string(status.message())};
  } catch (const std::bad_alloc&) {
    return OutOfMemoryStatus();
  }
}

absl::Status CheckNotNull(const void* p, absl::string_view name,
                          absl::string_view what) {
  if (p != nullptr) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("argument `", name, "` is NULL; expected ", what));
}

absl::Status CheckStructSize(uint32_t struct_size, absl::string_view name,
                             absl::string_view type, size_t abi1_size) {
  if (struct_size >= abi1_size) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "`", name, "->struct_size` is ", struct_size, "; expected at least ",
      abi1_size, " (sizeof(", type, ") in ABI version ", CVQ_ABI_VERSION,
      "): set it to sizeof(", type, ")"));
}

}  // namespace capi
}  // namespace commvq

extern "C" {

uint32_t cvq_abi_version(void) { return CVQ_ABI_VERSION; }

const char* cvq_version_string(void) { return CVQ_VERSION_STRING; }

int32_t cvq_status_code(const cvq_status* status) {
  return status == nullptr ? CVQ_STATUS_OK : status->code;
}

const char* cvq_status_message(const cvq_status* status) {
  return status == nullptr ? "" : status->message.c_str();
}

void cvq_status_destroy(cvq_status* status) {
  if (status != commvq::capi::OutOfMemoryStatus()) delete status;
}

}  // extern "C"
