/*
 * SWIG interface of the Go bindings' raw layer (package internal/raw). Regenerate with
 * `go generate ./...` from bindings/go; the generated raw.go and raw_wrap.c are committed so
 * that users need no SWIG, and a test checks they are current.
 *
 * Shapes chosen for Go:
 *  - []byte in and out through (pointer, length) pairs: Go memory is only read or written
 *    during the call and never kept by C;
 *  - constructors return the handle, NULL on failure; other calls return an int code (or a
 *    count, negative on failure). The idiomatic package locks the OS thread around a call and
 *    its escrow_error_last(), which is per thread;
 *  - library-allocated results come back as a goesc_buf, copied into a Go slice and freed
 *    (wiped first when secret) by goesc_buf_take: no C memory escapes to Go callers.
 */
%module raw

%{
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <escrow/escrow.h>

static uint8_t goesc_empty[1];

typedef struct goesc_buf {
  uint8_t *p;
  size_t n;
  int secret; /* 0: escrow_free, 1: escrow_secret_free, 2: free */
} goesc_buf;

static goesc_buf *goesc_buf_new(uint8_t *p, size_t n, int secret) {
  goesc_buf *b = (goesc_buf *)calloc(1, sizeof(*b));
  if (b == NULL) {
    if (secret == 1) escrow_secret_free(p); else if (secret == 2) free(p); else escrow_free(p);
    return NULL;
  }
  b->p = p;
  b->n = n;
  b->secret = secret;
  return b;
}

static const char *goesc_s(const char *s) { return (s != NULL && s[0] != '\0') ? s : NULL; }

static void goesc_context(escrow_context *c, const char *project_id, const char *role,
                          const char *asset, const char *path, const char *key_id) {
  c->project_id = goesc_s(project_id);
  c->role = goesc_s(role);
  c->asset = goesc_s(asset);
  c->path = goesc_s(path);
  c->key_id = goesc_s(key_id);
}
%}

%include <stdint.i>

/* []byte in (read during the call only) */
%typemap(gotype) (const uint8_t *IN, size_t IN_LEN) "[]byte"
%typemap(in) (const uint8_t *IN, size_t IN_LEN) %{
  $1 = $input.len > 0 ? (uint8_t *)$input.array : goesc_empty;
  $2 = (size_t)$input.len;
%}
/* []byte the call writes into */
%typemap(gotype) (uint8_t *OUTBUF, size_t OUTBUF_SIZE) "[]byte"
%typemap(in) (uint8_t *OUTBUF, size_t OUTBUF_SIZE) %{
  $1 = $input.len > 0 ? (uint8_t *)$input.array : goesc_empty;
  $2 = (size_t)$input.len;
%}

typedef struct escrow_cek escrow_cek;
typedef struct escrow_kek escrow_kek;
typedef struct escrow_encryptor escrow_encryptor;
typedef struct escrow_decryptor escrow_decryptor;
typedef struct escrow_reader escrow_reader;
typedef struct escrow_header escrow_header;
typedef struct escrow_algorithm escrow_algorithm;
typedef struct escrow_manifest escrow_manifest;
typedef struct goesc_buf goesc_buf;
typedef struct escrow_criteria escrow_criteria;
typedef struct escrow_blob_client escrow_blob_client;
typedef struct escrow_client escrow_client;
typedef struct escrow_enclave escrow_enclave;

const char *escrow_version(void);
int escrow_init(void);
const char *escrow_error_last(void);
int escrow_error_last_code(void);
void escrow_error_clear(void);
const char *escrow_strerror(int code);

%inline %{
/* ---- results ---- */
size_t goesc_buf_len(const goesc_buf *b) { return b ? b->n : 0; }
/* Copy into the Go slice (at most its length) and free the buffer, wiping secrets. */
void goesc_buf_take(goesc_buf *b, uint8_t *OUTBUF, size_t OUTBUF_SIZE) {
  if (b == NULL) return;
  if (b->p != NULL && OUTBUF_SIZE > 0) memcpy(OUTBUF, b->p, b->n < OUTBUF_SIZE ? b->n : OUTBUF_SIZE);
  if (b->secret == 1) {
    escrow_secret_free(b->p);
  } else if (b->secret == 2) {
    if (b->p) { volatile uint8_t *v = b->p; for (size_t i = 0; i < b->n; i++) v[i] = 0; }
    free(b->p);
  } else {
    escrow_free(b->p);
  }
  free(b);
}

/* ---- keys ---- */
escrow_cek *goesc_cek_generate(void) {
  escrow_cek *c = NULL;
  return escrow_cek_generate(&c) == 0 ? c : NULL;
}
escrow_cek *goesc_cek_from_bytes(const uint8_t *IN, size_t IN_LEN) {
  escrow_cek *c = NULL;
  return escrow_cek_from_bytes(&c, IN, IN_LEN) == 0 ? c : NULL;
}
escrow_cek *goesc_cek_load(const char *path) {
  escrow_cek *c = NULL;
  return escrow_cek_load(&c, path) == 0 ? c : NULL;
}
int goesc_cek_save(const escrow_cek *cek, const char *path, int encoding) {
  return escrow_cek_save(cek, path, (escrow_cek_encoding)encoding);
}
int goesc_cek_export(const escrow_cek *cek, uint8_t *OUTBUF, size_t OUTBUF_SIZE) {
  if (OUTBUF_SIZE < ESCROW_CEK_BYTES) return ESCROW_E_BUFSIZE;
  return escrow_cek_export(cek, OUTBUF);
}
int goesc_cek_equal(const escrow_cek *a, const escrow_cek *b) { return escrow_cek_equal(a, b); }
void goesc_cek_free(escrow_cek *c) { escrow_cek_free(c); }
goesc_buf *goesc_cek_filename(void) {
  char *b = (char *)malloc(ESCROW_CEK_FILENAME_SIZE);
  if (b == NULL) return NULL;
  if (escrow_cek_filename(b, ESCROW_CEK_FILENAME_SIZE) < 0) { free(b); return NULL; }
  return goesc_buf_new((uint8_t *)b, strlen(b), 2);
}
goesc_buf *goesc_wcek_filename(void) {
  char *b = (char *)malloc(ESCROW_WCEK_FILENAME_SIZE);
  if (b == NULL) return NULL;
  if (escrow_wcek_filename(b, ESCROW_WCEK_FILENAME_SIZE) < 0) { free(b); return NULL; }
  return goesc_buf_new((uint8_t *)b, strlen(b), 2);
}

escrow_kek *goesc_kek_generate(unsigned bits) {
  escrow_kek *k = NULL;
  return escrow_kek_generate(&k, bits) == 0 ? k : NULL;
}
escrow_kek *goesc_kek_public_from_bytes(const uint8_t *IN, size_t IN_LEN) {
  escrow_kek *k = NULL;
  return escrow_kek_public_from_bytes(&k, IN, IN_LEN) == 0 ? k : NULL;
}
escrow_kek *goesc_kek_private_from_bytes(const uint8_t *IN, size_t IN_LEN) {
  escrow_kek *k = NULL;
  return escrow_kek_private_from_bytes(&k, IN, IN_LEN) == 0 ? k : NULL;
}
escrow_kek *goesc_kek_public_load(const char *path) {
  escrow_kek *k = NULL;
  return escrow_kek_public_load(&k, path) == 0 ? k : NULL;
}
escrow_kek *goesc_kek_private_load(const char *path) {
  escrow_kek *k = NULL;
  return escrow_kek_private_load(&k, path) == 0 ? k : NULL;
}
goesc_buf *goesc_kek_public_export(const escrow_kek *k, int encoding) {
  uint8_t *p = NULL;
  size_t n = 0;
  if (escrow_kek_public_export(k, (escrow_key_encoding)encoding, &p, &n) < 0) return NULL;
  return goesc_buf_new(p, n, 0);
}
goesc_buf *goesc_kek_private_export(const escrow_kek *k, int encoding) {
  uint8_t *p = NULL;
  size_t n = 0;
  if (escrow_kek_private_export(k, (escrow_key_encoding)encoding, &p, &n) < 0) return NULL;
  return goesc_buf_new(p, n, 1);
}
int goesc_kek_public_save(const escrow_kek *k, const char *path, int encoding) {
  return escrow_kek_public_save(k, path, (escrow_key_encoding)encoding);
}
int goesc_kek_private_save(const escrow_kek *k, const char *path) {
  return escrow_kek_private_save(k, path);
}
int goesc_kek_has_private(const escrow_kek *k) { return escrow_kek_has_private(k); }
unsigned goesc_kek_bits(const escrow_kek *k) { return escrow_kek_bits(k); }
goesc_buf *goesc_kek_key_id(const escrow_kek *k) {
  char *b = (char *)malloc(ESCROW_KEY_ID_SIZE);
  if (b == NULL) return NULL;
  if (escrow_kek_key_id(k, b, ESCROW_KEY_ID_SIZE) < 0) { free(b); return NULL; }
  return goesc_buf_new((uint8_t *)b, strlen(b), 2);
}
void goesc_kek_free(escrow_kek *k) { escrow_kek_free(k); }
goesc_buf *goesc_wcek_wrap(const escrow_kek *k, const escrow_cek *c, int hash) {
  uint8_t *p = NULL;
  size_t n = 0;
  if (escrow_wcek_wrap(k, c, (escrow_oaep_hash)hash, &p, &n) < 0) return NULL;
  return goesc_buf_new(p, n, 0);
}
/* used_hash receives the hash that worked in its first byte */
escrow_cek *goesc_wcek_unwrap(const escrow_kek *k, const uint8_t *IN, size_t IN_LEN, int hash,
                              uint8_t *OUTBUF, size_t OUTBUF_SIZE) {
  escrow_cek *c = NULL;
  escrow_oaep_hash used = ESCROW_OAEP_AUTO;
  if (escrow_wcek_unwrap(&c, k, IN, IN_LEN, (escrow_oaep_hash)hash, &used) < 0) return NULL;
  if (OUTBUF_SIZE > 0) OUTBUF[0] = (uint8_t)used;
  return c;
}

/* ---- headers ---- */
int goesc_detect_format(const uint8_t *IN, size_t IN_LEN) {
  return (int)escrow_detect_format(IN, IN_LEN);
}
escrow_header *goesc_header_parse(const uint8_t *IN, size_t IN_LEN) {
  escrow_header *h = NULL;
  return escrow_header_parse(&h, IN, IN_LEN, NULL) == 0 ? h : NULL;
}
int goesc_header_verify(const escrow_header *h, const escrow_cek *c) {
  return escrow_header_verify(h, c);
}
long long goesc_header_length(const escrow_header *h) { return (long long)escrow_header_length(h); }
int goesc_header_log2cs(const escrow_header *h) { return (int)escrow_header_log2cs(h); }
/* which: 0 salt, 1 hdrtag */
int goesc_header_bytes(const escrow_header *h, int which, uint8_t *OUTBUF, size_t OUTBUF_SIZE) {
  if (h == NULL || OUTBUF_SIZE < 32) return ESCROW_E_INVALID;
  memcpy(OUTBUF, which ? escrow_header_hdrtag(h) : escrow_header_salt(h), 32);
  return 0;
}
int goesc_header_has_context(const escrow_header *h, unsigned type) {
  return escrow_header_context(h, type) != NULL;
}
const char *goesc_header_context(const escrow_header *h, unsigned type) {
  return escrow_header_context(h, type);
}
void goesc_header_free(escrow_header *h) { escrow_header_free(h); }

/* ---- streams ---- */
escrow_encryptor *goesc_encryptor_new(const escrow_cek *cek, unsigned log2cs,
                                      const char *project_id, const char *role,
                                      const char *asset, const char *path, const char *key_id) {
  escrow_encrypt_options o = ESCROW_ENCRYPT_OPTIONS_INIT;
  escrow_encryptor *e = NULL;
  o.log2cs = log2cs;
  goesc_context(&o.context, project_id, role, asset, path, key_id);
  return escrow_encryptor_new(&e, cek, &o) == 0 ? e : NULL;
}
long long goesc_encryptor_update_bound(const escrow_encryptor *e, long long n) {
  return (long long)escrow_encryptor_update_bound(e, (size_t)n);
}
long long goesc_encryptor_final_bound(const escrow_encryptor *e) {
  return (long long)escrow_encryptor_final_bound(e);
}
/* bytes written, or a negative code */
long long goesc_encryptor_update(escrow_encryptor *e, uint8_t *OUTBUF, size_t OUTBUF_SIZE,
                                 const uint8_t *IN, size_t IN_LEN) {
  size_t w = 0;
  int rc = escrow_encryptor_update(e, OUTBUF, OUTBUF_SIZE, &w, IN, IN_LEN);
  return rc < 0 ? rc : (long long)w;
}
long long goesc_encryptor_final(escrow_encryptor *e, uint8_t *OUTBUF, size_t OUTBUF_SIZE) {
  size_t w = 0;
  int rc = escrow_encryptor_final(e, OUTBUF, OUTBUF_SIZE, &w);
  return rc < 0 ? rc : (long long)w;
}
int goesc_encryptor_hdrtag(const escrow_encryptor *e, uint8_t *OUTBUF, size_t OUTBUF_SIZE) {
  return goesc_header_bytes(escrow_encryptor_header(e), 1, OUTBUF, OUTBUF_SIZE);
}
void goesc_encryptor_free(escrow_encryptor *e) { escrow_encryptor_free(e); }

escrow_decryptor *goesc_decryptor_new(const escrow_cek *cek, const char *expect_path,
                                      const uint8_t *IN, size_t IN_LEN) {
  escrow_decrypt_options o = ESCROW_DECRYPT_OPTIONS_INIT;
  escrow_decryptor *d = NULL;
  o.expect_path = goesc_s(expect_path);
  o.expect_hdrtag = IN_LEN == 32 ? IN : NULL;
  return escrow_decryptor_new(&d, cek, &o) == 0 ? d : NULL;
}
long long goesc_decryptor_update_bound(const escrow_decryptor *d, long long n) {
  return (long long)escrow_decryptor_update_bound(d, (size_t)n);
}
long long goesc_decryptor_final_bound(const escrow_decryptor *d) {
  return (long long)escrow_decryptor_final_bound(d);
}
long long goesc_decryptor_update(escrow_decryptor *d, uint8_t *OUTBUF, size_t OUTBUF_SIZE,
                                 const uint8_t *IN, size_t IN_LEN) {
  size_t w = 0;
  int rc = escrow_decryptor_update(d, OUTBUF, OUTBUF_SIZE, &w, IN, IN_LEN);
  return rc < 0 ? rc : (long long)w;
}
long long goesc_decryptor_final(escrow_decryptor *d, uint8_t *OUTBUF, size_t OUTBUF_SIZE) {
  size_t w = 0;
  int rc = escrow_decryptor_final(d, OUTBUF, OUTBUF_SIZE, &w);
  return rc < 0 ? rc : (long long)w;
}
/* a copy of the verified header's bytes is not kept: callers ask for fields */
const escrow_header *goesc_decryptor_header(const escrow_decryptor *d) {
  return escrow_decryptor_header(d);
}
void goesc_decryptor_free(escrow_decryptor *d) { escrow_decryptor_free(d); }

escrow_reader *goesc_reader_open_file(const escrow_cek *cek, const char *path,
                                      const char *expect_path, const uint8_t *IN, size_t IN_LEN) {
  escrow_decrypt_options o = ESCROW_DECRYPT_OPTIONS_INIT;
  escrow_reader *r = NULL;
  o.expect_path = goesc_s(expect_path);
  o.expect_hdrtag = IN_LEN == 32 ? IN : NULL;
  return escrow_reader_open_file(&r, cek, path, &o) == 0 ? r : NULL;
}
long long goesc_reader_size(const escrow_reader *r) { return (long long)escrow_reader_size(r); }
long long goesc_reader_pread(escrow_reader *r, uint8_t *OUTBUF, size_t OUTBUF_SIZE,
                             long long offset) {
  size_t got = 0;
  if (offset < 0) return ESCROW_E_INVALID;
  int rc = escrow_reader_pread(r, OUTBUF, OUTBUF_SIZE, (uint64_t)offset, &got);
  return rc < 0 ? rc : (long long)got;
}
const escrow_header *goesc_reader_header(const escrow_reader *r) { return escrow_reader_header(r); }
void goesc_reader_free(escrow_reader *r) { escrow_reader_free(r); }

/* ---- files ---- */
int goesc_encrypt_file(const escrow_cek *cek, int format, unsigned log2cs,
                       const char *project_id, const char *role, const char *asset,
                       const char *path, const char *key_id, const char *in_path,
                       const char *out_path, uint8_t *OUTBUF, size_t OUTBUF_SIZE) {
  escrow_encrypt_options o = ESCROW_ENCRYPT_OPTIONS_INIT;
  o.log2cs = log2cs;
  goesc_context(&o.context, project_id, role, asset, path, key_id);
  return escrow_encrypt_file(cek, &o, (escrow_file_format)format, in_path, out_path,
                             (format != ESCROW_FORMAT_V0 && OUTBUF_SIZE >= 32) ? OUTBUF : NULL,
                             NULL, NULL);
}
int goesc_decrypt_file(const escrow_cek *cek, const char *in_path, const char *out_path,
                       const char *expect_path, const uint8_t *IN, size_t IN_LEN) {
  escrow_decrypt_options o = ESCROW_DECRYPT_OPTIONS_INIT;
  o.expect_path = goesc_s(expect_path);
  o.expect_hdrtag = IN_LEN == 32 ? IN : NULL;
  return escrow_decrypt_file(cek, &o, in_path, out_path, NULL, NULL);
}
goesc_buf *goesc_legacy_decrypt_mem(const escrow_cek *cek, const uint8_t *IN, size_t IN_LEN) {
  uint8_t *p = NULL;
  size_t n = 0;
  if (escrow_legacy_decrypt_mem(cek, IN, IN_LEN, &p, &n) < 0) return NULL;
  return goesc_buf_new(p, n, 1);
}

/* ---- packages ---- */
int goesc_algorithm_pack(const char *dir, const escrow_cek *cek, const char *secrets_nl,
                         int format, const char *project_id, const char *role,
                         const char *asset, const char *key_id, const char *out_zip) {
  /* secrets_nl: the secret paths separated by '\n' (Go strings cannot hold C arrays) */
  escrow_pack_options o = ESCROW_PACK_OPTIONS_INIT;
  char *copy = strdup(secrets_nl ? secrets_nl : "");
  if (copy == NULL) return ESCROW_E_NOMEM;
  size_t n = 0, cap = 1;
  for (const char *s = copy; *s; s++) cap += *s == '\n';
  const char **v = (const char **)calloc(cap, sizeof(*v));
  if (v == NULL) { free(copy); return ESCROW_E_NOMEM; }
  for (char *tok = copy, *nl; *tok; tok = nl + 1) {
    nl = strchr(tok, '\n');
    if (nl) *nl = '\0';
    if (*tok) v[n++] = tok;
    if (!nl) break;
  }
  o.format = (escrow_file_format)format;
  goesc_context(&o.context, project_id, role, asset, NULL, key_id);
  int rc = escrow_algorithm_pack(dir, cek, v, n, &o, out_zip);
  free(v);
  free(copy);
  return rc;
}
escrow_algorithm *goesc_algorithm_open(const char *zip_path, long long max_entries,
                                       long long max_entry_size, long long max_total_size,
                                       unsigned max_ratio) {
  escrow_zip_limits l = ESCROW_ZIP_LIMITS_INIT;
  escrow_algorithm *a = NULL;
  if (max_entries > 0) l.max_entries = (uint64_t)max_entries;
  if (max_entry_size > 0) l.max_entry_size = (uint64_t)max_entry_size;
  if (max_total_size > 0) l.max_total_size = (uint64_t)max_total_size;
  if (max_ratio > 0) l.max_ratio = max_ratio;
  return escrow_algorithm_open(&a, zip_path, &l) == 0 ? a : NULL;
}
long long goesc_algorithm_entry_count(const escrow_algorithm *a) {
  return (long long)escrow_algorithm_entry_count(a);
}
const char *goesc_algorithm_entry_name(const escrow_algorithm *a, long long i) {
  return escrow_algorithm_entry_name(a, (size_t)i);
}
long long goesc_algorithm_secret_count(const escrow_algorithm *a) {
  return (long long)escrow_algorithm_secret_count(a);
}
/* which: 0 the encrypted path, 1 the original path */
const char *goesc_algorithm_secret(const escrow_algorithm *a, long long i, int which) {
  const char *e = NULL, *o = NULL;
  if (escrow_algorithm_secret(a, (size_t)i, &e, &o) < 0) return NULL;
  return which ? o : e;
}
goesc_buf *goesc_algorithm_check(const escrow_algorithm *a, int wcek_present) {
  char *j = NULL;
  if (escrow_algorithm_check(a, wcek_present, &j) < 0) return NULL;
  return goesc_buf_new((uint8_t *)j, strlen(j), 0);
}
int goesc_algorithm_extract(const escrow_algorithm *a, const escrow_cek *cek,
                            const char *out_dir) {
  return escrow_algorithm_extract(a, cek, out_dir);
}
void goesc_algorithm_free(escrow_algorithm *a) { escrow_algorithm_free(a); }

int goesc_dataset_encrypt(const char *in_dir, const char *out_dir, const escrow_cek *cek,
                          int format, const char *project_id, const char *role,
                          const char *asset, const char *key_id, const char *dataset_version) {
  escrow_dataset_options o = ESCROW_DATASET_OPTIONS_INIT;
  o.format = (escrow_file_format)format;
  goesc_context(&o.context, project_id, role, asset, NULL, key_id);
  o.dataset_version = goesc_s(dataset_version);
  return escrow_dataset_encrypt(in_dir, out_dir, cek, &o);
}
int goesc_dataset_decrypt(const char *in_dir, const char *out_dir, const escrow_cek *cek,
                          int require_manifest, const char *project_id, const char *role,
                          const char *asset, const char *key_id) {
  escrow_dataset_options o = ESCROW_DATASET_OPTIONS_INIT;
  o.require_manifest = require_manifest;
  goesc_context(&o.context, project_id, role, asset, NULL, key_id);
  return escrow_dataset_decrypt(in_dir, out_dir, cek, &o);
}

escrow_manifest *goesc_manifest_decode(const escrow_cek *cek, const uint8_t *IN, size_t IN_LEN) {
  escrow_manifest *m = NULL;
  return escrow_manifest_decode(&m, cek, IN, IN_LEN) == 0 ? m : NULL;
}
long long goesc_manifest_count(const escrow_manifest *m) {
  return (long long)escrow_manifest_count(m);
}
const char *goesc_manifest_path(const escrow_manifest *m, long long i) {
  const char *p = NULL;
  uint64_t sz;
  const uint8_t *t;
  return escrow_manifest_entry(m, (size_t)i, &p, &sz, &t) < 0 ? NULL : p;
}
long long goesc_manifest_size(const escrow_manifest *m, long long i) {
  const char *p;
  uint64_t sz = 0;
  const uint8_t *t;
  int rc = escrow_manifest_entry(m, (size_t)i, &p, &sz, &t);
  return rc < 0 ? rc : (long long)sz;
}
int goesc_manifest_hdrtag(const escrow_manifest *m, long long i, uint8_t *OUTBUF,
                          size_t OUTBUF_SIZE) {
  const char *p;
  uint64_t sz;
  const uint8_t *t = NULL;
  int rc = escrow_manifest_entry(m, (size_t)i, &p, &sz, &t);
  if (rc < 0) return rc;
  if (OUTBUF_SIZE < 32) return ESCROW_E_BUFSIZE;
  memcpy(OUTBUF, t, 32);
  return 0;
}
long long goesc_manifest_find(const escrow_manifest *m, const char *path) {
  size_t i = 0;
  int rc = escrow_manifest_find(m, path, &i);
  return rc < 0 ? rc : (long long)i;
}
const char *goesc_manifest_dataset_version(const escrow_manifest *m) {
  return escrow_manifest_dataset_version(m);
}
void goesc_manifest_free(escrow_manifest *m) { escrow_manifest_free(m); }

/* ---- criteria ---- */
static void goesc_criteria_opts(escrow_criteria_options *o, int allow_unknown, int require_all) {
  escrow_criteria_options d = ESCROW_CRITERIA_OPTIONS_INIT;
  *o = d;
  o->allow_unknown = allow_unknown;
  o->require_all = require_all;
}
escrow_criteria *goesc_criteria_compile(const uint8_t *IN, size_t IN_LEN, int allow_unknown,
                                        int require_all) {
  escrow_criteria_options o;
  escrow_criteria *c = NULL;
  goesc_criteria_opts(&o, allow_unknown, require_all);
  return escrow_criteria_compile(&c, (const char *)IN, IN_LEN, &o, NULL) == 0 ? c : NULL;
}
/* The SchemaError tree of a refused schema, or NULL when there is none (compiles again). */
goesc_buf *goesc_criteria_schema_errors(const uint8_t *IN, size_t IN_LEN, int allow_unknown,
                                        int require_all) {
  escrow_criteria_options o;
  escrow_criteria *c = NULL;
  char *errs = NULL;
  goesc_criteria_opts(&o, allow_unknown, require_all);
  if (escrow_criteria_compile(&c, (const char *)IN, IN_LEN, &o, &errs) == 0) {
    escrow_criteria_free(c);
    return NULL;
  }
  return errs ? goesc_buf_new((uint8_t *)errs, strlen(errs), 0) : NULL;
}
/* mode 0: a document, 1: a report's json_data, 2: a file path in IN. valid[0] gets 0 or 1. */
goesc_buf *goesc_criteria_validate(const escrow_criteria *c, int mode, const uint8_t *IN,
                                   size_t IN_LEN, uint8_t *OUTBUF, size_t OUTBUF_SIZE) {
  int valid = 0, rc;
  char *out = NULL;
  if (mode == 2) {
    escrow_criteria_doc *d = NULL;
    char *path = (char *)malloc(IN_LEN + 1);
    if (path == NULL) return NULL;
    memcpy(path, IN, IN_LEN);
    path[IN_LEN] = '\0';
    rc = escrow_criteria_doc_parse_file(&d, path, NULL);
    free(path);
    if (rc == 0) rc = escrow_criteria_validate_doc(c, d, &valid, &out);
    escrow_criteria_doc_free(d);
  } else if (mode == 1) {
    rc = escrow_criteria_validate_report(c, (const char *)IN, IN_LEN, &valid, &out);
  } else {
    rc = escrow_criteria_validate(c, (const char *)IN, IN_LEN, &valid, &out);
  }
  if (rc < 0) return NULL;
  if (OUTBUF_SIZE > 0) OUTBUF[0] = (uint8_t)valid;
  return goesc_buf_new((uint8_t *)out, strlen(out), 0);
}
goesc_buf *goesc_criteria_audit(const escrow_criteria *c) {
  char *out = NULL;
  if (escrow_criteria_audit(c, &out) < 0) return NULL;
  return goesc_buf_new((uint8_t *)out, strlen(out), 0);
}
goesc_buf *goesc_criteria_check_pair(const uint8_t *IN, size_t IN_LEN) {
  char *out = NULL;
  if (escrow_criteria_check_pair((const char *)IN, IN_LEN, &out) < 0) return NULL;
  return goesc_buf_new((uint8_t *)out, strlen(out), 0);
}
void goesc_criteria_free(escrow_criteria *c) { escrow_criteria_free(c); }

/* ---- SAS checks ---- */
/* now: RFC 3339 text, or "" for the system clock. Returns "<status name>\n<message>\n<reason>"
 * as one buffer (status names and messages hold no newline). */
goesc_buf *goesc_sas_check(const char *url, const char *now, unsigned flags) {
  escrow_time t;
  escrow_sas_result r;
  const char *n = goesc_s(now);
  if (n != NULL && escrow_time_parse(&t, n, 1) < 0) return NULL;
  if (escrow_sas_check(&r, url, n ? &t : NULL, flags) < 0) return NULL;
  size_t len = strlen(r.status_name) + strlen(r.message) + strlen(r.reason) + 3;
  char *b = (char *)malloc(len);
  if (b == NULL) return NULL;
  snprintf(b, len, "%s\n%s\n%s", r.status_name, r.message, r.reason);
  return goesc_buf_new((uint8_t *)b, strlen(b), 2);
}

/* ---- blob client ---- */
escrow_blob_client *goesc_blob_open(const char *url, unsigned flags, unsigned max_retries,
                                    const char *ca_file) {
  escrow_blob_options o = ESCROW_BLOB_OPTIONS_INIT;
  escrow_blob_client *c = NULL;
  o.flags = flags;
  o.max_retries = max_retries;
  o.ca_file = goesc_s(ca_file);
  return escrow_blob_open(&c, url, &o) == 0 ? c : NULL;
}
void goesc_blob_close(escrow_blob_client *c) { escrow_blob_close(c); }

typedef struct goesc_grow { uint8_t *p; size_t n, cap; } goesc_grow;
static int goesc_grow_put(goesc_grow *g, const void *data, size_t len) {
  if (g->n + len > g->cap) {
    size_t cap = g->cap ? g->cap * 2 : 4096;
    while (cap < g->n + len) cap *= 2;
    uint8_t *p = (uint8_t *)realloc(g->p, cap);
    if (p == NULL) return ESCROW_E_NOMEM;
    g->p = p;
    g->cap = cap;
  }
  if (len) memcpy(g->p + g->n, data, len);
  g->n += len;
  return 0;
}
static int goesc_list_cb(void *payload, const escrow_blob_item *it) {
  goesc_grow *g = (goesc_grow *)payload;
  char size[24];
  snprintf(size, sizeof(size), "%llu", (unsigned long long)it->size);
  const char *f[5] = {it->name, size, it->content_md5 ? it->content_md5 : "",
                      it->etag ? it->etag : "", it->last_modified ? it->last_modified : ""};
  for (int i = 0; i < 5; i++)
    if (goesc_grow_put(g, f[i], strlen(f[i]) + 1)) return ESCROW_E_NOMEM;
  return 0;
}
/* records "name\0size\0md5\0etag\0last_modified\0", one after the other */
goesc_buf *goesc_blob_list(escrow_blob_client *c, const char *prefix) {
  goesc_grow g = {NULL, 0, 0};
  if (escrow_blob_list(c, goesc_s(prefix), goesc_list_cb, &g) < 0) { free(g.p); return NULL; }
  if (g.p == NULL) g.p = (uint8_t *)malloc(1); /* an empty listing */
  return goesc_buf_new(g.p, g.n, 2);
}
/* "size\0md5" */
goesc_buf *goesc_blob_stat(escrow_blob_client *c, const char *name) {
  uint64_t sz = 0;
  char md5[32] = {0};
  if (escrow_blob_stat(c, name, &sz, md5) < 0) return NULL;
  char *b = (char *)malloc(64);
  if (b == NULL) return NULL;
  int n = snprintf(b, 64, "%llu", (unsigned long long)sz);
  memcpy(b + n + 1, md5, strlen(md5) + 1);
  return goesc_buf_new((uint8_t *)b, (size_t)n + 1 + strlen(md5), 2);
}
static int goesc_mem_write(void *payload, const uint8_t *data, size_t len) {
  return goesc_grow_put((goesc_grow *)payload, data, len);
}
/* length < 0: to the end */
goesc_buf *goesc_blob_get(escrow_blob_client *c, const char *name, long long offset,
                          long long length) {
  goesc_grow g = {NULL, 0, 0};
  if (offset < 0) return NULL;
  if (escrow_blob_get(c, name, (uint64_t)offset, length < 0 ? ESCROW_BLOB_TO_END : (uint64_t)length,
                      goesc_mem_write, &g, NULL, NULL) < 0) {
    free(g.p);
    return NULL;
  }
  if (g.p == NULL) g.p = (uint8_t *)malloc(1);
  return goesc_buf_new(g.p, g.n, 2);
}
int goesc_blob_get_file(escrow_blob_client *c, const char *name, const char *path) {
  return escrow_blob_get_file(c, name, path, NULL, NULL);
}
int goesc_blob_get_decrypt_file(escrow_blob_client *c, const char *name, const escrow_cek *cek,
                                const char *expect_path, const uint8_t *IN, size_t IN_LEN,
                                const char *out_path) {
  escrow_decrypt_options o = ESCROW_DECRYPT_OPTIONS_INIT;
  o.expect_path = goesc_s(expect_path);
  o.expect_hdrtag = IN_LEN == 32 ? IN : NULL;
  return escrow_blob_get_decrypt_file(c, name, cek, &o, out_path, NULL, NULL);
}
/* 1 skipped, 0 uploaded, or a negative code */
int goesc_blob_put_file(escrow_blob_client *c, const char *name, const char *path,
                        unsigned flags) {
  int skipped = 0;
  int rc = escrow_blob_put_file(c, name, path, flags, &skipped, NULL, NULL);
  return rc < 0 ? rc : skipped;
}
long long goesc_blob_stat_field(const escrow_blob_client *c, int which) {
  escrow_blob_stats s;
  escrow_blob_get_stats(c, &s);
  uint64_t v = which == 0 ? s.requests : which == 1 ? s.retries : which == 2 ? s.bytes_down : s.bytes_up;
  return (long long)v;
}
%}

/* ---- callbacks ----
 * Progress and streamed writes call back into Go through the C trampolines of the cgo package
 * internal/stream: Go passes their addresses and a runtime/cgo Handle as uintptr_t. 0: none. */
%inline %{
#define GOESC_PROGRESS(fn) ((escrow_progress_cb)(uintptr_t)(fn))
#define GOESC_WRITE(fn) ((escrow_blob_write_fn)(uintptr_t)(fn))
#define GOESC_PAYLOAD(p) ((void *)(uintptr_t)(p))

int goesc_blob_get_stream(escrow_blob_client *c, const char *name, long long offset,
                          long long length, uintptr_t write, uintptr_t wpayload,
                          uintptr_t progress, uintptr_t ppayload) {
  if (offset < 0 || write == 0) return ESCROW_E_INVALID;
  return escrow_blob_get(c, name, (uint64_t)offset,
                         length < 0 ? ESCROW_BLOB_TO_END : (uint64_t)length, GOESC_WRITE(write),
                         GOESC_PAYLOAD(wpayload), GOESC_PROGRESS(progress),
                         GOESC_PAYLOAD(ppayload));
}
int goesc_blob_get_decrypt_stream(escrow_blob_client *c, const char *name, const escrow_cek *cek,
                                  const char *expect_path, uintptr_t write, uintptr_t wpayload,
                                  uintptr_t progress, uintptr_t ppayload) {
  escrow_decrypt_options o = ESCROW_DECRYPT_OPTIONS_INIT;
  o.expect_path = goesc_s(expect_path);
  if (write == 0) return ESCROW_E_INVALID;
  return escrow_blob_get_decrypt(c, name, cek, &o, GOESC_WRITE(write), GOESC_PAYLOAD(wpayload),
                                 GOESC_PROGRESS(progress), GOESC_PAYLOAD(ppayload));
}
int goesc_blob_get_file_p(escrow_blob_client *c, const char *name, const char *path,
                          uintptr_t progress, uintptr_t ppayload) {
  return escrow_blob_get_file(c, name, path, GOESC_PROGRESS(progress), GOESC_PAYLOAD(ppayload));
}
int goesc_blob_put_file_p(escrow_blob_client *c, const char *name, const char *path,
                          unsigned flags, uintptr_t progress, uintptr_t ppayload) {
  int skipped = 0;
  int rc = escrow_blob_put_file(c, name, path, flags, &skipped, GOESC_PROGRESS(progress),
                                GOESC_PAYLOAD(ppayload));
  return rc < 0 ? rc : skipped;
}

/* ---- SAS signing ---- */
/* fields: 21 NUL-terminated strings one after the other (see sas.go); mode 0 token, 1 URL,
 * 2 string-to-sign */
goesc_buf *goesc_sas_sign(const uint8_t *IN, size_t IN_LEN, const char *endpoint,
                          const char *key, int mode) {
  const char *f[21];
  size_t at = 0;
  for (int i = 0; i < 21; i++) {
    if (at >= IN_LEN) return NULL;
    f[i] = goesc_s((const char *)IN + at);
    const uint8_t *z = (const uint8_t *)memchr(IN + at, 0, IN_LEN - at);
    if (z == NULL) return NULL;
    at = (size_t)(z - IN) + 1;
  }
  escrow_sas_sign_options o = ESCROW_SAS_SIGN_OPTIONS_INIT;
  o.kind = f[0] && strcmp(f[0], "account") == 0 ? ESCROW_SAS_ACCOUNT : ESCROW_SAS_SERVICE;
  o.account = f[1]; o.container = f[2]; o.blob = f[3]; o.resource = f[4]; o.snapshot = f[5];
  o.identifier = f[6]; o.permissions = f[7]; o.start = f[8]; o.expiry = f[9]; o.ip = f[10];
  o.protocol = f[11]; o.service_version = f[12]; o.services = f[13]; o.resource_types = f[14];
  o.encryption_scope = f[15]; o.cache_control = f[16]; o.content_disposition = f[17];
  o.content_encoding = f[18]; o.content_language = f[19]; o.content_type = f[20];
  char *r = NULL;
  int rc = mode == 2 ? escrow_sas_string_to_sign(&r, &o)
           : mode == 1 ? escrow_sas_sign_url(&r, goesc_s(endpoint), &o, key)
                       : escrow_sas_sign(&r, &o, key);
  if (rc < 0) return NULL;
  return goesc_buf_new((uint8_t *)r, strlen(r), 0);
}
/* 1 the signature matches, 0 it does not, or a negative code */
int goesc_sas_verify(const char *url, const char *key, unsigned flags) {
  escrow_sas *s = NULL;
  int rc = escrow_sas_parse(&s, url, flags);
  if (rc < 0) return rc;
  rc = escrow_sas_verify(s, key);
  escrow_sas_free(s);
  return rc == 0 ? 1 : rc == ESCROW_E_AUTH ? 0 : rc;
}

/* ---- Platform and Enclave API clients: answers as their JSON text ---- */
#define GOESC_JSON(rc, res, freefn)                                                           \
  do {                                                                                        \
    if ((rc) < 0) return NULL;                                                                \
    char *j_ = (res) ? strdup((res)->json) : strdup("null");                                  \
    freefn(res);                                                                              \
    if (j_ == NULL) return NULL;                                                              \
    return goesc_buf_new((uint8_t *)j_, strlen(j_), 2);                                       \
  } while (0)

/* n NUL-terminated strings from a []byte (at most max); returns the count or -1 */
static int goesc_split(const uint8_t *p, size_t n, const char **out, int max) {
  int k = 0;
  size_t at = 0;
  while (at < n) {
    if (k >= max) return -1;
    const uint8_t *z = (const uint8_t *)memchr(p + at, 0, n - at);
    if (z == NULL) return -1;
    out[k++] = (const char *)p + at;
    at = (size_t)(z - p) + 1;
  }
  return k;
}

escrow_client *goesc_client_open(const char *url, const uint8_t *IN, size_t IN_LEN,
                                 const char *email, const char *project, const char *ca_file,
                                 const char *audience, unsigned timeout_s) {
  escrow_client_options o = ESCROW_CLIENT_OPTIONS_INIT;
  escrow_client *c = NULL;
  o.ca_file = goesc_s(ca_file);
  o.audience = goesc_s(audience);
  o.timeout_s = timeout_s;
  return escrow_client_open(&c, url, (const char *)IN, IN_LEN, email, project, &o) == 0 ? c : NULL;
}
void goesc_client_close(escrow_client *c) { escrow_client_close(c); }
long long goesc_client_last_status(const escrow_client *c) { return escrow_client_last_status(c); }
goesc_buf *goesc_client_last_body(const escrow_client *c) {
  char *b = strdup(escrow_client_last_body(c));
  return b ? goesc_buf_new((uint8_t *)b, strlen(b), 2) : NULL;
}
goesc_buf *goesc_client_token(escrow_client *c) {
  char *t = NULL;
  if (escrow_client_token(c, &t) < 0) return NULL;
  return goesc_buf_new((uint8_t *)t, strlen(t), 0);
}
goesc_buf *goesc_client_kek(escrow_client *c) {
  escrow_api_kek *k = NULL;
  int rc = escrow_client_kek_download(c, &k);
  GOESC_JSON(rc, k, escrow_api_kek_free);
}
goesc_buf *goesc_client_upload(escrow_client *c, int kind, const char *name,
                               const char *description, const char *tag,
                               const char *version_description, const char *path,
                               const char *algorithm_type, const char *criteria_version,
                               const char *attestation_version, const char *upload_type,
                               const char *upload_file_name, uintptr_t progress,
                               uintptr_t ppayload) {
  escrow_api_version_fields v = {goesc_s(name), description, goesc_s(tag), version_description};
  escrow_api_artifact *a = NULL;
  int rc;
  if (kind == ESCROW_API_ALGORITHM) {
    escrow_api_algorithm_fields af = {goesc_s(algorithm_type), goesc_s(criteria_version),
                                      goesc_s(attestation_version), goesc_s(upload_type),
                                      goesc_s(upload_file_name)};
    rc = escrow_client_upload_algorithm(c, &v, &af, path, GOESC_PROGRESS(progress),
                                        GOESC_PAYLOAD(ppayload), &a);
  } else {
    rc = escrow_client_upload(c, (escrow_api_upload_kind)kind, &v, path, GOESC_PROGRESS(progress),
                              GOESC_PAYLOAD(ppayload), &a);
  }
  GOESC_JSON(rc, a, escrow_api_artifact_free);
}
goesc_buf *goesc_client_dataset(escrow_client *c, const char *name, const char *description,
                                const char *tag, const char *version_description,
                                const char *uri, const char *spec, const char *att,
                                const char *tags) {
  escrow_api_version_fields v = {goesc_s(name), description, goesc_s(tag), version_description};
  escrow_api_dataset_fields d = {goesc_s(uri), goesc_s(spec), goesc_s(att), goesc_s(tags)};
  escrow_api_artifact *a = NULL;
  int rc = escrow_client_dataset(c, &v, &d, &a);
  GOESC_JSON(rc, a, escrow_api_artifact_free);
}
goesc_buf *goesc_client_accept(escrow_client *c, const char *tag) {
  escrow_api_answer *a = NULL;
  int rc = escrow_client_accept_criteria(c, goesc_s(tag), &a);
  GOESC_JSON(rc, a, escrow_api_answer_free);
}
goesc_buf *goesc_client_versions(escrow_client *c, const char *type) {
  escrow_api_versions *v = NULL;
  int rc = escrow_client_versions(c, goesc_s(type), &v);
  GOESC_JSON(rc, v, escrow_api_versions_free);
}
goesc_buf *goesc_client_notifications(escrow_client *c) {
  escrow_api_answer *a = NULL;
  int rc = escrow_client_notifications(c, &a);
  GOESC_JSON(rc, a, escrow_api_answer_free);
}
goesc_buf *goesc_client_run_configuration(escrow_client *c, const char *name, const char *alg,
                                          const char *ds, const char *description,
                                          const char *run_type) {
  escrow_api_run_ref r = {goesc_s(alg), goesc_s(ds), 0};
  escrow_api_answer *a = NULL;
  int rc = escrow_client_run_configuration(c, goesc_s(name), &r, description, goesc_s(run_type), &a);
  GOESC_JSON(rc, a, escrow_api_answer_free);
}
/* op: 0 status, 1 request (arg: machine type; params NUL-separated), 2 initiate, 3 reject
 * (arg: reason), 4 cancel */
goesc_buf *goesc_client_run(escrow_client *c, int op, const char *alg, const char *ds,
                            long long run_number, const char *arg, const uint8_t *IN,
                            size_t IN_LEN) {
  escrow_api_run_ref r = {goesc_s(alg), goesc_s(ds), run_number};
  const char *params[64];
  int np = goesc_split(IN, IN_LEN, params, 64);
  if (np < 0) return NULL;
  escrow_api_run *run = NULL;
  int rc;
  switch (op) {
  case 0: rc = escrow_client_run_status(c, &r, &run); break;
  case 1: rc = escrow_client_run_request(c, &r, goesc_s(arg), params, (size_t)np, &run); break;
  case 2: rc = escrow_client_initiate_run(c, &r, &run); break;
  case 3: rc = escrow_client_run_reject(c, &r, goesc_s(arg), &run); break;
  case 4: rc = escrow_client_run_cancel(c, &r, &run); break;
  default: return NULL;
  }
  GOESC_JSON(rc, run, escrow_api_run_free);
}
goesc_buf *goesc_client_report(escrow_client *c, const char *alg, const char *ds,
                               long long run_number) {
  escrow_api_run_ref r = {goesc_s(alg), goesc_s(ds), run_number};
  escrow_api_report *rep = NULL;
  int rc = escrow_client_report_download(c, &r, &rep);
  GOESC_JSON(rc, rep, escrow_api_report_free);
}
int goesc_client_download(escrow_client *c, int which, const char *alg, const char *ds,
                          long long run_number, const char *path, uintptr_t progress,
                          uintptr_t ppayload) {
  escrow_api_run_ref r = {goesc_s(alg), goesc_s(ds), run_number};
  return escrow_client_download(c, (escrow_api_output)which, &r, path, GOESC_PROGRESS(progress),
                                GOESC_PAYLOAD(ppayload));
}
/* kv: name\0value\0name\0value\0... */
goesc_buf *goesc_client_call(escrow_client *c, const char *method, const char *path,
                             const uint8_t *IN, size_t IN_LEN) {
  const char *kv[128];
  int n = goesc_split(IN, IN_LEN, kv, 128);
  if (n < 0 || n % 2) return NULL;
  const char *names[64], *values[64];
  for (int i = 0; i < n / 2; i++) { names[i] = kv[2 * i]; values[i] = kv[2 * i + 1]; }
  escrow_api_answer *a = NULL;
  int rc = escrow_client_call(c, method, path, names, values, (size_t)(n / 2), &a);
  GOESC_JSON(rc, a, escrow_api_answer_free);
}

escrow_enclave *goesc_enclave_open(const char *url, const char *ca_file, unsigned timeout_s) {
  escrow_client_options o = ESCROW_CLIENT_OPTIONS_INIT;
  escrow_enclave *e = NULL;
  o.ca_file = goesc_s(ca_file);
  o.timeout_s = timeout_s;
  return escrow_enclave_open(&e, goesc_s(url), &o) == 0 ? e : NULL;
}
void goesc_enclave_close(escrow_enclave *e) { escrow_enclave_close(e); }
long long goesc_enclave_last_status(const escrow_enclave *e) { return escrow_enclave_last_status(e); }
goesc_buf *goesc_enclave_last_body(const escrow_enclave *e) {
  char *b = strdup(escrow_enclave_last_body(e));
  return b ? goesc_buf_new((uint8_t *)b, strlen(b), 2) : NULL;
}
goesc_buf *goesc_enclave_list(escrow_enclave *e, const char *sas) {
  escrow_enclave_files *f = NULL;
  int rc = escrow_enclave_list(e, goesc_s(sas), &f);
  GOESC_JSON(rc, f, escrow_enclave_files_free);
}
int goesc_enclave_get(escrow_enclave *e, const char *name, long long offset, uintptr_t write,
                      uintptr_t wpayload, uintptr_t progress, uintptr_t ppayload) {
  if (offset < 0 || write == 0) return ESCROW_E_INVALID;
  return escrow_enclave_get(e, name, (uint64_t)offset, (escrow_enclave_write_fn)(uintptr_t)write,
                            GOESC_PAYLOAD(wpayload), GOESC_PROGRESS(progress),
                            GOESC_PAYLOAD(ppayload));
}
int goesc_enclave_get_file(escrow_enclave *e, const char *name, const char *path,
                           uintptr_t progress, uintptr_t ppayload) {
  return escrow_enclave_get_file(e, name, path, GOESC_PROGRESS(progress), GOESC_PAYLOAD(ppayload));
}
int goesc_enclave_log(escrow_enclave *e, const char *message, const char *status) {
  return escrow_enclave_log(e, message, goesc_s(status));
}
goesc_buf *goesc_enclave_report(escrow_enclave *e, int final, const char *name,
                                const char *status, const char *json_data, const char *project,
                                const char *run, const char *run_configuration) {
  escrow_enclave_report_in r = {goesc_s(name), goesc_s(status), json_data, goesc_s(project),
                                goesc_s(run), goesc_s(run_configuration)};
  escrow_enclave_verdict *v = NULL;
  int rc = final ? escrow_enclave_report(e, &r, &v) : escrow_enclave_validate(e, &r, &v);
  GOESC_JSON(rc, v, escrow_enclave_verdict_free);
}
goesc_buf *goesc_enclave_artifact(escrow_enclave *e, const char *path, const char *file_name,
                                  uintptr_t progress, uintptr_t ppayload) {
  escrow_api_answer *a = NULL;
  int rc = escrow_enclave_artifact(e, path, goesc_s(file_name), GOESC_PROGRESS(progress),
                                   GOESC_PAYLOAD(ppayload), &a);
  GOESC_JSON(rc, a, escrow_api_answer_free);
}
%}
