/*
 * libFuzzer target for legacy v0 ("Salted__") files. The low two bits of the first input byte
 * pick a mode for the rest of the input:
 *   0, 1, 2: a v0 file read with a fixed CEK in memory, through descriptors, or through the
 *            raw-password entry point; a failure must hand out (or write) nothing;
 *   3:       a plaintext, written as v0 and read back, which must round-trip and must not
 *            survive a flipped bit.
 * A run that reaches the key derivation costs a PBKDF2 of 10000 iterations: runs are slow.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "legacy_internal.h"

static const uint8_t fuzz_cek_bytes[32] = {
    0xff, 0xb5, 0x0c, 0x41, 0x25, 0x92, 0x6d, 0x4f, 0x92, 0x08, 0xab, 0x09, 0x4e, 0x82, 0xa0, 0x45,
    0xbc, 0x67, 0xf3, 0x2a, 0x8d, 0x51, 0x89, 0x28, 0x99, 0x8a, 0x58, 0x9f, 0x6e, 0x54, 0x44, 0x18};

static escrow_cek *fuzz_cek(void) {
  static escrow_cek *cek;
  if (cek == NULL) {
    cek = escrow__secure_malloc(sizeof *cek);
    if (cek == NULL)
      abort();
    memcpy(cek->bytes, fuzz_cek_bytes, 32);
  }
  return cek;
}

static int memfd_with(const uint8_t *data, size_t len) {
  int fd = memfd_create("fuzz_v0", 0);
  if (fd < 0)
    abort();
  if (len > 0 && escrow__write_all(fd, data, len, NULL) != 0)
    abort();
  return fd;
}

static size_t fd_len(int fd) {
  off_t end = lseek(fd, 0, SEEK_END);
  if (end < 0)
    abort();
  return (size_t)end;
}

static void read_back(int fd, uint8_t *buf, size_t len) {
  size_t got = 0;
  if (escrow__pread_full(fd, buf, len, 0, &got, NULL) != 0 || got != len)
    abort();
}

/* mode 0: in memory; 1: through descriptors; 2: the raw-password entry point. Each checks
 * that a failure hands out (or writes) nothing. Both readers must agree, so modes 0 and 1 share
 * the expected outcome rules: success only with out_len == size - 32. */
static void check_decrypt(int mode, const uint8_t *data, size_t size) {
  escrow_cek *cek = fuzz_cek();
  uint8_t *out = (uint8_t *)data;
  size_t out_len = 12345;
  int rc;
  if (mode == 1) {
    int in = memfd_with(data, size), o = memfd_with(NULL, 0);
    rc = escrow_legacy_decrypt_fd(cek, in, o);
    size_t written = fd_len(o);
    close(in);
    close(o);
    if (rc != 0 && written != 0)
      abort(); /* nothing written on failure */
    if (rc == 0 && written + ESCROW_LEGACY_OVERHEAD != size)
      abort();
  } else {
    rc = mode == 0 ? escrow_legacy_decrypt_mem(cek, data, size, &out, &out_len)
                   : escrow__legacy_decrypt_mem_raw(cek->bytes, data, size, &out, &out_len);
    if (rc != 0 && (out != NULL || out_len != 0))
      abort(); /* a failure hands out nothing */
    if (rc == 0) {
      if (out_len + ESCROW_LEGACY_OVERHEAD != size)
        abort();
      escrow_secret_free(out);
    }
  }
  if (rc != 0 && rc != ESCROW_E_FORMAT && rc != ESCROW_E_AUTH)
    abort();
  /* Files this short or without the magic never reach the key derivation. */
  if ((size < 32 || memcmp(data, "Salted__", 8) != 0) && rc != ESCROW_E_FORMAT)
    abort();
}

static void check_round_trip(const uint8_t *data, size_t size) {
  escrow_cek *cek = fuzz_cek();
  int in = memfd_with(data, size), ct = memfd_with(NULL, 0);
  if (lseek(in, 0, SEEK_SET) != 0)
    abort();
  if (escrow_legacy_encrypt_fd(cek, in, ct) != 0)
    abort();
  size_t ct_len = fd_len(ct);
  if (ct_len != size + ESCROW_LEGACY_OVERHEAD)
    abort();
  uint8_t *buf = malloc(ct_len);
  if (buf == NULL)
    abort();
  read_back(ct, buf, ct_len);
  uint8_t *out = NULL;
  size_t out_len = 0;
  if (escrow_legacy_decrypt_mem(cek, buf, ct_len, &out, &out_len) != 0 || out_len != size ||
      (size > 0 && memcmp(out, data, size) != 0))
    abort();
  escrow_secret_free(out);
  /* One flipped bit anywhere must be caught. */
  size_t at = size > 0 ? (data[0] * 131u + size) % ct_len : ct_len - 1;
  buf[at] ^= 0x10;
  out = NULL;
  if (escrow_legacy_decrypt_mem(cek, buf, ct_len, &out, &out_len) == 0 || out != NULL)
    abort();
  free(buf);
  close(in);
  close(ct);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  if (size > (1u << 20)) /* keep runs bounded */
    return 0;
  switch (data[0] & 3) {
  case 3:
    check_round_trip(data + 1, size - 1);
    break;
  default:
    check_decrypt(data[0] & 3, data + 1, size - 1);
    break;
  }
  return 0;
}
