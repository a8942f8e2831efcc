/*
 * libescrow envelope: descriptor and file adaptors over the sans-I/O encryptor and decryptor
 * (and the legacy v0 functions of legacy.c for ESCROW_FORMAT_V0).
 *
 * Memory: one I/O block of input and one of output, ESCROW__IO_BLOCK or one chunk, whichever is
 * larger, whatever the file size. Plaintext buffers are wiped before they are freed. File
 * outputs go through escrow__atomic_open: written under a temporary name, fsynced and renamed
 * on success, removed on failure; plaintext outputs are created with mode 0600.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "envelope_internal.h"

#define ESCROW__IO_BLOCK ((size_t)256 * 1024)

static uint64_t fd_size(int fd) {
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
    return (uint64_t)st.st_size;
  return 0;
}

int escrow_encrypt_fd(const escrow_cek *cek, const escrow_encrypt_options *opts, int in_fd,
                      int out_fd, uint8_t *hdrtag, escrow_progress_cb progress,
                      void *payload) {
  if (cek == NULL || in_fd < 0 || out_fd < 0)
    return escrow__err(ESCROW_E_INVALID, "escrow_encrypt_fd: bad argument");
  escrow_encryptor *e = NULL;
  int rc = escrow_encryptor_new(&e, cek, opts);
  if (rc != 0)
    return rc;
  size_t cs = (size_t)1 << escrow_header_log2cs(escrow_encryptor_header(e));
  size_t blk = cs > ESCROW__IO_BLOCK ? cs : ESCROW__IO_BLOCK;
  /* An update may release the chunk held back from the previous one plus blk/cs chunks. */
  size_t osz = escrow_header_length(escrow_encryptor_header(e)) +
               (blk / cs + 1) * (cs + ESCROW_BKENC_CHUNK_TAG_BYTES);
  uint8_t *in = escrow__malloc(blk), *out = escrow__malloc(osz);
  if (in == NULL || out == NULL) {
    rc = escrow__err_nomem();
    goto done;
  }
  uint64_t total = fd_size(in_fd), done = 0;
  for (;;) {
    size_t got = 0, w = 0;
    rc = escrow__read_full(in_fd, in, blk, &got, NULL);
    if (rc != 0)
      goto done;
    if (got == 0)
      break;
    rc = escrow_encryptor_update(e, out, osz, &w, in, got);
    if (rc == 0)
      rc = escrow__write_all(out_fd, out, w, NULL);
    if (rc != 0)
      goto done;
    done += got;
    if (progress != NULL)
      progress(payload, done, total);
    if (got < blk)
      break;
  }
  size_t w = 0;
  rc = escrow_encryptor_final(e, out, osz, &w);
  if (rc == 0)
    rc = escrow__write_all(out_fd, out, w, NULL);
  if (rc == 0 && hdrtag != NULL)
    memcpy(hdrtag, escrow_header_hdrtag(escrow_encryptor_header(e)), ESCROW_BKENC_HDRTAG_BYTES);
done:
  if (in != NULL) {
    OPENSSL_cleanse(in, blk);
    escrow__free(in);
  }
  escrow__free(out);
  escrow_encryptor_free(e);
  return rc;
}

/* Make *buf (plaintext, wiped when replaced) hold at least need bytes. */
static int ensure_room(uint8_t **buf, size_t *cap, size_t need) {
  if (need <= *cap)
    return 0;
  if (*buf != NULL) {
    OPENSSL_cleanse(*buf, *cap);
    escrow__free(*buf);
  }
  *cap = 0;
  *buf = escrow__malloc(need);
  if (*buf == NULL)
    return escrow__err_nomem();
  *cap = need;
  return 0;
}

int escrow_decrypt_fd(const escrow_cek *cek, const escrow_decrypt_options *opts, int in_fd,
                      int out_fd, escrow_progress_cb progress, void *payload) {
  if (cek == NULL || in_fd < 0 || out_fd < 0)
    return escrow__err(ESCROW_E_INVALID, "escrow_decrypt_fd: bad argument");
  escrow_decryptor *d = NULL;
  int rc = escrow_decryptor_new(&d, cek, opts);
  if (rc != 0)
    return rc;
  /* The output block grows to the update bound of one input block: at most one block plus
   * one chunk, fixed once the header has told the chunk size. */
  const size_t blk = ESCROW__IO_BLOCK;
  size_t osz = 0, w = 0;
  uint8_t *in = escrow__malloc(blk), *out = NULL;
  if (in == NULL) {
    rc = escrow__err_nomem();
    goto done;
  }
  uint64_t total = fd_size(in_fd), done = 0;
  for (;;) {
    size_t got = 0;
    rc = escrow__read_full(in_fd, in, blk, &got, NULL);
    if (rc != 0)
      goto done;
    if (got == 0)
      break;
    rc = ensure_room(&out, &osz, escrow_decryptor_update_bound(d, got));
    if (rc == 0)
      rc = escrow_decryptor_update(d, out, osz, &w, in, got);
    if (rc == 0)
      rc = escrow__write_all(out_fd, out, w, NULL);
    if (rc != 0)
      goto done;
    done += got;
    if (progress != NULL)
      progress(payload, done, total);
    if (got < blk)
      break;
  }
  rc = ensure_room(&out, &osz, escrow_decryptor_final_bound(d));
  if (rc == 0)
    rc = escrow_decryptor_final(d, out, osz, &w);
  if (rc == 0)
    rc = escrow__write_all(out_fd, out, w, NULL);
done:
  escrow__free(in);
  if (out != NULL) {
    OPENSSL_cleanse(out, osz);
    escrow__free(out);
  }
  escrow_decryptor_free(d);
  return rc;
}

int escrow_encrypt_file(const escrow_cek *cek, const escrow_encrypt_options *opts,
                        escrow_file_format format, const char *in_path, const char *out_path,
                        uint8_t *hdrtag, escrow_progress_cb progress, void *payload) {
  if (cek == NULL || in_path == NULL || out_path == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_encrypt_file: NULL argument");
  if (format != ESCROW_FORMAT_V1 && format != ESCROW_FORMAT_V0)
    return escrow__err(ESCROW_E_INVALID, "escrow_encrypt_file: format must be "
                                         "ESCROW_FORMAT_V1 or ESCROW_FORMAT_V0");
  int in_fd = open(in_path, O_RDONLY | O_CLOEXEC);
  if (in_fd < 0)
    return escrow__err_errno("cannot open", in_path);
  escrow__atomic a;
  int rc = escrow__atomic_open(&a, out_path, 0644, false);
  if (rc == 0) {
    if (format == ESCROW_FORMAT_V1) {
      rc = escrow_encrypt_fd(cek, opts, in_fd, a.fd, hdrtag, progress, payload);
    } else {
      if (hdrtag != NULL)
        memset(hdrtag, 0, ESCROW_BKENC_HDRTAG_BYTES);
      rc = escrow_legacy_encrypt_fd(cek, in_fd, a.fd);
    }
    if (rc == 0)
      rc = escrow__atomic_commit(&a);
    else
      escrow__atomic_abort(&a);
  }
  close(in_fd);
  return rc;
}

int escrow_decrypt_file(const escrow_cek *cek, const escrow_decrypt_options *opts,
                        const char *in_path, const char *out_path, escrow_progress_cb progress,
                        void *payload) {
  if (cek == NULL || in_path == NULL || out_path == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_decrypt_file: NULL argument");
  int in_fd = open(in_path, O_RDONLY | O_CLOEXEC);
  if (in_fd < 0)
    return escrow__err_errno("cannot open", in_path);
  uint8_t magic[ESCROW_BKENC_MAGIC_BYTES];
  size_t got = 0;
  int rc = escrow__pread_full(in_fd, magic, sizeof magic, 0, &got, in_path);
  escrow_file_format fmt = rc == 0 ? escrow_detect_format(magic, got) : ESCROW_FORMAT_UNKNOWN;
  if (rc == 0 && fmt == ESCROW_FORMAT_UNKNOWN)
    rc = got < sizeof magic
             ? escrow__err(ESCROW_E_TRUNCATED, "'%s' is too short to be an encrypted file",
                           in_path)
             : escrow__err(ESCROW_E_FORMAT, "'%s' is not an encrypted file (neither BKENC v1 "
                                            "nor legacy \"Salted__\" magic)",
                           in_path);
  if (rc == 0 && fmt == ESCROW_FORMAT_V0 && opts != NULL && opts->expect_hdrtag != NULL)
    rc = escrow__err(ESCROW_E_MISMATCH, "'%s' is a legacy v0 file, which has no header tag to "
                                        "match the expected one",
                     in_path);
  if (rc != 0) {
    close(in_fd);
    return rc;
  }
  escrow__atomic a;
  rc = escrow__atomic_open(&a, out_path, 0600, false);
  if (rc == 0) {
    if (fmt == ESCROW_FORMAT_V1) {
      rc = escrow_decrypt_fd(cek, opts, in_fd, a.fd, progress, payload);
    } else {
      /* v0 carries no context: expect_path cannot apply (see docs/FORMAT.md). */
      rc = escrow_legacy_decrypt_fd(cek, in_fd, a.fd);
      if (rc == 0 && progress != NULL) {
        uint64_t n = fd_size(in_fd);
        progress(payload, n, n);
      }
    }
    if (rc == 0)
      rc = escrow__atomic_commit(&a);
    else
      escrow__atomic_abort(&a);
  }
  close(in_fd);
  return rc;
}
