// EM training of CommVQ key codebooks (docs/METHOD.md section 3): a whole
// commvq_key quantizer for one layer from pre-RoPE keys, and a codebook file
// for the layers of a KV dump (eval/kv_dump.h). The per-stage EM is
// key_em.h; this file runs it head by head and stage by stage on residuals
// and builds the quantizer with MakeCommvqKeyQuantizer, so the result
// serializes and loads like any other commvq_key quantizer.
#ifndef COMMVQ_TRAINING_TRAIN_KEYS_H_
#define COMMVQ_TRAINING_TRAIN_KEYS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "commvq/base/pair_layout.h"
#include "commvq/quantizer/commvq_key/key_codebook.h"
#include "commvq/quantizer/quantizer.h"
#include "training/key_em.h"

namespace commvq {

class ThreadPool;

struct TrainKeysOptions {
  int64_t num_kv_heads = 1;
  int64_t head_dim = 0;                   // even
  PairLayout layout = PairLayout::kHalf;  // kHalf or kInterleaved
  // h: 2^h complex values per pair, codes of 2h bits; in [1, 8].
  int half_bits = 6;
  // Residual stages per head; 0 = round(head_dim / (2 h)), about 1 code bit
  // per element (the quantizer's own default). For b bits pass
  // KeyStagesForBits(b, head_dim, h).
  int stages = 0;
  // Per-stage EM settings: iterations, t_start, t_end, patience, init.
  // half_bits, temperature_scale, seed and pool are set by the trainer from
  // the fields of this struct; progress is passed through.
  KeyEmOptions em;
  uint64_t seed = 0;
  // Not owned; null runs on the calling thread. Results do not depend on it.
  ThreadPool* pool = nullptr;
  // Called with the completed fraction in [0, 1] after each (head, stage).
  std::function<void(double)> progress;
  // Codebooks already trained by an earlier run with these options, in
  // training order (head-major, stage-minor; a checkpoint's content): they
  // are taken as they are and training continues after them, with the
  // result bit-identical to an uninterrupted run. At most num_kv_heads *
  // stages, each of this run's shape.
  std::vector<KeyCodebook> resume;
  // If set, called after each newly trained stage with all codebooks so far
  // (resumed ones included), e.g. to write a checkpoint; an error stops
  // training and is returned.
  std::function<absl::Status(absl::Span<const KeyCodebook>)> on_stage;
};

// The official temperature schedule across residual stages: the scale is
// divided by 10 after training stage i whenever i % 4 == 0 (after stages 0,
// 4, 8, ...), so stage s trains with 10^-ceil(s / 4): 1 at stage 0, 0.1 at
// stages 1-4, 0.01 at 5-8, ...
double KeyStageTemperatureScale(int stage);

// Stages for about `bits` code bits per element: max(1, round(bits *
// head_dim / (2 h))); 11 and 21 for 1 and 2 bits at head_dim 128, h = 6
// (the official configurations).
int KeyStagesForBits(int bits, int64_t head_dim, int half_bits);

// The commvq_key spec TrainCommvqKeyLayer builds (stages written out).
std::string CommvqKeySpec(const TrainKeysOptions& options, int stages);

// Trains a commvq_key quantizer of dim num_kv_heads * head_dim on `keys`
// ([n, num_kv_heads * head_dim] f32, finite, pre-RoPE). Each token is
// divided by the L2 norm of its whole key (rounded to fp16, as the quantizer
// encodes; tokens whose norm is zero are skipped); per head, stage s runs
// TrainKeyStage on the head's residuals gathered into RoPE pairs, with
// temperature_scale = KeyStageTemperatureScale(s) and seed
// Rng(seed).Fork(head * stages + s), and the residuals are then reduced by
// the quantizer's own greedy encoder. Deterministic for a seed whatever the
// pool. InvalidArgument for bad options or fewer than 2^half_bits non-zero
// tokens.
absl::StatusOr<std::unique_ptr<Quantizer>> TrainCommvqKeyLayer(
    const float* keys, int64_t n, const TrainKeysOptions& options);

struct TrainKeysFileOptions {
  // Code bits per element, 1 or 2 (stages from KeyStagesForBits) unless
  // `stages` > 0 overrides.
  int bits = 1;
  int stages = 0;
  int half_bits = 6;
  // EM iterations per stage (KeyEmOptions::iterations).
  int iterations = 100;
  // Tokens used per layer, evenly spaced over the dump; 0 = all.
  int64_t max_samples = 0;
  // Layers to train; empty = all layers of the dump.
  std::vector<int> layers;
  uint64_t seed = 0;
  ThreadPool* pool = nullptr;
  // Completed fraction of all requested layers, in [0, 1].
  std::function<void(double)> progress;
  // If not empty: a folder (created if missing) for one checkpoint per
  // layer (key_checkpoint.h), written after every stage; a layer whose
  // checkpoint is there resumes from it (complete layers are not trained
  // again). Checkpoints of other settings are an error. They are kept
  // after the run.
  std::string checkpoint_dir;
};

// Reads the KV dump at `dump_path` (layers.<i>.keys [T, KVH, D], f16, f32 or
// bf16; metadata num_layers, num_kv_heads, head_dim, pair_layout, ...),
// trains every requested layer with TrainCommvqKeyLayer and writes a codebook
// file to `out_path` with quantizers "layer.<i>.key" (role kKey), the model
// shape from the dump metadata and provenance trainer "commvq train-keys",
// seed, num_samples (tokens per layer) and calibration_data
// "text_crc32c=<crc>" of the dump's text. Errors name the dump and field.
absl::Status TrainKeysFromDump(const std::string& dump_path,
                               const TrainKeysFileOptions& options,
                               const std::string& out_path);

}  // namespace commvq

#endif  // COMMVQ_TRAINING_TRAIN_KEYS_H_
