// The one implementation behind the `int` and `kivi` quantizers: asymmetric
// k-bit integers (asymmetric_int.h) with an fp16 scale and zero point per
// group, where a group is either consecutive channels of one token or one
// channel over consecutive tokens. Codes are stored per vector (dim * bits
// bits, packed); side data is 4 bytes per group. No trained parameters.
#ifndef COMMVQ_QUANTIZER_GROUPED_INT_QUANTIZER_H_
#define COMMVQ_QUANTIZER_GROUPED_INT_QUANTIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "commvq/quantizer/quantizer.h"

namespace commvq {

enum class IntGrouping {
  // Per token: groups of group_size consecutive channels (must divide dim);
  // each vector is its own block.
  kChannelsOfToken,
  // Per channel: each channel over a block of group_size consecutive tokens.
  kTokensOfChannel,
};

// `spec` is the canonical spec of the calling factory. InvalidArgument when
// group_size does not divide dim for kChannelsOfToken.
absl::StatusOr<std::unique_ptr<Quantizer>> MakeGroupedIntQuantizer(
    std::string spec, int64_t dim, IntGrouping grouping, int bits,
    int64_t group_size);

// The factory of a quantizer built on MakeGroupedIntQuantizer: it has no
// trained parameters, so training only checks the shape and deserializing
// only accepts an empty payload. Subclasses choose the grouping from their
// options (resolved against the `bits` and `group_size` options they must
// declare).
class GroupedIntQuantizerFactory : public QuantizerFactory {
 public:
  explicit GroupedIntQuantizerFactory(QuantizerDescription description)
      : description_(std::move(description)) {}

  const QuantizerDescription& description() const final { return description_; }
  absl::StatusOr<std::unique_ptr<Quantizer>> Train(
      const ResolvedOptions& options, const TensorView& samples,
      const TrainOptions& train) const final;
  absl::StatusOr<std::unique_ptr<Quantizer>> Deserialize(
      const ResolvedOptions& options, int64_t dim,
      absl::string_view payload) const final;

 protected:
  virtual IntGrouping Grouping(const ResolvedOptions& options) const = 0;

 private:
  absl::StatusOr<std::unique_ptr<Quantizer>> Make(
      const ResolvedOptions& options, int64_t dim) const;

  QuantizerDescription description_;
};

}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_GROUPED_INT_QUANTIZER_H_
