// Non-owning views of dense, row-major tensors, and the shape checks every
// public entry point runs before touching their data.
//
// A view never owns or copies memory; the caller keeps the buffer alive for
// as long as the view is used. Views are always contiguous (row-major): the
// C ABI rejects strided input before it reaches the library.
#ifndef COMMVQ_TENSOR_TENSOR_VIEW_H_
#define COMMVQ_TENSOR_TENSOR_VIEW_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <type_traits>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "commvq/base/dtype.h"

namespace commvq {

using Shape = absl::InlinedVector<int64_t, 4>;

// "[2, 64]".
std::string ShapeToString(absl::Span<const int64_t> shape);

// Product of the dimensions; InvalidArgument for a negative dimension or a
// product that does not fit in int64 (e.g. a shape read from a corrupt file).
absl::StatusOr<int64_t> NumElements(absl::Span<const int64_t> shape);

// `DataT` is `const void` (read-only view) or `void` (writable view).
template <typename DataT>
class BasicTensorView {
 public:
  BasicTensorView() = default;
  BasicTensorView(DataT* data, DType dtype, absl::Span<const int64_t> shape)
      : data_(data), dtype_(dtype), shape_(shape.begin(), shape.end()) {}
  BasicTensorView(DataT* data, DType dtype, std::initializer_list<int64_t> shape)
      : data_(data), dtype_(dtype), shape_(shape) {}

  // A writable view converts to a read-only one, not the reverse.
  template <typename OtherT, typename = std::enable_if_t<
                                 std::is_const_v<DataT> && !std::is_const_v<OtherT>>>
  BasicTensorView(const BasicTensorView<OtherT>& other)  // NOLINT: implicit
      : data_(other.data()), dtype_(other.dtype()), shape_(other.shape()) {}

  DataT* data() const { return data_; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_[i]; }

  // Valid only after CheckTensor succeeded (no negative dims, no overflow).
  int64_t num_elements() const {
    int64_t n = 1;
    for (int64_t d : shape_) n *= d;
    return n;
  }
  int64_t size_bytes() const { return num_elements() * DTypeSize(dtype_); }

  // Typed access; the caller has checked dtype() (CheckTensor does).
  template <typename T>
  auto span() const {
    using ElemT = std::conditional_t<std::is_const_v<DataT>, const T, T>;
    return absl::Span<ElemT>(static_cast<ElemT*>(data_),
                             static_cast<size_t>(num_elements()));
  }

  // Rows [begin, begin + count) along dimension 0.
  BasicTensorView Rows(int64_t begin, int64_t count) const {
    BasicTensorView rows = *this;
    const int64_t row_bytes = shape_[0] == 0 ? 0 : size_bytes() / shape_[0];
    using BytePtr =
        std::conditional_t<std::is_const_v<DataT>, const uint8_t*, uint8_t*>;
    rows.data_ = static_cast<BytePtr>(data_) + begin * row_bytes;
    rows.shape_[0] = count;
    return rows;
  }

 private:
  DataT* data_ = nullptr;
  DType dtype_ = DType::kF32;
  Shape shape_;
};

using TensorView = BasicTensorView<const void>;
using MutableTensorView = BasicTensorView<void>;

// Wildcard for CheckTensor's expected shape.
inline constexpr int64_t kAnyDim = -1;

// Checks what every entry point must check before reading `tensor`: rank and
// each dimension (kAnyDim matches any size), dtype, non-negative dimensions,
// no size overflow, and non-null data when the tensor is not empty. The error
// names the argument (`name`) and shows the expected and the actual value.
absl::Status CheckTensor(const TensorView& tensor, absl::string_view name,
                         DType dtype, absl::Span<const int64_t> expected_shape);
inline absl::Status CheckTensor(const TensorView& tensor, absl::string_view name,
                                DType dtype,
                                std::initializer_list<int64_t> expected_shape) {
  return CheckTensor(tensor, name, dtype,
                     absl::Span<const int64_t>(expected_shape.begin(),
                                               expected_shape.size()));
}

}  // namespace commvq

#endif  // COMMVQ_TENSOR_TENSOR_VIEW_H_
