/*
 * Hardened zip reading and reproducible zip writing on libzip (see zip_internal.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <zip.h>

#include "internal.h"
#include "zip_internal.h"

#define ZIP__RATIO_MIN_SIZE (UINT64_C(1) << 20)
#define ZIP__BUF 65536

typedef struct zip_ent {
  char *name;         /* normalised */
  zip_uint64_t index; /* libzip index */
  uint64_t size;
  uint32_t mode;
} zip_ent;

struct escrow__zip {
  zip_t *za;
  escrow_zip_limits limits;
  zip_ent *ents;
  size_t n;
  zip_ent **sorted; /* by name, for lookups */
};

static int map_zip_error(int ze, const char *what) {
  switch (ze) {
  case ZIP_ER_MEMORY:
    return escrow__err_nomem();
  case ZIP_ER_NOENT:
    return escrow__err(ESCROW_E_NOTFOUND, "%s: no such file", what);
  case ZIP_ER_OPEN:
  case ZIP_ER_READ:
  case ZIP_ER_SEEK:
  case ZIP_ER_WRITE:
  case ZIP_ER_CLOSE:
  case ZIP_ER_TMPOPEN:
  case ZIP_ER_RENAME:
  case ZIP_ER_REMOVE:
    return escrow__err(ESCROW_E_IO, "%s: read or write error", what);
  case ZIP_ER_CRC:
    return escrow__err(ESCROW_E_FORMAT, "%s: CRC mismatch (the entry is corrupt)", what);
  case ZIP_ER_COMPNOTSUPP:
  case ZIP_ER_ENCRNOTSUPP:
    return escrow__err(ESCROW_E_UNSUPPORTED, "%s: unsupported compression or encryption", what);
  default: {
    zip_error_t e;
    zip_error_init_with_code(&e, ze);
    int rc = escrow__err(ESCROW_E_FORMAT, "%s: %s", what, zip_error_strerror(&e));
    zip_error_fini(&e);
    return rc;
  }
  }
}

static int cmp_ent(const void *a, const void *b) {
  const zip_ent *x = *(const zip_ent *const *)a, *y = *(const zip_ent *const *)b;
  return strcmp(x->name, y->name);
}

/* Normalise a raw entry name: strip leading "./" (repeatedly) and, for a directory entry, the
 * trailing '/'. Returns a fresh copy, or NULL with *rc set. *is_dir tells a directory entry. */
static char *normalise_name(const char *raw, bool *is_dir, int *rc) {
  const char *s = raw;
  while (s[0] == '.' && s[1] == '/')
    s += 2;
  size_t l = strlen(s);
  *is_dir = l > 0 && s[l - 1] == '/';
  if (*is_dir)
    l--;
  char *n = escrow__strndup(s, l);
  if (n == NULL)
    *rc = escrow__err_nomem();
  return n;
}

static void zip_free_ents(escrow__zip *z) {
  for (size_t i = 0; i < z->n; i++)
    escrow__free(z->ents[i].name);
  escrow__free(z->ents);
  escrow__free(z->sorted);
  z->ents = NULL;
  z->sorted = NULL;
  z->n = 0;
}

void escrow__zip_free(escrow__zip *z) {
  if (z == NULL)
    return;
  if (z->za != NULL)
    zip_discard(z->za);
  zip_free_ents(z);
  escrow__free(z);
}

/* Printable form of a name for messages (names come from untrusted zips). */
static void printable(char *out, size_t size, const char *s) {
  size_t o = 0;
  for (; *s != '\0' && o + 5 < size; s++) {
    unsigned char c = (unsigned char)*s;
    if (c < 0x20 || c == 0x7f)
      o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
    else
      out[o++] = (char)c;
  }
  if (*s != '\0' && o + 4 <= size) {
    memcpy(out + o, "...", 3);
    o += 3;
  }
  out[o < size ? o : size - 1] = '\0';
}

static int scan(escrow__zip *z) {
  zip_int64_t ne = zip_get_num_entries(z->za, 0);
  if (ne < 0)
    return escrow__err(ESCROW_E_FORMAT, "cannot read the zip directory");
  if ((uint64_t)ne > z->limits.max_entries)
    return escrow__err(ESCROW_E_LIMIT, "the zip has %lld entries, more than the limit of %llu",
                       (long long)ne, (unsigned long long)z->limits.max_entries);
  if (ne == 0)
    return 0;
  z->ents = escrow__calloc((size_t)ne, sizeof *z->ents);
  if (z->ents == NULL)
    return escrow__err_nomem();
  uint64_t total = 0;
  char pn[160];
  /* Directory names, to refuse a file that is also a folder. */
  for (zip_uint64_t i = 0; i < (zip_uint64_t)ne; i++) {
    /* Raw bytes: libzip would otherwise turn names without the UTF-8 flag into CP437 text,
     * making control characters printable. Names must be valid UTF-8 as stored. */
    const char *raw = zip_get_name(z->za, i, ZIP_FL_ENC_RAW);
    if (raw == NULL) {
      zip_error_t *e = zip_get_error(z->za);
      return map_zip_error(zip_error_code_zip(e), "cannot read an entry name");
    }
    printable(pn, sizeof pn, raw);
    if (raw[0] == '/')
      return escrow__err(ESCROW_E_FORMAT, "zip entry '%s' has an absolute name", pn);
    if (strchr(raw, '\\') != NULL)
      return escrow__err(ESCROW_E_FORMAT, "zip entry '%s' has a backslash in its name", pn);
    bool is_dir;
    int rc = 0;
    char *name = normalise_name(raw, &is_dir, &rc);
    if (name == NULL)
      return rc;
    if (!escrow__path_is_clean(name)) {
      escrow__free(name);
      if (is_dir && (strcmp(raw, "./") == 0 || strcmp(raw, "/") == 0))
        continue; /* shutil.make_archive may record the root itself */
      return escrow__err(ESCROW_E_FORMAT,
                         "zip entry '%s' has an unsafe name (empty, '.' or '..' component, "
                         "control character or invalid UTF-8)",
                         pn);
    }
    zip_uint8_t opsys;
    zip_uint32_t attr;
    if (zip_file_get_external_attributes(z->za, i, 0, &opsys, &attr) != 0) {
      escrow__free(name);
      return escrow__err(ESCROW_E_FORMAT, "cannot read the attributes of zip entry '%s'", pn);
    }
    uint32_t mode = 0;
    if (opsys == ZIP_OPSYS_UNIX) {
      uint32_t m = attr >> 16;
      uint32_t fmt = m & S_IFMT;
      if (fmt == S_IFLNK) {
        escrow__free(name);
        return escrow__err(ESCROW_E_FORMAT, "zip entry '%s' is a symbolic link; links are refused",
                           pn);
      }
      if (fmt != 0 && fmt != S_IFREG && fmt != S_IFDIR) {
        escrow__free(name);
        return escrow__err(ESCROW_E_FORMAT, "zip entry '%s' is not a regular file", pn);
      }
      if (fmt == S_IFDIR)
        is_dir = true;
      mode = m & 07777;
    }
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(z->za, i, 0, &st) != 0) {
      escrow__free(name);
      return map_zip_error(zip_error_code_zip(zip_get_error(z->za)), "cannot read a zip entry");
    }
    if (is_dir) {
      escrow__free(name);
      if ((st.valid & ZIP_STAT_SIZE) && st.size != 0)
        return escrow__err(ESCROW_E_FORMAT, "zip folder entry '%s' holds data", pn);
      continue;
    }
    zip_ent *e = &z->ents[z->n];
    e->name = name;
    z->n++;
    e->index = i;
    e->mode = mode;
    if (!(st.valid & ZIP_STAT_SIZE) || !(st.valid & ZIP_STAT_COMP_SIZE))
      return escrow__err(ESCROW_E_FORMAT, "zip entry '%s' has no size", pn);
    if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)
      return escrow__err(ESCROW_E_UNSUPPORTED, "zip entry '%s' uses zip encryption", pn);
    if ((st.valid & ZIP_STAT_COMP_METHOD) && !zip_compression_method_supported(st.comp_method, 0))
      return escrow__err(ESCROW_E_UNSUPPORTED,
                         "zip entry '%s' uses an unsupported compression method (%u)", pn,
                         (unsigned)st.comp_method);
    e->size = st.size;
    if (st.size > z->limits.max_entry_size)
      return escrow__err(ESCROW_E_LIMIT, "zip entry '%s' is %llu bytes, more than the limit of %llu",
                         pn, (unsigned long long)st.size,
                         (unsigned long long)z->limits.max_entry_size);
    total += st.size;
    if (total > z->limits.max_total_size)
      return escrow__err(ESCROW_E_LIMIT,
                         "the zip's entries hold more than the limit of %llu bytes in all",
                         (unsigned long long)z->limits.max_total_size);
    if (st.size > ZIP__RATIO_MIN_SIZE) {
      uint64_t cs = st.comp_size == 0 ? 1 : st.comp_size;
      uint64_t q = st.size / cs;
      if (q > z->limits.max_ratio || (q == z->limits.max_ratio && st.size % cs != 0))
        return escrow__err(ESCROW_E_LIMIT,
                           "zip entry '%s' has a compression ratio over %u (a zip bomb?)", pn,
                           (unsigned)z->limits.max_ratio);
    }
  }
  if (z->n == 0)
    return 0;
  z->sorted = escrow__calloc(z->n, sizeof *z->sorted);
  if (z->sorted == NULL)
    return escrow__err_nomem();
  for (size_t i = 0; i < z->n; i++)
    z->sorted[i] = &z->ents[i];
  qsort(z->sorted, z->n, sizeof *z->sorted, cmp_ent);
  for (size_t i = 0; i < z->n; i++) {
    const char *a = z->sorted[i]->name;
    if (i + 1 < z->n && strcmp(a, z->sorted[i + 1]->name) == 0) {
      printable(pn, sizeof pn, a);
      return escrow__err(ESCROW_E_FORMAT, "the zip holds '%s' twice (duplicate names are refused)",
                         pn);
    }
    /* A file "a" and a file "a/b": the first would have to be both a file and a folder. The
     * first name >= "a/" is at or after i+1; "a/" sorts after "a" and every "a<c>" with c<'/'.*/
    size_t al = strlen(a);
    for (size_t j = i + 1; j < z->n; j++) {
      const char *b = z->sorted[j]->name;
      int c = strncmp(b, a, al);
      if (c != 0)
        break;
      if (b[al] == '/') {
        printable(pn, sizeof pn, a);
        return escrow__err(ESCROW_E_FORMAT, "zip entry '%s' is both a file and a folder", pn);
      }
      if ((unsigned char)b[al] > '/')
        break;
    }
  }
  return 0;
}

static int zip_open_common(escrow__zip **out, zip_t *za, const escrow_zip_limits *limits) {
  escrow__zip *z = escrow__calloc(1, sizeof *z);
  if (z == NULL) {
    zip_discard(za);
    return escrow__err_nomem();
  }
  z->za = za;
  escrow_zip_limits def = ESCROW_ZIP_LIMITS_INIT;
  z->limits = limits != NULL ? *limits : def;
  int rc = scan(z);
  if (rc != 0) {
    escrow__zip_free(z);
    return rc;
  }
  *out = z;
  return 0;
}

int escrow__zip_open_file(escrow__zip **out, const char *path, const escrow_zip_limits *limits) {
  if (out == NULL || path == NULL)
    return escrow__err(ESCROW_E_INVALID, "zip open: NULL argument");
  *out = NULL;
  struct stat sb;
  if (stat(path, &sb) != 0)
    return escrow__err_errno("cannot open", path);
  if (!S_ISREG(sb.st_mode))
    return escrow__err(ESCROW_E_IO, "'%s' is not a regular file", path);
  int ze = 0;
  zip_t *za = zip_open(path, ZIP_RDONLY, &ze);
  if (za == NULL) {
    if (ze == ZIP_ER_NOZIP || ze == ZIP_ER_INCONS)
      return escrow__err(ESCROW_E_FORMAT, "'%s' is not a readable zip file", path);
    return map_zip_error(ze, path);
  }
  return zip_open_common(out, za, limits);
}

int escrow__zip_open_mem(escrow__zip **out, const uint8_t *data, size_t len,
                         const escrow_zip_limits *limits) {
  if (out == NULL || (data == NULL && len > 0))
    return escrow__err(ESCROW_E_INVALID, "zip open: NULL argument");
  *out = NULL;
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t *src = zip_source_buffer_create(len > 0 ? data : (const void *)"", len, 0, &err);
  if (src == NULL) {
    zip_error_fini(&err);
    return escrow__err_nomem();
  }
  zip_t *za = zip_open_from_source(src, ZIP_RDONLY, &err);
  if (za == NULL) {
    int ze = zip_error_code_zip(&err);
    zip_error_fini(&err);
    zip_source_free(src);
    if (ze == ZIP_ER_NOZIP || ze == ZIP_ER_INCONS)
      return escrow__err(ESCROW_E_FORMAT, "the data is not a readable zip file");
    return map_zip_error(ze, "zip");
  }
  zip_error_fini(&err);
  return zip_open_common(out, za, limits);
}

size_t escrow__zip_count(const escrow__zip *z) { return z == NULL ? 0 : z->n; }

const char *escrow__zip_name(const escrow__zip *z, size_t i) {
  return z == NULL || i >= z->n ? NULL : z->ents[i].name;
}

uint64_t escrow__zip_size(const escrow__zip *z, size_t i) {
  return z == NULL || i >= z->n ? 0 : z->ents[i].size;
}

uint32_t escrow__zip_mode(const escrow__zip *z, size_t i) {
  return z == NULL || i >= z->n ? 0 : z->ents[i].mode;
}

int escrow__zip_find(const escrow__zip *z, const char *name, size_t *index) {
  if (z == NULL || name == NULL || z->n == 0)
    return ESCROW_E_NOTFOUND;
  size_t lo = 0, hi = z->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(z->sorted[mid]->name, name);
    if (c == 0) {
      if (index != NULL)
        *index = (size_t)(z->sorted[mid] - z->ents);
      return 0;
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return ESCROW_E_NOTFOUND;
}

static int fread_err(zip_file_t *zf, const char *name) {
  char pn[160];
  printable(pn, sizeof pn, name);
  int ze = zip_error_code_zip(zip_file_get_error(zf));
  if (ze == ZIP_ER_MEMORY)
    return escrow__err_nomem();
  if (ze == ZIP_ER_CRC)
    return escrow__err(ESCROW_E_FORMAT, "zip entry '%s' is corrupt (CRC mismatch)", pn);
  if (ze == ZIP_ER_READ || ze == ZIP_ER_SEEK)
    return escrow__err(ESCROW_E_IO, "cannot read zip entry '%s'", pn);
  return escrow__err(ESCROW_E_FORMAT, "zip entry '%s' is corrupt (%s)", pn,
                     zip_error_strerror(zip_file_get_error(zf)));
}

/* Stream up to `limit` bytes (all if limit is UINT64_MAX) of entry i. */
static int stream_n(escrow__zip *z, size_t i, uint64_t limit, escrow__zip_sink sink,
                    void *payload) {
  if (z == NULL || i >= z->n)
    return escrow__err(ESCROW_E_INVALID, "zip: no entry %zu", i);
  const zip_ent *e = &z->ents[i];
  char pn[160];
  printable(pn, sizeof pn, e->name);
  uint8_t *buf = escrow__malloc(ZIP__BUF);
  if (buf == NULL)
    return escrow__err_nomem();
  zip_file_t *zf = zip_fopen_index(z->za, e->index, 0);
  if (zf == NULL) {
    escrow__free(buf);
    return map_zip_error(zip_error_code_zip(zip_get_error(z->za)), "cannot open a zip entry");
  }
  int rc = 0;
  uint64_t count = 0;
  uint64_t cap = e->size < limit ? e->size : limit;
  for (;;) {
    /* Ask for one byte more than declared so an entry that inflates past it is caught. */
    uint64_t want = cap - count + (cap == e->size ? 1 : 0);
    if (want == 0)
      break;
    zip_int64_t got = zip_fread(zf, buf, want < ZIP__BUF ? want : ZIP__BUF);
    if (got < 0) {
      rc = fread_err(zf, e->name);
      break;
    }
    if (got == 0)
      break;
    count += (uint64_t)got;
    if (count > e->size) {
      rc = escrow__err(ESCROW_E_FORMAT,
                       "zip entry '%s' holds more data than its declared %llu bytes", pn,
                       (unsigned long long)e->size);
      break;
    }
    if (sink != NULL) {
      rc = sink(payload, buf, (size_t)got);
      if (rc != 0)
        break;
    }
  }
  if (rc == 0 && count < cap)
    rc = escrow__err(ESCROW_E_FORMAT, "zip entry '%s' is shorter than its declared %llu bytes",
                     pn, (unsigned long long)e->size);
  zip_fclose(zf);
  escrow__free(buf);
  return rc;
}

int escrow__zip_stream(escrow__zip *z, size_t i, escrow__zip_sink sink, void *payload) {
  return stream_n(z, i, UINT64_MAX, sink, payload);
}

typedef struct membuf {
  uint8_t *p;
  size_t len, cap;
} membuf;

static int mem_sink(void *payload, const uint8_t *buf, size_t len) {
  membuf *m = payload;
  if (len > m->cap - m->len)
    return escrow__err(ESCROW_E_FORMAT, "zip entry larger than declared");
  memcpy(m->p + m->len, buf, len);
  m->len += len;
  return 0;
}

int escrow__zip_read(escrow__zip *z, size_t i, size_t max, uint8_t **out, size_t *len) {
  *out = NULL;
  *len = 0;
  if (z == NULL || i >= z->n)
    return escrow__err(ESCROW_E_INVALID, "zip: no entry %zu", i);
  uint64_t sz = z->ents[i].size;
  if (sz > max || sz > SIZE_MAX - 1) {
    char pn[160];
    printable(pn, sizeof pn, z->ents[i].name);
    return escrow__err(ESCROW_E_LIMIT, "zip entry '%s' is larger than %zu bytes", pn, max);
  }
  membuf m = {escrow__malloc((size_t)sz + 1), 0, (size_t)sz};
  if (m.p == NULL)
    return escrow__err_nomem();
  int rc = escrow__zip_stream(z, i, mem_sink, &m);
  if (rc != 0) {
    escrow__free(m.p);
    return rc;
  }
  m.p[m.len] = '\0';
  *out = m.p;
  *len = m.len;
  return 0;
}

int escrow__zip_peek(escrow__zip *z, size_t i, uint8_t *buf, size_t n, size_t *got) {
  *got = 0;
  if (z == NULL || i >= z->n)
    return escrow__err(ESCROW_E_INVALID, "zip: no entry %zu", i);
  membuf m = {buf, 0, n};
  uint64_t want = z->ents[i].size < n ? z->ents[i].size : n;
  int rc = stream_n(z, i, want == z->ents[i].size ? UINT64_MAX : want, mem_sink, &m);
  *got = m.len;
  return rc;
}

/* ---- writer ---------------------------------------------------------------------------------- */

struct escrow__zipw {
  zip_t *za;
  char *path;
  char *tmp;
  uint8_t **bufs; /* copies of add_mem data, alive until zip_close */
  size_t nbufs;
  size_t count;
};

/* 2000-01-01 00:00:00 in DOS date/time. */
#define ZIPW_DOSDATE ((uint16_t)(((2000 - 1980) << 9) | (1 << 5) | 1))
#define ZIPW_DOSTIME ((uint16_t)0)

static void zipw_release(escrow__zipw *w) {
  for (size_t i = 0; i < w->nbufs; i++)
    escrow__free(w->bufs[i]);
  escrow__free(w->bufs);
  escrow__free(w->path);
  escrow__free(w->tmp);
  escrow__free(w);
}

void escrow__zipw_abort(escrow__zipw *w) {
  if (w == NULL)
    return;
  if (w->za != NULL)
    zip_discard(w->za);
  if (w->tmp != NULL)
    unlink(w->tmp);
  zipw_release(w);
}

int escrow__zipw_open(escrow__zipw **out, const char *path) {
  *out = NULL;
  escrow__zipw *w = escrow__calloc(1, sizeof *w);
  if (w == NULL)
    return escrow__err_nomem();
  size_t tl = strlen(path) + 32;
  w->path = escrow__strdup(path);
  w->tmp = escrow__malloc(tl);
  if (w->path == NULL || w->tmp == NULL) {
    zipw_release(w);
    return escrow__err_nomem();
  }
  uint8_t r[6];
  char hx[13];
  randombytes_buf(r, sizeof r);
  escrow__hex(hx, r, sizeof r);
  snprintf(w->tmp, tl, "%s.tmp-%s", path, hx);
  int ze = 0;
  w->za = zip_open(w->tmp, ZIP_CREATE | ZIP_EXCL, &ze);
  if (w->za == NULL) {
    int rc = ze == ZIP_ER_MEMORY ? escrow__err_nomem()
                                 : escrow__err(ESCROW_E_IO, "cannot create zip '%s'", path);
    escrow__free(w->tmp);
    w->tmp = NULL;
    zipw_release(w);
    return rc;
  }
  *out = w;
  return 0;
}

static int zipw_add(escrow__zipw *w, const char *name, zip_source_t *src, bool deflate,
                    uint32_t mode) {
  zip_int64_t idx = zip_file_add(w->za, name, src, ZIP_FL_ENC_UTF_8);
  if (idx < 0) {
    zip_source_free(src);
    return map_zip_error(zip_error_code_zip(zip_get_error(w->za)), "cannot add a zip entry");
  }
  uint32_t attr = ((uint32_t)S_IFREG | (mode & 0777)) << 16;
  if (zip_set_file_compression(w->za, (zip_uint64_t)idx, deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE,
                               deflate ? 6 : 0) != 0 ||
      zip_file_set_dostime(w->za, (zip_uint64_t)idx, ZIPW_DOSTIME, ZIPW_DOSDATE, 0) != 0 ||
      zip_file_set_external_attributes(w->za, (zip_uint64_t)idx, 0, ZIP_OPSYS_UNIX, attr) != 0)
    return map_zip_error(zip_error_code_zip(zip_get_error(w->za)), "cannot set a zip entry");
  w->count++;
  return 0;
}

int escrow__zipw_add_file(escrow__zipw *w, const char *name, const char *src_path, bool deflate,
                          uint32_t mode) {
  zip_source_t *src = zip_source_file(w->za, src_path, 0, -1);
  if (src == NULL)
    return map_zip_error(zip_error_code_zip(zip_get_error(w->za)), src_path);
  return zipw_add(w, name, src, deflate, mode);
}

int escrow__zipw_add_mem(escrow__zipw *w, const char *name, const uint8_t *data, size_t len,
                         bool deflate, uint32_t mode) {
  uint8_t **nb = escrow__realloc(w->bufs, (w->nbufs + 1) * sizeof *nb);
  if (nb == NULL)
    return escrow__err_nomem();
  w->bufs = nb;
  uint8_t *copy = escrow__malloc(len > 0 ? len : 1);
  if (copy == NULL)
    return escrow__err_nomem();
  if (len > 0)
    memcpy(copy, data, len);
  w->bufs[w->nbufs++] = copy;
  zip_source_t *src = zip_source_buffer(w->za, copy, len, 0);
  if (src == NULL)
    return escrow__err_nomem();
  return zipw_add(w, name, src, deflate, mode);
}

static int fsync_path(const char *path, bool dir) {
  int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0)
    return escrow__err_errno("cannot open", path);
  int rc = 0;
  if (fsync(fd) != 0 && !(dir && errno == EINVAL))
    rc = escrow__err_errno("cannot sync", path);
  close(fd);
  return rc;
}

int escrow__zipw_commit(escrow__zipw *w) {
  if (w->count == 0) {
    escrow__zipw_abort(w);
    return escrow__err(ESCROW_E_INVALID, "refusing to write an empty zip");
  }
  if (zip_close(w->za) != 0) {
    int rc = map_zip_error(zip_error_code_zip(zip_get_error(w->za)), "cannot write the zip");
    if (rc == ESCROW_E_FORMAT)
      rc = escrow__err(ESCROW_E_IO, "cannot write zip '%s': %s", w->path,
                       zip_strerror(w->za));
    escrow__zipw_abort(w);
    return rc;
  }
  w->za = NULL;
  int rc = fsync_path(w->tmp, false);
  if (rc == 0 && rename(w->tmp, w->path) != 0)
    rc = escrow__err_errno("cannot rename output to", w->path);
  if (rc != 0) {
    escrow__zipw_abort(w);
    return rc;
  }
  char *slash = strrchr(w->path, '/');
  if (slash == NULL) {
    rc = fsync_path(".", true);
  } else {
    *slash = '\0';
    rc = fsync_path(w->path[0] != '\0' ? w->path : "/", true);
  }
  escrow__free(w->tmp);
  w->tmp = NULL;
  zipw_release(w);
  return rc;
}
