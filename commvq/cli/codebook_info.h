// `commvq info FILE`: what a codebook file holds (format version, model
// shape, provenance, tensors, quantizers), after the reader validated it.
#ifndef COMMVQ_CLI_CODEBOOK_INFO_H_
#define COMMVQ_CLI_CODEBOOK_INFO_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "commvq/registry/registry.h"

namespace commvq {
namespace cli {

// Prints the file's contents; each quantizer is also loaded with `registry`
// to show its stored bits per element and parameter bytes. Returns the
// reader's error for a malformed file (nothing is printed then).
absl::Status PrintCodebookInfo(const std::string& path,
                               const QuantizerRegistry& registry,
                               std::ostream& out);

}  // namespace cli
}  // namespace commvq

#endif  // COMMVQ_CLI_CODEBOOK_INFO_H_
