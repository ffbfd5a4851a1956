/* The C interface between CommVQ and quantizer plugins.
 *
 * A plugin is a shared object that exports exactly one symbol,
 * `cvq_plugin_init` (type cvq_plugin_init_fn). The host loads it from an
 * explicit path with RTLD_NOW | RTLD_LOCAL, calls cvq_plugin_init once and
 * never unloads it, so every table and string a plugin hands out must live as
 * long as the process (static storage).
 *
 * C99, no dependencies: a plugin can be written in C, C++, Rust, ... and
 * built with another compiler than the host.
 *
 * Status codes are absl::StatusCode values: 0 OK, 3 INVALID_ARGUMENT,
 * 13 INTERNAL, ... On failure a function writes a NUL-terminated message of
 * at most `error_size` bytes (including the NUL) into `error`.
 */
#ifndef COMMVQ_REGISTRY_PLUGIN_API_H_
#define COMMVQ_REGISTRY_PLUGIN_API_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change of the structs below. */
#define CVQ_PLUGIN_ABI_VERSION 1
#define CVQ_PLUGIN_ENTRY_POINT "cvq_plugin_init"

/* cvq_plugin_option.type */
#define CVQ_PLUGIN_OPTION_INT 0
#define CVQ_PLUGIN_OPTION_FLOAT 1
#define CVQ_PLUGIN_OPTION_STRING 2
#define CVQ_PLUGIN_OPTION_BOOL 3

/* One option of a quantizer's spec string. The host validates values
 * against it (type, range, choices) before the plugin sees them. */
typedef struct cvq_plugin_option {
  const char* name;          /* [a-z0-9_]+ */
  int32_t type;              /* CVQ_PLUGIN_OPTION_* */
  const char* default_value; /* NULL makes the option required */
  const char* help;
  double min, max;           /* inclusive bounds for INT and FLOAT */
  const char* choices;       /* STRING: "a|b|c", or NULL for any value */
} cvq_plugin_option;

/* Encoded layout of one trained quantizer; see commvq/quantizer/code_layout.h.
 * code_bytes must equal ceil(code_bits / 8). */
typedef struct cvq_plugin_layout {
  int64_t code_bits;
  int64_t code_bytes;
  int64_t side_bytes;    /* per block */
  int64_t block_vectors; /* >= 1 */
} cvq_plugin_layout;

/* A quantizer kind. `state` is the plugin's trained quantizer. The host
 * calls encode, decode, layout, parameter_bytes and serialize concurrently
 * from several threads on one state: they must not modify it.
 *
 * option_values: one string per declared option, in declaration order,
 * already validated (defaults filled in).
 * Tensors are row-major: input/output [num_vectors, dim] float;
 * codes [num_vectors, code_bytes]; side [num_vectors / block_vectors,
 * side_bytes]. Inputs are finite; num_vectors is a multiple of
 * block_vectors. */
typedef struct cvq_plugin_quantizer {
  uint32_t struct_size; /* sizeof(cvq_plugin_quantizer) */
  const char* name;     /* registry name, [a-z0-9_]+, unique */
  const char* summary;
  const cvq_plugin_option* options;
  uint32_t num_options;

  int32_t (*train)(const char* const* option_values, const float* samples,
                   int64_t num_samples, int64_t dim, uint64_t seed,
                   void** state, char* error, size_t error_size);
  int32_t (*deserialize)(const char* const* option_values, int64_t dim,
                         const uint8_t* payload, size_t payload_size,
                         void** state, char* error, size_t error_size);
  void (*destroy)(void* state);
  void (*layout)(const void* state, cvq_plugin_layout* layout);
  int64_t (*parameter_bytes)(const void* state);
  /* Sets *size to the payload size; writes the payload only if
   * capacity >= *size (call with buffer NULL, capacity 0 to query). */
  int32_t (*serialize)(const void* state, uint8_t* buffer, size_t capacity,
                       size_t* size, char* error, size_t error_size);
  int32_t (*encode)(const void* state, const float* input,
                    int64_t num_vectors, uint8_t* codes, uint8_t* side,
                    char* error, size_t error_size);
  int32_t (*decode)(const void* state, const uint8_t* codes,
                    const uint8_t* side, int64_t num_vectors, float* output,
                    char* error, size_t error_size);
} cvq_plugin_quantizer;

/* What the host offers the plugin. */
typedef struct cvq_plugin_host {
  uint32_t struct_size;
  uint32_t abi_version; /* the host's CVQ_PLUGIN_ABI_VERSION */
} cvq_plugin_host;

/* What the plugin registers: filled in by cvq_plugin_init. */
typedef struct cvq_plugin_registration {
  uint32_t struct_size; /* set by the host */
  const cvq_plugin_quantizer* quantizers;
  uint32_t num_quantizers;
} cvq_plugin_registration;

/* Returns the CVQ_PLUGIN_ABI_VERSION the plugin was built with. The host
 * reads `registration` only when that equals its own version. */
typedef uint32_t (*cvq_plugin_init_fn)(const cvq_plugin_host* host,
                                       cvq_plugin_registration* registration);

#ifdef __cplusplus
}
#endif

#endif /* COMMVQ_REGISTRY_PLUGIN_API_H_ */
