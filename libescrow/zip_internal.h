/*
 * libescrow hardened zip reader and writer (on libzip). Internal to the package module.
 *
 * Reading refuses, at open: more than max_entries entries; names that are absolute, hold "..",
 * "." or empty components, backslashes or control characters, or are not UTF-8 (a leading "./"
 * is removed first); symbolic links and other non-regular files (Unix external attributes);
 * duplicate names (exact, after the "./" normalisation), and a file whose name is also a
 * folder of another entry; encrypted entries and unsupported compression methods; a declared
 * entry size over max_entry_size, a declared total over max_total_size, and (for entries over
 * 1 MiB) a declared compression ratio over max_ratio. Declared sizes are not trusted when
 * reading: bytes are counted while inflating and reading stops with an error as soon as an
 * entry yields more (or fewer) bytes than declared or the limits allow. Directory entries are
 * accepted and skipped. Zip64 extra fields only in local headers (CPython's force_zip64) are
 * fine: libzip reads sizes from the central directory.
 */
#ifndef ESCROW_ZIP_INTERNAL_H
#define ESCROW_ZIP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "escrow/package.h"

typedef struct escrow__zip escrow__zip;

/* Open a zip file (path) or a zip held in memory (data is not copied: it must outlive the
 * handle). limits may be NULL for ESCROW_ZIP_LIMITS_INIT. Errors: ESCROW_E_NOTFOUND,
 * ESCROW_E_IO, ESCROW_E_FORMAT, ESCROW_E_LIMIT, ESCROW_E_UNSUPPORTED, ESCROW_E_NOMEM. */
int escrow__zip_open_file(escrow__zip **out, const char *path, const escrow_zip_limits *limits);
int escrow__zip_open_mem(escrow__zip **out, const uint8_t *data, size_t len,
                         const escrow_zip_limits *limits);
void escrow__zip_free(escrow__zip *z);

/* Files (directory entries excluded), in zip order. Names are normalised and borrowed. */
size_t escrow__zip_count(const escrow__zip *z);
const char *escrow__zip_name(const escrow__zip *z, size_t i);
uint64_t escrow__zip_size(const escrow__zip *z, size_t i); /* declared uncompressed size */
uint32_t escrow__zip_mode(const escrow__zip *z, size_t i); /* Unix permission bits, or 0 */
/* Index of a file entry by exact (normalised) name, or ESCROW_E_NOTFOUND (not recorded). */
int escrow__zip_find(const escrow__zip *z, const char *name, size_t *index);

/* Stream entry i to sink in pieces, counting bytes against its declared size and the limits.
 * A sink error is returned as is. Errors: ESCROW_E_FORMAT (corrupt data, CRC, size differs
 * from the declared one), ESCROW_E_LIMIT, ESCROW_E_NOMEM, or the sink's. */
typedef int (*escrow__zip_sink)(void *payload, const uint8_t *buf, size_t len);
int escrow__zip_stream(escrow__zip *z, size_t i, escrow__zip_sink sink, void *payload);

/* Read entry i into memory (escrow__malloc; a NUL is appended, not counted); ESCROW_E_LIMIT if
 * it declares more than max bytes. */
int escrow__zip_read(escrow__zip *z, size_t i, size_t max, uint8_t **out, size_t *len);

/* Read the first up to n bytes of entry i into buf (*got may be less for a short entry). */
int escrow__zip_peek(escrow__zip *z, size_t i, uint8_t *buf, size_t n, size_t *got);

/* ---- writer ---------------------------------------------------------------------------------
 * Builds a zip under a temporary name beside path; commit renames it over path (after fsync),
 * abort removes it. Sources named by add_file are read at commit time. Entries get a fixed
 * timestamp (2000-01-01) so layouts are reproducible; callers add them in sorted order. */
typedef struct escrow__zipw escrow__zipw;

int escrow__zipw_open(escrow__zipw **out, const char *path);
/* deflate: compress (plaintext) or store (ciphertext). mode: Unix permission bits. */
int escrow__zipw_add_file(escrow__zipw *w, const char *name, const char *src_path,
                          bool deflate, uint32_t mode);
int escrow__zipw_add_mem(escrow__zipw *w, const char *name, const uint8_t *data, size_t len,
                         bool deflate, uint32_t mode);
/* Write and rename; frees w whatever the outcome (after failure, path is untouched). */
int escrow__zipw_commit(escrow__zipw *w);
void escrow__zipw_abort(escrow__zipw *w);

#endif
