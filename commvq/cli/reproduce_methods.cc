#include "commvq/cli/reproduce_methods.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace commvq {
namespace cli {

const std::vector<ReproduceMethod>& ReproduceMethods() {
  // Plain residual VQ (the VQLLM baseline) quantizes 16-element subvectors
  // of the normalized token with 8-bit residual stages: 2 stages give 1 bit
  // per element, 4 give 2 (plus the fp16 norm), with 256-codeword k-means
  // codebooks (10 Lloyd iterations) that train quickly on a short
  // calibration dump.
  static const auto* methods = new std::vector<ReproduceMethod>{
      {"fp16", 16.0, "fp16", "fp16", "fp16", 0},
      {"commvq-1", 1.0, "", "", "", 1},
      {"commvq-2", 2.0, "", "", "", 2},
      {"kivi-1", 2.0, "kivi:mode=key,bits=1", "kivi:mode=value,bits=1",
       "kivi:bits=1", 0},
      {"kivi-2", 3.0, "kivi:mode=key,bits=2", "kivi:mode=value,bits=2",
       "kivi:bits=2", 0},
      {"int4", 4.0, "int:bits=4", "int:bits=4", "int:bits=4", 0},
      {"fp8", 8.0, "fp8", "fp8", "fp8", 0},
      {"rvq-1", 1.0, "rvq:stages=2,bits=8,subvector=16,iterations=10",
       "rvq:stages=2,bits=8,subvector=16,iterations=10", "", 0},
      {"rvq-2", 2.0, "rvq:stages=4,bits=8,subvector=16,iterations=10",
       "rvq:stages=4,bits=8,subvector=16,iterations=10", "", 0},
  };
  return *methods;
}

std::string CodebookFileFor(const std::string& out_dir,
                            const ReproduceMethod& method) {
  return absl::StrCat(out_dir, "/", method.name, ".cvqcb");
}

std::string KeyCodebookFile(const std::string& out_dir, int bits) {
  return absl::StrCat(out_dir, "/commvq-", bits, ".keys.cvqcb");
}

std::vector<std::string> QualityArgs(const ReproduceMethod& method,
                                     const std::string& out_dir) {
  if (method.commvq_bits == 0) {
    return {"--keys", method.key_spec, "--values", method.value_spec};
  }
  const std::string file = CodebookFileFor(out_dir, method);
  return {"--key_codebooks", file, "--value_codebooks", file};
}

std::string CacheSpec(const ReproduceMethod& method, const std::string& out_dir,
                      int64_t window, bool full_precision_prefill) {
  // kivi's and commvq's own forms separate options with ","; registry specs
  // with ";".
  const bool registry_spec = !method.cache_spec.empty() &&
                             method.cache_spec.rfind("kivi", 0) != 0;
  const char* separator = registry_spec ? ";" : ",";
  const std::string head =
      method.cache_spec.empty()
          ? absl::StrCat("commvq:codebooks=", CodebookFileFor(out_dir, method))
          : method.cache_spec;
  return absl::StrCat(head, separator, "window=", window,
                      full_precision_prefill
                          ? absl::StrCat(separator, "prefill=full")
                          : "");
}

std::vector<std::string> MethodInputs(const ReproduceMethod& method,
                                      const std::string& out_dir) {
  if (!method.cache_spec.empty()) return {};
  return {CodebookFileFor(out_dir, method)};
}

}  // namespace cli
}  // namespace commvq
