/* Shared by the libFuzzer targets: a CHECK that aborts (so libFuzzer keeps the input) and the
 * fixture CEK the seed corpora were sealed with (tests/vectors/keys/cek.raw). */
#ifndef ESCROW_FUZZ_COMMON_H
#define ESCROW_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

#define CHECK(x)                                                                               \
  do {                                                                                         \
    if (!(x)) {                                                                                \
      fprintf(stderr, "check failed: %s (line %d)\n", #x, __LINE__);                           \
      abort();                                                                                 \
    }                                                                                          \
  } while (0)

static const uint8_t fuzz_fixture_cek_bytes[32] = {
    0xff, 0xb5, 0x0c, 0x41, 0x25, 0x92, 0x6d, 0x4f, 0x92, 0x08, 0xab, 0x09, 0x4e, 0x82, 0xa0, 0x45,
    0xbc, 0x67, 0xf3, 0x2a, 0x8d, 0x51, 0x89, 0x28, 0x99, 0x8a, 0x58, 0x9f, 0x6e, 0x54, 0x44, 0x18};

/* The fixture CEK, made once per process (kept until exit). */
static inline escrow_cek *fuzz_fixture_cek(void) {
  static escrow_cek *cek;
  if (cek == NULL && escrow__cek_from_raw(&cek, fuzz_fixture_cek_bytes) != 0)
    abort();
  return cek;
}

#endif
