// Per-stage checkpoints of key codebook training (train_keys.h), so a long
// `commvq train-keys` run can be interrupted and resumed.
//
// One file per layer holds the codebooks trained so far, in training order
// (head-major, stage-minor), and a fingerprint of everything that
// determines them (dump, samples, shape, stages, EM settings, seed). Each
// stage's EM depends only on its residuals and its seed, and the residuals
// are recomputed from the saved codebooks exactly as the first run computed
// them, so a resumed run gives bit-identical codebooks.
//
// File format (little-endian): the 8 bytes "CVQKCKP1", u32 fingerprint
// length and its bytes, u32 head_dim, half_bits, layout (PairLayout value)
// and number of codebooks, then each codebook's z as f32
// [head_dim / 2, 2^half_bits, 2].
#ifndef COMMVQ_TRAINING_KEY_CHECKPOINT_H_
#define COMMVQ_TRAINING_KEY_CHECKPOINT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "commvq/quantizer/commvq_key/key_codebook.h"

namespace commvq {

// `dir`/keys_layer_<layer>.ckpt.
std::string KeyCheckpointPath(const std::string& dir, int layer);

// Replaces the checkpoint at `path` atomically (commvq/io/atomic_file.h):
// a crash leaves the previous checkpoint or the new one, never a torn file.
// codebooks: all of one shape.
absl::Status WriteKeyCheckpoint(const std::string& path,
                                const std::string& fingerprint,
                                absl::Span<const KeyCodebook> codebooks);

// The codebooks of the checkpoint at `path`. NotFound if there is none;
// InvalidArgument naming the path for a damaged file, a fingerprint other
// than `fingerprint` (the run's options differ from the checkpointed run's:
// both are named) or codebooks of another shape than `shape`.
absl::StatusOr<std::vector<KeyCodebook>> ReadKeyCheckpoint(
    const std::string& path, const std::string& fingerprint,
    const KeyCodebookShape& shape);

}  // namespace commvq

#endif  // COMMVQ_TRAINING_KEY_CHECKPOINT_H_
