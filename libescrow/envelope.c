/*
 * libescrow envelope: BKENC v1 headers, key schedule, and the sans-I/O streaming encryptor and
 * decryptor (docs/FORMAT.md, DESIGN §3).
 *
 * Secrets: the decryptor borrows the caller's CEK (secure memory) until the header arrives,
 * rather than copying it (a sodium_malloc per file costs more than the whole setup); the
 * derived keys (PRK, K_hdr, K_data) only exist on the stack for the few instructions between
 * derivation and keying the HMAC/AES contexts, and are wiped right after. The long-lived copy
 * of K_data is OpenSSL's key schedule inside the EVP_CIPHER_CTX (cleansed by OpenSSL on free).
 *
 * Release of plaintext (decryption): each chunk is decrypted straight into the caller's output
 * buffer and its tag checked before the call returns; if the tag does not verify, the bytes
 * this chunk wrote are wiped before returning the error, so the caller never holds unverified
 * plaintext. Bytes of earlier chunks of the same call verified and stay valid.
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <sodium.h>

#include "envelope_internal.h"

enum { ST_OPEN = 0, ST_HEADER, ST_BODY, ST_TRAILING, ST_DONE, ST_DEAD };

/* ---- header ---------------------------------------------------------------------------------- */

struct escrow_header {
  size_t len; /* header bytes including hdrtag */
  unsigned log2cs;
  uint16_t voff[128]; /* offset+1 of each TLV value in vals, 0 if absent */
  char *vals;         /* NUL-terminated copies of the values */
  uint8_t bytes[];    /* the header, then vals */
};

static uint16_t be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }

escrow_file_format escrow_detect_format(const uint8_t *data, size_t len) {
  if (data == NULL || len < ESCROW_BKENC_MAGIC_BYTES)
    return ESCROW_FORMAT_UNKNOWN;
  if (memcmp(data, ESCROW_BKENC_MAGIC, ESCROW_BKENC_MAGIC_BYTES) == 0)
    return ESCROW_FORMAT_V1;
  if (memcmp(data, ESCROW_LEGACY_MAGIC, 8) == 0)
    return ESCROW_FORMAT_V0;
  return ESCROW_FORMAT_UNKNOWN;
}

static const char *tlv_name(unsigned type) {
  switch (type) {
  case 0x01: return "project id (0x01)";
  case 0x02: return "role (0x02)";
  case 0x03: return "asset (0x03)";
  case 0x04: return "path (0x04)";
  case 0x05: return "key id (0x05)";
  default: return "context field";
  }
}

/* Check the structure of a header in data[0..len). Returns 0 (then *total is the header
 * length), ESCROW_E_TRUNCATED (*total = bytes needed) or another error (recorded). */
static int header_check(const uint8_t *d, size_t len, size_t *total, bool quiet) {
  size_t m = len < ESCROW_BKENC_MAGIC_BYTES ? len : ESCROW_BKENC_MAGIC_BYTES;
  *total = ESCROW__BKENC_OFF_CONTEXT;
  if (m > 0 && memcmp(d, ESCROW_BKENC_MAGIC, m) != 0) {
    if (len >= 8 && memcmp(d, ESCROW_LEGACY_MAGIC, 8) == 0)
      return escrow__err(ESCROW_E_FORMAT, "bad magic: this is a legacy v0 (\"Salted__\") file, "
                                          "not BKENC v1");
    return escrow__err(ESCROW_E_FORMAT, "bad magic: not a BKENC v1 file");
  }
  if (len > ESCROW__BKENC_OFF_VERSION && d[ESCROW__BKENC_OFF_VERSION] != ESCROW_BKENC_VERSION)
    return escrow__err(ESCROW_E_UNSUPPORTED,
                       "BKENC version %u is not supported (this build reads version 1)",
                       d[ESCROW__BKENC_OFF_VERSION]);
  if (len > ESCROW__BKENC_OFF_SUITE &&
      d[ESCROW__BKENC_OFF_SUITE] != ESCROW_BKENC_SUITE_AES256GCM_HKDF_SHA256)
    return escrow__err(ESCROW_E_UNSUPPORTED,
                       "BKENC cipher suite %u is not supported (this build reads suite 1)",
                       d[ESCROW__BKENC_OFF_SUITE]);
  if (len > ESCROW__BKENC_OFF_LOG2CS && (d[ESCROW__BKENC_OFF_LOG2CS] < ESCROW_BKENC_LOG2CS_MIN ||
                                         d[ESCROW__BKENC_OFF_LOG2CS] > ESCROW_BKENC_LOG2CS_MAX))
    return escrow__err(ESCROW_E_UNSUPPORTED,
                       "chunk size 2^%u is not supported (readers accept 2^%d to 2^%d)",
                       d[ESCROW__BKENC_OFF_LOG2CS], ESCROW_BKENC_LOG2CS_MIN,
                       ESCROW_BKENC_LOG2CS_MAX);
  if (len > ESCROW__BKENC_OFF_FLAGS && d[ESCROW__BKENC_OFF_FLAGS] != 0)
    return escrow__err(ESCROW_E_UNSUPPORTED, "unknown header flags 0x%02x (none are defined)",
                       d[ESCROW__BKENC_OFF_FLAGS]);
  if (len < ESCROW__BKENC_OFF_CONTEXT)
    return quiet ? ESCROW_E_TRUNCATED : escrow__err(ESCROW_E_TRUNCATED, "truncated header: %zu of at least %d bytes", len,
                       ESCROW_BKENC_HEADER_MIN);
  size_t ctxlen = be16(d + ESCROW__BKENC_OFF_CTXLEN);
  if (ctxlen > ESCROW_BKENC_CONTEXT_MAX)
    return escrow__err(ESCROW_E_LIMIT, "header context is %zu bytes, over the %d-byte limit",
                       ctxlen, ESCROW_BKENC_CONTEXT_MAX);
  *total = ESCROW_BKENC_HEADER_MIN + ctxlen;
  if (len < *total)
    return quiet ? ESCROW_E_TRUNCATED : escrow__err(ESCROW_E_TRUNCATED, "truncated header: %zu of %zu bytes", len, *total);
  const uint8_t *c = d + ESCROW__BKENC_OFF_CONTEXT;
  size_t pos = 0;
  unsigned prev = 0;
  while (pos < ctxlen) {
    if (ctxlen - pos < 3)
      return escrow__err(ESCROW_E_FORMAT, "header context field at offset %zu overruns the "
                                          "context (%zu bytes left, a field needs 3 or more)",
                         pos, ctxlen - pos);
    unsigned type = c[pos];
    size_t vlen = be16(c + pos + 1);
    if (type == 0)
      return escrow__err(ESCROW_E_FORMAT, "header context field at offset %zu has type 0x00, "
                                          "which is invalid", pos);
    if (type == prev)
      return escrow__err(ESCROW_E_FORMAT, "header context field 0x%02x appears twice", type);
    if (type < prev)
      return escrow__err(ESCROW_E_FORMAT, "header context field 0x%02x follows 0x%02x (types "
                                          "must be strictly increasing)", type, prev);
    if (vlen == 0)
      return escrow__err(ESCROW_E_FORMAT, "header context field 0x%02x has zero length", type);
    if (vlen > ctxlen - pos - 3)
      return escrow__err(ESCROW_E_FORMAT, "header context field 0x%02x (%zu bytes) overruns "
                                          "the context", type, vlen);
    if (type >= 0x80)
      return escrow__err(ESCROW_E_UNSUPPORTED, "critical header context field 0x%02x is not "
                                               "supported by this build", type);
    const uint8_t *v = c + pos + 3;
    if (memchr(v, 0, vlen) != NULL || !escrow__utf8_valid(v, vlen))
      return escrow__err(ESCROW_E_FORMAT, "header %s is not valid UTF-8 text", tlv_name(type));
    if (type == 0x04) {
      char tmp[ESCROW_BKENC_CONTEXT_MAX + 1];
      memcpy(tmp, v, vlen);
      tmp[vlen] = '\0';
      if (!escrow__path_is_clean(tmp))
        return escrow__err(ESCROW_E_FORMAT, "header path (0x04) is not a clean relative path "
                                            "(absolute, empty component, '.', '..' or control "
                                            "character)");
    }
    prev = type;
    pos += 3 + vlen;
  }
  return 0;
}

int escrow_header_parse(escrow_header **out, const uint8_t *data, size_t len, size_t *needed) {
  if (out != NULL)
    *out = NULL;
  if (out == NULL || (data == NULL && len > 0))
    return escrow__err(ESCROW_E_INVALID, "escrow_header_parse: NULL argument");
  size_t total;
  int rc = header_check(data, len, &total, false);
  if (needed != NULL)
    *needed = total;
  if (rc != 0)
    return rc;
  size_t ctxlen = total - ESCROW_BKENC_HEADER_MIN;
  escrow_header *h = escrow__malloc(sizeof *h + total + ctxlen);
  if (h == NULL)
    return escrow__err_nomem();
  memset(h->voff, 0, sizeof h->voff);
  h->len = total;
  h->log2cs = data[ESCROW__BKENC_OFF_LOG2CS];
  memcpy(h->bytes, data, total);
  h->vals = (char *)h->bytes + total;
  const uint8_t *c = h->bytes + ESCROW__BKENC_OFF_CONTEXT;
  size_t pos = 0, vpos = 0;
  while (pos < ctxlen) {
    unsigned type = c[pos];
    size_t vlen = be16(c + pos + 1);
    /* Each field has 3 header bytes, so values plus NULs always fit in ctxlen bytes. */
    memcpy(h->vals + vpos, c + pos + 3, vlen);
    h->vals[vpos + vlen] = '\0';
    h->voff[type] = (uint16_t)(vpos + 1);
    vpos += vlen + 1;
    pos += 3 + vlen;
  }
  *out = h;
  return 0;
}

size_t escrow_header_length(const escrow_header *h) { return h ? h->len : 0; }
unsigned escrow_header_log2cs(const escrow_header *h) { return h ? h->log2cs : 0; }
const uint8_t *escrow_header_salt(const escrow_header *h) {
  return h ? h->bytes + ESCROW__BKENC_OFF_SALT : NULL;
}
const uint8_t *escrow_header_hdrtag(const escrow_header *h) {
  return h ? h->bytes + h->len - ESCROW_BKENC_HDRTAG_BYTES : NULL;
}
const uint8_t *escrow__header_bytes(const escrow_header *h) { return h->bytes; }

const char *escrow_header_context(const escrow_header *h, unsigned type) {
  if (h == NULL || type == 0 || type >= 0x80 || h->voff[type] == 0)
    return NULL;
  return h->vals + h->voff[type] - 1;
}

void escrow_header_free(escrow_header *h) { escrow__free(h); }

/* ---- key schedule ----------------------------------------------------------------------------- */

/* One HMAC-SHA-256 with a context whose digest is already set: out = HMAC(key, a || b). */
static int hmac2(EVP_MAC_CTX *m, uint8_t out[32], const uint8_t *key, size_t key_len,
                 const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len) {
  size_t ol = 0;
  if (EVP_MAC_init(m, key, key_len, NULL) != 1 || EVP_MAC_update(m, a, a_len) != 1 ||
      (b_len > 0 && EVP_MAC_update(m, b, b_len) != 1) || EVP_MAC_final(m, out, &ol, 32) != 1 ||
      ol != 32)
    return -1;
  return 0;
}

/*
 * HKDF-SHA-256 (RFC 5869) for 32-byte outputs is two HMACs: Extract PRK = HMAC(salt, IKM) and
 * Expand T(1) = HMAC(PRK, info || 0x01). Computing them with one EVP_MAC context (the digest is
 * fetched once) costs about half of three EVP_KDF derivations; tests/vectors/bkenc, made with
 * the `cryptography` package's HKDF, pin the result.
 */
int escrow__bkenc_derive(const uint8_t cek[ESCROW_CEK_BYTES],
                         const uint8_t salt[ESCROW_BKENC_SALT_BYTES], const uint8_t *hdr,
                         size_t body_len, uint8_t tag[ESCROW_BKENC_HDRTAG_BYTES],
                         uint8_t kdata[32]) {
  static const uint8_t info_hdr[] = ESCROW__BKENC_INFO_HEADER "\x01";
  static const uint8_t info_pay[] = ESCROW__BKENC_INFO_PAYLOAD;
  static const uint8_t one = 0x01;
  const escrow__algs *a = escrow__get_algs();
  if (a == NULL)
    return ESCROW_E_CRYPTO;
  uint8_t prk[32], khdr[32], info[sizeof info_pay - 1 + ESCROW_BKENC_HDRTAG_BYTES + 1];
  int rc = ESCROW_E_CRYPTO;
  OSSL_PARAM mp[2] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
                      OSSL_PARAM_construct_end()};
  EVP_MAC_CTX *m = EVP_MAC_CTX_new(a->hmac);
  if (m == NULL || EVP_MAC_CTX_set_params(m, mp) != 1)
    goto done;
  if (hmac2(m, prk, salt, ESCROW_BKENC_SALT_BYTES, cek, ESCROW_CEK_BYTES, NULL, 0) != 0 ||
      hmac2(m, khdr, prk, sizeof prk, info_hdr, sizeof info_hdr - 1, NULL, 0) != 0 ||
      hmac2(m, tag, khdr, sizeof khdr, hdr, body_len, NULL, 0) != 0)
    goto done;
  if (kdata != NULL) {
    memcpy(info, info_pay, sizeof info_pay - 1);
    memcpy(info + sizeof info_pay - 1, tag, ESCROW_BKENC_HDRTAG_BYTES);
    if (hmac2(m, kdata, prk, sizeof prk, info, sizeof info - 1, &one, 1) != 0)
      goto done;
  }
  rc = 0;
done:
  OPENSSL_cleanse(prk, sizeof prk);
  OPENSSL_cleanse(khdr, sizeof khdr);
  EVP_MAC_CTX_free(m);
  if (rc != 0) {
    if (kdata != NULL)
      OPENSSL_cleanse(kdata, 32);
    return escrow__err_openssl(ESCROW_E_CRYPTO, "BKENC key derivation failed");
  }
  return 0;
}

void escrow__bkenc_nonce(uint8_t n[ESCROW__BKENC_NONCE_BYTES], uint64_t index, int final) {
  memset(n, 0, 3);
  for (int i = 0; i < 8; i++)
    n[3 + i] = (uint8_t)(index >> (56 - 8 * i));
  n[11] = final ? 0x01 : 0x00;
}

int escrow__bkenc_cipher_new(EVP_CIPHER_CTX **out, const uint8_t kdata[32], int enc) {
  *out = NULL;
  const escrow__algs *a = escrow__get_algs();
  if (a == NULL)
    return ESCROW_E_CRYPTO;
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  if (c == NULL)
    return escrow__err_nomem();
  if (EVP_CipherInit_ex2(c, a->aes256gcm, kdata, NULL, enc, NULL) != 1) {
    EVP_CIPHER_CTX_free(c);
    return escrow__err_openssl(ESCROW_E_CRYPTO, "cannot key AES-256-GCM");
  }
  *out = c;
  return 0;
}

int escrow__bkenc_chunk_seal(EVP_CIPHER_CTX *c, uint8_t *out, const uint8_t *in, size_t len,
                             uint64_t index, int final) {
  uint8_t n[ESCROW__BKENC_NONCE_BYTES];
  int l1 = 0, l2 = 0;
  escrow__bkenc_nonce(n, index, final);
  if (EVP_EncryptInit_ex2(c, NULL, NULL, n, NULL) != 1 ||
      (len > 0 && EVP_EncryptUpdate(c, out, &l1, in, (int)len) != 1) ||
      EVP_EncryptFinal_ex(c, out + l1, &l2) != 1 || (size_t)l1 + (size_t)l2 != len ||
      EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, ESCROW_BKENC_CHUNK_TAG_BYTES, out + len) != 1)
    return escrow__err_openssl(ESCROW_E_CRYPTO, "AES-256-GCM encryption of chunk %llu failed",
                               (unsigned long long)index);
  return 0;
}

int escrow__bkenc_chunk_open(EVP_CIPHER_CTX *c, uint8_t *out, const uint8_t *ct, size_t ct_len,
                             uint64_t index, int final) {
  uint8_t n[ESCROW__BKENC_NONCE_BYTES], tag[ESCROW_BKENC_CHUNK_TAG_BYTES];
  size_t len = ct_len - ESCROW_BKENC_CHUNK_TAG_BYTES;
  int l1 = 0, l2 = 0;
  escrow__bkenc_nonce(n, index, final);
  memcpy(tag, ct + len, sizeof tag);
  if (EVP_DecryptInit_ex2(c, NULL, NULL, n, NULL) != 1 ||
      (len > 0 && EVP_DecryptUpdate(c, out, &l1, ct, (int)len) != 1) ||
      EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, sizeof tag, tag) != 1) {
    if (l1 > 0)
      OPENSSL_cleanse(out, (size_t)l1);
    return escrow__err_openssl(ESCROW_E_CRYPTO, "AES-256-GCM decryption of chunk %llu failed",
                               (unsigned long long)index);
  }
  if (EVP_DecryptFinal_ex(c, out + l1, &l2) != 1 || (size_t)l1 + (size_t)l2 != len) {
    /* Unverified bytes never outlive this call. */
    if (len > 0)
      OPENSSL_cleanse(out, len);
    ERR_clear_error();
    return 1;
  }
  return 0;
}

int escrow__bkenc_open_header(const escrow_header *h, const uint8_t cek[ESCROW_CEK_BYTES],
                              const char *expect_path, const uint8_t *expect_hdrtag,
                              EVP_CIPHER_CTX **cipher) {
  uint8_t tag[ESCROW_BKENC_HDRTAG_BYTES], kdata[32];
  *cipher = NULL;
  int rc = escrow__bkenc_derive(cek, escrow_header_salt(h), h->bytes,
                                h->len - ESCROW_BKENC_HDRTAG_BYTES, tag, kdata);
  if (rc != 0)
    return rc;
  if (CRYPTO_memcmp(tag, escrow_header_hdrtag(h), sizeof tag) != 0) {
    rc = escrow__err(ESCROW_E_AUTH, "wrong key, or the file header was altered (header tag "
                                    "does not verify)");
  } else if (expect_hdrtag != NULL &&
             CRYPTO_memcmp(expect_hdrtag, escrow_header_hdrtag(h), sizeof tag) != 0) {
    rc = escrow__err(ESCROW_E_MISMATCH, "the file's header tag is not the expected one (the "
                                        "file was replaced by another or by an older version)");
  } else if (expect_path != NULL) {
    const char *p = escrow_header_context(h, 0x04);
    if (p == NULL)
      rc = escrow__err(ESCROW_E_MISMATCH, "the file carries no path in its header; expected "
                                          "'%s'", expect_path);
    else if (strcmp(p, expect_path) != 0)
      rc = escrow__err(ESCROW_E_MISMATCH, "the file was encrypted as '%s' but found at '%s'",
                       p, expect_path);
  }
  if (rc == 0)
    rc = escrow__bkenc_cipher_new(cipher, kdata, 0);
  OPENSSL_cleanse(kdata, sizeof kdata);
  return rc;
}

int escrow_header_verify(const escrow_header *h, const escrow_cek *cek) {
  if (h == NULL || cek == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_header_verify: NULL argument");
  uint8_t tag[ESCROW_BKENC_HDRTAG_BYTES];
  int rc = escrow__bkenc_derive(cek->bytes, escrow_header_salt(h), h->bytes,
                                h->len - ESCROW_BKENC_HDRTAG_BYTES, tag, NULL);
  if (rc != 0)
    return rc;
  if (CRYPTO_memcmp(tag, escrow_header_hdrtag(h), sizeof tag) != 0)
    return escrow__err(ESCROW_E_AUTH, "wrong key, or the file header was altered (header tag "
                                      "does not verify)");
  return 0;
}

/* ---- sizes ------------------------------------------------------------------------------------ */

uint64_t escrow_bkenc_ciphertext_size(uint64_t pt, unsigned log2cs, size_t header_len) {
  if (log2cs < ESCROW_BKENC_LOG2CS_MIN || log2cs > ESCROW_BKENC_LOG2CS_MAX)
    return UINT64_MAX;
  uint64_t cs = UINT64_C(1) << log2cs;
  uint64_t n = pt == 0 ? 1 : (pt - 1) / cs + 1;
  if (n > ESCROW_BKENC_MAX_CHUNKS)
    return UINT64_MAX;
  uint64_t r = pt + n * ESCROW_BKENC_CHUNK_TAG_BYTES; /* n <= 2^32: no overflow in n*16 */
  if (r < pt || r > UINT64_MAX - header_len)
    return UINT64_MAX;
  return r + header_len;
}

int escrow_bkenc_plaintext_size(uint64_t *plaintext_size, uint64_t file_size, unsigned log2cs,
                                size_t header_len) {
  if (plaintext_size == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_bkenc_plaintext_size: NULL argument");
  *plaintext_size = 0;
  if (log2cs < ESCROW_BKENC_LOG2CS_MIN || log2cs > ESCROW_BKENC_LOG2CS_MAX)
    return escrow__err(ESCROW_E_INVALID, "chunk size 2^%u is out of range", log2cs);
  if (file_size < (uint64_t)header_len + ESCROW_BKENC_CHUNK_TAG_BYTES)
    return escrow__err(ESCROW_E_FORMAT, "%llu bytes is too short for a BKENC v1 file with a "
                                        "%zu-byte header",
                       (unsigned long long)file_size, header_len);
  uint64_t cs = UINT64_C(1) << log2cs, cts = cs + ESCROW_BKENC_CHUNK_TAG_BYTES;
  uint64_t body = file_size - header_len;
  uint64_t full = body / cts, rem = body % cts;
  uint64_t n = full + (rem != 0);
  if (n > ESCROW_BKENC_MAX_CHUNKS)
    return escrow__err(ESCROW_E_FORMAT, "%llu bytes would hold more than 2^32 chunks",
                       (unsigned long long)file_size);
  if (rem != 0 && rem < ESCROW_BKENC_CHUNK_TAG_BYTES)
    return escrow__err(ESCROW_E_FORMAT, "no plaintext size gives a %llu-byte BKENC v1 file "
                                        "(the last chunk would be shorter than its tag)",
                       (unsigned long long)file_size);
  if (rem == ESCROW_BKENC_CHUNK_TAG_BYTES && full > 0)
    return escrow__err(ESCROW_E_FORMAT, "no plaintext size gives a %llu-byte BKENC v1 file "
                                        "(the final chunk would be empty)",
                       (unsigned long long)file_size);
  *plaintext_size = full * cs + (rem != 0 ? rem - ESCROW_BKENC_CHUNK_TAG_BYTES : 0);
  return 0;
}

/* ---- encryptor -------------------------------------------------------------------------------- */

struct escrow_encryptor {
  int state;
  unsigned log2cs;
  size_t cs;
  EVP_CIPHER_CTX *cipher;
  escrow_header *hdr;
  size_t hdr_pending; /* header bytes not yet written */
  uint64_t index;     /* next chunk index */
  uint64_t total;     /* plaintext consumed */
  size_t buf_len;     /* plaintext held back */
  size_t buf_hw;      /* high-water mark of buf, for wiping */
  uint8_t buf[];      /* one chunk */
};

static int context_value_ok(const char *v, const char *what, size_t *ctxlen) {
  if (v == NULL)
    return 0;
  size_t n = strlen(v);
  if (n == 0)
    return escrow__err(ESCROW_E_INVALID, "context %s is empty (leave it NULL instead)", what);
  if (!escrow__utf8_valid((const uint8_t *)v, n))
    return escrow__err(ESCROW_E_INVALID, "context %s is not valid UTF-8", what);
  if (n > ESCROW_BKENC_CONTEXT_MAX || *ctxlen + 3 + n > ESCROW_BKENC_CONTEXT_MAX)
    return escrow__err(ESCROW_E_INVALID, "context is longer than %d bytes",
                       ESCROW_BKENC_CONTEXT_MAX);
  *ctxlen += 3 + n;
  return 0;
}

static int encryptor_new(escrow_encryptor **out, const escrow_cek *cek,
                         const escrow_encrypt_options *opts, const uint8_t *fixed_salt) {
  if (out != NULL)
    *out = NULL;
  if (out == NULL || cek == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_encryptor_new: NULL argument");
  static const escrow_encrypt_options defaults = ESCROW_ENCRYPT_OPTIONS_INIT;
  if (opts == NULL)
    opts = &defaults;
  if (opts->version != ESCROW_ENCRYPT_OPTIONS_VERSION)
    return escrow__err(ESCROW_E_INVALID, "escrow_encrypt_options version %u is not supported",
                       opts->version);
  unsigned log2cs = opts->log2cs == 0 ? ESCROW_BKENC_LOG2CS_DEFAULT : opts->log2cs;
  if (log2cs < ESCROW_BKENC_LOG2CS_MIN || log2cs > ESCROW_BKENC_LOG2CS_MAX)
    return escrow__err(ESCROW_E_INVALID, "chunk size exponent %u is out of range (%d..%d)",
                       log2cs, ESCROW_BKENC_LOG2CS_MIN, ESCROW_BKENC_LOG2CS_MAX);
  const escrow_context *cx = &opts->context;
  const char *vals[6] = {NULL, cx->project_id, cx->role, cx->asset, cx->path, cx->key_id};
  static const char *names[6] = {"", "project id", "role", "asset", "path", "key id"};
  size_t ctxlen = 0;
  for (int t = 1; t <= 5; t++) {
    int rc = context_value_ok(vals[t], names[t], &ctxlen);
    if (rc != 0)
      return rc;
  }
  if (cx->role != NULL && strcmp(cx->role, "ao") != 0 && strcmp(cx->role, "ds") != 0)
    return escrow__err(ESCROW_E_INVALID, "context role must be \"ao\" or \"ds\"");
  if (cx->path != NULL && !escrow__path_is_clean(cx->path))
    return escrow__err(ESCROW_E_INVALID, "context path '%s' is not a clean relative path",
                       cx->path);

  uint8_t h[ESCROW_BKENC_HEADER_MAX];
  memcpy(h, ESCROW_BKENC_MAGIC, ESCROW_BKENC_MAGIC_BYTES);
  h[ESCROW__BKENC_OFF_VERSION] = ESCROW_BKENC_VERSION;
  h[ESCROW__BKENC_OFF_SUITE] = ESCROW_BKENC_SUITE_AES256GCM_HKDF_SHA256;
  h[ESCROW__BKENC_OFF_LOG2CS] = (uint8_t)log2cs;
  h[ESCROW__BKENC_OFF_FLAGS] = 0;
  if (fixed_salt != NULL)
    memcpy(h + ESCROW__BKENC_OFF_SALT, fixed_salt, ESCROW_BKENC_SALT_BYTES);
  else
    randombytes_buf(h + ESCROW__BKENC_OFF_SALT, ESCROW_BKENC_SALT_BYTES);
  h[ESCROW__BKENC_OFF_CTXLEN] = (uint8_t)(ctxlen >> 8);
  h[ESCROW__BKENC_OFF_CTXLEN + 1] = (uint8_t)ctxlen;
  size_t pos = ESCROW__BKENC_OFF_CONTEXT;
  for (int t = 1; t <= 5; t++) {
    if (vals[t] == NULL)
      continue;
    size_t n = strlen(vals[t]);
    h[pos] = (uint8_t)t;
    h[pos + 1] = (uint8_t)(n >> 8);
    h[pos + 2] = (uint8_t)n;
    memcpy(h + pos + 3, vals[t], n);
    pos += 3 + n;
  }
  size_t cs = (size_t)1 << log2cs;
  escrow_encryptor *e = escrow__malloc(sizeof *e + cs);
  if (e == NULL)
    return escrow__err_nomem();
  memset(e, 0, sizeof *e);
  e->log2cs = log2cs;
  e->cs = cs;
  uint8_t kdata[32];
  int rc = escrow__bkenc_derive(cek->bytes, h + ESCROW__BKENC_OFF_SALT, h, pos, h + pos, kdata);
  if (rc == 0)
    rc = escrow__bkenc_cipher_new(&e->cipher, kdata, 1);
  OPENSSL_cleanse(kdata, sizeof kdata);
  if (rc == 0)
    rc = escrow_header_parse(&e->hdr, h, pos + ESCROW_BKENC_HDRTAG_BYTES, NULL);
  if (rc != 0) {
    escrow_encryptor_free(e);
    return rc;
  }
  e->hdr_pending = e->hdr->len;
  e->state = ST_OPEN;
  *out = e;
  return 0;
}

int escrow_encryptor_new(escrow_encryptor **out, const escrow_cek *cek,
                         const escrow_encrypt_options *opts) {
  return encryptor_new(out, cek, opts, NULL);
}

int escrow__encryptor_new_with_salt(escrow_encryptor **out, const escrow_cek *cek,
                                    const escrow_encrypt_options *opts,
                                    const uint8_t salt[ESCROW_BKENC_SALT_BYTES]) {
  return encryptor_new(out, cek, opts, salt);
}

void escrow__encryptor_test_set_index(escrow_encryptor *e, uint64_t index) { e->index = index; }

size_t escrow_encryptor_update_bound(const escrow_encryptor *e, size_t in_len) {
  if (e == NULL)
    return 0;
  if (in_len > SIZE_MAX - e->buf_len)
    return SIZE_MAX;
  size_t all = e->buf_len + in_len;
  size_t n = all == 0 ? 0 : (all - 1) >> e->log2cs; /* chunks that can be released */
  size_t cts = e->cs + ESCROW_BKENC_CHUNK_TAG_BYTES;
  if (n > (SIZE_MAX - e->hdr_pending) / cts)
    return SIZE_MAX;
  return e->hdr_pending + n * cts;
}

size_t escrow_encryptor_final_bound(const escrow_encryptor *e) {
  return e == NULL ? 0 : e->hdr_pending + e->buf_len + ESCROW_BKENC_CHUNK_TAG_BYTES;
}

static int enc_fail(escrow_encryptor *e, int rc) {
  e->state = ST_DEAD;
  OPENSSL_cleanse(e->buf, e->buf_hw);
  e->buf_len = e->buf_hw = 0;
  return rc;
}

static int enc_check(escrow_encryptor *e, uint8_t *out, size_t out_size, size_t *written,
                     const char *fn) {
  if (written != NULL)
    *written = 0;
  if (e == NULL || written == NULL || (out == NULL && out_size > 0))
    return escrow__err(ESCROW_E_INVALID, "%s: NULL argument", fn);
  if (e->state != ST_OPEN)
    return escrow__err(ESCROW_E_STATE, "%s: the encryptor is %s", fn,
                       e->state == ST_DONE ? "finished" : "dead after an earlier error");
  return 0;
}

static size_t put_header(escrow_encryptor *e, uint8_t *out) {
  size_t n = e->hdr_pending;
  if (n > 0) {
    memcpy(out, e->hdr->bytes + e->hdr->len - n, n);
    e->hdr_pending = 0;
  }
  return n;
}

int escrow_encryptor_update(escrow_encryptor *e, uint8_t *out, size_t out_size,
                            size_t *written, const uint8_t *in, size_t in_len) {
  int rc = enc_check(e, out, out_size, written, "escrow_encryptor_update");
  if (rc != 0)
    return rc;
  if (in == NULL && in_len > 0)
    return enc_fail(e, escrow__err(ESCROW_E_INVALID, "escrow_encryptor_update: NULL input"));
  size_t bound = escrow_encryptor_update_bound(e, in_len);
  if (out_size < bound)
    return enc_fail(e, escrow__err(ESCROW_E_BUFSIZE, "escrow_encryptor_update: output buffer "
                                                     "of %zu bytes, %zu needed",
                                   out_size, bound));
  uint64_t all = (uint64_t)e->buf_len + in_len;
  uint64_t n = all == 0 ? 0 : (all - 1) >> e->log2cs;
  /* The chunks released now plus the one held back (the final chunk-to-be). */
  if (e->index + n + 1 > ESCROW_BKENC_MAX_CHUNKS)
    return enc_fail(e, escrow__err(ESCROW_E_LIMIT, "input too large: BKENC v1 holds at most "
                                                   "2^32 chunks"));
  size_t w = put_header(e, out);
  const size_t cts = e->cs + ESCROW_BKENC_CHUNK_TAG_BYTES;
  if (e->buf_len > 0 && in_len > e->cs - e->buf_len) {
    size_t take = e->cs - e->buf_len;
    memcpy(e->buf + e->buf_len, in, take);
    in += take;
    in_len -= take;
    e->total += take;
    e->buf_hw = e->cs;
    rc = escrow__bkenc_chunk_seal(e->cipher, out + w, e->buf, e->cs, e->index++, 0);
    if (rc != 0)
      return enc_fail(e, rc);
    w += cts;
    e->buf_len = 0;
  }
  if (e->buf_len == 0) {
    while (in_len > e->cs) {
      rc = escrow__bkenc_chunk_seal(e->cipher, out + w, in, e->cs, e->index++, 0);
      if (rc != 0)
        return enc_fail(e, rc);
      w += cts;
      in += e->cs;
      in_len -= e->cs;
      e->total += e->cs;
    }
  }
  if (in_len > 0) {
    memcpy(e->buf + e->buf_len, in, in_len);
    e->buf_len += in_len;
    e->total += in_len;
    if (e->buf_len > e->buf_hw)
      e->buf_hw = e->buf_len;
  }
  *written = w;
  return 0;
}

int escrow_encryptor_final(escrow_encryptor *e, uint8_t *out, size_t out_size,
                           size_t *written) {
  int rc = enc_check(e, out, out_size, written, "escrow_encryptor_final");
  if (rc != 0)
    return rc;
  size_t bound = escrow_encryptor_final_bound(e);
  if (out_size < bound)
    return enc_fail(e, escrow__err(ESCROW_E_BUFSIZE, "escrow_encryptor_final: output buffer "
                                                     "of %zu bytes, %zu needed",
                                   out_size, bound));
  size_t w = put_header(e, out);
  rc = escrow__bkenc_chunk_seal(e->cipher, out + w, e->buf, e->buf_len, e->index, 1);
  if (rc != 0)
    return enc_fail(e, rc);
  e->index++;
  *written = w + e->buf_len + ESCROW_BKENC_CHUNK_TAG_BYTES;
  OPENSSL_cleanse(e->buf, e->buf_hw);
  e->buf_len = e->buf_hw = 0;
  e->state = ST_DONE;
  return 0;
}

const escrow_header *escrow_encryptor_header(const escrow_encryptor *e) {
  return e ? e->hdr : NULL;
}

uint64_t escrow_encryptor_plaintext_size(const escrow_encryptor *e) {
  return e ? e->total : 0;
}

void escrow_encryptor_free(escrow_encryptor *e) {
  if (e == NULL)
    return;
  OPENSSL_cleanse(e->buf, e->buf_hw);
  EVP_CIPHER_CTX_free(e->cipher);
  escrow_header_free(e->hdr);
  escrow__free(e);
}

/* ---- decryptor -------------------------------------------------------------------------------- */

struct escrow_decryptor {
  int state;
  const escrow_cek *cek; /* borrowed, used until the header is verified */
  char *expect_path;
  bool has_expect_tag;
  uint8_t expect_tag[ESCROW_BKENC_HDRTAG_BYTES];
  escrow_header *hdr;
  EVP_CIPHER_CTX *cipher;
  unsigned log2cs;
  size_t cs, cts;
  uint64_t index;       /* next chunk to release */
  size_t hneed;         /* header bytes needed so far */
  size_t hlen;
  uint8_t *cbuf;        /* one ciphertext chunk (cts bytes) */
  size_t clen;
  uint8_t hbuf[ESCROW_BKENC_HEADER_MAX];
};

int escrow_decryptor_new(escrow_decryptor **out, const escrow_cek *cek,
                         const escrow_decrypt_options *opts) {
  if (out != NULL)
    *out = NULL;
  if (out == NULL || cek == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_decryptor_new: NULL argument");
  if (opts != NULL && opts->version != ESCROW_DECRYPT_OPTIONS_VERSION)
    return escrow__err(ESCROW_E_INVALID, "escrow_decrypt_options version %u is not supported",
                       opts->version);
  escrow_decryptor *d = escrow__malloc(sizeof *d);
  if (d == NULL)
    return escrow__err_nomem();
  memset(d, 0, offsetof(escrow_decryptor, hbuf));
  d->state = ST_HEADER;
  d->hneed = ESCROW__BKENC_OFF_CONTEXT;
  d->cek = cek;
  if (opts != NULL && opts->expect_path != NULL) {
    d->expect_path = escrow__strdup(opts->expect_path);
    if (d->expect_path == NULL)
      goto nomem;
  }
  if (opts != NULL && opts->expect_hdrtag != NULL) {
    d->has_expect_tag = true;
    memcpy(d->expect_tag, opts->expect_hdrtag, ESCROW_BKENC_HDRTAG_BYTES);
  }
  *out = d;
  return 0;
nomem:
  escrow_decryptor_free(d);
  return escrow__err_nomem();
}

void escrow__decryptor_test_set_index(escrow_decryptor *d, uint64_t index) { d->index = index; }

size_t escrow_decryptor_update_bound(const escrow_decryptor *d, size_t in_len) {
  if (d == NULL)
    return 0;
  switch (d->state) {
  case ST_HEADER:
    /* Chunks released now follow a header of at least 78 bytes and carry 16-byte tags. */
    return in_len > ESCROW_BKENC_HEADER_MIN + ESCROW_BKENC_CHUNK_TAG_BYTES
               ? in_len - ESCROW_BKENC_HEADER_MIN - ESCROW_BKENC_CHUNK_TAG_BYTES
               : 0;
  case ST_BODY: {
    if (in_len > SIZE_MAX - d->clen)
      return SIZE_MAX;
    return ((d->clen + in_len) / d->cts) * d->cs;
  }
  default:
    return 0;
  }
}

size_t escrow_decryptor_final_bound(const escrow_decryptor *d) {
  if (d == NULL || (d->state != ST_BODY && d->state != ST_TRAILING))
    return 0;
  return d->clen > ESCROW_BKENC_CHUNK_TAG_BYTES ? d->clen - ESCROW_BKENC_CHUNK_TAG_BYTES : 0;
}

static int dec_fail(escrow_decryptor *d, uint8_t *out, size_t wiped, int rc) {
  /* Earlier chunks of this call verified; wipe them anyway, so a failed call hands nothing. */
  if (wiped > 0)
    OPENSSL_cleanse(out, wiped);
  d->state = ST_DEAD;
  d->clen = 0;
  d->cek = NULL;
  return rc;
}

static int dec_check(escrow_decryptor *d, uint8_t *out, size_t out_size, size_t *written,
                     const char *fn) {
  if (written != NULL)
    *written = 0;
  if (d == NULL || written == NULL || (out == NULL && out_size > 0))
    return escrow__err(ESCROW_E_INVALID, "%s: NULL argument", fn);
  if (d->state == ST_DEAD || d->state == ST_DONE)
    return escrow__err(ESCROW_E_STATE, "%s: the decryptor is %s", fn,
                       d->state == ST_DONE ? "finished" : "dead after an earlier error");
  return 0;
}

/* The header is complete in hbuf: verify it and key the payload cipher. */
static int dec_open_header(escrow_decryptor *d) {
  int rc = escrow_header_parse(&d->hdr, d->hbuf, d->hlen, NULL);
  if (rc != 0)
    return rc;
  rc = escrow__bkenc_open_header(d->hdr, d->cek->bytes, d->expect_path,
                                 d->has_expect_tag ? d->expect_tag : NULL, &d->cipher);
  d->cek = NULL;
  if (rc != 0)
    return rc;
  d->log2cs = d->hdr->log2cs;
  d->cs = (size_t)1 << d->log2cs;
  d->cts = d->cs + ESCROW_BKENC_CHUNK_TAG_BYTES;
  d->cbuf = escrow__malloc(d->cts);
  if (d->cbuf == NULL)
    return escrow__err_nomem();
  d->state = ST_BODY;
  return 0;
}

/* A full chunk followed by more input: it must be a non-final chunk. Returns 0 (released cs
 * bytes into out, or, if it turned out to be a final chunk, moved to ST_TRAILING with nothing
 * released) or an error (recorded; out wiped). */
static int dec_full_chunk(escrow_decryptor *d, uint8_t *out, const uint8_t *ct, size_t *w) {
  if (d->index >= ESCROW_BKENC_MAX_CHUNKS - 1)
    return escrow__err(ESCROW_E_LIMIT, "more than 2^32 chunks: chunk %llu is not final",
                       (unsigned long long)d->index);
  int rc = escrow__bkenc_chunk_open(d->cipher, out, ct, d->cts, d->index, 0);
  if (rc == 0) {
    d->index++;
    *w += d->cs;
    return 0;
  }
  if (rc < 0)
    return rc;
  /* Not a valid non-final chunk: is it a final chunk followed by more data? (out is scratch) */
  rc = escrow__bkenc_chunk_open(d->cipher, out, ct, d->cts, d->index, 1);
  if (rc < 0)
    return rc;
  if (rc == 0) {
    OPENSSL_cleanse(out, d->cs);
    d->state = ST_TRAILING;
    return 0;
  }
  return escrow__err(ESCROW_E_AUTH, "chunk %llu failed authentication (altered, reordered or "
                                    "spliced from another file)",
                     (unsigned long long)d->index);
}

static int trailing_add(escrow_decryptor *d, const uint8_t *in, size_t in_len) {
  /* Keep up to one chunk after the final one, to tell a second final chunk from garbage. */
  if (in_len > d->cts - d->clen)
    return escrow__err(ESCROW_E_FORMAT, "data after the final chunk (chunk %llu)",
                       (unsigned long long)d->index);
  memcpy(d->cbuf + d->clen, in, in_len);
  d->clen += in_len;
  return 0;
}

int escrow_decryptor_update(escrow_decryptor *d, uint8_t *out, size_t out_size, size_t *written,
                            const uint8_t *in, size_t in_len) {
  int rc = dec_check(d, out, out_size, written, "escrow_decryptor_update");
  if (rc != 0)
    return rc;
  if (in == NULL && in_len > 0)
    return dec_fail(d, out, 0, escrow__err(ESCROW_E_INVALID, "escrow_decryptor_update: NULL "
                                                             "input"));
  size_t bound = escrow_decryptor_update_bound(d, in_len);
  if (out_size < bound)
    return dec_fail(d, out, 0, escrow__err(ESCROW_E_BUFSIZE, "escrow_decryptor_update: output "
                                                             "buffer of %zu bytes, %zu needed",
                                           out_size, bound));
  size_t w = 0;
  while (d->state == ST_HEADER && in_len > 0) {
    size_t take = d->hneed - d->hlen;
    if (take > in_len)
      take = in_len;
    memcpy(d->hbuf + d->hlen, in, take);
    d->hlen += take;
    in += take;
    in_len -= take;
    size_t need;
    rc = header_check(d->hbuf, d->hlen, &need, true);
    if (rc == ESCROW_E_TRUNCATED) {
      d->hneed = need;
      continue;
    }
    if (rc == 0)
      rc = dec_open_header(d);
    if (rc != 0)
      return dec_fail(d, out, 0, rc);
  }
  if (d->state == ST_BODY) {
    if (d->clen > 0) {
      size_t take = d->cts - d->clen;
      if (take > in_len)
        take = in_len;
      memcpy(d->cbuf + d->clen, in, take);
      d->clen += take;
      in += take;
      in_len -= take;
      if (d->clen == d->cts && in_len > 0) {
        rc = dec_full_chunk(d, out + w, d->cbuf, &w);
        d->clen = 0;
        if (rc != 0)
          return dec_fail(d, out, w, rc);
      }
    }
    while (d->state == ST_BODY && d->clen == 0 && in_len > d->cts) {
      rc = dec_full_chunk(d, out + w, in, &w);
      if (rc != 0)
        return dec_fail(d, out, w, rc);
      in += d->cts;
      in_len -= d->cts;
    }
    if (d->state == ST_BODY && in_len > 0) {
      memcpy(d->cbuf + d->clen, in, in_len);
      d->clen += in_len;
      in_len = 0;
    }
  }
  if (d->state == ST_TRAILING && in_len > 0) {
    rc = trailing_add(d, in, in_len);
    if (rc != 0)
      return dec_fail(d, out, w, rc);
  }
  *written = w;
  return 0;
}

int escrow_decryptor_final(escrow_decryptor *d, uint8_t *out, size_t out_size,
                           size_t *written) {
  int rc = dec_check(d, out, out_size, written, "escrow_decryptor_final");
  if (rc != 0)
    return rc;
  if (d->state == ST_HEADER)
    return dec_fail(d, out, 0,
                    d->hlen == 0
                        ? escrow__err(ESCROW_E_TRUNCATED, "truncated header: the input is empty")
                        : escrow__err(ESCROW_E_TRUNCATED, "truncated header: the input ended "
                                                          "after %zu of %zu header bytes",
                                      d->hlen, d->hneed));
  size_t bound = escrow_decryptor_final_bound(d);
  if (out_size < bound)
    return dec_fail(d, out, 0, escrow__err(ESCROW_E_BUFSIZE, "escrow_decryptor_final: output "
                                                             "buffer of %zu bytes, %zu needed",
                                           out_size, bound));
  const size_t tb = ESCROW_BKENC_CHUNK_TAG_BYTES;
  if (d->state == ST_TRAILING) {
    if (d->clen >= tb) {
      rc = escrow__bkenc_chunk_open(d->cipher, out, d->cbuf, d->clen, d->index + 1, 1);
      if (rc < 0)
        return dec_fail(d, out, 0, rc);
      if (rc == 0)
        return dec_fail(d, out, d->clen - tb,
                        escrow__err(ESCROW_E_FORMAT, "a second final chunk (chunk %llu) "
                                                     "follows the final chunk %llu",
                                    (unsigned long long)d->index + 1,
                                    (unsigned long long)d->index));
    }
    return dec_fail(d, out, 0, escrow__err(ESCROW_E_FORMAT, "data after the final chunk "
                                                            "(chunk %llu)",
                                           (unsigned long long)d->index));
  }
  size_t l = d->clen;
  if (l == 0)
    return dec_fail(d, out, 0, escrow__err(ESCROW_E_TRUNCATED, "missing final chunk: the "
                                                               "input ends after the header"));
  if (l < tb)
    return dec_fail(d, out, 0,
                    escrow__err(ESCROW_E_TRUNCATED, "missing final chunk: the input ends "
                                                    "inside chunk %llu (%zu bytes, shorter "
                                                    "than its tag)",
                                (unsigned long long)d->index, l));
  rc = escrow__bkenc_chunk_open(d->cipher, out, d->cbuf, l, d->index, 1);
  if (rc < 0)
    return dec_fail(d, out, 0, rc);
  if (rc == 0) {
    if (l == tb && d->index > 0)
      return dec_fail(d, out, 0, escrow__err(ESCROW_E_FORMAT, "final chunk %llu is empty (only "
                                                              "an empty file has an empty "
                                                              "final chunk)",
                                             (unsigned long long)d->index));
    OPENSSL_cleanse(d->cbuf, l);
    d->clen = 0;
    d->index++;
    d->state = ST_DONE;
    *written = l - tb;
    return 0;
  }
  rc = escrow__bkenc_chunk_open(d->cipher, out, d->cbuf, l, d->index, 0);
  if (rc < 0)
    return dec_fail(d, out, 0, rc);
  if (rc == 0) {
    if (l == d->cts)
      rc = escrow__err(ESCROW_E_TRUNCATED, "missing final chunk: the input ends after chunk "
                                           "%llu, which is not final",
                       (unsigned long long)d->index);
    else
      rc = escrow__err(ESCROW_E_TRUNCATED, "missing final chunk: the input ends with a short "
                                           "chunk %llu that is not marked final",
                       (unsigned long long)d->index);
    return dec_fail(d, out, l - tb, rc);
  }
  return dec_fail(d, out, 0, escrow__err(ESCROW_E_AUTH, "chunk %llu failed authentication "
                                                        "(altered, truncated or spliced from "
                                                        "another file)",
                                         (unsigned long long)d->index));
}

const escrow_header *escrow_decryptor_header(const escrow_decryptor *d) {
  return d != NULL && d->cipher != NULL ? d->hdr : NULL;
}

void escrow_decryptor_free(escrow_decryptor *d) {
  if (d == NULL)
    return;
  escrow__free(d->cbuf); /* ciphertext only: plaintext goes straight to the caller */
  EVP_CIPHER_CTX_free(d->cipher);
  escrow_header_free(d->hdr);
  escrow__free(d->expect_path);
  escrow__free(d);
}
