#include "commvq/quantizer/quantizer.h"

#include <cmath>
#include <limits>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "commvq/base/float16.h"
#include "commvq/base/status_macros.h"
#include "commvq/base/thread_pool.h"
#include "commvq/quantizer/serialized_quantizer.h"

namespace commvq {
namespace {

// Vectors per parallel task: large enough to amortize scheduling.
constexpr int64_t kVectorsPerTask = 256;

// Runs fn(first_block, num_blocks) over [0, num_blocks) on `pool` (or
// inline) and returns the error of the lowest failing range, so the reported
// error does not depend on scheduling.
absl::Status ForEachBlockRange(
    int64_t num_blocks, int64_t block_vectors, ThreadPool* pool,
    const std::function<absl::Status(int64_t, int64_t)>& fn) {
  if (pool == nullptr || num_blocks * block_vectors <= kVectorsPerTask) {
    return fn(0, num_blocks);
  }
  std::mutex mu;
  int64_t first_failed = num_blocks;
  absl::Status first_error;
  const int64_t grain = std::max<int64_t>(1, kVectorsPerTask / block_vectors);
  pool->ParallelFor(0, num_blocks, grain, [&](int64_t begin, int64_t end) {
    absl::Status status = fn(begin, end - begin);
    if (status.ok()) return;
    std::lock_guard<std::mutex> lock(mu);
    if (begin < first_failed) {
      first_failed = begin;
      first_error = std::move(status);
    }
  });
  return first_error;
}

absl::Status CheckFloatInput(const TensorView& input, int64_t dim) {
  const DType dtype = input.dtype();
  if (dtype != DType::kF32 && dtype != DType::kF16 && dtype != DType::kBF16) {
    return absl::InvalidArgumentError(
        absl::StrCat("input: expected dtype f32, f16 or bf16, got ",
                     DTypeName(dtype)));
  }
  return CheckTensor(input, "input", dtype, {kAnyDim, dim});
}

// Rows [first, first + count) of `input` as f32: a pointer into `input` for
// f32 data, else converted into `buffer`.
const float* RowsAsFloat(const TensorView& input, int64_t first, int64_t count,
                         std::vector<float>& buffer) {
  const int64_t cols = input.dim(1);
  if (input.dtype() == DType::kF32) {
    return input.span<float>().data() + first * cols;
  }
  buffer.resize(count * cols);
  absl::Span<const uint16_t> bits =
      input.span<uint16_t>().subspan(first * cols, count * cols);
  if (input.dtype() == DType::kF16) {
    HalvesToFloats(bits, absl::MakeSpan(buffer));
  } else {
    Bfloat16sToFloats(bits, absl::MakeSpan(buffer));
  }
  return buffer.data();
}

}  // namespace

absl::Status CheckFinite(const float* values, int64_t rows, int64_t cols,
                         absl::string_view name, int64_t first_row) {
  for (int64_t i = 0; i < rows * cols; ++i) {
    if (!std::isfinite(values[i])) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": element [", first_row + i / cols, ", ", i % cols, "] is ",
          values[i], ": expected finite values"));
    }
  }
  return absl::OkStatus();
}

Quantizer::Quantizer(std::string spec, CodeLayout layout)
    : spec_(std::move(spec)), layout_(layout) {}

double Quantizer::SquaredErrorBound(const float* block) const {
  return std::numeric_limits<double>::infinity();
}

absl::string_view Quantizer::name() const {
  return absl::string_view(spec_).substr(0, spec_.find(':'));
}

absl::Status Quantizer::CheckWholeBlocks(int64_t num_vectors,
                                         absl::string_view name) const {
  if (num_vectors % layout_.block_vectors == 0) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      name, ": ", num_vectors, " vectors is not a multiple of the block size ",
      layout_.block_vectors, " of quantizer '", spec_, "'"));
}

absl::Status Quantizer::Encode(const TensorView& input,
                               const MutableTensorView& codes,
                               const MutableTensorView& side,
                               ThreadPool* pool) const {
  CVQ_RETURN_IF_ERROR(CheckFloatInput(input, layout_.dim));
  const int64_t n = input.dim(0);
  const int64_t block = layout_.block_vectors;
  CVQ_RETURN_IF_ERROR(CheckWholeBlocks(n, "input"));
  CVQ_RETURN_IF_ERROR(
      CheckTensor(codes, "codes", DType::kU8, {n, layout_.code_bytes}));
  CVQ_RETURN_IF_ERROR(
      CheckTensor(side, "side", DType::kU8, {n / block, layout_.side_bytes}));
  uint8_t* code_bytes = static_cast<uint8_t*>(codes.data());
  uint8_t* side_bytes = static_cast<uint8_t*>(side.data());
  return ForEachBlockRange(
      n / block, block, pool, [&](int64_t first, int64_t count) {
        std::vector<float> buffer;
        const float* x =
            RowsAsFloat(input, first * block, count * block, buffer);
        CVQ_RETURN_IF_ERROR(CheckFinite(x, count * block, layout_.dim,
                                        "input", first * block));
        return EncodeBlocks(x, count * block,
                            code_bytes + first * block * layout_.code_bytes,
                            side_bytes + first * layout_.side_bytes);
      });
}

absl::Status Quantizer::Decode(const TensorView& codes, const TensorView& side,
                               const MutableTensorView& output,
                               ThreadPool* pool) const {
  CVQ_RETURN_IF_ERROR(
      CheckTensor(codes, "codes", DType::kU8, {kAnyDim, layout_.code_bytes}));
  const int64_t n = codes.dim(0);
  const int64_t block = layout_.block_vectors;
  CVQ_RETURN_IF_ERROR(CheckWholeBlocks(n, "codes"));
  CVQ_RETURN_IF_ERROR(
      CheckTensor(side, "side", DType::kU8, {n / block, layout_.side_bytes}));
  CVQ_RETURN_IF_ERROR(
      CheckTensor(output, "output", DType::kF32, {n, layout_.dim}));
  const uint8_t* code_bytes = static_cast<const uint8_t*>(codes.data());
  const uint8_t* side_bytes = static_cast<const uint8_t*>(side.data());
  float* out = static_cast<float*>(output.data());
  return ForEachBlockRange(
      n / block, block, pool, [&](int64_t first, int64_t count) {
        return DecodeBlocks(code_bytes + first * block * layout_.code_bytes,
                            side_bytes + first * layout_.side_bytes,
                            count * block, out + first * block * layout_.dim);
      });
}

absl::StatusOr<std::string> Quantizer::Serialize() const {
  CVQ_ASSIGN_OR_RETURN(std::string payload, SerializePayload());
  return FrameQuantizer(spec_, layout_.dim, payload);
}

}  // namespace commvq
