// Training of CommVQ value quantizers (docs/METHOD.md section 2) for one
// layer and for every layer of a KV dump (eval/kv_dump.h).
//
// A layer: channel scale = mean |v| over the tokens, tokens prescaled to
// unit norm (zero tokens left out), the codebook by least squares
// alternating with the search encoder (codebook_fit.h), and for
// encoder=mlp the light encoder trained on top (value_mlp_train.h) and the
// codebook refitted by least squares to the mlp's own codes. The result is a
// commvq_value quantizer built with MakeCommvqValueQuantizer, so it
// serializes and loads like any other.
#ifndef COMMVQ_TRAINING_VALUE_TRAIN_VALUES_H_
#define COMMVQ_TRAINING_VALUE_TRAIN_VALUES_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "commvq/quantizer/commvq_value/search_encode.h"
#include "commvq/quantizer/quantizer.h"
#include "training/value/value_attention_loss.h"
#include "training/value/value_mlp_train.h"

namespace commvq {

class ThreadPool;

struct TrainValuesOptions {
  int bits = 1;                    // 1 or 2: Nc = bits * dim
  std::string encoder = "search";  // "search" or "mlp"
  int iterations = 6;              // least-squares / search rounds
  double ridge = 1e-3;             // of the least squares
  ValueSearchOptions search;       // the quantizer's search encoder
  // encoder=mlp only; its seed, pool and attention blocks are set from the
  // fields below.
  ValueMlpTrainOptions mlp;
  // encoder=mlp with mlp.attention_weight > 0: the blocks of the
  // attention-output term (not prescaled; not owned). They are prescaled by
  // the layer's channel scale before training.
  const ValueAttentionData* attention = nullptr;
  uint64_t seed = 0;
  ThreadPool* pool = nullptr;  // not owned; results do not depend on it
  std::function<void(double)> progress;
};

// The canonical-to-be spec TrainCommvqValueLayer builds.
std::string TrainedValueSpec(int64_t num_kv_heads,
                             const TrainValuesOptions& options);

// Trains a commvq_value quantizer on `values` ([n, dim] f32, finite,
// dim = num_kv_heads * head_dim). InvalidArgument for bad options, non-finite
// values or no non-zero token.
absl::StatusOr<std::unique_ptr<Quantizer>> TrainCommvqValueLayer(
    const float* values, int64_t n, int64_t dim, int64_t num_kv_heads,
    const TrainValuesOptions& options);

struct TrainValuesFileOptions {
  TrainValuesOptions train;
  // Tokens used per layer, evenly spaced over the dump; 0 = all.
  int64_t max_samples = 0;
  // The attention-output term (train.mlp.attention_weight > 0, encoder=mlp):
  // this many blocks of `attention_window` consecutive tokens, spread evenly
  // over the dump, with the dump's queries and keys
  // (value_attention_blocks.h).
  int64_t attention_blocks = 16;
  int64_t attention_window = 32;
  // Layers to train; empty = all layers of the dump.
  std::vector<int> layers;
  // Completed fraction of all requested layers, in [0, 1].
  std::function<void(double)> progress;
};

// Reads the KV dump at `dump_path` (layers.<i>.values [T, KVH, D]), trains
// the requested layers and writes quantizers "layer.<i>.value" (role
// kValue) to the codebook file `out_path`, atomically. When `out_path`
// exists (e.g. from `commvq train-keys`) everything in it is kept (model,
// provenance, tensors, other quantizers) except earlier quantizers of the
// same names, and the provenance gains "value_*" entries; its model shape
// must match the dump's. Otherwise a new file gets the dump's model shape
// and provenance trainer "commvq train-values". Errors name the file and
// field.
absl::Status TrainValuesFromDump(const std::string& dump_path,
                                 const TrainValuesFileOptions& options,
                                 const std::string& out_path);

}  // namespace commvq

#endif  // COMMVQ_TRAINING_VALUE_TRAIN_VALUES_H_
