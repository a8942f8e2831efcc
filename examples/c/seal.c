/*
 * seal: encrypt standard input to standard output as BKENC v1 with a CEK file, or decrypt it
 * back, using libescrow's sans-I/O stream API. A minimal embedding example.
 *
 *   seal encrypt CEK < plain > sealed.bkenc
 *   seal decrypt CEK < sealed.bkenc > plain     (exit 1, nothing unverified written, on tamper)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <escrow/escrow.h>

enum { IN_CHUNK = 1 << 20 };

static int fail(const char *what, int rc) {
  fprintf(stderr, "seal: %s: %s (%s)\n", what, escrow_error_last(), escrow_strerror(rc));
  return rc == ESCROW_E_IO || rc == ESCROW_E_NOMEM || rc == ESCROW_E_INVALID ? 2 : 1;
}

static int put(const uint8_t *buf, size_t len) {
  return len == 0 || fwrite(buf, 1, len, stdout) == len ? 0 : -1;
}

int main(int argc, char **argv) {
  if (argc != 3 || (strcmp(argv[1], "encrypt") != 0 && strcmp(argv[1], "decrypt") != 0)) {
    fprintf(stderr, "usage: seal encrypt|decrypt CEKFILE < in > out\n");
    return 2;
  }
  int encrypt = strcmp(argv[1], "encrypt") == 0;
  escrow_cek *cek = NULL;
  int rc = escrow_cek_load(&cek, argv[2]);
  if (rc != 0)
    return fail("cannot load the CEK", rc);

  escrow_encryptor *enc = NULL;
  escrow_decryptor *dec = NULL;
  rc = encrypt ? escrow_encryptor_new(&enc, cek, NULL) : escrow_decryptor_new(&dec, cek, NULL);
  if (rc != 0) {
    escrow_cek_free(cek);
    return fail("cannot start", rc);
  }
  size_t out_cap = encrypt ? escrow_encryptor_update_bound(enc, IN_CHUNK)
                           : escrow_decryptor_update_bound(dec, IN_CHUNK);
  size_t final_cap = encrypt ? escrow_encryptor_final_bound(enc) : escrow_decryptor_final_bound(dec);
  if (final_cap > out_cap)
    out_cap = final_cap;
  uint8_t *in = malloc(IN_CHUNK), *out = malloc(out_cap);
  int status = 0;
  if (in == NULL || out == NULL) {
    fprintf(stderr, "seal: out of memory\n");
    status = 2;
    goto done;
  }
  size_t n, written;
  while ((n = fread(in, 1, IN_CHUNK, stdin)) > 0) {
    rc = encrypt ? escrow_encryptor_update(enc, out, out_cap, &written, in, n)
                 : escrow_decryptor_update(dec, out, out_cap, &written, in, n);
    if (rc != 0) {
      status = fail(encrypt ? "encryption failed" : "refusing the input", rc);
      goto done;
    }
    if (put(out, written) != 0) {
      fprintf(stderr, "seal: cannot write the output\n");
      status = 2;
      goto done;
    }
  }
  if (ferror(stdin)) {
    fprintf(stderr, "seal: cannot read the input\n");
    status = 2;
    goto done;
  }
  rc = encrypt ? escrow_encryptor_final(enc, out, out_cap, &written)
               : escrow_decryptor_final(dec, out, out_cap, &written);
  if (rc != 0) {
    status = fail(encrypt ? "encryption failed" : "refusing the input", rc);
    goto done;
  }
  if (put(out, written) != 0 || fflush(stdout) != 0) {
    fprintf(stderr, "seal: cannot write the output\n");
    status = 2;
  }
done:
  free(in);
  free(out);
  escrow_encryptor_free(enc);
  escrow_decryptor_free(dec);
  escrow_cek_free(cek);
  return status;
}
