#include "commvq/registry/registry.h"

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "commvq/base/status_macros.h"
#include "commvq/quantizer/serialized_quantizer.h"
#include "commvq/registry/builtin_quantizers.h"

namespace commvq {

QuantizerRegistry& QuantizerRegistry::Default() {
  // Built once, thread-safely, on first use; never destroyed so plugins and
  // quantizers outliving static destruction stay valid.
  static QuantizerRegistry* registry = [] {
    auto* r = new QuantizerRegistry();
    // Cannot fail: the built-in names are distinct (registry_test checks).
    r->Register(BuiltinQuantizerFactories()).IgnoreError();
    return r;
  }();
  return *registry;
}

absl::Status QuantizerRegistry::Register(
    std::vector<std::unique_ptr<QuantizerFactory>> factories) {
  std::lock_guard<std::mutex> lock(mu_);
  std::set<std::string, std::less<>> names;
  for (const auto& factory : factories) {
    const std::string& name = factory->description().name;
    if (factories_.count(name) > 0 || !names.insert(name).second) {
      return absl::AlreadyExistsError(
          absl::StrCat("a quantizer named '", name, "' is already registered"));
    }
  }
  for (auto& factory : factories) {
    std::string name = factory->description().name;
    factories_.emplace(std::move(name), std::move(factory));
  }
  return absl::OkStatus();
}

absl::Status QuantizerRegistry::Register(
    std::unique_ptr<QuantizerFactory> factory) {
  std::vector<std::unique_ptr<QuantizerFactory>> one;
  one.push_back(std::move(factory));
  return Register(std::move(one));
}

absl::StatusOr<const QuantizerFactory*> QuantizerRegistry::Find(
    absl::string_view name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = factories_.find(name);
  if (it != factories_.end()) return it->second.get();
  std::vector<absl::string_view> known;
  for (const auto& [known_name, unused] : factories_) known.push_back(known_name);
  return absl::NotFoundError(absl::StrCat("unknown quantizer '", name,
                                          "': registered are ",
                                          absl::StrJoin(known, ", ")));
}

std::vector<const QuantizerDescription*> QuantizerRegistry::List() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<const QuantizerDescription*> out;
  for (const auto& [name, factory] : factories_) {
    out.push_back(&factory->description());
  }
  return out;
}

absl::StatusOr<QuantizerRegistry::Resolved> QuantizerRegistry::FindAndResolve(
    absl::string_view spec) const {
  CVQ_ASSIGN_OR_RETURN(QuantizerSpec parsed, ParseQuantizerSpec(spec));
  CVQ_ASSIGN_OR_RETURN(const QuantizerFactory* factory, Find(parsed.name));
  CVQ_ASSIGN_OR_RETURN(ResolvedOptions options,
                       ResolveOptions(factory->description().options, parsed));
  return Resolved{factory, std::move(options)};
}

absl::StatusOr<ResolvedOptions> QuantizerRegistry::Resolve(
    absl::string_view spec) const {
  CVQ_ASSIGN_OR_RETURN(Resolved resolved, FindAndResolve(spec));
  return std::move(resolved.options);
}

absl::StatusOr<std::unique_ptr<Quantizer>> QuantizerRegistry::Train(
    absl::string_view spec, const TensorView& samples,
    const TrainOptions& options) const {
  CVQ_ASSIGN_OR_RETURN(Resolved resolved, FindAndResolve(spec));
  CVQ_RETURN_IF_ERROR(
      CheckTensor(samples, "samples", DType::kF32, {kAnyDim, kAnyDim}));
  if (samples.dim(1) < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("samples: dim is ", samples.dim(1),
                     ": expected at least 1 element per vector"));
  }
  CVQ_RETURN_IF_ERROR(CheckFinite(samples.span<float>().data(), samples.dim(0),
                                  samples.dim(1), "samples"));
  return resolved.factory->Train(resolved.options, samples, options);
}

absl::StatusOr<std::unique_ptr<Quantizer>> QuantizerRegistry::Deserialize(
    absl::string_view bytes) const {
  CVQ_ASSIGN_OR_RETURN(FramedQuantizer framed, UnframeQuantizer(bytes));
  CVQ_ASSIGN_OR_RETURN(Resolved resolved, FindAndResolve(framed.spec));
  return resolved.factory->Deserialize(resolved.options, framed.dim,
                                       framed.payload);
}

}  // namespace commvq
