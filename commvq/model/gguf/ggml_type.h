// The tensor element types of ggml, as numbered in GGUF files: their names
// and block layouts (how many elements a block holds and how many bytes it
// takes), which is all a reader needs to find and size a tensor's data.
#ifndef COMMVQ_MODEL_GGUF_GGML_TYPE_H_
#define COMMVQ_MODEL_GGUF_GGML_TYPE_H_

#include <cstdint>
#include <string>

namespace commvq {

// Numbered as in ggml; the gaps are types ggml removed, which no current
// writer produces and this reader rejects.
enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kIQ2_XXS = 16,
  kIQ2_XS = 17,
  kIQ3_XXS = 18,
  kIQ1_S = 19,
  kIQ4_NL = 20,
  kIQ3_S = 21,
  kIQ2_S = 22,
  kIQ4_XS = 23,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kIQ1_M = 29,
  kBF16 = 30,
  kTQ1_0 = 34,
  kTQ2_0 = 35,
  kMXFP4 = 39,
  kNVFP4 = 40,
  kQ1_0 = 41,
};

// The layout of one type: elements are stored in blocks of `block_size`
// consecutive elements (1 for plain types) taking `block_bytes` bytes each.
struct GgmlTypeTraits {
  const char* name;  // as ggml spells it: "F32", "Q4_1", "Q6_K"
  int64_t block_size;
  int64_t block_bytes;
};

// The traits of `type`, or nullptr for a number ggml does not (or no longer)
// define.
const GgmlTypeTraits* FindGgmlType(GgmlType type);

// "Q4_1"; "unknown type 5" for a number ggml does not define.
std::string GgmlTypeName(GgmlType type);

}  // namespace commvq

#endif  // COMMVQ_MODEL_GGUF_GGML_TYPE_H_
