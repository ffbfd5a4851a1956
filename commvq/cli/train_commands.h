// `commvq train-keys`: trains CommVQ key codebooks (EM, RoPE-commutative) on
// a KV dump and writes a codebook file. The command line is the application
// layer, so it may use training/ (the library layers never do).
#ifndef COMMVQ_CLI_TRAIN_COMMANDS_H_
#define COMMVQ_CLI_TRAIN_COMMANDS_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "commvq/cli/cli_io.h"
#include "commvq/cli/flags.h"

namespace commvq {
namespace cli {

std::vector<FlagDef> TrainKeysFlags();
absl::Status RunTrainKeys(const ParsedFlags& flags, absl::string_view,
                          const CliIo& io);

}  // namespace cli
}  // namespace commvq

#endif  // COMMVQ_CLI_TRAIN_COMMANDS_H_
