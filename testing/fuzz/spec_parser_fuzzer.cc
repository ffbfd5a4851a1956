// Fuzzes the spec-string parser and option resolution against the built-in
// quantizers. Beyond "no crash", checks that a parsed spec prints back to a
// string that parses to the same spec.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "commvq/quantizer/quantizer_spec.h"
#include "commvq/registry/registry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<commvq::QuantizerSpec> spec = commvq::ParseQuantizerSpec(text);
  if (!spec.ok()) return 0;
  absl::StatusOr<commvq::QuantizerSpec> again =
      commvq::ParseQuantizerSpec(spec->ToString());
  if (!again.ok() || again->name != spec->name ||
      again->options != spec->options) {
    __builtin_trap();
  }
  absl::StatusOr<commvq::ResolvedOptions> resolved =
      commvq::QuantizerRegistry::Default().Resolve(text);
  if (resolved.ok()) {
    // The canonical form resolves to itself.
    absl::StatusOr<commvq::ResolvedOptions> canonical =
        commvq::QuantizerRegistry::Default().Resolve(resolved->canonical_spec());
    if (!canonical.ok() ||
        canonical->canonical_spec() != resolved->canonical_spec()) {
      __builtin_trap();
    }
  }
  return 0;
}
