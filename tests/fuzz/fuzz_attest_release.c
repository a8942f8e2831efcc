/* libFuzzer target for the enclave's release-response reader (escrow_attest_release_inspect and
 * escrow_attest_release_open). The first byte modulo 3 picks the mode: 0 - the rest is a
 * response ({"value":JWS} or a bare JWS) checked as is; 1 - the rest is a JWS payload the
 * harness signs with the trusted platform key; 2 - the rest is a key_hsm JSON document (each
 * "$K$" replaced by the enclave key's kid) that the harness wraps in a signed payload, so the
 * unwrap paths see arbitrary signed ciphertexts. Invariants: only the documented codes come
 * back; a KEK comes out only on success.
 * Run: ./fuzz_attest_release -max_total_time=30 tests/fuzz/corpus/attest_release */
#include <stdlib.h>
#include <string.h>

#include "attest_internal.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static escrow_attest_signer *platform;
static escrow_attest_key *eph;
static uint8_t *pem;
static size_t pem_len;

static void init(void) {
  if (platform != NULL)
    return;
  CHECK(escrow_attest_signer_generate(&platform, 2048, "fuzz-platform") == 0);
  CHECK(escrow_attest_key_generate(&eph, 2048) == 0);
  CHECK(escrow_attest_signer_public_pem(platform, &pem, &pem_len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  init();
  if (size == 0)
    return 0;
  char *resp = NULL;
  size_t rl = 0;
  if (data[0] % 3 != 0) {
    escrow__json *p = NULL;
    if (data[0] % 3 == 1) {
      if (escrow__json_parse(&p, data + 1, size - 1, "payload") != 0)
        return 0;
    } else {
      /* key_hsm text with $K$ -> kid, then {"response":{"key":{"key":{"key_hsm":b64url}}}} */
      char kid[ESCROW_ATTEST_KID_SIZE];
      CHECK(escrow_attest_key_kid(eph, kid, sizeof kid) == 0);
      char *hsm = malloc((size - 1) * 15 + 1);
      CHECK(hsm != NULL);
      size_t o = 0;
      for (size_t i = 1; i < size; i++) {
        if (i + 2 < size && memcmp(data + i, "$K$", 3) == 0) {
          memcpy(hsm + o, kid, strlen(kid));
          o += strlen(kid);
          i += 2;
        } else {
          hsm[o++] = (char)data[i];
        }
      }
      char *h64 = escrow__b64url((uint8_t *)hsm, o);
      free(hsm);
      CHECK(h64 != NULL);
      p = escrow__json_new(ESCROW__J_OBJECT);
      escrow__json *r = escrow__json_new(ESCROW__J_OBJECT);
      escrow__json *k1 = escrow__json_new(ESCROW__J_OBJECT);
      escrow__json *k2 = escrow__json_new(ESCROW__J_OBJECT);
      CHECK(p != NULL && r != NULL && k1 != NULL && k2 != NULL);
      CHECK(escrow__json_set(k2, "key_hsm", escrow__json_str(h64)) == 0);
      CHECK(escrow__json_set(k1, "key", k2) == 0);
      CHECK(escrow__json_set(r, "key", k1) == 0);
      CHECK(escrow__json_set(p, "response", r) == 0);
      escrow__free(h64);
    }
    escrow__json *h = escrow__json_new(ESCROW__J_OBJECT);
    CHECK(h != NULL);
    CHECK(escrow__json_set(h, "alg", escrow__json_str("RS256")) == 0);
    CHECK(escrow__json_set(h, "kid", escrow__json_str("fuzz-platform")) == 0);
    int rc = escrow__jws_sign(&resp, &rl, escrow__signer_pkey(platform), h, p);
    escrow__json_free(h);
    escrow__json_free(p);
    CHECK(rc == 0);
  } else {
    resp = escrow__malloc(size);
    CHECK(resp != NULL);
    memcpy(resp, data + 1, size - 1);
    rl = size - 1;
  }
  escrow_attest_release_trust t = ESCROW_ATTEST_RELEASE_TRUST_INIT;
  t.platform_key = pem;
  t.platform_key_len = pem_len;
  char *payload = NULL;
  int rc = escrow_attest_release_inspect(&payload, NULL, (uint8_t *)resp, rl, &t);
  CHECK(rc == 0 || rc == ESCROW_E_FORMAT || rc == ESCROW_E_UNSUPPORTED || rc == ESCROW_E_AUTH ||
        rc == ESCROW_E_LIMIT);
  CHECK((rc == 0) == (payload != NULL));
  escrow_free(payload);
  escrow_kek *kek = NULL;
  int orc = escrow_attest_release_open(&kek, (uint8_t *)resp, rl, &t, eph);
  CHECK(orc == 0 || orc == ESCROW_E_FORMAT || orc == ESCROW_E_UNSUPPORTED ||
        orc == ESCROW_E_AUTH || orc == ESCROW_E_LIMIT || orc == ESCROW_E_MISMATCH ||
        orc == ESCROW_E_KEY);
  if (rc != 0)
    CHECK(orc == rc);
  CHECK((orc == 0) == (kek != NULL));
  escrow_kek_free(kek);
  escrow__free(resp);
  return 0;
}
