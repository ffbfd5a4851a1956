// KV dumps: the pre-RoPE queries, keys and values of every layer of a model
// run over a text, as fp16 safetensors. The input format of the trainers and
// of the quality tables.
//
// Tensors (row-major, fp16), for each layer i:
//   layers.<i>.queries  [tokens, num_heads, head_dim]     pre-RoPE
//   layers.<i>.keys     [tokens, num_kv_heads, head_dim]  pre-RoPE
//   layers.<i>.values   [tokens, num_kv_heads, head_dim]
// Metadata (strings): format (kKvDumpFormat), model, num_layers,
// num_heads, num_kv_heads, head_dim, rope_theta, pair_layout (half |
// interleaved), tokens, text_bytes, text_crc32c. kv_dump_info.h reads it.
#ifndef COMMVQ_EVAL_KV_DUMP_H_
#define COMMVQ_EVAL_KV_DUMP_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "commvq/model/llama/llama_model.h"

namespace commvq {

struct KvDumpOptions {
  std::string model_name;
  // The text the tokens came from (hashed into the metadata).
  absl::string_view text;
  // Tokens per Forward call (the dump does not depend on it).
  int64_t chunk_tokens = 256;
  std::function<void(double)> progress;
};

// Runs `model` over `tokens` ([n], n >= 1) with a full-precision cache and
// writes the dump to `path` atomically.
absl::Status WriteKvDump(const LlamaModel& model,
                         absl::Span<const int32_t> tokens,
                         const std::string& path, const KvDumpOptions& options);

}  // namespace commvq

#endif  // COMMVQ_EVAL_KV_DUMP_H_
