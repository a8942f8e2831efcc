/*
 * libescrow error model.
 *
 * Every fallible call returns int: 0 on success, a negative ESCROW_E_* code otherwise. The
 * code says the family of failure; escrow_error_last() says exactly what went wrong, for the
 * calling thread, in words meant for the person running the program. Messages never contain
 * key material or plaintext. Codes are stable: new ones are added, none is renumbered.
 */
#ifndef ESCROW_ERROR_H
#define ESCROW_ERROR_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum escrow_error_code {
  ESCROW_OK = 0,
  ESCROW_E_INVALID = -1,     /* a bad argument: NULL, out of range, wrong combination */
  ESCROW_E_NOMEM = -2,       /* out of memory */
  ESCROW_E_IO = -3,          /* reading or writing a file or descriptor failed */
  ESCROW_E_FORMAT = -4,      /* input does not follow its format's rules */
  ESCROW_E_AUTH = -5,        /* authentication failed: wrong key, or the data was altered */
  ESCROW_E_KEY = -6,         /* key material unusable: size, encoding, type, too weak */
  ESCROW_E_UNSUPPORTED = -7, /* a version, suite, flag or critical field this build can't read */
  ESCROW_E_TRUNCATED = -8,   /* input ended early (e.g. the final chunk is missing) */
  ESCROW_E_LIMIT = -9,       /* a size or count limit was exceeded */
  ESCROW_E_CRYPTO = -10,     /* the crypto backend failed unexpectedly */
  ESCROW_E_NOTFOUND = -11,   /* a file, entry or key was not found */
  ESCROW_E_EXISTS = -12,     /* the output already exists */
  ESCROW_E_STATE = -13,      /* the call is not valid in the handle's state (e.g. after final) */
  ESCROW_E_BUFSIZE = -14,    /* the output buffer is smaller than the documented bound */
  ESCROW_E_MISMATCH = -15,   /* authentic data in the wrong place: path/context/manifest mismatch */
  ESCROW_E_CHECK = -16       /* a content check failed (e.g. an algorithm upload check) */
} escrow_error_code;

/* Static, never-NULL description of a code ("authentication failed", ...). */
ESCROW_EXTERN const char *escrow_strerror(int code);

/* The calling thread's last detailed error message, or "" if none. Valid until the thread's
 * next libescrow call. Never contains secret material, and never a control character: one
 * quoted from input (a claim name, a kid) is shown as '?'. */
ESCROW_EXTERN const char *escrow_error_last(void);

/* The code that went with escrow_error_last(), or 0. */
ESCROW_EXTERN int escrow_error_last_code(void);

/* Forget the calling thread's last error. */
ESCROW_EXTERN void escrow_error_clear(void);

#ifdef __cplusplus
}
#endif
#endif
