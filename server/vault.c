/* escrowd: file-backed vault (see vault.h). */
#include "vault.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MK_BYTES 32
#define NONCE 12
#define TAG 16
static const unsigned char MAGIC[4] = {'E', 'S', 'V', '1'};

typedef struct fv {
  unsigned char *key; /* sodium_malloc */
} fv;

static int gcm(int enc, const unsigned char *key, const unsigned char *nonce, const char *aad,
               const unsigned char *in, size_t len, unsigned char *out, unsigned char *tag) {
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  int ok = 0, n = 0;
  if (!c || len > (size_t)INT32_MAX) goto done;
  if (EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce, enc) != 1) goto done;
  if (EVP_CipherUpdate(c, NULL, &n, (const unsigned char *)aad, (int)strlen(aad)) != 1) goto done;
  if (len && EVP_CipherUpdate(c, out, &n, in, (int)len) != 1) goto done;
  if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG, tag) != 1) goto done;
  if (EVP_CipherFinal_ex(c, out + n, &n) != 1) goto done;
  if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG, tag) != 1) goto done;
  ok = 1;
done:
  EVP_CIPHER_CTX_free(c);
  return ok ? 0 : -1;
}

static int fv_seal(srv_vault *v, const char *ctx, const unsigned char *secret, size_t len,
                   unsigned char **out, size_t *out_len) {
  fv *f = v->impl;
  size_t total = sizeof MAGIC + NONCE + len + TAG;
  unsigned char *b = malloc(total);
  if (!b) return -1;
  memcpy(b, MAGIC, sizeof MAGIC);
  if (RAND_bytes(b + 4, NONCE) != 1 ||
      gcm(1, f->key, b + 4, ctx, secret, len, b + 4 + NONCE, b + 4 + NONCE + len)) {
    free(b);
    return -1;
  }
  *out = b;
  *out_len = total;
  return 0;
}

static int fv_unseal(srv_vault *v, const char *ctx, const unsigned char *sealed, size_t len,
                     unsigned char **out, size_t *out_len) {
  fv *f = v->impl;
  if (len < sizeof MAGIC + NONCE + TAG || memcmp(sealed, MAGIC, 4) != 0) return -1;
  size_t n = len - sizeof MAGIC - NONCE - TAG;
  unsigned char *p = sodium_malloc(n ? n : 1);
  if (!p) return -1;
  unsigned char tag[TAG];
  memcpy(tag, sealed + 4 + NONCE + n, TAG);
  if (gcm(0, f->key, sealed + 4, ctx, sealed + 4 + NONCE, n, p, tag)) {
    sodium_free(p);
    return -1;
  }
  *out = p;
  *out_len = n;
  return 0;
}

static void fv_close(srv_vault *v) {
  if (!v) return;
  fv *f = v->impl;
  if (f) sodium_free(f->key);
  free(f);
  free(v);
}

void srv_vault_secret_free(unsigned char *p, size_t len) {
  (void)len;
  if (p) sodium_free(p); /* wipes */
}

static int read_exact(int fd, unsigned char *b, size_t n) {
  size_t o = 0;
  while (o < n) {
    ssize_t r = read(fd, b + o, n - o);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    o += (size_t)r;
  }
  unsigned char extra;
  return read(fd, &extra, 1) == 0 ? 0 : -1;
}

srv_vault *srv_vault_file_open(const char *path, char *err, size_t errsz) {
  if (sodium_init() < 0) {
    snprintf(err, errsz, "libsodium failed to initialise");
    return NULL;
  }
  srv_vault *v = calloc(1, sizeof *v);
  fv *f = calloc(1, sizeof *f);
  unsigned char *key = sodium_malloc(MK_BYTES);
  if (!v || !f || !key) {
    snprintf(err, errsz, "out of memory");
    goto fail;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd >= 0) {
    struct stat st;
    if (fstat(fd, &st) || (st.st_mode & 077)) {
      close(fd);
      snprintf(err, errsz, "%s must be readable by its owner only (chmod 600)", path);
      goto fail;
    }
    int r = read_exact(fd, key, MK_BYTES);
    close(fd);
    if (r) {
      snprintf(err, errsz, "%s is not a 32-byte master key", path);
      goto fail;
    }
  } else if (errno == ENOENT) {
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || RAND_bytes(key, MK_BYTES) != 1 || write(fd, key, MK_BYTES) != MK_BYTES ||
        fsync(fd) != 0) {
      if (fd >= 0) close(fd);
      unlink(path);
      snprintf(err, errsz, "cannot create the master key %s", path);
      goto fail;
    }
    close(fd);
  } else {
    snprintf(err, errsz, "cannot open the master key %s: %s", path, strerror(errno));
    goto fail;
  }
  f->key = key;
  v->impl = f;
  v->seal = fv_seal;
  v->unseal = fv_unseal;
  v->close = fv_close;
  return v;
fail:
  if (key) sodium_free(key);
  free(f);
  free(v);
  return NULL;
}
