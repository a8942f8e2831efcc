/* libFuzzer target for the hardened zip reader and the algorithm-package layer on top of it:
 * open from memory with small limits, read every entry (counting bytes against the declared
 * sizes), parse secrets.yaml, run the upload checks.
 * Run: ./fuzz_zip -max_total_time=30 tests/fuzz/corpus/zip */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "package_internal.h"
#include "zip_internal.h"

#define CHECK(x)                                                                               \
  do {                                                                                         \
    if (!(x)) {                                                                                \
      fprintf(stderr, "check failed: %s (line %d)\n", #x, __LINE__);                           \
      abort();                                                                                 \
    }                                                                                          \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sink(void *p, const uint8_t *b, size_t l) {
  (void)b;
  *(uint64_t *)p += l;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  escrow_zip_limits lim = ESCROW_ZIP_LIMITS_INIT;
  lim.max_entries = 64;
  lim.max_entry_size = 1 << 20;
  lim.max_total_size = 4 << 20;
  escrow__zip *z = NULL;
  int rc = escrow__zip_open_mem(&z, data, size, &lim);
  if (rc == 0) {
    for (size_t i = 0; i < escrow__zip_count(z); i++) {
      const char *n = escrow__zip_name(z, i);
      CHECK(n != NULL && escrow__path_is_clean(n));
      uint64_t got = 0;
      if (escrow__zip_stream(z, i, sink, &got) == 0)
        CHECK(got == escrow__zip_size(z, i));
      CHECK(got <= escrow__zip_size(z, i));
    }
    escrow__zip_free(z);
  } else {
    CHECK(z == NULL);
  }
  escrow_algorithm *a = NULL;
  rc = escrow__algorithm_open_mem(&a, data, size, &lim);
  if (rc == 0) {
    char *json = NULL;
    CHECK(escrow_algorithm_check(a, -1, &json) == 0);
    CHECK(json != NULL && json[0] == '{');
    escrow_free(json);
    for (size_t i = 0; i < escrow_algorithm_secret_count(a); i++) {
      const char *e, *o;
      CHECK(escrow_algorithm_secret(a, i, &e, &o) == 0);
      CHECK(escrow__path_is_clean(e) && escrow__path_is_clean(o));
    }
    escrow_algorithm_free(a);
  }
  return 0;
}
