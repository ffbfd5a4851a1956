#include "commvq/backend/cuda_provider_loader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace commvq {
namespace {

// The directory of the shared object (or executable) this function is in,
// with a trailing '/', or "" when the loader cannot say.
std::string OwnDirectory() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&OwnDirectory), &info) == 0 ||
      info.dli_fname == nullptr) {
    return "";
  }
  const std::string file = info.dli_fname;
  const size_t slash = file.rfind('/');
  return slash == std::string::npos ? "" : file.substr(0, slash + 1);
}

// Why dlopen or dlsym failed, or `fallback` when it does not say.
std::string LoaderError(const char* fallback) {
  const char* error = dlerror();
  return error != nullptr ? error : fallback;
}

}  // namespace

absl::StatusOr<const commvq_cuda_provider*> LoadCudaProviderFrom(
    const std::string& path) {
  dlerror();  // clear a stale message
  // RTLD_LOCAL: the provider's own copies of its dependencies stay private.
  void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot load ", path, ": ", LoaderError("unknown error")));
  }
  auto entry = reinterpret_cast<commvq_cuda_provider_entry>(
      dlsym(library, COMMVQ_CUDA_PROVIDER_ENTRY));
  if (entry == nullptr) {
    const std::string error = LoaderError("symbol not found");
    dlclose(library);
    return absl::UnavailableError(
        absl::StrCat(path, " is not a CommVQ CUDA provider: no symbol ",
                     COMMVQ_CUDA_PROVIDER_ENTRY, " (", error, ")"));
  }
  const commvq_cuda_provider* provider = entry();
  if (provider == nullptr || provider->abi_version != COMMVQ_CUDA_PROVIDER_ABI ||
      provider->struct_size < sizeof(commvq_cuda_provider)) {
    const std::string found =
        provider == nullptr
            ? std::string("no function table")
            : absl::StrCat("provider ABI ", provider->abi_version,
                           " with a table of ", provider->struct_size,
                           " bytes");
    dlclose(library);
    return absl::UnavailableError(absl::StrCat(
        path, " speaks another CUDA provider ABI: ", found,
        "; this libcommvq expects ABI ", COMMVQ_CUDA_PROVIDER_ABI,
        " with a table of at least ", sizeof(commvq_cuda_provider),
        " bytes (install the provider built with this libcommvq)"));
  }
  // Never unloaded: caches created through it may live until exit.
  return provider;
}

absl::StatusOr<const commvq_cuda_provider*> LoadCudaProvider() {
  static const auto* const loaded =
      new absl::StatusOr<const commvq_cuda_provider*>([] {
        if (const char* path = std::getenv("COMMVQ_CUDA_PROVIDER")) {
          return LoadCudaProviderFrom(path);
        }
        std::vector<std::string> failures;
        const std::string beside = OwnDirectory();
        for (const std::string& candidate :
             {beside.empty() ? std::string()
                             : beside + COMMVQ_CUDA_PROVIDER_LIBRARY,
              std::string(COMMVQ_CUDA_PROVIDER_LIBRARY)}) {
          if (candidate.empty()) continue;
          auto provider = LoadCudaProviderFrom(candidate);
          // A library that loads but is wrong is reported as it is.
          if (provider.ok() ||
              provider.status().message().find("cannot load") != 0) {
            return provider;
          }
          failures.push_back(std::string(provider.status().message()));
        }
        return absl::StatusOr<const commvq_cuda_provider*>(
            absl::UnavailableError(absl::StrCat(
                "backend \"cuda\" needs the CUDA provider library ",
                COMMVQ_CUDA_PROVIDER_LIBRARY,
                " (built with CUDA: bazel build //capi:libcommvq_cuda_so_1; "
                "or set COMMVQ_CUDA_PROVIDER to its path): ",
                absl::StrJoin(failures, "; "))));
      }());
  return *loaded;
}

}  // namespace commvq
