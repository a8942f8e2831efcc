/*
 * libescrow packages: algorithm zips (the layout BeeKeeperAI's tools produce, DESIGN §4) and
 * encrypted dataset folders with their MAC'd manifest (DESIGN §3).
 *
 * Zip reading is hardened: absolute paths, "..", links, duplicate names, too many entries,
 * too large entries and suspicious compression ratios are refused with a clear error.
 */
#ifndef ESCROW_PACKAGE_H
#define ESCROW_PACKAGE_H

#include "common.h"
#include "envelope.h"
#include "keys.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ESCROW_SECRETS_FILE "secrets.yaml"
#define ESCROW_MANIFEST_FILE ".escrow-manifest.bkenc"
#define ESCROW_MANIFEST_PATH ".escrow-manifest" /* its context 0x04 */
#define ESCROW_MANIFEST_FORMAT "escrow-dataset-manifest/1"

/* ---- zip limits ------------------------------------------------------------------------- */

#define ESCROW_ZIP_LIMITS_VERSION 1
typedef struct escrow_zip_limits {
  unsigned int version;
  uint64_t max_entries;     /* default 10000 */
  uint64_t max_entry_size;  /* uncompressed, default 8 GiB */
  uint64_t max_total_size;  /* uncompressed sum, default 16 GiB */
  uint32_t max_ratio;       /* uncompressed/compressed per entry over 1 MiB, default 200 */
} escrow_zip_limits;
#define ESCROW_ZIP_LIMITS_INIT                                                                 \
  {ESCROW_ZIP_LIMITS_VERSION, 10000, UINT64_C(8) << 30, UINT64_C(16) << 30, 200}

/* ---- algorithm packages -------------------------------------------------------------------- */

#define ESCROW_PACK_OPTIONS_VERSION 1
typedef struct escrow_pack_options {
  unsigned int version;
  escrow_file_format format; /* ESCROW_FORMAT_V1 (default when 0) or ESCROW_FORMAT_V0 */
  escrow_context context;    /* project/role/asset/key id for v1 headers; path is set per file */
  escrow_progress_cb progress; /* files done / total; may be NULL */
  void *progress_payload;
} escrow_pack_options;
#define ESCROW_PACK_OPTIONS_INIT {ESCROW_PACK_OPTIONS_VERSION, ESCROW_FORMAT_V1, {0, 0, 0, 0, 0}, 0, 0}

/* Pack the algorithm folder dir into out_zip. Each path in secrets (relative to dir; a folder
 * means every file under it) is encrypted to "<path>.bkenc" and its plaintext left out; every
 * other regular file is stored as is; secrets.yaml (secretFiles: [[encrypted, original], ...])
 * is generated. If secrets is empty, dir must already hold a secrets.yaml, whose list is used
 * (as escrowai-encrypt does). Symbolic links, a Dockerfile or entry point named as a secret,
 * and secrets outside dir are refused. The zip is written under a temporary name and renamed
 * on success. Errors: ESCROW_E_INVALID, ESCROW_E_NOTFOUND, ESCROW_E_IO, ESCROW_E_FORMAT
 * (bad secrets.yaml), ESCROW_E_NOMEM, ESCROW_E_CRYPTO. */
ESCROW_EXTERN int escrow_algorithm_pack(const char *dir, const escrow_cek *cek,
                                        const char *const *secrets, size_t n_secrets,
                                        const escrow_pack_options *opts, const char *out_zip);

typedef struct escrow_algorithm escrow_algorithm;

/* Open an algorithm zip (ours, or escrowai-encrypt's, EscrowAICI's, bkai_encrypt's, quirks
 * included) and read its secrets.yaml if present. limits may be NULL for the defaults.
 * Errors: ESCROW_E_NOTFOUND, ESCROW_E_IO, ESCROW_E_FORMAT (not a zip, unsafe entry name, link,
 * duplicate, unparsable secrets.yaml), ESCROW_E_LIMIT, ESCROW_E_NOMEM. */
ESCROW_EXTERN int escrow_algorithm_open(escrow_algorithm **out, const char *zip_path,
                                        const escrow_zip_limits *limits);

/* Entries (files only, in zip order). Borrowed names. */
ESCROW_EXTERN size_t escrow_algorithm_entry_count(const escrow_algorithm *a);
ESCROW_EXTERN const char *escrow_algorithm_entry_name(const escrow_algorithm *a, size_t i);

/* secretFiles pairs: encrypted path in the zip, original path it decrypts to. Borrowed. */
ESCROW_EXTERN size_t escrow_algorithm_secret_count(const escrow_algorithm *a);
ESCROW_EXTERN int escrow_algorithm_secret(const escrow_algorithm *a, size_t i,
                                          const char **encrypted, const char **original);

/* The upload checks of manual §14.5.5.1 as one JSON document (freed with escrow_free):
 * {"passed":bool,"checks":[{"name":"Dockerfile is present","status":"passed"|"failed"|
 * "not checked","detail":"..."},...]} with, in order, "Dockerfile is present", "Secrets file
 * is present", "WCEK file is present" (wcek_present: 1 yes, 0 no, -1 not known: "not
 * checked"), then "Secret files are present" and "Entry point is present" (the plaintext file
 * the Dockerfile's ENTRYPOINT/CMD runs, when it names one in the package). "passed" is true
 * when no check failed. Returns 0 whatever the outcome; ESCROW_E_NOMEM otherwise. */
ESCROW_EXTERN int escrow_algorithm_check(const escrow_algorithm *a, int wcek_present,
                                         char **json);

/* Extract the package to out_dir (which must not exist; created 0700): plaintext entries as
 * they are, every secret decrypted (v1 or v0; v1 path context checked against the original
 * name; EscrowAICI's chained-key v0 packages accepted as a fallback) to its original path;
 * the .bkenc entries themselves are not written. On failure out_dir is removed.
 * Errors: ESCROW_E_AUTH, ESCROW_E_MISMATCH, ESCROW_E_FORMAT, ESCROW_E_IO, ESCROW_E_EXISTS,
 * ESCROW_E_LIMIT, ESCROW_E_NOMEM. */
ESCROW_EXTERN int escrow_algorithm_extract(const escrow_algorithm *a, const escrow_cek *cek,
                                           const char *out_dir) ESCROW_WARN_UNUSED;

ESCROW_EXTERN void escrow_algorithm_free(escrow_algorithm *a);

/* ---- datasets -------------------------------------------------------------------------------- */

#define ESCROW_DATASET_OPTIONS_VERSION 1
typedef struct escrow_dataset_options {
  unsigned int version;
  escrow_file_format format;  /* encrypt: ESCROW_FORMAT_V1 (default when 0) or V0 (no manifest)*/
  escrow_context context;     /* project/role/asset/key id for v1 headers; path set per file */
  const char *dataset_version;  /* encrypt: written in the manifest; may be NULL */
  int require_manifest;       /* decrypt: refuse a folder without a manifest */
  escrow_progress_cb progress;  /* bytes done / total; may be NULL */
  void *progress_payload;
} escrow_dataset_options;
#define ESCROW_DATASET_OPTIONS_INIT                                                             \
  {ESCROW_DATASET_OPTIONS_VERSION, ESCROW_FORMAT_V1, {0, 0, 0, 0, 0}, 0, 0, 0, 0}

/* Encrypt every regular file under in_dir to out_dir/<relpath>.bkenc (out_dir is created; an
 * existing non-empty out_dir is refused), file by file, each with its own salt and its
 * relative path in the header, and (v1) write the manifest ESCROW_MANIFEST_FILE. Hidden files
 * and folders (names starting with ".") are encrypted like any other: nothing is skipped
 * silently. Symbolic links, other non-regular files, names that are not clean UTF-8 paths and
 * files already ending in ".bkenc" are refused (ESCROW_E_INVALID, naming the file). progress
 * reports plaintext bytes. On failure out_dir is removed. Errors: ESCROW_E_INVALID,
 * ESCROW_E_EXISTS, ESCROW_E_NOTFOUND, ESCROW_E_IO, ESCROW_E_NOMEM, ESCROW_E_CRYPTO. */
ESCROW_EXTERN int escrow_dataset_encrypt(const char *in_dir, const char *out_dir,
                                         const escrow_cek *cek,
                                         const escrow_dataset_options *opts);

/* Decrypt every "*.bkenc" file under in_dir to out_dir/<relpath without .bkenc> (files 0600,
 * folders 0700; out_dir must not exist or be empty). With a manifest, everything is checked
 * before any plaintext is written: the set of files (missing or added files), each file's path
 * context (swapped files), header tag (rolled-back or replaced files) and size, each with its
 * own message and ESCROW_E_MISMATCH; the context fields set in opts->context (project, role,
 * asset, key id) must match too. Without a manifest (v0 datasets), files are decrypted one by
 * one, v1 files with their path checked; opts->require_manifest refuses that
 * (ESCROW_E_MISMATCH: a removed manifest is a dataset that fails the rule, not a missing
 * input). Other files are ignored. On failure out_dir is removed. Errors also:
 * ESCROW_E_AUTH, ESCROW_E_FORMAT, ESCROW_E_EXISTS, ESCROW_E_IO, ESCROW_E_NOMEM. */
ESCROW_EXTERN int escrow_dataset_decrypt(const char *in_dir, const char *out_dir,
                                         const escrow_cek *cek,
                                         const escrow_dataset_options *opts) ESCROW_WARN_UNUSED;

/* ---- dataset manifest ------------------------------------------------------------------------ */

typedef struct escrow_manifest escrow_manifest;

/* Decrypt and parse a manifest file's bytes (a BKENC v1 file with path ".escrow-manifest").
 * Errors: ESCROW_E_AUTH, ESCROW_E_MISMATCH (wrong path context), ESCROW_E_FORMAT (bad JSON,
 * unsorted or duplicate paths, bad hdrtag hex), ESCROW_E_LIMIT, ESCROW_E_NOMEM. */
ESCROW_EXTERN int escrow_manifest_decode(escrow_manifest **out, const escrow_cek *cek,
                                         const uint8_t *data, size_t len) ESCROW_WARN_UNUSED;

ESCROW_EXTERN size_t escrow_manifest_count(const escrow_manifest *m);
/* Entry i: plaintext relative path (borrowed), plaintext size, 32-byte header tag (borrowed).*/
ESCROW_EXTERN int escrow_manifest_entry(const escrow_manifest *m, size_t i, const char **path,
                                        uint64_t *size, const uint8_t **hdrtag);
/* Index of path, or ESCROW_E_NOTFOUND. */
ESCROW_EXTERN int escrow_manifest_find(const escrow_manifest *m, const char *path, size_t *index);
/* The manifest's dataset_version, or NULL. Borrowed. */
ESCROW_EXTERN const char *escrow_manifest_dataset_version(const escrow_manifest *m);
ESCROW_EXTERN void escrow_manifest_free(escrow_manifest *m);

/* Runtime parameter names (manual 14.7.5), the one rule escrowd and escrow-enclave apply: a
 * letter, then letters and digits, then segments of '_', '-' or '.' each followed by letters and
 * digits; at most 128 bytes; and not a name the runtime sets itself (PATH, HOME, TMPDIR, LANG,
 * ENCLAVE_URL, the CA bundle variables, PYTHONPATH, PYTHONHOME, MLFLOW_TRACKING_URI, ESCROW_*,
 * LD_*, BWRAP*; compared without case). 1 when acceptable, 0 otherwise (NULL included). */
ESCROW_EXTERN int escrow_runtime_param_name_ok(const char *name);

#ifdef __cplusplus
}
#endif
#endif
