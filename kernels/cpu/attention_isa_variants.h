// The optimized attention kernel tables, one per instruction set, each
// defined by a library built from attention_kernels_simd.cc with that
// instruction set's flags. Only attention_kernels.cc calls these, and only
// runs a table the CPU supports.
#ifndef KERNELS_CPU_ATTENTION_ISA_VARIANTS_H_
#define KERNELS_CPU_ATTENTION_ISA_VARIANTS_H_

#include "kernels/cpu/attention_kernels.h"

namespace commvq {

const AttentionKernels& Avx2AttentionKernels();
const AttentionKernels& Avx512AttentionKernels();

}  // namespace commvq

#endif  // KERNELS_CPU_ATTENTION_ISA_VARIANTS_H_
