#include "commvq/io/codebook_file.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "commvq/base/byte_io.h"
#include "commvq/base/crc32c.h"
#include "commvq/base/status_macros.h"
#include "commvq/io/atomic_file.h"
#include "commvq/proto/codebook_file.pb.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "commvq/quantizer/quantizer_spec.h"

namespace commvq {
namespace {

constexpr absl::string_view kWhat = "codebook file";
// magic + version + header size
constexpr uint64_t kPreambleSize = 16;
constexpr absl::string_view kQuantizerTensorPrefix = "quantizer/";

uint64_t AlignUp(uint64_t value) {
  return (value + kCodebookFileAlignment - 1) / kCodebookFileAlignment *
         kCodebookFileAlignment;
}

absl::Status Invalid(absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(kWhat, ": ", message));
}

// --- Conversions between the proto header and the public structs. ---

void ToProto(const ModelShape& in, proto::ModelShape& out) {
  out.set_model_name(in.model_name);
  out.set_num_layers(in.num_layers);
  out.set_num_heads(in.num_heads);
  out.set_num_kv_heads(in.num_kv_heads);
  out.set_head_dim(in.head_dim);
  out.set_rope_theta(in.rope_theta);
  out.set_pair_layout(static_cast<proto::PairLayout>(in.pair_layout));
}

void ToProto(const Provenance& in, proto::Provenance& out) {
  out.set_trainer(in.trainer);
  out.set_library_version(in.library_version);
  out.set_seed(in.seed);
  out.set_calibration_data(in.calibration_data);
  out.set_num_samples(in.num_samples);
  out.set_created_utc(in.created_utc);
  for (const auto& [key, value] : in.extra) (*out.mutable_extra())[key] = value;
}

absl::StatusOr<ModelShape> FromProto(const proto::ModelShape& in) {
  ModelShape out;
  out.model_name = in.model_name();
  out.num_layers = in.num_layers();
  out.num_heads = in.num_heads();
  out.num_kv_heads = in.num_kv_heads();
  out.head_dim = in.head_dim();
  out.rope_theta = in.rope_theta();
  if (out.num_layers < 0 || out.num_heads < 0 || out.num_kv_heads < 0 ||
      out.head_dim < 0) {
    return Invalid(absl::StrCat(
        "model shape has a negative size (layers ", out.num_layers, ", heads ",
        out.num_heads, ", KV heads ", out.num_kv_heads, ", head_dim ",
        out.head_dim, ")"));
  }
  if (out.num_kv_heads > 0 && out.num_heads % out.num_kv_heads != 0) {
    return Invalid(absl::StrCat("model shape: ", out.num_heads,
                                " heads is not a multiple of ",
                                out.num_kv_heads, " KV heads"));
  }
  if (out.head_dim % 2 != 0) {
    return Invalid(absl::StrCat("model shape: head_dim ", out.head_dim,
                                " is odd: RoPE needs pairs"));
  }
  if (!std::isfinite(out.rope_theta) || out.rope_theta < 0) {
    return Invalid(absl::StrCat("model shape: rope_theta ", out.rope_theta,
                                " is not a finite non-negative number"));
  }
  const int layout = in.pair_layout();
  if (layout < 0 || layout > static_cast<int>(PairLayout::kInterleaved)) {
    return Invalid(absl::StrCat("model shape: unknown pair layout ", layout));
  }
  out.pair_layout = static_cast<PairLayout>(layout);
  return out;
}

Provenance FromProto(const proto::Provenance& in) {
  Provenance out;
  out.trainer = in.trainer();
  out.library_version = in.library_version();
  out.seed = in.seed();
  out.calibration_data = in.calibration_data();
  out.num_samples = in.num_samples();
  out.created_utc = in.created_utc();
  out.extra = std::map<std::string, std::string>(in.extra().begin(),
                                                 in.extra().end());
  return out;
}

// Validates one tensor entry against the file; `data_start` is the absolute
// offset of the data section, `file_size` the total size.
absl::StatusOr<TensorInfo> ValidateTensor(const proto::TensorEntry& entry,
                                          uint64_t data_start,
                                          uint64_t file_size) {
  const std::string& name = entry.name();
  auto bad = [&](absl::string_view why) {
    return Invalid(absl::StrCat("tensor '", name, "': ", why));
  };
  if (name.empty()) return Invalid("a tensor has an empty name");
  TensorInfo info;
  info.name = name;
  absl::StatusOr<DType> dtype = DTypeFromInt(entry.dtype());
  if (!dtype.ok()) return bad(dtype.status().message());
  info.dtype = *dtype;
  info.shape.assign(entry.shape().begin(), entry.shape().end());
  absl::StatusOr<int64_t> elements = NumElements(info.shape);
  if (!elements.ok()) return bad(elements.status().message());
  const uint64_t size = static_cast<uint64_t>(DTypeSize(info.dtype));
  if (static_cast<uint64_t>(*elements) > file_size / size) {
    return bad(absl::StrCat("shape ", ShapeToString(info.shape), " of ",
                            DTypeName(info.dtype), " needs more bytes than the ",
                            file_size, "-byte file holds"));
  }
  if (entry.length() != static_cast<uint64_t>(*elements) * size) {
    return bad(absl::StrCat("length ", entry.length(), " does not match shape ",
                            ShapeToString(info.shape), " of ",
                            DTypeName(info.dtype), " (",
                            static_cast<uint64_t>(*elements) * size,
                            " bytes)"));
  }
  if (entry.offset() % kCodebookFileAlignment != 0) {
    return bad(absl::StrCat("offset ", entry.offset(),
                            " is not a multiple of ", kCodebookFileAlignment));
  }
  const uint64_t available = file_size - data_start;
  if (entry.offset() > available || entry.length() > available - entry.offset()) {
    return bad(absl::StrCat("bytes [", entry.offset(), ", +", entry.length(),
                            ") lie outside the ", available,
                            "-byte data section"));
  }
  info.offset = data_start + entry.offset();
  info.length = entry.length();
  info.crc32c = entry.crc32c();
  return info;
}

absl::StatusOr<QuantizerInfo> ValidateQuantizer(
    const proto::QuantizerEntry& entry,
    const std::vector<TensorInfo>& tensors) {
  auto bad = [&](absl::string_view why) {
    return Invalid(absl::StrCat("quantizer '", entry.name(), "': ", why));
  };
  if (entry.name().empty()) return Invalid("a quantizer has an empty name");
  QuantizerInfo info;
  info.name = entry.name();
  info.layer = entry.layer();
  if (info.layer < 0) return bad(absl::StrCat("layer ", info.layer, " < 0"));
  const int role = entry.role();
  if (role < 0 || role > static_cast<int>(CacheRole::kValue)) {
    return bad(absl::StrCat("unknown cache role ", role));
  }
  info.role = static_cast<CacheRole>(role);
  info.spec = entry.spec();
  absl::StatusOr<QuantizerSpec> spec = ParseQuantizerSpec(info.spec);
  if (!spec.ok()) return bad(spec.status().message());
  info.dim = entry.dim();
  if (info.dim <= 0) return bad(absl::StrCat("dim ", info.dim, " <= 0"));
  info.serialized_tensor = entry.serialized_tensor();
  auto it = std::find_if(tensors.begin(), tensors.end(), [&](const TensorInfo& t) {
    return t.name == info.serialized_tensor;
  });
  if (it == tensors.end()) {
    return bad(absl::StrCat("its tensor '", info.serialized_tensor,
                            "' is not in the file"));
  }
  if (it->dtype != DType::kU8 || it->shape.size() != 1) {
    return bad(absl::StrCat("its tensor '", info.serialized_tensor,
                            "' is not a 1-D u8 tensor"));
  }
  return info;
}

// Adds one tensor's entry and blob; `data` grows with aligned padding.
void AppendTensor(const std::string& name, DType dtype,
                  absl::Span<const int64_t> shape, absl::string_view bytes,
                  proto::CodebookFileHeader& header, std::string& data) {
  proto::TensorEntry* entry = header.add_tensors();
  entry->set_name(name);
  entry->set_dtype(static_cast<int32_t>(dtype));
  for (int64_t d : shape) entry->add_shape(d);
  entry->set_offset(data.size());
  entry->set_length(bytes.size());
  entry->set_crc32c(Crc32c(bytes));
  data.append(bytes.data(), bytes.size());
  data.resize(AlignUp(data.size()), '\0');
}

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};

}  // namespace

absl::string_view CacheRoleName(CacheRole role) {
  switch (role) {
    case CacheRole::kKey:
      return "key";
    case CacheRole::kValue:
      return "value";
    case CacheRole::kUnspecified:
      break;
  }
  return "unspecified";
}

absl::StatusOr<std::string> SerializeCodebookFile(
    const CodebookFileContents& contents) {
  proto::CodebookFileHeader header;
  ToProto(contents.model, *header.mutable_model());
  ToProto(contents.provenance, *header.mutable_provenance());
  std::set<std::string, std::less<>> tensor_names;
  std::string data;
  for (const auto& [name, view] : contents.tensors) {
    if (name.empty() || absl::StartsWith(name, kQuantizerTensorPrefix)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor name '", name, "' is empty or uses the reserved prefix '",
          kQuantizerTensorPrefix, "'"));
    }
    if (!tensor_names.insert(name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor name '", name, "' is used twice"));
    }
    Shape any(view.rank(), kAnyDim);
    CVQ_RETURN_IF_ERROR(CheckTensor(view, name, view.dtype(), any));
    AppendTensor(name, view.dtype(), view.shape(),
                 absl::string_view(static_cast<const char*>(view.data()),
                                   view.size_bytes()),
                 header, data);
  }
  std::set<std::string, std::less<>> quantizer_names;
  for (const auto& record : contents.quantizers) {
    if (record.name.empty() || record.quantizer == nullptr || record.layer < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "quantizer '", record.name,
          "': expected a non-empty name, a quantizer and a layer >= 0"));
    }
    if (!quantizer_names.insert(record.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("quantizer name '", record.name, "' is used twice"));
    }
    CVQ_ASSIGN_OR_RETURN(std::string bytes, record.quantizer->Serialize());
    const std::string tensor = absl::StrCat(kQuantizerTensorPrefix, record.name);
    proto::QuantizerEntry* entry = header.add_quantizers();
    entry->set_name(record.name);
    entry->set_layer(record.layer);
    entry->set_role(static_cast<proto::CacheRole>(record.role));
    entry->set_spec(record.quantizer->spec());
    entry->set_dim(record.quantizer->dim());
    entry->set_serialized_tensor(tensor);
    const int64_t size = static_cast<int64_t>(bytes.size());
    AppendTensor(tensor, DType::kU8, {size}, bytes, header, data);
  }
  header.set_data_size(data.size());
  // Deterministic: protobuf writes map entries (the provenance's extra) in
  // hash order otherwise, and equal contents must give equal files.
  std::string header_bytes;
  bool serialized = false;
  {
    google::protobuf::io::StringOutputStream stream(&header_bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    serialized = header.SerializeToCodedStream(&coded);
  }
  if (!serialized || header_bytes.size() > kMaxCodebookHeaderSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "codebook file header does not serialize within ",
        kMaxCodebookHeaderSize, " bytes"));
  }
  std::string out;
  ByteWriter writer(&out);
  writer.WriteBytes(kCodebookFileMagic);
  writer.Write<uint32_t>(kCodebookFileVersion);
  writer.Write<uint32_t>(static_cast<uint32_t>(header_bytes.size()));
  writer.WriteBytes(header_bytes);
  writer.Write<uint32_t>(Crc32c(header_bytes));
  out.resize(AlignUp(out.size()), '\0');
  out += data;
  return out;
}

absl::Status WriteCodebookFile(const std::string& path,
                               const CodebookFileContents& contents) {
  CVQ_ASSIGN_OR_RETURN(std::string bytes, SerializeCodebookFile(contents));
  return WriteFileAtomically(path, bytes);
}

absl::StatusOr<CodebookFile> CodebookFile::Open(const std::string& path) {
  CVQ_ASSIGN_OR_RETURN(MappedFile mapped, MappedFile::Open(path));
  auto owner = std::make_shared<MappedFile>(std::move(mapped));
  const absl::string_view data = owner->data();
  absl::StatusOr<CodebookFile> file = FromBytes(std::move(owner), data);
  if (!file.ok()) {
    return absl::Status(file.status().code(),
                        absl::StrCat(path, ": ", file.status().message()));
  }
  return file;
}

absl::StatusOr<CodebookFile> CodebookFile::Parse(absl::string_view bytes) {
  // Blobs are 64-byte aligned relative to the file start: keep that true in
  // memory so tensor views are aligned as they are in a mapping.
  std::shared_ptr<void> buffer(
      std::aligned_alloc(kCodebookFileAlignment, AlignUp(bytes.size() + 1)),
      AlignedFree());
  if (buffer == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate ", bytes.size(), " bytes"));
  }
  std::memcpy(buffer.get(), bytes.data(), bytes.size());
  return FromBytes(buffer, absl::string_view(static_cast<const char*>(buffer.get()),
                                             bytes.size()));
}

absl::StatusOr<CodebookFile> CodebookFile::FromBytes(
    std::shared_ptr<const void> owner, absl::string_view data) {
  ByteReader reader(data, kWhat);
  CVQ_ASSIGN_OR_RETURN(absl::string_view magic,
                       reader.ReadBytes(kCodebookFileMagic.size(), "magic"));
  if (magic != kCodebookFileMagic) {
    return Invalid(absl::StrCat("bad magic: expected '", kCodebookFileMagic,
                                "' (is this a codebook file?)"));
  }
  CodebookFile file;
  CVQ_ASSIGN_OR_RETURN(file.version_, reader.Read<uint32_t>("version"));
  if (file.version_ < 1 || file.version_ > kCodebookFileVersion) {
    return Invalid(absl::StrCat("unknown version ", file.version_,
                                ": this reader supports versions 1 to ",
                                kCodebookFileVersion));
  }
  CVQ_ASSIGN_OR_RETURN(uint32_t header_size,
                       reader.Read<uint32_t>("header size"));
  if (header_size > kMaxCodebookHeaderSize) {
    return Invalid(absl::StrCat("header size ", header_size,
                                " exceeds the limit of ",
                                kMaxCodebookHeaderSize));
  }
  CVQ_ASSIGN_OR_RETURN(absl::string_view header_bytes,
                       reader.ReadBytes(header_size, "header"));
  CVQ_ASSIGN_OR_RETURN(uint32_t header_crc,
                       reader.Read<uint32_t>("header checksum"));
  if (Crc32c(header_bytes) != header_crc) {
    return Invalid("header checksum mismatch: the file is corrupt");
  }
  proto::CodebookFileHeader header;
  if (!header.ParseFromArray(header_bytes.data(),
                             static_cast<int>(header_bytes.size()))) {
    return Invalid("header does not parse as CodebookFileHeader");
  }
  const uint64_t data_start = AlignUp(kPreambleSize + header_size + 4);
  if (data_start > data.size() ||
      data.size() - data_start != header.data_size()) {
    return Invalid(absl::StrCat(
        "the file has ", data.size(), " bytes but its header describes ",
        data_start, " bytes of header and ", header.data_size(),
        " bytes of data: it is truncated or has trailing bytes"));
  }
  CVQ_ASSIGN_OR_RETURN(file.model_, FromProto(header.model()));
  file.provenance_ = FromProto(header.provenance());

  std::set<std::string, std::less<>> names;
  for (const proto::TensorEntry& entry : header.tensors()) {
    CVQ_ASSIGN_OR_RETURN(TensorInfo info,
                         ValidateTensor(entry, data_start, data.size()));
    if (!names.insert(info.name).second) {
      return Invalid(absl::StrCat("tensor '", info.name, "' appears twice"));
    }
    file.tensors_.push_back(std::move(info));
  }
  // Overlap check on offset order; then every blob's checksum.
  std::vector<const TensorInfo*> by_offset;
  for (const TensorInfo& t : file.tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* a, const TensorInfo* b) {
              return a->offset < b->offset;
            });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const TensorInfo& prev = *by_offset[i - 1];
    if (prev.offset + prev.length > by_offset[i]->offset) {
      return Invalid(absl::StrCat("tensors '", prev.name, "' and '",
                                  by_offset[i]->name, "' overlap"));
    }
  }
  for (const TensorInfo& t : file.tensors_) {
    if (Crc32c(data.substr(t.offset, t.length)) != t.crc32c) {
      return Invalid(absl::StrCat("tensor '", t.name,
                                  "': checksum mismatch: the file is corrupt"));
    }
  }
  std::set<std::string, std::less<>> quantizer_names;
  for (const proto::QuantizerEntry& entry : header.quantizers()) {
    CVQ_ASSIGN_OR_RETURN(QuantizerInfo info,
                         ValidateQuantizer(entry, file.tensors_));
    if (!quantizer_names.insert(info.name).second) {
      return Invalid(absl::StrCat("quantizer '", info.name, "' appears twice"));
    }
    file.quantizers_.push_back(std::move(info));
  }
  file.owner_ = std::move(owner);
  file.data_ = data;
  return file;
}

absl::StatusOr<TensorView> CodebookFile::Tensor(absl::string_view name) const {
  for (const TensorInfo& t : tensors_) {
    if (t.name == name) {
      return TensorView(data_.data() + t.offset, t.dtype, t.shape);
    }
  }
  return absl::NotFoundError(
      absl::StrCat(kWhat, " has no tensor named '", name, "'"));
}

absl::StatusOr<std::unique_ptr<Quantizer>> CodebookFile::LoadQuantizer(
    absl::string_view name, const QuantizerRegistry& registry) const {
  for (const QuantizerInfo& q : quantizers_) {
    if (q.name != name) continue;
    CVQ_ASSIGN_OR_RETURN(TensorView bytes, Tensor(q.serialized_tensor));
    CVQ_ASSIGN_OR_RETURN(
        std::unique_ptr<Quantizer> quantizer,
        registry.Deserialize(absl::string_view(
            static_cast<const char*>(bytes.data()), bytes.size_bytes())));
    if (quantizer->spec() != q.spec || quantizer->dim() != q.dim) {
      return Invalid(absl::StrCat(
          "quantizer '", name, "': header says spec '", q.spec, "', dim ",
          q.dim, " but its bytes hold '", quantizer->spec(), "', dim ",
          quantizer->dim()));
    }
    return quantizer;
  }
  std::vector<absl::string_view> known;
  for (const QuantizerInfo& q : quantizers_) known.push_back(q.name);
  return absl::NotFoundError(absl::StrCat(kWhat, " has no quantizer named '",
                                          name, "' (it has: ",
                                          absl::StrJoin(known, ", "), ")"));
}

}  // namespace commvq
