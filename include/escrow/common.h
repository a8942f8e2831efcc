/*
 * libescrow: common definitions shared by every module.
 *
 * Threading: escrow_init() is idempotent and thread-safe. A handle (escrow_cek, escrow_kek,
 * escrow_encryptor, ...) is used by one thread at a time unless its header says otherwise.
 * Distinct handles may be used from distinct threads concurrently.
 */
#ifndef ESCROW_COMMON_H
#define ESCROW_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(ESCROW_BUILDING_LIBRARY)
#define ESCROW_EXTERN __attribute__((visibility("default")))
#else
#define ESCROW_EXTERN
#endif

#if defined(__GNUC__) && !defined(SWIG)
#define ESCROW_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define ESCROW_WARN_UNUSED
#endif

/* Library version, e.g. "0.1.0". Static string. */
ESCROW_EXTERN const char *escrow_version(void);

/*
 * Initialise the library (libsodium, OpenSSL algorithm fetches). Idempotent and thread-safe;
 * every other call also initialises on first use, so calling it is optional but lets a program
 * fail early. Returns 0 or ESCROW_E_CRYPTO.
 */
ESCROW_EXTERN int escrow_init(void);

/* Free a non-secret buffer returned by the library (public keys, WCEKs, JSON). NULL is a no-op. */
ESCROW_EXTERN void escrow_free(void *p);

/* Free a secret buffer returned by the library (private-key PEM, ...): wipes then frees.
 * NULL is a no-op. */
ESCROW_EXTERN void escrow_secret_free(void *p);

/* Progress callback for long operations: bytes (or files) done out of total (0 if unknown).
 * Called from the thread that runs the operation. */
typedef void (*escrow_progress_cb)(void *payload, uint64_t done, uint64_t total);

#ifdef __cplusplus
}
#endif
#endif
