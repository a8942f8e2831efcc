/* Legacy v0 ("Salted__") files: reading BeeKeeperAI's files (and their producers' quirks),
 * writing them only with a fresh salt and under the size cap. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <yajl_tree.h>

#include "legacy_internal.h"

/* ---- helpers ------------------------------------------------------------------------------ */

static escrow_cek *cek_of(const uint8_t bytes[32]) {
  escrow_cek *c = escrow__secure_malloc(sizeof *c);
  assert_non_null(c);
  memcpy(c->bytes, bytes, 32);
  return c;
}

static escrow_cek *cek_hex(const char *hex) {
  uint8_t b[32];
  assert_int_equal(escrow__unhex(b, 32, hex), 0);
  return cek_of(b);
}

static escrow_cek *fixture_cek(void) {
  size_t len;
  uint8_t *raw = tu_read(tu_vector("keys/cek.raw"), &len);
  assert_int_equal(len, 32);
  escrow_cek *c = cek_of(raw);
  free(raw);
  return c;
}

static void sha256_hex(const uint8_t *data, size_t len, char out[65]) {
  uint8_t md[32];
  unsigned int mdlen = 0;
  assert_int_equal(EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL), 1);
  escrow__hex(out, md, 32);
}

static off_t fd_size(int fd) {
  struct stat st;
  assert_int_equal(fstat(fd, &st), 0);
  return st.st_size;
}

static int open_ro(const char *path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0)
    fail_msg("cannot open %s: %s", path, strerror(errno));
  return fd;
}

static int open_new(const char *path) {
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0)
    fail_msg("cannot create %s: %s", path, strerror(errno));
  return fd;
}

/* Encrypt buf to a v0 file in dir/name with the public writer; returns its path (caller frees).*/
static char *encrypt_to_file(const char *dir, const char *name, const escrow_cek *cek,
                             const uint8_t *pt, size_t len) {
  char *in = escrow__path_join(dir, "plain.tmp");
  char *out = escrow__path_join(dir, name);
  tu_write(in, pt, len);
  int ifd = open_ro(in), ofd = open_new(out);
  assert_int_equal(escrow_legacy_encrypt_fd(cek, ifd, ofd), 0);
  close(ifd);
  close(ofd);
  unlink(in);
  escrow__free(in);
  return out;
}

/* Decrypt path with escrow_legacy_decrypt_fd into dir/out.bin; returns the code, and in *out
 * (malloc) / *out_len what reached the output descriptor. */
static int decrypt_via_fd(const char *dir, const escrow_cek *cek, const char *path,
                          uint8_t **out, size_t *out_len) {
  char *o = escrow__path_join(dir, "out.bin");
  int ifd = open_ro(path), ofd = open_new(o);
  int rc = escrow_legacy_decrypt_fd(cek, ifd, ofd);
  close(ifd);
  close(ofd);
  *out = tu_read(o, out_len);
  unlink(o);
  escrow__free(o);
  return rc;
}

/* ---- the vectors of tests/vectors/v0 (made by an independent Python implementation) ---------*/

static int code_of(const char *name) {
  static const struct { const char *name; int code; } codes[] = {
      {"ESCROW_E_FORMAT", ESCROW_E_FORMAT}, {"ESCROW_E_AUTH", ESCROW_E_AUTH},
      {"ESCROW_E_LIMIT", ESCROW_E_LIMIT}, {"ESCROW_E_IO", ESCROW_E_IO}};
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(codes); i++)
    if (strcmp(codes[i].name, name) == 0)
      return codes[i].code;
  fail_msg("unknown error code %s in vectors.json", name);
  return 0;
}

static const char *str_field(yajl_val v, const char *key) {
  const char *path[] = {key, NULL};
  yajl_val s = yajl_tree_get(v, path, yajl_t_string);
  return s ? YAJL_GET_STRING(s) : NULL;
}

static long long int_field(yajl_val v, const char *key) {
  const char *path[] = {key, NULL};
  yajl_val n = yajl_tree_get(v, path, yajl_t_number);
  assert_non_null(n);
  return YAJL_GET_INTEGER(n);
}

static yajl_val load_manifest(void) {
  size_t len;
  uint8_t *text = tu_read(tu_vector("v0/vectors.json"), &len);
  text = realloc(text, len + 1);
  text[len] = 0;
  char err[256];
  yajl_val root = yajl_tree_parse((const char *)text, err, sizeof err);
  free(text);
  if (root == NULL)
    fail_msg("v0/vectors.json: %s", err);
  return root;
}

static yajl_val manifest_vectors(yajl_val root) {
  const char *path[] = {"vectors", NULL};
  yajl_val arr = yajl_tree_get(root, path, yajl_t_array);
  assert_non_null(arr);
  assert_true(YAJL_GET_ARRAY(arr)->len >= 20);
  return arr;
}

static char *vector_path(const char *file) {
  char rel[512];
  snprintf(rel, sizeof rel, "v0/%s", file);
  return escrow__strdup(tu_vector(rel));
}

/* Every vector decrypts in memory to the expected plaintext or fails with the expected code,
 * and a failure never hands out a buffer. */
static void test_vectors_decrypt_in_memory_as_the_manifest_says(void **state) {
  (void)state;
  yajl_val root = load_manifest();
  yajl_val arr = manifest_vectors(root);
  int positives = 0, negatives = 0;
  for (size_t i = 0; i < YAJL_GET_ARRAY(arr)->len; i++) {
    yajl_val v = YAJL_GET_ARRAY(arr)->values[i];
    const char *file = str_field(v, "file");
    char *path = vector_path(file);
    size_t in_len;
    uint8_t *in = tu_read(path, &in_len);
    escrow_cek *cek = cek_hex(str_field(v, "cek"));
    uint8_t *out = (uint8_t *)"sentinel";
    size_t out_len = 99;
    int rc = escrow_legacy_decrypt_mem(cek, in, in_len, &out, &out_len);
    const char *err = str_field(v, "error");
    if (err != NULL) {
      if (rc != code_of(err))
        fail_msg("%s: expected %s, got %d (%s)", file, err, rc, escrow_error_last());
      assert_null(out);
      assert_int_equal(out_len, 0);
      negatives++;
    } else {
      if (rc != 0)
        fail_msg("%s: %s", file, escrow_error_last());
      char hex[65];
      sha256_hex(out, out_len, hex);
      assert_int_equal(out_len, int_field(v, "size"));
      assert_string_equal(hex, str_field(v, "sha256"));
      escrow_secret_free(out);
      positives++;
    }
    escrow__secure_free(cek);
    free(in);
    escrow__free(path);
  }
  assert_true(positives >= 8);
  assert_true(negatives >= 10);
  yajl_tree_free(root);
}

/* The same through descriptors: a file that fails writes not a single byte. */
static void test_vectors_decrypt_via_fd_and_failures_write_nothing(void **state) {
  (void)state;
  char *dir = tu_tmpdir("legacy-vec-fd");
  yajl_val root = load_manifest();
  yajl_val arr = manifest_vectors(root);
  for (size_t i = 0; i < YAJL_GET_ARRAY(arr)->len; i++) {
    yajl_val v = YAJL_GET_ARRAY(arr)->values[i];
    const char *file = str_field(v, "file");
    char *path = vector_path(file);
    escrow_cek *cek = cek_hex(str_field(v, "cek"));
    uint8_t *out;
    size_t out_len;
    int rc = decrypt_via_fd(dir, cek, path, &out, &out_len);
    const char *err = str_field(v, "error");
    if (err != NULL) {
      if (rc != code_of(err))
        fail_msg("%s: expected %s, got %d (%s)", file, err, rc, escrow_error_last());
      assert_int_equal(out_len, 0);
    } else {
      if (rc != 0)
        fail_msg("%s: %s", file, escrow_error_last());
      char hex[65];
      sha256_hex(out, out_len, hex);
      assert_string_equal(hex, str_field(v, "sha256"));
    }
    free(out);
    escrow__secure_free(cek);
    escrow__free(path);
  }
  yajl_tree_free(root);
  escrow__rmtree(dir);
  free(dir);
}

/* Old bkai_encrypt.py rstripped the CEK: the stripped CEK decrypts what the CEK cannot. */
static void test_rstrip_quirk_file_decrypts_with_the_stripped_cek(void **state) {
  (void)state;
  yajl_val root = load_manifest();
  yajl_val arr = manifest_vectors(root);
  int seen = 0;
  for (size_t i = 0; i < YAJL_GET_ARRAY(arr)->len; i++) {
    yajl_val v = YAJL_GET_ARRAY(arr)->values[i];
    const char *q = str_field(v, "quirk");
    if (q == NULL || strcmp(q, "rstrip") != 0)
      continue;
    uint8_t cek[32];
    assert_int_equal(escrow__unhex(cek, 32, str_field(v, "cek")), 0);
    size_t pw_len = escrow__legacy_rstrip_len(cek);
    assert_int_equal(pw_len, int_field(v, "password_length"));
    assert_true(pw_len < 32);
    char *path = vector_path(str_field(v, "file"));
    size_t in_len;
    uint8_t *in = tu_read(path, &in_len);
    uint8_t *out = NULL;
    size_t out_len = 0;
    /* The full CEK as a raw password fails... */
    assert_int_equal(escrow__legacy_decrypt_mem_raw(cek, in, in_len, &out, &out_len),
                     ESCROW_E_AUTH);
    assert_null(out);
    /* ...the stripped one works. */
    assert_int_equal(escrow__legacy_decrypt_mem_pw(cek, pw_len, in, in_len, &out, &out_len), 0);
    char hex[65];
    sha256_hex(out, out_len, hex);
    assert_int_equal(out_len, int_field(v, "quirk_size"));
    assert_string_equal(hex, str_field(v, "quirk_sha256"));
    escrow_secret_free(out);
    free(in);
    escrow__free(path);
    seen++;
  }
  assert_int_equal(seen, 1);
  yajl_tree_free(root);
}

/* rstrip removes exactly Python's ASCII whitespace (0x09-0x0d, 0x20) from the end. */
static void test_rstrip_length_strips_only_trailing_ascii_whitespace(void **state) {
  (void)state;
  uint8_t k[32];
  memset(k, 'A', sizeof k);
  assert_int_equal(escrow__legacy_rstrip_len(k), 32);
  k[31] = 0x20;
  k[30] = 0x0d;
  k[29] = 0x09;
  k[28] = 0x0b;
  assert_int_equal(escrow__legacy_rstrip_len(k), 28);
  k[31] = 0x0e; /* not whitespace */
  assert_int_equal(escrow__legacy_rstrip_len(k), 32);
  k[31] = 0x08;
  assert_int_equal(escrow__legacy_rstrip_len(k), 32);
  k[31] = 0x00;
  assert_int_equal(escrow__legacy_rstrip_len(k), 32);
  k[5] = 0x20; /* inner whitespace stays */
  k[31] = 0x0a;
  assert_int_equal(escrow__legacy_rstrip_len(k), 28);
  memset(k, 0x20, sizeof k);
  assert_int_equal(escrow__legacy_rstrip_len(k), 0);
}

/* escrowai-encrypt's dataset upload reuses one salt for every file: each file still reads. */
static void test_files_sharing_a_salt_each_decrypt(void **state) {
  (void)state;
  yajl_val root = load_manifest();
  yajl_val arr = manifest_vectors(root);
  uint8_t salts[2][8];
  int n = 0;
  for (size_t i = 0; i < YAJL_GET_ARRAY(arr)->len; i++) {
    yajl_val v = YAJL_GET_ARRAY(arr)->values[i];
    const char *q = str_field(v, "quirk");
    if (q == NULL || strcmp(q, "shared-salt") != 0)
      continue;
    assert_true(n < 2);
    char *path = vector_path(str_field(v, "file"));
    size_t in_len;
    uint8_t *in = tu_read(path, &in_len);
    memcpy(salts[n], in + 8, 8);
    escrow_cek *cek = cek_hex(str_field(v, "cek"));
    uint8_t *out = NULL;
    size_t out_len = 0;
    assert_int_equal(escrow_legacy_decrypt_mem(cek, in, in_len, &out, &out_len), 0);
    char hex[65];
    sha256_hex(out, out_len, hex);
    assert_string_equal(hex, str_field(v, "sha256"));
    escrow_secret_free(out);
    escrow__secure_free(cek);
    free(in);
    escrow__free(path);
    n++;
  }
  assert_int_equal(n, 2);
  assert_memory_equal(salts[0], salts[1], 8);
  yajl_tree_free(root);
}

/* EscrowAICI chains keys: secret n's password is secret n-1's derived AES key. */
static void test_chained_keys_reproduce_escrowaici_secrets(void **state) {
  (void)state;
  yajl_val root = load_manifest();
  yajl_val arr = manifest_vectors(root);
  uint8_t pw[32];
  int n = 0;
  for (size_t i = 0; i < YAJL_GET_ARRAY(arr)->len; i++) {
    yajl_val v = YAJL_GET_ARRAY(arr)->values[i];
    const char *q = str_field(v, "quirk");
    if (q == NULL || strcmp(q, "chain") != 0)
      continue;
    long long idx = int_field(v, "chain_index");
    assert_int_equal(idx, n + 1);
    if (idx == 1)
      assert_int_equal(escrow__unhex(pw, 32, str_field(v, "cek")), 0);
    char *path = vector_path(str_field(v, "file"));
    size_t in_len;
    uint8_t *in = tu_read(path, &in_len);
    uint8_t *out = NULL;
    size_t out_len = 0;
    assert_int_equal(escrow__legacy_decrypt_mem_raw(pw, in, in_len, &out, &out_len), 0);
    char hex[65];
    sha256_hex(out, out_len, hex);
    assert_string_equal(hex, str_field(v, idx == 1 ? "sha256" : "quirk_sha256"));
    escrow_secret_free(out);
    /* The next password: this secret's AES key, as the generator recorded it. */
    uint8_t key[32], want[32];
    assert_int_equal(escrow__legacy_derive_key(pw, in + 8, key), 0);
    assert_int_equal(escrow__unhex(want, 32, str_field(v, "derived_key")), 0);
    assert_memory_equal(key, want, 32);
    memcpy(pw, key, 32);
    free(in);
    escrow__free(path);
    n++;
  }
  assert_int_equal(n, 3);
  yajl_tree_free(root);
}

/* ---- writing -------------------------------------------------------------------------------- */

/* Round trips across the 1 MiB buffer boundaries, through both readers. */
static void test_encrypt_then_decrypt_round_trips_all_sizes(void **state) {
  (void)state;
  static const size_t sizes[] = {0, 1, 15, 16, 17, 1000, (1u << 20) - 1, 1u << 20,
                                 (1u << 20) + 1, (3u << 20) + 5};
  char *dir = tu_tmpdir("legacy-rt");
  escrow_cek *cek = fixture_cek();
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(sizes); i++) {
    size_t len = sizes[i];
    uint8_t *pt = malloc(len ? len : 1);
    tu_fill(pt, len, (uint32_t)i + 7);
    char *path = encrypt_to_file(dir, "rt.bkenc", cek, pt, len);
    size_t ct_len;
    uint8_t *ct = tu_read(path, &ct_len);
    assert_int_equal(ct_len, len + ESCROW_LEGACY_OVERHEAD);
    assert_memory_equal(ct, "Salted__", 8);
    uint8_t *out = NULL;
    size_t out_len = 0;
    assert_int_equal(escrow_legacy_decrypt_mem(cek, ct, ct_len, &out, &out_len), 0);
    assert_int_equal(out_len, len);
    if (len)
      assert_memory_equal(out, pt, len);
    escrow_secret_free(out);
    uint8_t *fout;
    size_t flen;
    assert_int_equal(decrypt_via_fd(dir, cek, path, &fout, &flen), 0);
    assert_int_equal(flen, len);
    if (len)
      assert_memory_equal(fout, pt, len);
    free(fout);
    free(ct);
    free(pt);
    unlink(path);
    escrow__free(path);
  }
  escrow__secure_free(cek);
  escrow__rmtree(dir);
  free(dir);
}

/* Our files are plain v0: an independent one-shot OpenSSL decryption (PKCS5_PBKDF2_HMAC +
 * EVP AES-256-GCM) reads them. */
static void test_written_files_follow_the_v0_layout(void **state) {
  (void)state;
  char *dir = tu_tmpdir("legacy-layout");
  escrow_cek *cek = fixture_cek();
  uint8_t pt[777];
  tu_fill(pt, sizeof pt, 3);
  char *path = encrypt_to_file(dir, "l.bkenc", cek, pt, sizeof pt);
  size_t ct_len;
  uint8_t *ct = tu_read(path, &ct_len);
  uint8_t kiv[44];
  assert_int_equal(PKCS5_PBKDF2_HMAC((const char *)cek->bytes, 32, ct + 8, 8, 10000,
                                     EVP_sha256(), 44, kiv), 1);
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  assert_int_equal(EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, kiv, kiv + 32), 1);
  uint8_t out[777];
  int outl = 0;
  assert_int_equal(EVP_DecryptUpdate(c, out, &outl, ct + 16, (int)sizeof pt), 1);
  assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, ct + ct_len - 16), 1);
  int fl = 0;
  assert_int_equal(EVP_DecryptFinal_ex(c, out + outl, &fl), 1);
  EVP_CIPHER_CTX_free(c);
  assert_memory_equal(out, pt, sizeof pt);
  free(ct);
  escrow__free(path);
  escrow__secure_free(cek);
  escrow__rmtree(dir);
  free(dir);
}

/* Nonce reuse is what BeeKeeperAI's dataset tool does; our writer draws a new salt each call. */
static void test_encryptor_draws_a_fresh_salt_every_call(void **state) {
  (void)state;
  char *dir = tu_tmpdir("legacy-salt");
  escrow_cek *cek = fixture_cek();
  uint8_t pt[100];
  tu_fill(pt, sizeof pt, 11);
  uint8_t salts[8][8];
  for (int i = 0; i < 8; i++) {
    char *path = encrypt_to_file(dir, "s.bkenc", cek, pt, sizeof pt);
    size_t len;
    uint8_t *ct = tu_read(path, &len);
    memcpy(salts[i], ct + 8, 8);
    for (int j = 0; j < i; j++)
      assert_memory_not_equal(salts[i], salts[j], 8);
    free(ct);
    escrow__free(path);
  }
  escrow__secure_free(cek);
  escrow__rmtree(dir);
  free(dir);
}

/* A regular file over the cap is refused before a byte is written (sparse file: no disk use).*/
static void test_encrypt_refuses_a_file_over_the_gcm_limit(void **state) {
  (void)state;
  char *dir = tu_tmpdir("legacy-cap");
  escrow_cek *cek = fixture_cek();
  char *in = escrow__path_join(dir, "huge"), *out = escrow__path_join(dir, "huge.bkenc");
  int ifd = open_new(in);
  if (ftruncate(ifd, (off_t)ESCROW_LEGACY_MAX_PLAINTEXT + 1) != 0) {
    close(ifd);
    skip(); /* the file system cannot hold a 64 GiB sparse file */
  }
  int ofd = open_new(out);
  assert_int_equal(escrow_legacy_encrypt_fd(cek, ifd, ofd), ESCROW_E_LIMIT);
  assert_int_equal(fd_size(ofd), 0);
  close(ifd);
  close(ofd);
  escrow__free(in);
  escrow__free(out);
  escrow__secure_free(cek);
  escrow__rmtree(dir);
  free(dir);
}

static void *endless_writer(void *arg) {
  int fd = *(int *)arg;
  uint8_t junk[65536];
  memset(junk, 'x', sizeof junk);
  while (write(fd, junk, sizeof junk) >= 0)
    ;
  return NULL;
}

/* The cap logic through the internal entry point with a small cap: exactly the cap passes,
 * one byte more fails, from a regular file and from a stream. */
static void test_encrypt_cap_is_exact_for_files_and_streams(void **state) {
  (void)state;
  char *dir = tu_tmpdir("legacy-cap2");
  escrow_cek *cek = fixture_cek();
  char *in = escrow__path_join(dir, "in"), *out = escrow__path_join(dir, "out");
  uint8_t pt[1001];
  tu_fill(pt, sizeof pt, 5);

  tu_write(in, pt, 1000);
  int ifd = open_ro(in), ofd = open_new(out);
  assert_int_equal(escrow__legacy_encrypt_fd_max(cek, ifd, ofd, 1000), 0);
  assert_int_equal(fd_size(ofd), 1000 + ESCROW_LEGACY_OVERHEAD);
  close(ifd);
  close(ofd);

  tu_write(in, pt, 1001);
  ifd = open_ro(in);
  ofd = open_new(out);
  assert_int_equal(escrow__legacy_encrypt_fd_max(cek, ifd, ofd, 1000), ESCROW_E_LIMIT);
  assert_int_equal(fd_size(ofd), 0);
  close(ifd);
  close(ofd);

  /* A pipe has no size: the count stops it, before any ciphertext of the excess is written. */
  int p[2];
  assert_int_equal(pipe(p), 0);
  assert_int_equal(write(p[1], pt, 1001), 1001);
  close(p[1]);
  ofd = open_new(out);
  assert_int_equal(escrow__legacy_encrypt_fd_max(cek, p[0], ofd, 1000), ESCROW_E_LIMIT);
  assert_true(fd_size(ofd) <= 16);
  close(p[0]);
  close(ofd);

  /* A pipe that never ends (a writer thread) is abandoned as soon as the count passes. */
  assert_int_equal(pipe(p), 0);
  void (*old_handler)(int) = signal(SIGPIPE, SIG_IGN);
  pthread_t writer;
  assert_int_equal(pthread_create(&writer, NULL, endless_writer, &p[1]), 0);
  ofd = open_new(out);
  assert_int_equal(escrow__legacy_encrypt_fd_max(cek, p[0], ofd, 4096), ESCROW_E_LIMIT);
  assert_true(fd_size(ofd) <= 16 + 4096);
  close(p[0]); /* the writer gets EPIPE and ends */
  close(ofd);
  assert_int_equal(pthread_join(writer, NULL), 0);
  close(p[1]);
  signal(SIGPIPE, old_handler);

  escrow__free(in);
  escrow__free(out);
  escrow__secure_free(cek);
  escrow__rmtree(dir);
  free(dir);
}

/* ---- reading failures -------------------------------------------------------------------------*/

/* A big file with a flipped last byte: pass one catches it, the output stays empty. */
static void test_altered_multi_megabyte_file_writes_no_plaintext(void **state) {
  (void)state;
  char *dir = tu_tmpdir("legacy-alt");
  escrow_cek *cek = fixture_cek();
  size_t len = (2u << 20) + 3;
  uint8_t *pt = malloc(len);
  tu_fill(pt, len, 9);
  char *path = encrypt_to_file(dir, "a.bkenc", cek, pt, len);
  size_t ct_len;
  uint8_t *ct = tu_read(path, &ct_len);
  static const size_t where[] = {8, 16, 16 + (1u << 20), 0 /* last byte, below */};
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(where); i++) {
    size_t at = where[i] ? where[i] : ct_len - 1;
    ct[at] ^= 0x80;
    tu_write(path, ct, ct_len);
    ct[at] ^= 0x80;
    uint8_t *out;
    size_t out_len;
    assert_int_equal(decrypt_via_fd(dir, cek, path, &out, &out_len), ESCROW_E_AUTH);
    assert_int_equal(out_len, 0);
    assert_non_null(strstr(escrow_error_last(), "wrong CEK or altered file"));
    free(out);
  }
  free(ct);
  free(pt);
  escrow__free(path);
  escrow__secure_free(cek);
  escrow__rmtree(dir);
  free(dir);
}

static void test_wrong_cek_fails_authentication_and_releases_nothing(void **state) {
  (void)state;
  char *dir = tu_tmpdir("legacy-wrong");
  escrow_cek *cek = fixture_cek();
  uint8_t other[32];
  memcpy(other, cek->bytes, 32);
  other[31] ^= 1;
  escrow_cek *wrong = cek_of(other);
  uint8_t pt[5000];
  tu_fill(pt, sizeof pt, 1);
  char *path = encrypt_to_file(dir, "w.bkenc", cek, pt, sizeof pt);
  size_t ct_len;
  uint8_t *ct = tu_read(path, &ct_len);
  uint8_t *out = (uint8_t *)"x";
  size_t out_len = 1;
  assert_int_equal(escrow_legacy_decrypt_mem(wrong, ct, ct_len, &out, &out_len), ESCROW_E_AUTH);
  assert_null(out);
  assert_int_equal(out_len, 0);
  assert_string_equal(escrow_error_last(),
                      "legacy v0 file failed authentication: wrong CEK or altered file");
  uint8_t *fout;
  size_t flen;
  assert_int_equal(decrypt_via_fd(dir, wrong, path, &fout, &flen), ESCROW_E_AUTH);
  assert_int_equal(flen, 0);
  free(fout);
  free(ct);
  escrow__free(path);
  escrow__secure_free(wrong);
  escrow__secure_free(cek);
  escrow__rmtree(dir);
  free(dir);
}

static void test_short_or_unmarked_input_is_a_format_error(void **state) {
  (void)state;
  escrow_cek *cek = fixture_cek();
  uint8_t buf[64];
  memset(buf, 0, sizeof buf);
  memcpy(buf, "Salted__", 8);
  uint8_t *out = NULL;
  size_t out_len = 0;
  for (size_t n = 0; n < 32; n++)
    assert_int_equal(escrow_legacy_decrypt_mem(cek, buf, n, &out, &out_len), ESCROW_E_FORMAT);
  assert_int_equal(escrow_legacy_decrypt_mem(cek, NULL, 0, &out, &out_len), ESCROW_E_FORMAT);
  /* 32 bytes with the magic is well formed (empty plaintext) but the zero tag is wrong. */
  assert_int_equal(escrow_legacy_decrypt_mem(cek, buf, 32, &out, &out_len), ESCROW_E_AUTH);
  buf[7] = '!';
  assert_int_equal(escrow_legacy_decrypt_mem(cek, buf, 64, &out, &out_len), ESCROW_E_FORMAT);
  assert_non_null(strstr(escrow_error_last(), "Salted__"));
  memcpy(buf, "\x89" "BKENC\r\n", 8); /* a v1 file is not v0 */
  assert_int_equal(escrow_legacy_decrypt_mem(cek, buf, 64, &out, &out_len), ESCROW_E_FORMAT);
  assert_null(out);
  escrow__secure_free(cek);
}

static void test_decrypt_fd_needs_a_seekable_input(void **state) {
  (void)state;
  escrow_cek *cek = fixture_cek();
  int p[2];
  assert_int_equal(pipe(p), 0);
  uint8_t buf[40] = "Salted__";
  assert_int_equal(write(p[1], buf, sizeof buf), (ssize_t)sizeof buf);
  close(p[1]);
  char *dir = tu_tmpdir("legacy-pipe");
  char *out = escrow__path_join(dir, "o");
  int ofd = open_new(out);
  assert_int_equal(escrow_legacy_decrypt_fd(cek, p[0], ofd), ESCROW_E_INVALID);
  assert_string_equal(escrow_error_last(), "legacy v0 needs a seekable input");
  assert_int_equal(fd_size(ofd), 0);
  close(ofd);
  close(p[0]);
  escrow__free(out);
  escrow__rmtree(dir);
  free(dir);
  escrow__secure_free(cek);
}

/* The descriptor's offset does not matter: the file is read from its start. */
static void test_decrypt_fd_reads_from_the_start_whatever_the_offset(void **state) {
  (void)state;
  char *dir = tu_tmpdir("legacy-off");
  escrow_cek *cek = fixture_cek();
  uint8_t pt[300];
  tu_fill(pt, sizeof pt, 2);
  char *path = encrypt_to_file(dir, "o.bkenc", cek, pt, sizeof pt);
  char *o = escrow__path_join(dir, "out");
  int ifd = open_ro(path), ofd = open_new(o);
  uint8_t magic[8];
  assert_int_equal(read(ifd, magic, 8), 8); /* as a caller sniffing the format would */
  assert_int_equal(escrow_legacy_decrypt_fd(cek, ifd, ofd), 0);
  close(ifd);
  close(ofd);
  size_t len;
  uint8_t *got = tu_read(o, &len);
  assert_int_equal(len, sizeof pt);
  assert_memory_equal(got, pt, sizeof pt);
  free(got);
  escrow__free(o);
  escrow__free(path);
  escrow__secure_free(cek);
  escrow__rmtree(dir);
  free(dir);
}

/* Descriptors that cannot be read or written give ESCROW_E_IO, not a crash or a bogus AUTH. */
static void test_unreadable_input_or_unwritable_output_is_an_io_error(void **state) {
  (void)state;
  char *dir = tu_tmpdir("legacy-io");
  escrow_cek *cek = fixture_cek();
  uint8_t pt[100];
  tu_fill(pt, sizeof pt, 8);
  char *path = encrypt_to_file(dir, "io.bkenc", cek, pt, sizeof pt);
  int ifd = open_ro(path), ro = open_ro(path);
  assert_int_equal(escrow_legacy_decrypt_fd(cek, ifd, ro), ESCROW_E_IO); /* read-only output */
  assert_int_equal(escrow_legacy_encrypt_fd(cek, ifd, ro), ESCROW_E_IO);
  close(ifd);
  close(ro);
  char *o = escrow__path_join(dir, "o");
  int ofd = open_new(o);
  int wo = open(path, O_WRONLY); /* write-only input */
  assert_true(wo >= 0);
  assert_int_equal(escrow_legacy_decrypt_fd(cek, wo, ofd), ESCROW_E_IO);
  assert_int_equal(escrow_legacy_encrypt_fd(cek, wo, ofd), ESCROW_E_IO);
  close(wo);
  close(ofd);
  escrow__free(o);
  escrow__free(path);
  escrow__secure_free(cek);
  escrow__rmtree(dir);
  free(dir);
}

static void test_bad_arguments_are_invalid(void **state) {
  (void)state;
  escrow_cek *cek = fixture_cek();
  uint8_t in[32] = "Salted__";
  uint8_t *out = NULL;
  size_t len = 0;
  uint8_t key[32];
  assert_int_equal(escrow_legacy_decrypt_mem(NULL, in, 32, &out, &len), ESCROW_E_INVALID);
  assert_int_equal(escrow_legacy_decrypt_mem(cek, in, 32, NULL, &len), ESCROW_E_INVALID);
  assert_int_equal(escrow_legacy_decrypt_mem(cek, in, 32, &out, NULL), ESCROW_E_INVALID);
  assert_int_equal(escrow__legacy_decrypt_mem_raw(NULL, in, 32, &out, &len), ESCROW_E_INVALID);
  assert_int_equal(escrow__legacy_decrypt_mem_pw(key, 33, in, 32, &out, &len), ESCROW_E_INVALID);
  assert_int_equal(escrow_legacy_decrypt_fd(NULL, 0, 1), ESCROW_E_INVALID);
  assert_int_equal(escrow_legacy_decrypt_fd(cek, -1, 1), ESCROW_E_INVALID);
  assert_int_equal(escrow_legacy_encrypt_fd(NULL, 0, 1), ESCROW_E_INVALID);
  assert_int_equal(escrow_legacy_encrypt_fd(cek, 0, -1), ESCROW_E_INVALID);
  assert_int_equal(escrow__legacy_derive_key(NULL, in, key), ESCROW_E_INVALID);
  escrow__secure_free(cek);
}

/* ---- allocation failures --------------------------------------------------------------------- */

typedef struct {
  escrow_cek *cek;
  char *v0_path;
  char *in_path, *out_path;
  uint8_t *v0;
  size_t v0_len;
  uint8_t *out;
  size_t out_len;
} alloc_ctx;

static int af_decrypt_mem(void *p) {
  alloc_ctx *c = p;
  return escrow_legacy_decrypt_mem(c->cek, c->v0, c->v0_len, &c->out, &c->out_len);
}

static void af_cleanup(void *p) {
  alloc_ctx *c = p;
  escrow_secret_free(c->out);
  c->out = NULL;
}

static int af_decrypt_fd(void *p) {
  alloc_ctx *c = p;
  int ifd = open_ro(c->v0_path), ofd = open_new(c->out_path);
  int rc = escrow_legacy_decrypt_fd(c->cek, ifd, ofd);
  off_t sz = fd_size(ofd);
  close(ifd);
  close(ofd);
  if (rc != 0 && sz != 0)
    fail_msg("a failed decryption wrote %lld bytes", (long long)sz);
  return rc;
}

static int af_encrypt_fd(void *p) {
  alloc_ctx *c = p;
  int ifd = open_ro(c->in_path), ofd = open_new(c->out_path);
  int rc = escrow_legacy_encrypt_fd(c->cek, ifd, ofd);
  close(ifd);
  close(ofd);
  return rc;
}

static int af_derive(void *p) {
  alloc_ctx *c = p;
  uint8_t key[32];
  return escrow__legacy_derive_key(c->cek->bytes, c->v0 + 8, key);
}

static void test_allocation_failures_fail_cleanly(void **state) {
  (void)state;
  char *dir = tu_tmpdir("legacy-af");
  alloc_ctx c = {0};
  c.cek = fixture_cek();
  uint8_t pt[3000];
  tu_fill(pt, sizeof pt, 4);
  c.v0_path = encrypt_to_file(dir, "af.bkenc", c.cek, pt, sizeof pt);
  c.v0 = tu_read(c.v0_path, &c.v0_len);
  c.in_path = escrow__path_join(dir, "af.in");
  c.out_path = escrow__path_join(dir, "af.out");
  tu_write(c.in_path, pt, sizeof pt);
  assert_true(tu_alloc_failures(af_decrypt_mem, af_cleanup, &c, 0) >= 2);
  assert_true(tu_alloc_failures(af_decrypt_fd, NULL, &c, 0) >= 3);
  assert_true(tu_alloc_failures(af_encrypt_fd, NULL, &c, 0) >= 3);
  assert_true(tu_alloc_failures(af_derive, NULL, &c, 0) >= 1);
  escrow__free(c.in_path);
  escrow__free(c.out_path);
  free(c.v0);
  escrow__free(c.v0_path);
  escrow__secure_free(c.cek);
  escrow__rmtree(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vectors_decrypt_in_memory_as_the_manifest_says),
      cmocka_unit_test(test_vectors_decrypt_via_fd_and_failures_write_nothing),
      cmocka_unit_test(test_rstrip_quirk_file_decrypts_with_the_stripped_cek),
      cmocka_unit_test(test_rstrip_length_strips_only_trailing_ascii_whitespace),
      cmocka_unit_test(test_files_sharing_a_salt_each_decrypt),
      cmocka_unit_test(test_chained_keys_reproduce_escrowaici_secrets),
      cmocka_unit_test(test_encrypt_then_decrypt_round_trips_all_sizes),
      cmocka_unit_test(test_written_files_follow_the_v0_layout),
      cmocka_unit_test(test_encryptor_draws_a_fresh_salt_every_call),
      cmocka_unit_test(test_encrypt_refuses_a_file_over_the_gcm_limit),
      cmocka_unit_test(test_encrypt_cap_is_exact_for_files_and_streams),
      cmocka_unit_test(test_altered_multi_megabyte_file_writes_no_plaintext),
      cmocka_unit_test(test_wrong_cek_fails_authentication_and_releases_nothing),
      cmocka_unit_test(test_short_or_unmarked_input_is_a_format_error),
      cmocka_unit_test(test_decrypt_fd_needs_a_seekable_input),
      cmocka_unit_test(test_decrypt_fd_reads_from_the_start_whatever_the_offset),
      cmocka_unit_test(test_unreadable_input_or_unwritable_output_is_an_io_error),
      cmocka_unit_test(test_bad_arguments_are_invalid),
      cmocka_unit_test(test_allocation_failures_fail_cleanly),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
