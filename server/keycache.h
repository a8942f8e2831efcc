/*
 * escrowd: RS256 token checks with a cache of users' parsed API public keys. Parsing a PEM key
 * with OpenSSL 3 costs far more than checking an RS256 signature with it, and checking the
 * signature (about 60 us with a 4096-bit key) costs more than the rest of a read request: the
 * cache keeps, per user, the parsed key and the digests of the last few tokens whose signature
 * it verified. An entry is keyed by the user id and the exact PEM text stored for the user, so
 * a key the user replaces is parsed afresh on its first use, and the tokens it verified are
 * forgotten with it.
 *
 * Remembering a verified signature is safe because the check is a pure function of the
 * token's bytes and the key: the same bytes under the same key verify again. Only the
 * signature is remembered; the caller checks every token's claims (expiry, issuer, audience)
 * and membership on every request. Thread-safe.
 */
#ifndef ESCROWD_KEYCACHE_H
#define ESCROWD_KEYCACHE_H

#include "jwt.h"

typedef struct srv_keycache srv_keycache;

/* A cache for up to nslots users (0: 1024). NULL when out of memory. */
srv_keycache *srv_keycache_new(unsigned nslots);
void srv_keycache_free(srv_keycache *kc);

/* Whether jwt's RS256 signature verifies under pem, the key stored for user_id: 0, or -1 with
 * the reason in err (as srv_jwt_verify_rs256; "the registered key cannot be read" when pem is
 * not a PEM public key). kc NULL checks without caching. */
int srv_keycache_verify(srv_keycache *kc, const char *user_id, const char *pem,
                        const srv_jwt *jwt, char *err, size_t errsz);

/* How many signatures kc has checked with RSA (cache misses), for tests and statistics. */
unsigned long srv_keycache_rsa_checks(srv_keycache *kc);

#endif
