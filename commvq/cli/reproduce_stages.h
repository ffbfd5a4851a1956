// The stages of `commvq reproduce` and their cache. A stage is one commvq
// command line (dump-kv, train-keys, eval-ppl --json, ...) whose stdout is
// its result; running the pipeline's steps as the same commands a user can
// type keeps one implementation of each measurement, and makes every stage
// reproducible by hand.
//
// Each finished stage is recorded in the output folder as <id>.json with the
// stdout and a key made of its command line, the size and CRC-32C of every
// input file and of the program itself (a rebuilt library may encode or
// measure differently, so its records are not reused). A later run with the same key whose output files still
// exist reuses the record instead of running the command: a second
// `reproduce` starts at evaluation, and changing a setting or an input file
// reruns exactly the stages that depend on it.
#ifndef COMMVQ_CLI_REPRODUCE_STAGES_H_
#define COMMVQ_CLI_REPRODUCE_STAGES_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "commvq/cli/cli_io.h"

namespace commvq {
namespace cli {

struct Stage {
  // Unique within a run and stable across runs: the record's file name
  // (letters, digits, '-', '_' and '.'), e.g. "ppl.kivi-1.window128".
  std::string id;
  std::string label;  // shown in the progress lines
  // The command line after "commvq", e.g. {"eval-ppl", "--json", ...}.
  std::vector<std::string> args;
  // Appended to `args` when running but not part of the key (settings that
  // do not change results, such as --threads).
  std::vector<std::string> run_args;
  // Files the command reads (their content is part of the key) and writes
  // (a record counts only while they all exist).
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  // Runs before the command when the record is not reused (e.g. copies a
  // file the command then extends); may be empty.
  std::function<absl::Status()> prepare;
};

struct StageResult {
  std::string stdout_text;
  double seconds = 0.0;  // of the run that made it
  bool cached = false;
};

// Runs a commvq command line (RunCli in production, fakes in tests) and
// returns its exit status.
using CommandRunner =
    std::function<int(absl::Span<const std::string> args, const CliIo& io)>;

class StageRunner {
 public:
  // Records live in `dir`, which must exist. `total` stages are expected
  // (for the "[i/total]" progress lines written to `log`). `program` is
  // the file of the program that runs the commands (/proc/self/exe); its
  // fingerprint is part of every key.
  StageRunner(std::string dir, CommandRunner runner, std::ostream& log,
              int total, std::string program = "/proc/self/exe");

  // The recorded result when its key matches and its outputs exist;
  // otherwise runs the command, records it and returns its stdout. A failed
  // command is not recorded and gives Internal with the stage's label and
  // the command's error output.
  absl::StatusOr<StageResult> Run(const Stage& stage);

  // The key of `stage` (its command line and input fingerprints), for tests.
  absl::StatusOr<std::string> Key(const Stage& stage);

  int runs() const { return runs_; }  // commands actually run

 private:
  // "<size> <crc32c hex>" of a file, memoized: the dumps are read once.
  absl::StatusOr<std::string> Fingerprint(const std::string& path);

  const std::string dir_;
  const CommandRunner runner_;
  std::ostream& log_;
  const int total_;
  const std::string program_;
  int started_ = 0;
  int runs_ = 0;
  std::map<std::string, std::string> fingerprints_;
};

}  // namespace cli
}  // namespace commvq

#endif  // COMMVQ_CLI_REPRODUCE_STAGES_H_
