/* Shared helpers for the CMocka unit tests. Include after <cmocka.h>'s prerequisites. */
#ifndef ESCROW_TESTUTIL_H
#define ESCROW_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "internal.h"

/* A fresh empty folder under the build tree's tests/tmp, named after tag. Caller frees. */
char *tu_tmpdir(const char *tag);

/* Path of a file in tests/vectors (static buffer, valid until the next call). */
const char *tu_vector(const char *relpath);

/* Read a whole file (fails the test if it cannot), NUL-terminated after *len bytes so text
 * parsers can take it as a string. Caller frees with free(). */
uint8_t *tu_read(const char *path, size_t *len);

/* Write a whole file (fails the test if it cannot). */
void tu_write(const char *path, const void *data, size_t len);

/* 1 if path exists. */
int tu_exists(const char *path);

/* The fixture CEK (tests/vectors/keys/cek.raw) and KEK pair (kek4096). Caller frees. */
escrow_cek *tu_cek(void);
escrow_kek *tu_kek_private(void);
escrow_kek *tu_kek_public(void);

/* Deterministic pseudo-random bytes (not for keys): fills buf from seed. */
void tu_fill(uint8_t *buf, size_t len, uint32_t seed);

/* Allocation-failure injection: calls fn(ctx) with the k-th allocation failing, for k = 1, 2,
 * ... until a run makes no more than k-1 allocations (the operation completed untouched).
 * Each failing run must return ESCROW_E_NOMEM (or, if allow_other, any negative code);
 * cleanup(ctx) runs after every call so leaks show under ASan. Returns the number of sites. */
unsigned long tu_alloc_failures(int (*fn)(void *ctx), void (*cleanup)(void *ctx), void *ctx,
                                int allow_other);

#endif
