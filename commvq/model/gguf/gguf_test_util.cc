#include "commvq/model/gguf/gguf_test_util.h"

#include <unistd.h>

#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "commvq/base/byte_io.h"

namespace commvq {
namespace {

constexpr absl::string_view kModelFile = "SmolLM2-135M-Instruct.Q4_1.gguf";
constexpr absl::string_view kSetupHint =
    "run ./setup.sh, which downloads the model and the reference Python and "
    "writes .cache/model.bazelrc so that `bazel test` passes "
    "COMMVQ_MODEL_DIR and COMMVQ_PYTHON to tests";

void WriteString(absl::string_view text, ByteWriter& writer) {
  writer.Write<uint64_t>(text.size());
  writer.WriteBytes(text);
}

// `path` if it exists with the given access `mode`.
absl::StatusOr<std::string> Existing(const std::string& path, int mode,
                                     absl::string_view what) {
  if (access(path.c_str(), mode) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, " ", path, " is missing: ", kSetupHint));
  }
  return path;
}

absl::StatusOr<std::string> FromEnv(const char* variable) {
  const char* value = std::getenv(variable);
  if (value == nullptr || *value == '\0') {
    return absl::FailedPreconditionError(
        absl::StrCat("the environment variable ", variable, " is not set: ",
                     kSetupHint));
  }
  return std::string(value);
}

}  // namespace

GgufTestValue GgufString(absl::string_view text) {
  GgufTestValue value{static_cast<uint32_t>(GgufValueType::kString), ""};
  ByteWriter writer(&value.payload);
  WriteString(text, writer);
  return value;
}

GgufTestValue GgufArray(GgufValueType element_type,
                        const std::vector<GgufTestValue>& elements) {
  std::string payload;
  for (const GgufTestValue& element : elements) payload += element.payload;
  return GgufRawArray(static_cast<uint32_t>(element_type), elements.size(),
                      payload);
}

GgufTestValue GgufRawArray(uint32_t element_type, uint64_t count,
                           absl::string_view elements_payload) {
  GgufTestValue value{static_cast<uint32_t>(GgufValueType::kArray), ""};
  ByteWriter writer(&value.payload);
  writer.Write<uint32_t>(element_type);
  writer.Write<uint64_t>(count);
  writer.WriteBytes(elements_payload);
  return value;
}

GgufTestFileBuilder& GgufTestFileBuilder::Version(uint32_t version) {
  version_ = version;
  return *this;
}

GgufTestFileBuilder& GgufTestFileBuilder::Counts(uint64_t tensor_count,
                                                 uint64_t kv_count) {
  tensor_count_ = tensor_count;
  kv_count_ = kv_count;
  return *this;
}

GgufTestFileBuilder& GgufTestFileBuilder::Add(absl::string_view key,
                                              const GgufTestValue& value) {
  ByteWriter writer(&kvs_);
  WriteString(key, writer);
  writer.Write<uint32_t>(value.type);
  writer.WriteBytes(value.payload);
  ++num_kvs_;
  return *this;
}

GgufTestFileBuilder& GgufTestFileBuilder::Alignment(uint64_t alignment) {
  alignment_ = alignment;
  return *this;
}

GgufTestFileBuilder& GgufTestFileBuilder::AddTensor(
    absl::string_view name, const std::vector<uint64_t>& dims, uint32_t type,
    absl::string_view data) {
  data_.resize((data_.size() + alignment_ - 1) / alignment_ * alignment_);
  AddTensorInfo(name, dims, type, data_.size());
  data_.append(data.data(), data.size());
  return *this;
}

GgufTestFileBuilder& GgufTestFileBuilder::AddTensorInfo(
    absl::string_view name, const std::vector<uint64_t>& dims, uint32_t type,
    uint64_t offset) {
  ByteWriter writer(&tensor_infos_);
  WriteString(name, writer);
  writer.Write<uint32_t>(dims.size());
  for (const uint64_t dim : dims) writer.Write<uint64_t>(dim);
  writer.Write<uint32_t>(type);
  writer.Write<uint64_t>(offset);
  ++num_tensors_;
  return *this;
}

std::string GgufTestFileBuilder::Build() const {
  std::string bytes = "GGUF";
  ByteWriter writer(&bytes);
  writer.Write<uint32_t>(version_);
  writer.Write<uint64_t>(tensor_count_.value_or(num_tensors_));
  writer.Write<uint64_t>(kv_count_.value_or(num_kvs_));
  bytes += kvs_;
  bytes += tensor_infos_;
  if (num_tensors_ > 0) {
    bytes.resize((bytes.size() + alignment_ - 1) / alignment_ * alignment_);
    bytes += data_;
  }
  return bytes;
}

absl::StatusOr<std::string> ModelPathFromEnv() {
  absl::StatusOr<std::string> dir = FromEnv("COMMVQ_MODEL_DIR");
  if (!dir.ok()) return dir.status();
  return Existing(absl::StrCat(*dir, "/", kModelFile), R_OK, "the model");
}

absl::StatusOr<std::string> ReferencePythonFromEnv() {
  absl::StatusOr<std::string> python = FromEnv("COMMVQ_PYTHON");
  if (!python.ok()) return python.status();
  return Existing(*python, X_OK, "the reference Python");
}

}  // namespace commvq
