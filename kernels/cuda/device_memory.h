// Owned device memory and the synchronous copies used at set-up and by
// tests (the decode path only launches work on the caller's stream).
#ifndef COMMVQ_KERNELS_CUDA_DEVICE_MEMORY_H_
#define COMMVQ_KERNELS_CUDA_DEVICE_MEMORY_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace commvq {
namespace cuda {

// One cudaMalloc'ed block, freed on destruction. Move-only.
class DeviceMemory {
 public:
  DeviceMemory() = default;
  ~DeviceMemory();
  DeviceMemory(DeviceMemory&& other) noexcept;
  DeviceMemory& operator=(DeviceMemory&& other) noexcept;
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;

  // InvalidArgument for bytes < 0; the CUDA error when allocation fails.
  // Zero bytes gives an empty block (data() == nullptr).
  static absl::StatusOr<DeviceMemory> Allocate(int64_t bytes);

  void* data() const { return data_; }
  int64_t bytes() const { return bytes_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data_);
  }

 private:
  void* data_ = nullptr;
  int64_t bytes_ = 0;
};

// Blocking copies of `bytes` bytes.
absl::Status CopyToDevice(const void* host, int64_t bytes, void* device);
absl::Status CopyToHost(const void* device, int64_t bytes, void* host);

// A new block holding a copy of `host`.
template <typename T>
absl::StatusOr<DeviceMemory> Upload(absl::Span<const T> host) {
  const int64_t bytes = static_cast<int64_t>(host.size() * sizeof(T));
  absl::StatusOr<DeviceMemory> memory = DeviceMemory::Allocate(bytes);
  if (!memory.ok()) return memory.status();
  const absl::Status copied = CopyToDevice(host.data(), bytes, memory->data());
  if (!copied.ok()) return copied;
  return memory;
}

// A host copy of `count` elements of type T at `device`.
template <typename T>
absl::StatusOr<std::vector<T>> Download(const void* device, int64_t count) {
  std::vector<T> host(count);
  const absl::Status copied =
      CopyToHost(device, count * static_cast<int64_t>(sizeof(T)), host.data());
  if (!copied.ok()) return copied;
  return host;
}

// Waits for all work on `stream` (a cudaStream_t; nullptr = default).
absl::Status SynchronizeStream(void* stream);

// Offsets of several arrays carved out of one workspace block, each aligned
// to 256 bytes.
class WorkspaceLayout {
 public:
  // Reserves `bytes` and returns its offset.
  int64_t Add(int64_t bytes) {
    const int64_t offset = total_;
    total_ += (bytes + kAlignment - 1) / kAlignment * kAlignment;
    return offset;
  }
  int64_t total() const { return total_; }

 private:
  static constexpr int64_t kAlignment = 256;
  int64_t total_ = 0;
};

}  // namespace cuda
}  // namespace commvq

#endif  // COMMVQ_KERNELS_CUDA_DEVICE_MEMORY_H_
