// Encode throughput of one head, one thread: the structured encoder against
// the brute-force reference, at h = 6 and ~1 bit per element
// (R = round(head_dim / 12) stages). Prints vectors per second.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "commvq/quantizer/commvq_key/key_codebook.h"
#include "commvq/quantizer/commvq_key/key_test_data.h"
#include "commvq/quantizer/commvq_key/structured_encode.h"
#include "kernels/reference/key_encode_reference.h"

namespace commvq {
namespace {

// Vectors per second of encoder.Encode over `rows` ([n, head_dim]).
template <typename Encoder>
double Throughput(const Encoder& encoder, const std::vector<float>& rows,
                  int64_t head_dim, int stages) {
  const int64_t n = static_cast<int64_t>(rows.size()) / head_dim;
  std::vector<uint16_t> codes(stages);
  uint64_t checksum = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < n; ++i) {
    encoder.Encode(&rows[i * head_dim], codes.data());
    checksum += codes[0];
  }
  const std::chrono::duration<double> seconds =
      std::chrono::steady_clock::now() - start;
  // Printed so the loop cannot be optimized away.
  std::printf("  (checksum %llu)\n", static_cast<unsigned long long>(checksum));
  return static_cast<double>(n) / seconds.count();
}

void Run(int64_t head_dim) {
  const KeyCodebookShape shape{head_dim, 6, PairLayout::kHalf};
  const int stages = static_cast<int>(std::lround(head_dim / 12.0));
  std::vector<KeyCodebook> codebooks;
  float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  for (int s = 0; s < stages; ++s) {
    codebooks.push_back(testing::RandomKeyCodebook(shape, scale, 1 + s));
    scale *= 0.7f;
  }
  const StructuredKeyEncoder structured(codebooks);
  const ReferenceKeyEncoder reference(codebooks);
  const double fast =
      Throughput(structured, testing::KeyLikeRows(20000, head_dim, 2),
                 head_dim, stages);
  const double slow = Throughput(
      reference, testing::KeyLikeRows(200, head_dim, 3), head_dim, stages);
  std::printf("head_dim %lld, h 6, R %d: structured %.0f vectors/s, "
              "reference %.0f vectors/s, %.1fx\n",
              static_cast<long long>(head_dim), stages, fast, slow,
              fast / slow);
}

}  // namespace
}  // namespace commvq

int main() {
  commvq::Run(64);
  commvq::Run(128);
  return 0;
}
