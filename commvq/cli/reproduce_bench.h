// `commvq bench decode`: decode-attention time of one KV cache (any --cache
// spec: fp16, kivi, int, fp8, a trained codebook file, ...) on a real
// model's shape, filled with the keys and values of a KV dump. For each
// context length the cache holds that many tokens (the dump's tokens,
// repeated when the context is longer) and one decode step is timed: the
// query of the last position attends through every layer. Reported as the
// median over repeats, in microseconds of CPU time (all threads) per decoded
// token: unlike wall time it does not grow when other processes share the
// cores. The reproduction runs it once per method with one thread, so
// methods compare on the same shape, data and budget.
#ifndef COMMVQ_CLI_REPRODUCE_BENCH_H_
#define COMMVQ_CLI_REPRODUCE_BENCH_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "commvq/cli/cli_io.h"
#include "commvq/cli/flags.h"

namespace commvq {
namespace cli {

std::vector<FlagDef> BenchDecodeFlags();
absl::Status RunBenchDecode(const ParsedFlags& flags, absl::string_view,
                            const CliIo& io);

}  // namespace cli
}  // namespace commvq

#endif  // COMMVQ_CLI_REPRODUCE_BENCH_H_
