/* escrowd: the parsed-key cache (see keycache.h). */
#include "keycache.h"

#include <openssl/pem.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct slot {
  char *user_id, *pem;
  EVP_PKEY *key;
} slot;

struct srv_keycache {
  pthread_mutex_t mu;
  unsigned n;
  slot *slots;
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

static EVP_PKEY *parse(const char *pem) {
  BIO *b = BIO_new_mem_buf(pem, -1);
  EVP_PKEY *k = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
  BIO_free(b);
  return k;
}

EVP_PKEY *srv_keycache_get(srv_keycache *kc, const char *user_id, const char *pem) {
  if (!pem) return NULL;
  if (!kc || !user_id) return parse(pem);
  slot *s = &kc->slots[hash(user_id) % kc->n];
  pthread_mutex_lock(&kc->mu);
  if (s->key && strcmp(s->user_id, user_id) == 0 && strcmp(s->pem, pem) == 0 &&
      EVP_PKEY_up_ref(s->key) == 1) {
    EVP_PKEY *k = s->key;
    pthread_mutex_unlock(&kc->mu);
    return k;
  }
  pthread_mutex_unlock(&kc->mu);
  EVP_PKEY *k = parse(pem); /* outside the lock: the slow part */
  if (!k) return NULL;
  char *u = strdup(user_id), *p = strdup(pem);
  if (u && p && EVP_PKEY_up_ref(k) == 1) {
    pthread_mutex_lock(&kc->mu);
    slot_clear(s);
    s->user_id = u;
    s->pem = p;
    s->key = k;
    pthread_mutex_unlock(&kc->mu);
  } else {
    free(u);
    free(p);
  }
  return k;
}
