#include "commvq/model/gguf/gguf_file.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "commvq/base/byte_io.h"
#include "commvq/base/status_macros.h"

namespace commvq {
namespace {

constexpr absl::string_view kMagic = "GGUF";
constexpr uint64_t kDefaultAlignment = 32;
constexpr absl::string_view kAlignmentKey = "general.alignment";
// ggml's GGML_MAX_DIMS.
constexpr uint32_t kMaxDims = 4;
// Arrays of arrays are parsed recursively; bounding the depth bounds the
// stack a hostile file can make the parser use. Real files nest at most 2.
constexpr int kMaxArrayDepth = 16;
// The fewest bytes one entry can take, to reject counts the remaining bytes
// cannot hold before reserving memory for them: a key/value pair is an empty
// key (8-byte length), a type (4) and a 1-byte value; a tensor info is an
// empty name (8), the number of dimensions (4), one dimension (8), the type
// (4) and the offset (8).
constexpr uint64_t kMinKeyValueBytes = 8 + 4 + 1;
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;
// The fewest bytes of an array element of a type without a fixed size: a
// string is at least its 8-byte length, an array its type and count.
constexpr uint64_t kMinStringBytes = 8;
constexpr uint64_t kMinArrayBytes = 4 + 8;
constexpr size_t kMaxDebugStringBytes = 60;

// Names and strings come from the file and may hold any byte: quote and
// escape them so a message stays one printable line.
std::string Quote(absl::string_view text) {
  return absl::StrCat("\"", absl::CHexEscape(text), "\"");
}

bool IsKnownValueType(uint32_t type) {
  return type <= static_cast<uint32_t>(GgufValueType::kFloat64);
}

// The size of a value of a fixed-size type; 0 for strings and arrays.
uint64_t FixedSize(GgufValueType type) {
  switch (type) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kBool:
      return 1;
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
      return 2;
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kFloat32:
      return 4;
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
    case GgufValueType::kFloat64:
      return 8;
    case GgufValueType::kString:
    case GgufValueType::kArray:
      return 0;
  }
  return 0;
}

bool IsInteger(GgufValueType type) {
  switch (type) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
      return true;
    default:
      return false;
  }
}

bool IsFloat(GgufValueType type) {
  return type == GgufValueType::kFloat32 || type == GgufValueType::kFloat64;
}

// `key: message`, keeping the code of `status`.
absl::Status WithKey(absl::string_view key, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat("GGUF metadata ", Quote(key),
                                                  ": ", status.message()));
}

template <typename T>
absl::StatusOr<T> WithKey(absl::string_view key, absl::StatusOr<T> result) {
  if (!result.ok()) return WithKey(key, result.status());
  return result;
}

}  // namespace

std::string GgufValueTypeName(GgufValueType type) {
  switch (type) {
    case GgufValueType::kUint8:
      return "uint8";
    case GgufValueType::kInt8:
      return "int8";
    case GgufValueType::kUint16:
      return "uint16";
    case GgufValueType::kInt16:
      return "int16";
    case GgufValueType::kUint32:
      return "uint32";
    case GgufValueType::kInt32:
      return "int32";
    case GgufValueType::kFloat32:
      return "float32";
    case GgufValueType::kBool:
      return "bool";
    case GgufValueType::kString:
      return "string";
    case GgufValueType::kArray:
      return "array";
    case GgufValueType::kUint64:
      return "uint64";
    case GgufValueType::kInt64:
      return "int64";
    case GgufValueType::kFloat64:
      return "float64";
  }
  return absl::StrCat("unknown type ", static_cast<uint32_t>(type));
}

// ---------------------------------------------------------------------------
// GgufValue

absl::StatusOr<int64_t> GgufValue::AsInt() const {
  switch (type_) {
    case GgufValueType::kUint8:
    case GgufValueType::kUint16:
    case GgufValueType::kUint32:
      return static_cast<int64_t>(bits_);
    case GgufValueType::kInt8:
      return static_cast<int8_t>(bits_);
    case GgufValueType::kInt16:
      return static_cast<int16_t>(bits_);
    case GgufValueType::kInt32:
      return static_cast<int32_t>(bits_);
    case GgufValueType::kInt64:
      return static_cast<int64_t>(bits_);
    case GgufValueType::kUint64:
      if (bits_ > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return absl::InvalidArgumentError(absl::StrCat(
            "uint64 value ", bits_, " does not fit in an int64"));
      }
      return static_cast<int64_t>(bits_);
    default:
      return WrongType("an integer");
  }
}

absl::StatusOr<double> GgufValue::AsFloat() const {
  if (type_ == GgufValueType::kFloat32) {
    const uint32_t bits = static_cast<uint32_t>(bits_);
    float value;
    std::memcpy(&value, &bits, sizeof(value));
    return value;
  }
  if (type_ == GgufValueType::kFloat64) {
    double value;
    std::memcpy(&value, &bits_, sizeof(value));
    return value;
  }
  return WrongType("a float32 or float64");
}

absl::StatusOr<bool> GgufValue::AsBool() const {
  if (type_ != GgufValueType::kBool) return WrongType("a bool");
  return bits_ != 0;
}

absl::StatusOr<absl::string_view> GgufValue::AsString() const {
  if (type_ != GgufValueType::kString) return WrongType("a string");
  return bytes_;
}

GgufValue GgufValue::element(uint64_t i) const {
  if (elements_ != nullptr) return (*elements_)[i];
  GgufValue value;
  value.type_ = element_type_;
  const uint64_t size = FixedSize(element_type_);
  std::memcpy(&value.bits_, bytes_.data() + i * size, size);
  return value;
}

template <typename T, typename Convert>
absl::StatusOr<std::vector<T>> GgufValue::ConvertArray(
    absl::string_view wanted, bool (*element_type_ok)(GgufValueType),
    Convert convert) const {
  if (type_ != GgufValueType::kArray || !element_type_ok(element_type_)) {
    return WrongType(wanted);
  }
  std::vector<T> result;
  result.reserve(size_);
  for (uint64_t i = 0; i < size_; ++i) {
    absl::StatusOr<T> value = convert(element(i));
    if (!value.ok()) {
      return absl::Status(
          value.status().code(),
          absl::StrCat("element ", i, ": ", value.status().message()));
    }
    result.push_back(*std::move(value));
  }
  return result;
}

absl::StatusOr<std::vector<int64_t>> GgufValue::AsIntArray() const {
  return ConvertArray<int64_t>(
      "an array of integers", IsInteger,
      [](const GgufValue& value) { return value.AsInt(); });
}

absl::StatusOr<std::vector<double>> GgufValue::AsFloatArray() const {
  return ConvertArray<double>(
      "an array of float32 or float64", IsFloat,
      [](const GgufValue& value) { return value.AsFloat(); });
}

absl::StatusOr<std::vector<absl::string_view>> GgufValue::AsStringArray()
    const {
  return ConvertArray<absl::string_view>(
      "an array of strings",
      [](GgufValueType type) { return type == GgufValueType::kString; },
      [](const GgufValue& value) { return value.AsString(); });
}

std::string GgufValue::TypeString() const {
  if (type_ != GgufValueType::kArray) return GgufValueTypeName(type_);
  return absl::StrCat("array[", GgufValueTypeName(element_type_), "]");
}

std::string GgufValue::ValueString(int max_elements) const {
  switch (type_) {
    case GgufValueType::kUint64:
      return absl::StrCat(bits_);
    case GgufValueType::kFloat32:
    case GgufValueType::kFloat64:
      return absl::StrCat(*AsFloat());
    case GgufValueType::kBool:
      return bits_ != 0 ? "true" : "false";
    case GgufValueType::kString:
      if (bytes_.size() <= kMaxDebugStringBytes) return Quote(bytes_);
      return absl::StrCat(Quote(bytes_.substr(0, kMaxDebugStringBytes)),
                          "... (", bytes_.size(), " bytes)");
    case GgufValueType::kArray: {
      std::string text = "[";
      const uint64_t shown =
          std::min<uint64_t>(size_, static_cast<uint64_t>(std::max(
                                        max_elements, 0)));
      for (uint64_t i = 0; i < shown; ++i) {
        if (i > 0) text += ", ";
        text += element(i).ValueString(max_elements);
      }
      if (shown < size_) {
        absl::StrAppend(&text, shown > 0 ? ", " : "", "... ", size_ - shown,
                        " more");
      }
      return text + "]";
    }
    default:
      return absl::StrCat(*AsInt());
  }
}

std::string GgufValue::DebugString(int max_elements) const {
  return absl::StrCat(TypeString(), " ", ValueString(max_elements));
}

absl::Status GgufValue::WrongType(absl::string_view wanted) const {
  return absl::InvalidArgumentError(
      absl::StrCat("expected ", wanted, ", found ", TypeString()));
}

// ---------------------------------------------------------------------------
// Parsing

class GgufParser {
 public:
  explicit GgufParser(absl::string_view bytes)
      : bytes_(bytes), reader_(bytes, "GGUF file") {}

  absl::StatusOr<GgufFile> Parse() {
    GgufFile file;
    CVQ_RETURN_IF_ERROR(ParseHeader(&file));
    CVQ_ASSIGN_OR_RETURN(const uint64_t tensor_count,
                         reader_.Read<uint64_t>("the tensor count"));
    CVQ_ASSIGN_OR_RETURN(const uint64_t kv_count,
                         reader_.Read<uint64_t>("the metadata count"));
    CVQ_RETURN_IF_ERROR(
        CheckCount(kv_count, kMinKeyValueBytes, "metadata key/value pairs"));
    file.metadata_.reserve(kv_count);
    for (uint64_t i = 0; i < kv_count; ++i) {
      CVQ_RETURN_IF_ERROR(ParseKeyValue(i, &file));
    }
    CVQ_RETURN_IF_ERROR(ParseAlignment(&file));
    CVQ_RETURN_IF_ERROR(
        CheckCount(tensor_count, kMinTensorInfoBytes, "tensor infos"));
    file.tensors_.reserve(tensor_count);
    for (uint64_t i = 0; i < tensor_count; ++i) {
      CVQ_RETURN_IF_ERROR(ParseTensorInfo(i, &file));
    }
    // The data section starts at the next multiple of the alignment. A file
    // without tensor data may end before that padding.
    const uint64_t header_end = reader_.offset();
    const uint64_t padding =
        (file.alignment_ - header_end % file.alignment_) % file.alignment_;
    file.data_offset_ = header_end + padding;
    const absl::string_view data_section =
        file.data_offset_ <= bytes_.size() ? bytes_.substr(file.data_offset_)
                                           : absl::string_view();
    for (GgufTensorInfo& tensor : file.tensors_) {
      CVQ_RETURN_IF_ERROR(LocateData(file, data_section, &tensor));
    }
    return file;
  }

 private:
  absl::Status ParseHeader(GgufFile* file) {
    CVQ_ASSIGN_OR_RETURN(const absl::string_view magic,
                         reader_.ReadBytes(kMagic.size(), "the magic"));
    if (magic != kMagic) {
      return absl::InvalidArgumentError(
          absl::StrCat("not a GGUF file: the magic is ", Quote(magic),
                       ", expected \"GGUF\""));
    }
    CVQ_ASSIGN_OR_RETURN(file->version_, reader_.Read<uint32_t>("the version"));
    // Versions 2 and 3 lay out little-endian files identically (3 only
    // allows big-endian files, which carry a byte-swapped version).
    if (file->version_ == 2 || file->version_ == 3) return absl::OkStatus();
    if (file->version_ == __builtin_bswap32(2) ||
        file->version_ == __builtin_bswap32(3)) {
      return absl::InvalidArgumentError(
          absl::StrCat("big-endian GGUF files are not supported (version "
                       "field 0x",
                       absl::Hex(file->version_), ")"));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported GGUF version ", file->version_,
                     ": expected 2 or 3"));
  }

  // Rejects a count of entries of at least `min_bytes` each that the
  // remaining bytes cannot hold.
  absl::Status CheckCount(uint64_t count, uint64_t min_bytes,
                          absl::string_view what) {
    if (count > reader_.remaining() / min_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "GGUF file claims ", count, " ", what, " at offset ",
          reader_.offset(), " but its remaining ", reader_.remaining(),
          " bytes can hold at most ", reader_.remaining() / min_bytes));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<absl::string_view> ReadString(absl::string_view field) {
    CVQ_ASSIGN_OR_RETURN(
        const uint64_t length,
        reader_.Read<uint64_t>(absl::StrCat("the length of ", field)));
    return reader_.ReadBytes(length, field);
  }

  absl::StatusOr<GgufValueType> ReadValueType(absl::string_view field) {
    CVQ_ASSIGN_OR_RETURN(const uint32_t type, reader_.Read<uint32_t>(field));
    if (!IsKnownValueType(type)) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, " at offset ", reader_.offset() - 4,
                       " is an unknown value type ", type,
                       " (expected 0 to 12)"));
    }
    return static_cast<GgufValueType>(type);
  }

  absl::Status ParseKeyValue(uint64_t index, GgufFile* file) {
    CVQ_ASSIGN_OR_RETURN(
        const absl::string_view key,
        ReadString(absl::StrCat("the key of metadata entry ", index)));
    if (file->metadata_index_.contains(key)) {
      return absl::InvalidArgumentError(
          absl::StrCat("GGUF file has the metadata key ", Quote(key),
                       " more than once"));
    }
    const std::string what = absl::StrCat("metadata ", Quote(key));
    CVQ_ASSIGN_OR_RETURN(const GgufValueType type,
                         ReadValueType(absl::StrCat("the type of ", what)));
    CVQ_ASSIGN_OR_RETURN(GgufValue value, ReadValue(type, 0, what));
    file->metadata_index_.emplace(key, file->metadata_.size());
    file->metadata_.push_back({std::string(key), std::move(value)});
    return absl::OkStatus();
  }

  // A value of `type` at `depth` arrays deep; `what` names it in errors.
  absl::StatusOr<GgufValue> ReadValue(GgufValueType type, int depth,
                                      absl::string_view what) {
    GgufValue value;
    value.type_ = type;
    if (type == GgufValueType::kString) {
      CVQ_ASSIGN_OR_RETURN(value.bytes_, ReadString(what));
      return value;
    }
    if (type == GgufValueType::kArray) {
      CVQ_RETURN_IF_ERROR(ReadArray(depth, what, &value));
      return value;
    }
    const uint64_t size = FixedSize(type);
    CVQ_ASSIGN_OR_RETURN(const absl::string_view bytes,
                         reader_.ReadBytes(size, what));
    std::memcpy(&value.bits_, bytes.data(), size);
    if (type == GgufValueType::kBool && value.bits_ > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " is a bool of value ", value.bits_,
                       " at offset ", reader_.offset() - 1,
                       ", expected 0 or 1"));
    }
    return value;
  }

  absl::Status ReadArray(int depth, absl::string_view what, GgufValue* array) {
    if (depth >= kMaxArrayDepth) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " nests arrays more than ", kMaxArrayDepth,
                       " deep at offset ", reader_.offset()));
    }
    CVQ_ASSIGN_OR_RETURN(
        array->element_type_,
        ReadValueType(absl::StrCat("the element type of ", what)));
    CVQ_ASSIGN_OR_RETURN(
        array->size_,
        reader_.Read<uint64_t>(absl::StrCat("the length of ", what)));
    const GgufValueType element_type = array->element_type_;
    const uint64_t count = array->size_;
    const uint64_t fixed_size = FixedSize(element_type);
    const uint64_t min_size =
        fixed_size != 0 ? fixed_size
        : element_type == GgufValueType::kString ? kMinStringBytes
                                                 : kMinArrayBytes;
    if (count > reader_.remaining() / min_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " claims ", count, " elements of type ",
          GgufValueTypeName(element_type), " at offset ", reader_.offset(),
          " but the remaining ", reader_.remaining(),
          " bytes can hold at most ", reader_.remaining() / min_size));
    }
    if (fixed_size != 0) {
      CVQ_ASSIGN_OR_RETURN(array->bytes_,
                           reader_.ReadBytes(count * fixed_size, what));
      if (element_type == GgufValueType::kBool) {
        for (uint64_t i = 0; i < count; ++i) {
          const uint8_t byte = static_cast<uint8_t>(array->bytes_[i]);
          if (byte > 1) {
            return absl::InvalidArgumentError(absl::StrCat(
                what, " element ", i, " is a bool of value ", byte,
                ", expected 0 or 1"));
          }
        }
      }
      return absl::OkStatus();
    }
    auto elements = std::make_shared<std::vector<GgufValue>>();
    elements->reserve(count);
    for (uint64_t i = 0; i < count; ++i) {
      CVQ_ASSIGN_OR_RETURN(
          GgufValue element,
          ReadValue(element_type, depth + 1,
                    absl::StrCat(what, " element ", i)));
      elements->push_back(std::move(element));
    }
    array->elements_ = std::move(elements);
    return absl::OkStatus();
  }

  absl::Status ParseAlignment(GgufFile* file) {
    file->alignment_ = kDefaultAlignment;
    const auto it = file->metadata_index_.find(kAlignmentKey);
    if (it == file->metadata_index_.end()) return absl::OkStatus();
    const GgufValue& value = file->metadata_[it->second].value;
    // The format defines the key as a uint32, as ggml enforces.
    if (value.type() != GgufValueType::kUint32) {
      return WithKey(kAlignmentKey, value.WrongType("a uint32"));
    }
    if (value.bits_ == 0 || (value.bits_ & (value.bits_ - 1)) != 0) {
      return WithKey(kAlignmentKey,
                     absl::InvalidArgumentError(absl::StrCat(
                         "the alignment ", value.bits_,
                         " is not a power of two")));
    }
    file->alignment_ = value.bits_;
    return absl::OkStatus();
  }

  absl::Status ParseTensorInfo(uint64_t index, GgufFile* file) {
    GgufTensorInfo tensor;
    CVQ_ASSIGN_OR_RETURN(
        const absl::string_view name,
        ReadString(absl::StrCat("the name of tensor ", index)));
    tensor.name = std::string(name);
    const std::string what = absl::StrCat("tensor ", Quote(name));
    if (file->tensor_index_.contains(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("GGUF file has more than one ", what));
    }
    CVQ_ASSIGN_OR_RETURN(
        const uint32_t num_dims,
        reader_.Read<uint32_t>(absl::StrCat("the rank of ", what)));
    if (num_dims < 1 || num_dims > kMaxDims) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " has ", num_dims, " dimensions, expected 1 to ",
                       kMaxDims));
    }
    // Overflow-safe product; any dimension may be 0.
    uint64_t num_elements = 1;
    bool overflow = false;
    for (uint32_t d = 0; d < num_dims; ++d) {
      CVQ_ASSIGN_OR_RETURN(
          const uint64_t dim,
          reader_.Read<uint64_t>(absl::StrCat("dimension ", d, " of ", what)));
      if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, " has dimension ", d, " of ", dim, ", more than 2^63 - 1"));
      }
      tensor.dims.push_back(static_cast<int64_t>(dim));
      overflow |= __builtin_mul_overflow(num_elements, dim, &num_elements);
    }
    if (overflow ||
        num_elements >
            static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " has too many elements: the product of its dimensions ",
          DimsString(tensor), " overflows a 64-bit integer"));
    }
    tensor.num_elements = static_cast<int64_t>(num_elements);
    tensor.num_rows =
        tensor.dims[0] == 0 ? 0 : tensor.num_elements / tensor.dims[0];
    CVQ_ASSIGN_OR_RETURN(
        const uint32_t type,
        reader_.Read<uint32_t>(absl::StrCat("the type of ", what)));
    tensor.type = static_cast<GgmlType>(type);
    const GgmlTypeTraits* traits = FindGgmlType(tensor.type);
    if (traits == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " has an unknown ggml type ", type));
    }
    if (tensor.dims[0] % traits->block_size != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " of type ", traits->name, " has rows of ", tensor.dims[0],
          " elements, not a multiple of its block size ", traits->block_size));
    }
    CVQ_ASSIGN_OR_RETURN(
        tensor.offset,
        reader_.Read<uint64_t>(absl::StrCat("the data offset of ", what)));
    file->tensor_index_.emplace(tensor.name, file->tensors_.size());
    file->tensors_.push_back(std::move(tensor));
    return absl::OkStatus();
  }

  // Points tensor->data into the data section after checking the range.
  absl::Status LocateData(const GgufFile& file, absl::string_view data_section,
                          GgufTensorInfo* tensor) {
    const std::string what = absl::StrCat("tensor ", Quote(tensor->name));
    const GgmlTypeTraits& traits = *FindGgmlType(tensor->type);
    // By rows, as readers index the data: a row's size must fit even when
    // there are no rows.
    int64_t row_bytes;
    int64_t size;
    if (__builtin_mul_overflow(tensor->dims[0] / traits.block_size,
                               traits.block_bytes, &row_bytes) ||
        __builtin_mul_overflow(row_bytes, tensor->num_rows, &size)) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " of type ", traits.name, " and dimensions ",
          DimsString(*tensor), " has a size in bytes that overflows"));
    }
    if (tensor->offset % file.alignment_ != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " has data offset ", tensor->offset,
          ", not a multiple of the alignment ", file.alignment_));
    }
    if (static_cast<uint64_t>(size) > data_section.size() ||
        tensor->offset > data_section.size() - size) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " has data at [", tensor->offset, ", ", tensor->offset,
          " + ", size, ") outside the data section of ", data_section.size(),
          " bytes at file offset ", file.data_offset_));
    }
    tensor->data = data_section.substr(tensor->offset, size);
    return absl::OkStatus();
  }

  static std::string DimsString(const GgufTensorInfo& tensor) {
    std::string text = "[";
    for (size_t i = 0; i < tensor.dims.size(); ++i) {
      absl::StrAppend(&text, i > 0 ? ", " : "", tensor.dims[i]);
    }
    return text + "]";
  }

  absl::string_view bytes_;
  ByteReader reader_;
};

// ---------------------------------------------------------------------------
// GgufFile

absl::StatusOr<GgufFile> GgufFile::Parse(absl::string_view bytes) {
  return GgufParser(bytes).Parse();
}

absl::StatusOr<GgufFile> GgufFile::Open(const std::string& path) {
  CVQ_ASSIGN_OR_RETURN(MappedFile mapping, MappedFile::Open(path));
  absl::StatusOr<GgufFile> file = Parse(mapping.data());
  if (!file.ok()) {
    return absl::Status(
        file.status().code(),
        absl::StrCat("'", path, "': ", file.status().message()));
  }
  file->mapping_ = std::move(mapping);
  return file;
}

absl::StatusOr<const GgufTensorInfo*> GgufFile::FindTensor(
    absl::string_view name) const {
  const auto it = tensor_index_.find(name);
  if (it == tensor_index_.end()) {
    return absl::NotFoundError(
        absl::StrCat("GGUF file has no tensor ", Quote(name)));
  }
  return &tensors_[it->second];
}

bool GgufFile::Has(absl::string_view key) const {
  return metadata_index_.contains(key);
}

absl::StatusOr<const GgufValue*> GgufFile::Find(absl::string_view key) const {
  const auto it = metadata_index_.find(key);
  if (it == metadata_index_.end()) {
    return absl::NotFoundError(
        absl::StrCat("GGUF file has no metadata key ", Quote(key)));
  }
  return &metadata_[it->second].value;
}

absl::StatusOr<int64_t> GgufFile::GetInt(absl::string_view key) const {
  CVQ_ASSIGN_OR_RETURN(const GgufValue* value, Find(key));
  return WithKey(key, value->AsInt());
}

absl::StatusOr<double> GgufFile::GetFloat(absl::string_view key) const {
  CVQ_ASSIGN_OR_RETURN(const GgufValue* value, Find(key));
  return WithKey(key, value->AsFloat());
}

absl::StatusOr<bool> GgufFile::GetBool(absl::string_view key) const {
  CVQ_ASSIGN_OR_RETURN(const GgufValue* value, Find(key));
  return WithKey(key, value->AsBool());
}

absl::StatusOr<absl::string_view> GgufFile::GetString(
    absl::string_view key) const {
  CVQ_ASSIGN_OR_RETURN(const GgufValue* value, Find(key));
  return WithKey(key, value->AsString());
}

absl::StatusOr<std::vector<int64_t>> GgufFile::GetIntArray(
    absl::string_view key) const {
  CVQ_ASSIGN_OR_RETURN(const GgufValue* value, Find(key));
  return WithKey(key, value->AsIntArray());
}

absl::StatusOr<std::vector<double>> GgufFile::GetFloatArray(
    absl::string_view key) const {
  CVQ_ASSIGN_OR_RETURN(const GgufValue* value, Find(key));
  return WithKey(key, value->AsFloatArray());
}

absl::StatusOr<std::vector<absl::string_view>> GgufFile::GetStringArray(
    absl::string_view key) const {
  CVQ_ASSIGN_OR_RETURN(const GgufValue* value, Find(key));
  return WithKey(key, value->AsStringArray());
}

}  // namespace commvq
