// The commands that run the real model: `dump-kv`, `eval-ppl` and
// `eval-passkey`. Each loads a GGUF checkpoint, tokenizes a text and reports
// on stdout (a table, or JSON with --json).
#ifndef COMMVQ_CLI_MODEL_COMMANDS_H_
#define COMMVQ_CLI_MODEL_COMMANDS_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "commvq/cli/cli_io.h"
#include "commvq/cli/flags.h"

namespace commvq {
namespace cli {

std::vector<FlagDef> DumpKvFlags();
absl::Status RunDumpKv(const ParsedFlags& flags, absl::string_view,
                       const CliIo& io);

std::vector<FlagDef> EvalPplFlags();
absl::Status RunEvalPpl(const ParsedFlags& flags, absl::string_view,
                        const CliIo& io);

std::vector<FlagDef> EvalPasskeyFlags();
absl::Status RunEvalPasskey(const ParsedFlags& flags, absl::string_view,
                            const CliIo& io);

std::vector<FlagDef> EvalKvFlags();
absl::Status RunEvalKv(const ParsedFlags& flags, absl::string_view,
                       const CliIo& io);

std::vector<FlagDef> GenerateFlags();
absl::Status RunGenerate(const ParsedFlags& flags, absl::string_view,
                         const CliIo& io);

// A path given on the command line: under `bazel run` relative paths are
// taken from the workspace root ($BUILD_WORKSPACE_DIRECTORY), so the
// defaults (.cache/...) and the README's examples work from anywhere in the
// checkout; otherwise from the working directory.
std::string UserPath(absl::string_view path);

}  // namespace cli
}  // namespace commvq

#endif  // COMMVQ_CLI_MODEL_COMMANDS_H_
