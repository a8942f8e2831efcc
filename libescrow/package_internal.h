/*
 * Internals shared by the package module's files (algorithm.c, dataset.c, manifest.c) and
 * their tests and fuzz targets. Not part of the public API.
 */
#ifndef ESCROW_PACKAGE_INTERNAL_H
#define ESCROW_PACKAGE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "escrow/package.h"

#define ESCROW__MANIFEST_MAX_BYTES (UINT64_C(1) << 28)
#define ESCROW__MANIFEST_MAX_FILES 10000000u

/* ---- dataset manifest -------------------------------------------------------------------- */

typedef struct escrow__manifest_builder escrow__manifest_builder;

/* dataset_version may be NULL (written as null). */
int escrow__manifest_builder_new(escrow__manifest_builder **out, const char *dataset_version);
/* Add a file: plaintext relative path (clean), plaintext size, 32-byte header tag. */
int escrow__manifest_builder_add(escrow__manifest_builder *b, const char *path, uint64_t size,
                                 const uint8_t hdrtag[32]);
/* The manifest JSON, files sorted by path (bytewise); ESCROW_E_INVALID on a duplicate path.
 * *json (escrow__malloc, NUL-terminated) holds *len bytes. */
int escrow__manifest_builder_json(escrow__manifest_builder *b, char **json, size_t *len);
/* The encrypted manifest file (BKENC v1, path ".escrow-manifest", other context fields from
 * ctx, whose path is ignored). *out (escrow__malloc) holds *len bytes. */
int escrow__manifest_builder_seal(escrow__manifest_builder *b, const escrow_cek *cek,
                                  const escrow_context *ctx, uint8_t **out, size_t *len);
void escrow__manifest_builder_free(escrow__manifest_builder *b);

/* Parse manifest JSON (the decrypted plaintext). Errors: ESCROW_E_FORMAT, ESCROW_E_LIMIT,
 * ESCROW_E_NOMEM. */
int escrow__manifest_parse_json(escrow_manifest **out, const uint8_t *json, size_t len);

/* escrow_manifest_decode, also requiring that each field set in expect (project, role, asset,
 * key id; path is ignored) equals the manifest header's (ESCROW_E_MISMATCH). */
int escrow__manifest_decode_ex(escrow_manifest **out, const escrow_cek *cek, const uint8_t *data,
                               size_t len, const escrow_context *expect);

/* ---- algorithm packages -------------------------------------------------------------------- */

/* escrow_algorithm_open over a zip held in memory (data must outlive the handle). */
int escrow__algorithm_open_mem(escrow_algorithm **out, const uint8_t *data, size_t len,
                               const escrow_zip_limits *limits);

/* The package file the Dockerfile's entry point runs: the last stage's WORKDIR and its last
 * ENTRYPOINT/CMD (exec or shell form) are read; a script run directly ("./run.sh",
 * "/app/run.sh" with WORKDIR /app) or through a shell or interpreter ("sh run.sh",
 * "python3 app.py") is returned as a package-relative path in *script (escrow__malloc). *script
 * is NULL when the entry point names no package file; *why (static) then says why.
 * Errors: ESCROW_E_NOMEM. */
int escrow__dockerfile_entry_script(const char *text, size_t len, char **script, const char **why);

/* ---- folders ------------------------------------------------------------------------------ */

/* Every regular file under dir (dot files included), as sorted (bytewise) clean relative
 * paths: *out is an array of *n escrow__malloc strings (free with escrow__free_strv).
 * Symbolic links, other non-regular files and names that are not clean relative UTF-8 paths
 * are refused (ESCROW_E_INVALID, naming the file). Errors also: ESCROW_E_NOTFOUND, ESCROW_E_IO,
 * ESCROW_E_NOMEM. */
int escrow__walk_files(const char *dir, char ***out, size_t *n);
void escrow__free_strv(char **v, size_t n);

#endif
