#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *tu_tmpdir(const char *tag) {
  static unsigned counter;
  escrow__mkdirs(ESCROW_TEST_TMP, 0700);
  char *p = malloc(4096);
  assert_non_null(p);
  for (;;) {
    snprintf(p, 4096, "%s/%s-%ld-%u", ESCROW_TEST_TMP, tag, (long)getpid(), counter++);
    if (mkdir(p, 0700) == 0)
      return p;
    if (errno != EEXIST)
      fail_msg("cannot create %s: %s", p, strerror(errno));
  }
}

const char *tu_vector(const char *relpath) {
  static char buf[4096];
  snprintf(buf, sizeof buf, "%s/%s", ESCROW_TEST_VECTORS, relpath);
  return buf;
}

uint8_t *tu_read(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    fail_msg("cannot open %s: %s", path, strerror(errno));
  size_t cap = 4096, n = 0;
  uint8_t *buf = malloc(cap);
  size_t r;
  while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
    n += r;
    if (n == cap)
      buf = realloc(buf, cap *= 2);
  }
  fclose(f);
  buf[n] = '\0'; /* always room: the loop grows the buffer when it fills */
  *len = n;
  return buf;
}

void tu_write(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  if (f == NULL)
    fail_msg("cannot create %s: %s", path, strerror(errno));
  if (len > 0 && fwrite(data, 1, len, f) != len)
    fail_msg("cannot write %s", path);
  fclose(f);
}

int tu_exists(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0;
}

escrow_cek *tu_cek(void) {
  escrow_cek *cek = NULL;
  assert_int_equal(escrow_cek_load(&cek, tu_vector("keys/cek.raw")), 0);
  return cek;
}

escrow_kek *tu_kek_private(void) {
  escrow_kek *k = NULL;
  assert_int_equal(escrow_kek_private_load(&k, tu_vector("keys/kek4096.key.pem")), 0);
  return k;
}

escrow_kek *tu_kek_public(void) {
  escrow_kek *k = NULL;
  assert_int_equal(escrow_kek_public_load(&k, tu_vector("keys/kek4096.pub.pem")), 0);
  return k;
}

void tu_fill(uint8_t *buf, size_t len, uint32_t seed) {
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    buf[i] = (uint8_t)x;
  }
}

unsigned long tu_alloc_failures(int (*fn)(void *ctx), void (*cleanup)(void *ctx), void *ctx,
                                int allow_other) {
  for (unsigned long k = 1;; k++) {
    escrow__test_alloc_fail_at(k);
    int rc = fn(ctx);
    unsigned long made = escrow__test_alloc_count();
    escrow__test_alloc_fail_at(0);
    if (cleanup != NULL)
      cleanup(ctx);
    if (made < k) {
      if (rc != 0)
        fail_msg("operation failed (%d: %s) with no allocation failure injected", rc,
                 escrow_error_last());
      return k - 1;
    }
    if (rc == 0)
      fail_msg("allocation %lu failed but the operation reported success", k);
    if (!allow_other && rc != ESCROW_E_NOMEM)
      fail_msg("allocation %lu failed: expected ESCROW_E_NOMEM, got %d (%s)", k, rc,
               escrow_error_last());
    if (k > 100000)
      fail_msg("too many allocation sites");
  }
}
