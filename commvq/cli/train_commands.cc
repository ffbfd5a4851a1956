#include "commvq/cli/train_commands.h"

#include <limits>
#include <string>

#include "commvq/base/status_macros.h"
#include "commvq/cli/dump_trainer.h"
#include "commvq/cli/model_commands.h"
#include "training/train_keys.h"

namespace commvq {
namespace cli {

std::vector<FlagDef> TrainKeysFlags() {
  return {StringFlag("kv", "DUMP", "KV dump from dump-kv (safetensors)."),
          IntFlag("bits", "Code bits per element (1 or 2).", "1", 1, 2),
          IntFlag("stages", "Residual stages per head; 0 = from --bits.", "0",
                  0, 64),
          IntFlag("iters", "EM iterations per stage.", "100", 1, 100000),
          IntFlag("samples", "Tokens per layer, evenly spaced; 0 = all.", "0",
                  0, std::numeric_limits<int64_t>::max()),
          StringFlag("layers", "LIST",
                     "Comma-separated layer indices (default: all)."),
          IntFlag("seed", "Seed of training.", "0", 0,
                  std::numeric_limits<int64_t>::max()),
          IntFlag("threads", "Worker threads (default: one per core).", "", 1,
                  1024),
          StringFlag("out", "FILE", "Codebook file to write."),
          StringFlag("checkpoint", "DIR",
                     "Save each layer's codebooks after every stage in DIR "
                     "and resume from what is there (same settings only)."),
          BoolFlag("help", "Show this command's flags.")};
}

absl::Status RunTrainKeys(const ParsedFlags& flags, absl::string_view,
                          const CliIo& io) {
  TrainKeysFileOptions options;
  options.bits = static_cast<int>(flags.GetInt("bits"));
  options.stages = static_cast<int>(flags.GetInt("stages"));
  options.iterations = static_cast<int>(flags.GetInt("iters"));
  options.max_samples = flags.GetInt("samples");
  options.seed = static_cast<uint64_t>(flags.GetInt("seed"));
  CVQ_ASSIGN_OR_RETURN(options.layers, GetIntList(flags, "layers"));
  if (flags.Has("checkpoint")) {
    options.checkpoint_dir = UserPath(GetStringOr(flags, "checkpoint", ""));
  }
  return RunDumpTrainer(flags, io, "train-keys", "key codebooks",
                        [&](const DumpTrainerRun& run) {
                          options.pool = run.pool;
                          options.progress = run.progress;
                          return TrainKeysFromDump(run.kv, options, run.out);
                        });
}

}  // namespace cli
}  // namespace commvq
