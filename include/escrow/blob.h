/*
 * libescrow blob: a client for a data steward's dataset storage (docs/STORAGE.md):
 *
 * - Azure Blob Storage through a container SAS URL, over libcurl: List Blobs with paging,
 *   streaming Get Blob (with Range), uploads (Put Blob up to 256 MiB, Put Block + Put Block
 *   List for larger files, blocks in parallel). Both URL styles work: virtual host
 *   ("https://<account>.blob.core.windows.net/<container>?<sas>") and path style
 *   ("http://127.0.0.1:10000/<account>/<container>?<sas>", Azurite). Transient failures
 *   (connection errors, timeouts, HTTP 408/429/500/502/503/504) are retried with exponential
 *   backoff; a download resumes from the last byte received, never writing a byte twice.
 * - A local folder, "file:///path/to/folder" (the embedded default for local datasets): blob
 *   names are relative paths under it.
 *
 * Memory use is bounded (one receive buffer per transfer, one block per parallel upload) whatever
 * the blob size. The SAS token is a bearer secret: it never appears in an error message (URLs
 * are reported without their query). A client handle is used by one thread at a time.
 */
#ifndef ESCROW_BLOB_H
#define ESCROW_BLOB_H

#include "common.h"
#include "envelope.h"
#include "keys.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Options flags. */
#define ESCROW_BLOB_ALLOW_LOOPBACK_HTTP 0x1u /* accept http:// on a loopback host (Azurite);
                                                without it only https:// and file:// open */
#define ESCROW_BLOB_PATH_STYLE 0x2u          /* the account is the first path segment on any
                                                host (emulators); automatic for IP literals and
                                                localhost */

#define ESCROW_BLOB_OPTIONS_VERSION 1
typedef struct escrow_blob_options {
  unsigned int version;     /* ESCROW_BLOB_OPTIONS_VERSION */
  unsigned int flags;       /* ESCROW_BLOB_* flags */
  unsigned int max_retries; /* attempts after the first for one request; 0 means 8 */
  unsigned int retry_base_ms; /* first backoff delay, doubled each retry (with jitter, capped
                                 at 30 s); 0 means 250 */
  unsigned int stall_timeout_s; /* abort (and retry) a transfer that moves no byte for this
                                   long; 0 means 60 */
  size_t block_size;        /* upload block size; 0 means 4 MiB (1 KiB to 4000 MiB) */
  size_t single_put_max;    /* files up to this size go up in one Put Blob (up to 4 MiB from
                               memory with a service-checked Content-MD5; above, streamed from
                               the file, its MD5 then set with Set Blob Properties); larger
                               files go in blocks. 0 means 256 MiB (the most) */
  unsigned int parallel;    /* blocks uploaded at once; 0 means 4 (at most 16) */
  const char *ca_file;      /* a PEM bundle to trust instead of the system's (tests), or NULL */
} escrow_blob_options;
#define ESCROW_BLOB_OPTIONS_INIT {ESCROW_BLOB_OPTIONS_VERSION, 0, 0, 0, 0, 0, 0, 0, 0}

typedef struct escrow_blob_client escrow_blob_client;

/* Open a client for a container SAS URL or a file:// folder (which must exist). The URL is
 * parsed strictly (escrow_sas_parse) but not judged: use escrow_sas_check for the EscrowAI
 * rules. opts may be NULL. *out is freed with escrow_blob_close. Errors: ESCROW_E_FORMAT (not a
 * container URL), ESCROW_E_INVALID (http:// without ESCROW_BLOB_ALLOW_LOOPBACK_HTTP, or on a
 * host that is not loopback; bad options), ESCROW_E_NOTFOUND (file:// folder missing),
 * ESCROW_E_NOMEM, ESCROW_E_IO (libcurl could not start). */
ESCROW_EXTERN int escrow_blob_open(escrow_blob_client **out, const char *url,
                                   const escrow_blob_options *opts);

ESCROW_EXTERN void escrow_blob_close(escrow_blob_client *c);

/* The transfer statistics of a client since it was opened (for tests and benchmarks). */
typedef struct escrow_blob_stats {
  uint64_t requests;      /* HTTP requests sent (or files opened, for file://) */
  uint64_t retries;       /* requests repeated after a transient failure */
  uint64_t bytes_down;    /* body bytes received and delivered */
  uint64_t bytes_up;      /* body bytes sent in successful requests */
} escrow_blob_stats;
ESCROW_EXTERN void escrow_blob_get_stats(const escrow_blob_client *c, escrow_blob_stats *out);

/* ---- listing ------------------------------------------------------------------------------- */

typedef struct escrow_blob_item {
  const char *name;         /* the blob name (UTF-8, '/'-separated) */
  uint64_t size;            /* Content-Length */
  const char *content_md5;  /* Base64 MD5 as stored with the blob, or NULL if none */
  const char *etag;         /* or NULL */
  const char *last_modified; /* RFC 1123 text as the service sent it, or NULL */
} escrow_blob_item;

/* Called once per blob, in the service's order (names sorted). Strings are borrowed for the
 * call. Return 0 to go on, or a nonzero value to stop the listing (escrow_blob_list then
 * returns that value). */
typedef int (*escrow_blob_list_cb)(void *payload, const escrow_blob_item *item);

/* List the blobs whose names start with prefix (NULL or "" for all), following NextMarker
 * pages until the end. A file:// folder lists its regular files recursively, sorted by name
 * (symbolic links are not followed; content_md5 is NULL). Errors: ESCROW_E_AUTH (HTTP 403:
 * the SAS does not allow listing, is expired or altered), ESCROW_E_NOTFOUND (404: no such
 * container), ESCROW_E_FORMAT (a response that is not a List Blobs document), ESCROW_E_LIMIT
 * (a name over 1024 bytes), ESCROW_E_IO (network failure after the retries), ESCROW_E_NOMEM,
 * or the callback's nonzero value. */
ESCROW_EXTERN int escrow_blob_list(escrow_blob_client *c, const char *prefix,
                                   escrow_blob_list_cb cb, void *payload);

/* Size and stored Content-MD5 of one blob (Get Blob Properties / stat). md5_b64 (25 bytes) is
 * set to "" when the blob has none; may be NULL. Errors: ESCROW_E_NOTFOUND, ESCROW_E_AUTH,
 * ESCROW_E_IO, ESCROW_E_NOMEM. */
ESCROW_EXTERN int escrow_blob_stat(escrow_blob_client *c, const char *name, uint64_t *size,
                                   char *md5_b64);

/* ---- downloading ----------------------------------------------------------------------------- */

/* Receives the bytes of a blob in order, each exactly once. Return 0, or a negative ESCROW_E_*
 * code to stop the transfer (escrow_blob_get returns it). */
typedef int (*escrow_blob_write_fn)(void *payload, const uint8_t *data, size_t len);

#define ESCROW_BLOB_TO_END UINT64_MAX

/* Stream bytes [offset, offset + length) of a blob (length ESCROW_BLOB_TO_END: to its end) to
 * write. A transfer cut short is resumed with a Range request from the next byte, so write
 * sees every byte once; a blob replaced meanwhile (its ETag changed) fails with
 * ESCROW_E_MISMATCH. Errors: ESCROW_E_NOTFOUND, ESCROW_E_AUTH, ESCROW_E_INVALID (offset past
 * the end), ESCROW_E_TRUNCATED/ESCROW_E_IO (still failing after the retries), ESCROW_E_MISMATCH,
 * ESCROW_E_NOMEM, or write's code. progress (may be NULL) gets bytes done and the total. */
ESCROW_EXTERN int escrow_blob_get(escrow_blob_client *c, const char *name, uint64_t offset,
                                  uint64_t length, escrow_blob_write_fn write, void *payload,
                                  escrow_progress_cb progress, void *progress_payload);

/* Download a blob to out_path atomically (a temporary file renamed on success; nothing left on
 * failure). Errors as escrow_blob_get plus ESCROW_E_IO (writing). */
ESCROW_EXTERN int escrow_blob_get_file(escrow_blob_client *c, const char *name,
                                       const char *out_path, escrow_progress_cb progress,
                                       void *progress_payload);

/* Download and decrypt a blob while it arrives, to out_path atomically. A BKENC v1 blob is
 * decrypted chunk by chunk as the bytes come in (memory: one chunk; nothing of the blob is
 * staged on disk but verified plaintext); a legacy v0 blob (whose single tag is at its end) is
 * first downloaded to a temporary file beside out_path, verified, decrypted, then removed.
 * After any failure out_path does not exist and no plaintext is left. opts may be NULL.
 * Errors as escrow_blob_get and escrow_decrypt_file (ESCROW_E_AUTH, ESCROW_E_FORMAT,
 * ESCROW_E_TRUNCATED, ESCROW_E_MISMATCH, ...). */
ESCROW_EXTERN int escrow_blob_get_decrypt_file(escrow_blob_client *c, const char *name,
                                               const escrow_cek *cek,
                                               const escrow_decrypt_options *opts,
                                               const char *out_path,
                                               escrow_progress_cb progress,
                                               void *progress_payload) ESCROW_WARN_UNUSED;

/* Stream a BKENC v1 blob's plaintext to write as it downloads (for a consumer that never puts
 * the data on disk, e.g. an enclave feeding an algorithm). write receives only plaintext from
 * chunks whose tag verified, in order, each byte once, at most one chunk behind the download;
 * but the whole stream is authentic (not truncated, nothing appended) only when this returns
 * 0: on any error the receiver must discard what it got. Memory: one chunk. Errors as
 * escrow_blob_get_decrypt_file, and ESCROW_E_UNSUPPORTED for a legacy v0 blob (its only tag is
 * at its end: use escrow_blob_get_decrypt_file, which stages the ciphertext). */
ESCROW_EXTERN int escrow_blob_get_decrypt(escrow_blob_client *c, const char *name,
                                          const escrow_cek *cek,
                                          const escrow_decrypt_options *opts,
                                          escrow_blob_write_fn write, void *payload,
                                          escrow_progress_cb progress,
                                          void *progress_payload) ESCROW_WARN_UNUSED;

/* ---- uploading ------------------------------------------------------------------------------- */

#define ESCROW_BLOB_PUT_SKIP_SAME 0x1u /* do nothing if the blob exists with the same size and
                                          the same MD5 as the file */

/* Upload a local file as blob name: one Put Blob up to single_put_max, else Put Block (block
 * ids derived from the block index, `parallel` blocks in flight) and one Put Block List. Each
 * request is retried on transient failures; a block sent twice is harmless (same id, same
 * bytes). The blob's Content-MD5 is set to the file's MD5. *skipped (may be NULL) is set to 1
 * when ESCROW_BLOB_PUT_SKIP_SAME found the blob already there. For file://, the file is copied
 * under a temporary name and renamed. Errors: ESCROW_E_AUTH (403: the SAS lacks write),
 * ESCROW_E_NOTFOUND (local file), ESCROW_E_INVALID (a name that is not a clean relative path),
 * ESCROW_E_LIMIT (over 50000 blocks), ESCROW_E_IO, ESCROW_E_NOMEM. */
ESCROW_EXTERN int escrow_blob_put_file(escrow_blob_client *c, const char *name,
                                       const char *path, unsigned flags, int *skipped,
                                       escrow_progress_cb progress, void *progress_payload);

#ifdef __cplusplus
}
#endif
#endif
