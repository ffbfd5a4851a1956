// The methods `commvq reproduce` compares, and the command-line arguments
// that select each one's quantizers in the commands the pipeline runs
// (eval-kv, eval-ppl, eval-passkey, bench attention).
#ifndef COMMVQ_CLI_REPRODUCE_METHODS_H_
#define COMMVQ_CLI_REPRODUCE_METHODS_H_

#include <cstdint>
#include <string>
#include <vector>

namespace commvq {
namespace cli {

struct ReproduceMethod {
  std::string name;     // fp16, commvq-1, kivi-2, ...
  double nominal_bits;  // the count papers quote
  // Registry specs (registry.h) eval-kv trains; empty for CommVQ, whose
  // quantizers are the trained codebook file.
  std::string key_spec;
  std::string value_spec;
  // The cache of eval-ppl / eval-passkey (kvcache/cache_spec.h) without its
  // window; empty when the quantizers come from a trained codebook file
  // (CodebookFileFor).
  std::string cache_spec;
  int commvq_bits = 0;  // 1 or 2 for CommVQ, else 0
};

// fp16, commvq-1, commvq-2, kivi-1, kivi-2, int4, fp8, rvq-1, rvq-2.
const std::vector<ReproduceMethod>& ReproduceMethods();

// The codebook file with the method's trained layer.<i>.key and
// layer.<i>.value quantizers, in the output folder.
std::string CodebookFileFor(const std::string& out_dir,
                            const ReproduceMethod& method);

// The CommVQ key codebooks of `bits` alone (train-keys' output, which the
// value training then copies and extends into CodebookFileFor).
std::string KeyCodebookFile(const std::string& out_dir, int bits);

// The arguments of eval-kv that select the method's key and value
// quantizers.
std::vector<std::string> QualityArgs(const ReproduceMethod& method,
                                     const std::string& out_dir);

// The --cache spec of eval-ppl / eval-passkey / bench attention for the
// method with a full-precision window of `window` tokens; with
// `full_precision_prefill`, a forward call's own tokens stay exact for that
// call (the cache option prefill=full).
std::string CacheSpec(const ReproduceMethod& method, const std::string& out_dir,
                      int64_t window, bool full_precision_prefill = false);

// Files a method's stages read besides the model, texts and dumps (its
// trained codebook file).
std::vector<std::string> MethodInputs(const ReproduceMethod& method,
                                      const std::string& out_dir);

}  // namespace cli
}  // namespace commvq

#endif  // COMMVQ_CLI_REPRODUCE_METHODS_H_
