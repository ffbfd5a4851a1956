// The C++ objects behind the opaque C handles.
#ifndef COMMVQ_CAPI_HANDLES_H_
#define COMMVQ_CAPI_HANDLES_H_

#include <memory>

#include "capi/commvq.h"
#include "commvq/base/thread_pool.h"
#include "commvq/io/codebook_file.h"
#include "commvq/kvcache/kv_cache.h"
#include "commvq/quantizer/quantizer.h"

// Only the CPU backend exists, so a context is its thread pool.
struct cvq_context {
  std::unique_ptr<commvq::ThreadPool> pool;
};

struct cvq_quantizer {
  std::unique_ptr<commvq::Quantizer> quantizer;
};

struct cvq_codebook_file {
  commvq::CodebookFile file;
};

struct cvq_cache {
  std::unique_ptr<commvq::KvCache> cache;
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
