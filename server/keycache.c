/* escrowd: RS256 token checks with the parsed-key cache (see keycache.h). */
#include "keycache.h"

#include <openssl/pem.h>
#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* tokens remembered per user: a client signs a fresh token every few minutes (the API
 * sample's live 5) and a user may run a few clients at once */
#define VERIFIED_PER_USER 8

typedef struct slot {
  char *user_id, *pem;
  EVP_PKEY *key;
  unsigned char verified[VERIFIED_PER_USER][crypto_hash_sha256_BYTES];
  unsigned nverified, next; /* filled entries; the one to replace next */
} slot;

struct srv_keycache {
  pthread_mutex_t mu;
  unsigned n;
  slot *slots;
  unsigned long rsa_checks;
};

static uint64_t hash(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

static void slot_clear(slot *s) {
  free(s->user_id);
  free(s->pem);
  EVP_PKEY_free(s->key);
  memset(s, 0, sizeof *s);
}

srv_keycache *srv_keycache_new(unsigned nslots) {
  srv_keycache *kc = calloc(1, sizeof *kc);
  if (!kc) return NULL;
  kc->n = nslots ? nslots : 1024;
  if (!(kc->slots = calloc(kc->n, sizeof *kc->slots))) {
    free(kc);
    return NULL;
  }
  pthread_mutex_init(&kc->mu, NULL);
  return kc;
}

void srv_keycache_free(srv_keycache *kc) {
  if (!kc) return;
  for (unsigned i = 0; i < kc->n; i++) slot_clear(&kc->slots[i]);
  free(kc->slots);
  pthread_mutex_destroy(&kc->mu);
  free(kc);
}

unsigned long srv_keycache_rsa_checks(srv_keycache *kc) {
  pthread_mutex_lock(&kc->mu);
  unsigned long n = kc->rsa_checks;
  pthread_mutex_unlock(&kc->mu);
  return n;
}

static EVP_PKEY *parse(const char *pem) {
  BIO *b = BIO_new_mem_buf(pem, -1);
  EVP_PKEY *k = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
  BIO_free(b);
  return k;
}

/* The token's digest: its signing input and signature, each with its length. */
static void token_digest(const srv_jwt *j, unsigned char d[crypto_hash_sha256_BYTES]) {
  crypto_hash_sha256_state st;
  uint64_t len[2] = {j->signing_len, j->sig_len};
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, (const unsigned char *)len, sizeof len);
  crypto_hash_sha256_update(&st, (const unsigned char *)j->signing_input, j->signing_len);
  crypto_hash_sha256_update(&st, j->sig, j->sig_len);
  crypto_hash_sha256_final(&st, d);
}

static int slot_is(const slot *s, const char *user_id, const char *pem) {
  return s->key && strcmp(s->user_id, user_id) == 0 && strcmp(s->pem, pem) == 0;
}

static int check(EVP_PKEY *key, const srv_jwt *jwt, char *err, size_t errsz) {
  if (!key) {
    snprintf(err, errsz, "the registered key cannot be read");
    return -1;
  }
  return srv_jwt_verify_rs256(jwt, key, err, errsz);
}

int srv_keycache_verify(srv_keycache *kc, const char *user_id, const char *pem,
                        const srv_jwt *jwt, char *err, size_t errsz) {
  if (!pem || !jwt) {
    snprintf(err, errsz, "the registered key cannot be read");
    return -1;
  }
  if (!kc || !user_id) {
    EVP_PKEY *k = parse(pem);
    int r = check(k, jwt, err, errsz);
    EVP_PKEY_free(k);
    return r;
  }
  unsigned char d[crypto_hash_sha256_BYTES];
  token_digest(jwt, d);
  slot *s = &kc->slots[hash(user_id) % kc->n];
  EVP_PKEY *k = NULL;
  pthread_mutex_lock(&kc->mu);
  if (slot_is(s, user_id, pem)) {
    for (unsigned i = 0; i < s->nverified; i++)
      if (memcmp(s->verified[i], d, sizeof d) == 0) {
        pthread_mutex_unlock(&kc->mu);
        return 0;
      }
    if (EVP_PKEY_up_ref(s->key) == 1) k = s->key;
  }
  kc->rsa_checks++;
  pthread_mutex_unlock(&kc->mu);

  int parsed = 0;
  if (!k) { /* outside the lock: the slow part */
    k = parse(pem);
    parsed = 1;
  }
  int r = check(k, jwt, err, errsz);
  if (!k) return r;
  pthread_mutex_lock(&kc->mu);
  if (parsed && !slot_is(s, user_id, pem)) {
    char *u = strdup(user_id), *p = strdup(pem);
    if (u && p && EVP_PKEY_up_ref(k) == 1) {
      slot_clear(s);
      s->user_id = u;
      s->pem = p;
      s->key = k;
    } else {
      free(u);
      free(p);
    }
  }
  /* remembered only under the key it was checked with (another thread may have replaced the
   * slot meanwhile) */
  if (r == 0 && slot_is(s, user_id, pem)) {
    memcpy(s->verified[s->next], d, sizeof d);
    s->next = (s->next + 1) % VERIFIED_PER_USER;
    if (s->nverified < VERIFIED_PER_USER) s->nverified++;
  }
  pthread_mutex_unlock(&kc->mu);
  EVP_PKEY_free(k);
  return r;
}
