// What the trainers (train_keys.h, value/train_values.h) read from a KV dump
// (eval/kv_dump.h): its checked metadata and evenly spaced rows of a
// layer's tensors. Errors start with the caller's name (`who`, e.g. "train
// keys") and name the file and the field.
#ifndef COMMVQ_TRAINING_DUMP_SAMPLES_H_
#define COMMVQ_TRAINING_DUMP_SAMPLES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "commvq/eval/kv_dump_info.h"
#include "commvq/io/safetensors.h"

namespace commvq {

// Metadata `key` of the dump, or "" when it has none.
std::string DumpMeta(const SafetensorsFile& dump, const std::string& key);

// The checked metadata of the dump (eval/kv_dump_info.h), with the errors
// prefixed "<who>: KV dump <path>: ".
absl::StatusOr<KvDumpInfo> ReadKvDumpInfo(const SafetensorsFile& dump,
                                          const std::string& path,
                                          absl::string_view who);

// The layers to train: `requested`, or every layer when it is empty; each
// must be in [0, num_layers).
absl::StatusOr<std::vector<int>> DumpLayers(const std::vector<int>& requested,
                                            int64_t num_layers,
                                            absl::string_view who);

// min(max_samples, tokens) row indices spread evenly over [0, tokens)
// (i * tokens / n); all rows when max_samples is 0.
std::vector<int64_t> EvenRows(int64_t tokens, int64_t max_samples);

// Rows `rows` of a [tokens, cols] f16, bf16 or f32 tensor, as f32.
absl::StatusOr<std::vector<float>> ReadDumpRows(
    const SafetensorsTensor& tensor, const std::vector<int64_t>& rows,
    int64_t cols, absl::string_view who);

// Evenly spaced rows of layers.<layer>.<kind> (e.g. "keys"), which must be
// [tokens >= 1, heads, head_dim].
struct DumpSamples {
  int64_t tokens = 0;       // in the dump
  int64_t n = 0;            // rows read
  std::vector<float> rows;  // [n, heads * head_dim]
};
absl::StatusOr<DumpSamples> ReadDumpSamples(const SafetensorsFile& dump,
                                            const std::string& path, int layer,
                                            const std::string& kind,
                                            int64_t heads, int64_t head_dim,
                                            int64_t max_samples,
                                            absl::string_view who);

}  // namespace commvq

#endif  // COMMVQ_TRAINING_DUMP_SAMPLES_H_
