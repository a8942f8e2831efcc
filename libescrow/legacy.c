/*
 * Legacy v0 ("Salted__") files, as BeeKeeperAI's tools write them (DESIGN §3, beekeeper-clients
 * §0-§2): "Salted__" || salt[8] || AES-256-GCM(whole file, no AAD) || tag[16], with
 * key || IV = PBKDF2-HMAC-SHA-256(password = the CEK bytes, salt, 10000 iterations, 44 bytes).
 *
 * One GCM message covers the whole file, so the tag can only be checked at the end: readers
 * verify first (a pass that decrypts into a scratch buffer and throws it away), then decrypt
 * for real. Memory stays bounded by one buffer of ESCROW__LEGACY_BUF bytes.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "internal.h"
#include "legacy_internal.h"

#define MAGIC_LEN 8
#define HEAD_LEN (MAGIC_LEN + ESCROW__LEGACY_SALT_BYTES) /* 16 */
#define KEYIV_LEN (ESCROW__LEGACY_KEY_BYTES + ESCROW__LEGACY_IV_BYTES) /* 44 */
/* Pieces handed to OpenSSL and read from descriptors. */
#define ESCROW__LEGACY_BUF ((size_t)1 << 20)

static const char auth_message[] =
    "legacy v0 file failed authentication: wrong CEK or altered file";

/* ---- key derivation ----------------------------------------------------------------------- */

/* key||IV (44 bytes) = PBKDF2-HMAC-SHA-256(pw, salt, 10000). pw may be empty. */
static int derive_key_iv(const uint8_t *pw, size_t pw_len, const uint8_t salt[8],
                         uint8_t out[KEYIV_LEN]) {
  const escrow__algs *algs = escrow__get_algs();
  if (algs == NULL)
    return ESCROW_E_CRYPTO;
  EVP_KDF_CTX *kctx = EVP_KDF_CTX_new(algs->pbkdf2);
  if (kctx == NULL)
    return escrow__err_openssl(ESCROW_E_CRYPTO, "cannot create a PBKDF2 context");
  static const uint8_t empty[1] = {0};
  unsigned int iter = ESCROW__LEGACY_PBKDF2_ITER;
  int pkcs5 = 1; /* the v0 salt is 8 bytes: below SP 800-132's minimum, so skip those checks */
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
                                        (void *)(pw_len ? pw : empty), pw_len),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt,
                                        ESCROW__LEGACY_SALT_BYTES),
      OSSL_PARAM_construct_uint(OSSL_KDF_PARAM_ITER, &iter),
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_PKCS5, &pkcs5),
      OSSL_PARAM_construct_end(),
  };
  int rc = 0;
  if (EVP_KDF_derive(kctx, out, KEYIV_LEN, params) != 1)
    rc = escrow__err_openssl(ESCROW_E_CRYPTO, "PBKDF2 key derivation failed");
  EVP_KDF_CTX_free(kctx);
  return rc;
}

int escrow__legacy_derive_key(const uint8_t pw[32], const uint8_t salt[8], uint8_t key_out[32]) {
  if (pw == NULL || salt == NULL || key_out == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow__legacy_derive_key: NULL argument");
  uint8_t *kiv = escrow__secure_malloc(KEYIV_LEN);
  if (kiv == NULL)
    return escrow__err_nomem();
  int rc = derive_key_iv(pw, ESCROW__LEGACY_KEY_BYTES, salt, kiv);
  if (rc == 0)
    memcpy(key_out, kiv, ESCROW__LEGACY_KEY_BYTES);
  escrow__secure_free(kiv);
  return rc;
}

size_t escrow__legacy_rstrip_len(const uint8_t cek[32]) {
  size_t n = ESCROW_CEK_BYTES;
  while (n > 0 && ((cek[n - 1] >= 0x09 && cek[n - 1] <= 0x0d) || cek[n - 1] == 0x20))
    n--;
  return n;
}

/* ---- GCM helpers ------------------------------------------------------------------------- */

static EVP_CIPHER_CTX *gcm_start(const uint8_t kiv[KEYIV_LEN], int enc) {
  const escrow__algs *algs = escrow__get_algs();
  if (algs == NULL)
    return NULL;
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (ctx == NULL) {
    escrow__err_openssl(ESCROW_E_CRYPTO, "cannot create a cipher context");
    return NULL;
  }
  /* AES-256-GCM's default IV length is 12 bytes, which is what v0 uses. */
  if (EVP_CipherInit_ex2(ctx, algs->aes256gcm, kiv, kiv + ESCROW__LEGACY_KEY_BYTES, enc,
                         NULL) != 1) {
    escrow__err_openssl(ESCROW_E_CRYPTO, "cannot start AES-256-GCM");
    EVP_CIPHER_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

/* Run len bytes through the cipher in pieces OpenSSL's int lengths can hold. */
static int gcm_update(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in, size_t len) {
  while (len > 0) {
    int n = (int)(len > ESCROW__LEGACY_BUF ? ESCROW__LEGACY_BUF : len);
    int outl = 0;
    if (EVP_CipherUpdate(ctx, out, &outl, in, n) != 1 || outl != n)
      return escrow__err_openssl(ESCROW_E_CRYPTO, "AES-256-GCM failed");
    in += n;
    out += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Check the tag at the end of a decryption: ESCROW_E_AUTH if it does not match. */
static int gcm_check_tag(EVP_CIPHER_CTX *ctx, const uint8_t tag[16]) {
  uint8_t t[ESCROW__LEGACY_TAG_BYTES];
  memcpy(t, tag, sizeof t);
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, (int)sizeof t, t) != 1)
    return escrow__err_openssl(ESCROW_E_CRYPTO, "cannot set the GCM tag");
  uint8_t fin[16];
  int outl = 0;
  if (EVP_DecryptFinal_ex(ctx, fin, &outl) != 1) {
    ERR_clear_error();
    return escrow__err(ESCROW_E_AUTH, "%s", auth_message);
  }
  return 0;
}

/* ---- parsing ------------------------------------------------------------------------------ */

/* Check magic and size of a v0 file of total bytes whose first bytes are head. */
static int check_frame(const uint8_t *head, size_t head_len, uint64_t total) {
  if (head_len < MAGIC_LEN || memcmp(head, ESCROW_LEGACY_MAGIC, MAGIC_LEN) != 0)
    return escrow__err(ESCROW_E_FORMAT, "not a legacy v0 file: no \"Salted__\" magic");
  if (total < ESCROW_LEGACY_OVERHEAD)
    return escrow__err(ESCROW_E_FORMAT,
                       "legacy v0 file too short: %llu bytes, at least %d are needed",
                       (unsigned long long)total, ESCROW_LEGACY_OVERHEAD);
  if (total - ESCROW_LEGACY_OVERHEAD > ESCROW_LEGACY_MAX_PLAINTEXT)
    return escrow__err(ESCROW_E_FORMAT,
                       "legacy v0 file too large: AES-GCM cannot hold more than 2^36-32 bytes");
  return 0;
}

/* ---- in memory ----------------------------------------------------------------------------- */

int escrow__legacy_decrypt_mem_pw(const uint8_t *pw, size_t pw_len, const uint8_t *in,
                                  size_t in_len, uint8_t **out, size_t *out_len) {
  if (out != NULL)
    *out = NULL;
  if (out_len != NULL)
    *out_len = 0;
  if ((pw == NULL && pw_len > 0) || pw_len > ESCROW__LEGACY_KEY_BYTES ||
      (in == NULL && in_len > 0) || out == NULL || out_len == NULL)
    return escrow__err(ESCROW_E_INVALID, "legacy v0 decrypt: bad argument");
  int rc = check_frame(in, in_len, in_len);
  if (rc != 0)
    return rc;
  size_t ct_len = in_len - ESCROW_LEGACY_OVERHEAD;
  const uint8_t *ct = in + HEAD_LEN;
  const uint8_t *tag = in + in_len - ESCROW__LEGACY_TAG_BYTES;

  uint8_t *kiv = escrow__secure_malloc(KEYIV_LEN);
  if (kiv == NULL)
    return escrow__err_nomem();
  /* The plaintext goes to a private buffer, handed over only once the tag has verified. */
  uint8_t *pt = escrow__secure_malloc(ct_len);
  if (pt == NULL) {
    escrow__secure_free(kiv);
    return escrow__err_nomem();
  }
  EVP_CIPHER_CTX *ctx = NULL;
  rc = derive_key_iv(pw, pw_len, in + MAGIC_LEN, kiv);
  if (rc == 0) {
    ctx = gcm_start(kiv, 0);
    rc = ctx ? 0 : ESCROW_E_CRYPTO;
  }
  if (rc == 0)
    rc = gcm_update(ctx, pt, ct, ct_len);
  if (rc == 0)
    rc = gcm_check_tag(ctx, tag);
  EVP_CIPHER_CTX_free(ctx);
  escrow__secure_free(kiv);
  if (rc != 0) {
    escrow__secure_free(pt); /* wipes */
    return rc;
  }
  *out = pt;
  *out_len = ct_len;
  return 0;
}

int escrow__legacy_decrypt_mem_raw(const uint8_t pw[32], const uint8_t *in, size_t in_len,
                                   uint8_t **out, size_t *out_len) {
  if (pw == NULL) {
    if (out != NULL)
      *out = NULL;
    if (out_len != NULL)
      *out_len = 0;
    return escrow__err(ESCROW_E_INVALID, "legacy v0 decrypt: NULL password");
  }
  return escrow__legacy_decrypt_mem_pw(pw, ESCROW__LEGACY_KEY_BYTES, in, in_len, out, out_len);
}

int escrow_legacy_decrypt_mem(const escrow_cek *cek, const uint8_t *in, size_t in_len,
                              uint8_t **out, size_t *out_len) {
  if (cek == NULL) {
    if (out != NULL)
      *out = NULL;
    if (out_len != NULL)
      *out_len = 0;
    return escrow__err(ESCROW_E_INVALID, "escrow_legacy_decrypt_mem: NULL CEK");
  }
  return escrow__legacy_decrypt_mem_pw(cek->bytes, ESCROW_CEK_BYTES, in, in_len, out, out_len);
}

/* ---- descriptors ---------------------------------------------------------------------------- */

/* One pass over the ciphertext [HEAD_LEN, HEAD_LEN + ct_len) of in_fd: decrypt it into pt and
 * write it to out_fd (out_fd < 0: discard), then check the tag. */
static int fd_pass(const uint8_t kiv[KEYIV_LEN], const uint8_t tag[16], int in_fd,
                   uint64_t ct_len, uint8_t *ctbuf, uint8_t *ptbuf, int out_fd) {
  EVP_CIPHER_CTX *ctx = gcm_start(kiv, 0);
  if (ctx == NULL)
    return ESCROW_E_CRYPTO;
  int rc = 0;
  uint64_t off = 0;
  while (rc == 0 && off < ct_len) {
    size_t want = ct_len - off > ESCROW__LEGACY_BUF ? ESCROW__LEGACY_BUF : (size_t)(ct_len - off);
    size_t got = 0;
    rc = escrow__pread_full(in_fd, ctbuf, want, HEAD_LEN + off, &got, NULL);
    if (rc == 0 && got != want)
      rc = escrow__err(ESCROW_E_IO, "legacy v0 input shrank while it was being read");
    if (rc == 0)
      rc = gcm_update(ctx, ptbuf, ctbuf, want);
    if (rc == 0 && out_fd >= 0)
      rc = escrow__write_all(out_fd, ptbuf, want, NULL);
    off += want;
  }
  if (rc == 0)
    rc = gcm_check_tag(ctx, tag);
  EVP_CIPHER_CTX_free(ctx);
  return rc;
}

int escrow_legacy_decrypt_fd(const escrow_cek *cek, int in_fd, int out_fd) {
  if (cek == NULL || in_fd < 0 || out_fd < 0)
    return escrow__err(ESCROW_E_INVALID, "escrow_legacy_decrypt_fd: bad argument");
  /* The file is read with pread from offset 0 to its end, whatever the descriptor's offset. */
  off_t end = lseek(in_fd, 0, SEEK_END);
  if (end < 0) {
    if (errno == ESPIPE)
      return escrow__err(ESCROW_E_INVALID, "legacy v0 needs a seekable input");
    return escrow__err_errno("cannot seek", "(input)");
  }
  uint64_t total = (uint64_t)end;
  uint8_t head[HEAD_LEN];
  size_t got = 0;
  int rc = escrow__pread_full(in_fd, head, sizeof head, 0, &got, NULL);
  if (rc != 0)
    return rc;
  rc = check_frame(head, got, total);
  if (rc != 0)
    return rc;
  uint8_t tag[ESCROW__LEGACY_TAG_BYTES];
  rc = escrow__pread_full(in_fd, tag, sizeof tag, total - sizeof tag, &got, NULL);
  if (rc == 0 && got != sizeof tag)
    rc = escrow__err(ESCROW_E_IO, "legacy v0 input shrank while it was being read");
  if (rc != 0)
    return rc;
  uint64_t ct_len = total - ESCROW_LEGACY_OVERHEAD;
  size_t bufsz = ct_len < ESCROW__LEGACY_BUF ? (size_t)ct_len : ESCROW__LEGACY_BUF;

  uint8_t *kiv = escrow__secure_malloc(KEYIV_LEN);
  uint8_t *ctbuf = kiv ? escrow__malloc(bufsz) : NULL;
  uint8_t *ptbuf = ctbuf ? escrow__secure_malloc(bufsz) : NULL;
  if (ptbuf == NULL) {
    rc = escrow__err_nomem();
    goto done;
  }
  rc = derive_key_iv(cek->bytes, ESCROW_CEK_BYTES, head + MAGIC_LEN, kiv);
  if (rc != 0)
    goto done;
  /* Pass 1: verify, writing nothing. Pass 2: decrypt to out_fd (and check the tag again, in
   * case the file changed in between; callers writing files then remove the output). */
  rc = fd_pass(kiv, tag, in_fd, ct_len, ctbuf, ptbuf, -1);
  if (rc == 0)
    rc = fd_pass(kiv, tag, in_fd, ct_len, ctbuf, ptbuf, out_fd);
done:
  escrow__secure_free(ptbuf);
  escrow__free(ctbuf);
  escrow__secure_free(kiv);
  return rc;
}

int escrow__legacy_encrypt_fd_max(const escrow_cek *cek, int in_fd, int out_fd,
                                  uint64_t max_plaintext) {
  if (cek == NULL || in_fd < 0 || out_fd < 0)
    return escrow__err(ESCROW_E_INVALID, "escrow_legacy_encrypt_fd: bad argument");
  /* A regular file that is already too large is refused before anything is written. */
  struct stat st;
  if (fstat(in_fd, &st) == 0 && S_ISREG(st.st_mode)) {
    off_t cur = lseek(in_fd, 0, SEEK_CUR);
    if (cur >= 0 && st.st_size > cur && (uint64_t)(st.st_size - cur) > max_plaintext)
      return escrow__err(ESCROW_E_LIMIT,
                         "input too large for legacy v0: more than %llu bytes",
                         (unsigned long long)max_plaintext);
  }
  uint8_t head[HEAD_LEN];
  memcpy(head, ESCROW_LEGACY_MAGIC, MAGIC_LEN);
  if (RAND_bytes(head + MAGIC_LEN, ESCROW__LEGACY_SALT_BYTES) != 1)
    return escrow__err_openssl(ESCROW_E_CRYPTO, "cannot draw a random salt");

  int rc = 0;
  EVP_CIPHER_CTX *ctx = NULL;
  uint8_t *kiv = escrow__secure_malloc(KEYIV_LEN);
  uint8_t *ptbuf = kiv ? escrow__secure_malloc(ESCROW__LEGACY_BUF) : NULL;
  uint8_t *ctbuf = ptbuf ? escrow__malloc(ESCROW__LEGACY_BUF) : NULL;
  if (ctbuf == NULL) {
    rc = escrow__err_nomem();
    goto done;
  }
  rc = derive_key_iv(cek->bytes, ESCROW_CEK_BYTES, head + MAGIC_LEN, kiv);
  if (rc != 0)
    goto done;
  ctx = gcm_start(kiv, 1);
  if (ctx == NULL) {
    rc = ESCROW_E_CRYPTO;
    goto done;
  }
  rc = escrow__write_all(out_fd, head, sizeof head, NULL);
  uint64_t total = 0;
  for (;;) {
    if (rc != 0)
      goto done;
    size_t got = 0;
    rc = escrow__read_full(in_fd, ptbuf, ESCROW__LEGACY_BUF, &got, NULL);
    if (rc != 0)
      goto done;
    total += got;
    if (total > max_plaintext) {
      rc = escrow__err(ESCROW_E_LIMIT, "input too large for legacy v0: more than %llu bytes",
                       (unsigned long long)max_plaintext);
      goto done;
    }
    rc = gcm_update(ctx, ctbuf, ptbuf, got);
    if (rc == 0)
      rc = escrow__write_all(out_fd, ctbuf, got, NULL);
    if (rc == 0 && got < ESCROW__LEGACY_BUF)
      break;
  }
  if (rc != 0)
    goto done;
  uint8_t fin[16];
  int outl = 0;
  uint8_t tag[ESCROW__LEGACY_TAG_BYTES];
  if (EVP_EncryptFinal_ex(ctx, fin, &outl) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, (int)sizeof tag, tag) != 1) {
    rc = escrow__err_openssl(ESCROW_E_CRYPTO, "cannot finish AES-256-GCM");
    goto done;
  }
  rc = escrow__write_all(out_fd, tag, sizeof tag, NULL);
done:
  EVP_CIPHER_CTX_free(ctx);
  escrow__free(ctbuf);
  escrow__secure_free(ptbuf);
  escrow__secure_free(kiv);
  return rc;
}

int escrow_legacy_encrypt_fd(const escrow_cek *cek, int in_fd, int out_fd) {
  return escrow__legacy_encrypt_fd_max(cek, in_fd, out_fd, ESCROW_LEGACY_MAX_PLAINTEXT);
}
