// `commvq train-values` (CommVQ value codebooks from a KV dump into a
// codebook file) and `commvq bench value-encode` (the mlp and search
// encoders of commvq_value at 1 and 2 bits on synthetic values, by default
// of d = 8 KV heads x 128 = 1024 as the issue asks).
// The command line is the application layer, so it may use training/.
#ifndef COMMVQ_CLI_VALUE_COMMANDS_H_
#define COMMVQ_CLI_VALUE_COMMANDS_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "commvq/cli/cli_io.h"
#include "commvq/cli/flags.h"

namespace commvq {
namespace cli {

std::vector<FlagDef> TrainValuesFlags();
absl::Status RunTrainValues(const ParsedFlags& flags, absl::string_view,
                            const CliIo& io);

std::vector<FlagDef> BenchValueEncodeFlags();
absl::Status RunBenchValueEncode(const ParsedFlags& flags, absl::string_view,
                                 const CliIo& io);

}  // namespace cli
}  // namespace commvq

#endif  // COMMVQ_CLI_VALUE_COMMANDS_H_
