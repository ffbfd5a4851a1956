#include "commvq/io/safetensors.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "commvq/base/byte_io.h"
#include "commvq/base/status_macros.h"

namespace commvq {
namespace {

constexpr size_t kHeaderSizeBytes = 8;
// The reference implementation's limit: a larger size is a corrupt file, and
// checking it first keeps a bad size from making us scan gigabytes.
constexpr uint64_t kMaxHeaderSize = 100'000'000;
// NumPy's limit on dimensions. Longer shapes are garbage, and refusing them
// bounds the memory a hostile header can make the parser allocate.
constexpr size_t kMaxRank = 64;
constexpr absl::string_view kMetadataKey = "__metadata__";

struct DTypeSpelling {
  absl::string_view name;
  DType dtype;
};
constexpr DTypeSpelling kDTypeSpellings[] = {
    {"F32", DType::kF32},
    {"F16", DType::kF16},
    {"BF16", DType::kBF16},
    {"U8", DType::kU8},
};

absl::string_view SafetensorsDTypeName(DType dtype) {
  for (const DTypeSpelling& entry : kDTypeSpellings) {
    if (entry.dtype == dtype) return entry.name;
  }
  return "invalid";
}

// The length of the well-formed UTF-8 sequence at the start of `text`
// (RFC 3629: shortest form, no surrogates, at most U+10FFFF), or 0 if there
// is none there.
size_t Utf8SequenceLength(absl::string_view text) {
  const auto byte = [text](size_t i) { return static_cast<uint8_t>(text[i]); };
  const uint8_t lead = byte(0);
  if (lead < 0x80) return 1;
  size_t length;
  // The range of the second byte; the lead bytes E0, ED, F0 and F4 narrow it
  // to exclude overlong forms, surrogates and code points past U+10FFFF.
  uint8_t low = 0x80;
  uint8_t high = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead == 0xe0) low = 0xa0;
    if (lead == 0xed) high = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead == 0xf0) low = 0x90;
    if (lead == 0xf4) high = 0x8f;
  } else {
    return 0;
  }
  if (text.size() < length || byte(1) < low || byte(1) > high) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xbf) return 0;
  }
  return length;
}

bool IsValidUtf8(absl::string_view text) {
  while (!text.empty()) {
    const size_t length = Utf8SequenceLength(text);
    if (length == 0) return false;
    text.remove_prefix(length);
  }
  return true;
}

// Names come from files and callers and may hold any byte: quote and escape
// them so an error message stays one printable line, keeping readable UTF-8.
std::string Quote(absl::string_view text) {
  return absl::StrCat("\"",
                      IsValidUtf8(text) ? absl::Utf8SafeCHexEscape(text)
                                        : absl::CHexEscape(text),
                      "\"");
}

void AppendUtf8(uint32_t code_point, std::string* out) {
  if (code_point < 0x80) {
    out->push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (code_point >> 6)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3f)));
  } else if (code_point < 0x10000) {
    out->push_back(static_cast<char>(0xe0 | (code_point >> 12)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xf0 | (code_point >> 18)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3f)));
  }
}

// Appends `text` (valid UTF-8) as a JSON string. Only what JSON requires is
// escaped; other characters are written as their UTF-8 bytes.
void AppendJsonString(absl::string_view text, std::string* out) {
  out->push_back('"');
  for (const char c : text) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (static_cast<uint8_t>(c) < 0x20) {
          absl::StrAppend(out, "\\u00",
                          absl::Hex(static_cast<uint8_t>(c), absl::kZeroPad2));
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

// One header entry as written, before its fields are checked against each
// other and the data section.
struct RawTensor {
  std::string name;
  std::string dtype;
  Shape shape;
  uint64_t begin = 0;
  uint64_t end = 0;
};

// Parses the header JSON. Only the header's own schema is accepted, so no
// value of unknown type ever needs skipping and nesting is at most three
// deep: no recursion on input, hence no stack exhaustion on hostile input.
class HeaderParser {
 public:
  explicit HeaderParser(absl::string_view text) : text_(text) {}

  absl::Status Parse(std::vector<RawTensor>* tensors,
                     std::map<std::string, std::string>* metadata) {
    // The format requires the '{' first, before any whitespace.
    if (Peek() != '{') {
      return absl::InvalidArgumentError(absl::StrCat(
          "safetensors header must be a JSON object starting with '{', "
          "found ",
          Found()));
    }
    CVQ_RETURN_IF_ERROR(ParseObject("the header", [&](std::string key) {
      if (key == kMetadataKey) return ParseMetadata(metadata);
      tensors->emplace_back();
      tensors->back().name = std::move(key);
      return ParseTensor(&tensors->back());
    }));
    SkipWhitespace();
    if (pos_ != text_.size()) {
      return Expected("only whitespace after the header's closing '}'");
    }
    return absl::OkStatus();
  }

 private:
  // The next byte, or -1 at the end.
  int Peek() const {
    return pos_ < text_.size() ? static_cast<uint8_t>(text_[pos_]) : -1;
  }
  bool Consume(char c) {
    if (Peek() != static_cast<uint8_t>(c)) return false;
    ++pos_;
    return true;
  }
  void SkipWhitespace() {
    while (Peek() == ' ' || Peek() == '\t' || Peek() == '\n' ||
           Peek() == '\r') {
      ++pos_;
    }
  }
  static bool IsDigit(int c) { return c >= '0' && c <= '9'; }

  std::string Found() const {
    if (pos_ >= text_.size()) return "the end of the header";
    return absl::StrCat("'", absl::CHexEscape(text_.substr(pos_, 1)), "'");
  }
  absl::Status JsonError(absl::string_view problem) const {
    return absl::InvalidArgumentError(absl::StrCat(
        "safetensors header is not valid JSON at byte ", pos_, ": ", problem));
  }
  absl::Status Expected(absl::string_view what) const {
    return JsonError(absl::StrCat("expected ", what, ", found ", Found()));
  }

  // Parses an object whose '{' is at pos_ (checked by the caller), calling
  // `on_member` with pos_ at each value; `on_member` must consume the value.
  // `what` names the object for the duplicate-key error.
  absl::Status ParseObject(
      absl::string_view what,
      absl::FunctionRef<absl::Status(std::string)> on_member) {
    ++pos_;
    absl::flat_hash_set<std::string> keys;
    SkipWhitespace();
    if (Consume('}')) return absl::OkStatus();
    while (true) {
      SkipWhitespace();
      if (Peek() != '"') return Expected("a string key");
      CVQ_ASSIGN_OR_RETURN(std::string key, ParseString());
      if (!keys.insert(key).second) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, " has the key ", Quote(key), " more than once"));
      }
      SkipWhitespace();
      if (!Consume(':')) return Expected("':' after a key");
      SkipWhitespace();
      CVQ_RETURN_IF_ERROR(on_member(std::move(key)));
      SkipWhitespace();
      if (Consume('}')) return absl::OkStatus();
      if (!Consume(',')) return Expected("',' or '}'");
    }
  }

  // Parses a string whose '"' is at pos_ (checked by the caller), decoding
  // escapes and checking that it is UTF-8.
  absl::StatusOr<std::string> ParseString() {
    ++pos_;
    std::string out;
    while (true) {
      const int c = Peek();
      if (c < 0) return Expected("a closing '\"'");
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) {
        return JsonError(absl::StrCat("control character 0x",
                                      absl::Hex(c, absl::kZeroPad2),
                                      " in a string must be escaped"));
      }
      if (c == '\\') {
        ++pos_;
        CVQ_RETURN_IF_ERROR(ParseEscape(&out));
      } else {
        const size_t length = Utf8SequenceLength(text_.substr(pos_));
        if (length == 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              "safetensors header is not valid UTF-8 at byte ", pos_));
        }
        out.append(text_.data() + pos_, length);
        pos_ += length;
      }
    }
  }

  // The escape after a backslash.
  absl::Status ParseEscape(std::string* out) {
    const int c = Peek();
    ++pos_;
    switch (c) {
      case '"':
      case '\\':
      case '/':
        out->push_back(static_cast<char>(c));
        return absl::OkStatus();
      case 'b':
        out->push_back('\b');
        return absl::OkStatus();
      case 'f':
        out->push_back('\f');
        return absl::OkStatus();
      case 'n':
        out->push_back('\n');
        return absl::OkStatus();
      case 'r':
        out->push_back('\r');
        return absl::OkStatus();
      case 't':
        out->push_back('\t');
        return absl::OkStatus();
      case 'u':
        break;
      default:
        --pos_;
        return Expected("an escape character (one of \"\\/bfnrtu)");
    }
    CVQ_ASSIGN_OR_RETURN(uint32_t code_point, ParseHex4());
    if (code_point >= 0xdc00 && code_point <= 0xdfff) {
      return JsonError("\\u escape is a lone low surrogate");
    }
    if (code_point >= 0xd800 && code_point <= 0xdbff) {
      // A code point past U+FFFF is written as a UTF-16 surrogate pair.
      if (!Consume('\\') || !Consume('u')) {
        return JsonError(
            "high surrogate \\u escape is not followed by a low one");
      }
      CVQ_ASSIGN_OR_RETURN(const uint32_t low, ParseHex4());
      if (low < 0xdc00 || low > 0xdfff) {
        return JsonError(
            "high surrogate \\u escape is not followed by a low one");
      }
      code_point = 0x10000 + ((code_point - 0xd800) << 10) + (low - 0xdc00);
    }
    AppendUtf8(code_point, out);
    return absl::OkStatus();
  }

  absl::StatusOr<uint32_t> ParseHex4() {
    uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
      const int c = Peek();
      int digit;
      if (IsDigit(c)) {
        digit = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        digit = c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        digit = c - 'A' + 10;
      } else {
        return Expected("four hex digits after \\u");
      }
      value = value * 16 + static_cast<uint32_t>(digit);
      ++pos_;
    }
    return value;
  }

  // A JSON number at pos_ that must be a non-negative integer; `what` and
  // `field` name it ("tensor \"w\"", "shape") in errors.
  absl::StatusOr<uint64_t> ParseUnsigned(absl::string_view what,
                                         absl::string_view field) {
    const size_t start = pos_;
    const bool negative = Consume('-');
    if (!IsDigit(Peek())) {
      if (negative) return Expected("a digit after '-'");
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": \"", field,
                       "\" must hold non-negative integers, found ", Found()));
    }
    uint64_t value = 0;
    bool overflow = false;
    if (Consume('0')) {
      if (IsDigit(Peek()))
        return JsonError("numbers must not have leading zeros");
    } else {
      while (IsDigit(Peek())) {
        const uint64_t digit = static_cast<uint64_t>(Peek() - '0');
        if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) {
          overflow = true;
        }
        value = value * 10 + digit;
        ++pos_;
      }
    }
    bool integer = true;
    if (Consume('.')) {
      integer = false;
      if (!IsDigit(Peek())) return Expected("a digit after '.'");
      while (IsDigit(Peek())) ++pos_;
    }
    if (Consume('e') || Consume('E')) {
      integer = false;
      if (!Consume('+')) Consume('-');
      if (!IsDigit(Peek())) return Expected("a digit in the exponent");
      while (IsDigit(Peek())) ++pos_;
    }
    const absl::string_view token = text_.substr(start, pos_ - start);
    absl::string_view problem;
    if (negative) {
      problem = "is negative";
    } else if (!integer) {
      problem = "is not an integer";
    } else if (overflow) {
      problem = "does not fit in 64 bits";
    } else {
      return value;
    }
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": \"", field, "\" holds ", token, ", which ",
                     problem, "; expected a non-negative integer"));
  }

  // A JSON array of at most `max_size` non-negative integers at pos_.
  absl::StatusOr<std::vector<uint64_t>> ParseUnsignedArray(
      absl::string_view what, absl::string_view field, size_t max_size) {
    if (!Consume('[')) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": \"", field,
                       "\" must be an array of non-negative integers, "
                       "found ",
                       Found()));
    }
    std::vector<uint64_t> values;
    SkipWhitespace();
    if (Consume(']')) return values;
    while (true) {
      SkipWhitespace();
      if (values.size() == max_size) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, ": \"", field, "\" has more than ", max_size, " entries"));
      }
      CVQ_ASSIGN_OR_RETURN(const uint64_t value, ParseUnsigned(what, field));
      values.push_back(value);
      SkipWhitespace();
      if (Consume(']')) return values;
      if (!Consume(',')) return Expected("',' or ']'");
    }
  }

  absl::Status ParseTensor(RawTensor* tensor) {
    const std::string what = absl::StrCat("tensor ", Quote(tensor->name));
    if (Peek() != '{') {
      return absl::InvalidArgumentError(
          absl::StrCat(what,
                       ": expected an object with \"dtype\", \"shape\" and "
                       "\"data_offsets\", found ",
                       Found()));
    }
    bool has_dtype = false;
    bool has_shape = false;
    bool has_offsets = false;
    CVQ_RETURN_IF_ERROR(ParseObject(what, [&](std::string key) -> absl::Status {
      if (key == "dtype") {
        has_dtype = true;
        if (Peek() != '"') {
          return absl::InvalidArgumentError(absl::StrCat(
              what, ": \"dtype\" must be a string, found ", Found()));
        }
        CVQ_ASSIGN_OR_RETURN(tensor->dtype, ParseString());
        return absl::OkStatus();
      }
      if (key == "shape") {
        has_shape = true;
        CVQ_ASSIGN_OR_RETURN(const std::vector<uint64_t> dims,
                             ParseUnsignedArray(what, "shape", kMaxRank));
        for (const uint64_t dim : dims) {
          if (dim >
              static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
            return absl::InvalidArgumentError(absl::StrCat(
                what, ": dimension ", dim, " does not fit in int64"));
          }
          tensor->shape.push_back(static_cast<int64_t>(dim));
        }
        return absl::OkStatus();
      }
      if (key == "data_offsets") {
        has_offsets = true;
        CVQ_ASSIGN_OR_RETURN(const std::vector<uint64_t> offsets,
                             ParseUnsignedArray(what, "data_offsets", 2));
        if (offsets.size() != 2) {
          return absl::InvalidArgumentError(absl::StrCat(
              what, ": \"data_offsets\" must be [begin, end], got ",
              offsets.size(), " entries"));
        }
        tensor->begin = offsets[0];
        tensor->end = offsets[1];
        return absl::OkStatus();
      }
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": unknown field ", Quote(key),
                       "; expected \"dtype\", \"shape\" and \"data_offsets\""));
    }));
    for (const auto& [present, field] :
         {std::pair{has_dtype, "dtype"}, std::pair{has_shape, "shape"},
          std::pair{has_offsets, "data_offsets"}}) {
      if (!present) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, " has no \"", field, "\" field"));
      }
    }
    return absl::OkStatus();
  }

  absl::Status ParseMetadata(std::map<std::string, std::string>* metadata) {
    if (Peek() != '{') {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"__metadata__\" must be an object mapping strings to strings, "
          "found ",
          Found()));
    }
    return ParseObject(
        "\"__metadata__\"", [&](std::string key) -> absl::Status {
          if (Peek() != '"') {
            return absl::InvalidArgumentError(
                absl::StrCat("\"__metadata__\" entry ", Quote(key),
                             " must be a string, found ", Found()));
          }
          CVQ_ASSIGN_OR_RETURN(std::string value, ParseString());
          metadata->emplace(std::move(key), std::move(value));
          return absl::OkStatus();
        });
  }

  absl::string_view text_;
  size_t pos_ = 0;
};

absl::StatusOr<DType> ParseSafetensorsDType(absl::string_view name,
                                            absl::string_view what) {
  for (const DTypeSpelling& entry : kDTypeSpellings) {
    if (entry.name == name) return entry.dtype;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      what, " has dtype ", Quote(name),
      ", which CommVQ does not read: expected F32, F16, BF16 or U8"));
}

std::string OffsetsToString(const RawTensor& tensor) {
  return absl::StrCat("[", tensor.begin, ", ", tensor.end, "]");
}

// Checks a tensor's own fields against each other and the data section's
// size; the tensors' placement relative to each other is checked later.
absl::StatusOr<DType> CheckRawTensor(const RawTensor& tensor,
                                     uint64_t data_size) {
  const std::string what = absl::StrCat("tensor ", Quote(tensor.name));
  CVQ_ASSIGN_OR_RETURN(const DType dtype,
                       ParseSafetensorsDType(tensor.dtype, what));
  const absl::StatusOr<int64_t> elements = NumElements(tensor.shape);
  if (!elements.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": ", elements.status().message()));
  }
  const int64_t element_size = DTypeSize(dtype);
  if (*elements > std::numeric_limits<int64_t>::max() / element_size) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": shape ", ShapeToString(tensor.shape), " of ",
                     tensor.dtype, " has more than 2^63 bytes"));
  }
  const uint64_t size = static_cast<uint64_t>(*elements * element_size);
  if (tensor.begin > tensor.end) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": data_offsets ",
                                                   OffsetsToString(tensor),
                                                   " end before they begin"));
  }
  if (tensor.end > data_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": data_offsets ", OffsetsToString(tensor),
        " run past the end of the ", data_size, "-byte data section"));
  }
  if (tensor.end - tensor.begin != size) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": data_offsets ", OffsetsToString(tensor), " span ",
        tensor.end - tensor.begin, " bytes but ", tensor.dtype, " of shape ",
        ShapeToString(tensor.shape), " needs ", size));
  }
  return dtype;
}

}  // namespace

absl::StatusOr<SafetensorsFile> SafetensorsFile::Parse(
    absl::string_view bytes) {
  ByteReader reader(bytes, "safetensors data");
  CVQ_ASSIGN_OR_RETURN(const uint64_t header_size,
                       reader.Read<uint64_t>("the header size"));
  if (header_size > kMaxHeaderSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "safetensors header size ", header_size,
        " exceeds the format's limit of ", kMaxHeaderSize, " bytes"));
  }
  if (header_size > reader.remaining()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "safetensors header size ", header_size, " runs past the end: only ",
        reader.remaining(), " bytes follow the size"));
  }
  const absl::string_view header = bytes.substr(kHeaderSizeBytes, header_size);
  const absl::string_view data = bytes.substr(kHeaderSizeBytes + header_size);

  std::vector<RawTensor> raw;
  SafetensorsFile file;
  CVQ_RETURN_IF_ERROR(HeaderParser(header).Parse(&raw, &file.metadata_));
  std::vector<DType> dtypes;
  dtypes.reserve(raw.size());
  for (const RawTensor& tensor : raw) {
    CVQ_ASSIGN_OR_RETURN(const DType dtype,
                         CheckRawTensor(tensor, data.size()));
    dtypes.push_back(dtype);
  }

  // Like the reference implementation, the header may list tensors in any
  // order; sorted by offsets, they must tile the data section exactly.
  std::vector<size_t> order(raw.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&raw](size_t a, size_t b) {
    return std::make_pair(raw[a].begin, raw[a].end) <
           std::make_pair(raw[b].begin, raw[b].end);
  });
  uint64_t covered = 0;
  const RawTensor* previous = nullptr;
  for (const size_t i : order) {
    const RawTensor& tensor = raw[i];
    if (tensor.begin < covered) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor ", Quote(tensor.name), " (data_offsets ",
          OffsetsToString(tensor), ") overlaps tensor ", Quote(previous->name),
          " (data_offsets ", OffsetsToString(*previous), ")"));
    }
    if (tensor.begin > covered) {
      return absl::InvalidArgumentError(
          absl::StrCat("bytes [", covered, ", ", tensor.begin,
                       ") of the data section, before tensor ",
                       Quote(tensor.name), ", belong to no tensor"));
    }
    covered = tensor.end;
    previous = &tensor;
  }
  if (covered != data.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bytes [", covered, ", ", data.size(),
                     ") at the end of the data section belong to no tensor"));
  }

  file.tensors_.reserve(raw.size());
  for (const size_t i : order) {
    RawTensor& tensor = raw[i];
    file.index_.emplace(tensor.name, file.tensors_.size());
    file.tensors_.push_back(SafetensorsTensor{
        std::move(tensor.name), dtypes[i], std::move(tensor.shape),
        data.substr(tensor.begin, tensor.end - tensor.begin)});
  }
  return file;
}

absl::StatusOr<SafetensorsFile> SafetensorsFile::Open(const std::string& path) {
  CVQ_ASSIGN_OR_RETURN(MappedFile mapping, MappedFile::Open(path));
  absl::StatusOr<SafetensorsFile> file = Parse(mapping.data());
  if (!file.ok()) {
    return absl::Status(
        file.status().code(),
        absl::StrCat("'", path, "': ", file.status().message()));
  }
  file->mapping_ = std::move(mapping);
  return file;
}

absl::StatusOr<const SafetensorsTensor*> SafetensorsFile::Find(
    absl::string_view name) const {
  const auto it = index_.find(name);
  if (it == index_.end()) {
    return absl::NotFoundError(absl::StrCat("no tensor named ", Quote(name),
                                            " among the file's ",
                                            tensors_.size(), " tensors"));
  }
  return &tensors_[it->second];
}

absl::StatusOr<std::string> SerializeSafetensors(
    const std::vector<NamedTensor>& tensors,
    const std::map<std::string, std::string>& metadata) {
  std::string header = "{";
  if (!metadata.empty()) {
    AppendJsonString(kMetadataKey, &header);
    header.append(":{");
    const char* separator = "";
    for (const auto& [key, value] : metadata) {
      if (!IsValidUtf8(key) || !IsValidUtf8(value)) {
        return absl::InvalidArgumentError(
            absl::StrCat("metadata entry ", Quote(key), " is not valid UTF-8"));
      }
      header.append(separator);
      separator = ",";
      AppendJsonString(key, &header);
      header.push_back(':');
      AppendJsonString(value, &header);
    }
    header.push_back('}');
  }
  absl::flat_hash_set<absl::string_view> names;
  std::vector<uint64_t> sizes;
  sizes.reserve(tensors.size());
  uint64_t offset = 0;
  for (const NamedTensor& named : tensors) {
    const std::string what = absl::StrCat("tensor ", Quote(named.name));
    if (named.name == kMetadataKey) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": the format reserves this name for metadata"));
    }
    if (!IsValidUtf8(named.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": the name is not valid UTF-8"));
    }
    if (!names.insert(named.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " is given more than once"));
    }
    const TensorView& tensor = named.tensor;
    CVQ_RETURN_IF_ERROR(
        CheckTensor(tensor, what, tensor.dtype(), tensor.shape()));
    const uint64_t size = static_cast<uint64_t>(tensor.size_bytes());
    if (size >
        static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) - offset) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": the tensors up to this one hold more than 2^63 bytes"));
    }
    if (header.size() > 1) header.push_back(',');
    AppendJsonString(named.name, &header);
    absl::StrAppend(&header, ":{\"dtype\":\"",
                    SafetensorsDTypeName(tensor.dtype()), "\",\"shape\":[",
                    absl::StrJoin(tensor.shape(), ","), "],\"data_offsets\":[",
                    offset, ",", offset + size, "]}");
    offset += size;
    sizes.push_back(size);
  }
  header.push_back('}');
  // Padding keeps the data section 8-byte aligned, as the reference writer
  // does, so aligned tensors stay aligned in a mapped file.
  header.append(
      (kHeaderSizeBytes - header.size() % kHeaderSizeBytes) % kHeaderSizeBytes,
      ' ');
  if (header.size() > kMaxHeaderSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "safetensors header of ", header.size(), " bytes for ", tensors.size(),
        " tensors exceeds the format's limit of ", kMaxHeaderSize, " bytes"));
  }

  std::string out;
  out.reserve(kHeaderSizeBytes + header.size() + offset);
  ByteWriter writer(&out);
  writer.Write<uint64_t>(header.size());
  writer.WriteBytes(header);
  for (size_t i = 0; i < tensors.size(); ++i) {
    // An empty tensor's data may be null, which append() must not see.
    if (sizes[i] == 0) continue;
    writer.WriteBytes(absl::string_view(
        static_cast<const char*>(tensors[i].tensor.data()), sizes[i]));
  }
  return out;
}

absl::Status WriteSafetensors(
    const std::string& path, const std::vector<NamedTensor>& tensors,
    const std::map<std::string, std::string>& metadata) {
  CVQ_ASSIGN_OR_RETURN(const std::string bytes,
                       SerializeSafetensors(tensors, metadata));
  return WriteFileAtomically(path, bytes);
}

}  // namespace commvq
