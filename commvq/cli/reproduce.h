// `commvq reproduce`: the library's main job in one command. On a GGUF model
// and two texts (defaults: SmolLM2-135M and the project's calibration and
// evaluation texts) it dumps KV caches, trains CommVQ key and value
// codebooks at 1 and 2 bits, measures every method (fp16, commvq-1/2,
// kivi-1/2, int4, fp8, rvq-1/2) for perplexity with and without the
// full-precision window, passkey retrieval, key/value error and attention
// error, bytes per token and memory at the model's maximum context, and
// decode-attention speed; then writes report.md, report.json and PNG plots
// to the output folder and prints the table (or the JSON with --json).
//
// Each step is a commvq command run in-process as a cached stage
// (reproduce_stages.h): a second run starts where inputs changed.
#ifndef COMMVQ_CLI_REPRODUCE_H_
#define COMMVQ_CLI_REPRODUCE_H_

#include <vector>

#include "absl/status/status.h"
#include "commvq/cli/cli_io.h"
#include "commvq/cli/flags.h"
#include "commvq/cli/reproduce_stages.h"

namespace commvq {
namespace cli {

std::vector<FlagDef> ReproduceFlags();

// Runs the pipeline; `runner` runs each stage's commvq command (RunCli).
// Stages that fail leave their measurements missing (n/a, with the reason
// in the report); a failure to dump the KV caches or to write the report is
// an error.
absl::Status RunReproduce(const ParsedFlags& flags, const CliIo& io,
                          const CommandRunner& runner);

}  // namespace cli
}  // namespace commvq

#endif  // COMMVQ_CLI_REPRODUCE_H_
