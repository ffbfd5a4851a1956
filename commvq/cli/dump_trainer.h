// The plumbing the trainers' commands (train-keys, train-values) share:
// --kv and --out (both required, relative to the caller's folder), a
// thread pool of --threads workers (default one per core) and a progress
// bar on stderr.
#ifndef COMMVQ_CLI_DUMP_TRAINER_H_
#define COMMVQ_CLI_DUMP_TRAINER_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "commvq/cli/cli_io.h"
#include "commvq/cli/flags.h"

namespace commvq {

class ThreadPool;

namespace cli {

// What a trainer gets: the dump and output paths, the pool and the progress
// callback (completed fraction in [0, 1]).
struct DumpTrainerRun {
  std::string kv;
  std::string out;
  ThreadPool* pool = nullptr;
  std::function<void(double)> progress;
};

// Runs `train` for `command` ("train-keys") and, once it succeeds, prints
// "wrote <what> to <out>". InvalidArgument naming the command when --kv or
// --out is missing.
absl::Status RunDumpTrainer(
    const ParsedFlags& flags, const CliIo& io, absl::string_view command,
    absl::string_view what,
    const std::function<absl::Status(const DumpTrainerRun&)>& train);

}  // namespace cli
}  // namespace commvq

#endif  // COMMVQ_CLI_DUMP_TRAINER_H_
