/* C trampolines handing libescrow's progress and write callbacks to Go (stream.go). */
#include <stddef.h>
#include <stdint.h>

#include "_cgo_export.h"

static void goesc_progress_tramp(void *payload, uint64_t done, uint64_t total) {
  goescProgress((uintptr_t)payload, done, total);
}

static int goesc_write_tramp(void *payload, const uint8_t *data, size_t len) {
  return goescWrite((uintptr_t)payload, (void *)data, len);
}

uintptr_t goesc_progress_fn(void) { return (uintptr_t)goesc_progress_tramp; }
uintptr_t goesc_write_fn(void) { return (uintptr_t)goesc_write_tramp; }
