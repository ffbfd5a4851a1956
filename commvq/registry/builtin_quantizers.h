// The explicit list of quantizers built into the library. Listed here rather
// than self-registered from static initializers, which a static link can
// silently drop.
#ifndef COMMVQ_REGISTRY_BUILTIN_QUANTIZERS_H_
#define COMMVQ_REGISTRY_BUILTIN_QUANTIZERS_H_

#include <memory>
#include <vector>

#include "commvq/quantizer/quantizer.h"

namespace commvq {

std::vector<std::unique_ptr<QuantizerFactory>> BuiltinQuantizerFactories();

}  // namespace commvq

#endif  // COMMVQ_REGISTRY_BUILTIN_QUANTIZERS_H_
