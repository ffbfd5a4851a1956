#include "commvq/kvcache/commvq_key_arrays.h"

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "commvq/base/byte_io.h"
#include "commvq/base/status_macros.h"
#include "commvq/quantizer/serialized_quantizer.h"

namespace commvq {

KeyCodebookArrays CommvqKeyArrays::head(int64_t h) const {
  KeyCodebookArrays arrays;
  arrays.z = z.data() + h * floats_per_head();
  arrays.stages = stages;
  arrays.half_bits = half_bits;
  arrays.head_dim = head_dim;
  arrays.layout = layout;
  return arrays;
}

absl::StatusOr<CommvqKeyArrays> CommvqKeyArraysOf(const Quantizer& quantizer) {
  if (quantizer.name() != "commvq_key") {
    return absl::InvalidArgumentError(
        absl::StrCat("quantizer '", quantizer.spec(),
                     "' has no CommVQ key codebooks: expected commvq_key"));
  }
  CVQ_ASSIGN_OR_RETURN(const std::string bytes, quantizer.Serialize());
  CVQ_ASSIGN_OR_RETURN(const FramedQuantizer framed, UnframeQuantizer(bytes));
  ByteReader reader(framed.payload, "commvq_key payload");
  CommvqKeyArrays arrays;
  CVQ_ASSIGN_OR_RETURN(const uint32_t num_kv_heads,
                       reader.Read<uint32_t>("num_kv_heads"));
  CVQ_ASSIGN_OR_RETURN(const uint32_t head_dim,
                       reader.Read<uint32_t>("head_dim"));
  CVQ_ASSIGN_OR_RETURN(const uint32_t half_bits,
                       reader.Read<uint32_t>("half_bits"));
  CVQ_ASSIGN_OR_RETURN(const uint32_t stages, reader.Read<uint32_t>("stages"));
  CVQ_ASSIGN_OR_RETURN(const uint32_t layout, reader.Read<uint32_t>("layout"));
  arrays.num_kv_heads = num_kv_heads;
  arrays.head_dim = head_dim;
  arrays.half_bits = static_cast<int>(half_bits);
  arrays.stages = static_cast<int>(stages);
  arrays.layout = static_cast<PairLayout>(layout);
  // The quantizer validated these when it was built; the payload must hold
  // exactly its codebooks.
  const int64_t floats = arrays.num_kv_heads * arrays.floats_per_head();
  CVQ_ASSIGN_OR_RETURN(const absl::string_view z,
                       reader.ReadBytes(floats * sizeof(float), "codebooks"));
  if (reader.remaining() != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("commvq_key payload of '", quantizer.spec(), "' has ",
                     reader.remaining(), " bytes after the codebooks"));
  }
  arrays.z.resize(floats);
  std::memcpy(arrays.z.data(), z.data(), z.size());
  arrays.planes.resize(2 * floats);
  arrays.pair_scale.resize(arrays.num_kv_heads * (arrays.head_dim / 2));
  for (int64_t h = 0; h < arrays.num_kv_heads; ++h) {
    MakeKeyCentrePlanesI16Reference(
        arrays.head(h),
        arrays.planes.data() + h * arrays.entries_per_head_planes(),
        arrays.pair_scale.data() + h * (arrays.head_dim / 2));
  }
  return arrays;
}

}  // namespace commvq
