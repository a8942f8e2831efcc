/*
 * The dataset manifest (DESIGN §3): a BKENC v1 file ".escrow-manifest.bkenc" whose plaintext is
 * {"format":"escrow-dataset-manifest/1","dataset_version":...,"files":[{"path","size","hdrtag"}]}
 * with files sorted by path (bytewise) and hdrtag as lowercase hex. Parsing is strict: unknown
 * keys, duplicate keys, unsorted or duplicate paths, unclean paths and bad hex are refused.
 */
#include <stdio.h>
#include <string.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>

#include "internal.h"
#include "package_internal.h"

typedef struct mentry {
  char *path;
  uint64_t size;
  uint8_t hdrtag[32];
} mentry;

struct escrow_manifest {
  char *dataset_version;
  mentry *e;
  size_t n, cap;
};

struct escrow__manifest_builder {
  escrow_manifest m;
};

static void m_clear(escrow_manifest *m) {
  for (size_t i = 0; i < m->n; i++)
    escrow__free(m->e[i].path);
  escrow__free(m->e);
  escrow__free(m->dataset_version);
  memset(m, 0, sizeof *m);
}

void escrow_manifest_free(escrow_manifest *m) {
  if (m == NULL)
    return;
  m_clear(m);
  escrow__free(m);
}

static int m_push(escrow_manifest *m, char *path, uint64_t size, const uint8_t tag[32]) {
  if (m->n >= ESCROW__MANIFEST_MAX_FILES)
    return escrow__err(ESCROW_E_LIMIT, "the manifest lists more than %u files",
                       ESCROW__MANIFEST_MAX_FILES);
  if (m->n == m->cap) {
    size_t nc = m->cap ? m->cap * 2 : 16;
    mentry *ne = escrow__realloc(m->e, nc * sizeof *ne);
    if (ne == NULL)
      return escrow__err_nomem();
    m->e = ne;
    m->cap = nc;
  }
  m->e[m->n].path = path;
  m->e[m->n].size = size;
  memcpy(m->e[m->n].hdrtag, tag, 32);
  m->n++;
  return 0;
}

size_t escrow_manifest_count(const escrow_manifest *m) { return m == NULL ? 0 : m->n; }

int escrow_manifest_entry(const escrow_manifest *m, size_t i, const char **path, uint64_t *size,
                          const uint8_t **hdrtag) {
  if (m == NULL || i >= m->n)
    return escrow__err(ESCROW_E_INVALID, "manifest entry %zu does not exist", i);
  if (path != NULL)
    *path = m->e[i].path;
  if (size != NULL)
    *size = m->e[i].size;
  if (hdrtag != NULL)
    *hdrtag = m->e[i].hdrtag;
  return 0;
}

int escrow_manifest_find(const escrow_manifest *m, const char *path, size_t *index) {
  if (m == NULL || path == NULL)
    return escrow__err(ESCROW_E_INVALID, "manifest find: NULL argument");
  size_t lo = 0, hi = m->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(m->e[mid].path, path);
    if (c == 0) {
      if (index != NULL)
        *index = mid;
      return 0;
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return ESCROW_E_NOTFOUND;
}

const char *escrow_manifest_dataset_version(const escrow_manifest *m) {
  return m == NULL ? NULL : m->dataset_version;
}

/* ---- builder ------------------------------------------------------------------------------- */

int escrow__manifest_builder_new(escrow__manifest_builder **out, const char *dataset_version) {
  *out = NULL;
  escrow__manifest_builder *b = escrow__calloc(1, sizeof *b);
  if (b == NULL)
    return escrow__err_nomem();
  if (dataset_version != NULL) {
    if (!escrow__utf8_valid((const uint8_t *)dataset_version, strlen(dataset_version))) {
      escrow__free(b);
      return escrow__err(ESCROW_E_INVALID, "the dataset version is not valid UTF-8");
    }
    b->m.dataset_version = escrow__strdup(dataset_version);
    if (b->m.dataset_version == NULL) {
      escrow__free(b);
      return escrow__err_nomem();
    }
  }
  *out = b;
  return 0;
}

int escrow__manifest_builder_add(escrow__manifest_builder *b, const char *path, uint64_t size,
                                 const uint8_t hdrtag[32]) {
  if (!escrow__path_is_clean(path) || strcmp(path, ESCROW_MANIFEST_PATH) == 0)
    return escrow__err(ESCROW_E_INVALID, "manifest: '%s' is not a clean relative path", path);
  if (size > (uint64_t)INT64_MAX)
    return escrow__err(ESCROW_E_INVALID, "manifest: size too large");
  char *p = escrow__strdup(path);
  if (p == NULL)
    return escrow__err_nomem();
  int rc = m_push(&b->m, p, size, hdrtag);
  if (rc != 0)
    escrow__free(p);
  return rc;
}

void escrow__manifest_builder_free(escrow__manifest_builder *b) {
  if (b == NULL)
    return;
  m_clear(&b->m);
  escrow__free(b);
}

static int cmp_mentry(const void *a, const void *b) {
  return strcmp(((const mentry *)a)->path, ((const mentry *)b)->path);
}

#define GS(g, s) yajl_gen_string(g, (const unsigned char *)(s), strlen(s))

int escrow__manifest_builder_json(escrow__manifest_builder *b, char **json, size_t *len) {
  *json = NULL;
  *len = 0;
  if (b->m.n > 1)
    qsort(b->m.e, b->m.n, sizeof *b->m.e, cmp_mentry);
  for (size_t i = 0; i + 1 < b->m.n; i++)
    if (strcmp(b->m.e[i].path, b->m.e[i + 1].path) == 0)
      return escrow__err(ESCROW_E_INVALID, "manifest: '%s' is listed twice", b->m.e[i].path);
  yajl_gen g = yajl_gen_alloc(NULL);
  if (g == NULL)
    return escrow__err_nomem();
  yajl_gen_config(g, yajl_gen_validate_utf8, 1);
  int bad = 0;
  bad |= yajl_gen_map_open(g) != yajl_gen_status_ok;
  bad |= GS(g, "format") != yajl_gen_status_ok;
  bad |= GS(g, ESCROW_MANIFEST_FORMAT) != yajl_gen_status_ok;
  bad |= GS(g, "dataset_version") != yajl_gen_status_ok;
  if (b->m.dataset_version != NULL)
    bad |= GS(g, b->m.dataset_version) != yajl_gen_status_ok;
  else
    bad |= yajl_gen_null(g) != yajl_gen_status_ok;
  bad |= GS(g, "files") != yajl_gen_status_ok;
  bad |= yajl_gen_array_open(g) != yajl_gen_status_ok;
  for (size_t i = 0; i < b->m.n && !bad; i++) {
    char hx[65];
    escrow__hex(hx, b->m.e[i].hdrtag, 32);
    bad |= yajl_gen_map_open(g) != yajl_gen_status_ok;
    bad |= GS(g, "path") != yajl_gen_status_ok;
    bad |= GS(g, b->m.e[i].path) != yajl_gen_status_ok;
    bad |= GS(g, "size") != yajl_gen_status_ok;
    bad |= yajl_gen_integer(g, (long long)b->m.e[i].size) != yajl_gen_status_ok;
    bad |= GS(g, "hdrtag") != yajl_gen_status_ok;
    bad |= GS(g, hx) != yajl_gen_status_ok;
    bad |= yajl_gen_map_close(g) != yajl_gen_status_ok;
  }
  bad |= yajl_gen_array_close(g) != yajl_gen_status_ok;
  bad |= yajl_gen_map_close(g) != yajl_gen_status_ok;
  const unsigned char *buf = NULL;
  size_t bl = 0;
  if (!bad)
    bad = yajl_gen_get_buf(g, &buf, &bl) != yajl_gen_status_ok;
  int rc = 0;
  if (bad) {
    rc = escrow__err(ESCROW_E_INVALID, "cannot write the manifest JSON");
  } else {
    char *o = escrow__malloc(bl + 1);
    if (o == NULL) {
      rc = escrow__err_nomem();
    } else {
      memcpy(o, buf, bl);
      o[bl] = '\0';
      *json = o;
      *len = bl;
    }
  }
  yajl_gen_free(g);
  return rc;
}

int escrow__manifest_builder_seal(escrow__manifest_builder *b, const escrow_cek *cek,
                                  const escrow_context *ctx, uint8_t **out, size_t *len) {
  *out = NULL;
  *len = 0;
  char *json = NULL;
  size_t jl = 0;
  int rc = escrow__manifest_builder_json(b, &json, &jl);
  if (rc != 0)
    return rc;
  escrow_encrypt_options eo = ESCROW_ENCRYPT_OPTIONS_INIT;
  if (ctx != NULL)
    eo.context = *ctx;
  eo.context.path = ESCROW_MANIFEST_PATH;
  escrow_encryptor *e = NULL;
  uint8_t *buf = NULL;
  rc = escrow_encryptor_new(&e, cek, &eo);
  if (rc == 0) {
    /* The final chunk's bound is only known after update: grow the buffer then. */
    size_t ub = escrow_encryptor_update_bound(e, jl);
    buf = escrow__malloc(ub > 0 ? ub : 1);
    size_t w1 = 0, w2 = 0;
    if (buf == NULL)
      rc = escrow__err_nomem();
    if (rc == 0)
      rc = escrow_encryptor_update(e, buf, ub, &w1, (const uint8_t *)json, jl);
    size_t fb = rc == 0 ? escrow_encryptor_final_bound(e) : 0;
    if (rc == 0) {
      uint8_t *nb = escrow__realloc(buf, w1 + fb);
      if (nb == NULL)
        rc = escrow__err_nomem();
      else
        buf = nb;
    }
    if (rc == 0)
      rc = escrow_encryptor_final(e, buf + w1, fb, &w2);
    if (rc == 0) {
      *out = buf;
      *len = w1 + w2;
      buf = NULL;
    }
  }
  escrow__free(buf);
  escrow_encryptor_free(e);
  escrow__free(json);
  return rc;
}

/* ---- parser --------------------------------------------------------------------------------- */

enum pstate { P_TOP, P_MAP, P_FILES, P_FILE, P_DONE };
enum pkey { K_NONE, K_FORMAT, K_VERSION, K_FILES, K_PATH, K_SIZE, K_HDRTAG };

typedef struct pctx {
  escrow_manifest *m;
  enum pstate st;
  enum pkey key;
  unsigned seen_top; /* bit per top key */
  unsigned seen_file;
  char *path;
  uint64_t size;
  uint8_t tag[32];
  int rc; /* error recorded by a callback */
} pctx;

static int perr(pctx *p, int code, const char *msg) {
  if (p->rc == 0)
    p->rc = code == ESCROW_E_NOMEM ? escrow__err_nomem()
                                   : escrow__err(code, "bad dataset manifest: %s", msg);
  return 0; /* cancel the parse */
}

static int cb_null(void *c) {
  pctx *p = c;
  if (p->st == P_MAP && p->key == K_VERSION) {
    p->key = K_NONE;
    return 1;
  }
  return perr(p, ESCROW_E_FORMAT, "unexpected null");
}

static int cb_bool(void *c, int v) {
  ESCROW__UNUSED(v);
  return perr(c, ESCROW_E_FORMAT, "unexpected boolean");
}

static int cb_double(void *c, double v) {
  ESCROW__UNUSED(v);
  return perr(c, ESCROW_E_FORMAT, "sizes must be whole numbers");
}

static int cb_int(void *c, long long v) {
  pctx *p = c;
  if (p->st != P_FILE || p->key != K_SIZE)
    return perr(p, ESCROW_E_FORMAT, "unexpected number");
  if (v < 0)
    return perr(p, ESCROW_E_FORMAT, "a size is negative");
  p->size = (uint64_t)v;
  p->key = K_NONE;
  return 1;
}

static int cb_string(void *c, const unsigned char *s, size_t l) {
  pctx *p = c;
  if (memchr(s, '\0', l) != NULL)
    return perr(p, ESCROW_E_FORMAT, "a string holds a NUL character");
  if (p->st == P_MAP && p->key == K_FORMAT) {
    if (l != strlen(ESCROW_MANIFEST_FORMAT) || memcmp(s, ESCROW_MANIFEST_FORMAT, l) != 0)
      return perr(p, ESCROW_E_FORMAT, "unknown format (expected " ESCROW_MANIFEST_FORMAT ")");
  } else if (p->st == P_MAP && p->key == K_VERSION) {
    p->m->dataset_version = escrow__strndup((const char *)s, l);
    if (p->m->dataset_version == NULL)
      return perr(p, ESCROW_E_NOMEM, "");
  } else if (p->st == P_FILE && p->key == K_PATH) {
    p->path = escrow__strndup((const char *)s, l);
    if (p->path == NULL)
      return perr(p, ESCROW_E_NOMEM, "");
    if (!escrow__path_is_clean(p->path) || strcmp(p->path, ESCROW_MANIFEST_PATH) == 0)
      return perr(p, ESCROW_E_FORMAT, "a path is not a clean relative path");
  } else if (p->st == P_FILE && p->key == K_HDRTAG) {
    char hx[65];
    if (l != 64)
      return perr(p, ESCROW_E_FORMAT, "an hdrtag is not 64 hex digits");
    memcpy(hx, s, 64);
    hx[64] = '\0';
    for (size_t i = 0; i < 64; i++)
      if (hx[i] >= 'A' && hx[i] <= 'F')
        return perr(p, ESCROW_E_FORMAT, "an hdrtag is not lowercase hex");
    if (escrow__unhex(p->tag, 32, hx) != 0)
      return perr(p, ESCROW_E_FORMAT, "an hdrtag is not 64 hex digits");
  } else {
    return perr(p, ESCROW_E_FORMAT, "unexpected string");
  }
  p->key = K_NONE;
  return 1;
}

static int cb_start_map(void *c) {
  pctx *p = c;
  if (p->st == P_TOP) {
    p->st = P_MAP;
    return 1;
  }
  if (p->st == P_FILES) {
    p->st = P_FILE;
    p->seen_file = 0;
    p->size = 0;
    return 1;
  }
  return perr(p, ESCROW_E_FORMAT, "unexpected object");
}

static int cb_key(void *c, const unsigned char *s, size_t l) {
  pctx *p = c;
  static const struct {
    const char *name;
    enum pkey k;
    int top;
  } keys[] = {{"format", K_FORMAT, 1}, {"dataset_version", K_VERSION, 1}, {"files", K_FILES, 1},
              {"path", K_PATH, 0},     {"size", K_SIZE, 0},              {"hdrtag", K_HDRTAG, 0}};
  int top = p->st == P_MAP;
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(keys); i++) {
    if (keys[i].top != top || strlen(keys[i].name) != l || memcmp(keys[i].name, s, l) != 0)
      continue;
    unsigned bit = 1u << keys[i].k;
    unsigned *seen = top ? &p->seen_top : &p->seen_file;
    if (*seen & bit)
      return perr(p, ESCROW_E_FORMAT, "a key appears twice");
    *seen |= bit;
    p->key = keys[i].k;
    return 1;
  }
  return perr(p, ESCROW_E_FORMAT, "unknown key");
}

static int cb_end_map(void *c) {
  pctx *p = c;
  if (p->st == P_FILE) {
    unsigned need = (1u << K_PATH) | (1u << K_SIZE) | (1u << K_HDRTAG);
    if ((p->seen_file & need) != need)
      return perr(p, ESCROW_E_FORMAT, "a file lacks path, size or hdrtag");
    if (p->m->n > 0 && strcmp(p->m->e[p->m->n - 1].path, p->path) >= 0)
      return perr(p, ESCROW_E_FORMAT, "paths are not sorted or appear twice");
    int rc = m_push(p->m, p->path, p->size, p->tag);
    if (rc != 0) {
      if (p->rc == 0)
        p->rc = rc;
      return 0;
    }
    p->path = NULL;
    p->st = P_FILES;
    return 1;
  }
  if (p->st == P_MAP) {
    unsigned need = (1u << K_FORMAT) | (1u << K_FILES);
    if ((p->seen_top & need) != need)
      return perr(p, ESCROW_E_FORMAT, "format or files is missing");
    p->st = P_DONE;
    return 1;
  }
  return perr(p, ESCROW_E_FORMAT, "unexpected end of object");
}

static int cb_start_array(void *c) {
  pctx *p = c;
  if (p->st == P_MAP && p->key == K_FILES) {
    p->st = P_FILES;
    p->key = K_NONE;
    return 1;
  }
  return perr(p, ESCROW_E_FORMAT, "unexpected array");
}

static int cb_end_array(void *c) {
  pctx *p = c;
  if (p->st == P_FILES) {
    p->st = P_MAP;
    return 1;
  }
  return perr(p, ESCROW_E_FORMAT, "unexpected end of array");
}

static const yajl_callbacks mcb = {cb_null,      cb_bool, cb_int,         cb_double,
                                   NULL,         cb_string, cb_start_map, cb_key,
                                   cb_end_map,   cb_start_array, cb_end_array};

int escrow__manifest_parse_json(escrow_manifest **out, const uint8_t *json, size_t len) {
  *out = NULL;
  if (json == NULL && len > 0)
    return escrow__err(ESCROW_E_INVALID, "manifest: NULL data");
  if ((uint64_t)len > ESCROW__MANIFEST_MAX_BYTES)
    return escrow__err(ESCROW_E_LIMIT, "the manifest is larger than %llu bytes",
                       (unsigned long long)ESCROW__MANIFEST_MAX_BYTES);
  escrow_manifest *m = escrow__calloc(1, sizeof *m);
  if (m == NULL)
    return escrow__err_nomem();
  pctx p;
  memset(&p, 0, sizeof p);
  p.m = m;
  yajl_handle h = yajl_alloc(&mcb, NULL, &p);
  if (h == NULL) {
    escrow__free(m);
    return escrow__err_nomem();
  }
  yajl_status s = yajl_parse(h, json != NULL ? json : (const uint8_t *)"", len);
  if (s == yajl_status_ok)
    s = yajl_complete_parse(h);
  int rc = 0;
  if (s != yajl_status_ok || p.rc != 0) {
    if (p.rc != 0) {
      rc = p.rc;
    } else {
      unsigned char *em = yajl_get_error(h, 0, json, len);
      rc = escrow__err(ESCROW_E_FORMAT, "bad dataset manifest: %s",
                       em != NULL ? (const char *)em : "invalid JSON");
      if (em != NULL)
        yajl_free_error(h, em);
    }
  } else if (p.st != P_DONE) {
    rc = escrow__err(ESCROW_E_FORMAT, "bad dataset manifest: not a JSON object");
  }
  yajl_free(h);
  escrow__free(p.path);
  if (rc != 0) {
    escrow_manifest_free(m);
    return rc;
  }
  *out = m;
  return 0;
}

/* ---- decode ------------------------------------------------------------------------------- */

static const char *ctx_names[] = {"", "project id", "role", "asset", "path", "key id"};

int escrow__manifest_decode_ex(escrow_manifest **out, const escrow_cek *cek, const uint8_t *data,
                               size_t len, const escrow_context *expect) {
  if (out == NULL)
    return escrow__err(ESCROW_E_INVALID, "manifest decode: NULL argument");
  *out = NULL;
  if (cek == NULL || (data == NULL && len > 0))
    return escrow__err(ESCROW_E_INVALID, "manifest decode: NULL argument");
  if ((uint64_t)len > ESCROW__MANIFEST_MAX_BYTES + 65536)
    return escrow__err(ESCROW_E_LIMIT, "the manifest file is too large");
  if (escrow_detect_format(data, len) != ESCROW_FORMAT_V1)
    return escrow__err(ESCROW_E_FORMAT, "the manifest is not a BKENC v1 file");
  escrow_decrypt_options dopt = ESCROW_DECRYPT_OPTIONS_INIT;
  dopt.expect_path = ESCROW_MANIFEST_PATH;
  escrow_decryptor *d = NULL;
  int rc = escrow_decryptor_new(&d, cek, &dopt);
  if (rc != 0)
    return rc;
  /* The plaintext is shorter than the file: len bytes hold what update and final release. */
  uint8_t *pt = escrow__malloc(len + 1);
  size_t w1 = 0, w2 = 0;
  if (pt == NULL)
    rc = escrow__err_nomem();
  if (rc == 0)
    rc = escrow_decryptor_update(d, pt, len, &w1, data, len);
  if (rc == 0)
    rc = escrow_decryptor_final(d, pt + w1, len - w1, &w2);
  if (rc == 0 && expect != NULL) {
    const escrow_header *h = escrow_decryptor_header(d);
    const char *want[6] = {NULL, expect->project_id, expect->role, expect->asset, NULL,
                           expect->key_id};
    for (unsigned t = 1; t <= 5 && rc == 0; t++) {
      if (want[t] == NULL)
        continue;
      const char *got = h != NULL ? escrow_header_context(h, t) : NULL;
      if (got == NULL || strcmp(got, want[t]) != 0)
        rc = escrow__err(ESCROW_E_MISMATCH,
                         "the dataset manifest belongs to another %s than expected",
                         ctx_names[t]);
    }
  }
  if (rc == 0)
    rc = escrow__manifest_parse_json(out, pt, w1 + w2);
  escrow__free(pt);
  escrow_decryptor_free(d);
  return rc;
}

int escrow_manifest_decode(escrow_manifest **out, const escrow_cek *cek, const uint8_t *data,
                           size_t len) {
  return escrow__manifest_decode_ex(out, cek, data, len, NULL);
}
