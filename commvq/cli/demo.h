// `commvq demo`: trains each quantizer spec on synthetic KV data, encodes
// and decodes held-out tokens, and reports size, error and speed, so a user
// can compare quantizers (and plugins) on one screen.
#ifndef COMMVQ_CLI_DEMO_H_
#define COMMVQ_CLI_DEMO_H_

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "commvq/base/thread_pool.h"
#include "commvq/registry/registry.h"

namespace commvq {
namespace cli {

// fp16, bf16, then int at 8, 4, 2 and 1 bits.
std::vector<std::string> DefaultDemoSpecs();

struct DemoOptions {
  std::vector<std::string> specs = DefaultDemoSpecs();
  // The first half trains, the second half is encoded. >= 2.
  int64_t tokens = 4096;
  int64_t head_dim = 64;
  int64_t num_kv_heads = 3;
  uint64_t seed = 0;
  // Encoding is repeated until it has taken this long, so the throughput
  // of fast quantizers is not dominated by timer noise. 0 encodes once.
  double min_timing_seconds = 0.1;
};

struct DemoRow {
  std::string spec;  // as given
  double bits_per_element = 0.0;
  // Stored bytes of one token's keys and values (all heads), side data
  // included.
  double bytes_per_token = 0.0;
  // sum (x - x_hat)^2 / sum x^2 over the held-out tokens.
  double key_relative_mse = 0.0;
  double value_relative_mse = 0.0;
  // Megabytes (10^6 bytes) of f32 keys and values encoded per second.
  double encode_mb_per_second = 0.0;
};

// Runs every spec of `options` against `registry`, in order. `pool` (not
// owned, may be null) trains and encodes. `progress`, if set, is called with
// the number of specs done so far (fractional while one is running),
// possibly from pool threads. Errors (InvalidArgument for bad options, the
// registry's errors for a bad spec) name the offending spec or value.
absl::StatusOr<std::vector<DemoRow>> RunDemo(
    const DemoOptions& options, const QuantizerRegistry& registry,
    ThreadPool* pool, const std::function<void(double)>& progress = {});

// The results as an aligned table, one row per spec.
void PrintDemoTable(absl::Span<const DemoRow> rows, std::ostream& out);

}  // namespace cli
}  // namespace commvq

#endif  // COMMVQ_CLI_DEMO_H_
