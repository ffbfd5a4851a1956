#include "commvq/registry/builtin_quantizers.h"

#include "commvq/quantizer/commvq_key/commvq_key_quantizer.h"
#include "commvq/quantizer/commvq_value/commvq_value_quantizer.h"
#include "commvq/quantizer/float_quantizer.h"
#include "commvq/quantizer/fp8_quantizer.h"
#include "commvq/quantizer/int_quantizer.h"
#include "commvq/quantizer/kivi_quantizer.h"
#include "commvq/quantizer/rvq_quantizer.h"

namespace commvq {

std::vector<std::unique_ptr<QuantizerFactory>> BuiltinQuantizerFactories() {
  std::vector<std::unique_ptr<QuantizerFactory>> factories;
  factories.push_back(MakeFp16QuantizerFactory());
  factories.push_back(MakeBf16QuantizerFactory());
  factories.push_back(MakeIntQuantizerFactory());
  factories.push_back(MakeKiviQuantizerFactory());
  factories.push_back(MakeFp8QuantizerFactory());
  factories.push_back(MakeRvqQuantizerFactory());
  factories.push_back(MakeCommvqKeyQuantizerFactory());
  factories.push_back(MakeCommvqValueQuantizerFactory());
  return factories;
}

}  // namespace commvq
