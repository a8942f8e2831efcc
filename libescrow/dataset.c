/*
 * Encrypted dataset folders (DESIGN §3, §4): every regular file (dot files included; symbolic
 * links refused) encrypted on its own to "<relpath>.bkenc" with its relative path in the
 * header, plus (v1) the MAC'd manifest ".escrow-manifest.bkenc". Decryption checks the set of
 * files, each header tag, path and size against the manifest before any plaintext is written.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "internal.h"
#include "package_internal.h"

#define BKENC_SUFFIX ".bkenc"
#define WALK_MAX_DEPTH 128

/* ---- folder walk ------------------------------------------------------------------------------ */

typedef struct walk {
  char **v;
  size_t n, cap;
} walk;

void escrow__free_strv(char **v, size_t n) {
  if (v == NULL)
    return;
  for (size_t i = 0; i < n; i++)
    escrow__free(v[i]);
  escrow__free(v);
}

static int walk_push(walk *w, char *s) {
  if (w->n == w->cap) {
    size_t nc = w->cap ? w->cap * 2 : 32;
    char **nv = escrow__realloc(w->v, nc * sizeof *nv);
    if (nv == NULL)
      return escrow__err_nomem();
    w->v = nv;
    w->cap = nc;
  }
  w->v[w->n++] = s;
  return 0;
}

static int walk_dir(walk *w, const char *root, const char *rel, int depth) {
  if (depth > WALK_MAX_DEPTH)
    return escrow__err(ESCROW_E_LIMIT, "folders nested more than %d deep under '%s'",
                       WALK_MAX_DEPTH, root);
  char *path = rel[0] != '\0' ? escrow__path_join(root, rel) : escrow__strdup(root);
  if (path == NULL)
    return escrow__err_nomem();
  DIR *d = opendir(path);
  if (d == NULL) {
    int rc = escrow__err_errno("cannot read folder", path);
    escrow__free(path);
    return rc;
  }
  int rc = 0;
  struct dirent *e;
  while (rc == 0 && (errno = 0, e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    char *r = rel[0] != '\0' ? escrow__path_join(rel, e->d_name) : escrow__strdup(e->d_name);
    if (r == NULL) {
      rc = escrow__err_nomem();
      break;
    }
    char *full = escrow__path_join(path, e->d_name);
    if (full == NULL) {
      escrow__free(r);
      rc = escrow__err_nomem();
      break;
    }
    struct stat st;
    if (lstat(full, &st) != 0) {
      rc = escrow__err_errno("cannot read", full);
    } else if (!escrow__path_is_clean(r)) {
      rc = escrow__err(ESCROW_E_INVALID,
                       "'%s' has a name that cannot be stored (backslash, control character or "
                       "invalid UTF-8)",
                       full);
    } else if (S_ISLNK(st.st_mode)) {
      rc = escrow__err(ESCROW_E_INVALID, "'%s' is a symbolic link; links are refused", full);
    } else if (S_ISDIR(st.st_mode)) {
      rc = walk_dir(w, root, r, depth + 1);
    } else if (S_ISREG(st.st_mode)) {
      rc = walk_push(w, r);
      if (rc == 0)
        r = NULL;
    } else {
      rc = escrow__err(ESCROW_E_INVALID, "'%s' is not a regular file", full);
    }
    escrow__free(r);
    escrow__free(full);
  }
  if (rc == 0 && errno != 0)
    rc = escrow__err_errno("cannot read folder", path);
  closedir(d);
  escrow__free(path);
  return rc;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int escrow__walk_files(const char *dir, char ***out, size_t *n) {
  *out = NULL;
  *n = 0;
  struct stat st;
  if (stat(dir, &st) != 0)
    return escrow__err_errno("cannot open folder", dir);
  if (!S_ISDIR(st.st_mode))
    return escrow__err(ESCROW_E_INVALID, "'%s' is not a folder", dir);
  walk w = {0};
  int rc = walk_dir(&w, dir, "", 0);
  if (rc != 0) {
    escrow__free_strv(w.v, w.n);
    return rc;
  }
  if (w.n > 1)
    qsort(w.v, w.n, sizeof *w.v, cmp_str);
  *out = w.v;
  *n = w.n;
  return 0;
}

/* ---- shared helpers ------------------------------------------------------------------------- */

static int ends_with(const char *s, const char *suf) {
  size_t l = strlen(s), m = strlen(suf);
  return l >= m && memcmp(s + l - m, suf, m) == 0;
}

/* Prepare out_dir: create it (0700) or accept an existing empty folder. */
static int prepare_out(const char *out_dir) {
  struct stat st;
  if (lstat(out_dir, &st) == 0) {
    if (!S_ISDIR(st.st_mode))
      return escrow__err(ESCROW_E_EXISTS, "'%s' exists and is not a folder", out_dir);
    DIR *d = opendir(out_dir);
    if (d == NULL)
      return escrow__err_errno("cannot read folder", out_dir);
    struct dirent *e;
    int empty = 1;
    while ((e = readdir(d)) != NULL)
      if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
        empty = 0;
    closedir(d);
    if (!empty)
      return escrow__err(ESCROW_E_EXISTS, "'%s' is not empty; not writing into it", out_dir);
    return 0;
  }
  return escrow__mkdirs(out_dir, 0700);
}

/* out_dir/rel(+suffix), creating parent folders 0700. */
static int make_out_path(const char *out_dir, const char *rel, const char *suffix, char **out) {
  size_t ol = strlen(out_dir), rl = strlen(rel), sl = suffix != NULL ? strlen(suffix) : 0;
  char *p = escrow__malloc(ol + rl + sl + 2);
  if (p == NULL)
    return escrow__err_nomem();
  memcpy(p, out_dir, ol);
  p[ol] = '/';
  memcpy(p + ol + 1, rel, rl);
  if (sl > 0)
    memcpy(p + ol + 1 + rl, suffix, sl);
  p[ol + 1 + rl + sl] = '\0';
  char *slash = strrchr(p, '/');
  if (slash > p + ol) {
    *slash = '\0';
    int rc = escrow__mkdirs(p, 0700);
    *slash = '/';
    if (rc != 0) {
      escrow__free(p);
      return rc;
    }
  }
  *out = p;
  return 0;
}

typedef struct prog {
  escrow_progress_cb cb;
  void *payload;
  uint64_t base, total;
} prog;

static void prog_cb(void *payload, uint64_t done, uint64_t total) {
  ESCROW__UNUSED(total);
  prog *p = payload;
  uint64_t d = p->base + done;
  if (p->total > 0 && d > p->total)
    d = p->total;
  p->cb(p->payload, d, p->total);
}

/* Read and parse the v1 header at the start of path; *file_size receives its size. */
static int read_header(const char *path, escrow_header **h, uint64_t *file_size) {
  *h = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return escrow__err_errno("cannot open", path);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int rc = escrow__err_errno("cannot stat", path);
    close(fd);
    return rc;
  }
  *file_size = (uint64_t)st.st_size;
  uint8_t *buf = escrow__malloc(ESCROW_BKENC_HEADER_MAX);
  if (buf == NULL) {
    close(fd);
    return escrow__err_nomem();
  }
  size_t got = 0;
  int rc = escrow__read_full(fd, buf, ESCROW_BKENC_HEADER_MAX, &got, path);
  close(fd);
  if (rc == 0)
    rc = escrow_header_parse(h, buf, got, NULL);
  escrow__free(buf);
  return rc;
}

/* ---- encrypt ---------------------------------------------------------------------------------- */

int escrow_dataset_encrypt(const char *in_dir, const char *out_dir, const escrow_cek *cek,
                           const escrow_dataset_options *opts) {
  if (in_dir == NULL || out_dir == NULL || cek == NULL)
    return escrow__err(ESCROW_E_INVALID, "dataset encrypt: NULL argument");
  escrow_dataset_options def = ESCROW_DATASET_OPTIONS_INIT;
  if (opts == NULL)
    opts = &def;
  escrow_file_format fmt = opts->format == 0 ? ESCROW_FORMAT_V1 : opts->format;
  if (fmt != ESCROW_FORMAT_V1 && fmt != ESCROW_FORMAT_V0)
    return escrow__err(ESCROW_E_INVALID, "dataset encrypt: unknown format %d", (int)opts->format);
  char **files = NULL;
  size_t n = 0;
  int rc = escrow__walk_files(in_dir, &files, &n);
  if (rc != 0)
    return rc;
  uint64_t total = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    if (ends_with(files[i], BKENC_SUFFIX))
      rc = escrow__err(ESCROW_E_INVALID,
                       "'%s' already ends in .bkenc; refusing to encrypt it again", files[i]);
    else if (fmt == ESCROW_FORMAT_V1 && strcmp(files[i], ESCROW_MANIFEST_PATH) == 0)
      rc = escrow__err(ESCROW_E_INVALID, "'%s' would collide with the dataset manifest",
                       files[i]);
    struct stat st;
    char *p = rc == 0 ? escrow__path_join(in_dir, files[i]) : NULL;
    if (rc == 0 && p == NULL)
      rc = escrow__err_nomem();
    if (rc == 0 && stat(p, &st) == 0)
      total += (uint64_t)st.st_size;
    escrow__free(p);
  }
  if (rc != 0) {
    escrow__free_strv(files, n);
    return rc;
  }
  rc = prepare_out(out_dir);
  if (rc != 0) {
    escrow__free_strv(files, n);
    return rc;
  }
  escrow__manifest_builder *b = NULL;
  uint8_t *sealed = NULL;
  size_t sealed_len = 0;
  if (fmt == ESCROW_FORMAT_V1)
    rc = escrow__manifest_builder_new(&b, opts->dataset_version);
  prog pg = {opts->progress, opts->progress_payload, 0, total};
  for (size_t i = 0; i < n && rc == 0; i++) {
    char *in = escrow__path_join(in_dir, files[i]);
    char *out = NULL;
    if (in == NULL)
      rc = escrow__err_nomem();
    if (rc == 0)
      rc = make_out_path(out_dir, files[i], BKENC_SUFFIX, &out);
    uint8_t tag[ESCROW_BKENC_HDRTAG_BYTES];
    if (rc == 0) {
      escrow_encrypt_options eo = ESCROW_ENCRYPT_OPTIONS_INIT;
      eo.context = opts->context;
      eo.context.path = files[i];
      rc = escrow_encrypt_file(cek, fmt == ESCROW_FORMAT_V1 ? &eo : NULL, fmt, in, out,
                               fmt == ESCROW_FORMAT_V1 ? tag : NULL,
                               pg.cb != NULL ? prog_cb : NULL, &pg);
    }
    if (rc == 0 && fmt == ESCROW_FORMAT_V1) {
      /* The plaintext size as written (not as stat said before: files may change). */
      escrow_header *h = NULL;
      uint64_t fsz = 0, psz = 0;
      rc = read_header(out, &h, &fsz);
      if (rc == 0)
        rc = escrow_bkenc_plaintext_size(&psz, fsz, escrow_header_log2cs(h),
                                         escrow_header_length(h));
      escrow_header_free(h);
      if (rc == 0)
        rc = escrow__manifest_builder_add(b, files[i], psz, tag);
      pg.base += psz;
    } else if (rc == 0) {
      struct stat st;
      if (stat(in, &st) == 0)
        pg.base += (uint64_t)st.st_size;
    }
    escrow__free(in);
    escrow__free(out);
  }
  if (rc == 0 && fmt == ESCROW_FORMAT_V1)
    rc = escrow__manifest_builder_seal(b, cek, &opts->context, &sealed, &sealed_len);
  if (rc == 0 && fmt == ESCROW_FORMAT_V1) {
    char *mp = escrow__path_join(out_dir, ESCROW_MANIFEST_FILE);
    if (mp == NULL) {
      rc = escrow__err_nomem();
    } else {
      escrow__atomic at;
      rc = escrow__atomic_open(&at, mp, 0600, true);
      if (rc == 0) {
        rc = escrow__write_all(at.fd, sealed, sealed_len, mp);
        if (rc == 0)
          rc = escrow__atomic_commit(&at);
        else
          escrow__atomic_abort(&at);
      }
      escrow__free(mp);
    }
  }
  escrow__free(sealed);
  escrow__manifest_builder_free(b);
  escrow__free_strv(files, n);
  if (rc != 0)
    escrow__rmtree(out_dir);
  else if (opts->progress != NULL)
    opts->progress(opts->progress_payload, total, total);
  return rc;
}

/* ---- decrypt ---------------------------------------------------------------------------------- */

static const char *ctx_names[] = {"", "project id", "role", "asset", "path", "key id"};

/* Check one v1 file against its manifest entry (and the expected context) before decrypting. */
static int check_against_manifest(const char *in, const char *rel, const escrow_cek *cek,
                                  const escrow_manifest *m, size_t mi, const escrow_context *want) {
  escrow_header *h = NULL;
  uint64_t fsz = 0;
  int rc = read_header(in, &h, &fsz);
  if (rc == ESCROW_E_FORMAT || rc == ESCROW_E_TRUNCATED) {
    escrow_header_free(h);
    return escrow__err(ESCROW_E_MISMATCH,
                       "'%s.bkenc' is not a BKENC v1 file, but the dataset manifest lists it", rel);
  }
  if (rc != 0)
    return rc;
  rc = escrow_header_verify(h, cek);
  if (rc != 0) {
    escrow_header_free(h);
    return escrow__err(ESCROW_E_AUTH,
                       "'%s.bkenc': wrong key or altered header (its header tag does not verify)",
                       rel);
  }
  const char *path = escrow_header_context(h, 0x04);
  const char *mpath;
  uint64_t msize;
  const uint8_t *mtag;
  (void)escrow_manifest_entry(m, mi, &mpath, &msize, &mtag);
  if (path == NULL || strcmp(path, rel) != 0) {
    rc = escrow__err(ESCROW_E_MISMATCH,
                     "'%s.bkenc' holds the file encrypted for '%s' (files swapped or moved)", rel,
                     path != NULL ? path : "(no path)");
  } else if (sodium_memcmp(escrow_header_hdrtag(h), mtag, ESCROW_BKENC_HDRTAG_BYTES) != 0) {
    rc = escrow__err(ESCROW_E_MISMATCH,
                     "'%s.bkenc' is a different version of the file than the dataset manifest "
                     "lists (rolled back or replaced)",
                     rel);
  } else {
    uint64_t psz = 0;
    if (escrow_bkenc_plaintext_size(&psz, fsz, escrow_header_log2cs(h), escrow_header_length(h)) !=
            0 ||
        psz != msize)
      rc = escrow__err(ESCROW_E_MISMATCH,
                       "'%s.bkenc' does not have the size the dataset manifest lists (truncated "
                       "or extended)",
                       rel);
  }
  const char *w[6] = {NULL, want->project_id, want->role, want->asset, NULL, want->key_id};
  for (unsigned t = 1; t <= 5 && rc == 0; t++) {
    if (w[t] == NULL)
      continue;
    const char *got = escrow_header_context(h, t);
    if (got == NULL || strcmp(got, w[t]) != 0)
      rc = escrow__err(ESCROW_E_MISMATCH, "'%s.bkenc' belongs to another %s than expected", rel,
                       ctx_names[t]);
  }
  escrow_header_free(h);
  return rc;
}

int escrow_dataset_decrypt(const char *in_dir, const char *out_dir, const escrow_cek *cek,
                           const escrow_dataset_options *opts) {
  if (in_dir == NULL || out_dir == NULL || cek == NULL)
    return escrow__err(ESCROW_E_INVALID, "dataset decrypt: NULL argument");
  escrow_dataset_options def = ESCROW_DATASET_OPTIONS_INIT;
  if (opts == NULL)
    opts = &def;
  char **files = NULL;
  size_t nfiles = 0;
  int rc = escrow__walk_files(in_dir, &files, &nfiles);
  if (rc != 0)
    return rc;
  /* The encrypted files, as plaintext relative paths (suffix removed). */
  char **rels = escrow__calloc(nfiles + 1, sizeof *rels);
  size_t n = 0;
  int has_manifest = 0;
  escrow_manifest *m = NULL;
  int created = 0;
  uint64_t total = 0;
  if (rels == NULL) {
    rc = escrow__err_nomem();
    goto out;
  }
  for (size_t i = 0; i < nfiles; i++) {
    if (strcmp(files[i], ESCROW_MANIFEST_FILE) == 0) {
      has_manifest = 1;
      continue;
    }
    if (!ends_with(files[i], BKENC_SUFFIX))
      continue;
    size_t l = strlen(files[i]) - strlen(BKENC_SUFFIX);
    if (l == 0 || files[i][l - 1] == '/')
      continue; /* a file named just ".bkenc" names no plaintext */
    rels[n] = escrow__strndup(files[i], l);
    if (rels[n] == NULL) {
      rc = escrow__err_nomem();
      goto out;
    }
    n++;
    struct stat st;
    char *p = escrow__path_join(in_dir, files[i]);
    if (p == NULL) {
      rc = escrow__err_nomem();
      goto out;
    }
    if (stat(p, &st) == 0)
      total += (uint64_t)st.st_size;
    escrow__free(p);
  }
  if (n > 1)
    qsort(rels, n, sizeof *rels, cmp_str);
  if (!has_manifest && opts->require_manifest) {
    rc = escrow__err(ESCROW_E_MISMATCH,
                     "'%s' has no dataset manifest (%s) and one is required", in_dir,
                     ESCROW_MANIFEST_FILE);
    goto out;
  }
  if (has_manifest) {
    char *mp = escrow__path_join(in_dir, ESCROW_MANIFEST_FILE);
    uint8_t *buf = NULL;
    size_t len = 0;
    if (mp == NULL) {
      rc = escrow__err_nomem();
      goto out;
    }
    rc = escrow__read_file(mp, (size_t)ESCROW__MANIFEST_MAX_BYTES + 65536, false, &buf, &len);
    escrow__free(mp);
    if (rc == 0) {
      rc = escrow__manifest_decode_ex(&m, cek, buf, len, &opts->context);
      escrow__free(buf);
    }
    if (rc != 0)
      goto out;
    /* The set of files must be the manifest's: both lists are sorted. */
    size_t i = 0, j = 0, mn = escrow_manifest_count(m);
    while (i < n || j < mn) {
      const char *mp2 = NULL;
      if (j < mn)
        (void)escrow_manifest_entry(m, j, &mp2, NULL, NULL);
      int c = i >= n ? 1 : j >= mn ? -1 : strcmp(rels[i], mp2);
      if (c < 0) {
        rc = escrow__err(ESCROW_E_MISMATCH,
                         "'%s.bkenc' is not in the dataset manifest (a file was added)", rels[i]);
        goto out;
      }
      if (c > 0) {
        rc = escrow__err(ESCROW_E_MISMATCH,
                         "'%s.bkenc' is listed in the dataset manifest but missing", mp2);
        goto out;
      }
      i++;
      j++;
    }
    for (size_t k = 0; k < n; k++) {
      char *in = NULL;
      rc = make_out_path(in_dir, rels[k], BKENC_SUFFIX, &in);
      if (rc != 0)
        goto out;
      size_t mi = 0;
      (void)escrow_manifest_find(m, rels[k], &mi);
      rc = check_against_manifest(in, rels[k], cek, m, mi, &opts->context);
      escrow__free(in);
      if (rc != 0)
        goto out;
    }
  }
  rc = prepare_out(out_dir);
  if (rc != 0)
    goto out;
  created = 1;
  prog pg = {opts->progress, opts->progress_payload, 0, total};
  for (size_t k = 0; k < n && rc == 0; k++) {
    char *in = NULL, *out = NULL;
    size_t ol = strlen(in_dir) + strlen(rels[k]) + 8;
    in = escrow__malloc(ol);
    if (in == NULL) {
      rc = escrow__err_nomem();
      break;
    }
    snprintf(in, ol, "%s/%s%s", in_dir, rels[k], BKENC_SUFFIX);
    rc = make_out_path(out_dir, rels[k], NULL, &out);
    escrow_decrypt_options dopt = ESCROW_DECRYPT_OPTIONS_INIT;
    dopt.expect_path = rels[k];
    if (rc == 0 && m != NULL) {
      size_t mi = 0;
      const uint8_t *tag = NULL;
      (void)escrow_manifest_find(m, rels[k], &mi);
      (void)escrow_manifest_entry(m, mi, NULL, NULL, &tag);
      dopt.expect_hdrtag = tag;
    }
    struct stat st;
    uint64_t fsz = stat(in, &st) == 0 ? (uint64_t)st.st_size : 0;
    if (rc == 0)
      rc = escrow_decrypt_file(cek, &dopt, in, out, pg.cb != NULL ? prog_cb : NULL, &pg);
    if (rc == ESCROW_E_MISMATCH && m == NULL)
      rc = escrow__err(ESCROW_E_MISMATCH,
                       "'%s.bkenc' was encrypted for another path (files swapped or moved)",
                       rels[k]);
    pg.base += fsz;
    escrow__free(in);
    escrow__free(out);
  }
  if (rc == 0 && opts->progress != NULL)
    opts->progress(opts->progress_payload, total, total);
out:
  if (rc != 0 && created)
    escrow__rmtree(out_dir);
  escrow_manifest_free(m);
  escrow__free_strv(rels, n);
  escrow__free_strv(files, nfiles);
  return rc;
}
