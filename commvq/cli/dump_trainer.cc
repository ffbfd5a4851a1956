#include "commvq/cli/dump_trainer.h"

#include "absl/strings/str_cat.h"
#include "commvq/base/thread_pool.h"
#include "commvq/cli/model_commands.h"
#include "commvq/cli/progress_bar.h"

namespace commvq {
namespace cli {

absl::Status RunDumpTrainer(
    const ParsedFlags& flags, const CliIo& io, absl::string_view command,
    absl::string_view what,
    const std::function<absl::Status(const DumpTrainerRun&)>& train) {
  if (!flags.Has("kv") || !flags.Has("out")) {
    return absl::InvalidArgumentError(
        absl::StrCat(command, " needs --kv=DUMP and --out=FILE"));
  }
  ThreadPool pool(flags.Has("threads")
                      ? static_cast<int>(flags.GetInt("threads"))
                      : ThreadPool::DefaultNumThreads());
  ProgressBar bar(std::string(command), 1.0, io.err, io.err_is_terminal);
  DumpTrainerRun run;
  run.kv = UserPath(GetStringOr(flags, "kv", ""));
  run.out = UserPath(GetStringOr(flags, "out", ""));
  run.pool = &pool;
  run.progress = [&bar](double done) { bar.Update(done); };
  const absl::Status status = train(run);
  bar.Finish();
  if (!status.ok()) return status;
  io.out << "wrote " << what << " to " << run.out << "\n";
  return absl::OkStatus();
}

}  // namespace cli
}  // namespace commvq
