#include "commvq/eval/kv_dump_info.h"

#include <cmath>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "commvq/base/status_macros.h"

namespace commvq {
namespace {

// Sizes beyond this are corrupt metadata, not a model.
constexpr int64_t kMaxSize = int64_t{1} << 20;

absl::StatusOr<std::string> GetMetadata(const SafetensorsFile& file,
                                        absl::string_view file_name,
                                        const std::string& key) {
  auto it = file.metadata().find(key);
  if (it == file.metadata().end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        file_name, ": metadata has no \"", key, "\" (not a KV dump?)"));
  }
  return it->second;
}

absl::StatusOr<int64_t> GetSize(const SafetensorsFile& file,
                                absl::string_view file_name,
                                const std::string& key) {
  CVQ_ASSIGN_OR_RETURN(std::string text, GetMetadata(file, file_name, key));
  int64_t value = 0;
  if (!absl::SimpleAtoi(text, &value) || value < 1 || value > kMaxSize) {
    return absl::InvalidArgumentError(
        absl::StrCat(file_name, ": metadata ", key, " is \"", text,
                     "\": expected an integer in [1, ", kMaxSize, "]"));
  }
  return value;
}

}  // namespace

absl::StatusOr<KvDumpInfo> ReadKvDumpInfo(const SafetensorsFile& file,
                                          absl::string_view file_name) {
  CVQ_ASSIGN_OR_RETURN(std::string format,
                       GetMetadata(file, file_name, "format"));
  if (format != kKvDumpFormat) {
    return absl::InvalidArgumentError(
        absl::StrCat(file_name, ": metadata format is \"", format,
                     "\": expected \"", kKvDumpFormat, "\""));
  }
  KvDumpInfo info;
  CVQ_ASSIGN_OR_RETURN(info.num_layers,
                       GetSize(file, file_name, "num_layers"));
  CVQ_ASSIGN_OR_RETURN(info.num_heads, GetSize(file, file_name, "num_heads"));
  CVQ_ASSIGN_OR_RETURN(info.num_kv_heads,
                       GetSize(file, file_name, "num_kv_heads"));
  CVQ_ASSIGN_OR_RETURN(info.head_dim, GetSize(file, file_name, "head_dim"));
  if (info.num_heads % info.num_kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        file_name, ": metadata num_heads is ", info.num_heads,
        ": expected a multiple of num_kv_heads ", info.num_kv_heads));
  }
  if (info.head_dim % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(file_name, ": metadata head_dim is ", info.head_dim,
                     ": expected an even number (RoPE rotates pairs)"));
  }
  CVQ_ASSIGN_OR_RETURN(std::string theta,
                       GetMetadata(file, file_name, "rope_theta"));
  if (!absl::SimpleAtod(theta, &info.rope_theta) ||
      !std::isfinite(info.rope_theta) || info.rope_theta <= 1.0) {
    return absl::InvalidArgumentError(
        absl::StrCat(file_name, ": metadata rope_theta is \"", theta,
                     "\": expected a finite number above 1"));
  }
  CVQ_ASSIGN_OR_RETURN(std::string layout,
                       GetMetadata(file, file_name, "pair_layout"));
  if (layout == PairLayoutName(PairLayout::kHalf)) {
    info.pair_layout = PairLayout::kHalf;
  } else if (layout == PairLayoutName(PairLayout::kInterleaved)) {
    info.pair_layout = PairLayout::kInterleaved;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(file_name, ": metadata pair_layout is \"", layout,
                     "\": expected \"half\" or \"interleaved\""));
  }
  return info;
}

}  // namespace commvq
