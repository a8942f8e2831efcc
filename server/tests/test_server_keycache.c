/* escrowd's cache of users' parsed API keys (server/keycache.h): a cached key is the user's
 * current key, never another user's or a replaced one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/pem.h>
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

static EVP_PKEY *parse(const char *pem) {
  BIO *b = BIO_new_mem_buf(pem, -1);
  EVP_PKEY *k = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
  BIO_free(b);
  assert_non_null(k);
  return k;
}

static void assert_key_is(EVP_PKEY *got, const char *pem) {
  assert_non_null(got);
  EVP_PKEY *want = parse(pem);
  assert_int_equal(EVP_PKEY_eq(got, want), 1);
  EVP_PKEY_free(want);
}

static void a_second_request_gets_the_cached_key(void **state) {
  (void)state;
  char *a = read_file("kek3072.pub.pem");
  srv_keycache *kc = srv_keycache_new(8);
  assert_non_null(kc);
  EVP_PKEY *k1 = srv_keycache_get(kc, "user-1", a);
  EVP_PKEY *k2 = srv_keycache_get(kc, "user-1", a);
  assert_key_is(k1, a);
  assert_ptr_equal(k1, k2); /* not parsed again */
  EVP_PKEY_free(k1);
  EVP_PKEY_free(k2);
  srv_keycache_free(kc);
  free(a);
}

static void a_replaced_key_is_used_at_once(void **state) {
  (void)state;
  char *a = read_file("kek3072.pub.pem"), *b = read_file("kek4096.pub.pem");
  srv_keycache *kc = srv_keycache_new(8);
  EVP_PKEY *k = srv_keycache_get(kc, "user-1", a);
  EVP_PKEY_free(k);
  k = srv_keycache_get(kc, "user-1", b); /* the user registered a new key */
  assert_key_is(k, b);
  EVP_PKEY_free(k);
  srv_keycache_free(kc);
  free(a);
  free(b);
}

static void users_never_get_each_others_keys(void **state) {
  (void)state;
  char *a = read_file("kek3072.pub.pem"), *b = read_file("kek4096.pub.pem");
  /* one slot: every user collides with every other */
  srv_keycache *kc = srv_keycache_new(1);
  for (int i = 0; i < 4; i++) {
    EVP_PKEY *k = srv_keycache_get(kc, i % 2 ? "user-2" : "user-1", i % 2 ? b : a);
    assert_key_is(k, i % 2 ? b : a);
    EVP_PKEY_free(k);
  }
  srv_keycache_free(kc);
  free(a);
  free(b);
}

static void text_that_is_not_a_key_is_refused(void **state) {
  (void)state;
  srv_keycache *kc = srv_keycache_new(0);
  assert_null(srv_keycache_get(kc, "user-1", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"));
  assert_null(srv_keycache_get(kc, "user-1", NULL));
  srv_keycache_free(kc);
  srv_keycache_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_second_request_gets_the_cached_key),
      cmocka_unit_test(a_replaced_key_is_used_at_once),
      cmocka_unit_test(users_never_get_each_others_keys),
      cmocka_unit_test(text_that_is_not_a_key_is_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
