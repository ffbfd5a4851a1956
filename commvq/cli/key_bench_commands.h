// `commvq bench key-encode` and `commvq bench key-em`: the two performance
// figures of the CommVQ key quantizer, each a ratio against a baseline run
// in the same process (no absolute thresholds), printed as JSON with --json.
#ifndef COMMVQ_CLI_KEY_BENCH_COMMANDS_H_
#define COMMVQ_CLI_KEY_BENCH_COMMANDS_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "commvq/cli/cli_io.h"
#include "commvq/cli/flags.h"

namespace commvq {
namespace cli {

// Structured greedy encoding (StructuredKeyEncoder) against the blocked-GEMM
// brute force (GemmKeyEncoder) at head_dim 128, h = 6, 21 stages.
std::vector<FlagDef> BenchKeyEncodeFlags();
absl::Status RunBenchKeyEncode(const ParsedFlags& flags, absl::string_view,
                               const CliIo& io);

// One EM stage with structured statistics (TrainKeyStage) against the dense
// official algorithm (TrainKeyStageDense), at head_dim 128, h = 6.
std::vector<FlagDef> BenchKeyEmFlags();
absl::Status RunBenchKeyEm(const ParsedFlags& flags, absl::string_view,
                           const CliIo& io);

}  // namespace cli
}  // namespace commvq

#endif  // COMMVQ_CLI_KEY_BENCH_COMMANDS_H_
