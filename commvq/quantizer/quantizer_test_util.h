// Test helpers shared by quantizer tests: building a quantizer from a spec
// with its factory, encoding and decoding a batch, and seeded test data.
#ifndef COMMVQ_QUANTIZER_QUANTIZER_TEST_UTIL_H_
#define COMMVQ_QUANTIZER_QUANTIZER_TEST_UTIL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "commvq/quantizer/options.h"
#include "commvq/quantizer/quantizer.h"

namespace commvq {
namespace testing {

// Parses `spec` and resolves it against the factory's option schema.
absl::StatusOr<ResolvedOptions> ResolveSpec(const QuantizerFactory& factory,
                                            absl::string_view spec);

// The factory's quantizer of `spec` trained on `samples` ([n, dim]) with
// `seed` and `pool`.
absl::StatusOr<std::unique_ptr<Quantizer>> TrainFromSpec(
    const QuantizerFactory& factory, absl::string_view spec,
    const std::vector<float>& samples, int64_t dim, uint64_t seed,
    ThreadPool* pool = nullptr);

// The factory's quantizer of `spec` and `dim` read back from its payload.
absl::StatusOr<std::unique_ptr<Quantizer>> DeserializeFromSpec(
    const QuantizerFactory& factory, absl::string_view spec, int64_t dim,
    absl::string_view payload);

// ||x - y||^2 / ||x||^2 over all elements, in double.
double RelativeSquaredError(const std::vector<float>& x,
                            const std::vector<float>& y);

// Parses `spec`, resolves it against the factory's schema and trains on an
// empty [0, dim] sample (enough for quantizers without trained parameters).
absl::StatusOr<std::unique_ptr<Quantizer>> MakeUntrainedQuantizer(
    const QuantizerFactory& factory, absl::string_view spec, int64_t dim);

struct Encoded {
  std::vector<uint8_t> codes;
  std::vector<uint8_t> side;
  std::vector<float> decoded;
};

// Encodes and decodes the rows [n, q.dim()] of `x` with `q`, as gtest
// failures if either call fails.
Encoded RoundTrip(const Quantizer& q, const std::vector<float>& x,
                  ThreadPool* pool = nullptr);

// The quantizer's own payload inside q.Serialize() (a gtest failure if
// serializing or unframing fails).
std::string Payload(const Quantizer& q);

// n * dim normal values, mean 0 and standard deviation 2, from `seed`.
std::vector<float> RandomRows(int64_t n, int64_t dim, uint64_t seed);

}  // namespace testing
}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_QUANTIZER_TEST_UTIL_H_
