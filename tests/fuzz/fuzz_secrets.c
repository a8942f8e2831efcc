/* libFuzzer target for the secrets.yaml reader (libyaml events and the unquoted-line fallback)
 * and the writer: whatever parses yields clean paths, and writing then re-reading round-trips.
 * Run: ./fuzz_secrets -max_total_time=30 tests/fuzz/corpus/secrets */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "secrets_internal.h"

#define CHECK(x)                                                                               \
  do {                                                                                         \
    if (!(x)) {                                                                                \
      fprintf(stderr, "check failed: %s (line %d)\n", #x, __LINE__);                           \
      abort();                                                                                 \
    }                                                                                          \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  escrow__secrets s;
  int rc = escrow__secrets_parse(&s, data, size);
  if (rc == 0) {
    for (size_t i = 0; i < s.n; i++)
      CHECK(escrow__path_is_clean(s.pairs[i].encrypted) &&
            escrow__path_is_clean(s.pairs[i].original));
    char *y = NULL;
    size_t yl = 0;
    CHECK(escrow__secrets_write(&s, &y, &yl) == 0);
    escrow__secrets back;
    CHECK(escrow__secrets_parse(&back, (const uint8_t *)y, yl) == 0);
    CHECK(back.n == s.n && back.used_fallback == 0);
    for (size_t i = 0; i < s.n; i++) {
      CHECK(strcmp(back.pairs[i].encrypted, s.pairs[i].encrypted) == 0);
      CHECK(strcmp(back.pairs[i].original, s.pairs[i].original) == 0);
    }
    escrow__secrets_clear(&back);
    escrow__free(y);
  } else {
    CHECK(rc == ESCROW_E_FORMAT || rc == ESCROW_E_LIMIT);
  }
  escrow__secrets_clear(&s);
  return 0;
}
