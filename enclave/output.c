/* Training output: the files the algorithm wrote to its output folder (ESCROW_OUTPUT_DIR, a
 * size-capped tmpfs that sandbox-init handed over as a directory descriptor) and the artifacts
 * it posted, zipped and encrypted (BKENC v1) to the AO's CEK as model.zip.bkenc.
 *
 * The folder is the algorithm's: it may hold links, devices, FIFOs or deep trees. It is walked
 * only through descriptors with O_NOFOLLOW, and only regular files and folders are taken, so a
 * link to a host file can never pull that file into the model. */
#define _GNU_SOURCE
#include "enclave.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zip_internal.h"

#define MODEL_MAX_FILES 10000
#define MODEL_MAX_DEPTH 16

typedef struct entry {
  char *name; /* in the zip */
  char *src;  /* staged copy on the host */
} entry;

typedef struct model_ctx {
  entry *e;
  size_t n, cap;
  unsigned long staged;
  const char *stage;
  char *why;
  size_t whylen;
} model_ctx;

static int failf(model_ctx *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int failf(model_ctx *m, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m->why, m->whylen, fmt, ap);
  va_end(ap);
  return -1;
}

static int add_entry(model_ctx *m, const char *name, const char *src) {
  if (m->n >= MODEL_MAX_FILES) return failf(m, "the model has more than %d files", MODEL_MAX_FILES);
  if (m->n == m->cap) {
    size_t nc = m->cap ? m->cap * 2 : 64;
    entry *ne = realloc(m->e, nc * sizeof(*ne));
    if (!ne) return failf(m, "out of memory");
    m->e = ne;
    m->cap = nc;
  }
  m->e[m->n].name = strdup(name);
  m->e[m->n].src = strdup(src);
  if (!m->e[m->n].name || !m->e[m->n].src) {
    free(m->e[m->n].name);
    free(m->e[m->n].src);
    return failf(m, "out of memory");
  }
  m->n++;
  return 0;
}

/* copy the regular file fd into the staging folder; returns its path in out */
static int stage_copy(model_ctx *m, int fd, char *out, size_t outlen) {
  snprintf(out, outlen, "%s/s%lu", m->stage, ++m->staged);
  int o = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (o < 0) return failf(m, "cannot stage the model: %s", strerror(errno));
  char buf[65536];
  ssize_t r;
  int rc = 0;
  while ((r = read(fd, buf, sizeof(buf))) != 0) {
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) { rc = failf(m, "an output file could not be read: %s", strerror(errno)); break; }
    for (ssize_t w, off = 0; off < r; off += w) {
      w = write(o, buf + off, (size_t)(r - off));
      if (w < 0 && errno == EINTR) { w = 0; continue; }
      if (w <= 0) { rc = failf(m, "cannot stage the model: %s", strerror(errno)); break; }
    }
    if (rc) break;
  }
  if (close(o) != 0 && rc == 0) rc = failf(m, "cannot stage the model: %s", strerror(errno));
  return rc;
}

static int walk(model_ctx *m, int dfd, const char *prefix, int depth) {
  if (depth > MODEL_MAX_DEPTH) return failf(m, "the output folder is nested deeper than %d", MODEL_MAX_DEPTH);
  int dup = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
  DIR *d = dup >= 0 ? fdopendir(dup) : NULL;
  if (!d) {
    if (dup >= 0) close(dup);
    return failf(m, "the output folder could not be read");
  }
  rewinddir(d);
  int rc = 0;
  struct dirent *de;
  while (rc == 0 && (de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    char name[4096];
    if ((size_t)snprintf(name, sizeof(name), "%s/%s", prefix, de->d_name) >= 1024) {
      rc = failf(m, "an output path is longer than 1024 bytes");
      break;
    }
    int fd = openat(dfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) continue; /* a link (ELOOP) or something else that cannot be opened: left out */
    struct stat st;
    if (fstat(fd, &st) != 0) {
      close(fd);
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      rc = walk(m, fd, name, depth + 1);
    } else if (S_ISREG(st.st_mode)) {
      char src[4200];
      int fl = fcntl(fd, F_GETFL);
      if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
      rc = stage_copy(m, fd, src, sizeof(src));
      if (rc == 0) rc = add_entry(m, name, src);
    } /* FIFOs, sockets and devices are left out */
    close(fd);
  }
  closedir(d);
  return rc;
}

static int cmp_entry(const void *a, const void *b) {
  return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f) {
  (void)st;
  (void)f;
  return flag == FTW_DP ? rmdir(p) : unlink(p);
}

int enc_model_package(int output_fd, const char *artifact_dir, const char *stage_dir,
                      const escrow_cek *ao_cek, const char *out_path, size_t *n_files, char *why,
                      size_t whylen) {
  model_ctx m = {0};
  m.why = why;
  m.whylen = whylen;
  m.stage = stage_dir;
  *n_files = 0;
  int rc = 0;
  if (mkdir(stage_dir, 0700) != 0) return snprintf(why, whylen, "cannot stage the model: %s", strerror(errno)), -1;
  if (output_fd >= 0) rc = walk(&m, output_fd, "output", 0);
  if (rc == 0 && artifact_dir) {
    DIR *d = opendir(artifact_dir);
    struct dirent *de;
    while (rc == 0 && d && (de = readdir(d))) {
      if (de->d_name[0] == '.') continue; /* ".", "..", unfinished uploads */
      char src[4200], name[300];
      snprintf(src, sizeof(src), "%s/%s", artifact_dir, de->d_name);
      snprintf(name, sizeof(name), "artifacts/%s", de->d_name);
      rc = add_entry(&m, name, src);
    }
    if (d) closedir(d);
  }
  char zip_path[4200];
  snprintf(zip_path, sizeof(zip_path), "%s/model.zip", stage_dir);
  if (rc == 0 && m.n > 0) {
    qsort(m.e, m.n, sizeof(*m.e), cmp_entry);
    escrow__zipw *w = NULL;
    if (escrow__zipw_open(&w, zip_path) != 0) {
      rc = failf(&m, "the model zip could not be started: %s", escrow_error_last());
    } else {
      for (size_t i = 0; i < m.n && rc == 0; i++)
        if (escrow__zipw_add_file(w, m.e[i].name, m.e[i].src, true, 0600) != 0)
          rc = failf(&m, "the model zip could not be written: %s", escrow_error_last());
      if (rc == 0 && escrow__zipw_commit(w) != 0)
        rc = failf(&m, "the model zip could not be written: %s", escrow_error_last());
      else if (rc != 0)
        escrow__zipw_abort(w);
    }
    if (rc == 0) {
      escrow_encrypt_options eo = ESCROW_ENCRYPT_OPTIONS_INIT;
      eo.context.role = "ao";
      eo.context.path = "model.zip";
      if (escrow_encrypt_file(ao_cek, &eo, ESCROW_FORMAT_V1, zip_path, out_path, NULL, NULL, NULL) != 0)
        rc = failf(&m, "the model could not be encrypted to the AO's CEK: %s", escrow_error_last());
    }
  }
  if (rc == 0) *n_files = m.n;
  for (size_t i = 0; i < m.n; i++) {
    free(m.e[i].name);
    free(m.e[i].src);
  }
  free(m.e);
  nftw(stage_dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS); /* the plaintext staging, whatever happened */
  return rc;
}
