// `commvq bench attention`: decode attention of one new token over one layer
// of the LLaMA-3.1-8B shape (32 query heads, 8 KV heads, head_dim 128,
// batch 1) at several context lengths and thread counts, for the dense fp32
// and fp16 baselines (GQA-aware kernels of kernels/cpu), CommVQ 1 and 2 bits
// (both key kernels) and KIVI-2, all in this process, so the times compare.
#ifndef COMMVQ_CLI_ATTENTION_BENCH_H_
#define COMMVQ_CLI_ATTENTION_BENCH_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "commvq/cli/cli_io.h"
#include "commvq/cli/flags.h"

namespace commvq {
namespace cli {

std::vector<FlagDef> BenchAttentionFlags();
absl::Status RunBenchAttention(const ParsedFlags& flags, absl::string_view,
                               const CliIo& io);

}  // namespace cli
}  // namespace commvq

#endif  // COMMVQ_CLI_ATTENTION_BENCH_H_
