#include "commvq/quantizer/quantizer_test_util.h"

#include "commvq/base/random.h"
#include "commvq/base/status_macros.h"
#include "commvq/base/status_matchers.h"
#include "commvq/quantizer/options.h"
#include "commvq/quantizer/quantizer_spec.h"
#include "commvq/quantizer/serialized_quantizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace testing {

absl::StatusOr<ResolvedOptions> ResolveSpec(const QuantizerFactory& factory,
                                            absl::string_view spec) {
  CVQ_ASSIGN_OR_RETURN(const QuantizerSpec parsed, ParseQuantizerSpec(spec));
  return ResolveOptions(factory.description().options, parsed);
}

absl::StatusOr<std::unique_ptr<Quantizer>> TrainFromSpec(
    const QuantizerFactory& factory, absl::string_view spec,
    const std::vector<float>& samples, int64_t dim, uint64_t seed,
    ThreadPool* pool) {
  CVQ_ASSIGN_OR_RETURN(const ResolvedOptions options,
                       ResolveSpec(factory, spec));
  TrainOptions train;
  train.seed = seed;
  train.pool = pool;
  return factory.Train(
      options,
      TensorView(samples.data(), DType::kF32,
                 {static_cast<int64_t>(samples.size()) / dim, dim}),
      train);
}

absl::StatusOr<std::unique_ptr<Quantizer>> DeserializeFromSpec(
    const QuantizerFactory& factory, absl::string_view spec, int64_t dim,
    absl::string_view payload) {
  CVQ_ASSIGN_OR_RETURN(const ResolvedOptions options,
                       ResolveSpec(factory, spec));
  return factory.Deserialize(options, dim, payload);
}

double RelativeSquaredError(const std::vector<float>& x,
                            const std::vector<float>& y) {
  double error = 0.0, energy = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    error += (double{x[i]} - y[i]) * (double{x[i]} - y[i]);
    energy += double{x[i]} * x[i];
  }
  return error / energy;
}

absl::StatusOr<std::unique_ptr<Quantizer>> MakeUntrainedQuantizer(
    const QuantizerFactory& factory, absl::string_view spec, int64_t dim) {
  CVQ_ASSIGN_OR_RETURN(const ResolvedOptions options,
                       ResolveSpec(factory, spec));
  return factory.Train(options, TensorView(nullptr, DType::kF32, {0, dim}),
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
