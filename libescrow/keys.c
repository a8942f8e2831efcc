/*
 * libescrow keys: CEK (32-byte content key), KEK (RSA key pair), WCEK (RSA-OAEP wrapped CEK).
 *
 * Contract: DESIGN §2 and include/escrow/keys.h. Secrets (CEK bytes, decoded private-key DER,
 * exported private keys, unwrapped plaintext) only ever sit in escrow__secure_malloc memory.
 * The RSA private key itself lives inside OpenSSL (EVP_PKEY), which clears its BIGNUMs on free.
 *
 * Parsing is done here, not by OpenSSL's generic PEM reader: PEM armour and base64 are decoded
 * into our own (secure) buffers, then the DER goes to d2i_* or an OSSL_DECODER whose passphrase
 * callback refuses, so no password prompt can ever appear.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "internal.h"

/* Largest input the byte readers look at: no key file is anywhere near this. */
#define KEK_MAX_INPUT (64u * 1024u)
/* A CEK file is at most 44 base64 characters and "\r\n"; anything over 64 bytes is refused. */
#define CEK_MAX_FILE 64u
#define CEK_B64_CHARS 44u
/* RSA operations above this size are refused by OpenSSL anyway (and would be slow). */
#define KEK_MAX_BITS 16384u
/* Longest hyphenated project name kept in KEK file names (keeps names under NAME_MAX). */
#define PROJECT_NAME_MAX 200u

struct escrow_kek {
  EVP_PKEY *pkey;
  int has_private;
  unsigned bits;
  uint8_t *spki; /* SubjectPublicKeyInfo DER (public) */
  size_t spki_len;
  char key_id[ESCROW_KEY_ID_SIZE];
};

static const char unwrap_failed[] =
    "cannot unwrap the WCEK: wrong private key, wrong OAEP hash, or the WCEK was altered";

/* ==== CEK ==================================================================================== */

int escrow__cek_from_raw(escrow_cek **out, const uint8_t key[ESCROW_CEK_BYTES]) {
  if (out == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow__cek_from_raw: out is NULL");
  *out = NULL;
  if (key == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow__cek_from_raw: key is NULL");
  escrow_cek *cek = escrow__secure_malloc(sizeof *cek);
  if (cek == NULL)
    return escrow__err_nomem();
  memcpy(cek->bytes, key, ESCROW_CEK_BYTES);
  *out = cek;
  return 0;
}

int escrow_cek_generate(escrow_cek **out) {
  if (out == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_cek_generate: out is NULL");
  *out = NULL;
  if (escrow_init() != 0)
    return escrow_error_last_code();
  escrow_cek *cek = escrow__secure_malloc(sizeof *cek);
  if (cek == NULL)
    return escrow__err_nomem();
  randombytes_buf(cek->bytes, ESCROW_CEK_BYTES);
  *out = cek;
  return 0;
}

/* Branch-free character classes (CEK text is secret): 1 if lo <= x <= hi, 1 if x == c. */
static unsigned ct_range(int x, int lo, int hi) {
  return ((unsigned)((lo - 1 - x) & (x - hi - 1))) >> 31;
}

static unsigned ct_eq(int x, int c) { return ((unsigned)((x ^ c) - 1)) >> 31; }

/* 1 if c is in the standard base64 alphabet (A-Z a-z 0-9 + /). */
static unsigned b64_std_char(uint8_t c) {
  int x = c;
  return ct_range(x, 'A', 'Z') | ct_range(x, 'a', 'z') | ct_range(x, '0', '9') | ct_eq(x, '+') |
         ct_eq(x, '/');
}

/* Explain why CEK text of len bytes (line ending already removed) is not canonical base64 of
 * 32 bytes. Only lengths, positions and character classes are reported, never the bytes. */
static int cek_text_error(const uint8_t *s, size_t len, size_t total) {
  for (size_t i = 0; i < len; i++) {
    uint8_t c = s[i];
    if ((c < 0x20 && c != '\n' && c != '\r' && c != '\t') || c >= 0x7F)
      return escrow__err(ESCROW_E_KEY,
                         "the CEK is %zu bytes, neither 32 raw bytes nor base64 text (44 "
                         "characters and at most one newline)",
                         total);
  }
  for (size_t i = 0; i < len; i++) {
    uint8_t c = s[i];
    if (c == '\n' || c == '\r')
      return escrow__err(ESCROW_E_KEY,
                         "the CEK has a line break before its end (only one trailing newline "
                         "is allowed)");
    if (c == ' ' || c == '\t' || c == '\v' || c == '\f')
      return escrow__err(ESCROW_E_KEY,
                         "the CEK contains spaces or tabs (position %zu): expected 32 raw bytes "
                         "or 44 characters of base64",
                         i);
    if (c == '-' || c == '_')
      return escrow__err(ESCROW_E_KEY, "the CEK uses the base64url alphabet ('-' or '_'); use "
                                       "standard base64 ('+' and '/', with '=' padding)");
  }
  for (size_t i = 0; i < len; i++) {
    uint8_t c = s[i];
    if (!b64_std_char(c) && c != '=')
      return escrow__err(ESCROW_E_KEY,
                         "the CEK is %zu bytes and not base64 (byte at position %zu is outside "
                         "the base64 alphabet): expected 32 raw bytes or 44 characters of base64",
                         total, i);
  }
  size_t eq = 0;
  while (eq < len && s[len - 1 - eq] == '=')
    eq++;
  for (size_t i = 0; i < len - eq; i++)
    if (s[i] == '=')
      return escrow__err(ESCROW_E_KEY, "the CEK's base64 has '=' before its end");
  if (len % 4 != 0 || eq > 2)
    return escrow__err(ESCROW_E_KEY,
                       "the CEK is %zu bytes: expected 32 raw bytes or 44 characters of base64 "
                       "(%zu characters given)",
                       total, len);
  size_t decoded = len / 4 * 3 - eq;
  if (decoded != ESCROW_CEK_BYTES)
    return escrow__err(ESCROW_E_KEY,
                       "the CEK is base64 of %zu bytes; a CEK is exactly 32 bytes", decoded);
  return escrow__err(ESCROW_E_KEY, "the CEK's base64 is not canonical (the unused low bits of "
                                   "the last character must be zero)");
}

int escrow_cek_from_bytes(escrow_cek **out, const uint8_t *data, size_t len) {
  if (out == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_cek_from_bytes: out is NULL");
  *out = NULL;
  if (data == NULL && len > 0)
    return escrow__err(ESCROW_E_INVALID, "escrow_cek_from_bytes: data is NULL");
  if (len == 0)
    return escrow__err(ESCROW_E_KEY, "the CEK is empty: expected 32 raw bytes or 44 characters "
                                     "of base64");
  if (len == ESCROW_CEK_BYTES)
    return escrow__cek_from_raw(out, data);
  size_t tlen = len;
  if (tlen >= 2 && data[tlen - 2] == '\r' && data[tlen - 1] == '\n')
    tlen -= 2;
  else if (data[tlen - 1] == '\n')
    tlen -= 1;
  if (tlen != CEK_B64_CHARS) {
    if (tlen > 2 * CEK_B64_CHARS)
      return escrow__err(ESCROW_E_KEY,
                         "the CEK is %zu bytes: expected 32 raw bytes or 44 characters of base64",
                         len);
    return cek_text_error(data, tlen, len);
  }
  /* Branch-free alphabet check over the 43 data characters, then '=' last. */
  unsigned ok = 1;
  for (size_t i = 0; i < CEK_B64_CHARS - 1; i++)
    ok &= b64_std_char(data[i]);
  if (!ok || data[CEK_B64_CHARS - 1] != '=')
    return cek_text_error(data, tlen, len);
  if (escrow_init() != 0)
    return escrow_error_last_code();
  escrow_cek *cek = escrow__secure_malloc(sizeof *cek);
  if (cek == NULL)
    return escrow__err_nomem();
  size_t got = 0;
  /* libsodium's decoder is constant-time and refuses non-zero unused bits. */
  if (sodium_base642bin(cek->bytes, ESCROW_CEK_BYTES, (const char *)data, CEK_B64_CHARS, NULL,
                        &got, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      got != ESCROW_CEK_BYTES) {
    escrow__secure_free(cek);
    return cek_text_error(data, tlen, len);
  }
  *out = cek;
  return 0;
}

int escrow_cek_load(escrow_cek **out, const char *path) {
  if (out == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_cek_load: out is NULL");
  *out = NULL;
  if (path == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_cek_load: path is NULL");
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return escrow__err_errno("cannot open the CEK file", path);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int rc = escrow__err_errno("cannot stat the CEK file", path);
    close(fd);
    return rc;
  }
  if (S_ISDIR(st.st_mode)) {
    close(fd);
    return escrow__err(ESCROW_E_IO, "'%s' is a folder, not a CEK file", path);
  }
  if (S_ISREG(st.st_mode) && st.st_size > (off_t)CEK_MAX_FILE) {
    close(fd);
    return escrow__err(ESCROW_E_KEY,
                       "'%s' is %lld bytes: too large for a CEK (32 raw bytes or 44 characters "
                       "of base64)",
                       path, (long long)st.st_size);
  }
  /* One byte more than the limit catches files that grew, and pipes. */
  uint8_t *buf = escrow__secure_malloc(CEK_MAX_FILE + 1);
  if (buf == NULL) {
    close(fd);
    return escrow__err_nomem();
  }
  size_t got = 0;
  int rc = escrow__read_full(fd, buf, CEK_MAX_FILE + 1, &got, path);
  close(fd);
  if (rc == 0 && got > CEK_MAX_FILE)
    rc = escrow__err(ESCROW_E_KEY,
                     "'%s' is over %u bytes: too large for a CEK (32 raw bytes or 44 characters "
                     "of base64)",
                     path, CEK_MAX_FILE);
  if (rc == 0) {
    rc = escrow_cek_from_bytes(out, buf, got);
    if (rc != 0 && rc != ESCROW_E_NOMEM) {
      char msg[400];
      snprintf(msg, sizeof msg, "%s", escrow_error_last());
      rc = escrow__err(rc, "'%s': %s", path, msg);
    }
  }
  escrow__secure_free(buf);
  return rc;
}

int escrow_cek_save(const escrow_cek *cek, const char *path, escrow_cek_encoding encoding) {
  if (cek == NULL || path == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_cek_save: %s is NULL",
                       cek == NULL ? "cek" : "path");
  if (encoding != ESCROW_CEK_RAW && encoding != ESCROW_CEK_BASE64)
    return escrow__err(ESCROW_E_INVALID, "escrow_cek_save: unknown encoding %d", (int)encoding);
  if (escrow_init() != 0)
    return escrow_error_last_code();
  /* 44 characters + NUL from libsodium; the NUL becomes the newline. */
  uint8_t *text = escrow__secure_malloc(CEK_B64_CHARS + 1);
  if (text == NULL)
    return escrow__err_nomem();
  const uint8_t *data = cek->bytes;
  size_t len = ESCROW_CEK_BYTES;
  if (encoding == ESCROW_CEK_BASE64) {
    sodium_bin2base64((char *)text, CEK_B64_CHARS + 1, cek->bytes, ESCROW_CEK_BYTES,
                      sodium_base64_VARIANT_ORIGINAL);
    text[CEK_B64_CHARS] = '\n';
    data = text;
    len = CEK_B64_CHARS + 1;
  }
  escrow__atomic a;
  int rc = escrow__atomic_open(&a, path, 0600, true);
  if (rc == 0) {
    if (fchmod(a.fd, 0600) != 0)
      rc = escrow__err_errno("cannot set the mode of", a.tmp_path);
    if (rc == 0)
      rc = escrow__write_all(a.fd, data, len, path);
    if (rc == 0)
      rc = escrow__atomic_commit(&a);
    else
      escrow__atomic_abort(&a);
  }
  escrow__secure_free(text);
  return rc;
}

int escrow_cek_export(const escrow_cek *cek, uint8_t out[ESCROW_CEK_BYTES]) {
  if (cek == NULL || out == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_cek_export: %s is NULL",
                       cek == NULL ? "cek" : "out");
  memcpy(out, cek->bytes, ESCROW_CEK_BYTES);
  return 0;
}

int escrow_cek_equal(const escrow_cek *a, const escrow_cek *b) {
  if (a == NULL || b == NULL)
    return 0;
  return sodium_memcmp(a->bytes, b->bytes, ESCROW_CEK_BYTES) == 0;
}

void escrow_cek_free(escrow_cek *cek) { escrow__secure_free(cek); }

int escrow_cek_filename(char *buf, size_t size) {
  if (buf == NULL || size < ESCROW_CEK_FILENAME_SIZE)
    return escrow__err(ESCROW_E_INVALID,
                       "escrow_cek_filename: the buffer must hold %d bytes",
                       ESCROW_CEK_FILENAME_SIZE);
  if (escrow_init() != 0)
    return escrow_error_last_code();
  char uuid[37];
  escrow__uuid4(uuid);
  snprintf(buf, size, "cek_%s.key", uuid);
  return 0;
}

/* ==== PEM and base64 ========================================================================= */

/* First occurrence of needle in hay (memmem is a GNU extension). */
static const uint8_t *find_bytes(const void *hay, size_t hay_len, const void *needle,
                                 size_t needle_len) {
  const uint8_t *h = hay;
  if (needle_len == 0 || hay_len < needle_len)
    return NULL;
  const uint8_t first = *(const uint8_t *)needle;
  for (size_t i = 0; i + needle_len <= hay_len; i++) {
    const uint8_t *c = memchr(h + i, first, hay_len - needle_len + 1 - i);
    if (c == NULL)
      return NULL;
    i = (size_t)(c - h);
    if (memcmp(c, needle, needle_len) == 0)
      return c;
  }
  return NULL;
}

typedef struct pem_block {
  char label[64];
  bool encrypted_header; /* "Proc-Type: 4,ENCRYPTED" (traditional encrypted PEM) */
  const uint8_t *body;   /* base64 text (with line breaks) */
  size_t body_len;
} pem_block;

static bool is_b64_or_space(uint8_t c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '+' || c == '/' || c == '=' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Find the first PEM block. Returns 1 if found, 0 if the input holds no "-----BEGIN ", or
 * ESCROW_E_KEY (recorded) if the armour is broken. */
static int pem_find(const uint8_t *data, size_t len, pem_block *pb) {
  static const char begin[] = "-----BEGIN ";
  memset(pb, 0, sizeof *pb);
  const uint8_t *p = find_bytes(data, len, begin, sizeof begin - 1);
  if (p == NULL)
    return 0;
  const uint8_t *end = data + len;
  const uint8_t *q = p + sizeof begin - 1;
  size_t n = 0;
  while (q + n < end && q[n] != '-' && q[n] >= 0x20 && q[n] < 0x7F && n < sizeof pb->label - 1)
    n++;
  if (n == 0 || (size_t)(end - (q + n)) < 5 || memcmp(q + n, "-----", 5) != 0)
    return escrow__err(ESCROW_E_KEY, "malformed PEM: the BEGIN line is broken");
  memcpy(pb->label, q, n);
  pb->label[n] = '\0';
  q += n + 5;
  while (q < end && (*q == ' ' || *q == '\t' || *q == '\r'))
    q++;
  if (q >= end || *q != '\n')
    return escrow__err(ESCROW_E_KEY, "malformed PEM: no line break after the BEGIN line");
  q++;
  char endline[96];
  int el = snprintf(endline, sizeof endline, "-----END %s-----", pb->label);
  const uint8_t *e = find_bytes(q, (size_t)(end - q), endline, (size_t)el);
  if (e == NULL)
    return escrow__err(ESCROW_E_KEY,
                       "malformed PEM: the '%s' block has no END line (is the file truncated?)",
                       pb->label);
  /* Optional RFC 1421 headers ("Name: value" lines, then an empty line). */
  const uint8_t *nl = memchr(q, '\n', (size_t)(e - q));
  if (nl != NULL && memchr(q, ':', (size_t)(nl - q)) != NULL) {
    const uint8_t *line = q;
    for (;;) {
      nl = memchr(line, '\n', (size_t)(e - line));
      if (nl == NULL)
        return escrow__err(ESCROW_E_KEY, "malformed PEM: headers without a body");
      size_t ll = (size_t)(nl - line);
      if (ll > 0 && line[ll - 1] == '\r')
        ll--;
      if (ll == 0) {
        q = nl + 1;
        break;
      }
      if (ll >= 10 && memcmp(line, "Proc-Type:", 10) == 0 &&
          find_bytes(line, ll, "ENCRYPTED", 9) != NULL)
        pb->encrypted_header = true;
      line = nl + 1;
    }
  }
  pb->body = q;
  pb->body_len = (size_t)(e - q);
  return 1;
}

/* Decode base64 text (whitespace ignored) into a fresh buffer (secure if secret). Returns 0,
 * ESCROW_E_KEY (with what) or ESCROW_E_NOMEM. */
static int b64_decode(const uint8_t *text, size_t len, bool secret, const char *what,
                      uint8_t **out, size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  bool any = false;
  for (size_t i = 0; i < len; i++) {
    if (!is_b64_or_space(text[i]))
      return escrow__err(ESCROW_E_KEY, "%s is not valid base64", what);
    if (text[i] != ' ' && text[i] != '\t' && text[i] != '\r' && text[i] != '\n')
      any = true;
  }
  if (!any)
    return escrow__err(ESCROW_E_KEY, "%s is empty", what);
  size_t cap = len / 4 * 3 + 3;
  uint8_t *buf = secret ? escrow__secure_malloc(cap) : escrow__malloc(cap);
  if (buf == NULL)
    return escrow__err_nomem();
  size_t got = 0;
  const char *b64_end = NULL;
  if (sodium_base642bin(buf, cap, (const char *)text, len, " \t\r\n", &got, &b64_end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      b64_end != (const char *)text + len || got == 0) {
    if (secret)
      escrow__secure_free(buf);
    else
      escrow__free(buf);
    return escrow__err(ESCROW_E_KEY, "%s is not valid base64", what);
  }
  *out = buf;
  *out_len = got;
  return 0;
}

/* ==== KEK ==================================================================================== */

/* Take ownership of pkey (freed on failure) and make a KEK handle after checking it is RSA of
 * an acceptable size with sane public numbers. */
static int kek_adopt(escrow_kek **out, EVP_PKEY *pkey, int has_private) {
  int rc = 0;
  uint8_t *spki = NULL;
  BIGNUM *n = NULL, *e = NULL;
  escrow_kek *k = NULL;
  if (!EVP_PKEY_is_a(pkey, "RSA")) {
    const char *name = EVP_PKEY_get0_type_name(pkey);
    rc = escrow__err(ESCROW_E_KEY, "the key is %s, not RSA: a KEK must be an RSA key (RSA-OAEP)",
                     name != NULL ? name : "of an unknown type");
    goto done;
  }
  int bits = EVP_PKEY_get_bits(pkey);
  if (bits < (int)ESCROW_KEK_MIN_BITS) {
    rc = escrow__err(ESCROW_E_KEY, "RSA key of %d bits is too weak: KEKs need at least %d", bits,
                     ESCROW_KEK_MIN_BITS);
    goto done;
  }
  if ((unsigned)bits > KEK_MAX_BITS) {
    rc = escrow__err(ESCROW_E_KEY, "RSA key of %d bits is too large: KEKs have at most %u", bits,
                     KEK_MAX_BITS);
    goto done;
  }
  if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) ||
      !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e)) {
    rc = escrow__err_openssl(ESCROW_E_KEY, "cannot read the RSA key's public numbers");
    goto done;
  }
  if (!BN_is_odd(n) || !BN_is_odd(e) || BN_is_one(e) || BN_cmp(e, n) >= 0 ||
      BN_num_bits(e) > 256) {
    rc = escrow__err(ESCROW_E_KEY, "the RSA public key is malformed (bad modulus or exponent)");
    goto done;
  }
  int dl = i2d_PUBKEY(pkey, NULL);
  if (dl <= 0) {
    rc = escrow__err_openssl(ESCROW_E_CRYPTO, "cannot encode the public key");
    goto done;
  }
  spki = escrow__malloc((size_t)dl);
  k = escrow__calloc(1, sizeof *k);
  if (spki == NULL || k == NULL) {
    rc = escrow__err_nomem();
    goto done;
  }
  unsigned char *p = spki;
  if (i2d_PUBKEY(pkey, &p) != dl) {
    rc = escrow__err_openssl(ESCROW_E_CRYPTO, "cannot encode the public key");
    goto done;
  }
  const escrow__algs *algs = escrow__get_algs();
  if (algs == NULL) {
    rc = escrow_error_last_code();
    goto done;
  }
  uint8_t md[32];
  unsigned mdl = 0;
  if (!EVP_Digest(spki, (size_t)dl, md, &mdl, algs->sha256, NULL) || mdl != sizeof md) {
    rc = escrow__err_openssl(ESCROW_E_CRYPTO, "cannot hash the public key");
    goto done;
  }
  memcpy(k->key_id, "sha256:", 7);
  escrow__hex(k->key_id + 7, md, sizeof md);
  k->pkey = pkey;
  k->has_private = has_private;
  k->bits = (unsigned)bits;
  k->spki = spki;
  k->spki_len = (size_t)dl;
  *out = k;
  pkey = NULL;
  spki = NULL;
  k = NULL;
done:
  BN_free(n);
  BN_free(e);
  escrow__free(spki);
  escrow__free(k);
  EVP_PKEY_free(pkey);
  ERR_clear_error();
  return rc;
}

int escrow_kek_generate(escrow_kek **out, unsigned bits) {
  if (out == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_kek_generate: out is NULL");
  *out = NULL;
  if (bits == 0)
    bits = ESCROW_KEK_DEFAULT_BITS;
  if (bits < ESCROW_KEK_MIN_BITS || bits > KEK_MAX_BITS)
    return escrow__err(ESCROW_E_INVALID, "a KEK must have %d to %u bits (%u requested)",
                       ESCROW_KEK_MIN_BITS, KEK_MAX_BITS, bits);
  if (escrow_init() != 0)
    return escrow_error_last_code();
  EVP_PKEY *pkey = NULL;
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
  if (ctx == NULL || EVP_PKEY_keygen_init(ctx) <= 0 ||
      EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, (int)bits) <= 0 || EVP_PKEY_generate(ctx, &pkey) <= 0) {
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return escrow__err_openssl(ESCROW_E_CRYPTO, "cannot generate an RSA-%u key", bits);
  }
  EVP_PKEY_CTX_free(ctx);
  return kek_adopt(out, pkey, 1);
}

/* Public key from SPKI DER (whole input). */
static int kek_public_from_der(escrow_kek **out, const uint8_t *der, size_t len) {
  const unsigned char *p = der;
  EVP_PKEY *pkey = d2i_PUBKEY(NULL, &p, (long)len);
  if (pkey == NULL)
    return escrow__err_openssl(ESCROW_E_KEY, "cannot read the public key (expected an X.509 "
                                             "SubjectPublicKeyInfo)");
  if (p != der + len) {
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return escrow__err(ESCROW_E_KEY, "the public key has %zu bytes of trailing data",
                       (size_t)(der + len - p));
  }
  return kek_adopt(out, pkey, 0);
}

static bool label_is_private(const char *label) { return strstr(label, "PRIVATE KEY") != NULL; }

/* The argument checks shared by the two KEK readers; kind is "public" or "private". */
static int check_kek_input(escrow_kek **out, const uint8_t *data, size_t len, const char *kind,
                           const char *fn) {
  if (out == NULL)
    return escrow__err(ESCROW_E_INVALID, "%s: out is NULL", fn);
  *out = NULL;
  if (data == NULL && len > 0)
    return escrow__err(ESCROW_E_INVALID, "%s: data is NULL", fn);
  if (len == 0)
    return escrow__err(ESCROW_E_KEY, "the %s key is empty", kind);
  if (len > KEK_MAX_INPUT)
    return escrow__err(ESCROW_E_KEY, "the %s key input is %zu bytes: too large for a key", kind,
                       len);
  return escrow_init();
}

int escrow_kek_public_from_bytes(escrow_kek **out, const uint8_t *data, size_t len) {
  int rc = check_kek_input(out, data, len, "public", "escrow_kek_public_from_bytes");
  if (rc != 0)
    return rc;
  pem_block pb;
  int found = pem_find(data, len, &pb);
  if (found < 0)
    return found;
  uint8_t *der = NULL;
  size_t der_len = 0;
  if (found) {
    if (strcmp(pb.label, "PUBLIC KEY") != 0) {
      if (label_is_private(pb.label))
        return escrow__err(ESCROW_E_KEY, "this is a private key (PEM '%s'); the KEK's public "
                                         "half is expected here",
                           pb.label);
      if (strcmp(pb.label, "RSA PUBLIC KEY") == 0)
        return escrow__err(ESCROW_E_KEY,
                           "PKCS#1 'RSA PUBLIC KEY' PEM is not accepted; convert it to SPKI "
                           "('-----BEGIN PUBLIC KEY-----', e.g. openssl rsa -RSAPublicKey_in "
                           "-pubout)");
      return escrow__err(ESCROW_E_KEY,
                         "unsupported PEM block '%s': expected '-----BEGIN PUBLIC KEY-----'",
                         pb.label);
    }
    rc = b64_decode(pb.body, pb.body_len, false, "the PEM public key body", &der, &der_len);
  } else if (data[0] == 0x30) {
    return kek_public_from_der(out, data, len);
  } else {
    rc = b64_decode(data, len, false, "the public key", &der, &der_len);
    if (rc == ESCROW_E_KEY || (rc == 0 && der[0] != 0x30)) {
      escrow__free(der);
      return escrow__err(ESCROW_E_KEY, "not a public key: expected an SPKI as DER, PEM "
                                       "('-----BEGIN PUBLIC KEY-----') or base64 of the DER");
    }
  }
  if (rc != 0)
    return rc;
  rc = kek_public_from_der(out, der, der_len);
  escrow__free(der);
  return rc;
}

/* OSSL_DECODER passphrase callback: never ask; remember that a password was wanted. */
static int refuse_passphrase(char *pass, size_t pass_size, size_t *pass_len,
                             const OSSL_PARAM params[], void *arg) {
  ESCROW__UNUSED(pass);
  ESCROW__UNUSED(pass_size);
  ESCROW__UNUSED(params);
  *pass_len = 0;
  *(int *)arg = 1;
  return 0;
}

static int encrypted_key_error(void) {
  ERR_clear_error();
  return escrow__err(ESCROW_E_KEY,
                     "the private key is encrypted with a password; libescrow reads unencrypted "
                     "PKCS#8 only (decrypt it first, e.g. openssl pkey -in KEY -out PLAIN.pem)");
}

/* PKCS#1 RSAPrivateKey DER, through a decoder that can never prompt. */
static EVP_PKEY *decode_pkcs1_private(const uint8_t *der, size_t len, int *asked) {
  EVP_PKEY *pkey = NULL;
  OSSL_DECODER_CTX *dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "DER", "type-specific", "RSA",
                                                         EVP_PKEY_KEYPAIR, NULL, NULL);
  if (dctx == NULL)
    return NULL;
  const unsigned char *p = der;
  size_t left = len;
  if (!OSSL_DECODER_CTX_set_passphrase_cb(dctx, refuse_passphrase, asked) ||
      !OSSL_DECODER_from_data(dctx, &p, &left) || left != 0) {
    EVP_PKEY_free(pkey);
    pkey = NULL;
  }
  OSSL_DECODER_CTX_free(dctx);
  return pkey;
}

/* Private key from DER: PKCS#8 PrivateKeyInfo, else (refused) EncryptedPrivateKeyInfo, else
 * PKCS#1 RSAPrivateKey when pkcs1 is allowed. */
static int kek_private_from_der(escrow_kek **out, const uint8_t *der, size_t len, bool pkcs8,
                                bool pkcs1) {
  EVP_PKEY *pkey = NULL;
  if (pkcs8) {
    const unsigned char *p = der;
    PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len);
    if (p8 != NULL) {
      if (p != der + len) {
        PKCS8_PRIV_KEY_INFO_free(p8);
        ERR_clear_error();
        return escrow__err(ESCROW_E_KEY, "the private key has %zu bytes of trailing data",
                           (size_t)(der + len - p));
      }
      pkey = EVP_PKCS82PKEY(p8);
      PKCS8_PRIV_KEY_INFO_free(p8);
      if (pkey == NULL)
        return escrow__err_openssl(ESCROW_E_KEY, "cannot read the PKCS#8 private key");
      return kek_adopt(out, pkey, 1);
    }
    ERR_clear_error();
    p = der;
    X509_SIG *enc = d2i_X509_SIG(NULL, &p, (long)len);
    if (enc != NULL) {
      X509_SIG_free(enc);
      return encrypted_key_error();
    }
    ERR_clear_error();
    p = der;
    EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, (long)len);
    if (pub != NULL) {
      EVP_PKEY_free(pub);
      ERR_clear_error();
      return escrow__err(ESCROW_E_KEY, "this is a public key; the KEK's private half (PKCS#8) "
                                       "is needed here");
    }
    ERR_clear_error();
  }
  if (pkcs1) {
    int asked = 0;
    pkey = decode_pkcs1_private(der, len, &asked);
    if (asked) {
      EVP_PKEY_free(pkey);
      return encrypted_key_error();
    }
    if (pkey != NULL) {
      ERR_clear_error();
      return kek_adopt(out, pkey, 1);
    }
  }
  return escrow__err_openssl(ESCROW_E_KEY, "cannot read the private key (expected unencrypted "
                                           "PKCS#8, PEM or DER)");
}

int escrow_kek_private_from_bytes(escrow_kek **out, const uint8_t *data, size_t len) {
  int rc = check_kek_input(out, data, len, "private", "escrow_kek_private_from_bytes");
  if (rc != 0)
    return rc;
  pem_block pb;
  int found = pem_find(data, len, &pb);
  if (found < 0)
    return found;
  if (!found) {
    if (data[0] != 0x30)
      return escrow__err(ESCROW_E_KEY, "not a private key: expected unencrypted PKCS#8 as PEM "
                                       "('-----BEGIN PRIVATE KEY-----') or DER");
    return kek_private_from_der(out, data, len, true, true);
  }
  bool pkcs8;
  if (strcmp(pb.label, "PRIVATE KEY") == 0) {
    pkcs8 = true;
  } else if (strcmp(pb.label, "RSA PRIVATE KEY") == 0) {
    pkcs8 = false;
  } else if (strcmp(pb.label, "ENCRYPTED PRIVATE KEY") == 0) {
    return encrypted_key_error();
  } else if (strcmp(pb.label, "PUBLIC KEY") == 0 || strcmp(pb.label, "RSA PUBLIC KEY") == 0) {
    return escrow__err(ESCROW_E_KEY, "this is a public key (PEM '%s'); the KEK's private half "
                                     "is needed here",
                       pb.label);
  } else {
    return escrow__err(ESCROW_E_KEY,
                       "unsupported PEM block '%s': expected '-----BEGIN PRIVATE KEY-----'",
                       pb.label);
  }
  if (pb.encrypted_header)
    return encrypted_key_error();
  uint8_t *der = NULL;
  size_t der_len = 0;
  rc = b64_decode(pb.body, pb.body_len, true, "the PEM private key body", &der, &der_len);
  if (rc != 0)
    return rc;
  rc = kek_private_from_der(out, der, der_len, pkcs8, !pkcs8);
  escrow__secure_free(der);
  return rc;
}

/* Shared file reader: too large is ESCROW_E_KEY; the message names the file. */
static int kek_load(escrow_kek **out, const char *path, bool private_key) {
  const char *fn = private_key ? "escrow_kek_private_load" : "escrow_kek_public_load";
  if (out == NULL)
    return escrow__err(ESCROW_E_INVALID, "%s: out is NULL", fn);
  *out = NULL;
  if (path == NULL)
    return escrow__err(ESCROW_E_INVALID, "%s: path is NULL", fn);
  uint8_t *buf = NULL;
  size_t len = 0;
  int rc = escrow__read_file(path, KEK_MAX_INPUT, private_key, &buf, &len);
  if (rc == ESCROW_E_LIMIT)
    return escrow__err(ESCROW_E_KEY, "'%s' is larger than %u KiB: not a key file", path,
                       KEK_MAX_INPUT / 1024);
  if (rc != 0)
    return rc;
  rc = private_key ? escrow_kek_private_from_bytes(out, buf, len)
                   : escrow_kek_public_from_bytes(out, buf, len);
  if (rc != 0 && rc != ESCROW_E_NOMEM) {
    char msg[400];
    snprintf(msg, sizeof msg, "%s", escrow_error_last());
    rc = escrow__err(rc, "'%s': %s", path, msg);
  }
  if (private_key)
    escrow__secure_free(buf);
  else
    escrow__free(buf);
  return rc;
}

int escrow_kek_public_load(escrow_kek **out, const char *path) {
  return kek_load(out, path, false);
}

int escrow_kek_private_load(escrow_kek **out, const char *path) {
  return kek_load(out, path, true);
}

/* "-----BEGIN <label>-----\n", base64 in 64-character lines, "-----END <label>-----\n". */
static int pem_encode(const uint8_t *der, size_t der_len, const char *label, uint8_t **out,
                      size_t *out_len) {
  size_t b64 = sodium_base64_ENCODED_LEN(der_len, sodium_base64_VARIANT_ORIGINAL); /* + NUL */
  size_t lines = (b64 - 1 + 63) / 64;
  size_t cap = 2 * (strlen(label) + 16) + b64 + lines + 1;
  char *tmp = escrow__malloc(b64);
  uint8_t *buf = escrow__malloc(cap);
  if (tmp == NULL || buf == NULL) {
    escrow__free(tmp);
    escrow__free(buf);
    return escrow__err_nomem();
  }
  sodium_bin2base64(tmp, b64, der, der_len, sodium_base64_VARIANT_ORIGINAL);
  size_t o = (size_t)snprintf((char *)buf, cap, "-----BEGIN %s-----\n", label);
  size_t tl = b64 - 1;
  for (size_t i = 0; i < tl; i += 64) {
    size_t n = tl - i < 64 ? tl - i : 64;
    memcpy(buf + o, tmp + i, n);
    o += n;
    buf[o++] = '\n';
  }
  o += (size_t)snprintf((char *)buf + o, cap - o, "-----END %s-----\n", label);
  escrow__free(tmp);
  *out = buf;
  *out_len = o;
  return 0;
}

int escrow_kek_public_export(const escrow_kek *kek, escrow_key_encoding encoding, uint8_t **out,
                             size_t *out_len) {
  if (out != NULL)
    *out = NULL;
  if (out_len != NULL)
    *out_len = 0;
  if (kek == NULL || out == NULL || out_len == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_kek_public_export: %s is NULL",
                       kek == NULL ? "kek" : out == NULL ? "out" : "out_len");
  switch (encoding) {
  case ESCROW_KEY_DER: {
    uint8_t *buf = escrow__malloc(kek->spki_len);
    if (buf == NULL)
      return escrow__err_nomem();
    memcpy(buf, kek->spki, kek->spki_len);
    *out = buf;
    *out_len = kek->spki_len;
    return 0;
  }
  case ESCROW_KEY_PEM:
    return pem_encode(kek->spki, kek->spki_len, "PUBLIC KEY", out, out_len);
  case ESCROW_KEY_BASE64: {
    size_t b64 = sodium_base64_ENCODED_LEN(kek->spki_len, sodium_base64_VARIANT_ORIGINAL);
    char *buf = escrow__malloc(b64);
    if (buf == NULL)
      return escrow__err_nomem();
    sodium_bin2base64(buf, b64, kek->spki, kek->spki_len, sodium_base64_VARIANT_ORIGINAL);
    *out = (uint8_t *)buf;
    *out_len = b64 - 1;
    return 0;
  }
  }
  return escrow__err(ESCROW_E_INVALID, "escrow_kek_public_export: unknown encoding %d",
                     (int)encoding);
}

int escrow_kek_private_export(const escrow_kek *kek, escrow_key_encoding encoding, uint8_t **out,
                              size_t *out_len) {
  if (out != NULL)
    *out = NULL;
  if (out_len != NULL)
    *out_len = 0;
  if (kek == NULL || out == NULL || out_len == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_kek_private_export: %s is NULL",
                       kek == NULL ? "kek" : out == NULL ? "out" : "out_len");
  if (!kek->has_private)
    return escrow__err(ESCROW_E_INVALID, "the KEK has no private half to export");
  if (encoding != ESCROW_KEY_DER && encoding != ESCROW_KEY_PEM)
    return escrow__err(ESCROW_E_INVALID, "a private key is exported as PKCS#8 PEM or DER only");
  int rc = 0;
  BIO *bio = NULL;
  OSSL_ENCODER_CTX *ectx = OSSL_ENCODER_CTX_new_for_pkey(
      kek->pkey, EVP_PKEY_KEYPAIR, encoding == ESCROW_KEY_PEM ? "PEM" : "DER", "PrivateKeyInfo",
      NULL);
  /* A secure-memory BIO: its buffer is cleared when freed. */
  bio = BIO_new(BIO_s_secmem());
  BUF_MEM *bm = NULL;
  if (ectx == NULL || OSSL_ENCODER_CTX_get_num_encoders(ectx) == 0 || bio == NULL ||
      !OSSL_ENCODER_to_bio(ectx, bio) || BIO_get_mem_ptr(bio, &bm) <= 0 || bm == NULL ||
      bm->length == 0) {
    rc = escrow__err_openssl(ESCROW_E_CRYPTO, "cannot encode the private key as PKCS#8");
    goto done;
  }
  uint8_t *buf = escrow__secure_malloc(bm->length + 1);
  if (buf == NULL) {
    rc = escrow__err_nomem();
    goto done;
  }
  memcpy(buf, bm->data, bm->length);
  buf[bm->length] = '\0';
  *out = buf;
  *out_len = bm->length;
done:
  if (bm != NULL && bm->data != NULL)
    OPENSSL_cleanse(bm->data, bm->max);
  BIO_free(bio);
  OSSL_ENCODER_CTX_free(ectx);
  return rc;
}

static int save_bytes(const char *path, const uint8_t *data, size_t len, mode_t mode) {
  escrow__atomic a;
  int rc = escrow__atomic_open(&a, path, mode, true);
  if (rc != 0)
    return rc;
  if (fchmod(a.fd, mode) != 0)
    rc = escrow__err_errno("cannot set the mode of", a.tmp_path);
  if (rc == 0)
    rc = escrow__write_all(a.fd, data, len, path);
  if (rc == 0)
    return escrow__atomic_commit(&a);
  escrow__atomic_abort(&a);
  return rc;
}

int escrow_kek_public_save(const escrow_kek *kek, const char *path, escrow_key_encoding encoding) {
  if (kek == NULL || path == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_kek_public_save: %s is NULL",
                       kek == NULL ? "kek" : "path");
  if (encoding != ESCROW_KEY_DER && encoding != ESCROW_KEY_PEM && encoding != ESCROW_KEY_BASE64)
    return escrow__err(ESCROW_E_INVALID, "escrow_kek_public_save: unknown encoding %d",
                       (int)encoding);
  uint8_t *data = NULL;
  size_t len = 0;
  int rc = escrow_kek_public_export(kek, encoding == ESCROW_KEY_PEM ? ESCROW_KEY_PEM
                                                                    : ESCROW_KEY_DER,
                                    &data, &len);
  if (rc != 0)
    return rc;
  rc = save_bytes(path, data, len, 0644);
  escrow__free(data);
  return rc;
}

int escrow_kek_private_save(const escrow_kek *kek, const char *path) {
  if (kek == NULL || path == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_kek_private_save: %s is NULL",
                       kek == NULL ? "kek" : "path");
  uint8_t *data = NULL;
  size_t len = 0;
  int rc = escrow_kek_private_export(kek, ESCROW_KEY_PEM, &data, &len);
  if (rc != 0)
    return rc;
  rc = save_bytes(path, data, len, 0600);
  escrow__secure_free(data);
  return rc;
}

int escrow_kek_has_private(const escrow_kek *kek) { return kek != NULL && kek->has_private; }

unsigned escrow_kek_bits(const escrow_kek *kek) { return kek == NULL ? 0 : kek->bits; }

int escrow_kek_key_id(const escrow_kek *kek, char *buf, size_t size) {
  if (kek == NULL || buf == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_kek_key_id: %s is NULL",
                       kek == NULL ? "kek" : "buf");
  if (size < ESCROW_KEY_ID_SIZE)
    return escrow__err(ESCROW_E_INVALID, "escrow_kek_key_id: the buffer must hold %d bytes",
                       ESCROW_KEY_ID_SIZE);
  memcpy(buf, kek->key_id, sizeof kek->key_id);
  return 0;
}

void escrow_kek_free(escrow_kek *kek) {
  if (kek == NULL)
    return;
  EVP_PKEY_free(kek->pkey); /* OpenSSL clears the private numbers */
  escrow__free(kek->spki);
  escrow__free(kek);
}

int escrow_kek_filenames(const char *project, const char *role, char *pub, size_t pub_size,
                         char *priv, size_t priv_size) {
  if (project == NULL || role == NULL || pub == NULL || priv == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_kek_filenames: %s is NULL",
                       project == NULL ? "project" : role == NULL ? "role"
                                                   : pub == NULL  ? "pub"
                                                                  : "priv");
  if (strcmp(role, "ao") != 0 && strcmp(role, "ds") != 0)
    return escrow__err(ESCROW_E_INVALID, "the KEK role must be \"ao\" or \"ds\"");
  size_t need = strlen(project) + 32;
  if (pub_size < need || priv_size < need)
    return escrow__err(ESCROW_E_INVALID,
                       "escrow_kek_filenames: each buffer must hold %zu bytes (project name "
                       "length + 32)",
                       need);
  if (escrow_init() != 0)
    return escrow_error_last_code();
  char name[PROJECT_NAME_MAX + 1];
  size_t n = 0;
  bool dash = false;
  for (const unsigned char *s = (const unsigned char *)project; *s != '\0' && n < PROJECT_NAME_MAX;
       s++) {
    bool alnum = (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9');
    if (!alnum) {
      dash = n > 0;
      continue;
    }
    if (dash) {
      name[n++] = '-';
      dash = false;
      if (n >= PROJECT_NAME_MAX)
        break;
    }
    name[n++] = (char)*s;
  }
  while (n > 0 && name[n - 1] == '-')
    n--;
  name[n] = '\0';
  if (n == 0)
    strcpy(name, "project");
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  char rnd[9];
  for (size_t i = 0; i < 8; i++)
    rnd[i] = alphabet[randombytes_uniform(sizeof alphabet - 1)];
  rnd[8] = '\0';
  snprintf(pub, pub_size, "%s%s-%s.der", name, rnd, role);
  snprintf(priv, priv_size, "%s%s-%s.key.pem", name, rnd, role);
  return 0;
}

/* ==== WCEK =================================================================================== */

static const EVP_MD *oaep_md(const escrow__algs *algs, escrow_oaep_hash h) {
  return h == ESCROW_OAEP_SHA1 ? algs->sha1 : algs->sha256;
}

static EVP_PKEY_CTX *oaep_ctx(EVP_PKEY *pkey, const EVP_MD *md, bool decrypt) {
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
  if (ctx == NULL)
    return NULL;
  if ((decrypt ? EVP_PKEY_decrypt_init(ctx) : EVP_PKEY_encrypt_init(ctx)) <= 0 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) <= 0 || EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) <= 0) {
    EVP_PKEY_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

int escrow_wcek_wrap(const escrow_kek *kek, const escrow_cek *cek, escrow_oaep_hash hash,
                     uint8_t **out, size_t *out_len) {
  if (out != NULL)
    *out = NULL;
  if (out_len != NULL)
    *out_len = 0;
  if (kek == NULL || cek == NULL || out == NULL || out_len == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_wcek_wrap: %s is NULL",
                       kek == NULL ? "kek" : cek == NULL ? "cek" : out == NULL ? "out" : "out_len");
  if (hash != ESCROW_OAEP_AUTO && hash != ESCROW_OAEP_SHA256 && hash != ESCROW_OAEP_SHA1)
    return escrow__err(ESCROW_E_INVALID, "escrow_wcek_wrap: unknown OAEP hash %d", (int)hash);
  const escrow__algs *algs = escrow__get_algs();
  if (algs == NULL)
    return escrow_error_last_code();
  size_t k = (kek->bits + 7) / 8;
  uint8_t *buf = escrow__malloc(k);
  if (buf == NULL)
    return escrow__err_nomem();
  EVP_PKEY_CTX *ctx = oaep_ctx(kek->pkey, oaep_md(algs, hash), false);
  size_t outl = k;
  if (ctx == NULL || EVP_PKEY_encrypt(ctx, buf, &outl, cek->bytes, ESCROW_CEK_BYTES) <= 0 ||
      outl != k) {
    EVP_PKEY_CTX_free(ctx);
    escrow__free(buf);
    return escrow__err_openssl(ESCROW_E_CRYPTO, "cannot wrap the CEK with RSA-OAEP");
  }
  EVP_PKEY_CTX_free(ctx);
  *out = buf;
  *out_len = k;
  return 0;
}

int escrow_wcek_unwrap(escrow_cek **out, const escrow_kek *kek, const uint8_t *wcek,
                       size_t wcek_len, escrow_oaep_hash hash, escrow_oaep_hash *used) {
  if (out == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_wcek_unwrap: out is NULL");
  *out = NULL;
  if (kek == NULL || wcek == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_wcek_unwrap: %s is NULL",
                       kek == NULL ? "kek" : "wcek");
  if (hash != ESCROW_OAEP_AUTO && hash != ESCROW_OAEP_SHA256 && hash != ESCROW_OAEP_SHA1)
    return escrow__err(ESCROW_E_INVALID, "escrow_wcek_unwrap: unknown OAEP hash %d", (int)hash);
  if (!kek->has_private)
    return escrow__err(ESCROW_E_INVALID,
                       "the KEK has no private half: unwrapping a WCEK needs the private key");
  size_t k = (kek->bits + 7) / 8;
  if (wcek_len != k)
    return escrow__err(ESCROW_E_FORMAT,
                       "the WCEK is %zu bytes; a WCEK for this RSA-%u KEK is %zu bytes", wcek_len,
                       kek->bits, k);
  const escrow__algs *algs = escrow__get_algs();
  if (algs == NULL)
    return escrow_error_last_code();
  escrow_oaep_hash tries[2];
  size_t ntries = 0;
  if (hash == ESCROW_OAEP_AUTO) {
    tries[ntries++] = ESCROW_OAEP_SHA256;
    tries[ntries++] = ESCROW_OAEP_SHA1;
  } else {
    tries[ntries++] = hash;
  }
  uint8_t *plain = escrow__secure_malloc(k);
  if (plain == NULL)
    return escrow__err_nomem();
  int rc = ESCROW_E_AUTH;
  for (size_t i = 0; i < ntries; i++) {
    EVP_PKEY_CTX *ctx = oaep_ctx(kek->pkey, oaep_md(algs, tries[i]), true);
    if (ctx == NULL) {
      rc = escrow__err_openssl(ESCROW_E_CRYPTO, "cannot set up RSA-OAEP");
      break;
    }
    size_t pl = k;
    int ok = EVP_PKEY_decrypt(ctx, plain, &pl, wcek, wcek_len);
    EVP_PKEY_CTX_free(ctx);
    if (ok > 0 && pl == ESCROW_CEK_BYTES) {
      rc = escrow__cek_from_raw(out, plain);
      if (rc == 0 && used != NULL)
        *used = tries[i];
      break;
    }
  }
  ERR_clear_error();
  sodium_memzero(plain, k);
  escrow__secure_free(plain);
  if (rc == ESCROW_E_AUTH)
    return escrow__err(ESCROW_E_AUTH, "%s", unwrap_failed);
  return rc;
}

int escrow_wcek_filename(char *buf, size_t size) {
  if (buf == NULL || size < ESCROW_WCEK_FILENAME_SIZE)
    return escrow__err(ESCROW_E_INVALID,
                       "escrow_wcek_filename: the buffer must hold %d bytes",
                       ESCROW_WCEK_FILENAME_SIZE);
  if (escrow_init() != 0)
    return escrow_error_last_code();
  char uuid[37];
  escrow__uuid4(uuid);
  snprintf(buf, size, "wcek_%s.key.bkenc", uuid);
  return 0;
}
