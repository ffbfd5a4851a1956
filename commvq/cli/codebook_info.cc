#include "commvq/cli/codebook_info.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "commvq/base/status_macros.h"
#include "commvq/cli/text_table.h"
#include "commvq/io/codebook_file.h"

namespace commvq {
namespace cli {

absl::Status PrintCodebookInfo(const std::string& path,
                               const QuantizerRegistry& registry,
                               std::ostream& out) {
  CVQ_ASSIGN_OR_RETURN(CodebookFile file, CodebookFile::Open(path));
  const ModelShape& m = file.model();
  const Provenance& p = file.provenance();
  out << path << ": CommVQ codebook file, format version " << file.version()
      << "\n\nModel: " << (m.model_name.empty() ? "(unnamed)" : m.model_name)
      << "\n  layers " << m.num_layers << ", heads " << m.num_heads
      << ", KV heads " << m.num_kv_heads << ", head_dim " << m.head_dim
      << ", rope_theta " << m.rope_theta << ", pairs "
      << PairLayoutName(m.pair_layout) << "\n\nProvenance:\n  trainer "
      << p.trainer << " (library " << p.library_version << "), seed " << p.seed
      << ", " << p.num_samples << " samples of '" << p.calibration_data
      << "', created " << p.created_utc << "\n";
  for (const auto& [key, value] : p.extra) {
    out << "  " << key << ": " << value << "\n";
  }

  TextTable tensors({{"tensor"},
                     {"dtype"},
                     {"shape"},
                     {"offset", TextTable::Align::kRight},
                     {"bytes", TextTable::Align::kRight},
                     {"crc32c"}});
  for (const TensorInfo& t : file.tensors()) {
    tensors.AddRow({t.name, std::string(DTypeName(t.dtype)),
                    ShapeToString(t.shape), absl::StrCat(t.offset),
                    absl::StrCat(t.length), absl::StrFormat("%08x", t.crc32c)});
  }
  out << "\nTensors (" << file.tensors().size() << "):\n";
  tensors.Print(out, "  ");

  TextTable quantizers({{"quantizer"},
                        {"layer", TextTable::Align::kRight},
                        {"role"},
                        {"spec"},
                        {"dim", TextTable::Align::kRight},
                        {"bits/elem", TextTable::Align::kRight},
                        {"param bytes", TextTable::Align::kRight}});
  for (const QuantizerInfo& q : file.quantizers()) {
    // A quantizer this build cannot load (e.g. from a plugin not loaded) is
    // still listed, with the reason instead of its figures.
    absl::StatusOr<std::unique_ptr<Quantizer>> loaded =
        file.LoadQuantizer(q.name, registry);
    quantizers.AddRow(
        {q.name, absl::StrCat(q.layer), std::string(CacheRoleName(q.role)),
         q.spec, absl::StrCat(q.dim),
         loaded.ok() ? absl::StrFormat("%.3f", (*loaded)->layout().BitsPerElement())
                     : std::string("?"),
         loaded.ok() ? absl::StrCat((*loaded)->ParameterBytes())
                     : absl::StrCat("not loadable: ", loaded.status().message())});
  }
  out << "\nQuantizers (" << file.quantizers().size() << "):\n";
  quantizers.Print(out, "  ");
  return absl::OkStatus();
}

}  // namespace cli
}  // namespace commvq
