#include "kernels/cpu/attention_kernels.h"

#include <algorithm>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/cpu/attention_isa_variants.h"
#include "kernels/reference/attention_dense_reference.h"
#include "kernels/reference/attention_value_reference.h"

namespace commvq {
namespace {

// The scalar variant runs the references, which allocate their own
// buffers: it is the definition the others are tested against, not a fast
// path, so it takes no scratch.
int64_t NoScratchForKeys(const KeyCodebookArrays&, int) { return 0; }
int64_t NoScratchForAccumulation(int, int64_t) { return 0; }
int64_t NoScratchForProduct(int64_t, int, int64_t) { return 0; }

void ReferenceKeyScoresByDecoding(const KeyCodebookArrays& codebooks,
                                  const int16_t* planes,
                                  const float* pair_scale,
                                  const float* queries, int num_queries,
                                  const PackedKeyCodes& keys, float scale,
                                  float* scores, int64_t scores_stride,
                                  void*) {
  KeyScoresByDecodingI16Reference(codebooks, planes, pair_scale, queries,
                                  num_queries, keys, scale, scores,
                                  scores_stride);
}

// The scalar value functions: the references per head, accumulator
// [num_heads, num_bits].
int64_t ReferenceValueAccumulatorFloats(int64_t num_bits, int num_heads) {
  return num_bits * num_heads;
}

void ReferenceAccumulateValues(const float* weights, int64_t weight_stride,
                               int num_heads, const float* factors,
                               const uint8_t* const* pages, int64_t page_tokens,
                               int64_t code_stride, int64_t num_bits,
                               int64_t byte_begin, int64_t byte_end, int64_t n,
                               float* acc, void*) {
  const int64_t first_bit = 8 * byte_begin;
  const int64_t bits = std::min(8 * byte_end, num_bits) - first_bit;
  if (bits <= 0) return;
  for (int64_t begin = 0; begin < n; begin += page_tokens) {
    for (int h = 0; h < num_heads; ++h) {
      AccumulateValueBitsReference(
          weights + h * weight_stride + begin, factors + begin,
          pages[begin / page_tokens] + byte_begin, code_stride, bits,
          std::min(page_tokens, n - begin), acc + h * num_bits + first_bit);
    }
  }
}

void ReferenceValueProduct(const float* acc, int, int first_head, int count,
                           const float* codebook, const float* channel_scale,
                           int64_t num_bits, int64_t dim, int64_t first_channel,
                           int64_t head_dim, float* out, void*) {
  for (int g = 0; g < count; ++g) {
    ValueCodeProductReference(acc + (first_head + g) * num_bits, codebook,
                              channel_scale, num_bits, dim, first_channel,
                              head_dim, out + g * head_dim);
  }
}

const AttentionKernels kScalarKernels = {
    "scalar",
    BuildKeyScoreTableReference,
    KeyScoresFromTableReference,
    NoScratchForKeys,
    ReferenceKeyScoresByDecoding,
    ReferenceValueAccumulatorFloats,
    NoScratchForAccumulation,
    ReferenceAccumulateValues,
    NoScratchForProduct,
    ReferenceValueProduct,
    DenseScoresReference,
    SoftmaxReference,
    DenseWeightedSumReference,
    DenseGroupAttentionF32Reference,
    DenseGroupAttentionF16Reference,
};

bool CpuSupports(absl::string_view isa) {
  __builtin_cpu_init();
  if (isa == "avx2") {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }
  if (isa == "avx512") {
    return __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
  }
  return isa == "scalar";
}

// Every variant, scalar first and the best last.
std::vector<const AttentionKernels*> AllVariants() {
  return {&kScalarKernels, &Avx2AttentionKernels(), &Avx512AttentionKernels()};
}

}  // namespace

std::vector<const AttentionKernels*> AvailableAttentionKernels() {
  std::vector<const AttentionKernels*> available;
  for (const AttentionKernels* kernels : AllVariants()) {
    if (CpuSupports(kernels->isa)) available.push_back(kernels);
  }
  return available;
}

absl::StatusOr<const AttentionKernels*> AttentionKernelsFor(
    absl::string_view isa) {
  std::vector<std::string> names;
  for (const AttentionKernels* kernels : AllVariants()) {
    if (isa != kernels->isa) {
      names.push_back(kernels->isa);
      continue;
    }
    if (!CpuSupports(isa)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "attention kernels '", isa, "': this CPU lacks the instructions"));
    }
    return kernels;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown attention kernel ISA '", isa, "': expected one of ",
                   absl::StrJoin(names, ", ")));
}

const AttentionKernels& SelectedAttentionKernels() {
  static const AttentionKernels* const selected = [] {
    const char* forced = std::getenv("COMMVQ_ISA");
    if (forced != nullptr) {
      absl::StatusOr<const AttentionKernels*> kernels =
          AttentionKernelsFor(forced);
      if (kernels.ok()) return *kernels;
    }
    return AvailableAttentionKernels().back();
  }();
  return *selected;
}

}  // namespace commvq
