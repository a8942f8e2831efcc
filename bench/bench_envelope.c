/*
 * BKENC v1 envelope benchmarks (bench/README.md):
 *  1. throughput of a 1 GiB in-memory stream at 64 KiB chunks through the sans-I/O API
 *     (escrow_encryptor_update / escrow_decryptor_update fed PIECE bytes at a time into a
 *     preallocated output buffer), against `openssl speed -evp aes-256-gcm -bytes 16384` run in
 *     the same process run; CPU time (as openssl speed measures) and wall time, best of 3;
 *  2. per-file setup cost: escrow_encryptor_new + escrow_encryptor_final on empty input (and the
 *     decryptor's new + update(empty file) + final), averaged over N runs.
 *
 * usage: bench_envelope [--mib M] [--piece-mib P] [--log2cs L] [--setup N] [--runs R]
 *                       [--openssl-seconds S] [--no-openssl]
 * Defaults: 1024 MiB, 1 MiB pieces, log2cs 16, 100000 setups, best of 3, 3 s of openssl speed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <escrow/escrow.h>

#define MIB ((size_t)1 << 20)

static double now(clockid_t clk) {
  struct timespec ts;
  clock_gettime(clk, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, int rc) {
  fprintf(stderr, "bench_envelope: %s failed: %s (%s)\n", what, escrow_strerror(rc),
          escrow_error_last());
  exit(2);
}

static void *xmalloc(size_t n) {
  void *p = malloc(n);
  if (p == NULL) {
    fprintf(stderr, "bench_envelope: cannot allocate %zu bytes\n", n);
    exit(2);
  }
  return p;
}

typedef struct {
  double cpu, wall; /* seconds */
} timing;

/* Encrypt total bytes (the piece repeated) into ct; returns the ciphertext length. */
static size_t run_encrypt(const escrow_cek *cek, unsigned log2cs, const uint8_t *piece,
                          size_t piece_len, size_t total, uint8_t *ct, size_t ct_cap, timing *t) {
  escrow_encrypt_options opts = ESCROW_ENCRYPT_OPTIONS_INIT;
  opts.log2cs = log2cs;
  double c0 = now(CLOCK_PROCESS_CPUTIME_ID), w0 = now(CLOCK_MONOTONIC);
  escrow_encryptor *e = NULL;
  int rc = escrow_encryptor_new(&e, cek, &opts);
  if (rc != 0)
    die("escrow_encryptor_new", rc);
  size_t w = 0;
  for (size_t done = 0; done < total; done += piece_len) {
    size_t n = total - done < piece_len ? total - done : piece_len;
    size_t got = 0;
    rc = escrow_encryptor_update(e, ct + w, ct_cap - w, &got, piece, n);
    if (rc != 0)
      die("escrow_encryptor_update", rc);
    w += got;
  }
  size_t got = 0;
  rc = escrow_encryptor_final(e, ct + w, ct_cap - w, &got);
  if (rc != 0)
    die("escrow_encryptor_final", rc);
  w += got;
  escrow_encryptor_free(e);
  t->cpu = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
  t->wall = now(CLOCK_MONOTONIC) - w0;
  return w;
}

/* Decrypt ct fed piece_len bytes at a time into one reused output buffer. */
static uint64_t run_decrypt(const escrow_cek *cek, const uint8_t *ct, size_t ct_len,
                            size_t piece_len, uint8_t *out, size_t out_cap, timing *t) {
  double c0 = now(CLOCK_PROCESS_CPUTIME_ID), w0 = now(CLOCK_MONOTONIC);
  escrow_decryptor *d = NULL;
  int rc = escrow_decryptor_new(&d, cek, NULL);
  if (rc != 0)
    die("escrow_decryptor_new", rc);
  uint64_t total = 0;
  for (size_t done = 0; done < ct_len; done += piece_len) {
    size_t n = ct_len - done < piece_len ? ct_len - done : piece_len;
    size_t got = 0;
    rc = escrow_decryptor_update(d, out, out_cap, &got, ct + done, n);
    if (rc != 0)
      die("escrow_decryptor_update", rc);
    total += got;
  }
  size_t got = 0;
  rc = escrow_decryptor_final(d, out, out_cap, &got);
  if (rc != 0)
    die("escrow_decryptor_final", rc);
  total += got;
  escrow_decryptor_free(d);
  t->cpu = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
  t->wall = now(CLOCK_MONOTONIC) - w0;
  return total;
}

/* `openssl speed` figure for 16384-byte blocks, in bytes per second (0 if unavailable). */
static double openssl_speed(int seconds, char *cmd, size_t cmd_size) {
  snprintf(cmd, cmd_size, "openssl speed -evp aes-256-gcm -bytes 16384 -seconds %d", seconds);
  char full[300];
  snprintf(full, sizeof full, "%s 2>/dev/null", cmd);
  FILE *p = popen(full, "r");
  if (p == NULL)
    return 0;
  char line[512];
  double v = 0;
  int in_table = 0;
  while (fgets(line, sizeof line, p) != NULL) {
    if (strncmp(line, "type", 4) == 0 && strstr(line, "16384 bytes") != NULL) {
      in_table = 1;
      continue;
    }
    if (in_table) {
      /* "AES-256-GCM    4567890.12k": the figure is in 1000s of bytes per second. */
      char *k = strrchr(line, 'k');
      char *sp = k;
      while (sp != NULL && sp > line && sp[-1] != ' ' && sp[-1] != '\t')
        sp--;
      if (k != NULL && sp != NULL) {
        v = strtod(sp, NULL) * 1000.0;
        in_table = 0;
      }
    }
  }
  pclose(p);
  return v;
}

static double best_of(const timing *t, int runs, int cpu) {
  double b = 0;
  for (int i = 0; i < runs; i++) {
    double x = cpu ? t[i].cpu : t[i].wall;
    if (i == 0 || x < b)
      b = x;
  }
  return b;
}

int main(int argc, char **argv) {
  size_t mib = 1024, piece_mib = 1;
  unsigned log2cs = 16;
  long setups = 100000;
  int runs = 3, ossl_seconds = 3, use_openssl = 1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--no-openssl") == 0) {
      use_openssl = 0;
      continue;
    }
    if (v == NULL) {
      fprintf(stderr, "usage: see the comment at the top of bench/bench_envelope.c\n");
      return 2;
    }
    if (strcmp(a, "--mib") == 0)
      mib = strtoul(v, NULL, 10);
    else if (strcmp(a, "--piece-mib") == 0)
      piece_mib = strtoul(v, NULL, 10);
    else if (strcmp(a, "--log2cs") == 0)
      log2cs = (unsigned)strtoul(v, NULL, 10);
    else if (strcmp(a, "--setup") == 0)
      setups = strtol(v, NULL, 10);
    else if (strcmp(a, "--runs") == 0)
      runs = (int)strtol(v, NULL, 10);
    else if (strcmp(a, "--openssl-seconds") == 0)
      ossl_seconds = (int)strtol(v, NULL, 10);
    else {
      fprintf(stderr, "bench_envelope: unknown option %s\n", a);
      return 2;
    }
    i++;
  }
  if (mib == 0 || piece_mib == 0 || runs < 1 || runs > 10 || setups < 1) {
    fprintf(stderr, "bench_envelope: bad option value\n");
    return 2;
  }
  printf("command: ");
  for (int i = 0; i < argc; i++)
    printf("%s%s", i ? " " : "", argv[i]);
  printf("\n");

  escrow_cek *cek = NULL;
  int rc = escrow_cek_generate(&cek);
  if (rc != 0)
    die("escrow_cek_generate", rc);

  size_t total = mib * MIB, piece_len = piece_mib * MIB;
  uint8_t *piece = xmalloc(piece_len);
  for (size_t i = 0; i < piece_len; i++)
    piece[i] = (uint8_t)(i * 2654435761u >> 13);
  size_t cs = (size_t)1 << log2cs;
  size_t ct_cap = escrow_bkenc_ciphertext_size(total, log2cs, ESCROW_BKENC_HEADER_MAX);
  uint8_t *ct = xmalloc(ct_cap);
  memset(ct, 0, ct_cap); /* fault the pages in before timing */
  size_t out_cap = piece_len + 2 * cs + 64;
  uint8_t *out = xmalloc(out_cap);
  memset(out, 0, out_cap);

  timing enc[10], dec[10];
  size_t ct_len = 0;
  for (int r = 0; r < runs; r++)
    ct_len = run_encrypt(cek, log2cs, piece, piece_len, total, ct, ct_cap, &enc[r]);
  for (int r = 0; r < runs; r++) {
    uint64_t got = run_decrypt(cek, ct, ct_len, piece_len, out, out_cap, &dec[r]);
    if (got != total) {
      fprintf(stderr, "bench_envelope: decrypted %llu bytes, expected %zu\n",
              (unsigned long long)got, total);
      return 2;
    }
  }
  double mb = (double)total / 1e6;
  double enc_cpu = mb / best_of(enc, runs, 1), enc_wall = mb / best_of(enc, runs, 0);
  double dec_cpu = mb / best_of(dec, runs, 1), dec_wall = mb / best_of(dec, runs, 0);
  printf("stream: %zu MiB, %zu KiB chunks (log2cs %u), %zu MiB pieces, best of %d\n", mib,
         cs / 1024, log2cs, piece_mib, runs);
  printf("  encrypt: %8.1f MB/s CPU  %8.1f MB/s wall\n", enc_cpu, enc_wall);
  printf("  decrypt: %8.1f MB/s CPU  %8.1f MB/s wall\n", dec_cpu, dec_wall);

  if (use_openssl) {
    char cmd[200];
    double ossl = openssl_speed(ossl_seconds, cmd, sizeof cmd) / 1e6;
    if (ossl > 0) {
      printf("openssl: %8.1f MB/s (`%s`, 16384-byte blocks, CPU time)\n", ossl, cmd);
      printf("  ratio encrypt/openssl: %.3f (CPU)  %.3f (wall)   goal >= 0.85\n", enc_cpu / ossl,
             enc_wall / ossl);
      printf("  ratio decrypt/openssl: %.3f (CPU)  %.3f (wall)   goal >= 0.85\n", dec_cpu / ossl,
             dec_wall / ossl);
    } else {
      printf("openssl: `%s` gave no figure (is openssl on PATH?)\n", cmd);
    }
  }
  free(out);
  free(ct);
  free(piece);

  /* Per-file setup: a new encryptor finished on empty input. */
  uint8_t small[ESCROW_BKENC_HEADER_MAX + 64];
  size_t small_len = 0;
  double c0 = now(CLOCK_PROCESS_CPUTIME_ID), w0 = now(CLOCK_MONOTONIC);
  for (long i = 0; i < setups; i++) {
    escrow_encryptor *e = NULL;
    rc = escrow_encryptor_new(&e, cek, NULL);
    if (rc != 0)
      die("escrow_encryptor_new", rc);
    rc = escrow_encryptor_final(e, small, sizeof small, &small_len);
    if (rc != 0)
      die("escrow_encryptor_final", rc);
    escrow_encryptor_free(e);
  }
  double enc_setup_cpu = (now(CLOCK_PROCESS_CPUTIME_ID) - c0) / (double)setups * 1e6;
  double enc_setup_wall = (now(CLOCK_MONOTONIC) - w0) / (double)setups * 1e6;

  /* Decryptor setup: new + update(the whole empty file) + final. */
  c0 = now(CLOCK_PROCESS_CPUTIME_ID);
  w0 = now(CLOCK_MONOTONIC);
  uint8_t sink[sizeof small];
  for (long i = 0; i < setups; i++) {
    escrow_decryptor *d = NULL;
    rc = escrow_decryptor_new(&d, cek, NULL);
    if (rc != 0)
      die("escrow_decryptor_new", rc);
    size_t got = 0;
    rc = escrow_decryptor_update(d, sink, sizeof sink, &got, small, small_len);
    if (rc != 0)
      die("escrow_decryptor_update", rc);
    rc = escrow_decryptor_final(d, sink, sizeof sink, &got);
    if (rc != 0)
      die("escrow_decryptor_final", rc);
    escrow_decryptor_free(d);
  }
  double dec_setup_cpu = (now(CLOCK_PROCESS_CPUTIME_ID) - c0) / (double)setups * 1e6;
  double dec_setup_wall = (now(CLOCK_MONOTONIC) - w0) / (double)setups * 1e6;
  printf("setup (empty file, %ld runs):\n", setups);
  printf("  encryptor new+final:        %6.2f us CPU  %6.2f us wall   goal <= 10 us\n",
         enc_setup_cpu, enc_setup_wall);
  printf("  decryptor new+update+final: %6.2f us CPU  %6.2f us wall   goal <= 10 us\n",
         dec_setup_cpu, dec_setup_wall);
  escrow_cek_free(cek);
  return 0;
}
