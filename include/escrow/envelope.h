/*
 * libescrow envelope: BKENC v1 chunked authenticated encryption (docs/FORMAT.md, DESIGN §3),
 * and the legacy v0 ("Salted__") format of BeeKeeperAI's tools.
 *
 * The core is sans-I/O: an encryptor or decryptor is fed bytes and writes bytes into caller
 * buffers; file and descriptor adaptors sit on top. Memory use is bounded by one chunk
 * whatever the input size. Decryption releases plaintext only from chunks whose tag verified;
 * after any error a handle is dead (every later call returns ESCROW_E_STATE).
 */
#ifndef ESCROW_ENVELOPE_H
#define ESCROW_ENVELOPE_H

#include "common.h"
#include "keys.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ESCROW_BKENC_MAGIC "\x89" "BKENC\r\n"
#define ESCROW_BKENC_MAGIC_BYTES 8
#define ESCROW_BKENC_VERSION 1
#define ESCROW_BKENC_SUITE_AES256GCM_HKDF_SHA256 1
#define ESCROW_BKENC_LOG2CS_DEFAULT 16
#define ESCROW_BKENC_LOG2CS_MIN 14
#define ESCROW_BKENC_LOG2CS_MAX 24
#define ESCROW_BKENC_SALT_BYTES 32
#define ESCROW_BKENC_HDRTAG_BYTES 32
#define ESCROW_BKENC_CHUNK_TAG_BYTES 16
#define ESCROW_BKENC_CONTEXT_MAX 4096
/* magic, version, suite, log2cs, flags, salt, ctxlen, hdrtag: the header without context */
#define ESCROW_BKENC_HEADER_MIN 78
#define ESCROW_BKENC_HEADER_MAX (ESCROW_BKENC_HEADER_MIN + ESCROW_BKENC_CONTEXT_MAX)
#define ESCROW_BKENC_MAX_CHUNKS (UINT64_C(1) << 32)

/* Legacy v0: "Salted__" || salt[8] || AES-256-GCM(whole file) || tag[16]. */
#define ESCROW_LEGACY_MAGIC "Salted__"
#define ESCROW_LEGACY_OVERHEAD 32
#define ESCROW_LEGACY_MAX_PLAINTEXT ((UINT64_C(1) << 36) - 32)

typedef enum escrow_file_format {
  ESCROW_FORMAT_UNKNOWN = 0,
  ESCROW_FORMAT_V1 = 1, /* BKENC v1 */
  ESCROW_FORMAT_V0 = 2  /* legacy "Salted__" */
} escrow_file_format;

/* Tell the format from the first bytes of a file (8 are enough). */
ESCROW_EXTERN escrow_file_format escrow_detect_format(const uint8_t *data, size_t len);

/* Context fields authenticated in a v1 header. NULL fields are left out. Values are UTF-8;
 * path is '/'-separated, relative, without "..", and names the plaintext (no ".bkenc"). */
typedef struct escrow_context {
  const char *project_id; /* 0x01 */
  const char *role;       /* 0x02: "ao" or "ds" */
  const char *asset;      /* 0x03: "<asset id>@<version tag>" */
  const char *path;       /* 0x04 */
  const char *key_id;     /* 0x05: WCEK version tag, or "sha256:<hex>" of the KEK SPKI */
} escrow_context;

/* ---- parsed headers (no key needed) --------------------------------------------------- */

typedef struct escrow_header escrow_header;

/* Parse the structure of a v1 header from the start of a file. On ESCROW_E_TRUNCATED, *needed
 * (if not NULL) holds how many bytes the header needs in all. The header tag is not verified
 * (that needs the CEK): use escrow_header_verify. *out is freed with escrow_header_free.
 * Errors: ESCROW_E_FORMAT (bad magic, zero-type or out-of-order TLV, ...), ESCROW_E_UNSUPPORTED
 * (version, suite, flags, log2cs, critical TLV), ESCROW_E_LIMIT (context too long),
 * ESCROW_E_TRUNCATED, ESCROW_E_NOMEM. */
ESCROW_EXTERN int escrow_header_parse(escrow_header **out, const uint8_t *data, size_t len,
                                      size_t *needed);

/* Check the header tag with a CEK (constant time). ESCROW_E_AUTH: wrong key or altered header.*/
ESCROW_EXTERN int escrow_header_verify(const escrow_header *h,
                                       const escrow_cek *cek) ESCROW_WARN_UNUSED;

ESCROW_EXTERN size_t escrow_header_length(const escrow_header *h);   /* bytes incl. hdrtag */
ESCROW_EXTERN unsigned escrow_header_log2cs(const escrow_header *h);
ESCROW_EXTERN const uint8_t *escrow_header_salt(const escrow_header *h);   /* 32 bytes */
ESCROW_EXTERN const uint8_t *escrow_header_hdrtag(const escrow_header *h); /* 32 bytes */
/* The context value of a TLV type (0x01..0x7f), NUL-terminated, or NULL if absent. Borrowed. */
ESCROW_EXTERN const char *escrow_header_context(const escrow_header *h, unsigned type);
ESCROW_EXTERN void escrow_header_free(escrow_header *h);

/* Ciphertext size of a plaintext size (UINT64_MAX if log2cs is out of range or the plaintext
 * needs more than 2^32 chunks), and back (ESCROW_E_FORMAT if no plaintext size gives that
 * ciphertext size). header_len is escrow_header_length(). */
ESCROW_EXTERN uint64_t escrow_bkenc_ciphertext_size(uint64_t plaintext_size, unsigned log2cs,
                                                    size_t header_len);
ESCROW_EXTERN int escrow_bkenc_plaintext_size(uint64_t *plaintext_size, uint64_t file_size,
                                              unsigned log2cs, size_t header_len);

/* ---- streaming encryption ---------------------------------------------------------------- */

#define ESCROW_ENCRYPT_OPTIONS_VERSION 1
typedef struct escrow_encrypt_options {
  unsigned int version;   /* ESCROW_ENCRYPT_OPTIONS_VERSION */
  unsigned int log2cs;    /* chunk size exponent, 14..24; 0 means 16 (64 KiB) */
  escrow_context context; /* authenticated in the header */
} escrow_encrypt_options;
#define ESCROW_ENCRYPT_OPTIONS_INIT {ESCROW_ENCRYPT_OPTIONS_VERSION, 0, {0, 0, 0, 0, 0}}

typedef struct escrow_encryptor escrow_encryptor;

/* Start a v1 file: draws a fresh salt, derives keys and builds the header (written by the
 * first update or final). opts may be NULL for defaults. Errors: ESCROW_E_INVALID (bad
 * log2cs, context value empty, path not relative/clean, context over 4096 bytes),
 * ESCROW_E_NOMEM, ESCROW_E_CRYPTO. */
ESCROW_EXTERN int escrow_encryptor_new(escrow_encryptor **out, const escrow_cek *cek,
                                       const escrow_encrypt_options *opts);

/* Most bytes that escrow_encryptor_update with in_len input bytes may write. */
ESCROW_EXTERN size_t escrow_encryptor_update_bound(const escrow_encryptor *e, size_t in_len);

/* Consume all of in; write ciphertext to out (out_size must be at least the bound, else
 * ESCROW_E_BUFSIZE and nothing is consumed). The encryptor holds back at most one chunk, since
 * the final chunk is only known at escrow_encryptor_final. Errors: ESCROW_E_BUFSIZE,
 * ESCROW_E_LIMIT (more than 2^32 chunks), ESCROW_E_STATE, ESCROW_E_CRYPTO. */
ESCROW_EXTERN int escrow_encryptor_update(escrow_encryptor *e, uint8_t *out, size_t out_size,
                                          size_t *written, const uint8_t *in, size_t in_len);

/* Most bytes that escrow_encryptor_final may write. */
ESCROW_EXTERN size_t escrow_encryptor_final_bound(const escrow_encryptor *e);

/* Write the final chunk (and the header, for an empty file). No update after it. */
ESCROW_EXTERN int escrow_encryptor_final(escrow_encryptor *e, uint8_t *out, size_t out_size,
                                         size_t *written);

/* The header (valid from escrow_encryptor_new on). Borrowed. */
ESCROW_EXTERN const escrow_header *escrow_encryptor_header(const escrow_encryptor *e);

/* Plaintext bytes consumed so far. */
ESCROW_EXTERN uint64_t escrow_encryptor_plaintext_size(const escrow_encryptor *e);

ESCROW_EXTERN void escrow_encryptor_free(escrow_encryptor *e);

/* ---- streaming decryption ---------------------------------------------------------------- */

#define ESCROW_DECRYPT_OPTIONS_VERSION 1
typedef struct escrow_decrypt_options {
  unsigned int version;    /* ESCROW_DECRYPT_OPTIONS_VERSION */
  const char *expect_path; /* if set, the header's 0x04 path must equal it (ESCROW_E_MISMATCH) */
  const uint8_t *expect_hdrtag; /* if set (32 bytes), the header tag must equal it
                                   (ESCROW_E_MISMATCH): how a manifest pins a file */
} escrow_decrypt_options;
#define ESCROW_DECRYPT_OPTIONS_INIT {ESCROW_DECRYPT_OPTIONS_VERSION, 0, 0}

typedef struct escrow_decryptor escrow_decryptor;

/* Start decrypting a v1 stream. opts may be NULL (its strings are copied). cek is borrowed:
 * keep it valid until the decryptor is freed (it is used until the header has been verified). */
ESCROW_EXTERN int escrow_decryptor_new(escrow_decryptor **out, const escrow_cek *cek,
                                       const escrow_decrypt_options *opts);

/* Most plaintext bytes escrow_decryptor_update with in_len input bytes may write. */
ESCROW_EXTERN size_t escrow_decryptor_update_bound(const escrow_decryptor *d, size_t in_len);

/* Consume all of in; write the plaintext of every chunk verified so far. One chunk (and its
 * tag) is held back until more input or final shows whether it is the last. Errors (each with
 * its own message): ESCROW_E_FORMAT, ESCROW_E_UNSUPPORTED, ESCROW_E_LIMIT (header), ESCROW_E_AUTH
 * (wrong key or altered header; altered, reordered or spliced chunk), ESCROW_E_MISMATCH
 * (expect_path/expect_hdrtag), ESCROW_E_FORMAT (data after the final chunk), ESCROW_E_BUFSIZE,
 * ESCROW_E_STATE. On error out may have been written to but holds nothing unverified. */
ESCROW_EXTERN int escrow_decryptor_update(escrow_decryptor *d, uint8_t *out, size_t out_size,
                                          size_t *written, const uint8_t *in,
                                          size_t in_len) ESCROW_WARN_UNUSED;

/* Most bytes escrow_decryptor_final may write (one chunk). */
ESCROW_EXTERN size_t escrow_decryptor_final_bound(const escrow_decryptor *d);

/* End of input: verify and release the final chunk. ESCROW_E_TRUNCATED when the input ended
 * before the final chunk (or inside the header), ESCROW_E_AUTH when the held chunk is not a
 * valid final chunk. Only after this returns 0 is the whole plaintext authentic. */
ESCROW_EXTERN int escrow_decryptor_final(escrow_decryptor *d, uint8_t *out, size_t out_size,
                                         size_t *written) ESCROW_WARN_UNUSED;

/* The verified header, or NULL until it has been read and verified. Borrowed. */
ESCROW_EXTERN const escrow_header *escrow_decryptor_header(const escrow_decryptor *d);

ESCROW_EXTERN void escrow_decryptor_free(escrow_decryptor *d);

/* ---- random access ------------------------------------------------------------------------ */

/* Read up to len bytes at offset into buf; *got = bytes read (short only at end of source).
 * Return 0 or a negative ESCROW_E_* code. */
typedef int (*escrow_read_at_fn)(void *payload, uint64_t offset, uint8_t *buf, size_t len,
                                 size_t *got);

typedef struct escrow_reader escrow_reader;

/* Open a v1 file of file_size bytes for random access: reads and verifies the header, then
 * the final chunk (so a truncated file is refused up front). Memory: one chunk. */
ESCROW_EXTERN int escrow_reader_open(escrow_reader **out, const escrow_cek *cek,
                                     escrow_read_at_fn read_at, void *payload,
                                     uint64_t file_size,
                                     const escrow_decrypt_options *opts) ESCROW_WARN_UNUSED;

/* Same over a file path (the file stays open until escrow_reader_free). */
ESCROW_EXTERN int escrow_reader_open_file(escrow_reader **out, const escrow_cek *cek,
                                          const char *path,
                                          const escrow_decrypt_options *opts) ESCROW_WARN_UNUSED;

/* Plaintext size. */
ESCROW_EXTERN uint64_t escrow_reader_size(const escrow_reader *r);

/* Read verified plaintext at any offset: costs one chunk read and decrypt per chunk touched.
 * *got is short only at the end of the plaintext. */
ESCROW_EXTERN int escrow_reader_pread(escrow_reader *r, uint8_t *buf, size_t len,
                                      uint64_t offset, size_t *got) ESCROW_WARN_UNUSED;

ESCROW_EXTERN const escrow_header *escrow_reader_header(const escrow_reader *r);
ESCROW_EXTERN void escrow_reader_free(escrow_reader *r);

/* ---- descriptors and files ----------------------------------------------------------------- */

/* Encrypt in_fd to out_fd as v1 until end of input. hdrtag (32 bytes) receives the header tag
 * if not NULL. progress may be NULL. */
ESCROW_EXTERN int escrow_encrypt_fd(const escrow_cek *cek, const escrow_encrypt_options *opts,
                                    int in_fd, int out_fd, uint8_t *hdrtag,
                                    escrow_progress_cb progress, void *payload);

/* Decrypt a v1 stream from in_fd to out_fd. out_fd receives verified chunks only, but a stream
 * that fails part-way leaves a prefix in out_fd: callers that write files use
 * escrow_decrypt_file, which removes its output on failure. */
ESCROW_EXTERN int escrow_decrypt_fd(const escrow_cek *cek, const escrow_decrypt_options *opts,
                                    int in_fd, int out_fd, escrow_progress_cb progress,
                                    void *payload) ESCROW_WARN_UNUSED;

/* Encrypt a file to out_path (v1, or v0 when format is ESCROW_FORMAT_V0: fresh salt, refused
 * over ESCROW_LEGACY_MAX_PLAINTEXT). The output is written under a temporary name, fsynced and
 * renamed over out_path only on success. hdrtag as for escrow_encrypt_fd (v1 only). */
ESCROW_EXTERN int escrow_encrypt_file(const escrow_cek *cek, const escrow_encrypt_options *opts,
                                      escrow_file_format format, const char *in_path,
                                      const char *out_path, uint8_t *hdrtag,
                                      escrow_progress_cb progress, void *payload);

/* Decrypt a v1 or v0 file (told by its magic) to out_path, atomically: after any failure
 * out_path does not exist (or keeps its old content) and no plaintext is left on disk.
 * v0 is verified in a first pass before any plaintext is written. */
ESCROW_EXTERN int escrow_decrypt_file(const escrow_cek *cek, const escrow_decrypt_options *opts,
                                      const char *in_path, const char *out_path,
                                      escrow_progress_cb progress,
                                      void *payload) ESCROW_WARN_UNUSED;

/* ---- legacy v0 ------------------------------------------------------------------------------ */

/* Decrypt a whole v0 file held in memory; the tag is verified before *out is filled.
 * *out is freed with escrow_secret_free. Errors: ESCROW_E_FORMAT (no "Salted__" or shorter
 * than 32 bytes), ESCROW_E_AUTH, ESCROW_E_NOMEM. */
ESCROW_EXTERN int escrow_legacy_decrypt_mem(const escrow_cek *cek, const uint8_t *in,
                                            size_t in_len, uint8_t **out,
                                            size_t *out_len) ESCROW_WARN_UNUSED;

/* Decrypt a v0 file from a seekable in_fd: pass one verifies the tag without writing, pass two
 * writes the plaintext. Errors as above plus ESCROW_E_IO. */
ESCROW_EXTERN int escrow_legacy_decrypt_fd(const escrow_cek *cek, int in_fd,
                                           int out_fd) ESCROW_WARN_UNUSED;

/* Write v0 (only for uploads to services that read nothing else): a fresh random salt per
 * call, always; ESCROW_E_LIMIT past ESCROW_LEGACY_MAX_PLAINTEXT. */
ESCROW_EXTERN int escrow_legacy_encrypt_fd(const escrow_cek *cek, int in_fd, int out_fd);

#ifdef __cplusplus
}
#endif
#endif
