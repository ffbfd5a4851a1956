// Reading GGUF files, the single-file format in which llama.cpp and the
// `gguf` Python package store a model: typed metadata (architecture
// hyper-parameters, the tokenizer vocabulary) and the weight tensors in ggml's
// quantized layouts, so CommVQ can run real models on real weights.
//
// Layout (versions 2 and 3, little-endian): "GGUF", u32 version, u64 tensor
// count, u64 key/value count; the key/value pairs (u64-length-prefixed key,
// u32 value type, value); one info per tensor (name, u32 number of
// dimensions, u64 per dimension, u32 ggml type, u64 offset); padding to the
// alignment (metadata "general.alignment", default 32); then the data
// section, into which each tensor's offset points.
//
// The reader trusts nothing in a file: every length and count is checked
// against the bytes that are left before anything is allocated or read, and
// every malformed or inconsistent field is an InvalidArgument naming it.
// Strings, numeric arrays and tensor data are views into the parsed bytes,
// so even a vocabulary of 50k tokens costs no copies.
#ifndef COMMVQ_MODEL_GGUF_GGUF_FILE_H_
#define COMMVQ_MODEL_GGUF_GGUF_FILE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "commvq/io/atomic_file.h"
#include "commvq/model/gguf/ggml_type.h"

namespace commvq {

// Metadata value types, numbered as in the format.
enum class GgufValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

// "uint32", "string", "array"; "unknown type 13" for other numbers.
std::string GgufValueTypeName(GgufValueType type);

// One metadata value. Cheap to copy: strings and numeric arrays are views
// into the parsed bytes, and the elements of other arrays are shared.
//
// The As* accessors convert leniently where nothing can be lost (any integer
// type to int64_t if the value fits, float32 or float64 to double) and
// otherwise return InvalidArgument naming the type found and the one wanted.
class GgufValue {
 public:
  GgufValueType type() const { return type_; }

  // Any integer type (not bool) whose value fits in int64_t.
  absl::StatusOr<int64_t> AsInt() const;
  // float32 (converted exactly) or float64.
  absl::StatusOr<double> AsFloat() const;
  absl::StatusOr<bool> AsBool() const;
  absl::StatusOr<absl::string_view> AsString() const;

  // Arrays: the type of the elements (all elements have the same type; an
  // array of arrays may hold arrays of different element types) and their
  // number. element_type() is meaningless and size() 0 for other values.
  GgufValueType element_type() const { return element_type_; }
  uint64_t size() const { return size_; }
  // Element `i` of an array. Precondition: type() is kArray, i < size().
  GgufValue element(uint64_t i) const;

  // Arrays of one type, converted as the scalar accessors do.
  absl::StatusOr<std::vector<int64_t>> AsIntArray() const;
  absl::StatusOr<std::vector<double>> AsFloatArray() const;
  absl::StatusOr<std::vector<absl::string_view>> AsStringArray() const;

  // The type and the value, for listings: "uint32 30", "string \"llama\"",
  // "array[string] [\"<unk>\", \"<s>\", ... 49150 more]". Shows at most
  // `max_elements` elements of each array; strings are C-escaped and cut to
  // 60 bytes.
  std::string DebugString(int max_elements = 4) const;

 private:
  friend class GgufParser;

  // "array[uint32]" for arrays, else GgufValueTypeName(type()).
  std::string TypeString() const;
  // The value without its type ("30", "[1, 2, ... 7 more]").
  std::string ValueString(int max_elements) const;
  absl::Status WrongType(absl::string_view wanted) const;
  // The elements of an array whose elements pass `element_type_ok`, each
  // converted by `convert`.
  template <typename T, typename Convert>
  absl::StatusOr<std::vector<T>> ConvertArray(
      absl::string_view wanted, bool (*element_type_ok)(GgufValueType),
      Convert convert) const;

  GgufValueType type_ = GgufValueType::kUint8;
  // Scalars: the value's bytes as read, zero-extended to 64 bits.
  uint64_t bits_ = 0;
  // kString: the text. Arrays of numbers or bools: the elements' bytes.
  absl::string_view bytes_;
  // Arrays only.
  GgufValueType element_type_ = GgufValueType::kUint8;
  uint64_t size_ = 0;
  // Arrays of strings or arrays: the elements, in order.
  std::shared_ptr<const std::vector<GgufValue>> elements_;
};

struct GgufKeyValue {
  std::string key;
  GgufValue value;
};

// A tensor of a parsed file.
struct GgufTensorInfo {
  std::string name;
  // ggml order: dims[0] varies fastest (the length of a contiguous row), the
  // reverse of NumPy's or PyTorch's shape. 1 to 4 dimensions.
  absl::InlinedVector<int64_t, 4> dims;
  GgmlType type = GgmlType::kF32;
  // Where the data starts, relative to the data section (as in the file).
  uint64_t offset = 0;
  // The product of dims.
  int64_t num_elements = 0;
  // num_elements / dims[0]: the number of rows of dims[0] elements.
  int64_t num_rows = 0;
  // The tensor's bytes inside the parsed bytes: num_elements / block size
  // blocks of the type's block_bytes.
  absl::string_view data;
};

class GgufFile {
 public:
  // Maps the file at `path` and parses it; the result keeps the mapping
  // alive. Errors from the file system (NotFound, ...) or from Parse, with
  // the path in the message.
  static absl::StatusOr<GgufFile> Open(const std::string& path);

  // Parses `bytes`, which must outlive the result (strings, arrays and
  // tensor data point into it). InvalidArgument naming the field and the
  // problem for anything malformed: truncation, bad magic, a version other
  // than 2 or 3, a count or length the remaining bytes cannot hold, an
  // unknown value or tensor type, arrays nested more than 16 deep, a bool
  // other than 0 or 1, a duplicate key or tensor name, a bad
  // general.alignment, a tensor whose first dimension is not a whole number
  // of blocks, whose size overflows, or whose data is misaligned or outside
  // the data section.
  static absl::StatusOr<GgufFile> Parse(absl::string_view bytes);

  GgufFile(GgufFile&&) = default;
  GgufFile& operator=(GgufFile&&) = default;

  uint32_t version() const { return version_; }
  // general.alignment, or 32 when the file does not set it.
  uint64_t alignment() const { return alignment_; }
  // The offset of the data section in the file.
  uint64_t data_offset() const { return data_offset_; }

  // In file order.
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  // NotFound naming `name` if there is no such tensor.
  absl::StatusOr<const GgufTensorInfo*> FindTensor(
      absl::string_view name) const;

  // Every key/value pair, in file order (for listings).
  const std::vector<GgufKeyValue>& metadata() const { return metadata_; }
  bool Has(absl::string_view key) const;
  // NotFound naming `key` if the file does not have it.
  absl::StatusOr<const GgufValue*> Find(absl::string_view key) const;

  // Find(key) and the value's As* accessor; errors name the key.
  absl::StatusOr<int64_t> GetInt(absl::string_view key) const;
  absl::StatusOr<double> GetFloat(absl::string_view key) const;
  absl::StatusOr<bool> GetBool(absl::string_view key) const;
  absl::StatusOr<absl::string_view> GetString(absl::string_view key) const;
  absl::StatusOr<std::vector<int64_t>> GetIntArray(
      absl::string_view key) const;
  absl::StatusOr<std::vector<double>> GetFloatArray(
      absl::string_view key) const;
  absl::StatusOr<std::vector<absl::string_view>> GetStringArray(
      absl::string_view key) const;

 private:
  friend class GgufParser;
  GgufFile() = default;

  // Set by Open; everything else points into it (its address survives moves).
  std::optional<MappedFile> mapping_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 0;
  uint64_t data_offset_ = 0;
  std::vector<GgufKeyValue> metadata_;
  absl::flat_hash_map<std::string, size_t> metadata_index_;
  std::vector<GgufTensorInfo> tensors_;
  absl::flat_hash_map<std::string, size_t> tensor_index_;
};

}  // namespace commvq

#endif  // COMMVQ_MODEL_GGUF_GGUF_FILE_H_
