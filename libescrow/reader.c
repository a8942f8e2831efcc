/*
 * libescrow envelope: random access to BKENC v1 files (escrow_reader_*).
 *
 * Opening reads and verifies the header, derives the chunk layout from the file size, and
 * verifies the final chunk before anything else (so a truncated or extended file is refused
 * up front, and the plaintext size is authentic). Each pread then reads and verifies exactly
 * the chunks it touches. The one chunk buffer doubles as a cache of the last chunk decrypted
 * in place, so small sequential reads cost one decryption per chunk. A whole chunk the caller
 * asked for is decrypted straight into the caller's buffer; if its tag fails, everything this
 * call wrote is wiped before the error returns. After any error the reader is dead.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "envelope_internal.h"

typedef struct fd_source {
  int fd;
  char *path;
} fd_source;

struct escrow_reader {
  escrow_header *hdr;
  EVP_CIPHER_CTX *cipher;
  escrow_read_at_fn read_at;
  void *payload;
  fd_source *src; /* owned, for escrow_reader_open_file */
  uint64_t pt_size;
  uint64_t nchunks;
  size_t hlen, cs, cts, last_ct;
  unsigned log2cs;
  bool dead;
  bool cached; /* cbuf holds the verified plaintext of chunk cached_idx */
  uint64_t cached_idx;
  uint8_t *cbuf;
};

static size_t chunk_ct_len(const escrow_reader *r, uint64_t idx) {
  return idx == r->nchunks - 1 ? r->last_ct : r->cts;
}

/* Read the ciphertext of chunk idx into cbuf (invalidating the cache). */
static int read_chunk(escrow_reader *r, uint64_t idx) {
  size_t len = chunk_ct_len(r, idx), got = 0;
  r->cached = false;
  uint64_t off = (uint64_t)r->hlen + idx * (uint64_t)r->cts;
  int rc = r->read_at(r->payload, off, r->cbuf, len, &got);
  if (rc != 0)
    return rc < 0 ? rc : escrow__err(ESCROW_E_IO, "reading chunk %llu failed",
                                     (unsigned long long)idx);
  if (got != len)
    return escrow__err(ESCROW_E_TRUNCATED, "the file is shorter than when it was opened "
                                           "(chunk %llu is incomplete)",
                       (unsigned long long)idx);
  return 0;
}

/* 1 if chunk idx verifies as a final chunk (plaintext wiped), 0 if not, < 0 on error. */
static int chunk_is_final(escrow_reader *r, uint64_t idx) {
  int rc = read_chunk(r, idx);
  if (rc != 0)
    return rc;
  size_t len = chunk_ct_len(r, idx);
  if (len < ESCROW_BKENC_CHUNK_TAG_BYTES)
    return 0;
  rc = escrow__bkenc_chunk_open(r->cipher, r->cbuf, r->cbuf, len, idx, 1);
  if (rc < 0)
    return rc;
  OPENSSL_cleanse(r->cbuf, len);
  return rc == 0;
}

/* The file does not end with a valid final chunk: say why as precisely as we can. */
static int explain_bad_end(escrow_reader *r) {
  uint64_t last = r->nchunks - 1;
  int rc;
  if (r->nchunks >= 2) {
    rc = chunk_is_final(r, last - 1);
    if (rc < 0)
      return rc;
    if (rc == 1)
      return escrow__err(ESCROW_E_FORMAT, "data after the final chunk (chunk %llu)",
                         (unsigned long long)(last - 1));
  }
  if (r->last_ct < ESCROW_BKENC_CHUNK_TAG_BYTES)
    return escrow__err(ESCROW_E_TRUNCATED, "the file size does not fit the chunk layout: it "
                                           "ends %zu bytes into chunk %llu, shorter than a tag "
                                           "(truncated, or data appended)",
                       r->last_ct, (unsigned long long)last);
  rc = read_chunk(r, last);
  if (rc != 0)
    return rc;
  rc = escrow__bkenc_chunk_open(r->cipher, r->cbuf, r->cbuf, r->last_ct, last, 0);
  if (rc < 0)
    return rc;
  if (rc == 0) {
    OPENSSL_cleanse(r->cbuf, r->last_ct);
    return escrow__err(ESCROW_E_TRUNCATED, "missing final chunk: the file ends after chunk "
                                           "%llu, which is not final",
                       (unsigned long long)last);
  }
  return escrow__err(ESCROW_E_AUTH, "chunk %llu failed authentication (altered, truncated or "
                                    "spliced from another file)",
                     (unsigned long long)last);
}

static int reader_open(escrow_reader *r, const escrow_cek *cek, uint64_t file_size,
                       const escrow_decrypt_options *opts) {
  uint8_t hbuf[ESCROW_BKENC_HEADER_MAX];
  size_t want = file_size < sizeof hbuf ? (size_t)file_size : sizeof hbuf, got = 0;
  int rc = r->read_at(r->payload, 0, hbuf, want, &got);
  if (rc != 0)
    return rc < 0 ? rc : escrow__err(ESCROW_E_IO, "reading the header failed");
  rc = escrow_header_parse(&r->hdr, hbuf, got, NULL);
  if (rc != 0)
    return rc;
  rc = escrow__bkenc_open_header(r->hdr, cek->bytes, opts ? opts->expect_path : NULL,
                                 opts ? opts->expect_hdrtag : NULL, &r->cipher);
  if (rc != 0)
    return rc;
  r->hlen = escrow_header_length(r->hdr);
  r->log2cs = escrow_header_log2cs(r->hdr);
  r->cs = (size_t)1 << r->log2cs;
  r->cts = r->cs + ESCROW_BKENC_CHUNK_TAG_BYTES;
  uint64_t body = file_size - r->hlen;
  if (body == 0)
    return escrow__err(ESCROW_E_TRUNCATED, "missing final chunk: the file ends after its "
                                           "header");
  uint64_t rem = body % r->cts;
  r->nchunks = body / r->cts + (rem != 0);
  r->last_ct = rem != 0 ? (size_t)rem : r->cts;
  if (r->nchunks > ESCROW_BKENC_MAX_CHUNKS)
    return escrow__err(ESCROW_E_LIMIT, "the file would hold more than 2^32 chunks");
  r->cbuf = escrow__malloc(r->cts);
  if (r->cbuf == NULL)
    return escrow__err_nomem();
  uint64_t last = r->nchunks - 1;
  if (r->last_ct < ESCROW_BKENC_CHUNK_TAG_BYTES)
    return explain_bad_end(r);
  rc = read_chunk(r, last);
  if (rc != 0)
    return rc;
  rc = escrow__bkenc_chunk_open(r->cipher, r->cbuf, r->cbuf, r->last_ct, last, 1);
  if (rc < 0)
    return rc;
  if (rc == 1)
    return explain_bad_end(r);
  if (r->last_ct == ESCROW_BKENC_CHUNK_TAG_BYTES && r->nchunks > 1)
    return escrow__err(ESCROW_E_FORMAT, "final chunk %llu is empty (only an empty file has an "
                                        "empty final chunk)",
                       (unsigned long long)last);
  r->cached = true;
  r->cached_idx = last;
  r->pt_size = last * (uint64_t)r->cs + (r->last_ct - ESCROW_BKENC_CHUNK_TAG_BYTES);
  return 0;
}

int escrow_reader_open(escrow_reader **out, const escrow_cek *cek, escrow_read_at_fn read_at,
                       void *payload, uint64_t file_size, const escrow_decrypt_options *opts) {
  if (out != NULL)
    *out = NULL;
  if (out == NULL || cek == NULL || read_at == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_reader_open: NULL argument");
  if (opts != NULL && opts->version != ESCROW_DECRYPT_OPTIONS_VERSION)
    return escrow__err(ESCROW_E_INVALID, "escrow_decrypt_options version %u is not supported",
                       opts->version);
  escrow_reader *r = escrow__calloc(1, sizeof *r);
  if (r == NULL)
    return escrow__err_nomem();
  r->read_at = read_at;
  r->payload = payload;
  int rc = reader_open(r, cek, file_size, opts);
  if (rc != 0) {
    escrow_reader_free(r);
    return rc;
  }
  *out = r;
  return 0;
}

static int fd_read_at(void *payload, uint64_t offset, uint8_t *buf, size_t len, size_t *got) {
  fd_source *s = payload;
  return escrow__pread_full(s->fd, buf, len, offset, got, s->path);
}

int escrow_reader_open_file(escrow_reader **out, const escrow_cek *cek, const char *path,
                            const escrow_decrypt_options *opts) {
  if (out != NULL)
    *out = NULL;
  if (out == NULL || cek == NULL || path == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_reader_open_file: NULL argument");
  fd_source *s = escrow__calloc(1, sizeof *s);
  if (s == NULL)
    return escrow__err_nomem();
  s->fd = -1;
  s->path = escrow__strdup(path);
  if (s->path == NULL) {
    escrow__free(s);
    return escrow__err_nomem();
  }
  int rc = 0;
  struct stat st;
  s->fd = open(path, O_RDONLY | O_CLOEXEC);
  if (s->fd < 0)
    rc = escrow__err_errno("cannot open", path);
  else if (fstat(s->fd, &st) != 0)
    rc = escrow__err_errno("cannot stat", path);
  else if (!S_ISREG(st.st_mode))
    rc = escrow__err(ESCROW_E_IO, "'%s' is not a regular file", path);
  escrow_reader *r = NULL;
  if (rc == 0)
    rc = escrow_reader_open(&r, cek, fd_read_at, s, (uint64_t)st.st_size, opts);
  if (rc != 0) {
    if (s->fd >= 0)
      close(s->fd);
    escrow__free(s->path);
    escrow__free(s);
    return rc;
  }
  r->src = s;
  *out = r;
  return 0;
}

uint64_t escrow_reader_size(const escrow_reader *r) { return r ? r->pt_size : 0; }

const escrow_header *escrow_reader_header(const escrow_reader *r) { return r ? r->hdr : NULL; }

static int reader_fail(escrow_reader *r, uint8_t *buf, size_t done, int rc) {
  if (done > 0)
    OPENSSL_cleanse(buf, done);
  OPENSSL_cleanse(r->cbuf, r->cts);
  r->cached = false;
  r->dead = true;
  return rc;
}

int escrow_reader_pread(escrow_reader *r, uint8_t *buf, size_t len, uint64_t offset,
                        size_t *got) {
  if (got != NULL)
    *got = 0;
  if (r == NULL || got == NULL || (buf == NULL && len > 0))
    return escrow__err(ESCROW_E_INVALID, "escrow_reader_pread: NULL argument");
  if (r->dead)
    return escrow__err(ESCROW_E_STATE, "escrow_reader_pread: the reader is dead after an "
                                       "earlier error");
  if (offset >= r->pt_size)
    return 0;
  if ((uint64_t)len > r->pt_size - offset)
    len = (size_t)(r->pt_size - offset);
  size_t done = 0;
  while (done < len) {
    uint64_t pos = offset + done;
    uint64_t idx = pos >> r->log2cs;
    size_t within = (size_t)(pos & (r->cs - 1));
    size_t ct_len = chunk_ct_len(r, idx);
    size_t pt_len = ct_len - ESCROW_BKENC_CHUNK_TAG_BYTES;
    size_t take = pt_len - within;
    if (take > len - done)
      take = len - done;
    int final = idx == r->nchunks - 1;
    if (r->cached && r->cached_idx == idx) {
      memcpy(buf + done, r->cbuf + within, take);
    } else {
      int rc = read_chunk(r, idx);
      if (rc != 0)
        return reader_fail(r, buf, done, rc);
      bool direct = within == 0 && take == pt_len;
      uint8_t *dst = direct ? buf + done : r->cbuf;
      rc = escrow__bkenc_chunk_open(r->cipher, dst, r->cbuf, ct_len, idx, final);
      if (rc == 1 && !final) {
        /* A final chunk before the end? The read fails either way; this names the failure. */
        int f = read_chunk(r, idx);
        if (f == 0)
          f = escrow__bkenc_chunk_open(r->cipher, r->cbuf, r->cbuf, ct_len, idx, 1);
        if (f == 0) {
          OPENSSL_cleanse(r->cbuf, ct_len);
          f = escrow__err(ESCROW_E_FORMAT, "chunk %llu is marked final but is not the last "
                                           "chunk (a second final chunk, or data after the "
                                           "final chunk)",
                          (unsigned long long)idx);
        }
        if (f != 1)
          rc = f;
      }
      if (rc == 1)
        rc = escrow__err(ESCROW_E_AUTH, "chunk %llu failed authentication (altered, reordered "
                                        "or spliced from another file)",
                         (unsigned long long)idx);
      if (rc != 0)
        return reader_fail(r, buf, done, rc);
      if (!direct) {
        r->cached = true;
        r->cached_idx = idx;
        memcpy(buf + done, r->cbuf + within, take);
      }
    }
    done += take;
  }
  *got = done;
  return 0;
}

void escrow_reader_free(escrow_reader *r) {
  if (r == NULL)
    return;
  if (r->cbuf != NULL) {
    OPENSSL_cleanse(r->cbuf, r->cts);
    escrow__free(r->cbuf);
  }
  EVP_CIPHER_CTX_free(r->cipher);
  escrow_header_free(r->hdr);
  if (r->src != NULL) {
    close(r->src->fd);
    escrow__free(r->src->path);
    escrow__free(r->src);
  }
  escrow__free(r);
}
