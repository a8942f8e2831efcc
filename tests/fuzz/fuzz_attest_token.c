/* libFuzzer target for the attestation-token verifier (escrow_attest_verify, "sim" format).
 * The first byte picks the mode: even - the rest is a compact JWS verified as is; odd - the
 * rest is a JWT payload that the harness signs with the trusted issuer's key first, so the
 * claim checks (times, report-data binding, stamps) see arbitrary signed claims.
 * Invariants: only the documented codes come back; accepted claims are a JSON object stamped
 * simulated by the verifier whatever the token said.
 * Run: ./fuzz_attest_token -max_total_time=30 tests/fuzz/corpus/attest_token */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest_internal.h"
#include "fuzz_common.h"

#define ISS "http://127.0.0.1:8443/sim"
#define NOW 1767225600

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static escrow_attest_signer *issuer;
static escrow_attest_trust *trust;

static void init(void) {
  if (trust != NULL)
    return;
  CHECK(escrow_attest_signer_generate(&issuer, 2048, "fuzz-issuer") == 0);
  char *jwks = NULL;
  size_t jl = 0;
  CHECK(escrow_attest_signer_jwks(issuer, &jwks, &jl) == 0);
  CHECK(escrow_attest_trust_new(&trust) == 0);
  CHECK(escrow_attest_trust_add_issuer(trust, "sim", ISS, (uint8_t *)jwks, jl) == 0);
  escrow_free(jwks);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  init();
  if (size == 0)
    return 0;
  char *tok = NULL;
  size_t tl = 0;
  if (data[0] & 1) {
    escrow__json *p = NULL;
    if (escrow__json_parse(&p, data + 1, size - 1, "payload") != 0)
      return 0;
    escrow__json *h = escrow__json_new(ESCROW__J_OBJECT);
    CHECK(h != NULL);
    CHECK(escrow__json_set(h, "alg", escrow__json_str("RS256")) == 0);
    CHECK(escrow__json_set(h, "kid", escrow__json_str("fuzz-issuer")) == 0);
    int rc = escrow__jws_sign(&tok, &tl, escrow__signer_pkey(issuer), h, p);
    escrow__json_free(h);
    escrow__json_free(p);
    CHECK(rc == 0);
  } else {
    tok = malloc(size);
    CHECK(tok != NULL);
    memcpy(tok, data + 1, size - 1);
    tl = size - 1;
  }
  escrow_attest_verify_opts o = ESCROW_ATTEST_VERIFY_OPTS_INIT;
  o.allow_simulated = 1;
  o.now = NOW;
  char *claims = NULL;
  size_t cl = 0;
  int rc = escrow_attest_verify(&claims, &cl, trust, "sim", (uint8_t *)tok, tl, &o);
  CHECK(rc == 0 || rc == ESCROW_E_FORMAT || rc == ESCROW_E_UNSUPPORTED ||
        rc == ESCROW_E_NOTFOUND || rc == ESCROW_E_AUTH || rc == ESCROW_E_CHECK ||
        rc == ESCROW_E_MISMATCH || rc == ESCROW_E_LIMIT);
  if (rc == 0) {
    escrow__json *c = NULL;
    CHECK(escrow__json_parse(&c, (uint8_t *)claims, cl, "claims") == 0);
    const escrow__json *sim = escrow__json_get(c, ESCROW_ATTEST_CLAIM_SIMULATED);
    CHECK(sim != NULL && sim->type == ESCROW__J_BOOL && sim->b);
    CHECK(escrow__json_get(c, ESCROW_ATTEST_CLAIM_RUNTIME) != NULL);
    escrow__json_free(c);
    /* Refused when simulated evidence is not allowed. */
    o.allow_simulated = 0;
    char *again = NULL;
    CHECK(escrow_attest_verify(&again, NULL, trust, "sim", (uint8_t *)tok, tl, &o) ==
          ESCROW_E_AUTH);
  } else {
    CHECK(claims == NULL);
  }
  escrow_free(claims);
  if (data[0] & 1)
    escrow__free(tok);
  else
    free(tok);
  return 0;
}
