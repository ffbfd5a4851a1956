#include "commvq/model/gguf/dequantize.h"

#include <cstring>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "commvq/base/float16.h"
#include "commvq/base/status_macros.h"

namespace commvq {
namespace {

// Dequantizes `num_blocks` consecutive blocks.
using Kernel = void (*)(const uint8_t* in, int64_t num_blocks, float* out);

// Splitting finer than this many elements per chunk costs more in
// synchronization than it saves.
constexpr int64_t kMinElementsPerChunk = int64_t{1} << 16;

uint16_t LoadU16(const uint8_t* p) {
  uint16_t value;
  std::memcpy(&value, p, sizeof(value));
  return value;
}

float LoadHalf(const uint8_t* p) { return HalfBitsToFloat(LoadU16(p)); }

// Block layouts below are ggml's (block_q8_0 etc.); scales are binary16.

// Q8_0, 34 bytes: d, then 32 int8 quants; x = q * d.
void DequantizeQ8_0Block(const uint8_t* block, float* out) {
  const float d = LoadHalf(block);
  const int8_t* qs = reinterpret_cast<const int8_t*>(block + 2);
  for (int i = 0; i < 32; ++i) out[i] = qs[i] * d;
}

// Q4_0, 18 bytes: d, then 16 bytes whose low nibbles are quants 0..15 and
// high nibbles quants 16..31; x = (q - 8) * d.
void DequantizeQ4_0Block(const uint8_t* block, float* out) {
  const float d = LoadHalf(block);
  const uint8_t* qs = block + 2;
  for (int i = 0; i < 16; ++i) {
    out[i] = ((qs[i] & 0x0f) - 8) * d;
    out[i + 16] = ((qs[i] >> 4) - 8) * d;
  }
}

// Q4_1, 20 bytes: d, m, then the nibbles as in Q4_0; x = q * d + m, rounded
// after the product and again after the sum.
void DequantizeQ4_1Block(const uint8_t* block, float* out) {
  const float d = LoadHalf(block);
  const float m = LoadHalf(block + 2);
  const uint8_t* qs = block + 4;
  for (int i = 0; i < 16; ++i) {
    out[i] = (qs[i] & 0x0f) * d + m;
    out[i + 16] = (qs[i] >> 4) * d + m;
  }
}

// Q6_K, 210 bytes for 256 elements: ql[128] (low 4 bits of each quant),
// qh[64] (high 2 bits), int8 scales[16] (one per 16 elements), then d.
// x = (d * scale) * (q - 32). Each half of 128 elements uses 64 bytes of ql
// and 32 of qh: element 32 * k + l of the half (k = 0..3, l = 0..31) takes
// the low (k = 0, 1) or high (k = 2, 3) nibble of ql[l + 32 * (k % 2)] and
// bits 2k, 2k + 1 of qh[l].
void DequantizeQ6_KBlock(const uint8_t* block, float* out) {
  const uint8_t* ql = block;
  const uint8_t* qh = block + 128;
  const int8_t* scales = reinterpret_cast<const int8_t*>(block + 192);
  const float d = LoadHalf(block + 208);
  for (int half = 0; half < 2; ++half) {
    for (int k = 0; k < 4; ++k) {
      for (int l = 0; l < 32; ++l) {
        const int element = 128 * half + 32 * k + l;
        const uint8_t low_byte = ql[64 * half + l + 32 * (k % 2)];
        const int low = k < 2 ? (low_byte & 0x0f) : (low_byte >> 4);
        const int high = (qh[32 * half + l] >> (2 * k)) & 3;
        const float scale = d * scales[element / 16];
        out[element] = scale * ((low | (high << 4)) - 32);
      }
    }
  }
}

template <void (*Block)(const uint8_t*, float*), int kBlockSize,
          int kBlockBytes>
void ForEachBlock(const uint8_t* in, int64_t num_blocks, float* out) {
  for (int64_t b = 0; b < num_blocks; ++b) {
    Block(in + b * kBlockBytes, out + b * kBlockSize);
  }
}

void DequantizeF32(const uint8_t* in, int64_t n, float* out) {
  std::memcpy(out, in, n * sizeof(float));
}

void DequantizeF16(const uint8_t* in, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = LoadHalf(in + 2 * i);
}

// bfloat16 is the top half of a float32.
void DequantizeBF16(const uint8_t* in, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t bits = static_cast<uint32_t>(LoadU16(in + 2 * i)) << 16;
    std::memcpy(&out[i], &bits, sizeof(float));
  }
}

Kernel FindKernel(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
      return DequantizeF32;
    case GgmlType::kF16:
      return DequantizeF16;
    case GgmlType::kBF16:
      return DequantizeBF16;
    case GgmlType::kQ8_0:
      return ForEachBlock<DequantizeQ8_0Block, 32, 34>;
    case GgmlType::kQ4_0:
      return ForEachBlock<DequantizeQ4_0Block, 32, 18>;
    case GgmlType::kQ4_1:
      return ForEachBlock<DequantizeQ4_1Block, 32, 20>;
    case GgmlType::kQ6_K:
      return ForEachBlock<DequantizeQ6_KBlock, 256, 210>;
    default:
      return nullptr;
  }
}

// `what` names the data in the message ("tensor \"x\"").
absl::Status Unsupported(absl::string_view what, GgmlType type) {
  return absl::InvalidArgumentError(absl::StrCat(
      "cannot dequantize ", what, " of ggml type ", GgmlTypeName(type),
      ": supported are F32, F16, BF16, Q8_0, Q4_0, Q4_1 and Q6_K"));
}

// Tensor names may hold any byte: keep messages one printable line.
std::string TensorName(const GgufTensorInfo& tensor) {
  return absl::StrCat("tensor \"", absl::CHexEscape(tensor.name), "\"");
}

}  // namespace

bool CanDequantize(GgmlType type) { return FindKernel(type) != nullptr; }

absl::Status DequantizeBlocks(GgmlType type, absl::string_view bytes,
                              absl::Span<float> out) {
  const Kernel kernel = FindKernel(type);
  if (kernel == nullptr) return Unsupported("data", type);
  const GgmlTypeTraits& traits = *FindGgmlType(type);
  if (out.size() % traits.block_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot dequantize ", out.size(), " elements of ", traits.name,
        ": not a multiple of its block size ", traits.block_size));
  }
  const int64_t num_blocks = out.size() / traits.block_size;
  if (bytes.size() != static_cast<uint64_t>(num_blocks) * traits.block_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dequantizing ", out.size(), " elements of ", traits.name,
        " needs ", num_blocks * traits.block_bytes, " bytes, got ",
        bytes.size()));
  }
  if (num_blocks > 0) {
    kernel(reinterpret_cast<const uint8_t*>(bytes.data()), num_blocks,
           out.data());
  }
  return absl::OkStatus();
}

absl::Status DequantizeRows(const GgufTensorInfo& tensor,
                            absl::string_view tensor_bytes, int64_t first_row,
                            int64_t num_rows, absl::Span<float> out,
                            ThreadPool* pool) {
  const std::string what = TensorName(tensor);
  const Kernel kernel = FindKernel(tensor.type);
  if (kernel == nullptr) return Unsupported(what, tensor.type);
  const GgmlTypeTraits& traits = *FindGgmlType(tensor.type);
  if (tensor.dims.empty() || tensor.dims[0] < 0 || tensor.num_rows < 0 ||
      tensor.dims[0] % traits.block_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " of type ", traits.name, " does not have rows of whole ",
        traits.block_size, "-element blocks"));
  }
  const int64_t row_elements = tensor.dims[0];
  const int64_t row_blocks = row_elements / traits.block_size;
  if (first_row < 0 || num_rows < 0 || first_row > tensor.num_rows ||
      num_rows > tensor.num_rows - first_row) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rows [", first_row, ", ", first_row, " + ", num_rows,
        ") are outside ", what, " of ", tensor.num_rows, " rows"));
  }
  // Overflow-safe: the whole tensor's size must fit before anything else is
  // computed from it.
  int64_t row_bytes;
  int64_t total_bytes;
  if (__builtin_mul_overflow(row_blocks, traits.block_bytes, &row_bytes) ||
      __builtin_mul_overflow(row_bytes, tensor.num_rows, &total_bytes) ||
      tensor_bytes.size() != static_cast<uint64_t>(total_bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " has ", tensor.num_rows, " rows of ", row_elements, " ",
        traits.name, " elements but ", tensor_bytes.size(),
        " bytes of data"));
  }
  int64_t out_size;
  if (__builtin_mul_overflow(num_rows, row_elements, &out_size) ||
      out.size() != static_cast<uint64_t>(out_size)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the output for ", num_rows, " rows of ", row_elements,
        " elements of ", what, " has ", out.size(), " floats"));
  }
  // Also keeps null pointers of empty buffers away from memcpy, and
  // row_elements > 0 from here on.
  if (out.empty()) return absl::OkStatus();
  const uint8_t* in =
      reinterpret_cast<const uint8_t*>(tensor_bytes.data()) +
      first_row * row_bytes;
  const auto run = [&](int64_t begin, int64_t end) {
    kernel(in + begin * row_bytes, (end - begin) * row_blocks,
           out.data() + begin * row_elements);
  };
  if (pool == nullptr) {
    run(0, num_rows);
  } else {
    pool->ParallelFor(0, num_rows, kMinElementsPerChunk / row_elements + 1,
                      run);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> DequantizeTensor(const GgufFile& file,
                                                    absl::string_view name,
                                                    ThreadPool* pool) {
  CVQ_ASSIGN_OR_RETURN(const GgufTensorInfo* tensor, file.FindTensor(name));
  // Before allocating the output.
  if (!CanDequantize(tensor->type)) {
    return Unsupported(TensorName(*tensor), tensor->type);
  }
  std::vector<float> values(tensor->num_elements);
  CVQ_RETURN_IF_ERROR(DequantizeRows(*tensor, tensor->data, 0,
                                     tensor->num_rows, absl::MakeSpan(values),
                                     pool));
  return values;
}

}  // namespace commvq
