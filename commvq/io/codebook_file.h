// CommVQ codebook files: all layers' key and value quantizers of one model,
// with the model shape and how they were trained, in one file that can be
// memory-mapped and used without copying.
//
// Byte layout (little-endian):
//   0   "CVQCODEB"          8 bytes magic
//   8   u32 version         kCodebookFileVersion when written
//   12  u32 header_size     bytes of the protobuf header that follows
//   16  header              commvq.proto.CodebookFileHeader (proto/)
//   ..  u32 header_crc32c   of the header bytes
//   ..  zero padding to a multiple of 64: the data section starts here
//   data section            header.data_size bytes: tensor blobs at
//                           offsets (relative to the data section) that are
//                           multiples of 64, each followed by zero padding
//                           to the next multiple of 64
// Each blob has its own CRC-32C in the header. Quantizers are stored as u8
// blobs holding Quantizer::Serialize() bytes.
//
// The writer always writes the newest version; the reader loads every
// released version (1 .. kCodebookFileVersion) and validates the whole file
// before returning: nothing in a malformed file is ever used.
#ifndef COMMVQ_IO_CODEBOOK_FILE_H_
#define COMMVQ_IO_CODEBOOK_FILE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "commvq/base/dtype.h"
#include "commvq/base/pair_layout.h"
#include "commvq/quantizer/quantizer.h"
#include "commvq/registry/registry.h"
#include "commvq/tensor/tensor_view.h"

namespace commvq {

inline constexpr uint32_t kCodebookFileVersion = 1;
inline constexpr absl::string_view kCodebookFileMagic = "CVQCODEB";
inline constexpr uint64_t kCodebookFileAlignment = 64;
// Larger headers are rejected before parsing (a real one is a few KB).
inline constexpr uint32_t kMaxCodebookHeaderSize = 64 << 20;

enum class CacheRole { kUnspecified = 0, kKey = 1, kValue = 2 };

struct ModelShape {
  std::string model_name;
  int32_t num_layers = 0;
  int32_t num_heads = 0;
  int32_t num_kv_heads = 0;
  int32_t head_dim = 0;
  double rope_theta = 0.0;
  PairLayout pair_layout = PairLayout::kUnspecified;
};

struct Provenance {
  std::string trainer;
  std::string library_version;
  uint64_t seed = 0;
  std::string calibration_data;
  int64_t num_samples = 0;
  std::string created_utc;
  std::map<std::string, std::string> extra;
};

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;
  uint64_t offset = 0;  // absolute, in the file
  uint64_t length = 0;  // bytes
  uint32_t crc32c = 0;
};

struct QuantizerInfo {
  std::string name;  // unique in the file, e.g. "layer.3.key"
  int32_t layer = 0;
  CacheRole role = CacheRole::kUnspecified;
  std::string spec;  // canonical
  int64_t dim = 0;
  std::string serialized_tensor;  // name of the u8 tensor with its bytes
};

// What to write. Tensors and quantizers are borrowed for the call.
struct CodebookFileContents {
  struct QuantizerRecord {
    std::string name;
    int32_t layer = 0;
    CacheRole role = CacheRole::kUnspecified;
    const Quantizer* quantizer = nullptr;
  };
  ModelShape model;
  Provenance provenance;
  std::vector<std::pair<std::string, TensorView>> tensors;
  std::vector<QuantizerRecord> quantizers;
};

// The bytes of a codebook file of the newest version. Each quantizer is
// stored in a u8 tensor named "quantizer/<name>". InvalidArgument for empty
// or duplicate names, invalid tensors or a null quantizer.
absl::StatusOr<std::string> SerializeCodebookFile(
    const CodebookFileContents& contents);

// Serializes and writes atomically: an existing file at `path` is replaced
// only once the new one is complete and synced (io/atomic_file.h).
absl::Status WriteCodebookFile(const std::string& path,
                               const CodebookFileContents& contents);

// A validated codebook file. Immutable; const methods are thread-safe.
// Copies share the underlying bytes (a mapping or a buffer), released with
// the last copy. TensorViews from Tensor() do not own them: keep a copy of
// the CodebookFile alive while using the views.
class CodebookFile {
 public:
  // Maps the file read-only. NotFound / InvalidArgument naming the path and
  // what is wrong.
  static absl::StatusOr<CodebookFile> Open(const std::string& path);
  // Copies `bytes` into 64-byte-aligned memory and parses them.
  static absl::StatusOr<CodebookFile> Parse(absl::string_view bytes);

  uint32_t version() const { return version_; }
  const ModelShape& model() const { return model_; }
  const Provenance& provenance() const { return provenance_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const std::vector<QuantizerInfo>& quantizers() const { return quantizers_; }

  // A view of the tensor's bytes inside the file (no copy, 64-byte aligned).
  // NotFound naming the tensor.
  absl::StatusOr<TensorView> Tensor(absl::string_view name) const;

  // Rebuilds quantizer `name` with `registry`.
  absl::StatusOr<std::unique_ptr<Quantizer>> LoadQuantizer(
      absl::string_view name,
      const QuantizerRegistry& registry = QuantizerRegistry::Default()) const;

 private:
  CodebookFile() = default;
  // Validates `data` (kept alive by `owner`) and fills a CodebookFile.
  static absl::StatusOr<CodebookFile> FromBytes(std::shared_ptr<const void> owner,
                                                absl::string_view data);

  std::shared_ptr<const void> owner_;
  absl::string_view data_;
  uint32_t version_ = 0;
  ModelShape model_;
  Provenance provenance_;
  std::vector<TensorInfo> tensors_;
  std::vector<QuantizerInfo> quantizers_;
};

absl::string_view CacheRoleName(CacheRole role);

}  // namespace commvq

#endif  // COMMVQ_IO_CODEBOOK_FILE_H_
