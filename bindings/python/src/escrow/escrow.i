/*
 * SWIG interface of the escrow Python package: a thin, C-shaped layer (escrow.core + the C
 * extension escrow._core). The Pythonic API lives in the hand-written modules next to this
 * file; nothing outside the package should import escrow.core directly.
 *
 * Conventions of this layer:
 *  - every fallible call is declared here returning escrow_rc; a negative code raises the
 *    exception class the package registered for it (pyesc_set_error_factory), with the
 *    calling thread's escrow_error_last() message; argouts are returned instead;
 *  - bytes in: any bytes-like object (bytes, bytearray, memoryview), never str;
 *  - bytes out: Python bytes, the C buffer freed (escrow_free / escrow_secret_free) at once;
 *  - handles come back as plain pointer objects; the package's classes own and free them;
 *  - threads="1": the GIL is released around every C call (crypto and I/O).
 */
%module(package="escrow", threads="1") core

%{
#define SWIG_FILE_WITH_INIT
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <escrow/escrow.h>

typedef int escrow_rc;

static PyObject *pyesc_error_factory = NULL;

/* Raise the registered exception for code with the thread's last message. GIL held. */
static void pyesc_raise(int code) {
  const char *msg = escrow_error_last();
  if (msg == NULL || msg[0] == '\0') msg = escrow_strerror(code);
  PyObject *text = PyUnicode_DecodeUTF8(msg, (Py_ssize_t)strlen(msg), "replace");
  if (text == NULL) return;
  if (pyesc_error_factory == NULL) {
    PyErr_SetObject(PyExc_RuntimeError, text);
    Py_DECREF(text);
    return;
  }
  PyObject *exc = PyObject_CallFunction(pyesc_error_factory, "iO", code, text);
  Py_DECREF(text);
  if (exc == NULL) return;
  PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
  Py_DECREF(exc);
}

/* Python callbacks (progress, streamed writes) run with the GIL taken back; an exception they
 * raise is kept per thread and raised when the call returns (a write callback also stops the
 * transfer). */
static __thread PyObject *pyesc_pending_type, *pyesc_pending_value, *pyesc_pending_tb;
static void pyesc_stash(void) { /* GIL held, an exception set */
  if (pyesc_pending_type == NULL)
    PyErr_Fetch(&pyesc_pending_type, &pyesc_pending_value, &pyesc_pending_tb);
  else
    PyErr_Clear();
}
static int pyesc_pending_restore(void) { /* GIL held */
  if (pyesc_pending_type == NULL) return 0;
  PyErr_Restore(pyesc_pending_type, pyesc_pending_value, pyesc_pending_tb);
  pyesc_pending_type = pyesc_pending_value = pyesc_pending_tb = NULL;
  return 1;
}
static void pyesc_progress_cb(void *payload, uint64_t done, uint64_t total) {
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject *r = PyObject_CallFunction((PyObject *)payload, "KK", (unsigned long long)done,
                                      (unsigned long long)total);
  if (r == NULL) pyesc_stash(); else Py_DECREF(r);
  PyGILState_Release(g);
}
static int pyesc_write_cb(void *payload, const uint8_t *data, size_t len) {
  PyGILState_STATE g = PyGILState_Ensure();
  int rc = 0;
  PyObject *b = PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)len);
  PyObject *r = b ? PyObject_CallFunctionObjArgs((PyObject *)payload, b, NULL) : NULL;
  Py_XDECREF(b);
  if (r == NULL) { pyesc_stash(); rc = ESCROW_E_IO; } else Py_DECREF(r);
  PyGILState_Release(g);
  return rc;
}
/* None means no callback */
#define PYESC_CB(o) ((o) != NULL && (o) != Py_None ? pyesc_progress_cb : NULL)
#define PYESC_PAYLOAD(o) ((o) != NULL && (o) != Py_None ? (void *)(o) : NULL)

static void pyesc_wipe(void *p, size_t n) {
  volatile unsigned char *v = (volatile unsigned char *)p;
  while (n--) *v++ = 0;
}

static void pyesc_context(escrow_context *c, const char *project_id, const char *role,
                          const char *asset, const char *path, const char *key_id) {
  c->project_id = project_id;
  c->role = role;
  c->asset = asset;
  c->path = path;
  c->key_id = key_id;
}
%}

%include <stdint.i>

typedef int escrow_rc;

/* ---- typemaps ------------------------------------------------------------------------------ */

%typemap(out) escrow_rc {
  /* an exception a Python callback raised during the call wins over the library's code */
  if (pyesc_pending_restore()) SWIG_fail;
  if ($1 < 0) {
    pyesc_raise($1);
    SWIG_fail;
  }
  $result = SWIG_Py_Void();
}

/* bytes-like input */
%typemap(in) (const uint8_t *IN, size_t IN_LEN) (Py_buffer view, int got = 0) {
  if (PyObject_GetBuffer($input, &view, PyBUF_SIMPLE) != 0) SWIG_fail;
  got = 1;
  $1 = (uint8_t *)view.buf;
  $2 = (size_t)view.len;
}
%typemap(freearg) (const uint8_t *IN, size_t IN_LEN) {
  if (got$argnum) PyBuffer_Release(&view$argnum);
}
%typemap(typecheck) (const uint8_t *IN, size_t IN_LEN) { $1 = PyObject_CheckBuffer($input); }

/* optional bytes-like input: None gives (NULL, 0) */
%typemap(in) (const uint8_t *OPT, size_t OPT_LEN) (Py_buffer view, int got = 0) {
  if ($input == Py_None) {
    $1 = NULL;
    $2 = 0;
  } else {
    if (PyObject_GetBuffer($input, &view, PyBUF_SIMPLE) != 0) SWIG_fail;
    got = 1;
    $1 = (uint8_t *)view.buf;
    $2 = (size_t)view.len;
  }
}
%typemap(freearg) (const uint8_t *OPT, size_t OPT_LEN) {
  if (got$argnum) PyBuffer_Release(&view$argnum);
}

/* writable buffer the C call fills (bytearray, writable memoryview) */
%typemap(in) (uint8_t *OUTBUF, size_t OUTBUF_SIZE) (Py_buffer view, int got = 0) {
  if (PyObject_GetBuffer($input, &view, PyBUF_WRITABLE) != 0) SWIG_fail;
  got = 1;
  $1 = (uint8_t *)view.buf;
  $2 = (size_t)view.len;
}
%typemap(freearg) (uint8_t *OUTBUF, size_t OUTBUF_SIZE) {
  if (got$argnum) PyBuffer_Release(&view$argnum);
}

/* size_t / uint64 / int outputs */
%typemap(in, numinputs=0) size_t *OUT_SIZE (size_t tmp = 0) "$1 = &tmp;";
%typemap(argout) size_t *OUT_SIZE {
  $result = SWIG_Python_AppendOutput($result, PyLong_FromSize_t(tmp$argnum));
}
%typemap(in, numinputs=0) unsigned long long *OUT_U64 (unsigned long long tmp = 0) "$1 = &tmp;";
%typemap(argout) unsigned long long *OUT_U64 {
  $result = SWIG_Python_AppendOutput($result, PyLong_FromUnsignedLongLong(tmp$argnum));
}
%typemap(in, numinputs=0) int *OUT_INT (int tmp = 0) "$1 = &tmp;";
%typemap(argout) int *OUT_INT {
  $result = SWIG_Python_AppendOutput($result, PyLong_FromLong(tmp$argnum));
}

/* library-allocated bytes: escrow_free, or escrow_secret_free for secrets, or free (shims) */
%define PYESC_BYTES_OUT(NAME, FREE)
%typemap(in, numinputs=0) (uint8_t **NAME, size_t *NAME##_LEN) (uint8_t *tmp = NULL, size_t n = 0) {
  $1 = &tmp;
  $2 = &n;
}
%typemap(argout) (uint8_t **NAME, size_t *NAME##_LEN) {
  PyObject *b = PyBytes_FromStringAndSize((const char *)(tmp$argnum ? tmp$argnum : (uint8_t *)""),
                                          (Py_ssize_t)n$argnum);
  FREE(tmp$argnum);
  tmp$argnum = NULL;
  if (b == NULL) SWIG_fail;
  $result = SWIG_Python_AppendOutput($result, b);
}
%typemap(freearg) (uint8_t **NAME, size_t *NAME##_LEN) {
  FREE(tmp$argnum);
}
%enddef
%{
static void pyesc_free_wiped(void *p) {
  /* shim buffers hold at most key-sized secrets; their size is not tracked, so they are
   * allocated with a 32-byte capacity by the shims that use this */
  if (p != NULL) {
    pyesc_wipe(p, 32);
    free(p);
  }
}
%}
PYESC_BYTES_OUT(OUT_BYTES, escrow_free)
PYESC_BYTES_OUT(OUT_SECRET, escrow_secret_free)
PYESC_BYTES_OUT(OUT_KEY32, pyesc_free_wiped)

/* text out: library-allocated (escrow_free) or malloc'd by a shim (free) */
%define PYESC_STR_OUT(NAME, FREE)
%typemap(in, numinputs=0) char **NAME (char *tmp = NULL) "$1 = &tmp;";
%typemap(argout) char **NAME {
  PyObject *s = tmp$argnum ? PyUnicode_DecodeUTF8(tmp$argnum, (Py_ssize_t)strlen(tmp$argnum), "replace")
                           : SWIG_Py_Void();
  FREE(tmp$argnum);
  tmp$argnum = NULL;
  if (s == NULL) SWIG_fail;
  $result = SWIG_Python_AppendOutput($result, s);
}
%typemap(freearg) char **NAME { FREE(tmp$argnum); }
%enddef
PYESC_STR_OUT(OUT_ESTR, escrow_free)
PYESC_STR_OUT(OUT_MSTR, free)

/* borrowed text out (owned by a handle) */
%typemap(in, numinputs=0) const char **OUT_BSTR (const char *tmp = NULL) "$1 = &tmp;";
%typemap(argout) const char **OUT_BSTR {
  PyObject *s = tmp$argnum ? PyUnicode_DecodeUTF8(tmp$argnum, (Py_ssize_t)strlen(tmp$argnum), "replace")
                           : SWIG_Py_Void();
  if (s == NULL) SWIG_fail;
  $result = SWIG_Python_AppendOutput($result, s);
}

/* a sequence of str: (const char *const *STRS, size_t N_STRS) */
%typemap(in) (const char *const *STRS, size_t N_STRS) (const char **v = NULL, PyObject *seq = NULL) {
  seq = PySequence_Fast($input, "expected a sequence of str");
  if (seq == NULL) SWIG_fail;
  Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  v = (const char **)calloc((size_t)n + 1, sizeof(*v));
  if (v == NULL) { PyErr_NoMemory(); SWIG_fail; }
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *it = PySequence_Fast_GET_ITEM(seq, i);
    if (!PyUnicode_Check(it)) { PyErr_SetString(PyExc_TypeError, "expected a sequence of str"); SWIG_fail; }
    v[i] = PyUnicode_AsUTF8(it);
    if (v[i] == NULL) SWIG_fail;
  }
  $1 = v;
  $2 = (size_t)n;
}
%typemap(freearg) (const char *const *STRS, size_t N_STRS) {
  free((void *)v$argnum);
  Py_XDECREF(seq$argnum);
}

/* handle outputs: a pointer object the package wraps */
%define PYESC_HANDLE(T)
typedef struct T T;
%typemap(in, numinputs=0) T **OUT (T *tmp = NULL) "$1 = &tmp;";
%typemap(argout) T **OUT {
  $result = SWIG_Python_AppendOutput($result, SWIG_NewPointerObj(tmp$argnum, $descriptor(T *), 0));
}
%enddef
PYESC_HANDLE(escrow_cek)
PYESC_HANDLE(escrow_kek)
PYESC_HANDLE(escrow_header)
PYESC_HANDLE(escrow_encryptor)
PYESC_HANDLE(escrow_decryptor)
PYESC_HANDLE(escrow_reader)
PYESC_HANDLE(escrow_algorithm)
PYESC_HANDLE(escrow_manifest)

/* ---- the factory for exceptions (called once at import, GIL held) -------------------------- */
%nothread pyesc_set_error_factory;
%inline %{
void pyesc_set_error_factory(PyObject *factory) {
  Py_XINCREF(factory);
  Py_XDECREF(pyesc_error_factory);
  pyesc_error_factory = factory;
}
%}

/* ---- common and errors ------------------------------------------------------------------- */
%nothread escrow_version;
%nothread escrow_strerror;
const char *escrow_version(void);
escrow_rc escrow_init(void);
const char *escrow_strerror(int code);

/* ---- keys --------------------------------------------------------------------------------- */
escrow_rc escrow_cek_generate(escrow_cek **OUT);
escrow_rc escrow_cek_from_bytes(escrow_cek **OUT, const uint8_t *IN, size_t IN_LEN);
escrow_rc escrow_cek_load(escrow_cek **OUT, const char *path);
escrow_rc escrow_cek_save(const escrow_cek *cek, const char *path, int encoding);
int escrow_cek_equal(const escrow_cek *a, const escrow_cek *b);
void escrow_cek_free(escrow_cek *cek);

escrow_rc escrow_kek_generate(escrow_kek **OUT, unsigned bits);
escrow_rc escrow_kek_public_from_bytes(escrow_kek **OUT, const uint8_t *IN, size_t IN_LEN);
escrow_rc escrow_kek_private_from_bytes(escrow_kek **OUT, const uint8_t *IN, size_t IN_LEN);
escrow_rc escrow_kek_public_load(escrow_kek **OUT, const char *path);
escrow_rc escrow_kek_private_load(escrow_kek **OUT, const char *path);
escrow_rc escrow_kek_public_save(const escrow_kek *kek, const char *path, int encoding);
escrow_rc escrow_kek_private_save(const escrow_kek *kek, const char *path);
int escrow_kek_has_private(const escrow_kek *kek);
unsigned escrow_kek_bits(const escrow_kek *kek);
void escrow_kek_free(escrow_kek *kek);

%{
static escrow_rc pyesc_cek_export(const escrow_cek *cek, uint8_t **out, size_t *out_len) {
  uint8_t *b = (uint8_t *)malloc(32);
  if (b == NULL) return ESCROW_E_NOMEM;
  int rc = escrow_cek_export(cek, b);
  if (rc < 0) { free(b); return rc; }
  *out = b;
  *out_len = ESCROW_CEK_BYTES;
  return 0;
}
static escrow_rc pyesc_kek_public_export(const escrow_kek *kek, int encoding, uint8_t **out,
                                          size_t *out_len) {
  return escrow_kek_public_export(kek, (escrow_key_encoding)encoding, out, out_len);
}
static escrow_rc pyesc_kek_private_export(const escrow_kek *kek, int encoding, uint8_t **out,
                                           size_t *out_len) {
  return escrow_kek_private_export(kek, (escrow_key_encoding)encoding, out, out_len);
}
static escrow_rc pyesc_cek_filename(char **out) {
  char *b = (char *)malloc(ESCROW_CEK_FILENAME_SIZE);
  if (b == NULL) return ESCROW_E_NOMEM;
  int rc = escrow_cek_filename(b, ESCROW_CEK_FILENAME_SIZE);
  if (rc < 0) { free(b); return rc; }
  *out = b;
  return 0;
}
static escrow_rc pyesc_wcek_filename(char **out) {
  char *b = (char *)malloc(ESCROW_WCEK_FILENAME_SIZE);
  if (b == NULL) return ESCROW_E_NOMEM;
  int rc = escrow_wcek_filename(b, ESCROW_WCEK_FILENAME_SIZE);
  if (rc < 0) { free(b); return rc; }
  *out = b;
  return 0;
}
static escrow_rc pyesc_kek_key_id(const escrow_kek *kek, char **out) {
  char *b = (char *)malloc(ESCROW_KEY_ID_SIZE);
  if (b == NULL) return ESCROW_E_NOMEM;
  int rc = escrow_kek_key_id(kek, b, ESCROW_KEY_ID_SIZE);
  if (rc < 0) { free(b); return rc; }
  *out = b;
  return 0;
}
static escrow_rc pyesc_kek_filenames(const char *project, const char *role, char **pub,
                                     char **priv) {
  size_t n = (project ? strlen(project) : 0) + 32;
  char *a = (char *)malloc(n), *b = (char *)malloc(n);
  if (a == NULL || b == NULL) { free(a); free(b); return ESCROW_E_NOMEM; }
  int rc = escrow_kek_filenames(project, role, a, n, b, n);
  if (rc < 0) { free(a); free(b); return rc; }
  *pub = a;
  *priv = b;
  return 0;
}
static escrow_rc pyesc_wcek_wrap(const escrow_kek *kek, const escrow_cek *cek, int hash,
                                 uint8_t **out, size_t *out_len) {
  return escrow_wcek_wrap(kek, cek, (escrow_oaep_hash)hash, out, out_len);
}
static escrow_rc pyesc_wcek_unwrap(escrow_cek **out, const escrow_kek *kek, const uint8_t *w,
                                   size_t wlen, int hash, int *used) {
  escrow_oaep_hash u = ESCROW_OAEP_AUTO;
  int rc = escrow_wcek_unwrap(out, kek, w, wlen, (escrow_oaep_hash)hash, &u);
  *used = (int)u;
  return rc;
}
%}
escrow_rc pyesc_cek_export(const escrow_cek *cek, uint8_t **OUT_KEY32, size_t *OUT_KEY32_LEN);
escrow_rc pyesc_kek_public_export(const escrow_kek *kek, int encoding, uint8_t **OUT_BYTES, size_t *OUT_BYTES_LEN);
escrow_rc pyesc_kek_private_export(const escrow_kek *kek, int encoding, uint8_t **OUT_SECRET, size_t *OUT_SECRET_LEN);
escrow_rc pyesc_cek_filename(char **OUT_MSTR);
escrow_rc pyesc_wcek_filename(char **OUT_MSTR);
escrow_rc pyesc_kek_key_id(const escrow_kek *kek, char **OUT_MSTR);
escrow_rc pyesc_kek_filenames(const char *project, const char *role, char **OUT_MSTR, char **OUT_MSTR);
escrow_rc pyesc_wcek_wrap(const escrow_kek *kek, const escrow_cek *cek, int hash, uint8_t **OUT_BYTES, size_t *OUT_BYTES_LEN);
escrow_rc pyesc_wcek_unwrap(escrow_cek **OUT, const escrow_kek *kek, const uint8_t *IN, size_t IN_LEN, int hash, int *OUT_INT);

/* ---- envelope: headers ------------------------------------------------------------------------ */
%{
static int pyesc_detect_format(const uint8_t *data, size_t len) {
  return (int)escrow_detect_format(data, len);
}
static escrow_rc pyesc_header_parse(escrow_header **out, const uint8_t *data, size_t len,
                                    size_t *needed) {
  return escrow_header_parse(out, data, len, needed);
}
static escrow_rc pyesc_header_salt(const escrow_header *h, uint8_t **out, size_t *out_len) {
  const uint8_t *s = h ? escrow_header_salt(h) : NULL;
  if (s == NULL) return ESCROW_E_INVALID;
  uint8_t *b = (uint8_t *)malloc(32);
  if (b == NULL) return ESCROW_E_NOMEM;
  memcpy(b, s, 32);
  *out = b;
  *out_len = 32;
  return 0;
}
static escrow_rc pyesc_header_hdrtag(const escrow_header *h, uint8_t **out, size_t *out_len) {
  const uint8_t *s = h ? escrow_header_hdrtag(h) : NULL;
  if (s == NULL) return ESCROW_E_INVALID;
  uint8_t *b = (uint8_t *)malloc(32);
  if (b == NULL) return ESCROW_E_NOMEM;
  memcpy(b, s, 32);
  *out = b;
  *out_len = 32;
  return 0;
}
static escrow_rc pyesc_plaintext_size(unsigned long long *out, unsigned long long file_size,
                                      unsigned log2cs, size_t header_len) {
  uint64_t v = 0;
  int rc = escrow_bkenc_plaintext_size(&v, file_size, log2cs, header_len);
  *out = v;
  return rc;
}
%}
int pyesc_detect_format(const uint8_t *IN, size_t IN_LEN);
escrow_rc pyesc_header_parse(escrow_header **OUT, const uint8_t *IN, size_t IN_LEN, size_t *OUT_SIZE);
escrow_rc escrow_header_verify(const escrow_header *h, const escrow_cek *cek);
size_t escrow_header_length(const escrow_header *h);
unsigned escrow_header_log2cs(const escrow_header *h);
escrow_rc pyesc_header_salt(const escrow_header *h, uint8_t **OUT_KEY32, size_t *OUT_KEY32_LEN);
escrow_rc pyesc_header_hdrtag(const escrow_header *h, uint8_t **OUT_KEY32, size_t *OUT_KEY32_LEN);
const char *escrow_header_context(const escrow_header *h, unsigned type);
void escrow_header_free(escrow_header *h);
uint64_t escrow_bkenc_ciphertext_size(uint64_t plaintext_size, unsigned log2cs, size_t header_len);
escrow_rc pyesc_plaintext_size(unsigned long long *OUT_U64, unsigned long long file_size, unsigned log2cs, size_t header_len);

/* ---- envelope: streams ------------------------------------------------------------------------ */
%{
static escrow_rc pyesc_encryptor_new(escrow_encryptor **out, const escrow_cek *cek, unsigned log2cs,
                                     const char *project_id, const char *role, const char *asset,
                                     const char *path, const char *key_id) {
  escrow_encrypt_options o = ESCROW_ENCRYPT_OPTIONS_INIT;
  o.log2cs = log2cs;
  pyesc_context(&o.context, project_id, role, asset, path, key_id);
  return escrow_encryptor_new(out, cek, &o);
}
static escrow_rc pyesc_encryptor_update(escrow_encryptor *e, uint8_t *out, size_t out_size,
                                        const uint8_t *in, size_t in_len, size_t *written) {
  return escrow_encryptor_update(e, out, out_size, written, in, in_len);
}
static escrow_rc pyesc_encryptor_final(escrow_encryptor *e, uint8_t *out, size_t out_size,
                                       size_t *written) {
  return escrow_encryptor_final(e, out, out_size, written);
}
static escrow_rc pyesc_decryptor_new(escrow_decryptor **out, const escrow_cek *cek,
                                     const char *expect_path, const uint8_t *hdrtag, size_t hlen) {
  escrow_decrypt_options o = ESCROW_DECRYPT_OPTIONS_INIT;
  if (hdrtag != NULL && hlen != ESCROW_BKENC_HDRTAG_BYTES) {
    escrow_error_clear();
    return ESCROW_E_INVALID;
  }
  o.expect_path = expect_path;
  o.expect_hdrtag = hdrtag;
  return escrow_decryptor_new(out, cek, &o);
}
static escrow_rc pyesc_decryptor_update(escrow_decryptor *d, uint8_t *out, size_t out_size,
                                        const uint8_t *in, size_t in_len, size_t *written) {
  return escrow_decryptor_update(d, out, out_size, written, in, in_len);
}
static escrow_rc pyesc_decryptor_final(escrow_decryptor *d, uint8_t *out, size_t out_size,
                                       size_t *written) {
  return escrow_decryptor_final(d, out, out_size, written);
}
static escrow_rc pyesc_reader_open_file(escrow_reader **out, const escrow_cek *cek,
                                        const char *path, const char *expect_path,
                                        const uint8_t *hdrtag, size_t hlen) {
  escrow_decrypt_options o = ESCROW_DECRYPT_OPTIONS_INIT;
  if (hdrtag != NULL && hlen != ESCROW_BKENC_HDRTAG_BYTES) return ESCROW_E_INVALID;
  o.expect_path = expect_path;
  o.expect_hdrtag = hdrtag;
  return escrow_reader_open_file(out, cek, path, &o);
}
static escrow_rc pyesc_reader_pread(escrow_reader *r, uint8_t *buf, size_t len,
                                    unsigned long long offset, size_t *got) {
  return escrow_reader_pread(r, buf, len, offset, got);
}
static unsigned long long pyesc_reader_size(const escrow_reader *r) {
  return escrow_reader_size(r);
}
static unsigned long long pyesc_encryptor_plaintext_size(const escrow_encryptor *e) {
  return escrow_encryptor_plaintext_size(e);
}
%}
escrow_rc pyesc_encryptor_new(escrow_encryptor **OUT, const escrow_cek *cek, unsigned log2cs,
                              const char *project_id, const char *role, const char *asset,
                              const char *path, const char *key_id);
size_t escrow_encryptor_update_bound(const escrow_encryptor *e, size_t in_len);
escrow_rc pyesc_encryptor_update(escrow_encryptor *e, uint8_t *OUTBUF, size_t OUTBUF_SIZE,
                                 const uint8_t *IN, size_t IN_LEN, size_t *OUT_SIZE);
size_t escrow_encryptor_final_bound(const escrow_encryptor *e);
escrow_rc pyesc_encryptor_final(escrow_encryptor *e, uint8_t *OUTBUF, size_t OUTBUF_SIZE, size_t *OUT_SIZE);
const escrow_header *escrow_encryptor_header(const escrow_encryptor *e);
unsigned long long pyesc_encryptor_plaintext_size(const escrow_encryptor *e);
void escrow_encryptor_free(escrow_encryptor *e);

escrow_rc pyesc_decryptor_new(escrow_decryptor **OUT, const escrow_cek *cek,
                              const char *expect_path, const uint8_t *OPT, size_t OPT_LEN);
size_t escrow_decryptor_update_bound(const escrow_decryptor *d, size_t in_len);
escrow_rc pyesc_decryptor_update(escrow_decryptor *d, uint8_t *OUTBUF, size_t OUTBUF_SIZE,
                                 const uint8_t *IN, size_t IN_LEN, size_t *OUT_SIZE);
size_t escrow_decryptor_final_bound(const escrow_decryptor *d);
escrow_rc pyesc_decryptor_final(escrow_decryptor *d, uint8_t *OUTBUF, size_t OUTBUF_SIZE, size_t *OUT_SIZE);
const escrow_header *escrow_decryptor_header(const escrow_decryptor *d);
void escrow_decryptor_free(escrow_decryptor *d);

escrow_rc pyesc_reader_open_file(escrow_reader **OUT, const escrow_cek *cek, const char *path,
                                 const char *expect_path, const uint8_t *OPT, size_t OPT_LEN);
unsigned long long pyesc_reader_size(const escrow_reader *r);
escrow_rc pyesc_reader_pread(escrow_reader *r, uint8_t *OUTBUF, size_t OUTBUF_SIZE,
                             unsigned long long offset, size_t *OUT_SIZE);
const escrow_header *escrow_reader_header(const escrow_reader *r);
void escrow_reader_free(escrow_reader *r);

/* ---- envelope: files, descriptors, legacy v0 ------------------------------------------------- */
%{
static escrow_rc pyesc_encrypt_file(const escrow_cek *cek, int format, unsigned log2cs,
                                    const char *project_id, const char *role, const char *asset,
                                    const char *path, const char *key_id, const char *in_path,
                                    const char *out_path, uint8_t **out, size_t *out_len) {
  escrow_encrypt_options o = ESCROW_ENCRYPT_OPTIONS_INIT;
  o.log2cs = log2cs;
  pyesc_context(&o.context, project_id, role, asset, path, key_id);
  uint8_t *tag = (uint8_t *)calloc(1, 32);
  if (tag == NULL) return ESCROW_E_NOMEM;
  int rc = escrow_encrypt_file(cek, &o, (escrow_file_format)format, in_path, out_path,
                               format == ESCROW_FORMAT_V0 ? NULL : tag, NULL, NULL);
  if (rc < 0) { free(tag); return rc; }
  *out = tag;
  *out_len = format == ESCROW_FORMAT_V0 ? 0 : 32;
  return 0;
}
static escrow_rc pyesc_decrypt_file(const escrow_cek *cek, const char *in_path,
                                    const char *out_path, const char *expect_path,
                                    const uint8_t *hdrtag, size_t hlen) {
  escrow_decrypt_options o = ESCROW_DECRYPT_OPTIONS_INIT;
  if (hdrtag != NULL && hlen != ESCROW_BKENC_HDRTAG_BYTES) return ESCROW_E_INVALID;
  o.expect_path = expect_path;
  o.expect_hdrtag = hdrtag;
  return escrow_decrypt_file(cek, &o, in_path, out_path, NULL, NULL);
}
static escrow_rc pyesc_encrypt_fd(const escrow_cek *cek, unsigned log2cs, const char *project_id,
                                  const char *role, const char *asset, const char *path,
                                  const char *key_id, int in_fd, int out_fd, uint8_t **out,
                                  size_t *out_len) {
  escrow_encrypt_options o = ESCROW_ENCRYPT_OPTIONS_INIT;
  o.log2cs = log2cs;
  pyesc_context(&o.context, project_id, role, asset, path, key_id);
  uint8_t *tag = (uint8_t *)calloc(1, 32);
  if (tag == NULL) return ESCROW_E_NOMEM;
  int rc = escrow_encrypt_fd(cek, &o, in_fd, out_fd, tag, NULL, NULL);
  if (rc < 0) { free(tag); return rc; }
  *out = tag;
  *out_len = 32;
  return 0;
}
static escrow_rc pyesc_decrypt_fd(const escrow_cek *cek, const char *expect_path,
                                  const uint8_t *hdrtag, size_t hlen, int in_fd, int out_fd) {
  escrow_decrypt_options o = ESCROW_DECRYPT_OPTIONS_INIT;
  if (hdrtag != NULL && hlen != ESCROW_BKENC_HDRTAG_BYTES) return ESCROW_E_INVALID;
  o.expect_path = expect_path;
  o.expect_hdrtag = hdrtag;
  return escrow_decrypt_fd(cek, &o, in_fd, out_fd, NULL, NULL);
}
static escrow_rc pyesc_legacy_decrypt_mem(const escrow_cek *cek, const uint8_t *in, size_t in_len,
                                          uint8_t **out, size_t *out_len) {
  return escrow_legacy_decrypt_mem(cek, in, in_len, out, out_len);
}
static escrow_rc pyesc_legacy_decrypt_fd(const escrow_cek *cek, int in_fd, int out_fd) {
  return escrow_legacy_decrypt_fd(cek, in_fd, out_fd);
}
%}
escrow_rc pyesc_encrypt_file(const escrow_cek *cek, int format, unsigned log2cs,
                             const char *project_id, const char *role, const char *asset,
                             const char *path, const char *key_id, const char *in_path,
                             const char *out_path, uint8_t **OUT_KEY32, size_t *OUT_KEY32_LEN);
escrow_rc pyesc_decrypt_file(const escrow_cek *cek, const char *in_path, const char *out_path,
                             const char *expect_path, const uint8_t *OPT, size_t OPT_LEN);
escrow_rc pyesc_encrypt_fd(const escrow_cek *cek, unsigned log2cs, const char *project_id,
                           const char *role, const char *asset, const char *path,
                           const char *key_id, int in_fd, int out_fd,
                           uint8_t **OUT_KEY32, size_t *OUT_KEY32_LEN);
escrow_rc pyesc_decrypt_fd(const escrow_cek *cek, const char *expect_path, const uint8_t *OPT,
                           size_t OPT_LEN, int in_fd, int out_fd);
escrow_rc pyesc_legacy_decrypt_mem(const escrow_cek *cek, const uint8_t *IN, size_t IN_LEN,
                                   uint8_t **OUT_SECRET, size_t *OUT_SECRET_LEN);
escrow_rc pyesc_legacy_decrypt_fd(const escrow_cek *cek, int in_fd, int out_fd);
escrow_rc escrow_legacy_encrypt_fd(const escrow_cek *cek, int in_fd, int out_fd);

/* ---- packages ----------------------------------------------------------------------------- */
%{
static escrow_rc pyesc_algorithm_pack(const char *dir, const escrow_cek *cek,
                                      const char *const *secrets, size_t n, int format,
                                      const char *project_id, const char *role,
                                      const char *asset, const char *key_id,
                                      const char *out_zip) {
  escrow_pack_options o = ESCROW_PACK_OPTIONS_INIT;
  o.format = (escrow_file_format)format;
  pyesc_context(&o.context, project_id, role, asset, NULL, key_id);
  return escrow_algorithm_pack(dir, cek, secrets, n, &o, out_zip);
}
static escrow_rc pyesc_algorithm_open(escrow_algorithm **out, const char *zip_path,
                                      unsigned long long max_entries,
                                      unsigned long long max_entry_size,
                                      unsigned long long max_total_size, unsigned max_ratio) {
  escrow_zip_limits l = ESCROW_ZIP_LIMITS_INIT;
  if (max_entries) l.max_entries = max_entries;
  if (max_entry_size) l.max_entry_size = max_entry_size;
  if (max_total_size) l.max_total_size = max_total_size;
  if (max_ratio) l.max_ratio = max_ratio;
  return escrow_algorithm_open(out, zip_path, &l);
}
static escrow_rc pyesc_algorithm_secret(const escrow_algorithm *a, size_t i, const char **enc,
                                        const char **orig) {
  return escrow_algorithm_secret(a, i, enc, orig);
}
static escrow_rc pyesc_algorithm_check(const escrow_algorithm *a, int wcek_present, char **json) {
  return escrow_algorithm_check(a, wcek_present, json);
}
static escrow_rc pyesc_algorithm_extract(const escrow_algorithm *a, const escrow_cek *cek,
                                         const char *out_dir) {
  return escrow_algorithm_extract(a, cek, out_dir);
}
static escrow_rc pyesc_dataset_encrypt(const char *in_dir, const char *out_dir,
                                       const escrow_cek *cek, int format, const char *project_id,
                                       const char *role, const char *asset, const char *key_id,
                                       const char *dataset_version) {
  escrow_dataset_options o = ESCROW_DATASET_OPTIONS_INIT;
  o.format = (escrow_file_format)format;
  pyesc_context(&o.context, project_id, role, asset, NULL, key_id);
  o.dataset_version = dataset_version;
  return escrow_dataset_encrypt(in_dir, out_dir, cek, &o);
}
static escrow_rc pyesc_dataset_decrypt(const char *in_dir, const char *out_dir,
                                       const escrow_cek *cek, int require_manifest,
                                       const char *project_id, const char *role,
                                       const char *asset, const char *key_id) {
  escrow_dataset_options o = ESCROW_DATASET_OPTIONS_INIT;
  o.require_manifest = require_manifest;
  pyesc_context(&o.context, project_id, role, asset, NULL, key_id);
  return escrow_dataset_decrypt(in_dir, out_dir, cek, &o);
}
static escrow_rc pyesc_manifest_decode(escrow_manifest **out, const escrow_cek *cek,
                                       const uint8_t *data, size_t len) {
  return escrow_manifest_decode(out, cek, data, len);
}
static escrow_rc pyesc_manifest_entry(const escrow_manifest *m, size_t i, const char **path,
                                      unsigned long long *size, uint8_t **tag, size_t *tag_len) {
  uint64_t sz = 0;
  const uint8_t *t = NULL;
  int rc = escrow_manifest_entry(m, i, path, &sz, &t);
  if (rc < 0) return rc;
  uint8_t *b = (uint8_t *)malloc(32);
  if (b == NULL) return ESCROW_E_NOMEM;
  memcpy(b, t, 32);
  *size = sz;
  *tag = b;
  *tag_len = 32;
  return 0;
}
static escrow_rc pyesc_manifest_find(const escrow_manifest *m, const char *path, size_t *index) {
  return escrow_manifest_find(m, path, index);
}
%}
escrow_rc pyesc_algorithm_pack(const char *dir, const escrow_cek *cek,
                               const char *const *STRS, size_t N_STRS, int format,
                               const char *project_id, const char *role, const char *asset,
                               const char *key_id, const char *out_zip);
escrow_rc pyesc_algorithm_open(escrow_algorithm **OUT, const char *zip_path,
                               unsigned long long max_entries, unsigned long long max_entry_size,
                               unsigned long long max_total_size, unsigned max_ratio);
%nothread escrow_algorithm_entry_count;
%nothread escrow_algorithm_entry_name;
%nothread escrow_algorithm_secret_count;
size_t escrow_algorithm_entry_count(const escrow_algorithm *a);
const char *escrow_algorithm_entry_name(const escrow_algorithm *a, size_t i);
size_t escrow_algorithm_secret_count(const escrow_algorithm *a);
escrow_rc pyesc_algorithm_secret(const escrow_algorithm *a, size_t i, const char **OUT_BSTR, const char **OUT_BSTR);
escrow_rc pyesc_algorithm_check(const escrow_algorithm *a, int wcek_present, char **OUT_ESTR);
escrow_rc pyesc_algorithm_extract(const escrow_algorithm *a, const escrow_cek *cek, const char *out_dir);
void escrow_algorithm_free(escrow_algorithm *a);

escrow_rc pyesc_dataset_encrypt(const char *in_dir, const char *out_dir, const escrow_cek *cek,
                                int format, const char *project_id, const char *role,
                                const char *asset, const char *key_id, const char *dataset_version);
escrow_rc pyesc_dataset_decrypt(const char *in_dir, const char *out_dir, const escrow_cek *cek,
                                int require_manifest, const char *project_id, const char *role,
                                const char *asset, const char *key_id);

escrow_rc pyesc_manifest_decode(escrow_manifest **OUT, const escrow_cek *cek, const uint8_t *IN, size_t IN_LEN);
%nothread escrow_manifest_count;
%nothread escrow_manifest_dataset_version;
size_t escrow_manifest_count(const escrow_manifest *m);
escrow_rc pyesc_manifest_entry(const escrow_manifest *m, size_t i, const char **OUT_BSTR,
                               unsigned long long *OUT_U64, uint8_t **OUT_KEY32, size_t *OUT_KEY32_LEN);
escrow_rc pyesc_manifest_find(const escrow_manifest *m, const char *path, size_t *OUT_SIZE);
const char *escrow_manifest_dataset_version(const escrow_manifest *m);
void escrow_manifest_free(escrow_manifest *m);

/* ---- criteria (validation of reports) ----------------------------------------------------------- */
PYESC_HANDLE(escrow_criteria)
%{
static void pyesc_criteria_opts(escrow_criteria_options *o, int allow_unknown, int require_all) {
  escrow_criteria_options d = ESCROW_CRITERIA_OPTIONS_INIT;
  *o = d;
  o->allow_unknown = allow_unknown;
  o->require_all = require_all;
}
static escrow_rc pyesc_criteria_compile(escrow_criteria **out, const uint8_t *json, size_t len,
                                        int allow_unknown, int require_all) {
  escrow_criteria_options o;
  pyesc_criteria_opts(&o, allow_unknown, require_all);
  return escrow_criteria_compile(out, (const char *)json, len, &o, NULL);
}
/* The SchemaError tree of a refused schema (None when there is none): compiles again. */
static escrow_rc pyesc_criteria_schema_errors(const uint8_t *json, size_t len, int allow_unknown,
                                              int require_all, char **errors) {
  escrow_criteria_options o;
  escrow_criteria *c = NULL;
  pyesc_criteria_opts(&o, allow_unknown, require_all);
  int rc = escrow_criteria_compile(&c, (const char *)json, len, &o, errors);
  escrow_criteria_free(c);
  (void)rc;
  return 0;
}
static escrow_rc pyesc_criteria_validate(const escrow_criteria *c, const uint8_t *json, size_t len,
                                         int *valid, char **errors) {
  return escrow_criteria_validate(c, (const char *)json, len, valid, errors);
}
static escrow_rc pyesc_criteria_validate_report(const escrow_criteria *c, const uint8_t *json,
                                                size_t len, int *valid, char **answer) {
  return escrow_criteria_validate_report(c, (const char *)json, len, valid, answer);
}
static escrow_rc pyesc_criteria_validate_file(const escrow_criteria *c, const char *path,
                                              int allow_unknown, int require_all, int *valid,
                                              char **errors) {
  escrow_criteria_options o;
  escrow_criteria_doc *d = NULL;
  pyesc_criteria_opts(&o, allow_unknown, require_all);
  int rc = escrow_criteria_doc_parse_file(&d, path, &o);
  if (rc < 0) return rc;
  rc = escrow_criteria_validate_doc(c, d, valid, errors);
  escrow_criteria_doc_free(d);
  return rc;
}
static escrow_rc pyesc_criteria_audit(const escrow_criteria *c, char **out) {
  return escrow_criteria_audit(c, out);
}
static escrow_rc pyesc_criteria_check_pair(const uint8_t *line, size_t len, char **out) {
  return escrow_criteria_check_pair((const char *)line, len, out);
}
%}
escrow_rc pyesc_criteria_compile(escrow_criteria **OUT, const uint8_t *IN, size_t IN_LEN,
                                 int allow_unknown, int require_all);
escrow_rc pyesc_criteria_schema_errors(const uint8_t *IN, size_t IN_LEN, int allow_unknown,
                                       int require_all, char **OUT_ESTR);
escrow_rc pyesc_criteria_validate(const escrow_criteria *c, const uint8_t *IN, size_t IN_LEN,
                                  int *OUT_INT, char **OUT_ESTR);
escrow_rc pyesc_criteria_validate_report(const escrow_criteria *c, const uint8_t *IN,
                                         size_t IN_LEN, int *OUT_INT, char **OUT_ESTR);
escrow_rc pyesc_criteria_validate_file(const escrow_criteria *c, const char *path,
                                       int allow_unknown, int require_all, int *OUT_INT,
                                       char **OUT_ESTR);
escrow_rc pyesc_criteria_audit(const escrow_criteria *c, char **OUT_ESTR);
escrow_rc pyesc_criteria_check_pair(const uint8_t *IN, size_t IN_LEN, char **OUT_ESTR);
void escrow_criteria_free(escrow_criteria *c);

/* ---- SAS URL checks ------------------------------------------------------------------------------ */
%{
static char *pyesc_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = (char *)malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}
/* now: RFC 3339 text (offsets allowed), or NULL for the system clock */
static escrow_rc pyesc_sas_check(const char *url, const char *now, unsigned flags, int *status,
                                 char **status_name, char **message, char **reason) {
  escrow_time t;
  escrow_sas_result r;
  if (now != NULL) {
    int rc = escrow_time_parse(&t, now, 1);
    if (rc < 0) return rc;
  }
  int rc = escrow_sas_check(&r, url, now ? &t : NULL, flags);
  if (rc < 0) return rc;
  *status_name = pyesc_strdup(r.status_name);
  *message = pyesc_strdup(r.message);
  *reason = pyesc_strdup(r.reason);
  if (!*status_name || !*message || !*reason) return ESCROW_E_NOMEM;
  *status = (int)r.status;
  return 0;
}
%}
escrow_rc pyesc_sas_check(const char *url, const char *now, unsigned flags, int *OUT_INT,
                          char **OUT_MSTR, char **OUT_MSTR, char **OUT_MSTR);

/* ---- blob client (container SAS URLs and file:// folders) -------------------------------------- */
PYESC_HANDLE(escrow_blob_client)
%{
static escrow_rc pyesc_blob_open(escrow_blob_client **out, const char *url, unsigned flags,
                                 unsigned max_retries, const char *ca_file) {
  escrow_blob_options o = ESCROW_BLOB_OPTIONS_INIT;
  o.flags = flags;
  o.max_retries = max_retries;
  o.ca_file = ca_file;
  return escrow_blob_open(out, url, &o);
}
/* A listing collected in C: records "name\0size\0md5\0etag\0last_modified\0" one after the
 * other (names cannot hold NUL), returned as one bytes object. */
typedef struct pyesc_list { char *p; size_t n, cap; } pyesc_list;
static int pyesc_list_put(pyesc_list *l, const char *s) {
  size_t k = strlen(s) + 1;
  if (l->n + k > l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 4096;
    while (cap < l->n + k) cap *= 2;
    char *p = (char *)realloc(l->p, cap);
    if (p == NULL) return ESCROW_E_NOMEM;
    l->p = p;
    l->cap = cap;
  }
  memcpy(l->p + l->n, s, k);
  l->n += k;
  return 0;
}
static int pyesc_list_cb(void *payload, const escrow_blob_item *it) {
  pyesc_list *l = (pyesc_list *)payload;
  char size[24];
  snprintf(size, sizeof(size), "%llu", (unsigned long long)it->size);
  if (pyesc_list_put(l, it->name) || pyesc_list_put(l, size) ||
      pyesc_list_put(l, it->content_md5 ? it->content_md5 : "") ||
      pyesc_list_put(l, it->etag ? it->etag : "") ||
      pyesc_list_put(l, it->last_modified ? it->last_modified : ""))
    return ESCROW_E_NOMEM;
  return 0;
}
static escrow_rc pyesc_blob_list(escrow_blob_client *c, const char *prefix, uint8_t **out,
                                 size_t *out_len) {
  pyesc_list l = {NULL, 0, 0};
  int rc = escrow_blob_list(c, prefix, pyesc_list_cb, &l);
  if (rc < 0) { free(l.p); return rc; }
  *out = (uint8_t *)l.p;
  *out_len = l.n;
  return 0;
}
static escrow_rc pyesc_blob_stat(escrow_blob_client *c, const char *name,
                                 unsigned long long *size, char **md5) {
  uint64_t sz = 0;
  char *b = (char *)calloc(1, 32);
  if (b == NULL) return ESCROW_E_NOMEM;
  int rc = escrow_blob_stat(c, name, &sz, b);
  if (rc < 0) { free(b); return rc; }
  *size = sz;
  *md5 = b;
  return 0;
}
typedef struct pyesc_mem { uint8_t *p; size_t n, cap; } pyesc_mem;
static int pyesc_mem_write(void *payload, const uint8_t *data, size_t len) {
  pyesc_mem *m = (pyesc_mem *)payload;
  if (m->n + len > m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 65536;
    while (cap < m->n + len) cap *= 2;
    uint8_t *p = (uint8_t *)realloc(m->p, cap);
    if (p == NULL) return ESCROW_E_NOMEM;
    m->p = p;
    m->cap = cap;
  }
  memcpy(m->p + m->n, data, len);
  m->n += len;
  return 0;
}
static escrow_rc pyesc_blob_get(escrow_blob_client *c, const char *name,
                                unsigned long long offset, unsigned long long length,
                                uint8_t **out, size_t *out_len) {
  pyesc_mem m = {NULL, 0, 0};
  int rc = escrow_blob_get(c, name, offset, length, pyesc_mem_write, &m, NULL, NULL);
  if (rc < 0) { free(m.p); return rc; }
  *out = m.p;
  *out_len = m.n;
  return 0;
}
static escrow_rc pyesc_blob_get_file(escrow_blob_client *c, const char *name, const char *path) {
  return escrow_blob_get_file(c, name, path, NULL, NULL);
}
static escrow_rc pyesc_blob_get_decrypt_file(escrow_blob_client *c, const char *name,
                                             const escrow_cek *cek, const char *expect_path,
                                             const uint8_t *hdrtag, size_t hlen,
                                             const char *out_path) {
  escrow_decrypt_options o = ESCROW_DECRYPT_OPTIONS_INIT;
  if (hdrtag != NULL && hlen != ESCROW_BKENC_HDRTAG_BYTES) return ESCROW_E_INVALID;
  o.expect_path = expect_path;
  o.expect_hdrtag = hdrtag;
  return escrow_blob_get_decrypt_file(c, name, cek, &o, out_path, NULL, NULL);
}
static escrow_rc pyesc_blob_put_file(escrow_blob_client *c, const char *name, const char *path,
                                     unsigned flags, int *skipped) {
  return escrow_blob_put_file(c, name, path, flags, skipped, NULL, NULL);
}
static escrow_rc pyesc_blob_stats(const escrow_blob_client *c, unsigned long long *requests,
                                  unsigned long long *retries, unsigned long long *down,
                                  unsigned long long *up) {
  escrow_blob_stats s;
  escrow_blob_get_stats(c, &s);
  *requests = s.requests;
  *retries = s.retries;
  *down = s.bytes_down;
  *up = s.bytes_up;
  return 0;
}
%}
/* pyesc_list / pyesc_mem buffers are malloc'd: free them with free */
PYESC_BYTES_OUT(OUT_MALLOC, free)
escrow_rc pyesc_blob_open(escrow_blob_client **OUT, const char *url, unsigned flags,
                          unsigned max_retries, const char *ca_file);
void escrow_blob_close(escrow_blob_client *c);
escrow_rc pyesc_blob_list(escrow_blob_client *c, const char *prefix, uint8_t **OUT_MALLOC,
                          size_t *OUT_MALLOC_LEN);
escrow_rc pyesc_blob_stat(escrow_blob_client *c, const char *name, unsigned long long *OUT_U64,
                          char **OUT_MSTR);
escrow_rc pyesc_blob_get(escrow_blob_client *c, const char *name, unsigned long long offset,
                         unsigned long long length, uint8_t **OUT_MALLOC, size_t *OUT_MALLOC_LEN);
escrow_rc pyesc_blob_get_file(escrow_blob_client *c, const char *name, const char *path);
escrow_rc pyesc_blob_get_decrypt_file(escrow_blob_client *c, const char *name,
                                      const escrow_cek *cek, const char *expect_path,
                                      const uint8_t *OPT, size_t OPT_LEN, const char *out_path);
escrow_rc pyesc_blob_put_file(escrow_blob_client *c, const char *name, const char *path,
                              unsigned flags, int *OUT_INT);
escrow_rc pyesc_blob_stats(const escrow_blob_client *c, unsigned long long *OUT_U64,
                           unsigned long long *OUT_U64, unsigned long long *OUT_U64,
                           unsigned long long *OUT_U64);

/* ---- blob streaming and progress ------------------------------------------------------------ */
%{
static escrow_rc pyesc_blob_get_stream(escrow_blob_client *c, const char *name,
                                       unsigned long long offset, unsigned long long length,
                                       PyObject *write, PyObject *progress) {
  return escrow_blob_get(c, name, offset, length, pyesc_write_cb, write, PYESC_CB(progress),
                         PYESC_PAYLOAD(progress));
}
static escrow_rc pyesc_blob_get_file_p(escrow_blob_client *c, const char *name, const char *path,
                                       PyObject *progress) {
  return escrow_blob_get_file(c, name, path, PYESC_CB(progress), PYESC_PAYLOAD(progress));
}
static escrow_rc pyesc_blob_get_decrypt_file_p(escrow_blob_client *c, const char *name,
                                               const escrow_cek *cek, const char *expect_path,
                                               const uint8_t *hdrtag, size_t hlen,
                                               const char *out_path, PyObject *progress) {
  escrow_decrypt_options o = ESCROW_DECRYPT_OPTIONS_INIT;
  if (hdrtag != NULL && hlen != ESCROW_BKENC_HDRTAG_BYTES) return ESCROW_E_INVALID;
  o.expect_path = expect_path;
  o.expect_hdrtag = hdrtag;
  return escrow_blob_get_decrypt_file(c, name, cek, &o, out_path, PYESC_CB(progress),
                                      PYESC_PAYLOAD(progress));
}
static escrow_rc pyesc_blob_get_decrypt_stream(escrow_blob_client *c, const char *name,
                                               const escrow_cek *cek, const char *expect_path,
                                               PyObject *write, PyObject *progress) {
  escrow_decrypt_options o = ESCROW_DECRYPT_OPTIONS_INIT;
  o.expect_path = expect_path;
  return escrow_blob_get_decrypt(c, name, cek, &o, pyesc_write_cb, write, PYESC_CB(progress),
                                 PYESC_PAYLOAD(progress));
}
static escrow_rc pyesc_blob_put_file_p(escrow_blob_client *c, const char *name, const char *path,
                                       unsigned flags, int *skipped, PyObject *progress) {
  return escrow_blob_put_file(c, name, path, flags, skipped, PYESC_CB(progress),
                              PYESC_PAYLOAD(progress));
}
%}
escrow_rc pyesc_blob_get_stream(escrow_blob_client *c, const char *name,
                                unsigned long long offset, unsigned long long length,
                                PyObject *write, PyObject *progress);
escrow_rc pyesc_blob_get_file_p(escrow_blob_client *c, const char *name, const char *path,
                                PyObject *progress);
escrow_rc pyesc_blob_get_decrypt_file_p(escrow_blob_client *c, const char *name,
                                        const escrow_cek *cek, const char *expect_path,
                                        const uint8_t *OPT, size_t OPT_LEN, const char *out_path,
                                        PyObject *progress);
escrow_rc pyesc_blob_get_decrypt_stream(escrow_blob_client *c, const char *name,
                                        const escrow_cek *cek, const char *expect_path,
                                        PyObject *write, PyObject *progress);
escrow_rc pyesc_blob_put_file_p(escrow_blob_client *c, const char *name, const char *path,
                                unsigned flags, int *OUT_INT, PyObject *progress);

/* ---- SAS signing and verification ------------------------------------------------------------ */
%{
/* fields: kind, account, container, blob, resource, snapshot, identifier, permissions, start,
 * expiry, ip, protocol, version, services, resource_types, encryption_scope, rscc, rscd, rsce,
 * rscl, rsct (None: not set) */
static escrow_rc pyesc_sas_sign(const char *const *f, size_t n, const char *endpoint,
                                const char *key, int want_url, int want_sts, char **out) {
  if (n != 21) return ESCROW_E_INVALID;
  escrow_sas_sign_options o = ESCROW_SAS_SIGN_OPTIONS_INIT;
#define PYESC_F(i) (f[i] && f[i][0] ? f[i] : NULL)
  o.kind = PYESC_F(0) && strcmp(f[0], "account") == 0 ? ESCROW_SAS_ACCOUNT : ESCROW_SAS_SERVICE;
  o.account = PYESC_F(1); o.container = PYESC_F(2); o.blob = PYESC_F(3);
  o.resource = PYESC_F(4); o.snapshot = PYESC_F(5); o.identifier = PYESC_F(6);
  o.permissions = PYESC_F(7); o.start = PYESC_F(8); o.expiry = PYESC_F(9); o.ip = PYESC_F(10);
  o.protocol = PYESC_F(11); o.service_version = PYESC_F(12); o.services = PYESC_F(13);
  o.resource_types = PYESC_F(14); o.encryption_scope = PYESC_F(15);
  o.cache_control = PYESC_F(16); o.content_disposition = PYESC_F(17);
  o.content_encoding = PYESC_F(18); o.content_language = PYESC_F(19); o.content_type = PYESC_F(20);
#undef PYESC_F
  char *r = NULL;
  int rc = want_sts ? escrow_sas_string_to_sign(&r, &o)
           : want_url ? escrow_sas_sign_url(&r, endpoint, &o, key)
                      : escrow_sas_sign(&r, &o, key);
  if (rc < 0) return rc;
  *out = r;
  return 0;
}
static escrow_rc pyesc_sas_verify(const char *url, const char *key, unsigned flags, int *valid) {
  escrow_sas *s = NULL;
  int rc = escrow_sas_parse(&s, url, flags);
  if (rc < 0) return rc;
  rc = escrow_sas_verify(s, key);
  escrow_sas_free(s);
  if (rc == ESCROW_E_AUTH) { *valid = 0; return 0; }
  if (rc < 0) return rc;
  *valid = 1;
  return 0;
}
%}
escrow_rc pyesc_sas_sign(const char *const *STRS, size_t N_STRS, const char *endpoint,
                         const char *key, int want_url, int want_sts, char **OUT_ESTR);
escrow_rc pyesc_sas_verify(const char *url, const char *key, unsigned flags, int *OUT_INT);

/* ---- Platform and Enclave API clients ------------------------------------------------------- */
PYESC_HANDLE(escrow_client)
PYESC_HANDLE(escrow_enclave)
%{
static char *pyesc_dup(const char *s) {
  if (s == NULL) return NULL;
  size_t n = strlen(s) + 1;
  char *p = (char *)malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}
/* Hand a result's json text to Python: rc, or ESCROW_E_NOMEM. */
#define PYESC_JSON(rc, res, out, freefn)                                                      \
  do {                                                                                        \
    if ((rc) < 0) return (rc);                                                                \
    *(out) = (res) ? pyesc_dup((res)->json) : pyesc_dup("null");                              \
    freefn(res);                                                                              \
    return *(out) ? 0 : ESCROW_E_NOMEM;                                                       \
  } while (0)

static escrow_rc pyesc_client_open(escrow_client **out, const char *url, const uint8_t *key,
                                   size_t key_len, const char *email, const char *project,
                                   const char *ca_file, const char *audience,
                                   unsigned timeout_s) {
  escrow_client_options o = ESCROW_CLIENT_OPTIONS_INIT;
  o.ca_file = ca_file;
  o.audience = audience;
  o.timeout_s = timeout_s;
  return escrow_client_open(out, url, (const char *)key, key_len, email, project, &o);
}
static escrow_rc pyesc_client_status(const escrow_client *c, int *status, char **body) {
  *status = (int)escrow_client_last_status(c);
  *body = pyesc_dup(escrow_client_last_body(c));
  return *body ? 0 : ESCROW_E_NOMEM;
}
static escrow_rc pyesc_client_token(escrow_client *c, char **out) {
  return escrow_client_token(c, out);
}
static escrow_rc pyesc_client_kek(escrow_client *c, char **out) {
  escrow_api_kek *k = NULL;
  int rc = escrow_client_kek_download(c, &k);
  PYESC_JSON(rc, k, out, escrow_api_kek_free);
}
static escrow_rc pyesc_client_upload(escrow_client *c, int kind, const char *name,
                                     const char *description, const char *tag,
                                     const char *version_description, const char *path,
                                     const char *algorithm_type, const char *criteria_version,
                                     const char *attestation_version, const char *upload_type,
                                     const char *upload_file_name, PyObject *progress,
                                     char **out) {
  escrow_api_version_fields v = {name, description, tag, version_description};
  escrow_api_artifact *a = NULL;
  int rc;
  if (kind == ESCROW_API_ALGORITHM) {
    escrow_api_algorithm_fields af = {algorithm_type, criteria_version, attestation_version,
                                      upload_type, upload_file_name};
    rc = escrow_client_upload_algorithm(c, &v, &af, path, PYESC_CB(progress),
                                        PYESC_PAYLOAD(progress), &a);
  } else {
    rc = escrow_client_upload(c, (escrow_api_upload_kind)kind, &v, path, PYESC_CB(progress),
                              PYESC_PAYLOAD(progress), &a);
  }
  PYESC_JSON(rc, a, out, escrow_api_artifact_free);
}
static escrow_rc pyesc_client_dataset(escrow_client *c, const char *name,
                                      const char *description, const char *tag,
                                      const char *version_description, const char *uri,
                                      const char *spec, const char *att, const char *tags,
                                      char **out) {
  escrow_api_version_fields v = {name, description, tag, version_description};
  escrow_api_dataset_fields d = {uri, spec, att, tags};
  escrow_api_artifact *a = NULL;
  int rc = escrow_client_dataset(c, &v, &d, &a);
  PYESC_JSON(rc, a, out, escrow_api_artifact_free);
}
static escrow_rc pyesc_client_accept(escrow_client *c, const char *tag, char **out) {
  escrow_api_answer *a = NULL;
  int rc = escrow_client_accept_criteria(c, tag, &a);
  PYESC_JSON(rc, a, out, escrow_api_answer_free);
}
static escrow_rc pyesc_client_versions(escrow_client *c, const char *type, char **out) {
  escrow_api_versions *v = NULL;
  int rc = escrow_client_versions(c, type, &v);
  PYESC_JSON(rc, v, out, escrow_api_versions_free);
}
static escrow_rc pyesc_client_notifications(escrow_client *c, char **out) {
  escrow_api_answer *a = NULL;
  int rc = escrow_client_notifications(c, &a);
  PYESC_JSON(rc, a, out, escrow_api_answer_free);
}
static escrow_rc pyesc_client_run_configuration(escrow_client *c, const char *name,
                                                const char *alg, const char *ds,
                                                const char *description, const char *run_type,
                                                char **out) {
  escrow_api_run_ref r = {alg, ds, 0};
  escrow_api_answer *a = NULL;
  int rc = escrow_client_run_configuration(c, name, &r, description, run_type, &a);
  PYESC_JSON(rc, a, out, escrow_api_answer_free);
}
/* op: 0 status, 1 request (arg: machine type), 2 initiate, 3 reject (arg: reason), 4 cancel */
static escrow_rc pyesc_client_run(escrow_client *c, int op, const char *alg, const char *ds,
                                  long long run_number, const char *arg,
                                  const char *const *params, size_t n_params, char **out) {
  escrow_api_run_ref r = {alg, ds, run_number};
  escrow_api_run *run = NULL;
  int rc;
  switch (op) {
  case 0: rc = escrow_client_run_status(c, &r, &run); break;
  case 1: rc = escrow_client_run_request(c, &r, arg, params, n_params, &run); break;
  case 2: rc = escrow_client_initiate_run(c, &r, &run); break;
  case 3: rc = escrow_client_run_reject(c, &r, arg, &run); break;
  case 4: rc = escrow_client_run_cancel(c, &r, &run); break;
  default: return ESCROW_E_INVALID;
  }
  PYESC_JSON(rc, run, out, escrow_api_run_free);
}
static escrow_rc pyesc_client_report(escrow_client *c, const char *alg, const char *ds,
                                     long long run_number, char **out) {
  escrow_api_run_ref r = {alg, ds, run_number};
  escrow_api_report *rep = NULL;
  int rc = escrow_client_report_download(c, &r, &rep);
  PYESC_JSON(rc, rep, out, escrow_api_report_free);
}
static escrow_rc pyesc_client_download(escrow_client *c, int which, const char *alg,
                                       const char *ds, long long run_number, const char *path,
                                       PyObject *progress) {
  escrow_api_run_ref r = {alg, ds, run_number};
  return escrow_client_download(c, (escrow_api_output)which, &r, path, PYESC_CB(progress),
                                PYESC_PAYLOAD(progress));
}
static escrow_rc pyesc_client_call(escrow_client *c, const char *method, const char *path,
                                   const char *const *kv, size_t n, char **out) {
  /* kv: name, value, name, value, ... */
  if (n % 2) return ESCROW_E_INVALID;
  const char **names = (const char **)calloc(n / 2 + 1, sizeof(char *));
  const char **values = (const char **)calloc(n / 2 + 1, sizeof(char *));
  if (!names || !values) { free(names); free(values); return ESCROW_E_NOMEM; }
  for (size_t i = 0; i < n / 2; i++) { names[i] = kv[2 * i]; values[i] = kv[2 * i + 1]; }
  escrow_api_answer *a = NULL;
  int rc = escrow_client_call(c, method, path, names, values, n / 2, &a);
  free(names);
  free(values);
  PYESC_JSON(rc, a, out, escrow_api_answer_free);
}

static escrow_rc pyesc_enclave_open(escrow_enclave **out, const char *url, const char *ca_file,
                                    unsigned timeout_s) {
  escrow_client_options o = ESCROW_CLIENT_OPTIONS_INIT;
  o.ca_file = ca_file;
  o.timeout_s = timeout_s;
  return escrow_enclave_open(out, url, &o);
}
static escrow_rc pyesc_enclave_status(const escrow_enclave *e, int *status, char **body) {
  *status = (int)escrow_enclave_last_status(e);
  *body = pyesc_dup(escrow_enclave_last_body(e));
  return *body ? 0 : ESCROW_E_NOMEM;
}
static escrow_rc pyesc_enclave_list(escrow_enclave *e, const char *sas, char **out) {
  escrow_enclave_files *f = NULL;
  int rc = escrow_enclave_list(e, sas, &f);
  PYESC_JSON(rc, f, out, escrow_enclave_files_free);
}
static escrow_rc pyesc_enclave_get(escrow_enclave *e, const char *name,
                                   unsigned long long offset, PyObject *write,
                                   PyObject *progress) {
  return escrow_enclave_get(e, name, offset, pyesc_write_cb, write, PYESC_CB(progress),
                            PYESC_PAYLOAD(progress));
}
static escrow_rc pyesc_enclave_get_file(escrow_enclave *e, const char *name, const char *path,
                                        PyObject *progress) {
  return escrow_enclave_get_file(e, name, path, PYESC_CB(progress), PYESC_PAYLOAD(progress));
}
static escrow_rc pyesc_enclave_log(escrow_enclave *e, const char *message, const char *status) {
  return escrow_enclave_log(e, message, status);
}
static escrow_rc pyesc_enclave_report(escrow_enclave *e, int final, const char *name,
                                      const char *status, const char *json_data,
                                      const char *project, const char *run,
                                      const char *run_configuration, char **out) {
  escrow_enclave_report_in r = {name, status, json_data, project, run, run_configuration};
  escrow_enclave_verdict *v = NULL;
  int rc = final ? escrow_enclave_report(e, &r, &v) : escrow_enclave_validate(e, &r, &v);
  PYESC_JSON(rc, v, out, escrow_enclave_verdict_free);
}
static escrow_rc pyesc_enclave_artifact(escrow_enclave *e, const char *path,
                                        const char *file_name, PyObject *progress, char **out) {
  escrow_api_answer *a = NULL;
  int rc = escrow_enclave_artifact(e, path, file_name, PYESC_CB(progress),
                                   PYESC_PAYLOAD(progress), &a);
  PYESC_JSON(rc, a, out, escrow_api_answer_free);
}
%}
escrow_rc pyesc_client_open(escrow_client **OUT, const char *url, const uint8_t *IN,
                            size_t IN_LEN, const char *email, const char *project,
                            const char *ca_file, const char *audience, unsigned timeout_s);
void escrow_client_close(escrow_client *c);
%nothread pyesc_client_status;
escrow_rc pyesc_client_status(const escrow_client *c, int *OUT_INT, char **OUT_MSTR);
escrow_rc pyesc_client_token(escrow_client *c, char **OUT_ESTR);
escrow_rc pyesc_client_kek(escrow_client *c, char **OUT_MSTR);
escrow_rc pyesc_client_upload(escrow_client *c, int kind, const char *name,
                              const char *description, const char *tag,
                              const char *version_description, const char *path,
                              const char *algorithm_type, const char *criteria_version,
                              const char *attestation_version, const char *upload_type,
                              const char *upload_file_name, PyObject *progress, char **OUT_MSTR);
escrow_rc pyesc_client_dataset(escrow_client *c, const char *name, const char *description,
                               const char *tag, const char *version_description,
                               const char *uri, const char *spec, const char *att,
                               const char *tags, char **OUT_MSTR);
escrow_rc pyesc_client_accept(escrow_client *c, const char *tag, char **OUT_MSTR);
escrow_rc pyesc_client_versions(escrow_client *c, const char *type, char **OUT_MSTR);
escrow_rc pyesc_client_notifications(escrow_client *c, char **OUT_MSTR);
escrow_rc pyesc_client_run_configuration(escrow_client *c, const char *name, const char *alg,
                                         const char *ds, const char *description,
                                         const char *run_type, char **OUT_MSTR);
escrow_rc pyesc_client_run(escrow_client *c, int op, const char *alg, const char *ds,
                           long long run_number, const char *arg, const char *const *STRS,
                           size_t N_STRS, char **OUT_MSTR);
escrow_rc pyesc_client_report(escrow_client *c, const char *alg, const char *ds,
                              long long run_number, char **OUT_MSTR);
escrow_rc pyesc_client_download(escrow_client *c, int which, const char *alg, const char *ds,
                                long long run_number, const char *path, PyObject *progress);
escrow_rc pyesc_client_call(escrow_client *c, const char *method, const char *path,
                            const char *const *STRS, size_t N_STRS, char **OUT_MSTR);
escrow_rc pyesc_enclave_open(escrow_enclave **OUT, const char *url, const char *ca_file,
                             unsigned timeout_s);
void escrow_enclave_close(escrow_enclave *e);
%nothread pyesc_enclave_status;
escrow_rc pyesc_enclave_status(const escrow_enclave *e, int *OUT_INT, char **OUT_MSTR);
escrow_rc pyesc_enclave_list(escrow_enclave *e, const char *sas, char **OUT_MSTR);
escrow_rc pyesc_enclave_get(escrow_enclave *e, const char *name, unsigned long long offset,
                            PyObject *write, PyObject *progress);
escrow_rc pyesc_enclave_get_file(escrow_enclave *e, const char *name, const char *path,
                                 PyObject *progress);
escrow_rc pyesc_enclave_log(escrow_enclave *e, const char *message, const char *status);
escrow_rc pyesc_enclave_report(escrow_enclave *e, int final, const char *name,
                               const char *status, const char *json_data, const char *project,
                               const char *run, const char *run_configuration, char **OUT_MSTR);
escrow_rc pyesc_enclave_artifact(escrow_enclave *e, const char *path, const char *file_name,
                                 PyObject *progress, char **OUT_MSTR);
