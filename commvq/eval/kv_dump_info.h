// The one reader of a KV dump's metadata (the format kv_dump.h writes): its
// format tag and the model shape, RoPE base and pair layout, checked. It
// depends on no model code, so the trainers (training/) and `commvq eval-kv`
// share it while only the dump writer depends on the model.
#ifndef COMMVQ_EVAL_KV_DUMP_INFO_H_
#define COMMVQ_EVAL_KV_DUMP_INFO_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "commvq/base/pair_layout.h"
#include "commvq/io/safetensors.h"

namespace commvq {

// The metadata "format" of every KV dump; a new layout gets a new tag.
inline constexpr absl::string_view kKvDumpFormat = "commvq-kv-dump-1";

// What a dump's metadata says about the model it came from.
struct KvDumpInfo {
  int64_t num_layers = 0;
  int64_t num_heads = 0;     // query heads
  int64_t num_kv_heads = 0;  // divides num_heads
  int64_t head_dim = 0;      // even: RoPE rotates pairs
  double rope_theta = 0.0;   // finite, above 1
  PairLayout pair_layout = PairLayout::kUnspecified;  // kHalf or kInterleaved
};

// Reads and checks the metadata of `file`: format == kKvDumpFormat;
// num_layers, num_heads, num_kv_heads and head_dim integers in [1, 2^20];
// num_heads a multiple of num_kv_heads; head_dim even; rope_theta a finite
// number above 1; pair_layout "half" or "interleaved". Each error is
// InvalidArgument and starts with `file_name` (e.g. "calibration dump"),
// then names the key, the value found and the value expected.
absl::StatusOr<KvDumpInfo> ReadKvDumpInfo(const SafetensorsFile& file,
                                          absl::string_view file_name);

}  // namespace commvq

#endif  // COMMVQ_EVAL_KV_DUMP_INFO_H_
