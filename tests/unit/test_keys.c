/* Keys (DESIGN §2): CEK encodings, KEK readers and writers, RSA-OAEP WCEKs, key file names.
 * Every failure rule has its own test checking the error code, that no key came out, and that
 * the message does not echo key material. tests/vectors/keys/vectors.json is run in full. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/ui.h>
#include <sodium.h>
#include <yajl_tree.h>

/* ---- helpers ------------------------------------------------------------------------------ */

#define KEK4096_ID "sha256:9e246d3617a929fbce6e6417aba763f49ebe90dedbda0775d1d5f39bf704456a"
#define KEK3072_ID "sha256:f13bab15b132d4d15544303454bd9a70a171072c3e94500aca9f6e7ad428cfbb"
#define UNWRAP_MSG                                                                               \
  "cannot unwrap the WCEK: wrong private key, wrong OAEP hash, or the WCEK was altered"

static uint8_t *vec(const char *name, size_t *len) {
  char rel[256];
  snprintf(rel, sizeof rel, "keys/%s", name);
  return tu_read(tu_vector(rel), len);
}

static void fixture_cek_bytes(uint8_t out[32]) {
  size_t len;
  uint8_t *raw = vec("cek.raw", &len);
  assert_int_equal(len, 32);
  memcpy(out, raw, 32);
  free(raw);
}

static int contains(const char *hay, const char *needle) { return strstr(hay, needle) != NULL; }

/* The last message must not contain any 8-byte window of the secret input, nor its hex. */
static void assert_no_echo(const uint8_t *secret, size_t len) {
  const char *msg = escrow_error_last();
  size_t ml = strlen(msg);
  for (size_t i = 0; i + 8 <= len; i++)
    for (size_t j = 0; j + 8 <= ml; j++)
      if (memcmp(msg + j, secret + i, 8) == 0)
        fail_msg("the error message echoes key bytes: %s", msg);
  if (len >= 8) {
    char hx[17];
    escrow__hex(hx, secret, 8);
    if (contains(msg, hx))
      fail_msg("the error message echoes key bytes as hex: %s", msg);
  }
}

static void cek_refused(const void *data, size_t len, const char *reason) {
  escrow_cek *cek = (escrow_cek *)0x1;
  int rc = escrow_cek_from_bytes(&cek, data, len);
  assert_int_equal(rc, ESCROW_E_KEY);
  assert_null(cek);
  assert_int_equal(escrow_error_last_code(), ESCROW_E_KEY);
  if (reason != NULL && !contains(escrow_error_last(), reason))
    fail_msg("message '%s' does not say '%s'", escrow_error_last(), reason);
  assert_no_echo(data, len);
}

static void cek_accepted(const void *data, size_t len, const uint8_t expect[32]) {
  escrow_cek *cek = NULL;
  assert_int_equal(escrow_cek_from_bytes(&cek, data, len), 0);
  uint8_t got[32];
  assert_int_equal(escrow_cek_export(cek, got), 0);
  assert_memory_equal(got, expect, 32);
  escrow_cek_free(cek);
}

static void b64_of(const uint8_t *in, size_t len, char *out, size_t out_size) {
  sodium_bin2base64(out, out_size, in, len, sodium_base64_VARIANT_ORIGINAL);
}

static escrow_kek *load_pub(const char *name) {
  escrow_kek *k = NULL;
  char rel[256];
  snprintf(rel, sizeof rel, "keys/%s", name);
  int rc = escrow_kek_public_load(&k, tu_vector(rel));
  if (rc != 0)
    fail_msg("cannot load %s: %s", name, escrow_error_last());
  return k;
}

static escrow_kek *load_priv(const char *name) {
  escrow_kek *k = NULL;
  char rel[256];
  snprintf(rel, sizeof rel, "keys/%s", name);
  int rc = escrow_kek_private_load(&k, tu_vector(rel));
  if (rc != 0)
    fail_msg("cannot load %s: %s", name, escrow_error_last());
  return k;
}

static void assert_key_id(const escrow_kek *k, const char *expect) {
  char id[ESCROW_KEY_ID_SIZE];
  assert_int_equal(escrow_kek_key_id(k, id, sizeof id), 0);
  assert_string_equal(id, expect);
}

static int file_mode(const char *path) {
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  return (int)(st.st_mode & 07777);
}

/* Count the entries of a folder (to see that no temporary file was left behind). */
static int count_entries(const char *dir) {
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", dir);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  int n = -1;
  assert_int_equal(fscanf(p, "%d", &n), 1);
  pclose(p);
  return n;
}

static char *join(const char *dir, const char *name) {
  char *p = malloc(strlen(dir) + strlen(name) + 2);
  assert_non_null(p);
  sprintf(p, "%s/%s", dir, name);
  return p;
}

/* An OpenSSL UI method that records any attempt to prompt for a password. */
static int ui_prompts;
static int ui_record(UI *ui, UI_STRING *uis) {
  (void)ui;
  (void)uis;
  ui_prompts++;
  return -1;
}

static void install_recording_ui(void) {
  static UI_METHOD *m;
  if (m == NULL) {
    m = UI_create_method("escrow test: no prompts");
    assert_non_null(m);
    UI_method_set_reader(m, ui_record);
    UI_method_set_writer(m, ui_record);
  }
  UI_set_default_method(m);
  ui_prompts = 0;
}

/* ---- CEK ------------------------------------------------------------------------------------- */

static void test_cek_generate_makes_distinct_random_keys(void **state) {
  (void)state;
  escrow_cek *a = NULL, *b = NULL;
  assert_int_equal(escrow_cek_generate(&a), 0);
  assert_int_equal(escrow_cek_generate(&b), 0);
  assert_false(escrow_cek_equal(a, b));
  uint8_t x[32], zero[32] = {0};
  assert_int_equal(escrow_cek_export(a, x), 0);
  assert_memory_not_equal(x, zero, 32);
  escrow_cek_free(a);
  escrow_cek_free(b);
  assert_int_equal(escrow_cek_generate(NULL), ESCROW_E_INVALID);
}

static void test_cek_reads_32_raw_bytes(void **state) {
  (void)state;
  uint8_t k[32];
  fixture_cek_bytes(k);
  cek_accepted(k, 32, k);
  /* 32 bytes are raw even when they look like text. */
  uint8_t text[32];
  memset(text, 'A', 32);
  cek_accepted(text, 32, text);
}

static void test_cek_reads_canonical_base64_with_at_most_one_newline(void **state) {
  (void)state;
  uint8_t k[32];
  fixture_cek_bytes(k);
  char b[64];
  b64_of(k, 32, b, sizeof b);
  assert_int_equal(strlen(b), 44);
  cek_accepted(b, 44, k);
  strcat(b, "\n");
  cek_accepted(b, 45, k);
  b[44] = '\r';
  b[45] = '\n';
  cek_accepted(b, 46, k);
  /* The fixture file cek.b64 is the same key. */
  size_t len;
  uint8_t *f = vec("cek.b64", &len);
  cek_accepted(f, len, k);
  free(f);
}

static void test_cek_refuses_31_or_33_raw_bytes(void **state) {
  (void)state;
  uint8_t k[34];
  tu_fill(k, sizeof k, 1);
  cek_refused(k, 31, "31 bytes");
  cek_refused(k, 33, "33 bytes");
  cek_refused(k, 1, NULL);
  cek_refused(k, 0, "empty");
  uint8_t nl[33];
  memcpy(nl, k, 32);
  nl[32] = '\n';
  cek_refused(nl, 33, NULL); /* raw key plus newline: not a rule we bend */
}

static void test_cek_refuses_base64_of_31_or_33_bytes(void **state) {
  (void)state;
  uint8_t k[33];
  tu_fill(k, sizeof k, 2);
  char b[64];
  b64_of(k, 31, b, sizeof b);
  assert_int_equal(strlen(b), 44);
  cek_refused(b, 44, "base64 of 31 bytes");
  b64_of(k, 33, b, sizeof b);
  assert_int_equal(strlen(b), 44);
  cek_refused(b, 44, "base64 of 33 bytes");
  strcat(b, "\n");
  cek_refused(b, 45, "base64 of 33 bytes");
}

static void test_cek_refuses_non_canonical_base64(void **state) {
  (void)state;
  static const char alpha[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  uint8_t k[32];
  fixture_cek_bytes(k);
  char b[64];
  b64_of(k, 32, b, sizeof b);
  /* 32 bytes leave the 2 low bits of the 43rd character unused: set each in turn. */
  int idx = (int)(strchr(alpha, b[42]) - alpha);
  assert_int_equal(idx & 3, 0);
  for (int bit = 1; bit <= 2; bit++) {
    char nc[64];
    memcpy(nc, b, 45);
    nc[42] = alpha[idx | bit];
    cek_refused(nc, 44, "canonical");
  }
  /* Missing or doubled padding. */
  cek_refused(b, 43, NULL);
  char dbl[64];
  memcpy(dbl, b, 45);
  dbl[42] = '=';
  cek_refused(dbl, 44, NULL);
}

static void test_cek_refuses_two_newlines_or_inner_line_breaks(void **state) {
  (void)state;
  uint8_t k[32];
  fixture_cek_bytes(k);
  char b[64], t[80];
  b64_of(k, 32, b, sizeof b);
  snprintf(t, sizeof t, "%s\n\n", b);
  cek_refused(t, 46, "line break");
  snprintf(t, sizeof t, "%s\r", b);
  cek_refused(t, 45, NULL);
  snprintf(t, sizeof t, "%s\n\r\n", b);
  cek_refused(t, 47, NULL);
  snprintf(t, sizeof t, "\n%s", b);
  cek_refused(t, 45, "line break");
}

static void test_cek_refuses_spaces(void **state) {
  (void)state;
  uint8_t k[32];
  fixture_cek_bytes(k);
  char b[64], t[80];
  b64_of(k, 32, b, sizeof b);
  snprintf(t, sizeof t, " %s", b);
  cek_refused(t, 45, "spaces");
  snprintf(t, sizeof t, "%s \n", b);
  cek_refused(t, 46, "spaces");
  snprintf(t, sizeof t, "%.20s %s", b, b + 20);
  cek_refused(t, 45, "spaces");
  snprintf(t, sizeof t, "%.20s\t%s", b, b + 21);
  cek_refused(t, 44, "spaces");
}

static void test_cek_refuses_base64url(void **state) {
  (void)state;
  /* Find a key whose base64 has both '+' and '/'. */
  uint8_t k[32];
  char b[64];
  for (uint32_t seed = 1;; seed++) {
    tu_fill(k, 32, seed);
    b64_of(k, 32, b, sizeof b);
    if (strchr(b, '+') && strchr(b, '/'))
      break;
  }
  cek_accepted(b, 44, k);
  for (char *p = b; *p; p++)
    *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
  cek_refused(b, 44, "base64url");
  char nopad[64];
  sodium_bin2base64(nopad, sizeof nopad, k, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  cek_refused(nopad, strlen(nopad), NULL);
}

static void test_cek_refuses_other_text(void **state) {
  (void)state;
  uint8_t k[32];
  fixture_cek_bytes(k);
  char hx[80];
  escrow__hex(hx, k, 32);
  strcat(hx, "\n");
  cek_refused(hx, 65, NULL); /* hex is not an accepted encoding */
  char b[64], t[80];
  b64_of(k, 32, b, sizeof b);
  memcpy(t, "\xef\xbb\xbf", 3);
  memcpy(t + 3, b, 44);
  cek_refused(t, 47, NULL); /* a BOM */
  memcpy(t, b, 44);
  t[10] = '\0';
  cek_refused(t, 44, NULL); /* NUL */
  memcpy(t, b, 44);
  t[10] = '=';
  cek_refused(t, 44, NULL); /* padding in the middle */
}

static void test_cek_arguments_are_checked(void **state) {
  (void)state;
  escrow_cek *cek = NULL;
  uint8_t k[32] = {0};
  assert_int_equal(escrow_cek_from_bytes(NULL, k, 32), ESCROW_E_INVALID);
  assert_int_equal(escrow_cek_from_bytes(&cek, NULL, 32), ESCROW_E_INVALID);
  assert_null(cek);
  assert_int_equal(escrow_cek_load(&cek, NULL), ESCROW_E_INVALID);
  assert_int_equal(escrow_cek_load(NULL, "x"), ESCROW_E_INVALID);
  assert_int_equal(escrow_cek_export(NULL, k), ESCROW_E_INVALID);
  assert_int_equal(escrow_cek_save(NULL, "x", ESCROW_CEK_RAW), ESCROW_E_INVALID);
  escrow_cek *c = tu_cek();
  assert_int_equal(escrow_cek_export(c, NULL), ESCROW_E_INVALID);
  assert_int_equal(escrow_cek_save(c, NULL, ESCROW_CEK_RAW), ESCROW_E_INVALID);
  assert_int_equal(escrow_cek_save(c, "x", (escrow_cek_encoding)7), ESCROW_E_INVALID);
  assert_int_equal(escrow_cek_equal(c, NULL), 0);
  assert_int_equal(escrow_cek_equal(NULL, NULL), 0);
  assert_int_equal(escrow_cek_equal(c, c), 1);
  escrow_cek_free(c);
  escrow_cek_free(NULL);
  assert_int_equal(escrow__cek_from_raw(NULL, k), ESCROW_E_INVALID);
  assert_int_equal(escrow__cek_from_raw(&cek, NULL), ESCROW_E_INVALID);
}

static void test_cek_from_raw_copies_the_bytes(void **state) {
  (void)state;
  uint8_t k[32], got[32];
  tu_fill(k, 32, 9);
  escrow_cek *c = NULL;
  assert_int_equal(escrow__cek_from_raw(&c, k), 0);
  k[0] ^= 1; /* the handle holds its own copy */
  assert_int_equal(escrow_cek_export(c, got), 0);
  k[0] ^= 1;
  assert_memory_equal(got, k, 32);
  escrow_cek *d = NULL;
  k[31] ^= 0x80;
  assert_int_equal(escrow__cek_from_raw(&d, k), 0);
  assert_false(escrow_cek_equal(c, d));
  escrow_cek_free(c);
  escrow_cek_free(d);
}

static void test_cek_save_and_load_round_trip_with_mode_0600(void **state) {
  (void)state;
  char *dir = tu_tmpdir("keys-cek-save");
  escrow_cek *c = NULL;
  assert_int_equal(escrow_cek_generate(&c), 0);
  uint8_t k[32];
  escrow_cek_export(c, k);
  char *raw = join(dir, "cek_raw.key"), *b64 = join(dir, "cek_b64.key");
  mode_t old = umask(0);
  assert_int_equal(escrow_cek_save(c, raw, ESCROW_CEK_RAW), 0);
  assert_int_equal(escrow_cek_save(c, b64, ESCROW_CEK_BASE64), 0);
  umask(old);
  assert_int_equal(file_mode(raw), 0600);
  assert_int_equal(file_mode(b64), 0600);
  size_t len;
  uint8_t *data = tu_read(raw, &len);
  assert_int_equal(len, 32);
  assert_memory_equal(data, k, 32);
  free(data);
  data = tu_read(b64, &len);
  assert_int_equal(len, 45);
  assert_int_equal(data[44], '\n');
  char expect[64];
  b64_of(k, 32, expect, sizeof expect);
  assert_memory_equal(data, expect, 44);
  free(data);
  escrow_cek *r1 = NULL, *r2 = NULL;
  assert_int_equal(escrow_cek_load(&r1, raw), 0);
  assert_int_equal(escrow_cek_load(&r2, b64), 0);
  assert_true(escrow_cek_equal(c, r1));
  assert_true(escrow_cek_equal(c, r2));
  assert_int_equal(count_entries(dir), 2);
  escrow_cek_free(c);
  escrow_cek_free(r1);
  escrow_cek_free(r2);
  escrow__rmtree(dir);
  free(raw);
  free(b64);
  free(dir);
}

static void test_cek_save_never_replaces_a_file(void **state) {
  (void)state;
  char *dir = tu_tmpdir("keys-cek-noreplace");
  char *p = join(dir, "cek.key");
  tu_write(p, "keep me", 7);
  escrow_cek *c = tu_cek();
  assert_int_equal(escrow_cek_save(c, p, ESCROW_CEK_RAW), ESCROW_E_EXISTS);
  assert_int_equal(escrow_cek_save(c, p, ESCROW_CEK_BASE64), ESCROW_E_EXISTS);
  size_t len;
  uint8_t *d = tu_read(p, &len);
  assert_int_equal(len, 7);
  assert_memory_equal(d, "keep me", 7);
  free(d);
  assert_int_equal(count_entries(dir), 1);
  /* A missing folder is an I/O error and leaves nothing behind. */
  char *q = join(dir, "no/such/cek.key");
  assert_int_equal(escrow_cek_save(c, q, ESCROW_CEK_RAW), ESCROW_E_NOTFOUND);
  escrow_cek_free(c);
  escrow__rmtree(dir);
  free(q);
  free(p);
  free(dir);
}

static void test_cek_load_refuses_large_files_unread(void **state) {
  (void)state;
  char *dir = tu_tmpdir("keys-cek-large");
  char *p = join(dir, "big.key");
  /* A sparse 1 GiB file: reading it would take long; refusing it does not. */
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, 1 << 30), 0);
  close(fd);
  escrow_cek *c = (escrow_cek *)0x1;
  assert_int_equal(escrow_cek_load(&c, p), ESCROW_E_KEY);
  assert_null(c);
  assert_true(contains(escrow_error_last(), "too large"));
  /* 65 bytes is already too many. */
  uint8_t b[65];
  memset(b, 'A', sizeof b);
  tu_write(p, b, sizeof b);
  assert_int_equal(escrow_cek_load(&c, p), ESCROW_E_KEY);
  assert_no_echo(b, sizeof b);
  /* 64 bytes is read, and refused for its contents. */
  tu_write(p, b, 64);
  assert_int_equal(escrow_cek_load(&c, p), ESCROW_E_KEY);
  assert_true(contains(escrow_error_last(), p));
  escrow__rmtree(dir);
  free(p);
  free(dir);
}

static void test_cek_load_reports_missing_files_and_folders(void **state) {
  (void)state;
  char *dir = tu_tmpdir("keys-cek-missing");
  char *p = join(dir, "nope.key");
  escrow_cek *c = NULL;
  assert_int_equal(escrow_cek_load(&c, p), ESCROW_E_NOTFOUND);
  assert_true(contains(escrow_error_last(), p));
  assert_int_equal(escrow_cek_load(&c, dir), ESCROW_E_IO);
  assert_null(c);
  escrow__rmtree(dir);
  free(p);
  free(dir);
}

static void test_cek_filename_is_a_fresh_uuid4_name(void **state) {
  (void)state;
  regex_t re;
  assert_int_equal(regcomp(&re,
                           "^cek_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                           "[0-9a-f]{12}\\.key$",
                           REG_EXTENDED | REG_NOSUB),
                   0);
  char a[ESCROW_CEK_FILENAME_SIZE], b[ESCROW_CEK_FILENAME_SIZE];
  assert_int_equal(escrow_cek_filename(a, sizeof a), 0);
  assert_int_equal(escrow_cek_filename(b, sizeof b), 0);
  assert_int_equal(regexec(&re, a, 0, NULL, 0), 0);
  assert_int_equal(regexec(&re, b, 0, NULL, 0), 0);
  assert_int_equal(strlen(a), ESCROW_CEK_FILENAME_SIZE - 1);
  assert_string_not_equal(a, b);
  regfree(&re);
  assert_int_equal(escrow_cek_filename(a, sizeof a - 1), ESCROW_E_INVALID);
  assert_int_equal(escrow_cek_filename(NULL, 100), ESCROW_E_INVALID);
}

/* ---- KEK readers ------------------------------------------------------------------------------ */

static void test_kek_public_reads_der_pem_and_base64_der(void **state) {
  (void)state;
  const char *names[] = {"kek4096.pub.der", "kek4096.pub.pem", "kek4096.pub.b64",
                         "kek4096.pub.b64-wrapped"};
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(names); i++) {
    escrow_kek *k = load_pub(names[i]);
    assert_int_equal(escrow_kek_bits(k), 4096);
    assert_int_equal(escrow_kek_has_private(k), 0);
    assert_key_id(k, KEK4096_ID);
    escrow_kek_free(k);
  }
}

static void test_kek_public_reads_pem_text_saved_as_der(void **state) {
  (void)state;
  /* BeeKeeperAI's API sample writes the PEM text it downloads to "<name>.der". */
  escrow_kek *k = load_pub("kek4096.pub-pem-text.der");
  assert_key_id(k, KEK4096_ID);
  escrow_kek_free(k);
  /* PEM with CRLF line ends and text around it is read as well. */
  size_t len;
  uint8_t *pem = vec("kek4096.pub.pem", &len);
  uint8_t *crlf = malloc(2 * len + 64);
  size_t o = (size_t)sprintf((char *)crlf, "key content:\r\n");
  for (size_t i = 0; i < len; i++) {
    if (pem[i] == '\n')
      crlf[o++] = '\r';
    crlf[o++] = pem[i];
  }
  escrow_kek *k2 = NULL;
  assert_int_equal(escrow_kek_public_from_bytes(&k2, crlf, o), 0);
  assert_key_id(k2, KEK4096_ID);
  escrow_kek_free(k2);
  free(crlf);
  free(pem);
}

static void test_kek_key_id_is_sha256_of_the_spki_der(void **state) {
  (void)state;
  /* KEK4096_ID is `openssl pkey -pubin -in kek4096.pub.pem -outform DER | sha256sum`. */
  escrow_kek *pub = load_pub("kek4096.pub.pem"), *priv = load_priv("kek4096.key.pem");
  assert_key_id(pub, KEK4096_ID);
  assert_key_id(priv, KEK4096_ID);
  escrow_kek *k3 = load_pub("kek3072.pub.pem");
  assert_key_id(k3, KEK3072_ID);
  char small[ESCROW_KEY_ID_SIZE - 1];
  assert_int_equal(escrow_kek_key_id(pub, small, sizeof small), ESCROW_E_INVALID);
  assert_int_equal(escrow_kek_key_id(NULL, small, 100), ESCROW_E_INVALID);
  escrow_kek_free(pub);
  escrow_kek_free(priv);
  escrow_kek_free(k3);
}

static void kek_public_refused(const char *name, const char *reason) {
  size_t len;
  uint8_t *d = vec(name, &len);
  escrow_kek *k = (escrow_kek *)0x1;
  assert_int_equal(escrow_kek_public_from_bytes(&k, d, len), ESCROW_E_KEY);
  assert_null(k);
  if (reason != NULL && !contains(escrow_error_last(), reason))
    fail_msg("%s: message '%s' does not say '%s'", name, escrow_error_last(), reason);
  free(d);
}

static void test_kek_refuses_rsa_2048(void **state) {
  (void)state;
  kek_public_refused("weak2048.pub.pem",
                     "RSA key of 2048 bits is too weak: KEKs need at least 3072");
  kek_public_refused("weak2048.pub.der", "too weak");
  escrow_kek *k = NULL;
  assert_int_equal(escrow_kek_private_load(&k, tu_vector("keys/weak2048.key.pem")), ESCROW_E_KEY);
  assert_true(contains(escrow_error_last(), "too weak"));
  assert_null(k);
}

static void test_kek_accepts_rsa_3072(void **state) {
  (void)state;
  escrow_kek *k = load_pub("kek3072.pub.pem");
  assert_int_equal(escrow_kek_bits(k), 3072);
  escrow_kek_free(k);
  k = load_priv("kek3072.key.pem");
  assert_int_equal(escrow_kek_bits(k), 3072);
  assert_int_equal(escrow_kek_has_private(k), 1);
  escrow_kek_free(k);
}

static void test_kek_refuses_non_rsa_keys(void **state) {
  (void)state;
  kek_public_refused("ec256.pub.pem", "not RSA");
  escrow_kek *k = NULL;
  assert_int_equal(escrow_kek_private_load(&k, tu_vector("keys/ec256.key.pem")), ESCROW_E_KEY);
  assert_true(contains(escrow_error_last(), "not RSA"));
}

static void test_kek_refuses_truncated_and_garbage_input(void **state) {
  (void)state;
  size_t len;
  uint8_t *der = vec("kek4096.pub.der", &len);
  escrow_kek *k = (escrow_kek *)0x1;
  for (size_t cut = 1; cut < len; cut += 37) {
    assert_int_equal(escrow_kek_public_from_bytes(&k, der, cut), ESCROW_E_KEY);
    assert_null(k);
  }
  uint8_t *longer = malloc(len + 1);
  memcpy(longer, der, len);
  longer[len] = 0;
  assert_int_equal(escrow_kek_public_from_bytes(&k, longer, len + 1), ESCROW_E_KEY);
  assert_true(contains(escrow_error_last(), "trailing"));
  free(longer);
  free(der);
  uint8_t *pem = vec("kek4096.pub.pem", &len);
  assert_int_equal(escrow_kek_public_from_bytes(&k, pem, len - 30), ESCROW_E_KEY);
  assert_true(contains(escrow_error_last(), "END"));
  assert_int_equal(escrow_kek_public_from_bytes(&k, pem, 40), ESCROW_E_KEY);
  pem[100] = '*';
  assert_int_equal(escrow_kek_public_from_bytes(&k, pem, len), ESCROW_E_KEY);
  free(pem);
  const char *junk = "not a key at all\n";
  assert_int_equal(escrow_kek_public_from_bytes(&k, (const uint8_t *)junk, strlen(junk)),
                   ESCROW_E_KEY);
  assert_int_equal(escrow_kek_public_from_bytes(&k, (const uint8_t *)"", 0), ESCROW_E_KEY);
  assert_int_equal(escrow_kek_public_from_bytes(&k, (const uint8_t *)"-----BEGIN ", 11),
                   ESCROW_E_KEY);
  const char *cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  assert_int_equal(escrow_kek_public_from_bytes(&k, (const uint8_t *)cert, strlen(cert)),
                   ESCROW_E_KEY);
  assert_true(contains(escrow_error_last(), "CERTIFICATE"));
  uint8_t big[70000];
  memset(big, 'A', sizeof big);
  assert_int_equal(escrow_kek_public_from_bytes(&k, big, sizeof big), ESCROW_E_KEY);
  assert_int_equal(escrow_kek_private_from_bytes(&k, big, sizeof big), ESCROW_E_KEY);
  assert_null(k);
}

static void test_kek_public_reader_refuses_private_keys(void **state) {
  (void)state;
  kek_public_refused("kek4096.key.pem", "private key");
  escrow_kek *k = NULL;
  assert_int_equal(escrow_kek_private_load(&k, tu_vector("keys/kek4096.pub.pem")), ESCROW_E_KEY);
  assert_true(contains(escrow_error_last(), "public key"));
  assert_int_equal(escrow_kek_private_load(&k, tu_vector("keys/kek4096.pub.der")), ESCROW_E_KEY);
  assert_true(contains(escrow_error_last(), "public key"));
  assert_null(k);
}

static void test_kek_private_reads_pkcs8_pem_and_der(void **state) {
  (void)state;
  const char *names[] = {"kek4096.key.pem", "kek4096.key.der", "kek4096.rsa.pem",
                         "kek4096.rsa.der"};
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(names); i++) {
    escrow_kek *k = load_priv(names[i]);
    assert_int_equal(escrow_kek_bits(k), 4096);
    assert_int_equal(escrow_kek_has_private(k), 1);
    assert_key_id(k, KEK4096_ID);
    escrow_kek_free(k);
  }
}

static void test_kek_refuses_encrypted_private_keys_without_prompting(void **state) {
  (void)state;
  install_recording_ui();
  const char *names[] = {"kek3072.enc.pem", "kek3072.enc.der", "kek3072.enc-traditional.pem"};
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(names); i++) {
    char rel[128];
    snprintf(rel, sizeof rel, "keys/%s", names[i]);
    escrow_kek *k = (escrow_kek *)0x1;
    assert_int_equal(escrow_kek_private_load(&k, tu_vector(rel)), ESCROW_E_KEY);
    assert_null(k);
    if (!contains(escrow_error_last(), "encrypted with a password"))
      fail_msg("%s: %s", names[i], escrow_error_last());
  }
  assert_int_equal(ui_prompts, 0);
  UI_set_default_method(UI_OpenSSL());
}

static void test_kek_arguments_are_checked(void **state) {
  (void)state;
  escrow_kek *k = NULL;
  uint8_t b[4] = {0};
  assert_int_equal(escrow_kek_public_from_bytes(NULL, b, 4), ESCROW_E_INVALID);
  assert_int_equal(escrow_kek_public_from_bytes(&k, NULL, 4), ESCROW_E_INVALID);
  assert_int_equal(escrow_kek_private_from_bytes(NULL, b, 4), ESCROW_E_INVALID);
  assert_int_equal(escrow_kek_private_from_bytes(&k, NULL, 4), ESCROW_E_INVALID);
  assert_int_equal(escrow_kek_public_load(&k, NULL), ESCROW_E_INVALID);
  assert_int_equal(escrow_kek_private_load(NULL, "x"), ESCROW_E_INVALID);
  assert_int_equal(escrow_kek_public_load(&k, "/nonexistent/kek.der"), ESCROW_E_NOTFOUND);
  assert_int_equal(escrow_kek_generate(NULL, 0), ESCROW_E_INVALID);
  assert_int_equal(escrow_kek_generate(&k, 2048), ESCROW_E_INVALID);
  assert_int_equal(escrow_kek_generate(&k, 1u << 20), ESCROW_E_INVALID);
  assert_null(k);
  assert_int_equal(escrow_kek_bits(NULL), 0);
  assert_int_equal(escrow_kek_has_private(NULL), 0);
  uint8_t *out = NULL;
  size_t ol = 0;
  assert_int_equal(escrow_kek_public_export(NULL, ESCROW_KEY_DER, &out, &ol), ESCROW_E_INVALID);
  assert_int_equal(escrow_kek_private_export(NULL, ESCROW_KEY_DER, &out, &ol), ESCROW_E_INVALID);
  escrow_kek *pub = tu_kek_public();
  assert_int_equal(escrow_kek_public_export(pub, (escrow_key_encoding)9, &out, &ol),
                   ESCROW_E_INVALID);
  assert_int_equal(escrow_kek_public_export(pub, ESCROW_KEY_DER, NULL, &ol), ESCROW_E_INVALID);
  assert_int_equal(escrow_kek_public_save(pub, NULL, ESCROW_KEY_DER), ESCROW_E_INVALID);
  assert_int_equal(escrow_kek_private_save(NULL, "x"), ESCROW_E_INVALID);
  escrow_kek_free(pub);
  escrow_kek_free(NULL);
}

static void test_kek_load_refuses_files_over_64_kib(void **state) {
  (void)state;
  char *dir = tu_tmpdir("keys-kek-large");
  char *p = join(dir, "huge.der");
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, 65 * 1024), 0);
  close(fd);
  escrow_kek *k = NULL;
  assert_int_equal(escrow_kek_public_load(&k, p), ESCROW_E_KEY);
  assert_int_equal(escrow_kek_private_load(&k, p), ESCROW_E_KEY);
  assert_true(contains(escrow_error_last(), "64 KiB"));
  escrow__rmtree(dir);
  free(p);
  free(dir);
}

/* ---- KEK writers ------------------------------------------------------------------------------ */

static void test_kek_public_export_matches_openssl_encodings(void **state) {
  (void)state;
  escrow_kek *k = tu_kek_private();
  const struct {
    escrow_key_encoding enc;
    const char *file;
    size_t strip; /* trailing newline of the fixture not in the export */
  } cases[] = {{ESCROW_KEY_DER, "kek4096.pub.der", 0},
               {ESCROW_KEY_PEM, "kek4096.pub.pem", 0},
               {ESCROW_KEY_BASE64, "kek4096.pub.b64", 1}};
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(cases); i++) {
    uint8_t *out = NULL;
    size_t ol = 0, fl;
    assert_int_equal(escrow_kek_public_export(k, cases[i].enc, &out, &ol), 0);
    uint8_t *f = vec(cases[i].file, &fl);
    assert_int_equal(ol, fl - cases[i].strip);
    assert_memory_equal(out, f, ol);
    escrow_kek *back = NULL;
    assert_int_equal(escrow_kek_public_from_bytes(&back, out, ol), 0);
    assert_key_id(back, KEK4096_ID);
    escrow_kek_free(back);
    escrow_free(out);
    free(f);
  }
  escrow_kek_free(k);
}

static void test_kek_private_export_is_pkcs8(void **state) {
  (void)state;
  escrow_kek *k = tu_kek_private();
  uint8_t *pem = NULL, *der = NULL;
  size_t pl = 0, dl = 0, fl;
  assert_int_equal(escrow_kek_private_export(k, ESCROW_KEY_PEM, &pem, &pl), 0);
  assert_int_equal(escrow_kek_private_export(k, ESCROW_KEY_DER, &der, &dl), 0);
  assert_true(pl > 30 && memcmp(pem, "-----BEGIN PRIVATE KEY-----\n", 28) == 0);
  uint8_t *f = vec("kek4096.key.der", &fl);
  assert_int_equal(dl, fl);
  assert_memory_equal(der, f, dl);
  free(f);
  escrow_kek *a = NULL, *b = NULL;
  assert_int_equal(escrow_kek_private_from_bytes(&a, pem, pl), 0);
  assert_int_equal(escrow_kek_private_from_bytes(&b, der, dl), 0);
  assert_key_id(a, KEK4096_ID);
  assert_key_id(b, KEK4096_ID);
  assert_int_equal(escrow_kek_has_private(b), 1);
  escrow_secret_free(pem);
  escrow_secret_free(der);
  assert_int_equal(escrow_kek_private_export(k, ESCROW_KEY_BASE64, &pem, &pl), ESCROW_E_INVALID);
  assert_null(pem);
  escrow_kek *pub = tu_kek_public();
  assert_int_equal(escrow_kek_private_export(pub, ESCROW_KEY_PEM, &pem, &pl), ESCROW_E_INVALID);
  assert_int_equal(escrow_kek_private_save(pub, "unused.pem"), ESCROW_E_INVALID);
  assert_false(tu_exists("unused.pem"));
  escrow_kek_free(pub);
  escrow_kek_free(a);
  escrow_kek_free(b);
  escrow_kek_free(k);
}

static void test_kek_save_and_load_round_trip(void **state) {
  (void)state;
  char *dir = tu_tmpdir("keys-kek-save");
  escrow_kek *k = tu_kek_private();
  char *pem = join(dir, "p-ao.pem"), *der = join(dir, "p-ao.der"), *key = join(dir, "p-ao.key.pem");
  mode_t old = umask(0);
  assert_int_equal(escrow_kek_public_save(k, pem, ESCROW_KEY_PEM), 0);
  assert_int_equal(escrow_kek_public_save(k, der, ESCROW_KEY_DER), 0);
  assert_int_equal(escrow_kek_private_save(k, key), 0);
  umask(old);
  assert_int_equal(file_mode(key), 0600);
  assert_int_equal(file_mode(der), 0644);
  size_t l1, l2;
  uint8_t *a = tu_read(der, &l1), *b = vec("kek4096.pub.der", &l2);
  assert_int_equal(l1, l2);
  assert_memory_equal(a, b, l1);
  free(a);
  free(b);
  escrow_kek *r = NULL;
  assert_int_equal(escrow_kek_public_load(&r, pem), 0);
  assert_key_id(r, KEK4096_ID);
  escrow_kek_free(r);
  assert_int_equal(escrow_kek_private_load(&r, key), 0);
  assert_int_equal(escrow_kek_has_private(r), 1);
  assert_key_id(r, KEK4096_ID);
  escrow_kek_free(r);
  /* No replacing, and nothing left behind. */
  assert_int_equal(escrow_kek_private_save(k, key), ESCROW_E_EXISTS);
  assert_int_equal(escrow_kek_public_save(k, der, ESCROW_KEY_DER), ESCROW_E_EXISTS);
  assert_int_equal(count_entries(dir), 3);
  escrow_kek_free(k);
  escrow__rmtree(dir);
  free(pem);
  free(der);
  free(key);
  free(dir);
}

static void test_kek_generate_makes_a_usable_key_pair(void **state) {
  (void)state;
  /* The one key-generation test (3072 bits: the fastest size allowed). */
  escrow_kek *k = NULL;
  assert_int_equal(escrow_kek_generate(&k, 3072), 0);
  assert_int_equal(escrow_kek_bits(k), 3072);
  assert_int_equal(escrow_kek_has_private(k), 1);
  char id[ESCROW_KEY_ID_SIZE];
  assert_int_equal(escrow_kek_key_id(k, id, sizeof id), 0);
  assert_int_equal(strlen(id), 71);
  assert_string_not_equal(id, KEK3072_ID);
  escrow_cek *c = tu_cek(), *back = NULL;
  uint8_t *w = NULL;
  size_t wl = 0;
  assert_int_equal(escrow_wcek_wrap(k, c, ESCROW_OAEP_AUTO, &w, &wl), 0);
  assert_int_equal(wl, 384);
  assert_int_equal(escrow_wcek_unwrap(&back, k, w, wl, ESCROW_OAEP_AUTO, NULL), 0);
  assert_true(escrow_cek_equal(c, back));
  escrow_free(w);
  escrow_cek_free(c);
  escrow_cek_free(back);
  escrow_kek_free(k);
}

static void test_kek_filenames_follow_the_manual(void **state) {
  (void)state;
  char pub[128], priv[128];
  assert_int_equal(escrow_kek_filenames("My Project: v2!", "ao", pub, sizeof pub, priv,
                                        sizeof priv),
                   0);
  regex_t re;
  regmatch_t m[2];
  assert_int_equal(regcomp(&re, "^My-Project-v2([a-z0-9]{8})-ao\\.der$", REG_EXTENDED), 0);
  if (regexec(&re, pub, 2, m, 0) != 0)
    fail_msg("unexpected public name %s", pub);
  regfree(&re);
  char rnd[9];
  memcpy(rnd, pub + m[1].rm_so, 8);
  rnd[8] = '\0';
  char expect[64];
  snprintf(expect, sizeof expect, "My-Project-v2%s-ao.key.pem", rnd);
  assert_string_equal(priv, expect); /* same random part */
  /* Fresh random part each call. */
  char pub2[128], priv2[128];
  assert_int_equal(escrow_kek_filenames("My Project: v2!", "ao", pub2, sizeof pub2, priv2,
                                        sizeof priv2),
                   0);
  assert_string_not_equal(pub, pub2);
  /* ds role; leading/trailing junk trimmed; non-ASCII letters are separators. */
  assert_int_equal(escrow_kek_filenames("  __Cancer  Study__ ", "ds", pub, sizeof pub, priv,
                                        sizeof priv),
                   0);
  assert_int_equal(strncmp(pub, "Cancer-Study", 12), 0);
  assert_true(strlen(pub) == 12 + 8 + 7 && strcmp(pub + 20, "-ds.der") == 0);
  assert_int_equal(escrow_kek_filenames("caf\xc3\xa9 2", "ao", pub, sizeof pub, priv,
                                        sizeof priv),
                   0);
  assert_int_equal(strncmp(pub, "caf-2", 5), 0);
  assert_int_equal(escrow_kek_filenames("", "ao", pub, sizeof pub, priv, sizeof priv), 0);
  assert_int_equal(strncmp(pub, "project", 7), 0);
  assert_int_equal(escrow_kek_filenames("!!!", "ds", pub, sizeof pub, priv, sizeof priv), 0);
  assert_int_equal(strncmp(pub, "project", 7), 0);
  /* Errors. */
  assert_int_equal(escrow_kek_filenames("p", "AO", pub, sizeof pub, priv, sizeof priv),
                   ESCROW_E_INVALID);
  assert_int_equal(escrow_kek_filenames("p", "xx", pub, sizeof pub, priv, sizeof priv),
                   ESCROW_E_INVALID);
  assert_int_equal(escrow_kek_filenames(NULL, "ao", pub, sizeof pub, priv, sizeof priv),
                   ESCROW_E_INVALID);
  assert_int_equal(escrow_kek_filenames("p", "ao", pub, 32, priv, sizeof priv),
                   ESCROW_E_INVALID);
  assert_int_equal(escrow_kek_filenames("p", "ao", pub, 33, priv, 33), 0);
  /* Very long titles are cut so the names stay valid file names. */
  char longname[600], lp[700], lk[700];
  memset(longname, 'x', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  assert_int_equal(escrow_kek_filenames(longname, "ao", lp, sizeof lp, lk, sizeof lk), 0);
  assert_true(strlen(lk) < 255);
}

/* ---- WCEK ----------------------------------------------------------------------------------- */

static void assert_unwrap_fails(const escrow_kek *k, const uint8_t *w, size_t wl,
                                escrow_oaep_hash h, int code, const uint8_t cek[32]) {
  escrow_cek *out = (escrow_cek *)0x1;
  escrow_oaep_hash used = (escrow_oaep_hash)77;
  int rc = escrow_wcek_unwrap(&out, k, w, wl, h, &used);
  assert_int_equal(rc, code);
  assert_null(out);
  assert_int_equal(used, 77);
  if (code == ESCROW_E_AUTH)
    assert_string_equal(escrow_error_last(), UNWRAP_MSG);
  if (cek != NULL)
    assert_no_echo(cek, 32);
}

static void test_wcek_wraps_and_unwraps_with_both_hashes(void **state) {
  (void)state;
  escrow_kek *pub = tu_kek_public(), *priv = tu_kek_private();
  escrow_cek *c = NULL;
  assert_int_equal(escrow_cek_generate(&c), 0);
  const escrow_oaep_hash hs[] = {ESCROW_OAEP_SHA256, ESCROW_OAEP_SHA1};
  for (size_t i = 0; i < 2; i++) {
    uint8_t *w = NULL;
    size_t wl = 0;
    assert_int_equal(escrow_wcek_wrap(pub, c, hs[i], &w, &wl), 0);
    assert_int_equal(wl, 512);
    escrow_cek *a = NULL, *b = NULL;
    escrow_oaep_hash used = ESCROW_OAEP_AUTO;
    assert_int_equal(escrow_wcek_unwrap(&a, priv, w, wl, ESCROW_OAEP_AUTO, &used), 0);
    assert_int_equal(used, hs[i]);
    assert_true(escrow_cek_equal(a, c));
    used = ESCROW_OAEP_AUTO;
    assert_int_equal(escrow_wcek_unwrap(&b, priv, w, wl, hs[i], &used), 0);
    assert_int_equal(used, hs[i]);
    assert_true(escrow_cek_equal(b, c));
    escrow_cek_free(a);
    escrow_cek_free(b);
    escrow_free(w);
  }
  escrow_cek_free(c);
  escrow_kek_free(pub);
  escrow_kek_free(priv);
}

static void test_wcek_auto_wraps_with_sha256(void **state) {
  (void)state;
  escrow_kek *priv = tu_kek_private();
  escrow_cek *c = tu_cek(), *a = NULL;
  uint8_t *w = NULL, *w2 = NULL;
  size_t wl = 0, wl2 = 0;
  assert_int_equal(escrow_wcek_wrap(priv, c, ESCROW_OAEP_AUTO, &w, &wl), 0);
  assert_int_equal(escrow_wcek_wrap(priv, c, ESCROW_OAEP_AUTO, &w2, &wl2), 0);
  assert_memory_not_equal(w, w2, 512); /* OAEP is randomised */
  escrow_oaep_hash used = ESCROW_OAEP_AUTO;
  assert_int_equal(escrow_wcek_unwrap(&a, priv, w, wl, ESCROW_OAEP_SHA256, &used), 0);
  assert_int_equal(used, ESCROW_OAEP_SHA256);
  escrow_cek_free(a);
  uint8_t k[32];
  escrow_cek_export(c, k);
  assert_unwrap_fails(priv, w, wl, ESCROW_OAEP_SHA1, ESCROW_E_AUTH, k);
  escrow_free(w);
  escrow_free(w2);
  escrow_cek_free(c);
  escrow_kek_free(priv);
}

static void test_wcek_unwrap_with_the_wrong_key_fails_authentication(void **state) {
  (void)state;
  escrow_kek *other = load_pub("other4096.pub.pem"), *priv = tu_kek_private();
  escrow_cek *c = tu_cek();
  uint8_t k[32];
  escrow_cek_export(c, k);
  uint8_t *w = NULL;
  size_t wl = 0;
  assert_int_equal(escrow_wcek_wrap(other, c, ESCROW_OAEP_SHA256, &w, &wl), 0);
  assert_unwrap_fails(priv, w, wl, ESCROW_OAEP_AUTO, ESCROW_E_AUTH, k);
  assert_unwrap_fails(priv, w, wl, ESCROW_OAEP_SHA256, ESCROW_E_AUTH, k);
  escrow_free(w);
  escrow_cek_free(c);
  escrow_kek_free(other);
  escrow_kek_free(priv);
}

static void test_wcek_unwrap_with_the_wrong_explicit_hash_fails(void **state) {
  (void)state;
  escrow_kek *priv = tu_kek_private();
  escrow_cek *c = tu_cek();
  uint8_t k[32];
  escrow_cek_export(c, k);
  uint8_t *w1 = NULL, *w256 = NULL;
  size_t l1 = 0, l256 = 0;
  assert_int_equal(escrow_wcek_wrap(priv, c, ESCROW_OAEP_SHA1, &w1, &l1), 0);
  assert_int_equal(escrow_wcek_wrap(priv, c, ESCROW_OAEP_SHA256, &w256, &l256), 0);
  assert_unwrap_fails(priv, w1, l1, ESCROW_OAEP_SHA256, ESCROW_E_AUTH, k);
  assert_unwrap_fails(priv, w256, l256, ESCROW_OAEP_SHA1, ESCROW_E_AUTH, k);
  escrow_free(w1);
  escrow_free(w256);
  escrow_cek_free(c);
  escrow_kek_free(priv);
}

static void test_wcek_altered_anywhere_fails_authentication(void **state) {
  (void)state;
  escrow_kek *priv = tu_kek_private();
  escrow_cek *c = tu_cek();
  uint8_t k[32];
  escrow_cek_export(c, k);
  uint8_t *w = NULL;
  size_t wl = 0;
  assert_int_equal(escrow_wcek_wrap(priv, c, ESCROW_OAEP_SHA1, &w, &wl), 0);
  const size_t at[] = {0, 1, 100, 255, 256, 511};
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(at); i++) {
    w[at[i]] ^= 0x04;
    assert_unwrap_fails(priv, w, wl, ESCROW_OAEP_AUTO, ESCROW_E_AUTH, k);
    w[at[i]] ^= 0x04;
  }
  escrow_cek *ok = NULL;
  assert_int_equal(escrow_wcek_unwrap(&ok, priv, w, wl, ESCROW_OAEP_AUTO, NULL), 0);
  assert_true(escrow_cek_equal(ok, c));
  escrow_cek_free(ok);
  escrow_free(w);
  escrow_cek_free(c);
  escrow_kek_free(priv);
}

static void test_wcek_of_the_wrong_length_is_a_format_error(void **state) {
  (void)state;
  escrow_kek *priv = tu_kek_private();
  escrow_cek *c = tu_cek();
  uint8_t *w = NULL;
  size_t wl = 0;
  assert_int_equal(escrow_wcek_wrap(priv, c, ESCROW_OAEP_SHA256, &w, &wl), 0);
  assert_unwrap_fails(priv, w, 511, ESCROW_OAEP_AUTO, ESCROW_E_FORMAT, NULL);
  assert_true(contains(escrow_error_last(), "512"));
  assert_unwrap_fails(priv, w, 0, ESCROW_OAEP_AUTO, ESCROW_E_FORMAT, NULL);
  uint8_t big[600] = {0};
  memcpy(big, w, 512);
  assert_unwrap_fails(priv, big, 513, ESCROW_OAEP_AUTO, ESCROW_E_FORMAT, NULL);
  /* A WCEK for the RSA-3072 key is 384 bytes. */
  escrow_kek *k3 = load_pub("kek3072.pub.pem");
  uint8_t *w3 = NULL;
  size_t l3 = 0;
  assert_int_equal(escrow_wcek_wrap(k3, c, ESCROW_OAEP_SHA256, &w3, &l3), 0);
  assert_int_equal(l3, 384);
  assert_unwrap_fails(priv, w3, l3, ESCROW_OAEP_AUTO, ESCROW_E_FORMAT, NULL);
  escrow_free(w3);
  escrow_kek_free(k3);
  escrow_free(w);
  escrow_cek_free(c);
  escrow_kek_free(priv);
}

static void test_wcek_unwrap_needs_the_private_half(void **state) {
  (void)state;
  escrow_kek *pub = tu_kek_public();
  escrow_cek *c = tu_cek();
  uint8_t *w = NULL;
  size_t wl = 0;
  assert_int_equal(escrow_wcek_wrap(pub, c, ESCROW_OAEP_SHA256, &w, &wl), 0);
  assert_unwrap_fails(pub, w, wl, ESCROW_OAEP_AUTO, ESCROW_E_INVALID, NULL);
  assert_true(contains(escrow_error_last(), "private"));
  escrow_cek *o = NULL;
  assert_int_equal(escrow_wcek_unwrap(NULL, pub, w, wl, ESCROW_OAEP_AUTO, NULL),
                   ESCROW_E_INVALID);
  assert_int_equal(escrow_wcek_unwrap(&o, NULL, w, wl, ESCROW_OAEP_AUTO, NULL),
                   ESCROW_E_INVALID);
  assert_int_equal(escrow_wcek_unwrap(&o, pub, NULL, wl, ESCROW_OAEP_AUTO, NULL),
                   ESCROW_E_INVALID);
  assert_int_equal(escrow_wcek_unwrap(&o, pub, w, wl, (escrow_oaep_hash)5, NULL),
                   ESCROW_E_INVALID);
  uint8_t *x = NULL;
  size_t xl = 0;
  assert_int_equal(escrow_wcek_wrap(NULL, c, ESCROW_OAEP_AUTO, &x, &xl), ESCROW_E_INVALID);
  assert_int_equal(escrow_wcek_wrap(pub, NULL, ESCROW_OAEP_AUTO, &x, &xl), ESCROW_E_INVALID);
  assert_int_equal(escrow_wcek_wrap(pub, c, (escrow_oaep_hash)5, &x, &xl), ESCROW_E_INVALID);
  assert_int_equal(escrow_wcek_wrap(pub, c, ESCROW_OAEP_AUTO, NULL, &xl), ESCROW_E_INVALID);
  assert_null(x);
  escrow_free(w);
  escrow_cek_free(c);
  escrow_kek_free(pub);
}

static void test_wcek_filename_is_a_fresh_uuid4_name(void **state) {
  (void)state;
  regex_t re;
  assert_int_equal(regcomp(&re,
                           "^wcek_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                           "[0-9a-f]{12}\\.key\\.bkenc$",
                           REG_EXTENDED | REG_NOSUB),
                   0);
  char a[ESCROW_WCEK_FILENAME_SIZE], b[ESCROW_WCEK_FILENAME_SIZE];
  assert_int_equal(escrow_wcek_filename(a, sizeof a), 0);
  assert_int_equal(escrow_wcek_filename(b, sizeof b), 0);
  assert_int_equal(regexec(&re, a, 0, NULL, 0), 0);
  assert_int_equal(regexec(&re, b, 0, NULL, 0), 0);
  assert_int_equal(strlen(a), ESCROW_WCEK_FILENAME_SIZE - 1);
  assert_string_not_equal(a, b);
  regfree(&re);
  assert_int_equal(escrow_wcek_filename(a, sizeof a - 1), ESCROW_E_INVALID);
}

/* ---- the shared vector manifest ---------------------------------------------------------------- */

static yajl_val manifest(void) {
  size_t len;
  uint8_t *text = vec("vectors.json", &len);
  char *s = malloc(len + 1);
  memcpy(s, text, len);
  s[len] = '\0';
  free(text);
  char err[256];
  yajl_val root = yajl_tree_parse(s, err, sizeof err);
  free(s);
  if (root == NULL)
    fail_msg("vectors.json: %s", err);
  return root;
}

static const char *jstr(yajl_val obj, const char *key) {
  const char *path[] = {key, NULL};
  yajl_val v = yajl_tree_get(obj, path, yajl_t_string);
  return v == NULL ? NULL : YAJL_GET_STRING(v);
}

static yajl_val jarr(yajl_val obj, const char *key) {
  const char *path[] = {key, NULL};
  yajl_val v = yajl_tree_get(obj, path, yajl_t_array);
  if (v == NULL)
    fail_msg("vectors.json: no array '%s'", key);
  return v;
}

static int code_of(const char *name) {
  static const struct {
    const char *name;
    int code;
  } codes[] = {{"ESCROW_E_KEY", ESCROW_E_KEY},
               {"ESCROW_E_AUTH", ESCROW_E_AUTH},
               {"ESCROW_E_FORMAT", ESCROW_E_FORMAT},
               {"ESCROW_E_INVALID", ESCROW_E_INVALID}};
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(codes); i++)
    if (strcmp(codes[i].name, name) == 0)
      return codes[i].code;
  fail_msg("vectors.json: unknown error code %s", name);
  return 0;
}

static uint8_t *unhex_alloc(const char *hex, size_t *len) {
  *len = strlen(hex) / 2;
  uint8_t *b = malloc(*len + 1);
  assert_int_equal(escrow__unhex(b, *len, hex), 0);
  return b;
}

static uint8_t *unb64_alloc(const char *b64, size_t *len) {
  size_t cap = strlen(b64) + 1;
  uint8_t *b = malloc(cap);
  assert_int_equal(sodium_base642bin(b, cap, b64, strlen(b64), NULL, len, NULL,
                                     sodium_base64_VARIANT_ORIGINAL),
                   0);
  return b;
}

/* The input of a case: "file", "input_hex" or "input_b64". */
static uint8_t *case_input(yajl_val c, size_t *len) {
  const char *s;
  if ((s = jstr(c, "file")) != NULL)
    return vec(s, len);
  if ((s = jstr(c, "input_hex")) != NULL)
    return unhex_alloc(s, len);
  if ((s = jstr(c, "input_b64")) != NULL)
    return unb64_alloc(s, len);
  fail_msg("vectors.json: case '%s' has no input", jstr(c, "name"));
  return NULL;
}

static void test_vectors_cek_encodings(void **state) {
  (void)state;
  yajl_val root = manifest();
  yajl_val cases = jarr(root, "cek");
  assert_true(YAJL_GET_ARRAY(cases)->len >= 30);
  size_t good = 0, bad = 0;
  for (size_t i = 0; i < YAJL_GET_ARRAY(cases)->len; i++) {
    yajl_val c = YAJL_GET_ARRAY(cases)->values[i];
    const char *name = jstr(c, "name"), *err = jstr(c, "error");
    size_t len;
    uint8_t *in = case_input(c, &len);
    escrow_cek *cek = NULL;
    int rc = escrow_cek_from_bytes(&cek, in, len);
    if (err != NULL) {
      if (rc != code_of(err))
        fail_msg("cek '%s': expected %s, got %d", name, err, rc);
      assert_null(cek);
      assert_no_echo(in, len);
      bad++;
    } else {
      if (rc != 0)
        fail_msg("cek '%s': %s", name, escrow_error_last());
      size_t kl;
      uint8_t *expect = unhex_alloc(jstr(c, "cek_hex"), &kl), got[32];
      assert_int_equal(kl, 32);
      escrow_cek_export(cek, got);
      if (memcmp(got, expect, 32) != 0)
        fail_msg("cek '%s': wrong key", name);
      free(expect);
      good++;
    }
    escrow_cek_free(cek);
    free(in);
  }
  assert_true(good >= 5 && bad >= 20);
  yajl_tree_free(root);
}

static void run_kek_cases(yajl_val cases, int private_key) {
  for (size_t i = 0; i < YAJL_GET_ARRAY(cases)->len; i++) {
    yajl_val c = YAJL_GET_ARRAY(cases)->values[i];
    const char *name = jstr(c, "name"), *err = jstr(c, "error");
    size_t len;
    uint8_t *in = case_input(c, &len);
    escrow_kek *k = NULL;
    int rc = private_key ? escrow_kek_private_from_bytes(&k, in, len)
                         : escrow_kek_public_from_bytes(&k, in, len);
    if (err != NULL) {
      if (rc != code_of(err))
        fail_msg("kek '%s': expected %s, got %d (%s)", name, err, rc, escrow_error_last());
      assert_null(k);
    } else {
      if (rc != 0)
        fail_msg("kek '%s': %s", name, escrow_error_last());
      const char *bits[] = {"bits", NULL};
      yajl_val b = yajl_tree_get(c, bits, yajl_t_number);
      assert_non_null(b);
      assert_int_equal(escrow_kek_bits(k), (unsigned)YAJL_GET_INTEGER(b));
      assert_int_equal(escrow_kek_has_private(k), private_key);
      assert_key_id(k, jstr(c, "key_id"));
    }
    escrow_kek_free(k);
    free(in);
  }
}

static void test_vectors_kek_readers(void **state) {
  (void)state;
  install_recording_ui();
  yajl_val root = manifest();
  run_kek_cases(jarr(root, "kek_public"), 0);
  run_kek_cases(jarr(root, "kek_private"), 1);
  assert_int_equal(ui_prompts, 0);
  UI_set_default_method(UI_OpenSSL());
  yajl_tree_free(root);
}

static escrow_oaep_hash hash_of(const char *s) {
  if (strcmp(s, "auto") == 0)
    return ESCROW_OAEP_AUTO;
  if (strcmp(s, "sha256") == 0)
    return ESCROW_OAEP_SHA256;
  if (strcmp(s, "sha1") == 0)
    return ESCROW_OAEP_SHA1;
  fail_msg("vectors.json: unknown oaep %s", s);
  return ESCROW_OAEP_AUTO;
}

static void test_vectors_wcek_unwrap(void **state) {
  (void)state;
  yajl_val root = manifest();
  yajl_val cases = jarr(root, "wcek_unwrap");
  escrow_kek *priv = NULL;
  const char *loaded = NULL;
  size_t ok = 0;
  for (size_t i = 0; i < YAJL_GET_ARRAY(cases)->len; i++) {
    yajl_val c = YAJL_GET_ARRAY(cases)->values[i];
    const char *name = jstr(c, "name"), *err = jstr(c, "error"), *keyf = jstr(c, "private_key");
    if (loaded == NULL || strcmp(loaded, keyf) != 0) {
      escrow_kek_free(priv);
      priv = load_priv(keyf);
      loaded = keyf;
    }
    size_t wl;
    uint8_t *w = unb64_alloc(jstr(c, "wcek_b64"), &wl);
    escrow_cek *cek = NULL;
    escrow_oaep_hash used = (escrow_oaep_hash)77;
    int rc = escrow_wcek_unwrap(&cek, priv, w, wl, hash_of(jstr(c, "oaep")), &used);
    if (err != NULL) {
      if (rc != code_of(err))
        fail_msg("wcek '%s': expected %s, got %d (%s)", name, err, rc, escrow_error_last());
      assert_null(cek);
    } else {
      if (rc != 0)
        fail_msg("wcek '%s': %s", name, escrow_error_last());
      assert_int_equal(used, hash_of(jstr(c, "used")));
      size_t kl;
      uint8_t *expect = unhex_alloc(jstr(c, "cek_hex"), &kl), got[32];
      escrow_cek_export(cek, got);
      assert_memory_equal(got, expect, 32);
      free(expect);
      ok++;
    }
    escrow_cek_free(cek);
    free(w);
  }
  assert_int_equal(ok, 4);
  escrow_kek_free(priv);
  yajl_tree_free(root);
}

/* ---- allocation failures ------------------------------------------------------------------------ */

typedef struct alloc_ctx {
  const char *path;
  const char *out_path;
  escrow_kek *kek;
  escrow_cek *cek;
  uint8_t *wcek;
  size_t wcek_len;
  escrow_cek *cek_out;
  escrow_kek *kek_out;
  uint8_t *buf;
  size_t buf_len;
  int secret;
  escrow_key_encoding enc;
  escrow_oaep_hash hash;
} alloc_ctx;

static void alloc_cleanup(void *p) {
  alloc_ctx *c = p;
  escrow_cek_free(c->cek_out);
  escrow_kek_free(c->kek_out);
  if (c->secret)
    escrow_secret_free(c->buf);
  else
    escrow_free(c->buf);
  c->cek_out = NULL;
  c->kek_out = NULL;
  c->buf = NULL;
  if (c->out_path != NULL)
    unlink(c->out_path);
}

static int op_cek_load(void *p) {
  alloc_ctx *c = p;
  return escrow_cek_load(&c->cek_out, c->path);
}
static int op_kek_public_load(void *p) {
  alloc_ctx *c = p;
  return escrow_kek_public_load(&c->kek_out, c->path);
}
static int op_kek_private_load(void *p) {
  alloc_ctx *c = p;
  return escrow_kek_private_load(&c->kek_out, c->path);
}
static int op_wrap(void *p) {
  alloc_ctx *c = p;
  c->secret = 0;
  return escrow_wcek_wrap(c->kek, c->cek, c->hash, &c->buf, &c->buf_len);
}
static int op_unwrap(void *p) {
  alloc_ctx *c = p;
  return escrow_wcek_unwrap(&c->cek_out, c->kek, c->wcek, c->wcek_len, c->hash, NULL);
}
static int op_public_export(void *p) {
  alloc_ctx *c = p;
  c->secret = 0;
  return escrow_kek_public_export(c->kek, c->enc, &c->buf, &c->buf_len);
}
static int op_private_export(void *p) {
  alloc_ctx *c = p;
  c->secret = 1;
  return escrow_kek_private_export(c->kek, c->enc, &c->buf, &c->buf_len);
}
static int op_cek_save(void *p) {
  alloc_ctx *c = p;
  return escrow_cek_save(c->cek, c->out_path, c->enc == ESCROW_KEY_PEM ? ESCROW_CEK_BASE64
                                                                       : ESCROW_CEK_RAW);
}
static int op_private_save(void *p) {
  alloc_ctx *c = p;
  return escrow_kek_private_save(c->kek, c->out_path);
}

static void test_allocation_failures_are_reported_as_nomem(void **state) {
  (void)state;
  char paths[6][160];
  const char *files[] = {"keys/cek.raw", "keys/cek.b64", "keys/kek4096.pub.pem",
                         "keys/kek4096.pub.b64", "keys/kek4096.key.pem", "keys/kek4096.rsa.pem"};
  for (int i = 0; i < 6; i++)
    snprintf(paths[i], sizeof paths[i], "%s", tu_vector(files[i]));
  alloc_ctx c = {0};
  unsigned long sites = 0;
  c.path = paths[0];
  sites += tu_alloc_failures(op_cek_load, alloc_cleanup, &c, 0);
  c.path = paths[1];
  sites += tu_alloc_failures(op_cek_load, alloc_cleanup, &c, 0);
  c.path = paths[2];
  sites += tu_alloc_failures(op_kek_public_load, alloc_cleanup, &c, 0);
  c.path = paths[3];
  sites += tu_alloc_failures(op_kek_public_load, alloc_cleanup, &c, 0);
  c.path = paths[4];
  sites += tu_alloc_failures(op_kek_private_load, alloc_cleanup, &c, 0);
  c.path = paths[5];
  sites += tu_alloc_failures(op_kek_private_load, alloc_cleanup, &c, 0);

  c.kek = tu_kek_private();
  c.cek = tu_cek();
  c.hash = ESCROW_OAEP_SHA1;
  sites += tu_alloc_failures(op_wrap, alloc_cleanup, &c, 0);
  assert_int_equal(escrow_wcek_wrap(c.kek, c.cek, ESCROW_OAEP_SHA1, &c.wcek, &c.wcek_len), 0);
  c.hash = ESCROW_OAEP_AUTO; /* tries SHA-256 first, then SHA-1 */
  sites += tu_alloc_failures(op_unwrap, alloc_cleanup, &c, 0);
  const escrow_key_encoding encs[] = {ESCROW_KEY_DER, ESCROW_KEY_PEM, ESCROW_KEY_BASE64};
  for (size_t i = 0; i < 3; i++) {
    c.enc = encs[i];
    sites += tu_alloc_failures(op_public_export, alloc_cleanup, &c, 0);
  }
  for (size_t i = 0; i < 2; i++) {
    c.enc = encs[i];
    sites += tu_alloc_failures(op_private_export, alloc_cleanup, &c, 0);
  }
  char *dir = tu_tmpdir("keys-alloc");
  char *out = join(dir, "out.key");
  c.out_path = out;
  c.enc = ESCROW_KEY_DER;
  sites += tu_alloc_failures(op_cek_save, alloc_cleanup, &c, 0);
  c.enc = ESCROW_KEY_PEM;
  sites += tu_alloc_failures(op_cek_save, alloc_cleanup, &c, 0);
  sites += tu_alloc_failures(op_private_save, alloc_cleanup, &c, 0);
  assert_int_equal(count_entries(dir), 0);
  assert_true(sites >= 20);
  escrow_free(c.wcek);
  escrow_cek_free(c.cek);
  escrow_kek_free(c.kek);
  escrow__rmtree(dir);
  free(out);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cek_generate_makes_distinct_random_keys),
      cmocka_unit_test(test_cek_reads_32_raw_bytes),
      cmocka_unit_test(test_cek_reads_canonical_base64_with_at_most_one_newline),
      cmocka_unit_test(test_cek_refuses_31_or_33_raw_bytes),
      cmocka_unit_test(test_cek_refuses_base64_of_31_or_33_bytes),
      cmocka_unit_test(test_cek_refuses_non_canonical_base64),
      cmocka_unit_test(test_cek_refuses_two_newlines_or_inner_line_breaks),
      cmocka_unit_test(test_cek_refuses_spaces),
      cmocka_unit_test(test_cek_refuses_base64url),
      cmocka_unit_test(test_cek_refuses_other_text),
      cmocka_unit_test(test_cek_arguments_are_checked),
      cmocka_unit_test(test_cek_from_raw_copies_the_bytes),
      cmocka_unit_test(test_cek_save_and_load_round_trip_with_mode_0600),
      cmocka_unit_test(test_cek_save_never_replaces_a_file),
      cmocka_unit_test(test_cek_load_refuses_large_files_unread),
      cmocka_unit_test(test_cek_load_reports_missing_files_and_folders),
      cmocka_unit_test(test_cek_filename_is_a_fresh_uuid4_name),
      cmocka_unit_test(test_kek_public_reads_der_pem_and_base64_der),
      cmocka_unit_test(test_kek_public_reads_pem_text_saved_as_der),
      cmocka_unit_test(test_kek_key_id_is_sha256_of_the_spki_der),
      cmocka_unit_test(test_kek_refuses_rsa_2048),
      cmocka_unit_test(test_kek_accepts_rsa_3072),
      cmocka_unit_test(test_kek_refuses_non_rsa_keys),
      cmocka_unit_test(test_kek_refuses_truncated_and_garbage_input),
      cmocka_unit_test(test_kek_public_reader_refuses_private_keys),
      cmocka_unit_test(test_kek_private_reads_pkcs8_pem_and_der),
      cmocka_unit_test(test_kek_refuses_encrypted_private_keys_without_prompting),
      cmocka_unit_test(test_kek_arguments_are_checked),
      cmocka_unit_test(test_kek_load_refuses_files_over_64_kib),
      cmocka_unit_test(test_kek_public_export_matches_openssl_encodings),
      cmocka_unit_test(test_kek_private_export_is_pkcs8),
      cmocka_unit_test(test_kek_save_and_load_round_trip),
      cmocka_unit_test(test_kek_generate_makes_a_usable_key_pair),
      cmocka_unit_test(test_kek_filenames_follow_the_manual),
      cmocka_unit_test(test_wcek_wraps_and_unwraps_with_both_hashes),
      cmocka_unit_test(test_wcek_auto_wraps_with_sha256),
      cmocka_unit_test(test_wcek_unwrap_with_the_wrong_key_fails_authentication),
      cmocka_unit_test(test_wcek_unwrap_with_the_wrong_explicit_hash_fails),
      cmocka_unit_test(test_wcek_altered_anywhere_fails_authentication),
      cmocka_unit_test(test_wcek_of_the_wrong_length_is_a_format_error),
      cmocka_unit_test(test_wcek_unwrap_needs_the_private_half),
      cmocka_unit_test(test_wcek_filename_is_a_fresh_uuid4_name),
      cmocka_unit_test(test_vectors_cek_encodings),
      cmocka_unit_test(test_vectors_kek_readers),
      cmocka_unit_test(test_vectors_wcek_unwrap),
      cmocka_unit_test(test_allocation_failures_are_reported_as_nomem),
  };
  return cmocka_run_group_tests_name("keys", tests, NULL, NULL);
}
