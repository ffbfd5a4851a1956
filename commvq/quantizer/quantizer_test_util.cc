#include "commvq/quantizer/quantizer_test_util.h"

#include "commvq/base/random.h"
#include "commvq/base/status_matchers.h"
#include "commvq/quantizer/options.h"
#include "commvq/quantizer/quantizer_spec.h"
#include "commvq/quantizer/serialized_quantizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace testing {

absl::StatusOr<std::unique_ptr<Quantizer>> MakeUntrainedQuantizer(
    const QuantizerFactory& factory, absl::string_view spec, int64_t dim) {
  absl::StatusOr<QuantizerSpec> parsed = ParseQuantizerSpec(spec);
  if (!parsed.ok()) return parsed.status();
  absl::StatusOr<ResolvedOptions> options =
      ResolveOptions(factory.description().options, *parsed);
  if (!options.ok()) return options.status();
  return factory.Train(*options, TensorView(nullptr, DType::kF32, {0, dim}),
                       TrainOptions{});
}

Encoded RoundTrip(const Quantizer& q, const std::vector<float>& x,
                  ThreadPool* pool) {
  const int64_t n = static_cast<int64_t>(x.size()) / q.dim();
  const int64_t blocks = n / q.layout().block_vectors;
  Encoded e;
  e.codes.resize(n * q.layout().code_bytes);
  e.side.resize(blocks * q.layout().side_bytes);
  e.decoded.resize(x.size());
  const MutableTensorView codes(e.codes.data(), DType::kU8,
                                {n, q.layout().code_bytes});
  const MutableTensorView side(e.side.data(), DType::kU8,
                               {blocks, q.layout().side_bytes});
  EXPECT_THAT(q.Encode(TensorView(x.data(), DType::kF32, {n, q.dim()}), codes,
                       side, pool),
              IsOk());
  EXPECT_THAT(
      q.Decode(codes, side,
               MutableTensorView(e.decoded.data(), DType::kF32, {n, q.dim()}),
               pool),
      IsOk());
  return e;
}

std::vector<float> RandomRows(int64_t n, int64_t dim, uint64_t seed) {
  std::vector<float> x(n * dim);
  Rng rng(seed);
  rng.FillNormal(absl::MakeSpan(x), 0.0f, 2.0f);
  return x;
}

std::string Payload(const Quantizer& q) {
  absl::StatusOr<std::string> bytes = q.Serialize();
  EXPECT_THAT(bytes, IsOk());
  absl::StatusOr<FramedQuantizer> framed = UnframeQuantizer(*bytes);
  EXPECT_THAT(framed, IsOk());
  return framed.ok() ? std::string(framed->payload) : std::string();
}

}  // namespace testing
}  // namespace commvq
