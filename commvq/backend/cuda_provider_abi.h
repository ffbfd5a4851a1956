/* The boundary between libcommvq.so and libcommvq_cuda.so.1, the CUDA
 * backend's provider library.
 *
 * libcommvq.so has no CUDA dependency, so it loads on machines without the
 * toolkit; when a context asks for backend "cuda" it dlopens the provider
 * (cuda_provider_loader.h), which links cudart and cuBLAS, and calls it only
 * through this table of C functions. Plain C types cross the boundary (no
 * C++ objects, no allocation freed on the other side), so the two libraries
 * may even be built by different compilers; the table's abi_version and
 * struct sizes say what each side understands.
 *
 * Every function returning int32_t returns an absl::StatusCode value (0 =
 * OK) and, on error, writes a NUL-terminated message of at most
 * message_size bytes (truncated) to `message`.
 */
#ifndef COMMVQ_BACKEND_CUDA_PROVIDER_ABI_H_
#define COMMVQ_BACKEND_CUDA_PROVIDER_ABI_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change to the structs or functions below. */
#define COMMVQ_CUDA_PROVIDER_ABI 1
/* The symbol libcommvq.so looks up in the provider. */
#define COMMVQ_CUDA_PROVIDER_ENTRY "commvq_cuda_provider_v1"
/* The file name libcommvq.so loads (next to itself, then the loader path). */
#define COMMVQ_CUDA_PROVIDER_LIBRARY "libcommvq_cuda.so.1"

/* One layer's commvq_key codebooks (key_codebook.h). */
typedef struct commvq_cuda_key_params {
  int32_t num_kv_heads;
  int32_t stages;
  int32_t head_dim;
  int32_t half_bits;
  int32_t pair_layout; /* commvq::PairLayout */
  /* [num_kv_heads, stages, head_dim / 2, 2^half_bits, 2] f32. */
  const float* z;
} commvq_cuda_key_params;

/* One layer's commvq_value parameters (value_codebook.h). Encoder arrays
 * are NULL when hidden == 0 (the quantizer encodes by search). */
typedef struct commvq_cuda_value_params {
  int64_t dim;
  int64_t num_kv_heads;
  int64_t num_code_bits;
  int64_t hidden;
  const float* codebook;      /* [num_code_bits, dim] */
  const float* channel_scale; /* [dim] */
  const float* ln_gamma;      /* [dim] */
  const float* ln_beta;       /* [dim] */
  const float* w1;            /* [hidden, dim] */
  const float* b1;            /* [hidden] */
  const float* w2;            /* [2 num_code_bits, hidden] */
  const float* b2;            /* [2 num_code_bits] */
  /* The search encoder's settings (search_encode.h ValueSearchOptions). */
  int32_t search_sweeps;
  int32_t search_restarts;
  int32_t search_relaxed_start;
  int32_t reserved;
} commvq_cuda_value_params;

/* What a cache of one sequence is, on which device and stream. */
typedef struct commvq_cuda_cache_config {
  uint32_t struct_size;
  int32_t num_layers;
  int32_t num_heads;
  int32_t num_kv_heads;
  int32_t head_dim;
  int32_t pair_layout; /* commvq::PairLayout */
  double rope_theta;
  int64_t capacity;    /* most tokens per layer, allocated up front */
  int64_t window;      /* full-precision recent tokens */
  int64_t max_append;  /* most tokens per append call */
  int64_t page_tokens; /* tokens per page */
  int32_t key_kernel;  /* commvq::CudaKeyKernel */
  int32_t device_id;
  void* stream;                          /* cudaStream_t; NULL: default */
  const commvq_cuda_key_params* keys;    /* [num_layers] */
  const commvq_cuda_value_params* values; /* [num_layers] */
} commvq_cuda_cache_config;

/* Device bytes of one cache (all layers), by component. */
typedef struct commvq_cuda_cache_memory {
  int64_t num_tokens;     /* layer 0 */
  int64_t encoded_tokens; /* layer 0 */
  int64_t codes;          /* packed codes of encoded tokens */
  int64_t side;           /* their key norms and value factors */
  int64_t full_precision; /* the window rings, allocated */
  int64_t page_slack;     /* code and side bytes allocated, not used yet */
  int64_t codebooks;      /* parameters and their kernel layouts */
  int64_t rope_table;
  int64_t workspace; /* attention and encoding scratch, cuBLAS workspace */
} commvq_cuda_cache_memory;

typedef struct commvq_cuda_cache commvq_cuda_cache;

typedef struct commvq_cuda_provider {
  uint32_t struct_size; /* sizeof(commvq_cuda_provider) */
  uint32_t abi_version; /* COMMVQ_CUDA_PROVIDER_ABI */
  /* Checks that `device_id` exists and can be used (FAILED_PRECONDITION
   * with the driver's message otherwise). No function of the table leaves
   * the calling thread's current device changed. */
  int32_t (*check_device)(int32_t device_id, char* message,
                          size_t message_size);
  int32_t (*cache_create)(const commvq_cuda_cache_config* config,
                          commvq_cuda_cache** out, char* message,
                          size_t message_size);
  void (*cache_destroy)(commvq_cuda_cache* cache);
  /* keys, values: device [num_tokens, num_kv_heads, head_dim] f32, keys
   * before RoPE. */
  int32_t (*cache_append)(commvq_cuda_cache* cache, int32_t layer,
                          const float* keys, const float* values,
                          int64_t num_tokens, char* message,
                          size_t message_size);
  /* Decode attention of one query at the newest position of `layer`.
   * query, out: device [num_heads, head_dim] f32, query before RoPE. */
  int32_t (*cache_attend)(commvq_cuda_cache* cache, int32_t layer,
                          const float* query, float* out, char* message,
                          size_t message_size);
  int32_t (*cache_truncate)(commvq_cuda_cache* cache, int64_t length,
                            char* message, size_t message_size);
  int64_t (*cache_length)(const commvq_cuda_cache* cache, int32_t layer);
  void (*cache_memory)(const commvq_cuda_cache* cache,
                       commvq_cuda_cache_memory* memory);
  /* Waits for the cache's stream (for callers that read results on the
   * host). */
  int32_t (*cache_synchronize)(commvq_cuda_cache* cache, char* message,
                               size_t message_size);
} commvq_cuda_provider;

/* The provider's entry point (COMMVQ_CUDA_PROVIDER_ENTRY). */
typedef const commvq_cuda_provider* (*commvq_cuda_provider_entry)(void);

#ifdef __cplusplus
}
#endif

#endif /* COMMVQ_BACKEND_CUDA_PROVIDER_ABI_H_ */
