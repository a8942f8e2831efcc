/* libFuzzer target for the BKENC v1 header parser (escrow_header_parse), the header check with
 * a fixed CEK, and the streaming decryptor's header stage.
 *
 * The CEK is the fixture key of tests/vectors/keys/cek.raw (embedded), so the seeds, headers of
 * the BKENC vectors, get past the header tag and the fuzzer explores what follows.
 * Run: ./fuzz_header -max_total_time=30 tests/fuzz/corpus/header */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope_internal.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  escrow_cek *cek = fuzz_fixture_cek();
  escrow_header *h = NULL;
  size_t need = 0;
  int rc = escrow_header_parse(&h, data, size, &need);
  if (rc == ESCROW_E_TRUNCATED)
    CHECK(need > size && need <= ESCROW_BKENC_HEADER_MAX);
  if (rc != 0) {
    CHECK(h == NULL);
    CHECK(rc == ESCROW_E_FORMAT || rc == ESCROW_E_UNSUPPORTED || rc == ESCROW_E_LIMIT ||
          rc == ESCROW_E_TRUNCATED);
  } else {
    size_t len = escrow_header_length(h);
    CHECK(len >= ESCROW_BKENC_HEADER_MIN && len <= size && len <= ESCROW_BKENC_HEADER_MAX);
    CHECK(escrow_header_log2cs(h) >= ESCROW_BKENC_LOG2CS_MIN &&
          escrow_header_log2cs(h) <= ESCROW_BKENC_LOG2CS_MAX);
    CHECK(memcmp(escrow_header_salt(h), data + 12, 32) == 0);
    CHECK(memcmp(escrow_header_hdrtag(h), data + len - 32, 32) == 0);
    for (unsigned t = 0; t < 300; t++) {
      const char *v = escrow_header_context(h, t);
      if (v != NULL) {
        CHECK(t >= 1 && t < 0x80);
        CHECK(v[0] != '\0' && escrow__utf8_valid((const uint8_t *)v, strlen(v)));
        if (t == 4)
          CHECK(escrow__path_is_clean(v));
      }
    }
    int vr = escrow_header_verify(h, cek);
    CHECK(vr == 0 || vr == ESCROW_E_AUTH);
    escrow_header_free(h);
  }
  escrow_detect_format(data, size);

  /* The decryptor's header stage, fed the same bytes in two pieces, agrees with the parser. */
  escrow_decryptor *d = NULL;
  if (escrow_decryptor_new(&d, cek, NULL) != 0)
    abort();
  uint8_t *out = malloc(size + 1);
  size_t w = 0, half = size / 2;
  int dr = escrow_decryptor_update(d, out, size + 1, &w, data, half);
  if (dr == 0) {
    size_t w2 = 0;
    dr = escrow_decryptor_update(d, out + w, size + 1 - w, &w2, data + half, size - half);
    w += dr == 0 ? w2 : 0;
  }
  if (rc != 0 && rc != ESCROW_E_TRUNCATED)
    CHECK(dr == rc);
  CHECK(w <= size);
  escrow_decryptor_free(d);
  free(out);
  return 0;
}
