/* The stable C interface of CommVQ (libcommvq.so.1).
 *
 * C99, no dependencies beyond <stddef.h> and <stdint.h>: every language with
 * a C FFI (Python ctypes, Rust, Go cgo, ...) can call it, and the bindings in
 * capi/python, capi/rust and capi/go are thin wrappers over exactly this.
 *
 * Conventions (the same for every function):
 *  - Every fallible function returns `cvq_status*`: NULL means success; any
 *    other value is an error the caller owns and frees with
 *    cvq_status_destroy. Codes are absl::StatusCode values (CVQ_STATUS_*).
 *    There is no thread-local "last error".
 *  - On error, out-parameters are left untouched.
 *  - No C++ exception ever crosses this interface (an allocation failure is
 *    CVQ_STATUS_RESOURCE_EXHAUSTED, anything unexpected CVQ_STATUS_INTERNAL).
 *  - Handles are opaque; each `_create`/`_open`/`_load` has a `_destroy` that
 *    accepts NULL and returns nothing.
 *  - Every struct starts with `uint32_t struct_size`, which the caller sets
 *    to sizeof(the struct) as compiled; the library rejects a struct_size
 *    smaller than the ABI 1.0 size (CVQ_STATUS_INVALID_ARGUMENT) and never
 *    reads or writes past struct_size. Fields are fixed-width; enumerations
 *    are int32_t constants, never C enums.
 *  - Tensors cross as borrowed views (cvq_tensor): the library reads or
 *    writes through them only during the call and keeps no pointer.
 *  - Callers allocate every output buffer, after a size query where the size
 *    is not known in advance; the library never returns memory that needs a
 *    special free other than its opaque objects.
 *  - The library prints nothing: diagnostics go to the log callback.
 *
 * Thread safety is stated per function below. In short: version, status,
 * registry and codebook-file queries are thread-safe; a quantizer is
 * immutable and all its functions are thread-safe; a context may be shared
 * by concurrent calls; a cache needs exclusive access for append/truncate.
 */
#ifndef COMMVQ_CAPI_COMMVQ_H_
#define COMMVQ_CAPI_COMMVQ_H_

#include <stddef.h>
#include <stdint.h>

#if defined(CVQ_BUILDING_LIBRARY) && defined(__GNUC__)
#define CVQ_EXPORT __attribute__((visibility("default")))
#else
#define CVQ_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Versions
 * ------------------------------------------------------------------------ */

/* The ABI this header describes. Programs built against ABI 1 keep working
 * with every libcommvq.so.1 (see README "C ABI" for what may change). */
#define CVQ_ABI_VERSION 1
/* The library release this header comes from. */
#define CVQ_VERSION_MAJOR 0
#define CVQ_VERSION_MINOR 1
#define CVQ_VERSION_PATCH 0
#define CVQ_VERSION_STRING "0.1.0"

/* The ABI version of the loaded library (CVQ_ABI_VERSION it was built with).
 * Thread-safe. */
CVQ_EXPORT uint32_t cvq_abi_version(void);
/* "MAJOR.MINOR.PATCH" of the loaded library; static storage. Thread-safe. */
CVQ_EXPORT const char* cvq_version_string(void);

/* ------------------------------------------------------------------------
 * Status
 * ------------------------------------------------------------------------ */

/* Values equal absl::StatusCode. */
#define CVQ_STATUS_OK 0
#define CVQ_STATUS_CANCELLED 1
#define CVQ_STATUS_UNKNOWN 2
#define CVQ_STATUS_INVALID_ARGUMENT 3
#define CVQ_STATUS_DEADLINE_EXCEEDED 4
#define CVQ_STATUS_NOT_FOUND 5
#define CVQ_STATUS_ALREADY_EXISTS 6
#define CVQ_STATUS_PERMISSION_DENIED 7
#define CVQ_STATUS_RESOURCE_EXHAUSTED 8
#define CVQ_STATUS_FAILED_PRECONDITION 9
#define CVQ_STATUS_ABORTED 10
#define CVQ_STATUS_OUT_OF_RANGE 11
#define CVQ_STATUS_UNIMPLEMENTED 12
#define CVQ_STATUS_INTERNAL 13
#define CVQ_STATUS_UNAVAILABLE 14
#define CVQ_STATUS_DATA_LOSS 15
#define CVQ_STATUS_UNAUTHENTICATED 16

/* An error: a code and a message. Owned by whoever received it. */
typedef struct cvq_status cvq_status;

/* CVQ_STATUS_OK for NULL. Thread-safe. */
CVQ_EXPORT int32_t cvq_status_code(const cvq_status* status);
/* A NUL-terminated message naming the bad value and what was expected ("" for
 * NULL); valid until the status is destroyed. Thread-safe. */
CVQ_EXPORT const char* cvq_status_message(const cvq_status* status);
/* Frees `status`; NULL is a no-op. */
CVQ_EXPORT void cvq_status_destroy(cvq_status* status);

/* ------------------------------------------------------------------------
 * Logging
 * ------------------------------------------------------------------------ */

#define CVQ_LOG_DEBUG 0
#define CVQ_LOG_INFO 1
#define CVQ_LOG_WARNING 2
#define CVQ_LOG_ERROR 3

/* Receives the library's diagnostics (training progress, plugin loading).
 * `message` is valid only during the call. May be called from any thread
 * that is inside a library call, concurrently; must not call back into the
 * library. */
typedef void (*cvq_log_fn)(void* user_data, int32_t level, const char* message);

/* Installs `fn` (NULL: discard everything, the default) for messages of
 * `min_level` and above, process-wide. `user_data` is passed back verbatim.
 * Thread-safe; calls already running may still use the previous callback. */
CVQ_EXPORT cvq_status* cvq_set_log_callback(cvq_log_fn fn, void* user_data,
                                            int32_t min_level);

/* ------------------------------------------------------------------------
 * Tensors
 * ------------------------------------------------------------------------ */

/* Element types, as DLPack type codes (kDLUInt, kDLFloat, kDLBfloat). */
#define CVQ_DTYPE_CODE_UINT 1
#define CVQ_DTYPE_CODE_FLOAT 2
#define CVQ_DTYPE_CODE_BFLOAT 4
/* Devices, as DLPack device types. Only CPU tensors are accepted today. */
#define CVQ_DEVICE_CPU 1
#define CVQ_DEVICE_CUDA 2
/* Highest accepted ndim. */
#define CVQ_MAX_NDIM 8

/* A borrowed, dense tensor. Accepted dtypes: f32 (FLOAT, 32), f16
 * (FLOAT, 16), bf16 (BFLOAT, 16), u8 (UINT, 8), all with lanes 1; which one
 * each function takes is stated there.
 *  shape:   [ndim] sizes (>= 0); may be NULL when ndim == 0.
 *  strides: [ndim] in elements, or NULL for row-major contiguous. Only
 *           row-major contiguous strides are accepted (others are
 *           CVQ_STATUS_INVALID_ARGUMENT): data is never copied to repack it.
 *  data:    the first element; may be NULL only when the tensor is empty.
 * Layout (ABI 1, 64-bit): struct_size 0, dtype_code 4, dtype_bits 5,
 * dtype_lanes 6, device_type 8, device_id 12, ndim 16, reserved 20, data 24,
 * shape 32, strides 40; sizeof 48. */
typedef struct cvq_tensor {
  uint32_t struct_size;
  uint8_t dtype_code;
  uint8_t dtype_bits;
  uint16_t dtype_lanes;
  int32_t device_type;
  int32_t device_id;
  int32_t ndim;
  uint32_t reserved; /* set to 0 */
  void* data;
  const int64_t* shape;
  const int64_t* strides;
} cvq_tensor;

/* ------------------------------------------------------------------------
 * Context: where and with how many threads work runs
 * ------------------------------------------------------------------------ */

typedef struct cvq_context cvq_context;

/* Layout (ABI 1, 64-bit): struct_size 0, num_threads 4, backend 8,
 * device_id 16, reserved 20, stream 24; sizeof 32. */
typedef struct cvq_context_options {
  uint32_t struct_size;
  /* Threads for encode, decode, training and attention, including the
   * calling thread; 0 = the number of hardware threads. Results never depend
   * on it. */
  int32_t num_threads;
  /* "cpu" (NULL means "cpu") or "cuda". "cuda" loads the CUDA provider
   * library libcommvq_cuda.so.1 (from the directory of libcommvq.so, the
   * loader path, or the file named by the environment variable
   * COMMVQ_CUDA_PROVIDER), so libcommvq.so itself needs no CUDA; without the
   * provider or without the device it is CVQ_STATUS_UNAVAILABLE, with the
   * loader's or the driver's message. Caches created on a "cuda" context
   * live in GPU memory (see cvq_cache_create). */
  const char* backend;
  int32_t device_id; /* "cuda": the device ordinal; "cpu": 0 */
  uint32_t reserved; /* set to 0 */
  /* "cuda": a cudaStream_t to run on (NULL: the default stream); "cpu":
   * must be NULL. Not owned. */
  void* stream;
} cvq_context_options;

/* Creates a context. `options` may be NULL (cpu, all hardware threads).
 * *out receives a context to free with cvq_context_destroy. Thread-safe. A
 * context may be passed to concurrent calls from several threads; destroy it
 * only once they have returned. */
CVQ_EXPORT cvq_status* cvq_context_create(const cvq_context_options* options,
                                          cvq_context** out);
CVQ_EXPORT void cvq_context_destroy(cvq_context* context);
/* The threads the context runs work on (num_threads resolved). */
CVQ_EXPORT cvq_status* cvq_context_num_threads(const cvq_context* context,
                                               int32_t* num_threads);

/* ------------------------------------------------------------------------
 * Registry: the quantizer kinds this process knows, and plugins
 * ------------------------------------------------------------------------ */

/* Layout (ABI 1, 64-bit): struct_size 0, reserved 4, name 8, summary 16,
 * example_spec 24; sizeof 32. */
typedef struct cvq_quantizer_kind {
  uint32_t struct_size;
  uint32_t reserved;
  /* Static storage (valid for the life of the process). */
  const char* name;         /* e.g. "int" */
  const char* summary;      /* one line */
  const char* example_spec; /* a spec that cvq_quantizer_train accepts */
} cvq_quantizer_kind;

/* Number of registered quantizer kinds (built-in plus loaded plugins).
 * Thread-safe; grows when a plugin is loaded. */
CVQ_EXPORT cvq_status* cvq_registry_count(uint32_t* count);
/* Kind number `index` (0 <= index < count) in name order: fills *kind.
 * CVQ_STATUS_OUT_OF_RANGE for a larger index. Thread-safe. */
CVQ_EXPORT cvq_status* cvq_registry_get(uint32_t index,
                                        cvq_quantizer_kind* kind);

/* Loads the quantizer plugin at `path` (must contain a '/': no search path is
 * used) and registers its quantizers, all or none. Plugins are never
 * unloaded. NOT_FOUND, INVALID_ARGUMENT (not a plugin), FAILED_PRECONDITION
 * (wrong plugin ABI version), ALREADY_EXISTS (duplicate name).
 * Thread-safe. */
CVQ_EXPORT cvq_status* cvq_plugin_load(const char* path);

/* ------------------------------------------------------------------------
 * Quantizers
 * ------------------------------------------------------------------------ */

/* A trained quantizer. Immutable: every function taking a const
 * cvq_quantizer* is thread-safe, and one quantizer may be used by any number
 * of threads at once. */
typedef struct cvq_quantizer cvq_quantizer;

/* How encoded vectors are laid out (commvq/quantizer/code_layout.h).
 *   codes: [n, code_bytes] u8;  side: [n / block_vectors, side_bytes] u8.
 * Layout (ABI 1): struct_size 0, reserved 4, dim 8, code_bits 16,
 * code_bytes 24, side_bytes 32, block_vectors 40, parameter_bytes 48;
 * sizeof 56. */
typedef struct cvq_code_layout {
  uint32_t struct_size;
  uint32_t reserved;
  int64_t dim;             /* elements per input vector */
  int64_t code_bits;       /* meaningful code bits per vector */
  int64_t code_bytes;      /* ceil(code_bits / 8) */
  int64_t side_bytes;      /* per block */
  int64_t block_vectors;   /* vectors per block; n must be a multiple */
  int64_t parameter_bytes; /* trained parameters, stored once */
} cvq_code_layout;

/* Trains the quantizer `spec` ("name" or "name:key=value,...", see
 * cvq_registry_get) describes on `samples` ([n, dim] f32, finite; n may be 0
 * for quantizers without trained parameters, e.g. "fp16" or "int").
 * Deterministic given `seed`, whatever the context's thread count.
 * `context` may be NULL (runs on the calling thread). *out receives a
 * quantizer to free with cvq_quantizer_destroy. Thread-safe. */
CVQ_EXPORT cvq_status* cvq_quantizer_train(cvq_context* context,
                                           const char* spec,
                                           const cvq_tensor* samples,
                                           uint64_t seed, cvq_quantizer** out);

/* Rebuilds a quantizer from cvq_quantizer_serialize bytes (`bytes`: [size];
 * copied, need not outlive the call). INVALID_ARGUMENT for malformed bytes.
 * Thread-safe. */
CVQ_EXPORT cvq_status* cvq_quantizer_deserialize(const uint8_t* bytes,
                                                 size_t size,
                                                 cvq_quantizer** out);

/* Sets *size to the serialized size and, if capacity >= *size, writes the
 * bytes to `buffer` ([capacity]); call with buffer NULL and capacity 0 to
 * query the size. A smaller nonzero capacity is CVQ_STATUS_OUT_OF_RANGE with
 * *size untouched. */
CVQ_EXPORT cvq_status* cvq_quantizer_serialize(const cvq_quantizer* quantizer,
                                               uint8_t* buffer, size_t capacity,
                                               size_t* size);

CVQ_EXPORT void cvq_quantizer_destroy(cvq_quantizer* quantizer);

/* The canonical spec (every option written out); valid while the quantizer
 * lives. */
CVQ_EXPORT cvq_status* cvq_quantizer_spec(const cvq_quantizer* quantizer,
                                          const char** spec);

/* Fills *layout. */
CVQ_EXPORT cvq_status* cvq_quantizer_layout(const cvq_quantizer* quantizer,
                                            cvq_code_layout* layout);

/* Bytes (codes + side data) that `num_vectors` encoded vectors take;
 * num_vectors >= 0 and a multiple of block_vectors. */
CVQ_EXPORT cvq_status* cvq_quantizer_stored_bytes(
    const cvq_quantizer* quantizer, int64_t num_vectors, int64_t* bytes);

/* Encodes n vectors.
 *  input: [n, dim] f32, f16 or bf16, finite; n a multiple of block_vectors.
 *  codes: [n, code_bytes] u8 (written).
 *  side:  [n / block_vectors, side_bytes] u8 (written).
 * `context` may be NULL. Thread-safe. */
CVQ_EXPORT cvq_status* cvq_quantizer_encode(cvq_context* context,
                                            const cvq_quantizer* quantizer,
                                            const cvq_tensor* input,
                                            const cvq_tensor* codes,
                                            const cvq_tensor* side);

/* Decodes n vectors: codes and side as written by cvq_quantizer_encode;
 * output: [n, dim] f32 (written). `context` may be NULL. Thread-safe. */
CVQ_EXPORT cvq_status* cvq_quantizer_decode(cvq_context* context,
                                            const cvq_quantizer* quantizer,
                                            const cvq_tensor* codes,
                                            const cvq_tensor* side,
                                            const cvq_tensor* output);

/* ------------------------------------------------------------------------
 * Codebook files (.cvqcb): all layers' quantizers of one model
 * ------------------------------------------------------------------------ */

/* A validated, memory-mapped codebook file. Immutable; thread-safe. */
typedef struct cvq_codebook_file cvq_codebook_file;

/* CVQ_PAIR_LAYOUT_*: how RoPE pairs the channels of a head. */
#define CVQ_PAIR_LAYOUT_UNSPECIFIED 0
#define CVQ_PAIR_LAYOUT_HALF 1        /* (j, j + head_dim / 2) */
#define CVQ_PAIR_LAYOUT_INTERLEAVED 2 /* (2j, 2j + 1) */

/* Layout (ABI 1): struct_size 0, format_version 4, num_layers 8,
 * num_heads 12, num_kv_heads 16, head_dim 20, pair_layout 24,
 * num_quantizers 28, rope_theta 32, model_name 40; sizeof 48. */
typedef struct cvq_codebook_file_info {
  uint32_t struct_size;
  uint32_t format_version;
  int32_t num_layers;
  int32_t num_heads;
  int32_t num_kv_heads;
  int32_t head_dim;
  int32_t pair_layout; /* CVQ_PAIR_LAYOUT_* */
  uint32_t num_quantizers;
  double rope_theta;
  const char* model_name; /* valid while the file handle lives */
} cvq_codebook_file_info;

/* CVQ_ROLE_*: which cache tensor a quantizer of a file compresses. */
#define CVQ_ROLE_UNSPECIFIED 0
#define CVQ_ROLE_KEY 1
#define CVQ_ROLE_VALUE 2

/* Layout (ABI 1): struct_size 0, layer 4, role 8, reserved 12, dim 16,
 * name 24, spec 32; sizeof 40. */
typedef struct cvq_codebook_quantizer_info {
  uint32_t struct_size;
  int32_t layer;
  int32_t role; /* CVQ_ROLE_* */
  uint32_t reserved;
  int64_t dim;
  const char* name; /* e.g. "layer.3.key"; valid while the file handle lives */
  const char* spec; /* canonical spec; valid while the file handle lives */
} cvq_codebook_quantizer_info;

/* Opens and validates the file at `path` (every checksum, every field).
 * NOT_FOUND or INVALID_ARGUMENT naming the path and the problem.
 * Thread-safe. */
CVQ_EXPORT cvq_status* cvq_codebook_file_open(const char* path,
                                              cvq_codebook_file** out);
CVQ_EXPORT void cvq_codebook_file_destroy(cvq_codebook_file* file);
CVQ_EXPORT cvq_status* cvq_codebook_file_info_get(const cvq_codebook_file* file,
                                                  cvq_codebook_file_info* info);
/* Quantizer number `index` (0 <= index < num_quantizers) in file order;
 * OUT_OF_RANGE otherwise. */
CVQ_EXPORT cvq_status* cvq_codebook_file_quantizer(
    const cvq_codebook_file* file, uint32_t index,
    cvq_codebook_quantizer_info* info);
/* Builds the quantizer stored under `name` (e.g. "layer.0.key"); NOT_FOUND
 * naming it otherwise. The quantizer does not borrow from the file. */
CVQ_EXPORT cvq_status* cvq_codebook_file_load_quantizer(
    const cvq_codebook_file* file, const char* name, cvq_quantizer** out);

/* ------------------------------------------------------------------------
 * KV cache of one sequence, with attention
 * ------------------------------------------------------------------------ */

/* Not thread-safe for append/truncate: those need exclusive access.
 * cvq_cache_attend, cvq_cache_length and cvq_cache_memory may run
 * concurrently with each other. */
typedef struct cvq_cache cvq_cache;

/* Layout (ABI 1): struct_size 0, num_layers 4, num_heads 8,
 * num_kv_heads 12, head_dim 16, pair_layout 20, rope_theta 24, storage 32;
 * sizeof 40. */
typedef struct cvq_cache_options {
  uint32_t struct_size;
  int32_t num_layers;
  int32_t num_heads;    /* query heads */
  int32_t num_kv_heads; /* divides num_heads */
  int32_t head_dim;     /* even */
  int32_t pair_layout;  /* CVQ_PAIR_LAYOUT_HALF or _INTERLEAVED */
  double rope_theta;
  /* How keys and values are stored, in the syntax of `commvq eval-ppl
   * --cache` (commvq/kvcache/cache_spec.h). NULL or "fp32": full precision.
   * "commvq:codebooks=FILE[,window=N][,page=N][,kernel=K][,values=QSPEC]":
   * the quantizers layer.<i>.key / layer.<i>.value of a codebook file, CommVQ
   * keys attended on their codes. "kivi[:bits=B][,group_size=G][,window=N]":
   * KIVI. "QSPEC[;window=N][;page=N]": any data-free registry quantizer for
   * keys and values, e.g. "int:bits=4;window=0". window: the most recent
   * tokens kept in full precision (default 128). capacity=N: the most
   * tokens per layer (default 0: no limit on "cpu").
   *
   * On a "cuda" context only "commvq:codebooks=FILE,capacity=N[,window=N]
   * [,page=N][,kernel=K]" is accepted: keys and values of the file, all
   * device memory for `capacity` tokens allocated by cvq_cache_create
   * (nothing is allocated by append or attend). Its tensors (keys, values,
   * queries, out) are CVQ_DEVICE_CUDA tensors on the context's device, work
   * is queued on the context's stream (synchronize it before reading `out`
   * on the host), attention is decode attention (one query at the newest
   * position; others are CVQ_STATUS_UNIMPLEMENTED) and no call on such a
   * cache may run concurrently with another on it. */
  const char* storage;
} cvq_cache_options;

/* Bytes a cache holds, by component (allocated storage, all layers; device
 * memory for a cache of a "cuda" context).
 * Layout (ABI 1): struct_size 0, reserved 4, num_tokens 8,
 * encoded_tokens 16, kv_bytes 24, codes 32, side 40, full_precision 48,
 * page_slack 56, codebooks 64, rope_table 72, workspace 80 (ABI 1.1);
 * sizeof 88. A struct_size of 80 (ABI 1.0) is accepted and `workspace` is
 * then not written. */
typedef struct cvq_cache_memory {
  uint32_t struct_size;
  uint32_t reserved;
  int64_t num_tokens;     /* tokens held by layer 0 */
  int64_t encoded_tokens; /* of those, held encoded (0 for "fp32") */
  /* The sequence's key/value storage: codes + side + full_precision +
   * page_slack. */
  int64_t kv_bytes;
  int64_t codes;          /* packed codes of encoded tokens */
  int64_t side;           /* their side data (norms, scales, factors) */
  int64_t full_precision; /* f32 keys and values: the window, or all */
  int64_t page_slack;     /* allocated page slots not used yet */
  int64_t codebooks;      /* quantizer parameters (not per token) */
  int64_t rope_table;     /* cos/sin of cached positions (not per token) */
  /* Scratch held between calls (ABI 1.1): a "cuda" cache's attention and
   * encoding workspace and cuBLAS workspace, allocated at creation; a CPU
   * cache's attention workspaces, kept for reuse (they grow to the longest
   * attention so far). */
  int64_t workspace;
} cvq_cache_memory;

/* Creates an empty cache. `context` may be NULL; otherwise it must outlive
 * the cache (attention runs on its threads). INVALID_ARGUMENT naming the
 * bad field or part of `storage`; NOT_FOUND for a missing codebook file.
 * Thread-safe. */
CVQ_EXPORT cvq_status* cvq_cache_create(cvq_context* context,
                                        const cvq_cache_options* options,
                                        cvq_cache** out);
CVQ_EXPORT void cvq_cache_destroy(cvq_cache* cache);

/* Appends t tokens to `layer` at positions length .. length + t - 1.
 *  keys:   [t, num_kv_heads, head_dim] f32, BEFORE RoPE (the cache rotates).
 *  values: [t, num_kv_heads, head_dim] f32. */
CVQ_EXPORT cvq_status* cvq_cache_append(cvq_cache* cache, int32_t layer,
                                        const cvq_tensor* keys,
                                        const cvq_tensor* values);

/* Drops every token at position >= length from every layer. */
CVQ_EXPORT cvq_status* cvq_cache_truncate(cvq_cache* cache, int64_t length);

/* Tokens cached for `layer`. */
CVQ_EXPORT cvq_status* cvq_cache_length(const cvq_cache* cache, int32_t layer,
                                        int64_t* length);

CVQ_EXPORT cvq_status* cvq_cache_memory_get(const cvq_cache* cache,
                                            cvq_cache_memory* memory);

/* Causal attention of t queries over `layer`: the query at position p
 * attends to positions 0..p, RoPE applied to it and the keys, scores scaled
 * by 1/sqrt(head_dim). Query head h reads KV head h / (num_heads /
 * num_kv_heads).
 *  queries:   [t, num_heads, head_dim] f32, BEFORE RoPE.
 *  positions: [t] i64, strictly increasing, each < length(layer).
 *  out:       [t, num_heads, head_dim] f32 (written). */
CVQ_EXPORT cvq_status* cvq_cache_attend(const cvq_cache* cache, int32_t layer,
                                        const cvq_tensor* queries,
                                        const int64_t* positions,
                                        int64_t num_positions,
                                        const cvq_tensor* out);

#ifdef __cplusplus
}
#endif

#endif /* COMMVQ_CAPI_COMMVQ_H_ */
