// Builds GGUF files byte by byte for tests and fuzz seeds, malformed ones
// included: values are written exactly as given and nothing is checked, so a
// test can lie about a count, a type or an offset. Test-only.
#ifndef COMMVQ_MODEL_GGUF_GGUF_TEST_UTIL_H_
#define COMMVQ_MODEL_GGUF_GGUF_TEST_UTIL_H_

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "commvq/model/gguf/gguf_file.h"

namespace commvq {

// A metadata value as written: its type number and the bytes after it.
struct GgufTestValue {
  uint32_t type = 0;
  std::string payload;
};

// A scalar of `type` holding the bytes of `value` (use the C++ type that
// matches: uint8_t for kUint8, float for kFloat32, ...).
template <typename T>
GgufTestValue GgufScalar(GgufValueType type, T value) {
  std::string payload(sizeof(T), '\0');
  std::memcpy(payload.data(), &value, sizeof(T));
  return {static_cast<uint32_t>(type), payload};
}

GgufTestValue GgufString(absl::string_view text);

// An array of `elements`, which must all have type `element_type`.
GgufTestValue GgufArray(GgufValueType element_type,
                        const std::vector<GgufTestValue>& elements);

// An array header claiming `count` elements of `element_type` (any number),
// followed by `elements_payload` as is.
GgufTestValue GgufRawArray(uint32_t element_type, uint64_t count,
                           absl::string_view elements_payload);

class GgufTestFileBuilder {
 public:
  GgufTestFileBuilder& Version(uint32_t version);
  // Writes these counts instead of the numbers of entries added.
  GgufTestFileBuilder& Counts(uint64_t tensor_count, uint64_t kv_count);
  GgufTestFileBuilder& Add(absl::string_view key, const GgufTestValue& value);
  // The alignment of the data section and of AddTensor's data; does not
  // write general.alignment (add it to match, or not).
  GgufTestFileBuilder& Alignment(uint64_t alignment);
  // A tensor info whose data (`data`, as is) goes at the next multiple of
  // the alignment in the data section.
  GgufTestFileBuilder& AddTensor(absl::string_view name,
                                 const std::vector<uint64_t>& dims,
                                 uint32_t type, absl::string_view data);
  // A tensor info with an explicit offset; no data is added.
  GgufTestFileBuilder& AddTensorInfo(absl::string_view name,
                                     const std::vector<uint64_t>& dims,
                                     uint32_t type, uint64_t offset);

  // The file; the data section (padded to the alignment) only if there
  // are tensors.
  std::string Build() const;

 private:
  uint32_t version_ = 3;
  std::optional<uint64_t> tensor_count_;
  std::optional<uint64_t> kv_count_;
  uint64_t alignment_ = 32;
  uint64_t num_kvs_ = 0;
  uint64_t num_tensors_ = 0;
  std::string kvs_;
  std::string tensor_infos_;
  std::string data_;
};

// The real model of the "model" tests: $COMMVQ_MODEL_DIR/
// SmolLM2-135M-Instruct.Q4_1.gguf. FailedPrecondition telling to run
// ./setup.sh (which downloads it and points `bazel test` at it) if the
// variable is unset or the file is missing, so such tests fail rather than
// skip.
absl::StatusOr<std::string> ModelPathFromEnv();

// $COMMVQ_PYTHON, the Python with the `gguf` and `numpy` packages that
// ./setup.sh installs; FailedPrecondition as above if unset or missing.
absl::StatusOr<std::string> ReferencePythonFromEnv();

}  // namespace commvq

#endif  // COMMVQ_MODEL_GGUF_GGUF_TEST_UTIL_H_
