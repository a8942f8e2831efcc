/*
 * libescrow envelope internals shared by envelope.c, reader.c, fileio.c and the tests.
 * Not installed. See docs/FORMAT.md for the format these implement.
 */
#ifndef ESCROW_ENVELOPE_INTERNAL_H
#define ESCROW_ENVELOPE_INTERNAL_H

#include "internal.h"

/* Offsets of the fixed header fields. */
#define ESCROW__BKENC_OFF_VERSION 8
#define ESCROW__BKENC_OFF_SUITE 9
#define ESCROW__BKENC_OFF_LOG2CS 10
#define ESCROW__BKENC_OFF_FLAGS 11
#define ESCROW__BKENC_OFF_SALT 12
#define ESCROW__BKENC_OFF_CTXLEN 44
#define ESCROW__BKENC_OFF_CONTEXT 46
#define ESCROW__BKENC_NONCE_BYTES 12

#define ESCROW__BKENC_INFO_HEADER "libescrow/v1/header"
#define ESCROW__BKENC_INFO_PAYLOAD "libescrow/v1/payload"

/* The BKENC v1 key schedule over a header whose first body_len bytes (everything before the
 * hdrtag) are hdr: PRK = HKDF-Extract(salt, cek); K_hdr = HKDF-Expand(PRK, "libescrow/v1/header");
 * tag = HMAC-SHA-256(K_hdr, hdr[0..body_len)); and, if kdata is not NULL,
 * K_data = HKDF-Expand(PRK, "libescrow/v1/payload" || tag). Intermediate keys are wiped.
 * The caller compares tag with the stored one (CRYPTO_memcmp) and wipes kdata after use.
 * Returns 0 or ESCROW_E_CRYPTO. */
int escrow__bkenc_derive(const uint8_t cek[ESCROW_CEK_BYTES],
                         const uint8_t salt[ESCROW_BKENC_SALT_BYTES], const uint8_t *hdr,
                         size_t body_len, uint8_t tag[ESCROW_BKENC_HDRTAG_BYTES],
                         uint8_t kdata[32]);

/* N_i = 11-byte big-endian i || (final ? 0x01 : 0x00). */
void escrow__bkenc_nonce(uint8_t nonce[ESCROW__BKENC_NONCE_BYTES], uint64_t index, int final);

/* A new AES-256-GCM context keyed once with K_data, for encryption (enc = 1) or decryption.
 * Returns 0, ESCROW_E_NOMEM or ESCROW_E_CRYPTO. */
int escrow__bkenc_cipher_new(EVP_CIPHER_CTX **out, const uint8_t kdata[32], int enc);

/* Seal one chunk: out receives len ciphertext bytes and the 16-byte tag (len + 16 in all).
 * in and out may be equal (not otherwise overlapping). Returns 0 or ESCROW_E_CRYPTO. */
int escrow__bkenc_chunk_seal(EVP_CIPHER_CTX *c, uint8_t *out, const uint8_t *in, size_t len,
                             uint64_t index, int final);

/* Open one chunk of ct_len >= 16 bytes (ciphertext || tag) into out (ct_len - 16 bytes; out may
 * equal ct). On a tag mismatch out is wiped and 1 is returned WITHOUT recording an error (the
 * caller words it); 0 on success; ESCROW_E_CRYPTO (recorded) if the backend fails. */
int escrow__bkenc_chunk_open(EVP_CIPHER_CTX *c, uint8_t *out, const uint8_t *ct, size_t ct_len,
                             uint64_t index, int final);

/* Check the CEK against a parsed header and the decrypt options (AUTH first, then MISMATCH),
 * and on success return a decryption context keyed with K_data in *cipher. */
int escrow__bkenc_open_header(const escrow_header *h, const uint8_t cek[ESCROW_CEK_BYTES],
                              const char *expect_path, const uint8_t *expect_hdrtag,
                              EVP_CIPHER_CTX **cipher);

/* Bytes of the header before the tag (escrow_header_length() - 32), and the raw header bytes. */
const uint8_t *escrow__header_bytes(const escrow_header *h);

/* Test hook: an encryptor with a fixed salt (test vectors only; never in production). */
int escrow__encryptor_new_with_salt(escrow_encryptor **out, const escrow_cek *cek,
                                    const escrow_encrypt_options *opts,
                                    const uint8_t salt[ESCROW_BKENC_SALT_BYTES]);

/* Test hooks: jump the chunk counter (to test the 2^32-chunk limit without 256 TiB). */
void escrow__encryptor_test_set_index(escrow_encryptor *e, uint64_t index);
void escrow__decryptor_test_set_index(escrow_decryptor *d, uint64_t index);

#endif
