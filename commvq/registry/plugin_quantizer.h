// Adapts a plugin's C table (plugin_api.h) to QuantizerFactory / Quantizer,
// so plugin quantizers go through the same validation, serialization and
// tests as built-in ones.
#ifndef COMMVQ_REGISTRY_PLUGIN_QUANTIZER_H_
#define COMMVQ_REGISTRY_PLUGIN_QUANTIZER_H_

#include <memory>

#include "absl/status/statusor.h"
#include "commvq/quantizer/quantizer.h"
#include "commvq/registry/plugin_api.h"

namespace commvq {

// Validates `table` (struct size, name, function pointers, option
// declarations) and wraps it. `table` must outlive the factory (plugins are
// never unloaded). InvalidArgument naming the defect otherwise.
absl::StatusOr<std::unique_ptr<QuantizerFactory>> MakePluginQuantizerFactory(
    const cvq_plugin_quantizer* table);

}  // namespace commvq

#endif  // COMMVQ_REGISTRY_PLUGIN_QUANTIZER_H_
