#include "commvq/backend/cuda_dense_attention.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "commvq/backend/cuda_rope_table.h"
#include "commvq/base/status_macros.h"
#include "kernels/cuda/attention_kernels.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/key_kernels.h"

namespace commvq {

using cuda::CublasStatus;
using cuda::CudaStatus;

absl::StatusOr<std::unique_ptr<CudaDenseAttention>> CudaDenseAttention::Create(
    const AttentionShape& shape, int64_t capacity) {
  CVQ_RETURN_IF_ERROR(ValidateAttentionShape(shape));
  constexpr int64_t kMaxCapacity = int64_t{1} << 26;
  if (capacity < 1 || capacity > kMaxCapacity) {
    return absl::InvalidArgumentError(
        absl::StrCat("CUDA dense attention: capacity ", capacity,
                     "; expected 1 to ", kMaxCapacity));
  }
  std::unique_ptr<CudaDenseAttention> a(new CudaDenseAttention());
  a->shape_ = shape;
  a->capacity_ = capacity;
  CVQ_ASSIGN_OR_RETURN(a->cublas_, cuda::CublasHandle::Create());
  CVQ_ASSIGN_OR_RETURN(a->rope_, UploadRopeTable(shape, capacity));
  const int64_t kv = capacity * shape.num_kv_heads * shape.head_dim * 2;
  const int64_t head_floats = int64_t{shape.num_heads} * shape.head_dim;
  const int64_t scores = int64_t{shape.num_heads} * capacity;
  const auto allocate = [](int64_t bytes, cuda::DeviceMemory* out) {
    CVQ_ASSIGN_OR_RETURN(*out, cuda::DeviceMemory::Allocate(bytes));
    return absl::OkStatus();
  };
  CVQ_RETURN_IF_ERROR(allocate(kv, &a->keys_));
  CVQ_RETURN_IF_ERROR(allocate(kv, &a->values_));
  CVQ_RETURN_IF_ERROR(allocate(head_floats * 4, &a->rotated_));
  CVQ_RETURN_IF_ERROR(allocate(head_floats * 2, &a->rotated_bf16_));
  CVQ_RETURN_IF_ERROR(allocate(head_floats * 4, &a->pair_rows_));
  CVQ_RETURN_IF_ERROR(allocate(scores * 4, &a->scores_));
  CVQ_RETURN_IF_ERROR(allocate(scores * 2, &a->probs_));
  CVQ_RETURN_IF_ERROR(allocate(int64_t{shape.num_heads} * 4, &a->inv_sum_));
  return a;
}

int64_t CudaDenseAttention::KvBytes() const {
  return 2 * length_ * shape_.num_kv_heads * shape_.head_dim * 2;
}

absl::Status CudaDenseAttention::Append(const float* keys, const float* values,
                                        int64_t num_tokens, void* stream) {
  if (num_tokens < 1 || length_ + num_tokens > capacity_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CUDA dense attention: Append of num_tokens ", num_tokens,
        "; expected 1 to ", capacity_ - length_, " (the capacity left)"));
  }
  const int64_t offset = length_ * shape_.num_kv_heads * shape_.head_dim;
  CVQ_RETURN_IF_ERROR(CudaStatus(
      cuda::LaunchRotateAppend(
          keys, values, num_tokens, shape_.num_kv_heads, shape_.head_dim,
          shape_.pair_layout == PairLayout::kInterleaved ? 1 : 0,
          rope_.as<float>(), capacity_, length_, 1,
          keys_.as<uint16_t>() + offset, values_.as<uint16_t>() + offset,
          stream),
      "dense append launch"));
  length_ += num_tokens;
  return absl::OkStatus();
}

absl::Status CudaDenseAttention::Attend(const float* query, float* out,
                                        void* stream) {
  if (length_ == 0) {
    return absl::FailedPreconditionError(
        "CUDA dense attention: Attend on an empty cache");
  }
  const int heads = shape_.num_heads;
  const int kv_heads = shape_.num_kv_heads;
  const int group = shape_.group_size();
  const int head_dim = shape_.head_dim;
  const int tokens = static_cast<int>(length_);
  const long long capacity = capacity_;
  CVQ_RETURN_IF_ERROR(
      CudaStatus(cuda::LaunchQueryPrepare(
                     query, heads, kv_heads, head_dim,
                     shape_.pair_layout == PairLayout::kInterleaved ? 1 : 0,
                     rope_.as<float>(), capacity_, length_ - 1,
                     rotated_.as<float>(), pair_rows_.as<float>(), stream),
                 "query prepare launch"));
  CVQ_RETURN_IF_ERROR(CudaStatus(
      cuda::LaunchToBf16(rotated_.as<float>(), int64_t{heads} * head_dim,
                         rotated_bf16_.as<uint16_t>(), stream),
      "query bf16 launch"));
  CVQ_RETURN_IF_ERROR(cublas_.Bind(stream));
  cublasHandle_t handle = static_cast<cublasHandle_t>(cublas_.get());
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  const float one = 1.0f;
  const float zero = 0.0f;
  // Per KV head: scores [group, tokens] = q [group, head_dim] . K^T, with K
  // rows kv_heads * head_dim apart.
  CVQ_RETURN_IF_ERROR(CublasStatus(
      cublasGemmStridedBatchedEx(
          handle, CUBLAS_OP_T, CUBLAS_OP_N, tokens, group, head_dim, &scale,
          keys_.data(), CUDA_R_16BF, kv_heads * head_dim, head_dim,
          rotated_bf16_.data(), CUDA_R_16BF, head_dim,
          static_cast<long long>(group) * head_dim, &zero, scores_.data(),
          CUDA_R_32F, static_cast<int>(capacity), group * capacity, kv_heads,
          CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
      "dense scores GEMM"));
  float* scores = scores_.as<float>();
  CVQ_RETURN_IF_ERROR(
      CudaStatus(cuda::LaunchSoftmax(scores, capacity_, length_, scores,
                                     capacity_, 0, heads, inv_sum_.as<float>(),
                                     probs_.as<uint16_t>(), stream),
                 "softmax launch"));
  // Per KV head: out [group, head_dim] = P [group, tokens] . V.
  CVQ_RETURN_IF_ERROR(CublasStatus(
      cublasGemmStridedBatchedEx(
          handle, CUBLAS_OP_N, CUBLAS_OP_N, head_dim, group, tokens, &one,
          values_.data(), CUDA_R_16BF, kv_heads * head_dim, head_dim,
          probs_.data(), CUDA_R_16BF, static_cast<int>(capacity),
          group * capacity, &zero, out, CUDA_R_32F, head_dim,
          static_cast<long long>(group) * head_dim, kv_heads,
          CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
      "dense values GEMM"));
  return CudaStatus(
      cuda::LaunchScaleRows(out, inv_sum_.as<float>(), heads, head_dim, stream),
      "scale rows launch");
}

}  // namespace commvq
