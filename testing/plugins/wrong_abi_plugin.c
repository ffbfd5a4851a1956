/* Test plugin: claims a future ABI version; the host must refuse it without
 * reading its registration. */
#include "commvq/registry/plugin_api.h"

__attribute__((visibility("default"))) uint32_t cvq_plugin_init(
    const cvq_plugin_host* host, cvq_plugin_registration* registration) {
  (void)host;
  registration->quantizers = (const cvq_plugin_quantizer*)0x1; /* poison */
  registration->num_quantizers = 1000;
  return CVQ_PLUGIN_ABI_VERSION + 998;
}
