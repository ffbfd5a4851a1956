/* Test plugin: registers "sign_copy" and "int"; "int" collides with a
 * built-in, so the host must register neither. It borrows the function table
 * of nothing: the host must reject it before calling any function. */
#include <stddef.h>

#include "commvq/registry/plugin_api.h"

static int32_t never_train(const char* const* o, const float* x, int64_t n,
                           int64_t d, uint64_t seed, void** s, char* e,
                           size_t es) {
  (void)o; (void)x; (void)n; (void)d; (void)seed; (void)s; (void)e; (void)es;
  return 13;
}
static int32_t never_deserialize(const char* const* o, int64_t d,
                                 const uint8_t* p, size_t ps, void** s,
                                 char* e, size_t es) {
  (void)o; (void)d; (void)p; (void)ps; (void)s; (void)e; (void)es;
  return 13;
}
static void never_destroy(void* s) { (void)s; }
static void never_layout(const void* s, cvq_plugin_layout* l) {
  (void)s; (void)l;
}
static int64_t never_parameter_bytes(const void* s) { (void)s; return 0; }
static int32_t never_serialize(const void* s, uint8_t* b, size_t c, size_t* z,
                               char* e, size_t es) {
  (void)s; (void)b; (void)c; (void)z; (void)e; (void)es;
  return 13;
}
static int32_t never_encode(const void* s, const float* x, int64_t n,
                            uint8_t* c, uint8_t* d, char* e, size_t es) {
  (void)s; (void)x; (void)n; (void)c; (void)d; (void)e; (void)es;
  return 13;
}
static int32_t never_decode(const void* s, const uint8_t* c, const uint8_t* d,
                            int64_t n, float* o, char* e, size_t es) {
  (void)s; (void)c; (void)d; (void)n; (void)o; (void)e; (void)es;
  return 13;
}

#define NEVER_QUANTIZER(NAME)                                              \
  {sizeof(cvq_plugin_quantizer), NAME, "test only", NULL, 0, never_train, \
   never_deserialize, never_destroy, never_layout, never_parameter_bytes, \
   never_serialize, never_encode, never_decode}

static const cvq_plugin_quantizer kQuantizers[] = {
    NEVER_QUANTIZER("sign_copy"),
    NEVER_QUANTIZER("int"),
};

__attribute__((visibility("default"))) uint32_t cvq_plugin_init(
    const cvq_plugin_host* host, cvq_plugin_registration* registration) {
  (void)host;
  registration->quantizers = kQuantizers;
  registration->num_quantizers = 2;
  return CVQ_PLUGIN_ABI_VERSION;
}
