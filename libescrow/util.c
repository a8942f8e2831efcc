/* libescrow shared plumbing: initialisation, memory, text and file helpers. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <sodium.h>

#include "internal.h"

/* ---- initialisation ------------------------------------------------------------------------ */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static escrow__algs algs;
static int init_result = ESCROW_E_CRYPTO;

static void init_run(void) {
  if (sodium_init() < 0)
    return;
  algs.aes256gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
  algs.hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  algs.hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
  algs.pbkdf2 = EVP_KDF_fetch(NULL, "PBKDF2", NULL);
  algs.sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
  algs.sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
  if (algs.aes256gcm && algs.hmac && algs.hkdf && algs.pbkdf2 && algs.sha256 && algs.sha1)
    init_result = 0;
  ERR_clear_error();
}

int escrow_init(void) {
  pthread_once(&init_once, init_run);
  if (init_result != 0)
    return escrow__err(ESCROW_E_CRYPTO, "cannot initialise the crypto backend (libsodium or "
                                        "OpenSSL AES-256-GCM/HMAC/HKDF/PBKDF2/SHA unavailable)");
  return 0;
}

const escrow__algs *escrow__get_algs(void) { return escrow_init() == 0 ? &algs : NULL; }

const char *escrow_version(void) { return ESCROW_VERSION_STRING; }

/* ---- memory ---------------------------------------------------------------------------------- */

static atomic_ulong alloc_fail_at;  /* 0: never */
static atomic_ulong alloc_count;

void escrow__test_alloc_fail_at(unsigned long n) {
  atomic_store(&alloc_count, 0);
  atomic_store(&alloc_fail_at, n);
}

unsigned long escrow__test_alloc_count(void) { return atomic_load(&alloc_count); }

static bool alloc_should_fail(void) {
  unsigned long n = atomic_fetch_add(&alloc_count, 1) + 1;
  unsigned long at = atomic_load(&alloc_fail_at);
  return at != 0 && n == at;
}

void *escrow__malloc(size_t n) {
  if (alloc_should_fail())
    return NULL;
  return malloc(n == 0 ? 1 : n);
}

void *escrow__calloc(size_t count, size_t n) {
  if (alloc_should_fail())
    return NULL;
  return calloc(count == 0 ? 1 : count, n == 0 ? 1 : n);
}

void *escrow__realloc(void *p, size_t n) {
  if (alloc_should_fail())
    return NULL;
  return realloc(p, n == 0 ? 1 : n);
}

void escrow__free(void *p) { free(p); }

char *escrow__strndup(const char *s, size_t n) {
  char *d = escrow__malloc(n + 1);
  if (d == NULL)
    return NULL;
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

char *escrow__strdup(const char *s) { return escrow__strndup(s, strlen(s)); }

void *escrow__secure_malloc(size_t n) {
  if (alloc_should_fail())
    return NULL;
  if (escrow_init() != 0)
    return NULL;
  return sodium_malloc(n == 0 ? 1 : n);
}

void escrow__secure_free(void *p) {
  if (p != NULL)
    sodium_free(p);
}

void escrow_free(void *p) { escrow__free(p); }

void escrow_secret_free(void *p) { escrow__secure_free(p); }

/* ---- text -------------------------------------------------------------------------------------- */

bool escrow__utf8_valid(const uint8_t *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    uint8_t c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (len - i <= n)
      return false;
    for (size_t k = 1; k <= n; k++) {
      if ((s[i + k] & 0xC0) != 0x80)
        return false;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n + 1;
  }
  return true;
}

bool escrow__path_is_clean(const char *p) {
  if (p == NULL || p[0] == '\0' || p[0] == '/')
    return false;
  size_t len = strlen(p);
  if (!escrow__utf8_valid((const uint8_t *)p, len))
    return false;
  const char *seg = p;
  for (size_t i = 0; i <= len; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c == '/' || c == '\0') {
      size_t sl = (size_t)(p + i - seg);
      if (sl == 0 || (sl == 1 && seg[0] == '.') || (sl == 2 && seg[0] == '.' && seg[1] == '.'))
        return false;
      seg = p + i + 1;
    } else if (c < 0x20 || c == 0x7F || c == '\\') {
      return false;
    }
  }
  return true;
}

void escrow__uuid4(char out[37]) {
  uint8_t b[16];
  randombytes_buf(b, sizeof b);
  b[6] = (uint8_t)((b[6] & 0x0F) | 0x40);
  b[8] = (uint8_t)((b[8] & 0x3F) | 0x80);
  static const char *hexd = "0123456789abcdef";
  size_t o = 0;
  for (size_t i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      out[o++] = '-';
    out[o++] = hexd[b[i] >> 4];
    out[o++] = hexd[b[i] & 0x0F];
  }
  out[o] = '\0';
}

void escrow__hex(char *out, const uint8_t *in, size_t len) {
  static const char *hexd = "0123456789abcdef";
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = hexd[in[i] >> 4];
    out[2 * i + 1] = hexd[in[i] & 0x0F];
  }
  out[2 * len] = '\0';
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int escrow__unhex(uint8_t *out, size_t len, const char *hex) {
  if (hex == NULL || strlen(hex) != 2 * len)
    return ESCROW_E_FORMAT;
  for (size_t i = 0; i < len; i++) {
    int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return ESCROW_E_FORMAT;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return 0;
}

/* ---- files --------------------------------------------------------------------------------------- */

int escrow__write_all(int fd, const uint8_t *buf, size_t len, const char *path) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return escrow__err(ESCROW_E_IO, "cannot write '%s': %s", path ? path : "(output)",
                         strerror(errno));
    }
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

int escrow__read_full(int fd, uint8_t *buf, size_t len, size_t *got, const char *path) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = read(fd, buf + done, len - done);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return escrow__err(ESCROW_E_IO, "cannot read '%s': %s", path ? path : "(input)",
                         strerror(errno));
    }
    if (n == 0)
      break;
    done += (size_t)n;
  }
  *got = done;
  return 0;
}

int escrow__pread_full(int fd, uint8_t *buf, size_t len, uint64_t off, size_t *got,
                       const char *path) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = pread(fd, buf + done, len - done, (off_t)(off + done));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return escrow__err(ESCROW_E_IO, "cannot read '%s': %s", path ? path : "(input)",
                         strerror(errno));
    }
    if (n == 0)
      break;
    done += (size_t)n;
  }
  *got = done;
  return 0;
}

int escrow__read_file(const char *path, size_t max, bool secret, uint8_t **out, size_t *len) {
  *out = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return escrow__err_errno("cannot open", path);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int rc = escrow__err_errno("cannot stat", path);
    close(fd);
    return rc;
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return escrow__err(ESCROW_E_IO, "'%s' is not a regular file", path);
  }
  if ((uint64_t)st.st_size > max) {
    close(fd);
    return escrow__err(ESCROW_E_LIMIT, "'%s' is larger than %zu bytes", path, max);
  }
  /* Read one byte more than the limit to catch files that grew since fstat. */
  size_t cap = (size_t)st.st_size + 2;
  uint8_t *buf = secret ? escrow__secure_malloc(cap) : escrow__malloc(cap);
  if (buf == NULL) {
    close(fd);
    return escrow__err_nomem();
  }
  size_t got;
  int rc = escrow__read_full(fd, buf, cap - 1, &got, path);
  close(fd);
  if (rc == 0 && got > max)
    rc = escrow__err(ESCROW_E_LIMIT, "'%s' is larger than %zu bytes", path, max);
  if (rc != 0) {
    if (secret)
      escrow__secure_free(buf);
    else
      escrow__free(buf);
    return rc;
  }
  buf[got] = '\0';
  *out = buf;
  *len = got;
  return 0;
}

char *escrow__path_join(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  bool slash = la > 0 && a[la - 1] != '/';
  char *p = escrow__malloc(la + lb + 2);
  if (p == NULL)
    return NULL;
  memcpy(p, a, la);
  if (slash)
    p[la++] = '/';
  memcpy(p + la, b, lb + 1);
  return p;
}

static int fsync_parent(const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir = slash == NULL ? escrow__strdup(".")
                            : escrow__strndup(path, slash == path ? 1 : (size_t)(slash - path));
  if (dir == NULL)
    return escrow__err_nomem();
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int rc = 0;
  if (fd >= 0) {
    if (fsync(fd) != 0 && errno != EINVAL)
      rc = escrow__err_errno("cannot sync folder", dir);
    close(fd);
  }
  escrow__free(dir);
  return rc;
}

int escrow__atomic_open(escrow__atomic *a, const char *path, mode_t mode, bool no_replace) {
  memset(a, 0, sizeof *a);
  a->fd = -1;
  a->no_replace = no_replace;
  if (no_replace && access(path, F_OK) == 0)
    return escrow__err(ESCROW_E_EXISTS, "'%s' already exists; not replacing it", path);
  a->path = escrow__strdup(path);
  size_t tl = strlen(path) + 32;
  a->tmp_path = escrow__malloc(tl);
  if (a->path == NULL || a->tmp_path == NULL) {
    escrow__free(a->tmp_path); /* not a file name yet: abort must not unlink it */
    a->tmp_path = NULL;
    escrow__atomic_abort(a);
    return escrow__err_nomem();
  }
  /* A random suffix, created with O_EXCL: no symlink games on a predictable name. */
  for (int tries = 0; tries < 8; tries++) {
    uint8_t r[6];
    char hx[13];
    randombytes_buf(r, sizeof r);
    escrow__hex(hx, r, sizeof r);
    snprintf(a->tmp_path, tl, "%s.tmp-%s", path, hx);
    a->fd = open(a->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (a->fd >= 0 || errno != EEXIST)
      break;
  }
  if (a->fd < 0) {
    int rc = escrow__err_errno("cannot create", a->tmp_path);
    escrow__free(a->tmp_path);
    a->tmp_path = NULL;
    escrow__atomic_abort(a);
    return rc;
  }
  return 0;
}

int escrow__atomic_commit(escrow__atomic *a) {
  int rc = 0;
  if (fsync(a->fd) != 0)
    rc = escrow__err_errno("cannot sync", a->tmp_path);
  if (close(a->fd) != 0 && rc == 0)
    rc = escrow__err_errno("cannot close", a->tmp_path);
  a->fd = -1;
  if (rc == 0) {
    if (a->no_replace) {
      /* link() fails with EEXIST if path appeared meanwhile: never clobber. */
      if (link(a->tmp_path, a->path) != 0)
        rc = errno == EEXIST
                 ? escrow__err(ESCROW_E_EXISTS, "'%s' already exists; not replacing it", a->path)
                 : escrow__err_errno("cannot create", a->path);
      else
        unlink(a->tmp_path);
    } else if (rename(a->tmp_path, a->path) != 0) {
      rc = escrow__err_errno("cannot rename output to", a->path);
    }
  }
  if (rc == 0) {
    rc = fsync_parent(a->path);
    if (rc != 0)
      unlink(a->path); /* in place, but the commit failed: leave nothing behind */
  }
  if (rc != 0) {
    escrow__atomic_abort(a);
    return rc;
  }
  escrow__free(a->path);
  escrow__free(a->tmp_path);
  a->path = a->tmp_path = NULL;
  return 0;
}

void escrow__atomic_abort(escrow__atomic *a) {
  if (a->fd >= 0)
    close(a->fd);
  a->fd = -1;
  if (a->tmp_path != NULL)
    unlink(a->tmp_path);
  escrow__free(a->tmp_path);
  escrow__free(a->path);
  a->path = a->tmp_path = NULL;
}

int escrow__mkdirs(const char *path, mode_t mode) {
  char *p = escrow__strdup(path);
  if (p == NULL)
    return escrow__err_nomem();
  int rc = 0;
  for (char *s = p + 1;; s++) {
    if (*s == '/' || *s == '\0') {
      char saved = *s;
      *s = '\0';
      if (mkdir(p, mode) != 0 && errno != EEXIST) {
        rc = escrow__err_errno("cannot create folder", p);
        break;
      }
      *s = saved;
      if (saved == '\0')
        break;
    }
  }
  if (rc == 0) {
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
      rc = escrow__err(ESCROW_E_IO, "'%s' is not a folder", path);
  }
  escrow__free(p);
  return rc;
}

void escrow__rmtree(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0)
    return;
  if (S_ISDIR(st.st_mode)) {
    DIR *d = opendir(path);
    if (d != NULL) {
      struct dirent *e;
      while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
          continue;
        char *child = escrow__path_join(path, e->d_name);
        if (child != NULL) {
          escrow__rmtree(child);
          escrow__free(child);
        }
      }
      closedir(d);
    }
    rmdir(path);
  } else {
    unlink(path);
  }
}
