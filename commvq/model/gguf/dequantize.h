// Conversion of GGUF tensor data from ggml's storage types (plain floats and
// block-quantized formats) to float32, so model weights can be used by code
// that knows nothing of ggml's layouts.
//
// Supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1 and Q6_K. The results are
// exactly those of ggml's reference (scalar) dequantization and of the `gguf`
// Python package: each value is computed with the same float operations in
// the same order, never fused into one rounding.
#ifndef COMMVQ_MODEL_GGUF_DEQUANTIZE_H_
#define COMMVQ_MODEL_GGUF_DEQUANTIZE_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "commvq/base/thread_pool.h"
#include "commvq/model/gguf/ggml_type.h"
#include "commvq/model/gguf/gguf_file.h"

namespace commvq {

// Whether the functions below support `type`.
bool CanDequantize(GgmlType type);

// Dequantizes out.size() consecutive elements stored as `type` in `bytes`:
// out.size() must be a whole number of blocks and `bytes` exactly those
// blocks. InvalidArgument naming the type if it is not supported or the
// sizes do not match.
absl::Status DequantizeBlocks(GgmlType type, absl::string_view bytes,
                              absl::Span<float> out);

// Dequantizes rows [first_row, first_row + num_rows) of `tensor`, a row being
// dims[0] consecutive elements, into `out` (num_rows * dims[0] floats, in
// ggml order). `tensor_bytes` is the whole tensor's data (normally
// tensor.data). InvalidArgument for an unsupported type, rows that are not
// whole blocks, a row range outside the tensor, or sizes that do not match.
// With a `pool`, large ranges are split over its threads; the result is the
// same either way.
absl::Status DequantizeRows(const GgufTensorInfo& tensor,
                            absl::string_view tensor_bytes, int64_t first_row,
                            int64_t num_rows, absl::Span<float> out,
                            ThreadPool* pool = nullptr);

// The whole tensor `name` of `file` as floats, in ggml order (dims[0]
// fastest). NotFound if there is no such tensor; errors of DequantizeRows.
absl::StatusOr<std::vector<float>> DequantizeTensor(
    const GgufFile& file, absl::string_view name, ThreadPool* pool = nullptr);

}  // namespace commvq

#endif  // COMMVQ_MODEL_GGUF_DEQUANTIZE_H_
