/*
 * libFuzzer target for legacy v0 ("Salted__") files. The first input byte picks a mode:
 *   even: the rest is a v0 file, read in memory and through a descriptor with a fixed CEK (and
 *         with the rstrip/raw-password entry points); failures must hand out nothing;
 *   odd:  the rest is a plaintext, written as v0 and read back, which must round-trip.
 * Each run costs one or two PBKDF2 derivations (10000 iterations), so runs are slow by design.
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

static void check_decrypt(const uint8_t *data, size_t size) {
  escrow_cek *cek = fuzz_cek();
  uint8_t *out = (uint8_t *)data;
  size_t out_len = 12345;
  int rc = escrow_legacy_decrypt_mem(cek, data, size, &out, &out_len);
  if (rc != 0) {
    if (out != NULL || out_len != 0)
      abort(); /* a failure hands out nothing */
    if (rc != ESCROW_E_FORMAT && rc != ESCROW_E_AUTH)
      abort();
  } else {
    if (out_len + ESCROW_LEGACY_OVERHEAD != size)
      abort();
    escrow_secret_free(out);
  }
  /* The same through descriptors: same verdict, and nothing written on failure. */
  int in = memfd_with(data, size), o = memfd_with(NULL, 0);
  int rc2 = escrow_legacy_decrypt_fd(cek, in, o);
  if (rc2 != rc)
    abort();
  if (rc2 != 0 && fd_len(o) != 0)
    abort();
  close(in);
  close(o);
  /* The raw-password entry point agrees with the CEK one. */
  out = NULL;
  int rc3 = escrow__legacy_decrypt_mem_raw(cek->bytes, data, size, &out, &out_len);
  if (rc3 != rc)
    abort();
  escrow_secret_free(out);
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
  if ((data[0] & 1) == 0)
    check_decrypt(data + 1, size - 1);
  else
    check_round_trip(data + 1, size - 1);
  return 0;
}
