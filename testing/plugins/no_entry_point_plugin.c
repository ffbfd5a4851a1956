/* Test plugin: a valid shared object that does not export cvq_plugin_init. */
#include <stdint.h>

__attribute__((visibility("default"))) uint32_t some_other_function(void) {
  return 1;
}
