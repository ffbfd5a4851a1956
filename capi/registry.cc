// Registry listing and plugin loading over the process-wide registry.
#include "commvq/registry/registry.h"

#include "absl/strings/str_cat.h"
#include "capi/internal.h"
#include "commvq/base/status_macros.h"
#include "commvq/registry/plugin_loader.h"

namespace {

using commvq::QuantizerRegistry;
using commvq::capi::CheckNotNull;
using commvq::capi::CheckStruct;
using commvq::capi::Guard;

}  // namespace

extern "C" {

cvq_status* cvq_registry_count(uint32_t* count) {
  return Guard([&]() -> absl::Status {
    CVQ_RETURN_IF_ERROR(CheckNotNull(count, "count", "a uint32_t to fill"));
    *count = static_cast<uint32_t>(QuantizerRegistry::Default().List().size());
    return absl::OkStatus();
  });
}

cvq_status* cvq_registry_get(uint32_t index, cvq_quantizer_kind* kind) {
  return Guard([&]() -> absl::Status {
    CVQ_RETURN_IF_ERROR(CheckStruct(kind, "kind", "cvq_quantizer_kind"));
    const auto kinds = QuantizerRegistry::Default().List();
    if (index >= kinds.size()) {
      return absl::OutOfRangeError(
          absl::StrCat("`index` is ", index, "; expected < ", kinds.size(),
                       " (the number of registered quantizer kinds)"));
    }
    // Descriptions live as long as the registry (the process): factories
    // are never removed.
    const commvq::QuantizerDescription& d = *kinds[index];
    kind->name = d.name.c_str();
    kind->summary = d.summary.c_str();
    kind->example_spec =
        d.example_specs.empty() ? d.name.c_str() : d.example_specs[0].c_str();
    return absl::OkStatus();
  });
}

cvq_status* cvq_plugin_load(const char* path) {
  return Guard([&]() -> absl::Status {
    CVQ_RETURN_IF_ERROR(
        CheckNotNull(path, "path", "the path of a plugin shared object"));
    CVQ_RETURN_IF_ERROR(
        commvq::LoadQuantizerPlugin(path, QuantizerRegistry::Default()));
    commvq::capi::Log(CVQ_LOG_INFO, absl::StrCat("loaded plugin ", path));
    return absl::OkStatus();
  });
}

}  // extern "C"
