#include "commvq/base/pair_layout.h"

namespace commvq {

absl::string_view PairLayoutName(PairLayout layout) {
  switch (layout) {
    case PairLayout::kUnspecified:
      return "unspecified";
    case PairLayout::kHalf:
      return "half";
    case PairLayout::kInterleaved:
      return "interleaved";
  }
  return "invalid";
}

}  // namespace commvq
