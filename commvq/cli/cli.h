// The commvq command line: subcommand dispatch, usage text, and the glue
// between each subcommand's flags and the library (plugins, thread pool,
// progress bar). main() only forwards argv here, so all of it is testable.
#ifndef COMMVQ_CLI_CLI_H_
#define COMMVQ_CLI_CLI_H_

#include <ostream>
#include <string>

#include "absl/types/span.h"
#include "commvq/cli/cli_io.h"

namespace commvq {
namespace cli {

// Process exit statuses.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the command ran and failed
inline constexpr int kExitUsage = 2;    // bad command line; nothing ran

// Runs `commvq <args...>` (`args` without the program name) and returns the
// exit status.
int RunCli(absl::Span<const std::string> args, const CliIo& io);

// Every command with its flags (what `commvq --help` prints).
std::string Usage();

}  // namespace cli
}  // namespace commvq

#endif  // COMMVQ_CLI_CLI_H_
