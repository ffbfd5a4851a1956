// The text form of a KV-cache choice (the CLI's --cache), and the cache it
// builds. Grammar:
//
//   fp32                           the full-precision cache
//   commvq:codebooks=FILE[,window=N][,page=N][,kernel=K][,values=QSPEC]
//       keys: the commvq_key quantizers layer.<i>.key of a codebook file
//       (commvq train-keys), attended on their codes; values: the file's
//       layer.<i>.value quantizers, or the registry spec QSPEC (values= must
//       come last: the rest of the text is QSPEC, commas included)
//   kivi[:bits=B][,group_size=G][,window=N][,page=N]
//       KIVI: keys per channel over groups of tokens, values per token
//   QSPEC[;window=N][;page=N]
//       any data-free registry quantizer (fp16, bf16, int, fp8, ...) for
//       both keys and values, e.g. "int:bits=4;window=0"
//
// window: full-precision recent tokens (default 128, 0 allowed); page:
// tokens per page (default 256); capacity: most tokens per layer (default 0:
// no limit; the cuda backend allocates them up front and needs it); kernel: auto, table or decode (the CommVQ
// key-score kernel, see compressed_kv_cache.h).
#ifndef COMMVQ_KVCACHE_CACHE_SPEC_H_
#define COMMVQ_KVCACHE_CACHE_SPEC_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "commvq/kvcache/compressed_kv_cache.h"
#include "commvq/kvcache/kv_cache.h"

namespace commvq {

class ThreadPool;

struct CacheSpec {
  bool full_precision = true;
  // Compressed caches: a codebook file (keys, maybe values) and/or registry
  // specs, trained data-free per layer.
  std::string codebooks;
  std::string key_spec;
  std::string value_spec;
  CompressedKvCacheOptions options;
};

// InvalidArgument naming the bad part and what was expected.
absl::StatusOr<CacheSpec> ParseCacheSpec(absl::string_view text);

// Builds what every cache of `spec` shares (null for fp32): loads the
// codebook file or builds the registry quantizers for every layer of `shape`.
absl::StatusOr<std::shared_ptr<const CompressedCacheCodecs>> MakeCacheCodecs(
    const CacheSpec& spec, const AttentionShape& shape);

// One sequence's cache. codecs: from MakeCacheCodecs (ignored for fp32).
absl::StatusOr<std::unique_ptr<KvCache>> MakeKvCache(
    const CacheSpec& spec, const AttentionShape& shape,
    std::shared_ptr<const CompressedCacheCodecs> codecs, ThreadPool* pool);

// The grammar above, for --help.
absl::string_view CacheSpecHelp();

}  // namespace commvq

#endif  // COMMVQ_KVCACHE_CACHE_SPEC_H_
