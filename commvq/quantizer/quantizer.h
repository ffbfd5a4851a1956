// The Quantizer interface: what every quantizer of the library (baselines,
// CommVQ keys and values, plugins) provides, so the conformance suite, the KV
// cache, the CLI and the C ABI treat them alike.
//
// Life cycle: a QuantizerFactory (registered under a name) trains a Quantizer
// from sample vectors or rebuilds one from its serialized bytes. A Quantizer
// is immutable once built.
//
// Thread safety: all const methods of a Quantizer may be called concurrently
// from any number of threads. A QuantizerFactory is stateless and
// thread-safe as well.
#ifndef COMMVQ_QUANTIZER_QUANTIZER_H_
#define COMMVQ_QUANTIZER_QUANTIZER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "commvq/quantizer/code_layout.h"
#include "commvq/quantizer/options.h"
#include "commvq/tensor/tensor_view.h"

namespace commvq {

class ThreadPool;

// How to train; never changes *what* a given seed produces except through
// `seed` itself (results do not depend on the number of threads).
struct TrainOptions {
  uint64_t seed = 0;
  // Not owned; null runs on the calling thread.
  ThreadPool* pool = nullptr;
  // Called with the completed fraction in [0, 1]; may be empty.
  std::function<void(double)> progress;
};

class Quantizer {
 public:
  virtual ~Quantizer() = default;
  Quantizer(const Quantizer&) = delete;
  Quantizer& operator=(const Quantizer&) = delete;

  // Canonical spec (every option written out): the registry rebuilds this
  // quantizer's factory and options from it.
  const std::string& spec() const { return spec_; }
  // Registry name (the part of spec() before ':').
  absl::string_view name() const;
  const CodeLayout& layout() const { return layout_; }
  int64_t dim() const { return layout_.dim; }

  // input:  [n, dim] f32, f16 or bf16, finite; n a multiple of
  //         layout().block_vectors.
  // codes:  [n, layout().code_bytes] u8 (written).
  // side:   [n / block_vectors, layout().side_bytes] u8 (written).
  // pool:   optional, not owned; the result does not depend on it.
  // InvalidArgument (naming the argument, row and value) for wrong shapes or
  // dtypes, a NaN/Inf element, or n not a multiple of the block size.
  absl::Status Encode(const TensorView& input, const MutableTensorView& codes,
                      const MutableTensorView& side,
                      ThreadPool* pool = nullptr) const;

  // codes, side: as produced by Encode. output: [n, dim] f32 (written).
  absl::Status Decode(const TensorView& codes, const TensorView& side,
                      const MutableTensorView& output,
                      ThreadPool* pool = nullptr) const;

  // Bytes that storing n encoded vectors takes (codes and side data).
  int64_t StoredBytes(int64_t num_vectors) const {
    return layout_.StoredBytes(num_vectors);
  }

  // Bytes of the trained parameters (codebooks, scales, encoder weights),
  // stored once per quantizer, not per vector.
  virtual int64_t ParameterBytes() const = 0;

  // An upper bound on sum ||x - Decode(Encode(x))||^2 over the vectors of
  // one block (`block`: [block_vectors, dim] f32, finite), or +inf when the
  // quantizer guarantees none (learned codebooks). The conformance suite
  // checks every block against it.
  virtual double SquaredErrorBound(const float* block) const;

  // Self-describing bytes (spec, dim, payload, checksum) that
  // QuantizerRegistry::Deserialize turns back into an equal quantizer.
  absl::StatusOr<std::string> Serialize() const;

 protected:
  // `spec` must be canonical (ResolvedOptions::canonical_spec()).
  Quantizer(std::string spec, CodeLayout layout);

  // The implementation hooks, called with validated arguments only:
  // x: [num_vectors, dim] finite f32; codes: [num_vectors, code_bytes];
  // side: [num_vectors / block_vectors, side_bytes]; num_vectors is a
  // multiple of block_vectors. Called concurrently on disjoint ranges.
  virtual absl::Status EncodeBlocks(const float* x, int64_t num_vectors,
                                    uint8_t* codes, uint8_t* side) const = 0;
  virtual absl::Status DecodeBlocks(const uint8_t* codes, const uint8_t* side,
                                    int64_t num_vectors, float* out) const = 0;
  // Trained parameters only; the spec and dim are framed by Serialize().
  virtual absl::StatusOr<std::string> SerializePayload() const = 0;

 private:
  // InvalidArgument unless num_vectors fills whole blocks.
  absl::Status CheckWholeBlocks(int64_t num_vectors,
                                absl::string_view name) const;

  std::string spec_;
  CodeLayout layout_;
};

// What `commvq list` and error messages show about a quantizer kind.
struct QuantizerDescription {
  std::string name;
  std::string summary;
  OptionSchema options;
  // Representative specs (documentation, and the configurations the
  // conformance suite runs); empty means just `name`.
  std::vector<std::string> example_specs;
};

class QuantizerFactory {
 public:
  virtual ~QuantizerFactory() = default;
  virtual const QuantizerDescription& description() const = 0;

  // samples: [n, dim] f32, finite (checked by the registry). `options` are
  // resolved against description().options. Returns InvalidArgument when the
  // options do not fit the data (e.g. dim not divisible by a group size).
  virtual absl::StatusOr<std::unique_ptr<Quantizer>> Train(
      const ResolvedOptions& options, const TensorView& samples,
      const TrainOptions& train) const = 0;

  // Rebuilds a trained quantizer from Quantizer::SerializePayload() output;
  // any inconsistency in `payload` is an InvalidArgument, never a crash.
  virtual absl::StatusOr<std::unique_ptr<Quantizer>> Deserialize(
      const ResolvedOptions& options, int64_t dim,
      absl::string_view payload) const = 0;
};

// InvalidArgument naming the argument, row and column of the first NaN or
// Inf in `values` ([rows, cols] row-major, whose first row is row
// `first_row` of the argument).
absl::Status CheckFinite(const float* values, int64_t rows, int64_t cols,
                         absl::string_view name, int64_t first_row = 0);

}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_QUANTIZER_H_
