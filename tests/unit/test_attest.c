/* attest: runtime data, simulated evidence, the verifier's refusals, the release policy, the
 * dynamic checks and the Key-Vault-shaped key release. Fixture keys in tests/vectors/attest/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include "testutil.h"
#include "attest_internal.h"

#define ISS "http://127.0.0.1:8443/sim"
#define OTHER_ISS "http://127.0.0.1:9443/sim"
#define NOW 1767225600 /* 2026-01-01T00:00:00Z */
#define AKV_TIME 1651868742 /* 2022-05-06T20:25:42Z, when the Key Vault response was recorded */

static escrow_attest_key *enc_a, *enc_b;
static escrow_attest_signer *issuer, *other_issuer, *platform;
static escrow_attest_trust *trust;
static escrow_kek *kek;
static char *platform_jwks;
static uint8_t *platform_pem;
static size_t platform_pem_len;

static escrow_attest_key *load_key(const char *name) {
  size_t len;
  uint8_t *d = tu_read(tu_vector(name), &len);
  escrow_attest_key *k = NULL;
  assert_int_equal(escrow_attest_key_from_bytes(&k, d, len), 0);
  free(d);
  return k;
}

static escrow_attest_signer *load_signer(const char *name, const char *kid) {
  size_t len;
  uint8_t *d = tu_read(tu_vector(name), &len);
  escrow_attest_signer *s = NULL;
  assert_int_equal(escrow_attest_signer_from_bytes(&s, d, len, kid), 0);
  free(d);
  return s;
}

static int setup(void **state) {
  (void)state;
  enc_a = load_key("attest/enclave-a.key.pem");
  enc_b = load_key("attest/enclave-b.key.pem");
  issuer = load_signer("attest/issuer.key.pem", "sim-issuer-1");
  other_issuer = load_signer("attest/other-issuer.key.pem", "sim-issuer-1");
  platform = load_signer("attest/platform.key.pem", NULL);
  char *jwks = NULL;
  size_t jl = 0;
  assert_int_equal(escrow_attest_signer_jwks(issuer, &jwks, &jl), 0);
  assert_int_equal(escrow_attest_trust_new(&trust), 0);
  assert_int_equal(escrow_attest_trust_add_issuer(trust, "sim", ISS, (uint8_t *)jwks, jl), 0);
  escrow_free(jwks);
  assert_int_equal(escrow_attest_signer_jwks(platform, &platform_jwks, NULL), 0);
  assert_int_equal(escrow_attest_signer_public_pem(platform, &platform_pem, &platform_pem_len),
                   0);
  kek = tu_kek_private();
  return 0;
}

static int teardown(void **state) {
  (void)state;
  escrow_attest_key_free(enc_a);
  escrow_attest_key_free(enc_b);
  escrow_attest_signer_free(issuer);
  escrow_attest_signer_free(other_issuer);
  escrow_attest_signer_free(platform);
  escrow_attest_trust_free(trust);
  escrow_free(platform_jwks);
  escrow_free(platform_pem);
  escrow_kek_free(kek);
  return 0;
}

/* ---- helpers ----------------------------------------------------------------------------- */

static char *runtime(const escrow_attest_key *k, const char *nonce, const char *run) {
  char *rd = NULL;
  assert_int_equal(escrow_attest_runtime_data(&rd, NULL, k, nonce, "proj-1", run, "ds"), 0);
  return rd;
}

static char *issue_with(const escrow_attest_signer *s, const char *iss, const char *rd,
                        int64_t now, const char *digest) {
  escrow_attest_sim_opts o = ESCROW_ATTEST_SIM_OPTS_INIT;
  o.issuer = iss;
  o.now = now;
  o.package_digest = digest;
  char *tok = NULL;
  assert_int_equal(escrow_attest_sim_issue(&tok, NULL, s, &o, (const uint8_t *)rd, strlen(rd)),
                   0);
  return tok;
}

static char *token_for(const escrow_attest_key *k, const char *nonce, const char *run) {
  char *rd = runtime(k, nonce, run);
  char *tok = issue_with(issuer, ISS, rd, NOW, "sha256:aa");
  escrow_free(rd);
  return tok;
}

static int verify_at(char **claims, const char *tok, int64_t now, int allow_sim) {
  escrow_attest_verify_opts o = ESCROW_ATTEST_VERIFY_OPTS_INIT;
  o.now = now;
  o.allow_simulated = allow_sim;
  return escrow_attest_verify(claims, NULL, trust, "sim", (const uint8_t *)tok, strlen(tok), &o);
}

static char *verified_claims(const char *tok) {
  char *claims = NULL;
  int rc = verify_at(&claims, tok, NOW + 5, 1);
  if (rc != 0)
    fail_msg("verify: %s", escrow_error_last());
  return claims;
}

static char *b64url_str(const char *s) { return escrow__b64url((const uint8_t *)s, strlen(s)); }

/* A compact JWS over raw header and payload text, RS256 with key. */
static char *sign_raw(EVP_PKEY *key, const char *header, const char *payload) {
  char *h = b64url_str(header), *p = b64url_str(payload);
  size_t in_len = strlen(h) + 1 + strlen(p);
  char *in = malloc(in_len + 1);
  snprintf(in, in_len + 1, "%s.%s", h, p);
  uint8_t sig[1024];
  size_t sl = sizeof sig;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key), 1);
  assert_int_equal(EVP_DigestSign(ctx, sig, &sl, (uint8_t *)in, in_len), 1);
  EVP_MD_CTX_free(ctx);
  char *s = escrow__b64url(sig, sl);
  char *out = malloc(in_len + strlen(s) + 2);
  sprintf(out, "%s.%s", in, s);
  free(in);
  escrow__free(h);
  escrow__free(p);
  escrow__free(s);
  return out;
}

/* The payload of a token as text. */
static char *payload_of(const char *tok) {
  const char *d1 = strchr(tok, '.');
  const char *d2 = strchr(d1 + 1, '.');
  uint8_t *raw = NULL;
  size_t rl = 0;
  assert_int_equal(escrow__b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), false, "p", &raw, &rl),
                   0);
  return (char *)raw;
}

/* Replace the first occurrence of a in s by b (fresh malloc string). */
static char *replace(const char *s, const char *a, const char *b) {
  const char *at = strstr(s, a);
  assert_non_null(at);
  size_t l = strlen(s) - strlen(a) + strlen(b);
  char *r = malloc(l + 1);
  size_t pre = (size_t)(at - s);
  memcpy(r, s, pre);
  strcpy(r + pre, b);
  strcat(r, at + strlen(a));
  return r;
}

static void assert_error_mentions(const char *what) {
  if (strstr(escrow_error_last(), what) == NULL)
    fail_msg("error '%s' does not mention '%s'", escrow_error_last(), what);
}

/* ---- runtime data and the ephemeral key ---------------------------------------------------- */

static void test_runtime_data_is_canonical_json_carrying_the_ephemeral_key(void **state) {
  (void)state;
  char kid[ESCROW_ATTEST_KID_SIZE];
  assert_int_equal(escrow_attest_key_kid(enc_a, kid, sizeof kid), 0);
  char *jwk = NULL;
  assert_int_equal(escrow_attest_key_jwk(enc_a, &jwk, NULL), 0);
  char *rd = runtime(enc_a, "n-1", "run-1");
  char want[4096];
  snprintf(want, sizeof want,
           "{\"keys\":[%s],\"nonce\":\"n-1\",\"project_id\":\"proj-1\",\"role\":\"ds\","
           "\"run_id\":\"run-1\"}",
           jwk);
  assert_string_equal(rd, want);
  assert_non_null(strstr(jwk, "\"key_ops\":[\"encrypt\"]"));
  assert_non_null(strstr(jwk, kid));
  uint8_t report[64], sha[32];
  assert_int_equal(escrow_attest_report_data(report, (uint8_t *)rd, strlen(rd)), 0);
  crypto_hash_sha256(sha, (uint8_t *)rd, strlen(rd));
  assert_memory_equal(report, sha, 32);
  uint8_t zero[32] = {0};
  assert_memory_equal(report + 32, zero, 32);
  escrow_free(jwk);
  escrow_free(rd);
}

static void test_nonces_are_fresh_43_character_base64url(void **state) {
  (void)state;
  char a[ESCROW_ATTEST_NONCE_SIZE], b[ESCROW_ATTEST_NONCE_SIZE];
  assert_int_equal(escrow_attest_nonce(a, sizeof a), 0);
  assert_int_equal(escrow_attest_nonce(b, sizeof b), 0);
  assert_int_equal(strlen(a), 43);
  assert_int_equal(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                   43);
  assert_string_not_equal(a, b);
  assert_int_equal(escrow_attest_nonce(a, 43), ESCROW_E_INVALID);
}

static void test_runtime_data_refuses_missing_fields(void **state) {
  (void)state;
  char *rd = NULL;
  assert_int_equal(escrow_attest_runtime_data(&rd, NULL, enc_a, "", "p", "r", "ds"),
                   ESCROW_E_INVALID);
  assert_int_equal(escrow_attest_runtime_data(&rd, NULL, enc_a, "n", NULL, "r", "ds"),
                   ESCROW_E_INVALID);
  assert_int_equal(escrow_attest_runtime_data(&rd, NULL, enc_a, "n", "p", "r", "\xff"),
                   ESCROW_E_INVALID);
  assert_null(rd);
}

static void test_kid_is_the_rfc7638_thumbprint(void **state) {
  (void)state;
  /* RFC 7638 §3.1's example key and thumbprint. */
  const char *jwk =
      "{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78L"
      "hWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9y"
      "BXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvR"
      "L5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44"
      "-csFCur-kEgU8awapJzKnqDKgw\"}";
  escrow__json *j = NULL;
  assert_int_equal(escrow__json_parse(&j, (const uint8_t *)jwk, strlen(jwk), "jwk"), 0);
  EVP_PKEY *pk = NULL;
  assert_int_equal(escrow__rsa_from_jwk(&pk, j, "jwk"), 0);
  char kid[ESCROW_ATTEST_KID_SIZE];
  assert_int_equal(escrow__rsa_thumbprint(pk, kid), 0);
  assert_string_equal(kid, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  EVP_PKEY_free(pk);
  escrow__json_free(j);
}

static void test_ephemeral_keys_are_2048_to_4096_bits(void **state) {
  (void)state;
  escrow_attest_key *k = NULL;
  assert_int_equal(escrow_attest_key_generate(&k, 1024), ESCROW_E_INVALID);
  assert_int_equal(escrow_attest_key_generate(&k, 8192), ESCROW_E_INVALID);
  size_t len;
  uint8_t *d = tu_read(tu_vector("keys/ec256.key.pem"), &len);
  assert_int_equal(escrow_attest_key_from_bytes(&k, d, len), ESCROW_E_KEY);
  free(d);
  assert_int_equal(escrow_attest_key_generate(&k, 0), 0);
  char *jwk = NULL;
  assert_int_equal(escrow_attest_key_jwk(k, &jwk, NULL), 0);
  assert_non_null(strstr(jwk, "\"kty\":\"RSA\""));
  escrow_free(jwk);
  escrow_attest_key_free(k);
}

static void test_signer_export_round_trips(void **state) {
  (void)state;
  uint8_t *pem = NULL;
  size_t pl = 0;
  assert_int_equal(escrow_attest_signer_export(platform, &pem, &pl), 0);
  assert_non_null(strstr((char *)pem, "-----BEGIN PRIVATE KEY-----"));
  escrow_attest_signer *s = NULL;
  assert_int_equal(escrow_attest_signer_from_bytes(&s, pem, pl, NULL), 0);
  assert_string_equal(escrow_attest_signer_kid(s), escrow_attest_signer_kid(platform));
  escrow_secret_free(pem);
  escrow_attest_signer_free(s);
  assert_int_equal(escrow_attest_signer_generate(&s, 2048, "has space"), ESCROW_E_INVALID);
  assert_null(s);
}

/* ---- verifier ------------------------------------------------------------------------------ */

static void test_sim_token_verifies_to_claims_stamped_simulated(void **state) {
  (void)state;
  char *tok = token_for(enc_a, "n-1", "run-1");
  char *claims = verified_claims(tok);
  assert_non_null(strstr(claims, "\"x-escrow-simulated\":true"));
  assert_non_null(strstr(claims, "\"x-escrow-verifier\":\"sim\""));
  assert_non_null(strstr(claims, "\"x-escrow-authority\":\"" ISS "\""));
  assert_non_null(strstr(claims, "\"x-ms-attestation-type\":\"sim\""));
  assert_non_null(strstr(claims, "SIMULATED"));
  assert_non_null(strstr(claims, "\"run_id\":\"run-1\""));
  assert_non_null(strstr(claims, "\"x-escrow-package-digest\":\"sha256:aa\""));
  escrow_free(claims);
  escrow_free(tok);
}

static void test_simulated_evidence_is_refused_unless_allowed(void **state) {
  (void)state;
  char *tok = token_for(enc_a, "n-1", "run-1");
  char *claims = NULL;
  assert_int_equal(verify_at(&claims, tok, NOW, 0), ESCROW_E_AUTH);
  assert_error_mentions("SIMULATED");
  assert_null(claims);
  assert_int_equal(escrow_attest_verify(&claims, NULL, trust, "sim", (uint8_t *)tok, strlen(tok),
                                        NULL),
                   ESCROW_E_AUTH);
  escrow_free(tok);
}

static void test_simulated_stamp_comes_from_the_verifier_not_the_token(void **state) {
  (void)state;
  char *tok = token_for(enc_a, "n-1", "run-1");
  char *p = payload_of(tok);
  char *forged = replace(p, "\"x-escrow-simulated\":true", "\"x-escrow-simulated\":false");
  char *t2 = sign_raw(escrow__signer_pkey(issuer), "{\"alg\":\"RS256\",\"kid\":\"sim-issuer-1\"}",
                      forged);
  char *claims = verified_claims(t2);
  assert_non_null(strstr(claims, "\"x-escrow-simulated\":true"));
  assert_null(strstr(claims, "\"x-escrow-simulated\":false"));
  escrow_free(claims);
  free(t2);
  free(forged);
  escrow__free(p);
  escrow_free(tok);
}

static void test_token_from_another_issuer_is_refused(void **state) {
  (void)state;
  char *rd = runtime(enc_a, "n-1", "run-1");
  /* An issuer nobody trusts. */
  char *tok = issue_with(other_issuer, OTHER_ISS, rd, NOW, NULL);
  char *claims = NULL;
  assert_int_equal(verify_at(&claims, tok, NOW, 1), ESCROW_E_NOTFOUND);
  assert_error_mentions("not trusted");
  escrow_free(tok);
  /* Another key claiming to be the trusted issuer, with the trusted kid. */
  tok = issue_with(other_issuer, ISS, rd, NOW, NULL);
  assert_int_equal(verify_at(&claims, tok, NOW, 1), ESCROW_E_AUTH);
  assert_error_mentions("signature");
  assert_null(claims);
  escrow_free(tok);
  escrow_free(rd);
}

static void test_trailing_slash_of_the_issuer_does_not_matter(void **state) {
  (void)state;
  char *rd = runtime(enc_a, "n-1", "run-1");
  char *tok = issue_with(issuer, ISS "/", rd, NOW, NULL);
  char *claims = verified_claims(tok);
  escrow_free(claims);
  escrow_free(tok);
  escrow_free(rd);
}

static void test_token_with_an_unknown_kid_is_refused(void **state) {
  (void)state;
  escrow_attest_signer *s = NULL;
  size_t len;
  uint8_t *d = tu_read(tu_vector("attest/issuer.key.pem"), &len);
  assert_int_equal(escrow_attest_signer_from_bytes(&s, d, len, "rotated-key"), 0);
  free(d);
  char *rd = runtime(enc_a, "n-1", "run-1");
  char *tok = issue_with(s, ISS, rd, NOW, NULL);
  char *claims = NULL;
  assert_int_equal(verify_at(&claims, tok, NOW, 1), ESCROW_E_NOTFOUND);
  assert_error_mentions("rotated-key");
  escrow_free(tok);
  escrow_free(rd);
  escrow_attest_signer_free(s);
}

static void test_expired_token_is_refused_after_the_skew(void **state) {
  (void)state;
  char *tok = token_for(enc_a, "n-1", "run-1"); /* exp = NOW + 600 */
  char *claims = NULL;
  assert_int_equal(verify_at(&claims, tok, NOW + 600 + 60, 1), 0);
  escrow_free(claims);
  claims = NULL;
  assert_int_equal(verify_at(&claims, tok, NOW + 600 + 61, 1), ESCROW_E_CHECK);
  assert_error_mentions("expired");
  assert_null(claims);
  escrow_free(tok);
}

static void test_token_not_yet_valid_is_refused(void **state) {
  (void)state;
  char *tok = token_for(enc_a, "n-1", "run-1");
  char *claims = NULL;
  assert_int_equal(verify_at(&claims, tok, NOW - 61, 1), ESCROW_E_CHECK);
  assert_error_mentions("not valid yet");
  escrow_free(tok);
}

static void test_token_without_exp_or_nbf_is_refused(void **state) {
  (void)state;
  char *tok = token_for(enc_a, "n-1", "run-1");
  char *p = payload_of(tok);
  char exp[64];
  snprintf(exp, sizeof exp, "\"exp\":%d,", NOW + 600);
  char *noexp = replace(p, exp, "");
  char *t2 = sign_raw(escrow__signer_pkey(issuer), "{\"alg\":\"RS256\",\"kid\":\"sim-issuer-1\"}",
                      noexp);
  char *claims = NULL;
  assert_int_equal(verify_at(&claims, t2, NOW, 1), ESCROW_E_FORMAT);
  assert_error_mentions("exp");
  free(t2);
  free(noexp);
  escrow__free(p);
  escrow_free(tok);
}

static void test_alg_none_and_hs256_are_refused(void **state) {
  (void)state;
  char *tok = token_for(enc_a, "n-1", "run-1");
  char *p = payload_of(tok);
  char *p64 = b64url_str(p);
  /* alg none, empty signature. */
  char *h64 = b64url_str("{\"alg\":\"none\",\"kid\":\"sim-issuer-1\"}");
  char t[16384];
  snprintf(t, sizeof t, "%s.%s.", h64, p64);
  char *claims = NULL;
  assert_int_equal(verify_at(&claims, t, NOW, 1), ESCROW_E_UNSUPPORTED);
  /* alg none with the original signature kept. */
  snprintf(t, sizeof t, "%s.%s.%s", h64, p64, strrchr(tok, '.') + 1);
  assert_int_equal(verify_at(&claims, t, NOW, 1), ESCROW_E_UNSUPPORTED);
  assert_error_mentions("none");
  escrow__free(h64);
  /* HS256 keyed with the issuer's public JWKS text (the classic key-confusion attack). */
  h64 = b64url_str("{\"alg\":\"HS256\",\"kid\":\"sim-issuer-1\"}");
  char in[8192];
  snprintf(in, sizeof in, "%s.%s", h64, p64);
  char *jwks = NULL;
  size_t jl = 0;
  assert_int_equal(escrow_attest_signer_jwks(issuer, &jwks, &jl), 0);
  uint8_t mac[32];
  unsigned ml = 0;
  HMAC(EVP_sha256(), jwks, (int)jl, (uint8_t *)in, strlen(in), mac, &ml);
  char *m64 = escrow__b64url(mac, ml);
  snprintf(t, sizeof t, "%s.%s", in, m64);
  assert_int_equal(verify_at(&claims, t, NOW, 1), ESCROW_E_UNSUPPORTED);
  assert_error_mentions("HS256");
  assert_null(claims);
  escrow__free(m64);
  escrow_free(jwks);
  escrow__free(h64);
  escrow__free(p64);
  escrow__free(p);
  escrow_free(tok);
}

static void test_tampered_token_fails_its_signature(void **state) {
  (void)state;
  char *tok = token_for(enc_a, "n-1", "run-1");
  char *p = payload_of(tok);
  char *changed = replace(p, "run-1", "run-2");
  char *p64 = b64url_str(changed);
  const char *d1 = strchr(tok, '.');
  const char *d2 = strrchr(tok, '.');
  char t[16384];
  snprintf(t, sizeof t, "%.*s.%s%s", (int)(d1 - tok), tok, p64, d2);
  char *claims = NULL;
  assert_int_equal(verify_at(&claims, t, NOW, 1), ESCROW_E_AUTH);
  /* A flipped signature bit too. */
  char *t2 = strdup(tok);
  char *last = t2 + strlen(t2) - 2;
  *last = *last == 'A' ? 'B' : 'A';
  assert_int_equal(verify_at(&claims, t2, NOW, 1), ESCROW_E_AUTH);
  free(t2);
  escrow__free(p64);
  free(changed);
  escrow__free(p);
  escrow_free(tok);
}

static void test_report_data_must_bind_the_runtime_data(void **state) {
  (void)state;
  char *tok = token_for(enc_a, "n-1", "run-1");
  char *p = payload_of(tok);
  /* The issuer signs a runtime object that differs from what the report data hashes. */
  char *changed = replace(p, "\"nonce\":\"n-1\"", "\"nonce\":\"n-2\"");
  char *t2 = sign_raw(escrow__signer_pkey(issuer), "{\"alg\":\"RS256\",\"kid\":\"sim-issuer-1\"}",
                      changed);
  char *claims = NULL;
  assert_int_equal(verify_at(&claims, t2, NOW, 1), ESCROW_E_MISMATCH);
  assert_error_mentions("report data");
  free(t2);
  free(changed);
  escrow__free(p);
  escrow_free(tok);
}

static void test_runtime_data_sent_alongside_must_be_the_bound_one(void **state) {
  (void)state;
  char *rd = runtime(enc_a, "n-1", "run-1");
  char *other = runtime(enc_a, "n-9", "run-1");
  char *tok = issue_with(issuer, ISS, rd, NOW, NULL);
  escrow_attest_verify_opts o = ESCROW_ATTEST_VERIFY_OPTS_INIT;
  o.now = NOW;
  o.allow_simulated = 1;
  o.runtime_data = (uint8_t *)other;
  o.runtime_data_len = strlen(other);
  char *claims = NULL;
  assert_int_equal(escrow_attest_verify(&claims, NULL, trust, "sim", (uint8_t *)tok, strlen(tok),
                                        &o),
                   ESCROW_E_MISMATCH);
  o.runtime_data = (uint8_t *)rd;
  o.runtime_data_len = strlen(rd);
  assert_int_equal(escrow_attest_verify(&claims, NULL, trust, "sim", (uint8_t *)tok, strlen(tok),
                                        &o),
                   0);
  escrow_free(claims);
  escrow_free(tok);
  escrow_free(rd);
  escrow_free(other);
}

static void test_sim_issuer_refuses_non_canonical_runtime_data(void **state) {
  (void)state;
  const char *rd = "{ \"keys\": [], \"nonce\": \"n\" }";
  escrow_attest_sim_opts o = ESCROW_ATTEST_SIM_OPTS_INIT;
  o.issuer = ISS;
  char *tok = NULL;
  assert_int_equal(escrow_attest_sim_issue(&tok, NULL, issuer, &o, (uint8_t *)rd, strlen(rd)),
                   ESCROW_E_FORMAT);
  assert_error_mentions("canonical");
  const char *no_keys = "{\"nonce\":\"n\"}";
  assert_int_equal(
      escrow_attest_sim_issue(&tok, NULL, issuer, &o, (uint8_t *)no_keys, strlen(no_keys)),
      ESCROW_E_FORMAT);
  assert_null(tok);
}

static void test_duplicate_claims_are_refused(void **state) {
  (void)state;
  char *tok = token_for(enc_a, "n-1", "run-1");
  char *p = payload_of(tok);
  char *dup = replace(p, "{", "{\"iss\":\"" OTHER_ISS "\",");
  char *t2 = sign_raw(escrow__signer_pkey(issuer), "{\"alg\":\"RS256\",\"kid\":\"sim-issuer-1\"}",
                      dup);
  char *claims = NULL;
  assert_int_equal(verify_at(&claims, t2, NOW, 1), ESCROW_E_FORMAT);
  assert_error_mentions("twice");
  free(t2);
  free(dup);
  escrow__free(p);
  escrow_free(tok);
}

static void test_crit_header_is_refused(void **state) {
  (void)state;
  char *tok = token_for(enc_a, "n-1", "run-1");
  char *p = payload_of(tok);
  char *t2 = sign_raw(escrow__signer_pkey(issuer),
                      "{\"alg\":\"RS256\",\"crit\":[\"b64\"],\"b64\":false,\"kid\":\"sim-issuer-1\"}",
                      p);
  char *claims = NULL;
  assert_int_equal(verify_at(&claims, t2, NOW, 1), ESCROW_E_UNSUPPORTED);
  free(t2);
  escrow__free(p);
  escrow_free(tok);
}

static void test_only_the_sim_format_is_built(void **state) {
  (void)state;
  assert_int_equal(escrow_attest_format_supported("sim"), 1);
  assert_int_equal(escrow_attest_format_supported("maa-jwt"), 0);
  assert_int_equal(escrow_attest_format_supported("snp-report"), 0);
  char *claims = NULL;
  escrow_attest_verify_opts o = ESCROW_ATTEST_VERIFY_OPTS_INIT;
  o.allow_simulated = 1;
  assert_int_equal(escrow_attest_verify(&claims, NULL, trust, "maa-jwt", (uint8_t *)"x", 1, &o),
                   ESCROW_E_UNSUPPORTED);
  assert_error_mentions("planned");
  assert_int_equal(escrow_attest_verify(&claims, NULL, trust, "tpm", (uint8_t *)"x", 1, &o),
                   ESCROW_E_UNSUPPORTED);
  escrow_attest_trust *t = NULL;
  assert_int_equal(escrow_attest_trust_new(&t), 0);
  assert_int_equal(escrow_attest_trust_add_issuer(t, "maa-jwt", ISS, (uint8_t *)"{}", 2),
                   ESCROW_E_UNSUPPORTED);
  escrow_attest_trust_free(t);
}

static void test_trust_store_refuses_bad_jwks_and_duplicate_issuers(void **state) {
  (void)state;
  escrow_attest_trust *t = NULL;
  assert_int_equal(escrow_attest_trust_new(&t), 0);
  const char *empty = "{\"keys\":[]}";
  assert_int_equal(escrow_attest_trust_add_issuer(t, "sim", ISS, (uint8_t *)empty, strlen(empty)),
                   ESCROW_E_KEY);
  const char *notjson = "{\"keys\":";
  assert_int_equal(
      escrow_attest_trust_add_issuer(t, "sim", ISS, (uint8_t *)notjson, strlen(notjson)),
      ESCROW_E_FORMAT);
  assert_int_equal(escrow_attest_trust_add_issuer(t, "sim", ISS, (uint8_t *)platform_jwks,
                                                  strlen(platform_jwks)),
                   0);
  assert_int_equal(escrow_attest_trust_add_issuer(t, "sim", ISS "/", (uint8_t *)platform_jwks,
                                                  strlen(platform_jwks)),
                   ESCROW_E_EXISTS);
  escrow_attest_trust_free(t);
}

static void test_issuer_jwks_with_only_x5c_certificates_is_usable(void **state) {
  (void)state;
  /* Azure Attestation's /certs keys carry no n/e, only x5c: the first certificate's key. */
  size_t jl;
  uint8_t *jwks = tu_read(tu_vector("attest/issuer-x5c.jwks.json"), &jl);
  escrow_attest_trust *t = NULL;
  assert_int_equal(escrow_attest_trust_new(&t), 0);
  assert_int_equal(escrow_attest_trust_add_issuer(t, "sim", ISS, jwks, jl), 0);
  free(jwks);
  char *tok = token_for(enc_a, "n-1", "run-1");
  escrow_attest_verify_opts o = ESCROW_ATTEST_VERIFY_OPTS_INIT;
  o.now = NOW;
  o.allow_simulated = 1;
  char *claims = NULL;
  assert_int_equal(escrow_attest_verify(&claims, NULL, t, "sim", (uint8_t *)tok, strlen(tok), &o),
                   0);
  escrow_free(claims);
  escrow_free(tok);
  /* The other issuer's token with the same kid does not verify with this certificate. */
  char *rd = runtime(enc_a, "n-1", "run-1");
  tok = issue_with(other_issuer, ISS, rd, NOW, NULL);
  assert_int_equal(escrow_attest_verify(&claims, NULL, t, "sim", (uint8_t *)tok, strlen(tok), &o),
                   ESCROW_E_AUTH);
  escrow_free(tok);
  escrow_free(rd);
  escrow_attest_trust_free(t);
}

/* ---- policy -------------------------------------------------------------------------------- */

static const char claims_doc[] =
    "{\"iss\":\"https://maa.example/\",\"x-escrow-authority\":\"https://maa.example\","
    "\"x-ms-attestation-type\":\"sevsnpvm\",\"x-ms-sevsnpvm-is-debuggable\":false,"
    "\"x-ms-sevsnpvm-vmpl\":0,\"x-ms-sevsnpvm-guestsvn\":7,\"svn-text\":\"7\","
    "\"x-ms-runtime\":{\"project_id\":\"proj-1\",\"run_id\":\"run-1\","
    "\"vm-configuration\":{\"secure-boot\":true}},\"x-ms-list\":[1,2]}";

static int eval(const char *policy) {
  return escrow_attest_policy_eval((const uint8_t *)policy, strlen(policy),
                                   (const uint8_t *)claims_doc, strlen(claims_doc));
}

#define POLICY(conds)                                                                         \
  "{\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":\"https://maa.example/\",\"allOf\":[" conds \
  "]}]}"

static void test_policy_equals_compares_canonical_text(void **state) {
  (void)state;
  assert_int_equal(eval(POLICY("{\"claim\":\"x-ms-attestation-type\",\"equals\":\"sevsnpvm\"}")),
                   0);
  /* Azure's examples: booleans and integers compared with strings. */
  assert_int_equal(eval(POLICY("{\"claim\":\"x-ms-sevsnpvm-is-debuggable\",\"equals\":\"false\"},"
                               "{\"claim\":\"x-ms-sevsnpvm-vmpl\",\"equals\":\"0\"}")),
                   0);
  assert_int_equal(eval(POLICY("{\"claim\":\"x-ms-sevsnpvm-is-debuggable\",\"equals\":false},"
                               "{\"claim\":\"x-ms-sevsnpvm-vmpl\",\"equals\":0}")),
                   0);
  assert_int_equal(eval(POLICY("{\"claim\":\"x-ms-sevsnpvm-is-debuggable\",\"equals\":true}")),
                   ESCROW_E_CHECK);
  assert_error_mentions("anyOf[0].allOf[0]");
  assert_error_mentions("x-ms-sevsnpvm-is-debuggable");
}

static void test_policy_dot_paths_reach_nested_claims(void **state) {
  (void)state;
  assert_int_equal(eval(POLICY("{\"claim\":\"x-ms-runtime.project_id\",\"equals\":\"proj-1\"},"
                               "{\"claim\":\"x-ms-runtime.vm-configuration.secure-boot\","
                               "\"equals\":\"true\"}")),
                   0);
  assert_int_equal(eval(POLICY("{\"claim\":\"x-ms-runtime.run_id\",\"equals\":\"run-2\"}")),
                   ESCROW_E_CHECK);
  assert_error_mentions("x-ms-runtime.run_id");
  /* Arrays and objects are not single values. */
  assert_int_equal(eval(POLICY("{\"claim\":\"x-ms-list\",\"equals\":\"1\"}")), ESCROW_E_CHECK);
  assert_int_equal(eval(POLICY("{\"claim\":\"x-ms-runtime\",\"equals\":\"x\"}")), ESCROW_E_CHECK);
}

static void test_policy_missing_claim_fails(void **state) {
  (void)state;
  assert_int_equal(eval(POLICY("{\"claim\":\"x-ms-sevsnpvm-hostdata\",\"equals\":\"ab\"}")),
                   ESCROW_E_CHECK);
  assert_error_mentions("no such claim");
  assert_int_equal(eval(POLICY("{\"claim\":\"x-ms-sevsnpvm-hostdata\",\"notEquals\":\"ab\"}")),
                   ESCROW_E_CHECK);
  assert_int_equal(eval(POLICY("{\"claim\":\"x-ms-sevsnpvm-hostdata\",\"exists\":false}")), 0);
  assert_int_equal(eval(POLICY("{\"claim\":\"x-ms-sevsnpvm-vmpl\",\"exists\":true}")), 0);
  assert_int_equal(eval(POLICY("{\"claim\":\"x-ms-sevsnpvm-vmpl\",\"exists\":false}")),
                   ESCROW_E_CHECK);
}

static void test_policy_ordering_operators(void **state) {
  (void)state;
  assert_int_equal(eval(POLICY("{\"claim\":\"x-ms-sevsnpvm-guestsvn\",\"greaterOrEquals\":7}")),
                   0);
  assert_int_equal(eval(POLICY("{\"claim\":\"x-ms-sevsnpvm-guestsvn\",\"greater\":7}")),
                   ESCROW_E_CHECK);
  assert_int_equal(eval(POLICY("{\"claim\":\"x-ms-sevsnpvm-guestsvn\",\"less\":10}")), 0);
  assert_int_equal(eval(POLICY("{\"claim\":\"x-ms-sevsnpvm-guestsvn\",\"less\":7}")),
                   ESCROW_E_CHECK);
  assert_int_equal(eval(POLICY("{\"claim\":\"x-ms-sevsnpvm-guestsvn\",\"lessOrEquals\":\"7\"}")),
                   0);
  /* Numbers are compared as numbers, not text ("10" > "7"). */
  assert_int_equal(eval(POLICY("{\"claim\":\"svn-text\",\"less\":\"10\"}")), 0);
  assert_int_equal(eval(POLICY("{\"claim\":\"x-ms-attestation-type\",\"greater\":\"abc\"}")), 0);
  assert_int_equal(eval(POLICY("{\"claim\":\"x-ms-sevsnpvm-is-debuggable\",\"less\":1}")),
                   ESCROW_E_CHECK);
  assert_error_mentions("cannot be ordered");
  assert_int_equal(eval(POLICY("{\"claim\":\"x-ms-attestation-type\",\"notEquals\":\"sgx\"}")),
                   0);
  assert_int_equal(
      eval(POLICY("{\"claim\":\"x-ms-attestation-type\",\"notEquals\":\"sevsnpvm\"}")),
      ESCROW_E_CHECK);
}

static void test_policy_nested_any_and_all(void **state) {
  (void)state;
  assert_int_equal(
      eval(POLICY("{\"anyOf\":[{\"claim\":\"x-ms-attestation-type\",\"equals\":\"sgx\"},"
                  "{\"allOf\":[{\"claim\":\"x-ms-sevsnpvm-vmpl\",\"equals\":0},"
                  "{\"claim\":\"x-ms-runtime.project_id\",\"equals\":\"proj-1\"}]}]}")),
      0);
  assert_int_equal(
      eval(POLICY("{\"anyOf\":[{\"claim\":\"x-ms-attestation-type\",\"equals\":\"sgx\"},"
                  "{\"claim\":\"x-ms-attestation-type\",\"equals\":\"tdxvm\"}]}")),
      ESCROW_E_CHECK);
  assert_error_mentions("none of its 2 alternatives");
  /* An authority with anyOf. */
  const char *p = "{\"version\":\"0.2\",\"anyOf\":[{\"authority\":\"https://maa.example\","
                  "\"anyOf\":[{\"claim\":\"x-ms-sevsnpvm-vmpl\",\"equals\":\"1\"},"
                  "{\"claim\":\"x-ms-sevsnpvm-vmpl\",\"equals\":\"0\"}]}]}";
  assert_int_equal(eval(p), 0);
}

static void test_policy_authority_must_match_the_issuer(void **state) {
  (void)state;
  const char *p = "{\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":\"https://other.example\","
                  "\"allOf\":[]},{\"authority\":\"https://maa.example//\",\"allOf\":[]}]}";
  assert_int_equal(eval(p), ESCROW_E_CHECK);
  assert_error_mentions("no authority");
  /* The second authority applies when the first fails. */
  const char *q = "{\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":\"https://maa.example\","
                  "\"allOf\":[{\"claim\":\"x-ms-sevsnpvm-vmpl\",\"equals\":1}]},"
                  "{\"authority\":\"https://maa.example/\",\"allOf\":[{\"claim\":"
                  "\"x-ms-sevsnpvm-vmpl\",\"equals\":0}]}]}";
  assert_int_equal(eval(q), 0);
}

static void test_policy_structure_errors_are_reported(void **state) {
  (void)state;
  static const struct {
    const char *policy;
    int rc;
    const char *mention;
  } bad[] = {
      {"{\"version\":\"2.0\",\"anyOf\":[{\"authority\":\"a\",\"allOf\":[]}]}",
       ESCROW_E_UNSUPPORTED, "2.0"},
      {"{\"anyOf\":[{\"authority\":\"a\",\"allOf\":[]}]}", ESCROW_E_FORMAT, "version"},
      {"{\"version\":\"1.0.0\",\"anyOf\":[]}", ESCROW_E_FORMAT, "anyOf"},
      {"{\"version\":\"1.0.0\",\"anyOf\":[{\"allOf\":[]}]}", ESCROW_E_FORMAT, "authority"},
      {"{\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":\"a\",\"allOf\":[],\"anyOf\":[]}]}",
       ESCROW_E_FORMAT, "exactly one"},
      {POLICY("{\"claim\":\"a\",\"matches\":\"x\"}"), ESCROW_E_FORMAT, "matches"},
      {POLICY("{\"claim\":\"a\",\"equals\":\"x\",\"notEquals\":\"y\"}"), ESCROW_E_FORMAT,
       "one operator"},
      {POLICY("{\"claim\":\"a\",\"equals\":{\"o\":1}}"), ESCROW_E_FORMAT, "allOf[0]"},
      {POLICY("{\"claim\":\"a..b\",\"equals\":1}"), ESCROW_E_FORMAT, "dot notation"},
      {POLICY("{\"claim\":\"a\",\"exists\":\"yes\"}"), ESCROW_E_FORMAT, "exists"},
      {POLICY("{\"anyOf\":[]}"), ESCROW_E_FORMAT, "empty"},
      {POLICY("{\"claim\":\"a\"}"), ESCROW_E_FORMAT, "no operator"},
      {"{\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":\"a\",\"allOf\":[]}],\"x\":1}",
       ESCROW_E_FORMAT, "unknown member"},
      {"[1]", ESCROW_E_FORMAT, "object"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = escrow_attest_policy_check((const uint8_t *)bad[i].policy, strlen(bad[i].policy));
    if (rc != bad[i].rc)
      fail_msg("policy %zu: %d, not %d (%s)", i, rc, bad[i].rc, escrow_error_last());
    assert_error_mentions(bad[i].mention);
    assert_int_equal(eval(bad[i].policy), bad[i].rc);
  }
}

static void test_errors_quoting_input_are_one_printable_line(void **state) {
  (void)state;
  /* an unknown member named with a newline, an escape and DEL: quoted, but as '?' */
  const char *p = "{\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":\"a\",\"allOf\":[]}],"
                  "\"x\\nFAKE LOG LINE\\u001b[2J\\u007f\":1}";
  assert_int_equal(escrow_attest_policy_check((const uint8_t *)p, strlen(p)), ESCROW_E_FORMAT);
  const char *m = escrow_error_last();
  assert_non_null(strstr(m, "x?FAKE LOG LINE?[2J?"));
  for (const char *c = m; *c; c++) assert_true((unsigned char)*c >= 0x20 && *c != 0x7f);
}

static void test_policy_is_checked_entirely_before_evaluation(void **state) {
  (void)state;
  /* The first authority allows release, but the second is malformed: refused. */
  const char *p = "{\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":\"https://maa.example\","
                  "\"allOf\":[]},{\"authority\":\"b\",\"allOf\":[{\"claim\":\"a\"}]}]}";
  assert_int_equal(eval(p), ESCROW_E_FORMAT);
}

static void test_policy_in_key_vault_wire_form(void **state) {
  (void)state;
  const char *inner = POLICY("{\"claim\":\"x-ms-sevsnpvm-vmpl\",\"equals\":\"0\"}");
  char *data = b64url_str(inner);
  char wire[2048];
  snprintf(wire, sizeof wire,
           "{\"contentType\":\"application/json; charset=utf-8\",\"data\":\"%s\","
           "\"immutable\":false}",
           data);
  assert_int_equal(eval(wire), 0);
  escrow__free(data);
  /* The recorded Key Vault policy (an SGX mrsigner policy) checks and fails on our claims. */
  const char *akv = "{\"data\":\"eyJ2ZXJzaW9uIjoiMS4wLjAiLCJhbnlPZiI6W3siYXV0aG9yaXR5IjoiaHR0cH"
                    "M6Ly9zaGFyZWR3dXMud3VzLmF0dGVzdC5henVyZS5uZXQiLCJhbGxPZiI6W3siY2xhaW0iOiJ4"
                    "LW1zLXNneC1tcnNpZ25lciIsImVxdWFscyI6IjYxYjhmMDVlZmI0ZTNiMjU5ZjNiMWJiYTZiOD"
                    "lhMWExNjc4NGJkNGIzYjE3MmQwMGJhMjJhMzZjNzEzMWQyZDUifV19XX0\","
                    "\"immutable\":false}";
  assert_int_equal(escrow_attest_policy_check((const uint8_t *)akv, strlen(akv)), 0);
  assert_int_equal(eval(akv), ESCROW_E_CHECK);
}

static void test_policy_against_verified_sim_claims(void **state) {
  (void)state;
  char *tok = token_for(enc_a, "n-1", "run-1");
  char *claims = verified_claims(tok);
  const char *p = "{\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":\"" ISS "/\",\"allOf\":["
                  "{\"claim\":\"x-ms-runtime.project_id\",\"equals\":\"proj-1\"},"
                  "{\"claim\":\"x-escrow-package-digest\",\"equals\":\"sha256:aa\"}]}]}";
  assert_int_equal(escrow_attest_policy_eval((uint8_t *)p, strlen(p), (uint8_t *)claims,
                                             strlen(claims)),
                   0);
  escrow_free(claims);
  escrow_free(tok);
}

/* ---- dynamic checks ------------------------------------------------------------------------ */

static int expect(const char *claims, escrow_attest_expect *e) {
  return escrow_attest_check_expect((const uint8_t *)claims, strlen(claims), e);
}

static void test_expected_run_project_role_nonce_and_package(void **state) {
  (void)state;
  char *tok = token_for(enc_a, "nonce-1", "run-1");
  char *claims = verified_claims(tok);
  escrow_attest_expect e = ESCROW_ATTEST_EXPECT_INIT;
  e.allow_simulated = 1;
  e.project_id = "proj-1";
  e.run_id = "run-1";
  e.role = "ds";
  e.nonce = "nonce-1";
  e.package_digest = "sha256:aa";
  e.now = NOW + 10;
  e.max_age = 300;
  assert_int_equal(expect(claims, &e), 0);
  e.run_id = "run-2"; /* another run's token */
  assert_int_equal(expect(claims, &e), ESCROW_E_CHECK);
  assert_error_mentions("run 'run-1', not 'run-2'");
  e.run_id = "run-1";
  e.project_id = "proj-2";
  assert_int_equal(expect(claims, &e), ESCROW_E_CHECK);
  e.project_id = "proj-1";
  e.role = "ao";
  assert_int_equal(expect(claims, &e), ESCROW_E_CHECK);
  e.role = "ds";
  e.nonce = "nonce-2"; /* a replayed token carries an old nonce */
  assert_int_equal(expect(claims, &e), ESCROW_E_CHECK);
  assert_error_mentions("nonce");
  assert_null(strstr(escrow_error_last(), "nonce-1"));
  e.nonce = "nonce-1";
  e.package_digest = "sha256:bb";
  assert_int_equal(expect(claims, &e), ESCROW_E_CHECK);
  assert_error_mentions("package");
  e.package_digest = "sha256:aa";
  e.now = NOW + 301;
  assert_int_equal(expect(claims, &e), ESCROW_E_CHECK);
  assert_error_mentions("too old");
  e.now = NOW + 10;
  e.allow_simulated = 0;
  assert_int_equal(expect(claims, &e), ESCROW_E_CHECK);
  assert_error_mentions("SIMULATED");
  escrow_free(claims);
  escrow_free(tok);
}

static void test_expect_needs_verifier_claims(void **state) {
  (void)state;
  escrow_attest_expect e = ESCROW_ATTEST_EXPECT_INIT;
  assert_int_equal(expect("{\"iss\":\"x\"}", &e), ESCROW_E_CHECK);
  assert_int_equal(expect("[]", &e), ESCROW_E_FORMAT);
  e.version = 99;
  assert_int_equal(expect("{}", &e), ESCROW_E_INVALID);
}

/* ---- release ------------------------------------------------------------------------------- */

static char *release_to(const char *claims, escrow_attest_enc enc) {
  escrow_attest_release_opts o = ESCROW_ATTEST_RELEASE_OPTS_INIT;
  o.key_id = "https://escrow.example/keys/proj-1/ds";
  o.enc = enc;
  o.now = NOW;
  char *resp = NULL;
  int rc = escrow_attest_release(&resp, NULL, platform, kek, (const uint8_t *)claims,
                                 strlen(claims), &o);
  if (rc != 0)
    fail_msg("release: %s", escrow_error_last());
  return resp;
}

static escrow_attest_release_trust platform_trust(void) {
  escrow_attest_release_trust t = ESCROW_ATTEST_RELEASE_TRUST_INIT;
  t.platform_key = platform_pem;
  t.platform_key_len = platform_pem_len;
  return t;
}

static void assert_same_kek(const escrow_kek *k) {
  char a[ESCROW_KEY_ID_SIZE], b[ESCROW_KEY_ID_SIZE];
  assert_int_equal(escrow_kek_key_id(k, a, sizeof a), 0);
  assert_int_equal(escrow_kek_key_id(kek, b, sizeof b), 0);
  assert_string_equal(a, b);
  assert_int_equal(escrow_kek_has_private(k), 1);
}

static void test_release_round_trip_gives_the_enclave_the_kek(void **state) {
  (void)state;
  char *tok = token_for(enc_a, "n-1", "run-1");
  char *claims = verified_claims(tok);
  static const escrow_attest_enc encs[] = {ESCROW_ATTEST_ENC_RSA_AES_KEY_WRAP_256,
                                           ESCROW_ATTEST_ENC_RSA_AES_KEY_WRAP_384,
                                           ESCROW_ATTEST_ENC_CKM_RSA_AES_KEY_WRAP};
  for (size_t i = 0; i < 3; i++) {
    char *resp = release_to(claims, encs[i]);
    assert_non_null(strstr(resp, "{\"value\":\"ey"));
    escrow_attest_release_trust t = platform_trust();
    escrow_kek *got = NULL;
    assert_int_equal(escrow_attest_release_open(&got, (uint8_t *)resp, strlen(resp), &t, enc_a),
                     0);
    assert_same_kek(got);
    escrow_kek_free(got);
    /* The platform's JWKS works as the trust too. */
    t.platform_key = (uint8_t *)platform_jwks;
    t.platform_key_len = strlen(platform_jwks);
    assert_int_equal(escrow_attest_release_open(&got, (uint8_t *)resp, strlen(resp), &t, enc_a),
                     0);
    escrow_kek_free(got);
    escrow_free(resp);
  }
  escrow_free(claims);
  escrow_free(tok);
}

static void test_release_response_has_key_vault_shape(void **state) {
  (void)state;
  char *tok = token_for(enc_a, "n-1", "run-1");
  char *claims = verified_claims(tok);
  char *resp = release_to(claims, ESCROW_ATTEST_ENC_RSA_AES_KEY_WRAP_256);
  escrow_attest_release_trust t = platform_trust();
  char *payload = NULL;
  assert_int_equal(
      escrow_attest_release_inspect(&payload, NULL, (uint8_t *)resp, strlen(resp), &t), 0);
  assert_non_null(strstr(payload, "\"request\":{\"api-version\":\"7.4\",\"enc\":"
                                  "\"RSA_AES_KEY_WRAP_256\""));
  assert_non_null(strstr(payload, "\"exportable\":true"));
  escrow__json *p = NULL;
  assert_int_equal(escrow__json_parse(&p, (uint8_t *)payload, strlen(payload), "p"), 0);
  const char *hsm64 = escrow__json_get_str(escrow__json_path(p, "response.key.key"), "key_hsm");
  assert_non_null(hsm64);
  uint8_t *hsm = NULL;
  size_t hl = 0;
  assert_int_equal(escrow__b64url_decode(hsm64, strlen(hsm64), false, "h", &hsm, &hl), 0);
  char kid[ESCROW_ATTEST_KID_SIZE];
  escrow_attest_key_kid(enc_a, kid, sizeof kid);
  char want[256];
  snprintf(want, sizeof want,
           "\"header\":{\"alg\":\"dir\",\"enc\":\"RSA_AES_KEY_WRAP_256\",\"kid\":\"%s\"}", kid);
  assert_non_null(strstr((char *)hsm, want));
  assert_non_null(strstr((char *)hsm, "\"schema_version\":\"1.0\""));
  /* Nothing in the response is the private key in the clear. */
  uint8_t *der = NULL;
  size_t dl = 0;
  assert_int_equal(escrow_kek_private_export(kek, ESCROW_KEY_DER, &der, &dl), 0);
  char *der64 = escrow__b64url(der + 64, 48);
  assert_null(strstr((char *)hsm, der64));
  assert_null(strstr(payload, der64));
  escrow__free(der64);
  escrow_secret_free(der);
  escrow__free(hsm);
  escrow__json_free(p);
  escrow_free(payload);
  escrow_free(resp);
  escrow_free(claims);
  escrow_free(tok);
}

static void test_release_to_another_enclave_key_is_refused(void **state) {
  (void)state;
  char *tok = token_for(enc_b, "n-1", "run-1");
  char *claims = verified_claims(tok);
  char *resp = release_to(claims, ESCROW_ATTEST_ENC_RSA_AES_KEY_WRAP_256);
  escrow_attest_release_trust t = platform_trust();
  escrow_kek *got = NULL;
  assert_int_equal(escrow_attest_release_open(&got, (uint8_t *)resp, strlen(resp), &t, enc_a),
                   ESCROW_E_MISMATCH);
  assert_null(got);
  escrow_free(resp);
  /* Wrapped to enclave b's key but labelled with a's kid: the unwrap itself fails. */
  char kid_a[ESCROW_ATTEST_KID_SIZE], kid_b[ESCROW_ATTEST_KID_SIZE];
  escrow_attest_key_kid(enc_a, kid_a, sizeof kid_a);
  escrow_attest_key_kid(enc_b, kid_b, sizeof kid_b);
  char *relabelled = replace(claims, kid_b, kid_a);
  resp = release_to(relabelled, ESCROW_ATTEST_ENC_RSA_AES_KEY_WRAP_256);
  assert_int_equal(escrow_attest_release_open(&got, (uint8_t *)resp, strlen(resp), &t, enc_a),
                   ESCROW_E_AUTH);
  assert_error_mentions("does not unwrap");
  assert_null(got);
  free(relabelled);
  escrow_free(resp);
  escrow_free(claims);
  escrow_free(tok);
}

static void test_tampered_or_foreign_release_is_refused(void **state) {
  (void)state;
  char *tok = token_for(enc_a, "n-1", "run-1");
  char *claims = verified_claims(tok);
  char *resp = release_to(claims, ESCROW_ATTEST_ENC_RSA_AES_KEY_WRAP_256);
  escrow_attest_release_trust t = platform_trust();
  escrow_kek *got = NULL;
  /* A changed character in the payload part. */
  char *bad = strdup(resp);
  char *dot = strchr(bad, '.');
  dot[40] = dot[40] == 'A' ? 'B' : 'A';
  assert_int_equal(escrow_attest_release_open(&got, (uint8_t *)bad, strlen(bad), &t, enc_a),
                   ESCROW_E_AUTH);
  free(bad);
  /* Trusting another platform key. */
  size_t len;
  uint8_t *d = tu_read(tu_vector("attest/issuer.key.pem"), &len);
  escrow_attest_signer *s = NULL;
  assert_int_equal(escrow_attest_signer_from_bytes(&s, d, len, NULL), 0);
  free(d);
  uint8_t *pem = NULL;
  size_t pl = 0;
  assert_int_equal(escrow_attest_signer_public_pem(s, &pem, &pl), 0);
  t.platform_key = pem;
  t.platform_key_len = pl;
  assert_int_equal(escrow_attest_release_open(&got, (uint8_t *)resp, strlen(resp), &t, enc_a),
                   ESCROW_E_AUTH);
  /* A JWKS without the release key's kid. */
  char *jwks = NULL;
  assert_int_equal(escrow_attest_signer_jwks(s, &jwks, NULL), 0);
  t.platform_key = (uint8_t *)jwks;
  t.platform_key_len = strlen(jwks);
  assert_int_equal(escrow_attest_release_open(&got, (uint8_t *)resp, strlen(resp), &t, enc_a),
                   ESCROW_E_NOTFOUND);
  assert_null(got);
  escrow_free(jwks);
  escrow_free(pem);
  escrow_attest_signer_free(s);
  /* Both trust kinds at once, or none. */
  t = platform_trust();
  t.x5c_root = platform_pem;
  t.x5c_root_len = platform_pem_len;
  assert_int_equal(escrow_attest_release_open(&got, (uint8_t *)resp, strlen(resp), &t, enc_a),
                   ESCROW_E_INVALID);
  /* A trust length no key or certificate has (it once became -1 for OpenSSL: "up to NUL"). */
  t = platform_trust();
  t.platform_key_len = SIZE_MAX;
  assert_int_equal(escrow_attest_release_open(&got, (uint8_t *)resp, strlen(resp), &t, enc_a),
                   ESCROW_E_LIMIT);
  assert_null(got);
  t = platform_trust();
  t.platform_key = NULL;
  t.platform_key_len = 0;
  t.x5c_root = platform_pem;
  t.x5c_root_len = (size_t)UINT32_MAX + 1 + platform_pem_len;
  t.x5c_host = "vault.example";
  assert_int_equal(escrow_attest_release_open(&got, (uint8_t *)resp, strlen(resp), &t, enc_a),
                   ESCROW_E_LIMIT);
  escrow_free(resp);
  escrow_free(claims);
  escrow_free(tok);
}

static void test_release_needs_an_encryption_key_in_the_claims(void **state) {
  (void)state;
  escrow_attest_release_opts o = ESCROW_ATTEST_RELEASE_OPTS_INIT;
  o.key_id = "k";
  char *resp = NULL;
  const char *none = "{\"x-ms-runtime\":{\"nonce\":\"n\"}}";
  assert_int_equal(
      escrow_attest_release(&resp, NULL, platform, kek, (uint8_t *)none, strlen(none), &o),
      ESCROW_E_NOTFOUND);
  const char *sig_only = "{\"x-ms-runtime\":{\"keys\":[{\"kty\":\"RSA\",\"use\":\"sig\","
                         "\"kid\":\"k\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}}";
  assert_int_equal(escrow_attest_release(&resp, NULL, platform, kek, (uint8_t *)sig_only,
                                         strlen(sig_only), &o),
                   ESCROW_E_NOTFOUND);
  const char *weak = "{\"x-ms-runtime\":{\"keys\":[{\"kty\":\"RSA\",\"key_ops\":[\"encrypt\"],"
                     "\"kid\":\"k\",\"n\":\"rNU\",\"e\":\"AQAB\"}]}}";
  assert_int_equal(
      escrow_attest_release(&resp, NULL, platform, kek, (uint8_t *)weak, strlen(weak), &o),
      ESCROW_E_KEY);
  escrow_kek *pub = tu_kek_public();
  char *tok = token_for(enc_a, "n-1", "run-1");
  char *claims = verified_claims(tok);
  assert_int_equal(
      escrow_attest_release(&resp, NULL, platform, pub, (uint8_t *)claims, strlen(claims), &o),
      ESCROW_E_INVALID);
  o.key_id = NULL;
  assert_int_equal(
      escrow_attest_release(&resp, NULL, platform, kek, (uint8_t *)claims, strlen(claims), &o),
      ESCROW_E_INVALID);
  assert_null(resp);
  escrow_free(claims);
  escrow_free(tok);
  escrow_kek_free(pub);
}

/* ---- the recorded Azure Key Vault release ---------------------------------------------------- */

static void test_recorded_key_vault_release_verifies_at_its_time(void **state) {
  (void)state;
  size_t rl, pl;
  uint8_t *resp = tu_read(tu_vector("attest/akv-release.json"), &rl);
  uint8_t *root = tu_read(tu_vector("attest/akv-baltimore-root.pem"), &pl);
  escrow_attest_release_trust t = ESCROW_ATTEST_RELEASE_TRUST_INIT;
  t.x5c_root = root;
  t.x5c_root_len = pl;
  t.x5c_host = "gearamakv1.vault.azure.net";
  t.now = AKV_TIME;
  char *payload = NULL;
  int rc = escrow_attest_release_inspect(&payload, NULL, resp, rl, &t);
  if (rc != 0)
    fail_msg("inspect: %s", escrow_error_last());
  assert_non_null(strstr(payload, "\"enc\":\"RSA_AES_KEY_WRAP_256\""));
  escrow__json *p = NULL;
  assert_int_equal(escrow__json_parse(&p, (uint8_t *)payload, strlen(payload), "p"), 0);
  escrow_free(payload);
  payload = NULL;
  const char *hsm64 = escrow__json_get_str(escrow__json_path(p, "response.key.key"), "key_hsm");
  uint8_t *hsm = NULL;
  size_t hl = 0;
  assert_int_equal(escrow__b64url_decode(hsm64, strlen(hsm64), false, "h", &hsm, &hl), 0);
  escrow__json *h = NULL;
  assert_int_equal(escrow__json_parse(&h, hsm, hl, "h"), 0);
  const char *ct = escrow__json_get_str(h, "ciphertext");
  uint8_t *raw = NULL;
  size_t ctl = 0;
  assert_int_equal(escrow__b64url_decode(ct, strlen(ct), false, "c", &raw, &ctl), 0);
  assert_int_equal(ctl, 336); /* 256-byte RSA block + 80-byte KWP of an EC P-256 PKCS#8 */
  /* It is wrapped to the vault's test key, not to ours. */
  escrow_kek *got = NULL;
  assert_int_equal(escrow_attest_release_open(&got, resp, rl, &t, enc_a), ESCROW_E_MISMATCH);
  /* At today's date the leaf certificate has expired. */
  t.now = 0;
  assert_int_equal(escrow_attest_release_inspect(&payload, NULL, resp, rl, &t), ESCROW_E_AUTH);
  assert_error_mentions("expired");
  /* Another host name. */
  t.now = AKV_TIME;
  t.x5c_host = "attacker.example";
  assert_int_equal(escrow_attest_release_inspect(&payload, NULL, resp, rl, &t), ESCROW_E_AUTH);
  /* No host name: the pinned root (a public CA) vouches for every site it certifies, so any
   * of their certificates could sign a release. The trust is refused as incomplete. */
  t.x5c_host = NULL;
  assert_int_equal(escrow_attest_release_inspect(&payload, NULL, resp, rl, &t), ESCROW_E_INVALID);
  assert_null(payload);
  assert_error_mentions("x5c_host");
  t.x5c_host = "";
  assert_int_equal(escrow_attest_release_inspect(&payload, NULL, resp, rl, &t), ESCROW_E_INVALID);
  t.x5c_host = "gearamakv1.vault.azure.net";
  /* Another root certificate. */
  size_t ol;
  uint8_t *other = tu_read(tu_vector("attest/other-root.pem"), &ol);
  t.x5c_root = other;
  t.x5c_root_len = ol;
  assert_int_equal(escrow_attest_release_inspect(&payload, NULL, resp, rl, &t), ESCROW_E_AUTH);
  free(other);
  /* A pinned "root" that is not a certificate. */
  other = tu_read(tu_vector("keys/kek3072.pub.pem"), &ol);
  t.x5c_root = other;
  t.x5c_root_len = ol;
  assert_int_equal(escrow_attest_release_inspect(&payload, NULL, resp, rl, &t), ESCROW_E_KEY);
  free(other);
  /* Our own responses carry no x5c chain. */
  char *tok = token_for(enc_a, "n-1", "run-1");
  char *claims = verified_claims(tok);
  char *ours = release_to(claims, ESCROW_ATTEST_ENC_RSA_AES_KEY_WRAP_256);
  t.x5c_root = root;
  t.x5c_root_len = pl;
  assert_int_equal(
      escrow_attest_release_inspect(&payload, NULL, (uint8_t *)ours, strlen(ours), &t),
      ESCROW_E_FORMAT);
  escrow_free(ours);
  escrow_free(claims);
  escrow_free(tok);
  escrow__free(raw);
  escrow__json_free(h);
  escrow__free(hsm);
  escrow__json_free(p);
  free(root);
  free(resp);
}

static void test_recorded_key_vault_release_tampered_fails(void **state) {
  (void)state;
  size_t rl, pl;
  uint8_t *resp = tu_read(tu_vector("attest/akv-release.json"), &rl);
  uint8_t *root = tu_read(tu_vector("attest/akv-baltimore-root.pem"), &pl);
  escrow_attest_release_trust t = ESCROW_ATTEST_RELEASE_TRUST_INIT;
  t.x5c_root = root;
  t.x5c_root_len = pl;
  t.x5c_host = "gearamakv1.vault.azure.net";
  t.now = AKV_TIME;
  /* Flip a character of the payload (after the second '.' from the end: the payload part). */
  char *s = (char *)resp;
  char *sig_dot = strrchr(s, '.');
  char *c = sig_dot - 10;
  *c = *c == 'x' ? 'y' : 'x';
  char *payload = NULL;
  assert_int_equal(escrow_attest_release_inspect(&payload, NULL, resp, rl, &t), ESCROW_E_AUTH);
  free(root);
  free(resp);
}

/* ---- vectors made by Python cryptography (tests/vectors/attest/make_vectors.py) ------------- */

static void test_release_made_by_another_implementation_opens(void **state) {
  (void)state;
  static const char *const files[] = {"attest/python-release-256.json",
                                      "attest/python-release-sha1.json"};
  size_t pl;
  uint8_t *pub = tu_read(tu_vector("keys/kek3072.pub.pem"), &pl);
  escrow_kek *want = NULL;
  assert_int_equal(escrow_kek_public_from_bytes(&want, pub, pl), 0);
  free(pub);
  char want_id[ESCROW_KEY_ID_SIZE], got_id[ESCROW_KEY_ID_SIZE];
  assert_int_equal(escrow_kek_key_id(want, want_id, sizeof want_id), 0);
  for (size_t i = 0; i < 2; i++) {
    size_t rl;
    uint8_t *resp = tu_read(tu_vector(files[i]), &rl);
    escrow_attest_release_trust t = platform_trust();
    escrow_kek *got = NULL;
    int rc = escrow_attest_release_open(&got, resp, rl, &t, enc_a);
    if (rc != 0)
      fail_msg("%s: %s", files[i], escrow_error_last());
    assert_int_equal(escrow_kek_key_id(got, got_id, sizeof got_id), 0);
    assert_string_equal(got_id, want_id);
    assert_int_equal(escrow_kek_has_private(got), 1);
    escrow_kek_free(got);
    assert_int_equal(escrow_attest_release_open(&got, resp, rl, &t, enc_b), ESCROW_E_MISMATCH);
    free(resp);
  }
  escrow_kek_free(want);
}

static void test_sim_token_made_by_another_implementation_verifies(void **state) {
  (void)state;
  size_t tl, rl;
  uint8_t *tok = tu_read(tu_vector("attest/python-sim-token.txt"), &tl);
  uint8_t *rd = tu_read(tu_vector("attest/python-runtime.json"), &rl);
  while (tl > 0 && tok[tl - 1] == '\n')
    tl--;
  escrow_attest_verify_opts o = ESCROW_ATTEST_VERIFY_OPTS_INIT;
  o.now = NOW + 1;
  o.allow_simulated = 1;
  o.runtime_data = rd;
  o.runtime_data_len = rl;
  char *claims = NULL;
  int rc = escrow_attest_verify(&claims, NULL, trust, "sim", tok, tl, &o);
  if (rc != 0)
    fail_msg("verify: %s", escrow_error_last());
  assert_non_null(strstr(claims, "\"run_id\":\"run-py\""));
  escrow_free(claims);
  free(tok);
  free(rd);
}

/* ---- AES key wrap with padding -------------------------------------------------------------- */

static void test_aes_kwp_matches_rfc5649_vectors(void **state) {
  (void)state;
  uint8_t kek192[24], k20[20], k7[7], w20[32], w7[16];
  escrow__unhex(kek192, 24, "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8");
  escrow__unhex(k20, 20, "c37b7e6492584340bed12207808941155068f738");
  escrow__unhex(w20, 32, "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a");
  escrow__unhex(k7, 7, "466f7250617369");
  escrow__unhex(w7, 16, "afbeb0f07dfbf5419200f2ccb50bb24f");
  uint8_t *out = NULL;
  size_t ol = 0;
  assert_int_equal(escrow__kwp_wrap(kek192, 24, k20, 20, &out, &ol), 0);
  assert_int_equal(ol, 32);
  assert_memory_equal(out, w20, 32);
  escrow__free(out);
  assert_int_equal(escrow__kwp_wrap(kek192, 24, k7, 7, &out, &ol), 0);
  assert_int_equal(ol, 16);
  assert_memory_equal(out, w7, 16);
  escrow__free(out);
  assert_int_equal(escrow__kwp_unwrap(kek192, 24, w20, 32, &out, &ol), 0);
  assert_int_equal(ol, 20);
  assert_memory_equal(out, k20, 20);
  escrow__secure_free(out);
  w20[5] ^= 1;
  assert_int_equal(escrow__kwp_unwrap(kek192, 24, w20, 32, &out, &ol), ESCROW_E_AUTH);
  assert_null(out);
  assert_int_equal(escrow__kwp_unwrap(kek192, 24, w7, 12, &out, &ol), ESCROW_E_AUTH);
}

/* ---- JSON parser ---------------------------------------------------------------------------- */

static void test_json_parser_limits(void **state) {
  (void)state;
  escrow__json *j = NULL;
  char deep[128];
  memset(deep, '[', 40);
  memset(deep + 40, ']', 40);
  deep[80] = 0;
  assert_int_equal(escrow__json_parse(&j, (uint8_t *)deep, 80, "x"), ESCROW_E_LIMIT);
  assert_int_equal(escrow__json_parse(&j, (uint8_t *)"{\"a\":1,\"a\":2}", 13, "x"),
                   ESCROW_E_FORMAT);
  assert_int_equal(escrow__json_parse(&j, (uint8_t *)"\"a\\u0000b\"", 10, "x"), ESCROW_E_FORMAT);
  assert_int_equal(escrow__json_parse(&j, (uint8_t *)"{} {}", 5, "x"), ESCROW_E_FORMAT);
  assert_int_equal(escrow__json_parse(&j, (uint8_t *)"\"\xff\"", 3, "x"), ESCROW_E_FORMAT);
  assert_null(j);
  const char *t = "{\"b\":[1,\"x\\n\\u0001\"],\"a\":{\"d\":null,\"c\":true}}";
  assert_int_equal(escrow__json_parse(&j, (uint8_t *)t, strlen(t), "x"), 0);
  char *c = NULL;
  assert_int_equal(escrow__json_canonical(j, &c, NULL), 0);
  assert_string_equal(c, "{\"a\":{\"c\":true,\"d\":null},\"b\":[1,\"x\\n\\u0001\"]}");
  escrow__free(c);
  escrow__json_free(j);
}

/* ---- allocation failures -------------------------------------------------------------------- */

typedef struct actx {
  char *rd, *tok, *claims, *resp, *out;
  escrow_kek *kek_out;
  escrow_attest_trust *t;
  const char *policy;
} actx;

static void acleanup(void *p) {
  actx *c = p;
  escrow_free(c->out);
  c->out = NULL;
  escrow_kek_free(c->kek_out);
  c->kek_out = NULL;
  escrow_attest_trust_free(c->t);
  c->t = NULL;
}

static int op_runtime(void *p) {
  actx *c = p;
  return escrow_attest_runtime_data(&c->out, NULL, enc_a, "n", "p", "r", "ds");
}
static int op_issue(void *p) {
  actx *c = p;
  escrow_attest_sim_opts o = ESCROW_ATTEST_SIM_OPTS_INIT;
  o.issuer = ISS;
  o.package_digest = "sha256:aa";
  return escrow_attest_sim_issue(&c->out, NULL, issuer, &o, (uint8_t *)c->rd, strlen(c->rd));
}
static int op_verify(void *p) {
  actx *c = p;
  escrow_attest_verify_opts o = ESCROW_ATTEST_VERIFY_OPTS_INIT;
  o.now = NOW;
  o.allow_simulated = 1;
  o.runtime_data = (uint8_t *)c->rd;
  o.runtime_data_len = strlen(c->rd);
  return escrow_attest_verify(&c->out, NULL, trust, "sim", (uint8_t *)c->tok, strlen(c->tok),
                              &o);
}
static int op_policy(void *p) {
  actx *c = p;
  return escrow_attest_policy_eval((uint8_t *)c->policy, strlen(c->policy), (uint8_t *)c->claims,
                                   strlen(c->claims));
}
static int op_expect(void *p) {
  actx *c = p;
  escrow_attest_expect e = ESCROW_ATTEST_EXPECT_INIT;
  e.allow_simulated = 1;
  e.run_id = "run-1";
  e.nonce = "n-1";
  return escrow_attest_check_expect((uint8_t *)c->claims, strlen(c->claims), &e);
}
static int op_release(void *p) {
  actx *c = p;
  escrow_attest_release_opts o = ESCROW_ATTEST_RELEASE_OPTS_INIT;
  o.key_id = "k";
  return escrow_attest_release(&c->out, NULL, platform, kek, (uint8_t *)c->claims,
                               strlen(c->claims), &o);
}
static int op_open(void *p) {
  actx *c = p;
  escrow_attest_release_trust t = platform_trust();
  return escrow_attest_release_open(&c->kek_out, (uint8_t *)c->resp, strlen(c->resp), &t, enc_a);
}
static int op_open_jwks(void *p) {
  actx *c = p;
  escrow_attest_release_trust t = platform_trust();
  t.platform_key = (uint8_t *)platform_jwks;
  t.platform_key_len = strlen(platform_jwks);
  return escrow_attest_release_open(&c->kek_out, (uint8_t *)c->resp, strlen(c->resp), &t, enc_a);
}
static int op_trust(void *p) {
  actx *c = p;
  int rc = escrow_attest_trust_new(&c->t);
  if (rc == 0)
    rc = escrow_attest_trust_add_issuer(c->t, "sim", ISS, (uint8_t *)platform_jwks,
                                        strlen(platform_jwks));
  return rc;
}
static int op_jwks(void *p) {
  actx *c = p;
  return escrow_attest_signer_jwks(platform, &c->out, NULL);
}

static void test_allocation_failures_are_reported_as_nomem(void **state) {
  (void)state;
  actx c;
  memset(&c, 0, sizeof c);
  c.rd = runtime(enc_a, "n-1", "run-1");
  c.tok = issue_with(issuer, ISS, c.rd, NOW, "sha256:aa");
  c.claims = verified_claims(c.tok);
  c.resp = release_to(c.claims, ESCROW_ATTEST_ENC_RSA_AES_KEY_WRAP_256);
  c.policy = "{\"data\":\"" /* filled below */;
  char *pol64 =
      b64url_str(POLICY("{\"anyOf\":[{\"claim\":\"x-ms-runtime.run_id\",\"equals\":\"no\"},"
                        "{\"claim\":\"x-ms-runtime.run_id\",\"equals\":\"run-1\"}]}"));
  char policy[4096];
  /* The authority of the sim claims, in the Key Vault wire form. */
  char *inner_txt = NULL;
  {
    const char *tmpl = "{\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":\"" ISS "\",\"allOf\":["
                       "{\"anyOf\":[{\"claim\":\"x-ms-runtime.run_id\",\"equals\":\"no\"},"
                       "{\"claim\":\"x-ms-runtime.run_id\",\"equals\":\"run-1\"}]}]}]}";
    inner_txt = b64url_str(tmpl);
  }
  snprintf(policy, sizeof policy, "{\"data\":\"%s\"}", inner_txt);
  c.policy = policy;
  unsigned long sites = 0;
  sites += tu_alloc_failures(op_runtime, acleanup, &c, 0);
  sites += tu_alloc_failures(op_issue, acleanup, &c, 0);
  sites += tu_alloc_failures(op_verify, acleanup, &c, 0);
  sites += tu_alloc_failures(op_policy, acleanup, &c, 0);
  sites += tu_alloc_failures(op_expect, acleanup, &c, 0);
  sites += tu_alloc_failures(op_release, acleanup, &c, 0);
  sites += tu_alloc_failures(op_open, acleanup, &c, 0);
  sites += tu_alloc_failures(op_open_jwks, acleanup, &c, 0);
  sites += tu_alloc_failures(op_trust, acleanup, &c, 0);
  sites += tu_alloc_failures(op_jwks, acleanup, &c, 0);
  assert_true(sites > 100);
  escrow__free(inner_txt);
  escrow__free(pol64);
  escrow_free(c.rd);
  escrow_free(c.tok);
  escrow_free(c.claims);
  escrow_free(c.resp);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_runtime_data_is_canonical_json_carrying_the_ephemeral_key),
      cmocka_unit_test(test_nonces_are_fresh_43_character_base64url),
      cmocka_unit_test(test_runtime_data_refuses_missing_fields),
      cmocka_unit_test(test_kid_is_the_rfc7638_thumbprint),
      cmocka_unit_test(test_ephemeral_keys_are_2048_to_4096_bits),
      cmocka_unit_test(test_signer_export_round_trips),
      cmocka_unit_test(test_sim_token_verifies_to_claims_stamped_simulated),
      cmocka_unit_test(test_simulated_evidence_is_refused_unless_allowed),
      cmocka_unit_test(test_simulated_stamp_comes_from_the_verifier_not_the_token),
      cmocka_unit_test(test_token_from_another_issuer_is_refused),
      cmocka_unit_test(test_trailing_slash_of_the_issuer_does_not_matter),
      cmocka_unit_test(test_token_with_an_unknown_kid_is_refused),
      cmocka_unit_test(test_expired_token_is_refused_after_the_skew),
      cmocka_unit_test(test_token_not_yet_valid_is_refused),
      cmocka_unit_test(test_token_without_exp_or_nbf_is_refused),
      cmocka_unit_test(test_alg_none_and_hs256_are_refused),
      cmocka_unit_test(test_tampered_token_fails_its_signature),
      cmocka_unit_test(test_report_data_must_bind_the_runtime_data),
      cmocka_unit_test(test_runtime_data_sent_alongside_must_be_the_bound_one),
      cmocka_unit_test(test_sim_issuer_refuses_non_canonical_runtime_data),
      cmocka_unit_test(test_duplicate_claims_are_refused),
      cmocka_unit_test(test_crit_header_is_refused),
      cmocka_unit_test(test_only_the_sim_format_is_built),
      cmocka_unit_test(test_trust_store_refuses_bad_jwks_and_duplicate_issuers),
      cmocka_unit_test(test_issuer_jwks_with_only_x5c_certificates_is_usable),
      cmocka_unit_test(test_policy_equals_compares_canonical_text),
      cmocka_unit_test(test_policy_dot_paths_reach_nested_claims),
      cmocka_unit_test(test_policy_missing_claim_fails),
      cmocka_unit_test(test_policy_ordering_operators),
      cmocka_unit_test(test_policy_nested_any_and_all),
      cmocka_unit_test(test_policy_authority_must_match_the_issuer),
      cmocka_unit_test(test_policy_structure_errors_are_reported),
      cmocka_unit_test(test_errors_quoting_input_are_one_printable_line),
      cmocka_unit_test(test_policy_is_checked_entirely_before_evaluation),
      cmocka_unit_test(test_policy_in_key_vault_wire_form),
      cmocka_unit_test(test_policy_against_verified_sim_claims),
      cmocka_unit_test(test_expected_run_project_role_nonce_and_package),
      cmocka_unit_test(test_expect_needs_verifier_claims),
      cmocka_unit_test(test_release_round_trip_gives_the_enclave_the_kek),
      cmocka_unit_test(test_release_response_has_key_vault_shape),
      cmocka_unit_test(test_release_to_another_enclave_key_is_refused),
      cmocka_unit_test(test_tampered_or_foreign_release_is_refused),
      cmocka_unit_test(test_release_needs_an_encryption_key_in_the_claims),
      cmocka_unit_test(test_recorded_key_vault_release_verifies_at_its_time),
      cmocka_unit_test(test_recorded_key_vault_release_tampered_fails),
      cmocka_unit_test(test_release_made_by_another_implementation_opens),
      cmocka_unit_test(test_sim_token_made_by_another_implementation_verifies),
      cmocka_unit_test(test_aes_kwp_matches_rfc5649_vectors),
      cmocka_unit_test(test_json_parser_limits),
      cmocka_unit_test(test_allocation_failures_are_reported_as_nomem),
  };
  return cmocka_run_group_tests_name("attest", tests, setup, teardown);
}
