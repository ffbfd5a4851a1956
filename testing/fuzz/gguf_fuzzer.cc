// Fuzzes the GGUF reader and the dequantizer. Beyond "no crash": every tensor
// of a file that parses lies inside the input and is found by its name,
// every key is found, every metadata value can be read through every
// accessor (each either succeeds or returns a status), and every tensor of a
// supported type dequantizes, whole and row by row, to the same floats.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "commvq/model/gguf/dequantize.h"
#include "commvq/model/gguf/gguf_file.h"

namespace {

// Elements of each array read one by one (all of them are read by the
// As*Array accessors): enough to cover every path without making an input of
// long arrays slow.
constexpr uint64_t kMaxElementsVisited = 8;

// Reads `value` every way there is; recurses into arrays, which the parser
// limits to 16 levels.
void ReadEverything(const commvq::GgufValue& value) {
  (void)value.DebugString();
  (void)value.AsInt();
  (void)value.AsFloat();
  (void)value.AsBool();
  (void)value.AsString();
  (void)value.AsIntArray();
  (void)value.AsFloatArray();
  (void)value.AsStringArray();
  if (value.type() != commvq::GgufValueType::kArray) return;
  for (uint64_t i = 0; i < value.size(); ++i) {
    // The first elements and the last one.
    if (i == kMaxElementsVisited && i + 1 < value.size()) i = value.size() - 1;
    const commvq::GgufValue element = value.element(i);
    if (element.type() != value.element_type()) __builtin_trap();
    ReadEverything(element);
  }
}

void CheckTensor(const commvq::GgufFile& file,
                 const commvq::GgufTensorInfo& tensor, absl::string_view input) {
  if (tensor.data.size() > 0 &&
      (tensor.data.data() < input.data() ||
       tensor.data.data() + tensor.data.size() > input.data() + input.size())) {
    __builtin_trap();
  }
  absl::StatusOr<const commvq::GgufTensorInfo*> found =
      file.FindTensor(tensor.name);
  if (!found.ok() || *found != &tensor) __builtin_trap();
  if (tensor.dims.empty() ||
      tensor.num_rows * tensor.dims[0] != tensor.num_elements) {
    __builtin_trap();
  }
  absl::StatusOr<std::vector<float>> whole =
      commvq::DequantizeTensor(file, tensor.name);
  if (whole.ok() != commvq::CanDequantize(tensor.type)) __builtin_trap();
  if (!whole.ok() || tensor.num_rows == 0) return;
  // The last row alone matches the end of the whole tensor.
  std::vector<float> last(tensor.dims[0]);
  if (!commvq::DequantizeRows(tensor, tensor.data, tensor.num_rows - 1, 1,
                              absl::MakeSpan(last))
           .ok() ||
      std::memcmp(last.data(), whole->data() + whole->size() - last.size(),
                  last.size() * sizeof(float)) != 0) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<commvq::GgufFile> file = commvq::GgufFile::Parse(input);
  if (!file.ok()) return 0;
  for (const commvq::GgufKeyValue& kv : file->metadata()) {
    absl::StatusOr<const commvq::GgufValue*> found = file->Find(kv.key);
    if (!found.ok() || *found != &kv.value || !file->Has(kv.key)) {
      __builtin_trap();
    }
    ReadEverything(kv.value);
  }
  for (const commvq::GgufTensorInfo& tensor : file->tensors()) {
    CheckTensor(*file, tensor, input);
  }
  return 0;
}
