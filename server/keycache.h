/*
 * escrowd: a cache of users' parsed API public keys. Parsing a PEM key with OpenSSL 3 costs
 * far more than checking an RS256 signature with it, and every API request carries a token
 * signed with its user's registered key: the cache keeps the parsed key per user, keyed by the
 * user id and the exact PEM text stored for the user, so a key the user replaces is parsed
 * afresh on its first use (the old one is never used again). Tokens are never cached: every
 * request's signature and claims are checked. Thread-safe.
 */
#ifndef ESCROWD_KEYCACHE_H
#define ESCROWD_KEYCACHE_H

#include <openssl/evp.h>

typedef struct srv_keycache srv_keycache;

/* A cache of up to nslots keys (0: 1024). NULL when out of memory. */
srv_keycache *srv_keycache_new(unsigned nslots);
void srv_keycache_free(srv_keycache *kc);

/* The parsed public key of pem for user_id: a new reference (EVP_PKEY_free it), or NULL when
 * pem is not a PEM public key. kc NULL parses without caching. */
EVP_PKEY *srv_keycache_get(srv_keycache *kc, const char *user_id, const char *pem);

#endif
