// Reading and writing safetensors files, the format in which Hugging Face
// models ship their weights, so CommVQ can load KV caches and save codebooks
// that PyTorch, JAX and the `safetensors` Python package read directly.
//
// Layout: an 8-byte little-endian header size N, N bytes of UTF-8 JSON
// (optionally padded with spaces) mapping each tensor name to its dtype,
// shape and [begin, end) byte offsets, optionally "__metadata__" (a
// string-to-string map), then the data section the offsets point into. The
// reader trusts nothing in a file: every field is type- and range-checked,
// and the tensors must tile the data section exactly.
#ifndef COMMVQ_IO_SAFETENSORS_H_
#define COMMVQ_IO_SAFETENSORS_H_

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "commvq/base/dtype.h"
#include "commvq/io/atomic_file.h"
#include "commvq/tensor/tensor_view.h"

namespace commvq {

// A tensor of a parsed file.
struct SafetensorsTensor {
  std::string name;
  DType dtype = DType::kF32;
  // Empty for a scalar.
  Shape shape;
  // The row-major elements (product(shape) * DTypeSize(dtype) bytes) inside
  // the parsed bytes. The format does not promise alignment: files from the
  // Python package are aligned, but a file whose tensors are listed in
  // another order may not be, so copy out (memcpy) rather than cast unless
  // the address is known to be aligned.
  absl::string_view data;
};

// A tensor to write.
struct NamedTensor {
  std::string name;
  TensorView tensor;
};

// The tensors and metadata of one safetensors file.
class SafetensorsFile {
 public:
  // Parses `bytes`, which must outlive the result (tensors point into it).
  // InvalidArgument naming the tensor and the problem for any malformed or
  // inconsistent header, and for dtypes other than F32, F16, BF16 and U8.
  static absl::StatusOr<SafetensorsFile> Parse(absl::string_view bytes);

  // Maps the file at `path` and parses it; the result keeps the mapping
  // alive. Errors from the file system (NotFound, ...) or from Parse, with
  // the path in the message.
  static absl::StatusOr<SafetensorsFile> Open(const std::string& path);

  // In the order of their data in the file, which for files this library
  // wrote is the order they were given in.
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }

  // NotFound naming `name` if there is no such tensor.
  absl::StatusOr<const SafetensorsTensor*> Find(absl::string_view name) const;

  // The "__metadata__" entries; empty if the file has none.
  const std::map<std::string, std::string>& metadata() const {
    return metadata_;
  }

 private:
  SafetensorsFile() = default;

  // Set by Open; tensors_ point into it (its address survives moves).
  std::optional<MappedFile> mapping_;
  std::vector<SafetensorsTensor> tensors_;
  absl::flat_hash_map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// The bytes of a safetensors file holding `tensors`, in the given order and
// packed without gaps, and `metadata` (omitted from the header when empty).
// InvalidArgument for a tensor that fails CheckTensor, a name or metadata
// string that is not UTF-8, a duplicate name, the reserved name
// "__metadata__", or a header over the format's 100 MB limit.
absl::StatusOr<std::string> SerializeSafetensors(
    const std::vector<NamedTensor>& tensors,
    const std::map<std::string, std::string>& metadata);

// SerializeSafetensors, then WriteFileAtomically to `path`.
absl::Status WriteSafetensors(
    const std::string& path, const std::vector<NamedTensor>& tensors,
    const std::map<std::string, std::string>& metadata);

}  // namespace commvq

#endif  // COMMVQ_IO_SAFETENSORS_H_
