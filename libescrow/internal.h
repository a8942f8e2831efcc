/*
 * libescrow internals shared between modules. Not installed; the unit tests use it through
 * the escrow_internal target (static library).
 */
#ifndef ESCROW_INTERNAL_H
#define ESCROW_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <sys/types.h>

#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "escrow/escrow.h"

#define ESCROW__ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define ESCROW__UNUSED(x) ((void)(x))

/* ---- errors ---------------------------------------------------------------------------- */

/* Record the thread's last error (printf-style message; never pass secrets) and return code. */
int escrow__err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like escrow__err, appending ": <reason>" from the OpenSSL error queue (then cleared). */
int escrow__err_openssl(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Record ESCROW_E_NOMEM with a standard message and return it. */
int escrow__err_nomem(void);

/* Record ESCROW_E_IO (or ESCROW_E_NOTFOUND for ENOENT, ESCROW_E_EXISTS for EEXIST) from errno:
 * "<what> '<path>': <strerror>". Returns the code. */
int escrow__err_errno(const char *what, const char *path);

/* ---- memory ------------------------------------------------------------------------------ */

/* Every allocation in libescrow goes through these so tests can inject failures. */
void *escrow__malloc(size_t n);
void *escrow__calloc(size_t count, size_t n);
void *escrow__realloc(void *p, size_t n);
void escrow__free(void *p);
char *escrow__strdup(const char *s);
char *escrow__strndup(const char *s, size_t n);
/* Guarded secret memory (sodium_malloc): wiped and released by escrow__secure_free. */
void *escrow__secure_malloc(size_t n);
void escrow__secure_free(void *p);

/* Test hook: make the n-th allocation from now (1 = the next) fail, 0 = never. Allocation
 * sites count both escrow__malloc-family and escrow__secure_malloc calls. */
void escrow__test_alloc_fail_at(unsigned long n);
/* Test hook: allocations made since the last escrow__test_alloc_fail_at call. */
unsigned long escrow__test_alloc_count(void);

/* ---- crypto backend ---------------------------------------------------------------------- */

/* Pre-fetched OpenSSL algorithms (fetched once by escrow_init; implicit fetches are slow). */
typedef struct escrow__algs {
  EVP_CIPHER *aes256gcm;
  EVP_MAC *hmac;
  EVP_KDF *hkdf;
  EVP_KDF *pbkdf2;
  EVP_MD *sha256;
  EVP_MD *sha1;
} escrow__algs;

/* Initialise if needed and return the algorithms, or NULL (error recorded) on failure. */
const escrow__algs *escrow__get_algs(void);

/* The CEK: 32 bytes in sodium_malloc memory. */
struct escrow_cek {
  uint8_t bytes[ESCROW_CEK_BYTES];
};

/* Make a CEK handle from 32 raw bytes (used for legacy key quirks). */
int escrow__cek_from_raw(escrow_cek **out, const uint8_t key[ESCROW_CEK_BYTES]);

/* ---- text helpers ------------------------------------------------------------------------- */

/* 1 if p is a clean relative path: non-empty, '/'-separated, no leading '/', no empty, "." or
 * ".." component, no backslash, no NUL or control characters, valid UTF-8. */
bool escrow__path_is_clean(const char *p);

/* 1 if s[0..len) is valid UTF-8 (no overlongs, no surrogates). */
bool escrow__utf8_valid(const uint8_t *s, size_t len);

/* Fresh random UUID v4, lowercase, into out (37 bytes incl. NUL). */
void escrow__uuid4(char out[37]);

/* Lowercase hex of len bytes into out (2*len+1 bytes). */
void escrow__hex(char *out, const uint8_t *in, size_t len);

/* Parse exactly 2*len hex digits (either case) into out. Returns 0 or ESCROW_E_FORMAT. */
int escrow__unhex(uint8_t *out, size_t len, const char *hex);

/* ---- files -------------------------------------------------------------------------------- */

/* Write/read all of a buffer, retrying on EINTR and short transfers. Return 0 or ESCROW_E_IO
 * (recorded with what/path). read_full sets *got < len only at end of file. */
int escrow__write_all(int fd, const uint8_t *buf, size_t len, const char *path);
int escrow__read_full(int fd, uint8_t *buf, size_t len, size_t *got, const char *path);
int escrow__pread_full(int fd, uint8_t *buf, size_t len, uint64_t off, size_t *got,
                       const char *path);

/* Read a whole file of at most max bytes (ESCROW_E_LIMIT above). secret: the buffer comes
 * from escrow__secure_malloc (free with escrow__secure_free), else escrow__malloc. A NUL is
 * appended after the data (not counted in *len). */
int escrow__read_file(const char *path, size_t max, bool secret, uint8_t **out, size_t *len);

/* Atomic output file: data goes to a temporary file beside path; commit fsyncs it, renames it
 * over path (or, with no_replace, refuses an existing path with ESCROW_E_EXISTS) and fsyncs the
 * folder; abort unlinks the temporary file. After abort (or a failed commit) path is as it was.*/
typedef struct escrow__atomic {
  char *path;
  char *tmp_path;
  int fd;
  bool no_replace;
} escrow__atomic;

int escrow__atomic_open(escrow__atomic *a, const char *path, mode_t mode, bool no_replace);
int escrow__atomic_commit(escrow__atomic *a);
void escrow__atomic_abort(escrow__atomic *a);

/* Create every missing folder of path (like mkdir -p) with mode. */
int escrow__mkdirs(const char *path, mode_t mode);

/* Remove a folder tree (used to clean up after a failed folder operation). Best effort. */
void escrow__rmtree(const char *path);

/* Join two path parts with '/' (caller frees with escrow__free), or NULL on NOMEM. */
char *escrow__path_join(const char *a, const char *b);

#endif
