// Small synthetic KV dumps (the eval/kv_dump.h format) for the trainers'
// tests.
#ifndef COMMVQ_TRAINING_KV_DUMP_TEST_UTIL_H_
#define COMMVQ_TRAINING_KV_DUMP_TEST_UTIL_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace commvq {
namespace testing {

struct TestDumpShape {
  int num_layers = 2;
  int64_t tokens = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  std::string pair_layout = "interleaved";
};

// Writes a dump of model "tiny" (rope_theta 10000, text_crc32c "0badc0de")
// to `path` whose tensors layers.<i>.{queries,keys,values} are the f16 of
// rows(i, kind): [tokens, heads of the kind * head_dim] floats.
absl::Status WriteTestKvDump(
    const std::string& path, const TestDumpShape& shape,
    const std::function<std::vector<float>(int layer, const std::string& kind)>&
        rows);

}  // namespace testing
}  // namespace commvq

#endif  // COMMVQ_TRAINING_KV_DUMP_TEST_UTIL_H_
