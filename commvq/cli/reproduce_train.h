// `commvq train-codebooks`: trains registry quantizers (any spec, e.g. the
// rvq baseline) for the keys and values of every layer of a KV dump and
// writes them to a codebook file as layer.<i>.key / layer.<i>.value, the
// form the compressed cache loads (--cache commvq:codebooks=FILE). The
// reproduction uses it for the baselines that need training data.
#ifndef COMMVQ_CLI_REPRODUCE_TRAIN_H_
#define COMMVQ_CLI_REPRODUCE_TRAIN_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "commvq/cli/cli_io.h"
#include "commvq/cli/flags.h"

namespace commvq {
namespace cli {

std::vector<FlagDef> TrainCodebooksFlags();
absl::Status RunTrainCodebooks(const ParsedFlags& flags, absl::string_view,
                               const CliIo& io);

}  // namespace cli
}  // namespace commvq

#endif  // COMMVQ_CLI_REPRODUCE_TRAIN_H_
