/*
 * libescrow keys: KEK (RSA key pair per project and role), CEK (32-byte AES-256 content key),
 * WCEK (the CEK wrapped with the KEK by RSA-OAEP). See docs/FORMAT.md and DESIGN §2.
 *
 * Secrets (CEK bytes, RSA private keys) live in sodium_malloc memory, are wiped when freed and
 * never appear in error messages.
 */
#ifndef ESCROW_KEYS_H
#define ESCROW_KEYS_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ESCROW_CEK_BYTES 32
/* "sha256:" + 64 hex digits + NUL */
#define ESCROW_KEY_ID_SIZE 72
/* "cek_" + 36-char UUID + ".key" + NUL, and "wcek_" + UUID + ".key.bkenc" + NUL */
#define ESCROW_CEK_FILENAME_SIZE 45
#define ESCROW_WCEK_FILENAME_SIZE 52
#define ESCROW_KEK_DEFAULT_BITS 4096
#define ESCROW_KEK_MIN_BITS 3072

/* ---- CEK ------------------------------------------------------------------------------ */

typedef struct escrow_cek escrow_cek;

/* Make a new random CEK. *out is owned by the caller (escrow_cek_free).
 * Errors: ESCROW_E_INVALID, ESCROW_E_NOMEM. */
ESCROW_EXTERN int escrow_cek_generate(escrow_cek **out);

/* Read a CEK from bytes: exactly 32 raw bytes, or canonical base64 (with padding) of 32 bytes
 * followed by at most one "\n" (or "\r\n"). Anything else: ESCROW_E_KEY with the reason.
 * The input is not kept. Errors: ESCROW_E_INVALID, ESCROW_E_KEY, ESCROW_E_NOMEM. */
ESCROW_EXTERN int escrow_cek_from_bytes(escrow_cek **out, const uint8_t *data, size_t len);

/* Read a CEK file (same rules as escrow_cek_from_bytes; files over 64 bytes are refused
 * unread). Errors: as above plus ESCROW_E_IO, ESCROW_E_NOTFOUND. */
ESCROW_EXTERN int escrow_cek_load(escrow_cek **out, const char *path);

typedef enum escrow_cek_encoding {
  ESCROW_CEK_RAW = 0,   /* 32 raw bytes (what BeeKeeperAI's tools write) */
  ESCROW_CEK_BASE64 = 1 /* base64 of the 32 bytes and one "\n" (what CI tools pass around) */
} escrow_cek_encoding;

/* Write a CEK to path with mode 0600, under a temporary name renamed on success; refuses to
 * replace an existing file (ESCROW_E_EXISTS). Errors: ESCROW_E_INVALID, ESCROW_E_IO,
 * ESCROW_E_EXISTS. */
ESCROW_EXTERN int escrow_cek_save(const escrow_cek *cek, const char *path,
                                  escrow_cek_encoding encoding);

/* Copy the 32 key bytes to out (for bindings and tests; keep copies to a minimum). */
ESCROW_EXTERN int escrow_cek_export(const escrow_cek *cek, uint8_t out[ESCROW_CEK_BYTES]);

/* Constant-time comparison: 1 if equal, 0 if not (or either is NULL). */
ESCROW_EXTERN int escrow_cek_equal(const escrow_cek *a, const escrow_cek *b);

/* Wipe and free. NULL is a no-op. */
ESCROW_EXTERN void escrow_cek_free(escrow_cek *cek);

/* A fresh file name "cek_<uuid4>.key" (manual §12.5). buf must hold ESCROW_CEK_FILENAME_SIZE.*/
ESCROW_EXTERN int escrow_cek_filename(char *buf, size_t size);

/* ---- KEK ------------------------------------------------------------------------------ */

typedef struct escrow_kek escrow_kek;

/* Generate an RSA key pair of `bits` (0 means 4096; below ESCROW_KEK_MIN_BITS is refused).
 * Slow (about a second for 4096 bits). Errors: ESCROW_E_INVALID, ESCROW_E_CRYPTO,
 * ESCROW_E_NOMEM. */
ESCROW_EXTERN int escrow_kek_generate(escrow_kek **out, unsigned bits);

/* Read a public KEK: SubjectPublicKeyInfo as DER, PEM ("-----BEGIN PUBLIC KEY-----"), or
 * base64 of the DER (whitespace allowed). BeeKeeperAI's tools save PEM text in ".der" files;
 * all three are accepted whatever the name. RSA only, modulus >= 3072 bits.
 * Errors: ESCROW_E_INVALID, ESCROW_E_KEY (with the reason), ESCROW_E_NOMEM. */
ESCROW_EXTERN int escrow_kek_public_from_bytes(escrow_kek **out, const uint8_t *data, size_t len);

/* Read a private KEK: unencrypted PKCS#8 as PEM ("-----BEGIN PRIVATE KEY-----") or DER.
 * Traditional PKCS#1 ("-----BEGIN RSA PRIVATE KEY-----", or its DER) is accepted too.
 * Encrypted keys are refused with ESCROW_E_KEY (never a password prompt).
 * The input buffer is not kept (the caller wipes it). Same errors. */
ESCROW_EXTERN int escrow_kek_private_from_bytes(escrow_kek **out, const uint8_t *data, size_t len);

/* File forms of the two readers above (files over 64 KiB are refused with ESCROW_E_KEY).
 * Additional errors: ESCROW_E_IO, ESCROW_E_NOTFOUND. */
ESCROW_EXTERN int escrow_kek_public_load(escrow_kek **out, const char *path);
ESCROW_EXTERN int escrow_kek_private_load(escrow_kek **out, const char *path);

typedef enum escrow_key_encoding {
  ESCROW_KEY_DER = 0,   /* binary DER */
  ESCROW_KEY_PEM = 1,   /* PEM text */
  ESCROW_KEY_BASE64 = 2 /* base64 of the DER, one line, no newline */
} escrow_key_encoding;

/* Export the public half as SPKI in the given encoding. *out is allocated by the library and
 * freed with escrow_free(). Errors: ESCROW_E_INVALID, ESCROW_E_NOMEM, ESCROW_E_CRYPTO. */
ESCROW_EXTERN int escrow_kek_public_export(const escrow_kek *kek, escrow_key_encoding encoding,
                                           uint8_t **out, size_t *out_len);

/* Export the private half as unencrypted PKCS#8 (PEM or DER). *out is secret memory freed
 * with escrow_secret_free(). Errors: ESCROW_E_INVALID (no private half, or ESCROW_KEY_BASE64),
 * ESCROW_E_NOMEM, ESCROW_E_CRYPTO. */
ESCROW_EXTERN int escrow_kek_private_export(const escrow_kek *kek, escrow_key_encoding encoding,
                                            uint8_t **out, size_t *out_len);

/* Write the public half (PEM if encoding is ESCROW_KEY_PEM, else DER) or the private half
 * (PKCS#8 PEM, mode 0600) to path, under a temporary name renamed on success; an existing
 * file is not replaced (ESCROW_E_EXISTS). */
ESCROW_EXTERN int escrow_kek_public_save(const escrow_kek *kek, const char *path,
                                         escrow_key_encoding encoding);
ESCROW_EXTERN int escrow_kek_private_save(const escrow_kek *kek, const char *path);

/* 1 if the handle holds a private key, else 0. */
ESCROW_EXTERN int escrow_kek_has_private(const escrow_kek *kek);

/* Modulus size in bits, or 0 for NULL. */
ESCROW_EXTERN unsigned escrow_kek_bits(const escrow_kek *kek);

/* "sha256:<hex>" of the SPKI DER: the key id written in BKENC context 0x05.
 * buf must hold ESCROW_KEY_ID_SIZE bytes. */
ESCROW_EXTERN int escrow_kek_key_id(const escrow_kek *kek, char *buf, size_t size);

/* Free (wiping the private half). NULL is a no-op. */
ESCROW_EXTERN void escrow_kek_free(escrow_kek *kek);

/* Manual §12.5 file names for a project's KEK: "<project-name><random>-<role>.der" for the
 * public half and "<project-name><random>-<role>.key.pem" for the private half, where
 * <project-name> is the project title hyphenated (runs of anything but ASCII letters and
 * digits become one '-', trimmed, cut to 200 characters; empty becomes "project") and <random>
 * is 8 random lowercase alphanumerics. role is "ao" or "ds". Both names share the same random
 * part.
 * Errors: ESCROW_E_INVALID (bad role, NULL, buffers too small: each needs strlen(project)+32). */
ESCROW_EXTERN int escrow_kek_filenames(const char *project, const char *role, char *pub,
                                       size_t pub_size, char *priv, size_t priv_size);

/* ---- WCEK ------------------------------------------------------------------------------ */

typedef enum escrow_oaep_hash {
  ESCROW_OAEP_AUTO = 0,   /* wrap: SHA-256; unwrap: try SHA-256, then SHA-1 */
  ESCROW_OAEP_SHA256 = 1, /* OAEP and MGF1 with SHA-256, empty label (Web Crypto's default) */
  ESCROW_OAEP_SHA1 = 2    /* OAEP and MGF1 with SHA-1, empty label (BeeKeeperAI's tool) */
} escrow_oaep_hash;

/* Wrap a CEK with a KEK (public half is enough). *out (modulus-size bytes, 512 for RSA-4096)
 * is freed with escrow_free(). Errors: ESCROW_E_INVALID, ESCROW_E_KEY, ESCROW_E_CRYPTO,
 * ESCROW_E_NOMEM. */
ESCROW_EXTERN int escrow_wcek_wrap(const escrow_kek *kek, const escrow_cek *cek,
                                   escrow_oaep_hash hash, uint8_t **out, size_t *out_len);

/* Unwrap a WCEK with the KEK's private half. The result must be exactly 32 bytes. On success
 * *used (if not NULL) tells which hash worked. Errors: ESCROW_E_INVALID (no private half,
 * bad arguments), ESCROW_E_AUTH (wrong key or hash, or altered WCEK: one message for all, so
 * the call is no padding oracle), ESCROW_E_FORMAT (WCEK length differs from the modulus),
 * ESCROW_E_NOMEM. */
ESCROW_EXTERN int escrow_wcek_unwrap(escrow_cek **out, const escrow_kek *kek, const uint8_t *wcek,
                                     size_t wcek_len, escrow_oaep_hash hash,
                                     escrow_oaep_hash *used) ESCROW_WARN_UNUSED;

/* A fresh file name "wcek_<uuid4>.key.bkenc" (manual §12.5).
 * buf must hold ESCROW_WCEK_FILENAME_SIZE. */
ESCROW_EXTERN int escrow_wcek_filename(char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
