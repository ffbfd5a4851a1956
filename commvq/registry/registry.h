// The quantizer registry: names -> factories, and the entry points that turn
// a spec string or serialized bytes into a trained Quantizer.
//
// QuantizerRegistry::Default() holds the built-in quantizers (listed
// explicitly in builtin_quantizers.cc, registered on first use) plus any
// plugins loaded into it. Tests make their own registries.
//
// Thread safety: every method may be called concurrently. Factories are never
// removed, so pointers returned by Find()/List() stay valid for the
// registry's lifetime.
#ifndef COMMVQ_REGISTRY_REGISTRY_H_
#define COMMVQ_REGISTRY_REGISTRY_H_

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "commvq/quantizer/quantizer.h"

namespace commvq {

class QuantizerRegistry {
 public:
  QuantizerRegistry() = default;  // empty
  QuantizerRegistry(const QuantizerRegistry&) = delete;
  QuantizerRegistry& operator=(const QuantizerRegistry&) = delete;

  // The process-wide registry with the built-in quantizers.
  static QuantizerRegistry& Default();

  // Adds all factories or none: AlreadyExists naming the first duplicate
  // name (against the registry or within `factories`).
  absl::Status Register(std::vector<std::unique_ptr<QuantizerFactory>> factories);
  absl::Status Register(std::unique_ptr<QuantizerFactory> factory);

  // NotFound naming `name` and the registered names.
  absl::StatusOr<const QuantizerFactory*> Find(absl::string_view name) const;

  // Sorted by name.
  std::vector<const QuantizerDescription*> List() const;

  // Parses and validates `spec` against its factory's options.
  absl::StatusOr<ResolvedOptions> Resolve(absl::string_view spec) const;

  // Trains the quantizer `spec` describes on `samples` ([n, dim] f32, finite,
  // dim >= 1; n may be 0 for quantizers without trained parameters).
  absl::StatusOr<std::unique_ptr<Quantizer>> Train(
      absl::string_view spec, const TensorView& samples,
      const TrainOptions& options = {}) const;

  // Inverse of Quantizer::Serialize().
  absl::StatusOr<std::unique_ptr<Quantizer>> Deserialize(
      absl::string_view bytes) const;

 private:
  struct Resolved {
    const QuantizerFactory* factory;
    ResolvedOptions options;
  };
  absl::StatusOr<Resolved> FindAndResolve(absl::string_view spec) const;

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<QuantizerFactory>, std::less<>>
      factories_;
};

}  // namespace commvq

#endif  // COMMVQ_REGISTRY_REGISTRY_H_
