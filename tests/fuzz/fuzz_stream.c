/* libFuzzer target for BKENC v1 streams with a fixed CEK (the fixture key of
 * tests/vectors/keys/cek.raw, embedded). The first input byte picks a mode:
 *   0, 1  decrypt the rest as a stream, fed in pieces sized by byte 1; when it succeeds, the
 *         random-access reader must give the same plaintext, and vice versa;
 *   2     encrypt the rest (chunk size 2^14, pieces sized by byte 1), then decrypt: round trip;
 *   3     random access: open the rest with the reader and read it at offsets from the data.
 * Seeds (tests/fuzz/corpus/stream) are valid files prefixed with a mode byte, so the fuzzer
 * gets past the header tag. Run: ./fuzz_stream -max_total_time=30 tests/fuzz/corpus/stream */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope_internal.h"
#include "fuzz_common.h"

typedef struct mem {
  const uint8_t *p;
  size_t n;
} mem;

static int mem_read_at(void *payload, uint64_t off, uint8_t *buf, size_t len, size_t *got) {
  mem *m = payload;
  size_t n = off >= m->n ? 0 : (m->n - (size_t)off < len ? m->n - (size_t)off : len);
  if (n > 0)
    memcpy(buf, m->p + off, n);
  *got = n;
  return 0;
}

static size_t piece(unsigned *x, unsigned sel) {
  *x = *x * 1103515245u + 12345u;
  switch (sel % 4) {
  case 0: return SIZE_MAX;
  case 1: return 1 + (*x >> 16) % 7;
  case 2: return 1 + (*x >> 8) % 40000;
  default: return 16399 + (*x >> 16) % 3;
  }
}

/* Decrypt in pieces. Returns the code; *pt (size+1 bytes) and *len the plaintext. */
static int decrypt(const uint8_t *d, size_t n, unsigned sel, uint8_t **pt, size_t *len) {
  escrow_decryptor *dec = NULL;
  if (escrow_decryptor_new(&dec, fuzz_fixture_cek(), NULL) != 0)
    abort();
  uint8_t *out = malloc(n + 1);
  size_t pos = 0, w = 0, got = 0;
  unsigned x = sel;
  int rc = 0;
  while (rc == 0 && pos < n) {
    size_t k = piece(&x, sel);
    if (k > n - pos)
      k = n - pos;
    size_t bound = escrow_decryptor_update_bound(dec, k);
    CHECK(w + bound <= n + 1);
    rc = escrow_decryptor_update(dec, out + w, n + 1 - w, &got, d + pos, k);
    CHECK(got <= bound);
    w += got;
    pos += k;
  }
  if (rc == 0) {
    rc = escrow_decryptor_final(dec, out + w, n + 1 - w, &got);
    w += got;
  }
  if (rc == 0) {
    CHECK(escrow_decryptor_header(dec) != NULL);
    uint64_t ps = 0;
    const escrow_header *h = escrow_decryptor_header(dec);
    CHECK(escrow_bkenc_plaintext_size(&ps, n, escrow_header_log2cs(h),
                                      escrow_header_length(h)) == 0);
    CHECK(ps == w);
  } else {
    CHECK(escrow_decryptor_update(dec, out, n + 1, &got, d, 0) == ESCROW_E_STATE);
  }
  escrow_decryptor_free(dec);
  *pt = out;
  *len = w;
  return rc;
}

static void reader_check(const uint8_t *d, size_t n, const uint8_t *expect, size_t expect_len,
                         int expect_ok, unsigned sel) {
  mem m = {d, n};
  escrow_reader *r = NULL;
  int rc = escrow_reader_open(&r, fuzz_fixture_cek(), mem_read_at, &m, n, NULL);
  if (rc != 0) {
    CHECK(!expect_ok);
    return;
  }
  uint64_t size = escrow_reader_size(r);
  uint8_t *buf = malloc(size + 1);
  size_t done = 0, got = 0;
  unsigned x = sel;
  int prc = 0;
  while (prc == 0 && done < size) {
    size_t k = piece(&x, sel);
    prc = escrow_reader_pread(r, buf + done, k, done, &got);
    if (prc == 0) {
      CHECK(got > 0);
      done += got;
    }
  }
  if (expect_ok) {
    CHECK(prc == 0 && size == expect_len && memcmp(buf, expect, expect_len) == 0);
  } else if (prc == 0) {
    /* The reader accepted every chunk: the stream decryptor must have failed only on
     * something the reader does not see (none exists), so this is a bug. */
    CHECK(0);
  }
  /* Random offsets from the data itself. */
  for (size_t i = 0; prc == 0 && i + 8 <= n && i < 64; i += 8) {
    uint64_t off = 0;
    memcpy(&off, d + i, 8);
    off %= size + 2;
    prc = escrow_reader_pread(r, buf, (size_t)(size - (off > size ? size : off)), off, &got);
    if (prc == 0 && got > 0)
      CHECK(memcmp(buf, expect + off, got) == 0);
  }
  free(buf);
  escrow_reader_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  escrow_cek *cek = fuzz_fixture_cek();
  if (size < 2)
    return 0;
  unsigned mode = data[0] % 4, sel = data[1];
  const uint8_t *d = data + 2;
  size_t n = size - 2;
  uint8_t *pt = NULL;
  size_t len = 0;
  if (mode <= 1 || mode == 3) {
    int rc = decrypt(d, n, sel, &pt, &len);
    reader_check(d, n, pt, len, rc == 0, sel);
    free(pt);
    return 0;
  }
  /* mode 2: round trip */
  escrow_encrypt_options o = ESCROW_ENCRYPT_OPTIONS_INIT;
  o.log2cs = 14;
  o.context.path = (sel & 1) ? "fuzz/input.bin" : NULL;
  escrow_encryptor *e = NULL;
  CHECK(escrow_encryptor_new(&e, cek, &o) == 0);
  size_t cap = (size_t)escrow_bkenc_ciphertext_size(n, 14, escrow_header_length(escrow_encryptor_header(e)));
  uint8_t *ct = malloc(cap);
  size_t pos = 0, w = 0, got = 0;
  unsigned x = sel;
  while (pos < n) {
    size_t k = piece(&x, sel);
    if (k > n - pos)
      k = n - pos;
    CHECK(escrow_encryptor_update(e, ct + w, cap - w, &got, d + pos, k) == 0);
    w += got;
    pos += k;
  }
  CHECK(escrow_encryptor_final(e, ct + w, cap - w, &got) == 0);
  w += got;
  CHECK(w == cap);
  escrow_encryptor_free(e);
  CHECK(decrypt(ct, w, sel >> 2, &pt, &len) == 0);
  CHECK(len == n && memcmp(pt, d, n) == 0);
  reader_check(ct, w, pt, len, 1, sel >> 3);
  free(pt);
  free(ct);
  return 0;
}
