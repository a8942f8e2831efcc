/* libFuzzer target for the key readers: CEK encodings, public and private KEK parsers (DER,
 * PEM, base64), and WCEK unwrapping with the fixture RSA-4096 key when the input is 512 bytes.
 *
 * The fixture key is found in $ESCROW_TEST_VECTORS/keys/kek4096.key.pem, else beside this
 * source file (../vectors/keys). Run: ./fuzz_keys -max_total_time=30 corpus/ */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static escrow_kek *fixture;

static void load_fixture(void) {
  char path[4096];
  const char *vectors = getenv("ESCROW_TEST_VECTORS");
  if (vectors != NULL) {
    snprintf(path, sizeof path, "%s/keys/kek4096.key.pem", vectors);
  } else {
    const char *here = __FILE__;
    const char *slash = strrchr(here, '/');
    int dl = slash == NULL ? 1 : (int)(slash - here);
    snprintf(path, sizeof path, "%.*s/../vectors/keys/kek4096.key.pem", dl,
             slash == NULL ? "." : here);
  }
  if (escrow_kek_private_load(&fixture, path) != 0) {
    fprintf(stderr, "fuzz_keys: cannot load %s: %s\n", path, escrow_error_last());
    abort();
  }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  if (escrow_init() != 0)
    abort();
  load_fixture();
  return 0;
}

static void check(int rc, const void *handle) {
  /* A reader either succeeds with a handle or fails with a code and no handle. */
  if ((rc == 0) != (handle != NULL))
    abort();
  if (rc != 0 && escrow_error_last()[0] == '\0')
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  escrow_cek *cek = NULL;
  int rc = escrow_cek_from_bytes(&cek, data, size);
  check(rc, cek);
  if (rc == 0) {
    /* What was accepted saves and reads back as the same key. */
    uint8_t k[ESCROW_CEK_BYTES];
    if (escrow_cek_export(cek, k) != 0)
      abort();
    escrow_cek *again = NULL;
    if (escrow_cek_from_bytes(&again, k, sizeof k) != 0 || !escrow_cek_equal(cek, again))
      abort();
    escrow_cek_free(again);
  }
  escrow_cek_free(cek);

  escrow_kek *pub = NULL;
  rc = escrow_kek_public_from_bytes(&pub, data, size);
  check(rc, pub);
  if (rc == 0) {
    uint8_t *der = NULL;
    size_t dl = 0;
    escrow_kek *back = NULL;
    char a[ESCROW_KEY_ID_SIZE], b[ESCROW_KEY_ID_SIZE];
    if (escrow_kek_public_export(pub, ESCROW_KEY_DER, &der, &dl) != 0 ||
        escrow_kek_public_from_bytes(&back, der, dl) != 0 ||
        escrow_kek_key_id(pub, a, sizeof a) != 0 || escrow_kek_key_id(back, b, sizeof b) != 0 ||
        strcmp(a, b) != 0)
      abort();
    escrow_free(der);
    escrow_kek_free(back);
  }
  escrow_kek_free(pub);

  escrow_kek *priv = NULL;
  rc = escrow_kek_private_from_bytes(&priv, data, size);
  check(rc, priv);
  if (rc == 0 && !escrow_kek_has_private(priv))
    abort();
  escrow_kek_free(priv);

  if (size == 512) {
    escrow_oaep_hash used;
    rc = escrow_wcek_unwrap(&cek, fixture, data, size, ESCROW_OAEP_AUTO, &used);
    check(rc, cek);
    if (rc != 0 && rc != ESCROW_E_AUTH)
      abort();
    escrow_cek_free(cek);
  }
  return 0;
}
