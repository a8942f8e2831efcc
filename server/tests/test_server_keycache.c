/* escrowd's RS256 checks with the parsed-key cache (server/keycache.h): a token is accepted
 * only under the key it was signed with, the user's current one; a token already verified
 * under that key is not checked with RSA again, and a token differing in any byte is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keycache.h"

static char *read_file(const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/keys/%s", ESCROW_TEST_VECTORS, name);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  char *b = calloc(1, 65536);
  assert_non_null(b);
  size_t n = fread(b, 1, 65535, f);
  fclose(f);
  assert_true(n > 0);
  return b;
}

/* A token signed with the private key in file name: the signature over signing_input (the
 * parser's form of a token, srv_jwt; the claims do not matter here). */
static srv_jwt *token(const char *name, const char *signing_input) {
  char *pem = read_file(name);
  BIO *b = BIO_new_mem_buf(pem, -1);
  EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
  BIO_free(b);
  free(pem);
  assert_non_null(k);
  srv_jwt *j = calloc(1, sizeof *j);
  assert_non_null(j);
  j->signing_input = strdup(signing_input);
  j->signing_len = strlen(signing_input);
  j->sig = malloc(1024);
  j->sig_len = 1024;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k), 1);
  assert_int_equal(EVP_DigestSign(ctx, j->sig, &j->sig_len, (const unsigned char *)j->signing_input,
                                  j->signing_len),
                   1);
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(k);
  return j;
}

static int verify(srv_keycache *kc, const char *user, const char *pem, const srv_jwt *j) {
  char err[256] = "";
  int r = srv_keycache_verify(kc, user, pem, j, err, sizeof err);
  if (r) assert_true(err[0] != 0); /* every refusal says why */
  return r;
}

static void a_verified_token_is_not_checked_with_rsa_again(void **state) {
  (void)state;
  char *a = read_file("kek3072.pub.pem");
  srv_jwt *j = token("kek3072.key.pem", "header.payload-1");
  srv_keycache *kc = srv_keycache_new(8);
  assert_non_null(kc);
  assert_int_equal(verify(kc, "user-1", a, j), 0);
  assert_int_equal(verify(kc, "user-1", a, j), 0);
  assert_int_equal(verify(kc, "user-1", a, j), 0);
  assert_int_equal(srv_keycache_rsa_checks(kc), 1);
  srv_keycache_free(kc);
  srv_jwt_free(j);
  free(a);
}

static void a_token_differing_in_one_byte_is_checked_and_refused(void **state) {
  (void)state;
  char *a = read_file("kek3072.pub.pem");
  srv_jwt *j = token("kek3072.key.pem", "header.payload-1");
  srv_keycache *kc = srv_keycache_new(8);
  assert_int_equal(verify(kc, "user-1", a, j), 0);
  j->sig[j->sig_len - 1] ^= 1; /* the signature */
  assert_int_equal(verify(kc, "user-1", a, j), -1);
  assert_int_equal(verify(kc, "user-1", a, j), -1); /* a refusal is never remembered */
  j->sig[j->sig_len - 1] ^= 1;
  j->signing_input[j->signing_len - 1] = '2'; /* the claims */
  assert_int_equal(verify(kc, "user-1", a, j), -1);
  j->signing_input[j->signing_len - 1] = '1';
  j->signing_len--; /* a shorter token */
  assert_int_equal(verify(kc, "user-1", a, j), -1);
  j->signing_len++;
  assert_int_equal(srv_keycache_rsa_checks(kc), 5);
  assert_int_equal(verify(kc, "user-1", a, j), 0); /* the original, remembered */
  assert_int_equal(srv_keycache_rsa_checks(kc), 5);
  srv_keycache_free(kc);
  srv_jwt_free(j);
  free(a);
}

static void a_replaced_key_forgets_the_tokens_of_the_old_one(void **state) {
  (void)state;
  char *a = read_file("kek3072.pub.pem"), *b = read_file("kek4096.pub.pem");
  srv_jwt *ja = token("kek3072.key.pem", "header.a"), *jb = token("kek4096.key.pem", "header.b");
  srv_keycache *kc = srv_keycache_new(8);
  assert_int_equal(verify(kc, "user-1", a, ja), 0);
  /* the user registered key b: a's token is refused at once, b's accepted */
  assert_int_equal(verify(kc, "user-1", b, ja), -1);
  assert_int_equal(verify(kc, "user-1", b, jb), 0);
  /* and back to a: its token is checked afresh */
  unsigned long n = srv_keycache_rsa_checks(kc);
  assert_int_equal(verify(kc, "user-1", a, ja), 0);
  assert_int_equal(srv_keycache_rsa_checks(kc), n + 1);
  srv_keycache_free(kc);
  srv_jwt_free(ja);
  srv_jwt_free(jb);
  free(a);
  free(b);
}

static void users_never_share_keys_or_tokens(void **state) {
  (void)state;
  char *a = read_file("kek3072.pub.pem"), *b = read_file("kek4096.pub.pem");
  srv_jwt *ja = token("kek3072.key.pem", "header.a"), *jb = token("kek4096.key.pem", "header.b");
  /* one slot: every user collides with every other */
  srv_keycache *kc = srv_keycache_new(1);
  for (int i = 0; i < 6; i++) {
    int two = i % 2;
    assert_int_equal(verify(kc, two ? "user-2" : "user-1", two ? b : a, two ? jb : ja), 0);
    /* the other user's token under this user's key */
    assert_int_equal(verify(kc, two ? "user-2" : "user-1", two ? b : a, two ? ja : jb), -1);
  }
  /* user-2 with user-1's key text: the same key, so the same answer, but its own entry */
  assert_int_equal(verify(kc, "user-2", a, ja), 0);
  srv_keycache_free(kc);
  srv_jwt_free(ja);
  srv_jwt_free(jb);
  free(a);
  free(b);
}

static void a_user_keeps_several_tokens(void **state) {
  (void)state;
  char *a = read_file("kek3072.pub.pem");
  srv_jwt *j[4];
  char si[32];
  for (int i = 0; i < 4; i++) {
    snprintf(si, sizeof si, "header.client-%d", i);
    j[i] = token("kek3072.key.pem", si);
  }
  srv_keycache *kc = srv_keycache_new(0);
  for (int round = 0; round < 3; round++)
    for (int i = 0; i < 4; i++) assert_int_equal(verify(kc, "user-1", a, j[i]), 0);
  assert_int_equal(srv_keycache_rsa_checks(kc), 4);
  srv_keycache_free(kc);
  for (int i = 0; i < 4; i++) srv_jwt_free(j[i]);
  free(a);
}

static void text_that_is_not_a_key_is_refused(void **state) {
  (void)state;
  char *a = read_file("kek3072.pub.pem");
  srv_jwt *j = token("kek3072.key.pem", "header.payload");
  srv_keycache *kc = srv_keycache_new(0);
  char err[256];
  assert_int_equal(srv_keycache_verify(kc, "user-1",
                                       "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
                                       j, err, sizeof err),
                   -1);
  assert_string_equal(err, "the registered key cannot be read");
  assert_int_equal(srv_keycache_verify(kc, "user-1", NULL, j, err, sizeof err), -1);
  /* no cache: checked each time, with the same answers */
  assert_int_equal(verify(NULL, "user-1", a, j), 0);
  assert_int_equal(verify(NULL, NULL, a, j), 0);
  j->sig[0] ^= 1;
  assert_int_equal(verify(NULL, "user-1", a, j), -1);
  srv_keycache_free(kc);
  srv_keycache_free(NULL);
  srv_jwt_free(j);
  free(a);
}

/* ---- threads: four threads, two users, one slot: every answer right --------------------- */

typedef struct shared {
  srv_keycache *kc;
  const char *pem[2];
  srv_jwt *good[2], *bad;
  int wrong;
} shared;

static void *hammer(void *arg) {
  shared *s = arg;
  char err[256];
  for (int i = 0; i < 60; i++) {
    int u = i % 2;
    const char *user = u ? "user-2" : "user-1";
    if (srv_keycache_verify(s->kc, user, s->pem[u], s->good[u], err, sizeof err) != 0 ||
        srv_keycache_verify(s->kc, user, s->pem[u], s->good[!u], err, sizeof err) != -1 ||
        srv_keycache_verify(s->kc, user, s->pem[0], s->bad, err, sizeof err) != -1)
      __atomic_add_fetch(&s->wrong, 1, __ATOMIC_SEQ_CST);
  }
  return NULL;
}

static void threads_get_the_right_answers(void **state) {
  (void)state;
  shared s = {.kc = srv_keycache_new(1)};
  char *a = read_file("kek3072.pub.pem"), *b = read_file("kek4096.pub.pem");
  s.pem[0] = a;
  s.pem[1] = b;
  s.good[0] = token("kek3072.key.pem", "header.a");
  s.good[1] = token("kek4096.key.pem", "header.b");
  s.bad = token("kek3072.key.pem", "header.c");
  s.bad->sig[5] ^= 0x40;
  pthread_t t[4];
  for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&t[i], NULL, hammer, &s), 0);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  assert_int_equal(s.wrong, 0);
  srv_keycache_free(s.kc);
  srv_jwt_free(s.good[0]);
  srv_jwt_free(s.good[1]);
  srv_jwt_free(s.bad);
  free(a);
  free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_verified_token_is_not_checked_with_rsa_again),
      cmocka_unit_test(a_token_differing_in_one_byte_is_checked_and_refused),
      cmocka_unit_test(a_replaced_key_forgets_the_tokens_of_the_old_one),
      cmocka_unit_test(users_never_share_keys_or_tokens),
      cmocka_unit_test(a_user_keeps_several_tokens),
      cmocka_unit_test(text_that_is_not_a_key_is_refused),
      cmocka_unit_test(threads_get_the_right_answers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
