/*
 * libescrow legacy v0 ("Salted__") internals shared with the package reader, which needs the
 * quirks of BeeKeeperAI's producers (beekeeper-clients.md §1.4, §2.2):
 * - bkai_encrypt.py's old rstrip: retry with a stripped CEK, a password shorter than 32 bytes;
 * - EscrowAICI's chained keys: secret n is encrypted under PBKDF2(AES key of secret n-1, salt_n),
 *   so the "password" is the 32-byte derived key of the previous secret.
 * Not part of the public API.
 */
#ifndef ESCROW_LEGACY_INTERNAL_H
#define ESCROW_LEGACY_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#define ESCROW__LEGACY_SALT_BYTES 8
#define ESCROW__LEGACY_KEY_BYTES 32
#define ESCROW__LEGACY_IV_BYTES 12
#define ESCROW__LEGACY_TAG_BYTES 16
#define ESCROW__LEGACY_PBKDF2_ITER 10000

/* Decrypt a whole v0 file held in memory with a raw PBKDF2 password of 32 bytes (a CEK, or a
 * chained key from escrow__legacy_derive_key). The tag is verified before *out is filled; *out
 * (secure memory, freed with escrow_secret_free; a 1-byte allocation for an empty plaintext)
 * holds *out_len bytes. Errors: ESCROW_E_FORMAT, ESCROW_E_AUTH, ESCROW_E_NOMEM, ESCROW_E_CRYPTO.*/
int escrow__legacy_decrypt_mem_raw(const uint8_t pw[32], const uint8_t *in, size_t in_len,
                                   uint8_t **out, size_t *out_len);

/* Same with a password of any length pw_len <= 32 (the rstrip quirk: a CEK with its trailing
 * bytes 0x09..0x0d and 0x20 removed; pw_len may be 0). */
int escrow__legacy_decrypt_mem_pw(const uint8_t *pw, size_t pw_len, const uint8_t *in,
                                  size_t in_len, uint8_t **out, size_t *out_len);

/* The 32-byte AES key that a v0 file with this salt uses under password pw (the first 32
 * bytes of PBKDF2-HMAC-SHA-256(pw, salt, 10000, 44)). key_out should be secure memory.
 * Errors: ESCROW_E_CRYPTO, ESCROW_E_NOMEM. */
int escrow__legacy_derive_key(const uint8_t pw[32], const uint8_t salt[8], uint8_t key_out[32]);

/* Length of the password that bkai_encrypt.py's old `.rstrip()` left of a 32-byte CEK:
 * 32 minus the trailing bytes in 0x09..0x0d or 0x20 (0..32). */
size_t escrow__legacy_rstrip_len(const uint8_t cek[32]);

/* escrow_legacy_encrypt_fd with the plaintext cap as a parameter (tests use a small one):
 * ESCROW_E_LIMIT as soon as more than max_plaintext bytes have been read. */
struct escrow_cek;
int escrow__legacy_encrypt_fd_max(const struct escrow_cek *cek, int in_fd, int out_fd,
                                  uint64_t max_plaintext);

#endif
