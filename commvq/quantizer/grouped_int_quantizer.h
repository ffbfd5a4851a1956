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

// Rejects a non-empty payload: these quantizers have no trained parameters.
absl::Status CheckEmptyPayload(absl::string_view quantizer,
                               absl::string_view payload);

}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_GROUPED_INT_QUANTIZER_H_
