// The C++ objects behind the opaque C handles.
#ifndef COMMVQ_CAPI_HANDLES_H_
#define COMMVQ_CAPI_HANDLES_H_

#include <memory>

#include "capi/commvq.h"
#include "commvq/backend/cuda_cache.h"
#include "commvq/backend/cuda_provider_abi.h"
#include "commvq/base/thread_pool.h"
#include "commvq/io/codebook_file.h"
#include "commvq/kvcache/kv_cache.h"
#include "commvq/quantizer/quantizer.h"

// The thread pool (all CPU work, and the cpu backend's attention) and, for
// backend "cuda", the loaded provider (null for "cpu"), the device and the
// caller's stream. Nothing here links CUDA: the provider does.
struct cvq_context {
  std::unique_ptr<commvq::ThreadPool> pool;
  const commvq_cuda_provider* cuda_provider = nullptr;
  int32_t device_id = 0;
  void* stream = nullptr;
};

struct cvq_quantizer {
  std::unique_ptr<commvq::Quantizer> quantizer;
};

struct cvq_codebook_file {
  commvq::CodebookFile file;
};

// Exactly one of the two is set: a cache on the CPU, or one in GPU memory
// (a cache created on a "cuda" context).
struct cvq_cache {
  std::unique_ptr<commvq::KvCache> cache;
  std::unique_ptr<commvq::CudaCache> cuda;

  const commvq::AttentionShape& shape() const {
    return cuda != nullptr ? cuda->shape() : cache->shape();
  }
};

namespace commvq {
namespace capi {

// The context's pool, or null (calling thread only) for a NULL context.
inline ThreadPool* PoolOf(const cvq_context* context) {
  return context == nullptr ? nullptr : context->pool.get();
}

}  // namespace capi
}  // namespace commvq

#endif  // COMMVQ_CAPI_HANDLES_H_
