#include "kernels/cpu/attention_kernels.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/cpu/attention_isa_variants.h"
#include "kernels/reference/attention_dense_reference.h"
#include "kernels/reference/attention_value_reference.h"

namespace commvq {
namespace {

// The scalar value functions: the references per head, accumulator
// [group, num_bits].
int64_t ReferenceValueAccumulatorFloats(int64_t num_bits, int group) {
  return num_bits * group;
}

void ReferenceAccumulateValueGroup(const float* weights, int64_t weight_stride,
                                   int group, const float* factors,
                                   const uint8_t* codes, int64_t code_stride,
                                   int64_t num_bits, int64_t n, float* acc) {
  for (int g = 0; g < group; ++g) {
    AccumulateValueBitsReference(weights + g * weight_stride, factors, codes,
                                 code_stride, num_bits, n, acc + g * num_bits);
  }
}

void ReferenceValueGroupProduct(const float* acc, int group,
                                const float* codebook,
                                const float* channel_scale, int64_t num_bits,
                                int64_t dim, int64_t first_channel,
                                int64_t head_dim, float* out) {
  for (int g = 0; g < group; ++g) {
    ValueCodeProductReference(acc + g * num_bits, codebook, channel_scale,
                              num_bits, dim, first_channel, head_dim,
                              out + g * head_dim);
  }
}

const AttentionKernels kScalarKernels = {
    "scalar",
    BuildKeyScoreTableReference,
    KeyScoresFromTableReference,
    KeyScoresByDecodingReference,
    ReferenceValueAccumulatorFloats,
    ReferenceAccumulateValueGroup,
    ReferenceValueGroupProduct,
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
