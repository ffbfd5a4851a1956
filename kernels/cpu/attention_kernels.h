// The CPU attention kernels as one table per instruction set: the scalar
// references (kernels/reference/attention_*), and AVX2 and AVX-512 builds of
// the optimized kernels, each its own library compiled with its own flags.
// The table is chosen once, at first use, from the CPU's features; the
// environment variable COMMVQ_ISA=scalar|avx2|avx512 forces one (for tests
// and benchmarks; every variant computes the same results within the
// tolerances its tests state).
//
// Every function has the signature and meaning of its reference in
// kernels/reference, except that the value functions serve all query heads
// of a query and their accumulator's layout belongs to the variant:
// allocate value_accumulator_floats(num_bits, num_heads) zeroed floats,
// accumulate into them, and hand them to value_product of the same table.
//
// Scratch: the kernels of the decode attention path (key_scores_by_decoding,
// accumulate_values, value_product) allocate nothing; they work in a
// `scratch` buffer of the caller, of the bytes the matching *_scratch_bytes
// function gives (0 for the scalar references, which then ignore it and may
// be passed null). Any contents will do (the kernels write before they
// read), so a caller keeps one buffer per thread and reuses it; aligned for
// float, and faster on a 64-byte boundary.
#ifndef KERNELS_CPU_ATTENTION_KERNELS_H_
#define KERNELS_CPU_ATTENTION_KERNELS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kernels/reference/attention_key_reference.h"

namespace commvq {

struct AttentionKernels {
  const char* isa;  // "scalar", "avx2" or "avx512"
  void (*build_key_score_table)(const KeyCodebookArrays& codebooks,
                                const float* query, float* table);
  void (*key_scores_from_table)(const KeyCodebookArrays& codebooks,
                                const float* table, const PackedKeyCodes& keys,
                                float scale, float* scores);
  // KeyScoresByDecodingI16Reference: planes and pair_scale from
  // MakeKeyCentrePlanesI16Reference; scratch of
  // key_decoding_scratch_bytes(codebooks, num_queries) bytes.
  int64_t (*key_decoding_scratch_bytes)(const KeyCodebookArrays& codebooks,
                                        int num_queries);
  void (*key_scores_by_decoding)(const KeyCodebookArrays& codebooks,
                                 const int16_t* planes, const float* pair_scale,
                                 const float* queries, int num_queries,
                                 const PackedKeyCodes& keys, float scale,
                                 float* scores, int64_t scores_stride,
                                 void* scratch);
  // The value half for all `num_heads` query heads of one query at once
  // (their weights rows weight_stride apart): the meaning of
  // AccumulateValueBitsReference and ValueCodeProductReference per head,
  // with an accumulator laid out as the variant likes (the code bits are
  // shared by every query head: values are quantized jointly over the KV
  // heads). accumulate_values adds the code bytes [byte_begin, byte_end) of
  // the rows of tokens [0, n), token t's row at pages[t / page_tokens] +
  // (t % page_tokens) * code_stride (all of a cache's pages in one call, so
  // that a variant may block over many tokens); calls on disjoint byte
  // ranges may run concurrently on one accumulator. An accumulator on a
  // 64-byte boundary is faster (whole-cache-line vector adds). value_product
  // adds to out ([count, head_dim]) the heads [first_head, first_head + count),
  // which all read the channels [first_channel, first_channel + head_dim) (one
  // KV head's). Their scratch: accumulate_values_scratch_bytes(num_heads,
  // n) and value_product_scratch_bytes(num_bits, count, head_dim) bytes.
  int64_t (*value_accumulator_floats)(int64_t num_bits, int num_heads);
  int64_t (*accumulate_values_scratch_bytes)(int num_heads, int64_t n);
  void (*accumulate_values)(const float* weights, int64_t weight_stride,
                            int num_heads, const float* factors,
                            const uint8_t* const* pages, int64_t page_tokens,
                            int64_t code_stride, int64_t num_bits,
                            int64_t byte_begin, int64_t byte_end, int64_t n,
                            float* acc, void* scratch);
  int64_t (*value_product_scratch_bytes)(int64_t num_bits, int count,
                                         int64_t head_dim);
  void (*value_product)(const float* acc, int num_heads, int first_head,
                        int count, const float* codebook,
                        const float* channel_scale, int64_t num_bits,
                        int64_t dim, int64_t first_channel, int64_t head_dim,
                        float* out, void* scratch);
  void (*dense_scores)(const float* query, const float* keys,
                       int64_t key_stride, int64_t head_dim, int64_t n,
                       float scale, float* scores);
  void (*softmax)(float* scores, int64_t n);
  void (*dense_weighted_sum)(const float* weights, const float* values,
                             int64_t value_stride, int64_t head_dim, int64_t n,
                             float* out);
  void (*dense_group_attention_f32)(const float* queries, int group,
                                    const float* keys, const float* values,
                                    int64_t head_dim, int64_t n, float scale,
                                    float* scores, float* out);
  void (*dense_group_attention_f16)(const float* queries, int group,
                                    const uint16_t* keys,
                                    const uint16_t* values, int64_t head_dim,
                                    int64_t n, float scale, float* scores,
                                    float* out);
};

// The variants this CPU can run, scalar first.
std::vector<const AttentionKernels*> AvailableAttentionKernels();

// The variant named `isa`: InvalidArgument for an unknown name,
// FailedPrecondition when the CPU lacks the instructions.
absl::StatusOr<const AttentionKernels*> AttentionKernelsFor(
    absl::string_view isa);

// The best available variant, or the one COMMVQ_ISA names (an unknown or
// unsupported name falls back to the best available, with no error: the
// override is a testing aid). Chosen once per process.
const AttentionKernels& SelectedAttentionKernels();

}  // namespace commvq

#endif  // KERNELS_CPU_ATTENTION_KERNELS_H_
