/* A CUDA provider of another provider ABI: the loader must refuse it
 * before calling anything in its table. */
#include "commvq/backend/cuda_provider_abi.h"

static const commvq_cuda_provider kProvider = {
    sizeof(commvq_cuda_provider), COMMVQ_CUDA_PROVIDER_ABI + 1, 0, 0, 0, 0,
    0,                            0,                            0, 0, 0};

__attribute__((visibility("default"))) const commvq_cuda_provider*
commvq_cuda_provider_v1(void) {
  return &kProvider;
}
