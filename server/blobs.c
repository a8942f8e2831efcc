/* escrowd: content-addressed uploads (see blobs.h). */
#include "blobs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void srv_sha256_hex(const unsigned char *data, size_t len, char hex[65]) {
  unsigned char md[32];
  unsigned int n = 0;
  EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
  for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
  hex[64] = 0;
}

static int fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  int r = fsync(fd);
  close(fd);
  return r;
}

int srv_blob_put(const char *data_dir, const unsigned char *data, size_t len, char hex[65],
                 char *err, size_t errsz) {
  char dir[PATH_MAX], path[PATH_MAX], tmp[PATH_MAX];
  srv_sha256_hex(data, len, hex);
  if (snprintf(dir, sizeof dir, "%s/blobs", data_dir) >= (int)sizeof dir) goto io;
  if (mkdir(dir, 0700) && errno != EEXIST) goto io;
  if (snprintf(dir, sizeof dir, "%s/blobs/%.2s", data_dir, hex) >= (int)sizeof dir) goto io;
  if (mkdir(dir, 0700) && errno != EEXIST) goto io;
  if (snprintf(path, sizeof path, "%s/%s", dir, hex) >= (int)sizeof path) goto io;
  if (access(path, F_OK) == 0) return 0; /* already stored (same content) */
  if (snprintf(tmp, sizeof tmp, "%s/.tmp-XXXXXX", dir) >= (int)sizeof tmp) goto io;
  int fd = mkstemp(tmp);
  if (fd < 0) goto io;
  size_t o = 0;
  while (o < len) {
    ssize_t w = write(fd, data + o, len - o);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      close(fd);
      unlink(tmp);
      goto io;
    }
    o += (size_t)w;
  }
  if (fsync(fd) || close(fd) || rename(tmp, path) || fsync_dir(dir)) {
    unlink(tmp);
    goto io;
  }
  return 0;
io:
  snprintf(err, errsz, "cannot store the upload: %s", strerror(errno));
  return -1;
}

int srv_blob_get(const char *data_dir, const char *hex, unsigned char **out, size_t *len) {
  char path[PATH_MAX];
  if (strlen(hex) != 64 || strspn(hex, "0123456789abcdef") != 64) return -1;
  if (snprintf(path, sizeof path, "%s/blobs/%.2s/%s", data_dir, hex, hex) >= (int)sizeof path)
    return -1;
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  struct stat st;
  if (fstat(fileno(f), &st) || st.st_size < 0) {
    fclose(f);
    return -1;
  }
  unsigned char *b = malloc((size_t)st.st_size + 1);
  if (!b || fread(b, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
    free(b);
    fclose(f);
    return -1;
  }
  fclose(f);
  *out = b;
  *len = (size_t)st.st_size;
  return 0;
}

int srv_blob_sweep(const char *data_dir) {
  char dir[PATH_MAX], path[PATH_MAX];
  int removed = 0;
  for (int i = -1; i < 256; i++) {
    int n = i < 0 ? snprintf(dir, sizeof dir, "%s/blobs", data_dir)
                  : snprintf(dir, sizeof dir, "%s/blobs/%02x", data_dir, i);
    if (n < 0 || n >= (int)sizeof dir) return removed;
    DIR *d = opendir(dir);
    if (!d) continue;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      if (strncmp(e->d_name, ".tmp-", 5) != 0) continue;
      if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
      if (unlink(path) == 0) removed++;
    }
    closedir(d);
  }
  return removed;
}

int srv_blob_path(const char *data_dir, const char *hex, char *path, size_t size) {
  if (strlen(hex) != 64 || strspn(hex, "0123456789abcdef") != 64) return -1;
  int n = snprintf(path, size, "%s/blobs/%.2s/%s", data_dir, hex, hex);
  return n < 0 || (size_t)n >= size ? -1 : 0;
}

int srv_blob_writer_open(srv_blob_writer *w, const char *data_dir, char *err, size_t errsz) {
  memset(w, 0, sizeof *w);
  w->fd = -1;
  char dir[PATH_MAX];
  if (snprintf(dir, sizeof dir, "%s/blobs", data_dir) >= (int)sizeof dir ||
      (mkdir(dir, 0700) && errno != EEXIST) ||
      snprintf(w->tmp, sizeof w->tmp, "%s/.tmp-XXXXXX", dir) >= (int)sizeof w->tmp ||
      (w->fd = mkstemp(w->tmp)) < 0) {
    snprintf(err, errsz, "cannot store the upload: %s", strerror(errno));
    w->fd = -1;
    return -1;
  }
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
    EVP_MD_CTX_free(md);
    srv_blob_writer_abort(w);
    snprintf(err, errsz, "cannot hash the upload (out of memory)");
    return -1;
  }
  w->md = md;
  return 0;
}

int srv_blob_writer_write(srv_blob_writer *w, const void *data, size_t len) {
  if (w->fd < 0) return -1;
  if (EVP_DigestUpdate(w->md, data, len) != 1) return -1;
  const unsigned char *p = data;
  while (len) {
    ssize_t n = write(w->fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    len -= (size_t)n;
    w->size += (unsigned long long)n;
  }
  return 0;
}

void srv_blob_writer_abort(srv_blob_writer *w) {
  if (w->fd >= 0) {
    close(w->fd);
    unlink(w->tmp);
  }
  w->fd = -1;
  EVP_MD_CTX_free(w->md);
  w->md = NULL;
}

int srv_blob_writer_finish(srv_blob_writer *w, char hex[65]) {
  unsigned char md[32];
  unsigned int n = 0;
  if (w->fd < 0 || EVP_DigestFinal_ex(w->md, md, &n) != 1 || n != 32 || fsync(w->fd)) {
    srv_blob_writer_abort(w);
    return -1;
  }
  for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
  hex[64] = 0;
  int rc = close(w->fd);
  w->fd = -1;
  EVP_MD_CTX_free(w->md);
  w->md = NULL;
  if (rc) {
    unlink(w->tmp);
    return -1;
  }
  return 0;
}

int srv_blob_adopt(const char *data_dir, const char *tmp, const char *hex) {
  char dir[PATH_MAX], path[PATH_MAX];
  if (strlen(hex) != 64 || strspn(hex, "0123456789abcdef") != 64) return -1;
  if (snprintf(dir, sizeof dir, "%s/blobs/%.2s", data_dir, hex) >= (int)sizeof dir ||
      (mkdir(dir, 0700) && errno != EEXIST) ||
      snprintf(path, sizeof path, "%s/%s", dir, hex) >= (int)sizeof path)
    return -1;
  if (access(path, F_OK) == 0) { /* already stored (same content) */
    unlink(tmp);
    return 0;
  }
  if (rename(tmp, path) || fsync_dir(dir)) return -1;
  return 0;
}
