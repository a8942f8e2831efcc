/*
 * Internals of the attest module (attest_*.c): a small JSON tree with canonical output, JOSE
 * helpers (base64url, RSA JWKs, RS256 JWS) and AES key wrap with padding. Not installed.
 */
#ifndef ESCROW_ATTEST_INTERNAL_H
#define ESCROW_ATTEST_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "escrow/attest.h"

/* ---- JSON tree ------------------------------------------------------------------------------
 * Parsed with yajl; nodes come from escrow__malloc. Strings (and object keys) are UTF-8 without
 * NUL characters (a "\u0000" escape is refused) and NUL-terminated; numbers keep their source
 * text. Duplicate object members, more than ESCROW__JSON_MAX_DEPTH levels and more than
 * ESCROW__JSON_MAX_MEMBERS members in one object or array are refused. */
#define ESCROW__JSON_MAX_DEPTH 32
#define ESCROW__JSON_MAX_MEMBERS 1024

typedef enum escrow__jtype {
  ESCROW__J_NULL,
  ESCROW__J_BOOL,
  ESCROW__J_NUMBER,
  ESCROW__J_STRING,
  ESCROW__J_ARRAY,
  ESCROW__J_OBJECT
} escrow__jtype;

typedef struct escrow__json escrow__json;
struct escrow__json {
  escrow__jtype type;
  bool b;              /* BOOL */
  char *s;             /* STRING: value; NUMBER: source text */
  size_t len;          /* length of s */
  size_t n;            /* ARRAY / OBJECT: member count */
  size_t cap;
  char **keys;         /* OBJECT: member names */
  escrow__json **items;
};

/* Parse text[0..len) (one JSON value, nothing after it but whitespace). what names the input in
 * error messages. Returns 0, ESCROW_E_FORMAT (with yajl's reason), ESCROW_E_LIMIT or
 * ESCROW_E_NOMEM. */
int escrow__json_parse(escrow__json **out, const uint8_t *text, size_t len, const char *what);
void escrow__json_free(escrow__json *j);

/* Constructors (NULL on NOMEM, error recorded). */
escrow__json *escrow__json_new(escrow__jtype type);
escrow__json *escrow__json_str(const char *s);
escrow__json *escrow__json_strn(const char *s, size_t len);
escrow__json *escrow__json_int(int64_t v);
escrow__json *escrow__json_bool(bool b);
/* Deep copy. */
escrow__json *escrow__json_copy(const escrow__json *j);
/* Append to an array, or set a member of an object (replacing an existing one). Take
 * ownership of v in every case (freed on failure). Return 0 or ESCROW_E_NOMEM. */
int escrow__json_push(escrow__json *arr, escrow__json *v);
int escrow__json_set(escrow__json *obj, const char *key, escrow__json *v);
/* Remove an object member if present. */
void escrow__json_del(escrow__json *obj, const char *key);

/* Borrowed member of an object, or NULL (also when obj is not an object). */
const escrow__json *escrow__json_get(const escrow__json *obj, const char *key);
/* Member by dot path ("a.b.c") through nested objects, or NULL. */
const escrow__json *escrow__json_path(const escrow__json *obj, const char *path);
/* The string of a member if it is a string, else NULL. */
const char *escrow__json_get_str(const escrow__json *obj, const char *key);
/* An integer member: 0 and *v, ESCROW_E_NOTFOUND if absent, ESCROW_E_FORMAT (recorded with
 * what) if not an integer in int64 range. */
int escrow__json_get_int(const escrow__json *obj, const char *key, int64_t *v, const char *what);

/* Canonical text (RFC 8785-style for our inputs: members sorted by key bytes, no whitespace,
 * minimal string escapes, numbers as written). *out from escrow__malloc, NUL-terminated.
 * Returns 0 or ESCROW_E_NOMEM. */
int escrow__json_canonical(const escrow__json *j, char **out, size_t *out_len);

/* ---- base64url --------------------------------------------------------------------------- */

/* Encode without padding into a fresh escrow__malloc string. NULL on NOMEM (recorded). */
char *escrow__b64url(const uint8_t *in, size_t len);
/* Decode strict base64url (no padding, no whitespace, canonical trailing bits) into a fresh
 * buffer (secure memory if secret, else escrow__malloc; NUL-terminated, not counted).
 * Returns 0, ESCROW_E_FORMAT (recorded with what) or ESCROW_E_NOMEM. */
int escrow__b64url_decode(const char *in, size_t len, bool secret, const char *what,
                          uint8_t **out, size_t *out_len);

/* ---- RSA keys as JWK --------------------------------------------------------------------- */

/* RSA public key from base64url n and e. Returns 0, ESCROW_E_KEY (with what) or NOMEM. */
int escrow__rsa_from_jwk(EVP_PKEY **out, const escrow__json *jwk, const char *what);
/* Base64url n and e of an RSA key (escrow__malloc strings). */
int escrow__rsa_ne(const EVP_PKEY *pkey, char **n, char **e);
/* RFC 7638 thumbprint of an RSA key into kid (ESCROW_ATTEST_KID_SIZE). */
int escrow__rsa_thumbprint(const EVP_PKEY *pkey, char kid[ESCROW_ATTEST_KID_SIZE]);

/* ---- JWS (compact, RS256) ------------------------------------------------------------------ */

typedef struct escrow__jws {
  escrow__json *header;
  escrow__json *payload;
  const char *signing_input; /* borrowed from the caller's text */
  size_t signing_input_len;
  const char *payload_b64; /* borrowed: the payload part */
  size_t payload_b64_len;
  uint8_t *sig;
  size_t sig_len;
} escrow__jws;

/* Split and decode a compact JWS (text[0..len), which must outlive jws): header and payload
 * must be JSON objects. The header's alg must be "RS256" (ESCROW_E_UNSUPPORTED otherwise,
 * naming it), crit is refused, typ (if any) must be "JWT" or "JOSE". what names the input in
 * messages. With defer_payload the payload is left undecoded (jws->payload NULL) until
 * escrow__jws_decode_payload - so that a signature can be checked before the payload is read. */
int escrow__jws_parse(escrow__jws *jws, const char *text, size_t len, const char *what,
                      bool defer_payload);
int escrow__jws_decode_payload(escrow__jws *jws, const char *what);
void escrow__jws_clear(escrow__jws *jws);
/* Verify the RS256 signature with key (RSA >= 2048 bits). 0 or ESCROW_E_AUTH. */
int escrow__jws_verify(const escrow__jws *jws, EVP_PKEY *key, const char *what);
/* Sign header and payload (canonical JSON) with an RSA key: *out compact JWS. */
int escrow__jws_sign(char **out, size_t *out_len, EVP_PKEY *key, const escrow__json *header,
                     const escrow__json *payload);

/* The signer's key (for attest_*.c). */
EVP_PKEY *escrow__signer_pkey(const escrow_attest_signer *s);
EVP_PKEY *escrow__attest_key_pkey(const escrow_attest_key *k);
/* The ephemeral key's public JWK as a tree, or NULL (error recorded). */
escrow__json *escrow__attest_key_jwk_tree(const escrow_attest_key *key);

/* A JWKS of RSA verification keys: the kid-indexed list a trust entry or platform key uses. */
typedef struct escrow__jwks_key {
  char *kid;
  EVP_PKEY *pkey;
} escrow__jwks_key;
typedef struct escrow__jwks {
  escrow__jwks_key *keys;
  size_t n;
} escrow__jwks;
/* Read {"keys":[...]}: RSA keys with a kid and either n/e or x5c (first certificate); keys of
 * another kty or with use other than "sig" are skipped; none usable is ESCROW_E_KEY. */
int escrow__jwks_parse(escrow__jwks *out, const uint8_t *text, size_t len);
void escrow__jwks_clear(escrow__jwks *k);
/* Borrowed key for kid, or NULL. */
EVP_PKEY *escrow__jwks_find(const escrow__jwks *k, const char *kid);

/* ---- AES key wrap with padding (RFC 5649) ------------------------------------------------ */

/* Wrap in[0..len) (1..65536 bytes) with a 16-, 24- or 32-byte key: *out (escrow__malloc) of
 * ((len + 7) / 8) * 8 + 8 bytes. Returns 0, ESCROW_E_INVALID, ESCROW_E_CRYPTO or NOMEM. */
int escrow__kwp_wrap(const uint8_t *key, size_t key_len, const uint8_t *in, size_t len,
                     uint8_t **out, size_t *out_len);
/* Unwrap into secure memory (escrow__secure_free). ESCROW_E_AUTH if the integrity check fails. */
int escrow__kwp_unwrap(const uint8_t *key, size_t key_len, const uint8_t *in, size_t len,
                       uint8_t **out, size_t *out_len);

/* ---- shared helpers ---------------------------------------------------------------------- */

/* now, or the current time if now == 0. */
int64_t escrow__attest_now(int64_t now);
/* Strip one trailing '/' for issuer/authority comparison: 1 if a and b are equal that way. */
bool escrow__authority_equal(const char *a, const char *b);

#endif
