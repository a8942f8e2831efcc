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

/* Remove the temporary files a crash left in the blob folders (and in blobs/ itself, where
 * streamed uploads are written) (call before serving, when no
 * upload is in flight). Returns how many were removed. */
int srv_blob_sweep(const char *data_dir);

/* The path of a stored blob. 0 or -1 (bad hex, path too long). */
int srv_blob_path(const char *data_dir, const char *hex, char *path, size_t size);

/* A file written piece by piece (a streamed upload): under a temporary name in the blob folder
 * while its SHA-256 is computed, then finished (fsync) and adopted under its hash by the rule
 * that accepts it, or removed. Memory use does not depend on the file's size. */
typedef struct srv_blob_writer {
  int fd; /* -1 when not open */
  char tmp[4096];
  void *md; /* EVP_MD_CTX */
  unsigned long long size;
} srv_blob_writer;

/* 0, or -1 with a message in err. */
int srv_blob_writer_open(srv_blob_writer *w, const char *data_dir, char *err, size_t errsz);
int srv_blob_writer_write(srv_blob_writer *w, const void *data, size_t len);
/* Finish the file: fsync'd and closed, still under its temporary name (w->tmp), its SHA-256
 * in hex (65 bytes). The caller adopts it (srv_blob_adopt) or removes it. 0, or -1 (the
 * temporary file is removed). */
int srv_blob_writer_finish(srv_blob_writer *w, char hex[65]);
/* Move a finished temporary file to its content address (rename, folder fsync); when that
 * blob exists already the temporary file is removed. 0 or -1. */
int srv_blob_adopt(const char *data_dir, const char *tmp, const char *hex);
/* Remove the temporary file (no-op when not open). */
void srv_blob_writer_abort(srv_blob_writer *w);

void srv_sha256_hex(const unsigned char *data, size_t len, char hex[65]);

#endif
