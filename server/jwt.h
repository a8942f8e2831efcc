/*
 * escrowd: JSON Web Tokens as BeeKeeperAI's API sample makes them (RS256, claims iss, exp,
 * aud, sub = project id, user = email). Parsing is separate from verification so the parser
 * can be fuzzed on its own. Only "RS256" is accepted: "none", HS* and every other algorithm
 * are refused before any key is looked at.
 */
#ifndef ESCROWD_JWT_H
#define ESCROWD_JWT_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#define SRV_JWT_MAX_TOKEN 8192
#define SRV_JWT_MAX_AUD 8

typedef struct srv_jwt {
  char *iss, *sub, *user;          /* NULL when absent */
  char *aud[SRV_JWT_MAX_AUD];      /* "aud" as a string or an array of strings */
  size_t naud;
  int64_t exp, nbf, iat;
  int has_exp, has_nbf, has_iat;
  char *signing_input;             /* header "." payload, as received */
  size_t signing_len;
  unsigned char *sig;
  size_t sig_len;
} srv_jwt;

/* Parse a compact JWS (len bytes, need not be NUL-terminated). Refuses: more or fewer than three
 * parts, non-base64url text or padding, a header that is not a JSON object, alg other than
 * RS256, a "crit" header, typ other than JWT, duplicate members, claims of the wrong type.
 * Returns 0 and *out (free with srv_jwt_free), or -1 with a reason in err. */
int srv_jwt_parse(srv_jwt **out, const char *token, size_t len, char *err, size_t errsz);

/* Verify the RS256 signature with an RSA public key of at least 2048 bits. 0 or -1. */
int srv_jwt_verify_rs256(const srv_jwt *jwt, EVP_PKEY *key, char *err, size_t errsz);

/* Check iss (exact), exp (required, now - skew < exp, and at most max_lifetime + skew ahead:
 * the sample's tokens live 5 minutes, a token valid for days is refused), nbf and iat (if
 * present, not more than skew in the future) and aud (required: one of the token's audiences
 * is in auds). 0 or -1. */
int srv_jwt_check_claims(const srv_jwt *jwt, int64_t now, int64_t skew, int64_t max_lifetime,
                         const char *iss, const char *const *auds, size_t nauds, char *err,
                         size_t errsz);

void srv_jwt_free(srv_jwt *jwt);

/* base64url without padding; returns a malloc'd buffer (NUL-terminated) or NULL. */
unsigned char *srv_b64url_decode(const char *in, size_t len, size_t *out_len);

#endif
