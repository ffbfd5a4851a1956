#include "commvq/registry/plugin_loader.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "commvq/base/status_macros.h"
#include "commvq/registry/plugin_api.h"
#include "commvq/registry/plugin_quantizer.h"

namespace commvq {

absl::Status LoadQuantizerPlugin(const std::string& path,
                                 QuantizerRegistry& registry) {
  if (path.find('/') == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "plugin path '", path, "' has no '/': give an explicit path such as "
        "./", path, " (the library path and working directory are never "
        "searched)"));
  }
  struct stat info;
  if (stat(path.c_str(), &info) != 0) {
    return absl::NotFoundError(
        absl::StrCat("plugin '", path, "' does not exist"));
  }
  // RTLD_LOCAL keeps the plugin's symbols out of the global namespace, so
  // two plugins (or a plugin and the host) cannot interpose on each other.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* error = dlerror();
    return absl::InvalidArgumentError(absl::StrCat(
        "plugin '", path, "' cannot be loaded: ", error ? error : "unknown"));
  }
  // From here on the handle is deliberately never closed, even on error:
  // code of a plugin whose init ran may still be referenced (atexit, TLS).
  auto init = reinterpret_cast<cvq_plugin_init_fn>(
      dlsym(handle, CVQ_PLUGIN_ENTRY_POINT));
  if (init == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("plugin '", path, "' does not export ",
                     CVQ_PLUGIN_ENTRY_POINT));
  }
  const cvq_plugin_host host{sizeof(cvq_plugin_host), CVQ_PLUGIN_ABI_VERSION};
  cvq_plugin_registration registration{sizeof(cvq_plugin_registration),
                                       nullptr, 0};
  const uint32_t version = init(&host, &registration);
  if (version != CVQ_PLUGIN_ABI_VERSION) {
    return absl::FailedPreconditionError(absl::StrCat(
        "plugin '", path, "' was built for plugin ABI version ", version,
        ": this library implements version ", CVQ_PLUGIN_ABI_VERSION));
  }
  if (registration.num_quantizers > 0 && registration.quantizers == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "plugin '", path, "' registers ", registration.num_quantizers,
        " quantizers but a null table"));
  }
  std::vector<std::unique_ptr<QuantizerFactory>> factories;
  for (uint32_t i = 0; i < registration.num_quantizers; ++i) {
    absl::StatusOr<std::unique_ptr<QuantizerFactory>> factory =
        MakePluginQuantizerFactory(&registration.quantizers[i]);
    if (!factory.ok()) {
      return absl::Status(factory.status().code(),
                          absl::StrCat("plugin '", path, "': ",
                                       factory.status().message()));
    }
    factories.push_back(*std::move(factory));
  }
  absl::Status status = registry.Register(std::move(factories));
  if (!status.ok()) {
    return absl::Status(status.code(), absl::StrCat("plugin '", path, "': ",
                                                    status.message()));
  }
  return absl::OkStatus();
}

}  // namespace commvq
