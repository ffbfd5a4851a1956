// Loads quantizer plugins (shared objects implementing plugin_api.h) into a
// registry.
//
// Only explicit paths are accepted: a path must contain a '/', so dlopen
// never searches the library path or the working directory. A loaded plugin
// is never unloaded (its tables and code must stay valid for the factories
// that wrap them).
#ifndef COMMVQ_REGISTRY_PLUGIN_LOADER_H_
#define COMMVQ_REGISTRY_PLUGIN_LOADER_H_

#include <string>

#include "absl/status/status.h"
#include "commvq/registry/registry.h"

namespace commvq {

// Loads the plugin at `path` and registers all its quantizers in `registry`,
// or none of them. Errors name the path and the cause:
//   NotFound          the file does not exist;
//   InvalidArgument   not a loadable shared object, no cvq_plugin_init
//                     symbol, a relative name without '/', an invalid table;
//   FailedPrecondition the plugin's ABI version differs from the host's;
//   AlreadyExists     a quantizer name is already registered.
// Thread-safe.
absl::Status LoadQuantizerPlugin(const std::string& path,
                                 QuantizerRegistry& registry);

}  // namespace commvq

#endif  // COMMVQ_REGISTRY_PLUGIN_LOADER_H_
