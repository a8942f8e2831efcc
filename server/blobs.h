/*
 * escrowd: uploaded files, content-addressed: <data>/blobs/<2 hex>/<64 hex> named by SHA-256,
 * written under a temporary name, fsync'd, renamed, the folder fsync'd, all before the
 * database row that refers to it is committed. A crash leaves at worst an unreferenced blob
 * or temporary file, never a referenced half-written one.
 */
#ifndef ESCROWD_BLOBS_H
#define ESCROWD_BLOBS_H

#include <stddef.h>

/* Store data; hex receives the SHA-256 (65 bytes). 0 or -1 (message in err). */
int srv_blob_put(const char *data_dir, const unsigned char *data, size_t len, char hex[65],
                 char *err, size_t errsz);

/* Read a blob back (malloc'd). 0 or -1. */
int srv_blob_get(const char *data_dir, const char *hex, unsigned char **out, size_t *len);

/* Remove the temporary files a crash left in the blob folders (call before serving, when no
 * upload is in flight). Returns how many were removed. */
int srv_blob_sweep(const char *data_dir);

/* The path of a stored blob. 0 or -1 (bad hex, path too long). */
int srv_blob_path(const char *data_dir, const char *hex, char *path, size_t size);

void srv_sha256_hex(const unsigned char *data, size_t len, char hex[65]);

#endif
