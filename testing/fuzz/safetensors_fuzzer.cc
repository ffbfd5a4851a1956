// Fuzzes the safetensors reader. Beyond "no crash": every tensor of a file
// that parses lies inside the input, and the file written back by the
// writer parses to the same tensors and metadata and writes back to the
// same bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "commvq/io/safetensors.h"

namespace {

std::vector<commvq::NamedTensor> ToNamedTensors(
    const commvq::SafetensorsFile& file) {
  std::vector<commvq::NamedTensor> tensors;
  for (const commvq::SafetensorsTensor& t : file.tensors()) {
    tensors.push_back(
        {t.name, commvq::TensorView(t.data.data(), t.dtype, t.shape)});
  }
  return tensors;
}

bool SameContents(const commvq::SafetensorsFile& a,
                  const commvq::SafetensorsFile& b) {
  if (a.metadata() != b.metadata() ||
      a.tensors().size() != b.tensors().size()) {
    return false;
  }
  for (size_t i = 0; i < a.tensors().size(); ++i) {
    const commvq::SafetensorsTensor& x = a.tensors()[i];
    const commvq::SafetensorsTensor& y = b.tensors()[i];
    if (x.name != y.name || x.dtype != y.dtype || x.shape != y.shape ||
        x.data != y.data) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<commvq::SafetensorsFile> file =
      commvq::SafetensorsFile::Parse(input);
  if (!file.ok()) return 0;
  for (const commvq::SafetensorsTensor& t : file->tensors()) {
    if (t.data.data() < input.data() ||
        t.data.data() + t.data.size() > input.data() + input.size()) {
      __builtin_trap();
    }
    absl::StatusOr<const commvq::SafetensorsTensor*> found = file->Find(t.name);
    if (!found.ok() || *found != &t) __builtin_trap();
  }
  absl::StatusOr<std::string> bytes =
      commvq::SerializeSafetensors(ToNamedTensors(*file), file->metadata());
  if (!bytes.ok()) __builtin_trap();  // whatever parses can be written
  absl::StatusOr<commvq::SafetensorsFile> again =
      commvq::SafetensorsFile::Parse(*bytes);
  if (!again.ok() || !SameContents(*file, *again)) __builtin_trap();
  absl::StatusOr<std::string> bytes_again =
      commvq::SerializeSafetensors(ToNamedTensors(*again), again->metadata());
  if (!bytes_again.ok() || *bytes_again != *bytes) __builtin_trap();
  return 0;
}
