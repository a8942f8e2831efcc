/* libFuzzer target for the List Blobs XML reader (escrow__blob_list_parser): the input is one
 * response body, fed whole and then again in pieces whose sizes come from the first byte.
 * Invariants: both feedings agree (same code, same blobs, same marker); every reported name is
 * non-empty valid UTF-8 of at most 1024 bytes; errors are only the documented codes.
 * Run: ./fuzz_blob_list -max_total_time=30 tests/fuzz/corpus/blob_list */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob_internal.h"

#define CHECK(x)                                                                               \
  do {                                                                                         \
    if (!(x)) {                                                                                \
      fprintf(stderr, "check failed: %s (line %d)\n", #x, __LINE__);                           \
      abort();                                                                                 \
    }                                                                                          \
  } while (0)

typedef struct tally {
  size_t n;
  uint64_t size_sum;
  unsigned long name_hash;
} tally;

static int on_item(void *payload, const escrow_blob_item *it) {
  tally *t = payload;
  size_t len = strlen(it->name);
  CHECK(len > 0 && len <= ESCROW__BLOB_NAME_MAX);
  CHECK(escrow__utf8_valid((const uint8_t *)it->name, len));
  for (size_t i = 0; i < len; i++)
    t->name_hash = t->name_hash * 31 + (unsigned char)it->name[i];
  t->n++;
  t->size_sum += it->size;
  return 0;
}

static int run(const uint8_t *data, size_t size, size_t step, tally *t, char **marker) {
  escrow__blob_list_parser *p;
  int rc = escrow__blob_list_parser_new(&p, on_item, t);
  CHECK(rc == 0);
  for (size_t i = 0; rc == 0 && i < size; i += step) {
    size_t n = size - i < step ? size - i : step;
    rc = escrow__blob_list_parser_feed(p, (const char *)data + i, n);
  }
  if (rc == 0)
    rc = escrow__blob_list_parser_finish(p, marker);
  CHECK(rc == 0 || rc == ESCROW_E_FORMAT || rc == ESCROW_E_LIMIT);
  CHECK(escrow__blob_list_parser_count(p) == t->n);
  escrow__blob_list_parser_free(p);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  tally a = {0}, b = {0};
  char *ma = NULL, *mb = NULL;
  int ra = run(data, size, size ? size : 1, &a, &ma);
  size_t step = size ? (size_t)(data[0] % 17) + 1 : 1;
  int rb = run(data, size, step, &b, &mb);
  CHECK(ra == rb);
  if (ra == 0) {
    CHECK(a.n == b.n && a.size_sum == b.size_sum && a.name_hash == b.name_hash);
    CHECK((ma == NULL) == (mb == NULL));
    if (ma)
      CHECK(strcmp(ma, mb) == 0);
  }
  escrow__free(ma);
  escrow__free(mb);
  return 0;
}
