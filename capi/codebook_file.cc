// Codebook file inspection and loading of the quantizers it stores.
#include "absl/strings/str_cat.h"
#include "capi/handles.h"
#include "capi/internal.h"
#include "commvq/base/status_macros.h"

namespace {

using commvq::capi::CheckNotNull;
using commvq::capi::CheckStruct;
using commvq::capi::Guard;

absl::Status CheckFile(const cvq_codebook_file* file) {
  return CheckNotNull(file, "file", "a cvq_codebook_file");
}

}  // namespace

extern "C" {

cvq_status* cvq_codebook_file_open(const char* path, cvq_codebook_file** out) {
  return Guard([&]() -> absl::Status {
    CVQ_RETURN_IF_ERROR(CheckNotNull(path, "path", "a codebook file path"));
    CVQ_RETURN_IF_ERROR(
        CheckNotNull(out, "out", "a cvq_codebook_file* to fill"));
    CVQ_ASSIGN_OR_RETURN(commvq::CodebookFile file,
                         commvq::CodebookFile::Open(path));
    *out = new cvq_codebook_file{std::move(file)};
    return absl::OkStatus();
  });
}

void cvq_codebook_file_destroy(cvq_codebook_file* file) { delete file; }

cvq_status* cvq_codebook_file_info_get(const cvq_codebook_file* file,
                                       cvq_codebook_file_info* info) {
  return Guard([&]() -> absl::Status {
    CVQ_RETURN_IF_ERROR(CheckFile(file));
    CVQ_RETURN_IF_ERROR(CheckStruct(info, "info", "cvq_codebook_file_info"));
    const commvq::ModelShape& model = file->file.model();
    info->format_version = file->file.version();
    info->num_layers = model.num_layers;
    info->num_heads = model.num_heads;
    info->num_kv_heads = model.num_kv_heads;
    info->head_dim = model.head_dim;
    info->pair_layout = static_cast<int32_t>(model.pair_layout);
    info->num_quantizers =
        static_cast<uint32_t>(file->file.quantizers().size());
    info->rope_theta = model.rope_theta;
    info->model_name = model.model_name.c_str();
    return absl::OkStatus();
  });
}

cvq_status* cvq_codebook_file_quantizer(const cvq_codebook_file* file,
                                        uint32_t index,
                                        cvq_codebook_quantizer_info* info) {
  return Guard([&]() -> absl::Status {
    CVQ_RETURN_IF_ERROR(CheckFile(file));
    CVQ_RETURN_IF_ERROR(
        CheckStruct(info, "info", "cvq_codebook_quantizer_info"));
    const auto& quantizers = file->file.quantizers();
    if (index >= quantizers.size()) {
      return absl::OutOfRangeError(
          absl::StrCat("`index` is ", index, "; expected < ", quantizers.size(),
                       " (the number of quantizers in the file)"));
    }
    const commvq::QuantizerInfo& q = quantizers[index];
    info->layer = q.layer;
    info->role = static_cast<int32_t>(q.role);
    info->dim = q.dim;
    info->name = q.name.c_str();
    info->spec = q.spec.c_str();
    return absl::OkStatus();
  });
}

cvq_status* cvq_codebook_file_load_quantizer(const cvq_codebook_file* file,
                                             const char* name,
                                             cvq_quantizer** out) {
  return Guard([&]() -> absl::Status {
    CVQ_RETURN_IF_ERROR(CheckFile(file));
    CVQ_RETURN_IF_ERROR(
        CheckNotNull(name, "name", "a quantizer name such as \"layer.0.key\""));
    CVQ_RETURN_IF_ERROR(CheckNotNull(out, "out", "a cvq_quantizer* to fill"));
    CVQ_ASSIGN_OR_RETURN(auto quantizer, file->file.LoadQuantizer(name));
    *out = new cvq_quantizer{std::move(quantizer)};
    return absl::OkStatus();
  });
}

}  // extern "C"
