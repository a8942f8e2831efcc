/*
 * attest: runtime data, "sim" evidence, the verifier (plugin table, trust store) and the
 * dynamic checks of a release request.
 *
 * The "sim" verifier runs the same JWT checks a Microsoft Azure Attestation ("maa-jwt")
 * plugin will: only the issuer is a local development key. Everything it accepts is stamped
 * x-escrow-simulated = true from the plugin table - never from the token - and is refused
 * unless the caller explicitly allows simulated evidence.
 */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "attest_internal.h"
#include "internal.h"

#define RUNTIME_FIELD_MAX 256
#define SIM_DEFAULT_LIFETIME 600u

int64_t escrow__attest_now(int64_t now) { return now != 0 ? now : (int64_t)time(NULL); }

bool escrow__authority_equal(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 0 && a[la - 1] == '/')
    la--;
  if (lb > 0 && b[lb - 1] == '/')
    lb--;
  return la == lb && memcmp(a, b, la) == 0;
}

/* ---- runtime data -------------------------------------------------------------------------- */

static int check_field(const char *v, const char *name) {
  if (v == NULL || *v == '\0')
    return escrow__err(ESCROW_E_INVALID, "the runtime data needs a %s", name);
  size_t l = strlen(v);
  if (l > RUNTIME_FIELD_MAX)
    return escrow__err(ESCROW_E_INVALID, "the runtime data's %s is longer than %d bytes", name,
                       RUNTIME_FIELD_MAX);
  if (!escrow__utf8_valid((const uint8_t *)v, l))
    return escrow__err(ESCROW_E_INVALID, "the runtime data's %s is not valid UTF-8", name);
  return 0;
}

int escrow_attest_runtime_data(char **out, size_t *out_len, const escrow_attest_key *key,
                               const char *nonce, const char *project_id, const char *run_id,
                               const char *role) {
  if (out != NULL)
    *out = NULL;
  if (out == NULL || key == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_runtime_data: %s is NULL",
                       out == NULL ? "out" : "key");
  int rc = check_field(nonce, "nonce");
  if (rc == 0)
    rc = check_field(project_id, "project_id");
  if (rc == 0)
    rc = check_field(run_id, "run_id");
  if (rc == 0)
    rc = check_field(role, "role");
  if (rc != 0)
    return rc;
  escrow__json *o = escrow__json_new(ESCROW__J_OBJECT);
  escrow__json *keys = escrow__json_new(ESCROW__J_ARRAY);
  if (o == NULL || keys == NULL) {
    escrow__json_free(o);
    escrow__json_free(keys);
    return ESCROW_E_NOMEM;
  }
  escrow__json *jwk = escrow__attest_key_jwk_tree(key);
  rc = jwk == NULL ? escrow_error_last_code() : escrow__json_push(keys, jwk);
  if (rc == 0) {
    rc = escrow__json_set(o, "keys", keys);
    keys = NULL;
  }
  escrow__json_free(keys);
  if (rc == 0)
    rc = escrow__json_set(o, "nonce", escrow__json_str(nonce));
  if (rc == 0)
    rc = escrow__json_set(o, "project_id", escrow__json_str(project_id));
  if (rc == 0)
    rc = escrow__json_set(o, "role", escrow__json_str(role));
  if (rc == 0)
    rc = escrow__json_set(o, "run_id", escrow__json_str(run_id));
  if (rc == 0)
    rc = escrow__json_canonical(o, out, out_len);
  escrow__json_free(o);
  return rc;
}

int escrow_attest_nonce(char *buf, size_t size) {
  if (buf == NULL || size < ESCROW_ATTEST_NONCE_SIZE)
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_nonce: the buffer needs %d bytes",
                       ESCROW_ATTEST_NONCE_SIZE);
  if (escrow_init() != 0)
    return escrow_error_last_code();
  uint8_t raw[32];
  randombytes_buf(raw, sizeof raw);
  sodium_bin2base64(buf, size, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return 0;
}

int escrow_attest_report_data(uint8_t out[ESCROW_ATTEST_REPORT_DATA_BYTES],
                              const uint8_t *runtime_data, size_t len) {
  if (out == NULL || (runtime_data == NULL && len > 0))
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_report_data: %s is NULL",
                       out == NULL ? "out" : "runtime_data");
  memset(out, 0, ESCROW_ATTEST_REPORT_DATA_BYTES);
  crypto_hash_sha256(out, runtime_data != NULL ? runtime_data : (const uint8_t *)"",
                     (unsigned long long)len);
  return 0;
}

/* Parse runtime data, which must be a JSON object with a "keys" array, in canonical form. */
static int runtime_parse(escrow__json **out, const uint8_t *rd, size_t len) {
  int rc = escrow__json_parse(out, rd, len, "the runtime data");
  if (rc != 0)
    return rc;
  const escrow__json *keys = escrow__json_get(*out, "keys");
  if ((*out)->type != ESCROW__J_OBJECT || keys == NULL || keys->type != ESCROW__J_ARRAY) {
    rc = escrow__err(ESCROW_E_FORMAT, "the runtime data is not a JSON object with a 'keys' "
                                      "array");
  } else {
    char *c = NULL;
    size_t cl = 0;
    rc = escrow__json_canonical(*out, &c, &cl);
    if (rc == 0 && (cl != len || memcmp(c, rd, len) != 0))
      rc = escrow__err(ESCROW_E_FORMAT, "the runtime data is not in canonical form (members "
                                        "sorted, no whitespace): make it with "
                                        "escrow_attest_runtime_data");
    escrow__free(c);
  }
  if (rc != 0) {
    escrow__json_free(*out);
    *out = NULL;
  }
  return rc;
}

/* ---- "sim" evidence ------------------------------------------------------------------------ */

int escrow_attest_sim_issue(char **out_token, size_t *out_len,
                            const escrow_attest_signer *issuer_key,
                            const escrow_attest_sim_opts *opts, const uint8_t *runtime_data,
                            size_t runtime_data_len) {
  if (out_token != NULL)
    *out_token = NULL;
  if (out_token == NULL || issuer_key == NULL || opts == NULL || runtime_data == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_sim_issue: %s is NULL",
                       out_token == NULL    ? "out_token"
                       : issuer_key == NULL ? "issuer_key"
                       : opts == NULL       ? "opts"
                                            : "runtime_data");
  if (opts->version != ESCROW_ATTEST_SIM_OPTS_VERSION)
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_sim_opts version %u is not %d",
                       opts->version, ESCROW_ATTEST_SIM_OPTS_VERSION);
  if (opts->issuer == NULL || *opts->issuer == '\0')
    return escrow__err(ESCROW_E_INVALID, "a simulated token needs an issuer");
  if (escrow_init() != 0)
    return escrow_error_last_code();
  escrow__json *rt = NULL;
  int rc = runtime_parse(&rt, runtime_data, runtime_data_len);
  if (rc != 0)
    return rc;
  int64_t now = escrow__attest_now(opts->now);
  unsigned life = opts->lifetime != 0 ? opts->lifetime : SIM_DEFAULT_LIFETIME;
  if (now < 0 || now > INT64_MAX / 2) {
    escrow__json_free(rt);
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_sim_issue: now is out of range");
  }
  uint8_t rd[ESCROW_ATTEST_REPORT_DATA_BYTES];
  escrow_attest_report_data(rd, runtime_data, runtime_data_len);
  char rdhex[2 * ESCROW_ATTEST_REPORT_DATA_BYTES + 1];
  escrow__hex(rdhex, rd, sizeof rd);
  uint8_t jti_raw[16];
  randombytes_buf(jti_raw, sizeof jti_raw);
  char *jti = escrow__b64url(jti_raw, sizeof jti_raw);
  escrow__json *p = escrow__json_new(ESCROW__J_OBJECT);
  escrow__json *h = escrow__json_new(ESCROW__J_OBJECT);
  if (jti == NULL || p == NULL || h == NULL) {
    rc = ESCROW_E_NOMEM;
    escrow__json_free(rt);
    goto done;
  }
  rc = escrow__json_set(p, ESCROW_ATTEST_CLAIM_RUNTIME, rt);
  if (rc == 0)
    rc = escrow__json_set(p, "iss", escrow__json_str(opts->issuer));
  if (rc == 0)
    rc = escrow__json_set(p, "iat", escrow__json_int(now));
  if (rc == 0)
    rc = escrow__json_set(p, "nbf", escrow__json_int(now));
  if (rc == 0)
    rc = escrow__json_set(p, "exp", escrow__json_int(now + (int64_t)life));
  if (rc == 0)
    rc = escrow__json_set(p, "jti", escrow__json_str(jti));
  if (rc == 0)
    rc = escrow__json_set(p, "x-ms-attestation-type", escrow__json_str("sim"));
  if (rc == 0)
    rc = escrow__json_set(p, "x-ms-ver", escrow__json_str("sim-1"));
  if (rc == 0)
    rc = escrow__json_set(p, ESCROW_ATTEST_CLAIM_SIMULATED, escrow__json_bool(true));
  if (rc == 0)
    rc = escrow__json_set(p, "x-escrow-notice",
                          escrow__json_str("SIMULATED attestation by a development issuer: no "
                                           "TEE hardware was measured or verified"));
  if (rc == 0)
    rc = escrow__json_set(p, ESCROW_ATTEST_CLAIM_REPORT_DATA, escrow__json_str(rdhex));
  if (rc == 0 && opts->package_digest != NULL)
    rc = escrow__json_set(p, ESCROW_ATTEST_CLAIM_PACKAGE_DIGEST,
                          escrow__json_str(opts->package_digest));
  if (rc == 0)
    rc = escrow__json_set(h, "alg", escrow__json_str("RS256"));
  if (rc == 0)
    rc = escrow__json_set(h, "kid", escrow__json_str(escrow_attest_signer_kid(issuer_key)));
  if (rc == 0)
    rc = escrow__json_set(h, "typ", escrow__json_str("JWT"));
  if (rc == 0)
    rc = escrow__jws_sign(out_token, out_len, escrow__signer_pkey(issuer_key), h, p);
done:
  escrow__free(jti);
  escrow__json_free(p);
  escrow__json_free(h);
  return rc;
}

/* ---- trust store and plugins --------------------------------------------------------------- */

typedef struct trust_entry {
  char *format;
  char *issuer;
  escrow__jwks jwks;
} trust_entry;

struct escrow_attest_trust {
  trust_entry *e;
  size_t n;
};

typedef struct plugin {
  const char *format;
  bool simulated;                /* everything this plugin accepts is simulated */
  const char *report_data_claim; /* the claim holding the hex report data */
} plugin;

/* Built verifiers. "maa-jwt" (simulated = false, x-ms-sevsnpvm-reportdata) and "snp-report"
 * add rows here. */
static const plugin plugins[] = {
    {ESCROW_ATTEST_FORMAT_SIM, true, ESCROW_ATTEST_CLAIM_REPORT_DATA},
};
static const char *const reserved_formats[] = {"maa-jwt", "snp-report"};

static const plugin *find_plugin(const char *format) {
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(plugins); i++)
    if (strcmp(plugins[i].format, format) == 0)
      return &plugins[i];
  return NULL;
}

static int unsupported_format(const char *format) {
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(reserved_formats); i++)
    if (strcmp(reserved_formats[i], format) == 0)
      return escrow__err(ESCROW_E_UNSUPPORTED, "evidence format '%s' is planned but this build "
                                               "has no verifier for it (only 'sim')",
                         format);
  return escrow__err(ESCROW_E_UNSUPPORTED, "unknown evidence format '%.32s' (this build "
                                           "verifies 'sim')",
                     format);
}

int escrow_attest_format_supported(const char *format) {
  return format != NULL && find_plugin(format) != NULL;
}

int escrow_attest_trust_new(escrow_attest_trust **out) {
  if (out == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_trust_new: out is NULL");
  *out = escrow__calloc(1, sizeof **out);
  return *out == NULL ? escrow__err_nomem() : 0;
}

int escrow_attest_trust_add_issuer(escrow_attest_trust *trust, const char *format,
                                   const char *issuer, const uint8_t *jwks, size_t jwks_len) {
  if (trust == NULL || format == NULL || issuer == NULL || jwks == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_trust_add_issuer: %s is NULL",
                       trust == NULL    ? "trust"
                       : format == NULL ? "format"
                       : issuer == NULL ? "issuer"
                                        : "jwks");
  if (*issuer == '\0' || strcmp(issuer, "/") == 0)
    return escrow__err(ESCROW_E_INVALID, "an issuer is a non-empty URL");
  if (find_plugin(format) == NULL)
    return unsupported_format(format);
  for (size_t i = 0; i < trust->n; i++)
    if (escrow__authority_equal(trust->e[i].issuer, issuer))
      return escrow__err(ESCROW_E_EXISTS, "issuer '%.200s' is already trusted", issuer);
  if (escrow_init() != 0)
    return escrow_error_last_code();
  trust_entry te;
  memset(&te, 0, sizeof te);
  int rc = escrow__jwks_parse(&te.jwks, jwks, jwks_len);
  if (rc != 0)
    return rc;
  te.format = escrow__strdup(format);
  te.issuer = escrow__strdup(issuer);
  trust_entry *grown = NULL;
  if (te.format != NULL && te.issuer != NULL)
    grown = escrow__realloc(trust->e, (trust->n + 1) * sizeof *grown);
  if (grown == NULL) {
    escrow__free(te.format);
    escrow__free(te.issuer);
    escrow__jwks_clear(&te.jwks);
    return escrow__err_nomem();
  }
  trust->e = grown;
  trust->e[trust->n++] = te;
  return 0;
}

void escrow_attest_trust_free(escrow_attest_trust *trust) {
  if (trust == NULL)
    return;
  for (size_t i = 0; i < trust->n; i++) {
    escrow__free(trust->e[i].format);
    escrow__free(trust->e[i].issuer);
    escrow__jwks_clear(&trust->e[i].jwks);
  }
  escrow__free(trust->e);
  escrow__free(trust);
}

/* ---- verification -------------------------------------------------------------------------- */

static int check_times(const escrow__json *p, int64_t now, unsigned skew) {
  int64_t exp = 0, nbf = 0, iat = 0;
  int rc = escrow__json_get_int(p, "exp", &exp, "the token");
  if (rc == ESCROW_E_NOTFOUND)
    return escrow__err(ESCROW_E_FORMAT, "the token has no 'exp' (expiry) claim");
  if (rc != 0)
    return rc;
  rc = escrow__json_get_int(p, "nbf", &nbf, "the token");
  if (rc == ESCROW_E_NOTFOUND)
    return escrow__err(ESCROW_E_FORMAT, "the token has no 'nbf' (not before) claim");
  if (rc != 0)
    return rc;
  /* Compare against now -/+ skew (never subtract token values: they may be any int64). */
  if (exp < now - (int64_t)skew)
    return escrow__err(ESCROW_E_CHECK, "the token expired at %lld (now %lld)", (long long)exp,
                       (long long)now);
  if (nbf > now + (int64_t)skew)
    return escrow__err(ESCROW_E_CHECK, "the token is not valid yet: not before %lld (now %lld)",
                       (long long)nbf, (long long)now);
  rc = escrow__json_get_int(p, "iat", &iat, "the token");
  if (rc == 0 && iat > now + (int64_t)skew)
    return escrow__err(ESCROW_E_CHECK, "the token was issued in the future (iat %lld, now %lld)",
                       (long long)iat, (long long)now);
  if (rc != 0 && rc != ESCROW_E_NOTFOUND)
    return rc;
  return 0;
}

/* The report data claim must be SHA-256(canonical x-ms-runtime) and 32 zero bytes, and the
 * runtime data sent alongside (if any) must hash to the same. */
static int check_binding(const escrow__json *p, const plugin *pl,
                         const escrow_attest_verify_opts *o) {
  const char *hex = escrow__json_get_str(p, pl->report_data_claim);
  uint8_t claimed[ESCROW_ATTEST_REPORT_DATA_BYTES];
  if (hex == NULL || strlen(hex) != 2 * sizeof claimed ||
      escrow__unhex(claimed, sizeof claimed, hex) != 0)
    return escrow__err(ESCROW_E_FORMAT, "the token's '%s' is missing or not %zu hex digits",
                       pl->report_data_claim, 2 * sizeof claimed);
  const escrow__json *rt = escrow__json_get(p, ESCROW_ATTEST_CLAIM_RUNTIME);
  if (rt == NULL || rt->type != ESCROW__J_OBJECT)
    return escrow__err(ESCROW_E_FORMAT, "the token has no '%s' object (the runtime data)",
                       ESCROW_ATTEST_CLAIM_RUNTIME);
  char *c = NULL;
  size_t cl = 0;
  int rc = escrow__json_canonical(rt, &c, &cl);
  if (rc != 0)
    return rc;
  uint8_t want[ESCROW_ATTEST_REPORT_DATA_BYTES];
  escrow_attest_report_data(want, (const uint8_t *)c, cl);
  escrow__free(c);
  if (sodium_memcmp(want, claimed, sizeof want) != 0)
    return escrow__err(ESCROW_E_MISMATCH, "the report data does not bind the token's runtime "
                                          "data (SHA-256 differs)");
  if (o->runtime_data != NULL) {
    escrow_attest_report_data(want, o->runtime_data, o->runtime_data_len);
    if (sodium_memcmp(want, claimed, sizeof want) != 0)
      return escrow__err(ESCROW_E_MISMATCH, "the runtime data sent with the evidence is not "
                                            "the runtime data the evidence binds");
  }
  return 0;
}

static const char *const stamps[] = {ESCROW_ATTEST_CLAIM_VERIFIER, ESCROW_ATTEST_CLAIM_AUTHORITY,
                                     ESCROW_ATTEST_CLAIM_SIMULATED,
                                     ESCROW_ATTEST_CLAIM_VERIFIED_AT};

static int verify_jwt(escrow__json **claims, const escrow_attest_trust *trust, const plugin *pl,
                      const char *text, size_t len, const escrow_attest_verify_opts *o,
                      int64_t now) {
  escrow__jws jws;
  int rc = escrow__jws_parse(&jws, text, len, "the attestation token", false);
  if (rc != 0)
    return rc;
  const char *kid = escrow__json_get_str(jws.header, "kid");
  const char *iss = escrow__json_get_str(jws.payload, "iss");
  const trust_entry *te = NULL;
  if (kid == NULL || *kid == '\0') {
    rc = escrow__err(ESCROW_E_FORMAT, "the attestation token's header has no 'kid'");
    goto done;
  }
  if (iss == NULL || *iss == '\0') {
    rc = escrow__err(ESCROW_E_FORMAT, "the attestation token has no 'iss' (issuer)");
    goto done;
  }
  for (size_t i = 0; i < trust->n && te == NULL; i++)
    if (strcmp(trust->e[i].format, pl->format) == 0 &&
        escrow__authority_equal(trust->e[i].issuer, iss))
      te = &trust->e[i];
  if (te == NULL) {
    rc = escrow__err(ESCROW_E_NOTFOUND, "issuer '%.200s' is not trusted for '%s' evidence", iss,
                     pl->format);
    goto done;
  }
  EVP_PKEY *key = escrow__jwks_find(&te->jwks, kid);
  if (key == NULL) {
    rc = escrow__err(ESCROW_E_NOTFOUND, "issuer '%.200s' has no key with kid '%.64s'",
                     te->issuer, kid);
    goto done;
  }
  rc = escrow__jws_verify(&jws, key, "the attestation token");
  if (rc == 0)
    rc = check_times(jws.payload, now, o->skew);
  if (rc == 0)
    rc = check_binding(jws.payload, pl, o);
  if (rc != 0)
    goto done;
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(stamps); i++)
    escrow__json_del(jws.payload, stamps[i]);
  rc = escrow__json_set(jws.payload, ESCROW_ATTEST_CLAIM_VERIFIER, escrow__json_str(pl->format));
  if (rc == 0)
    rc = escrow__json_set(jws.payload, ESCROW_ATTEST_CLAIM_AUTHORITY,
                          escrow__json_str(te->issuer));
  if (rc == 0)
    rc = escrow__json_set(jws.payload, ESCROW_ATTEST_CLAIM_SIMULATED,
                          escrow__json_bool(pl->simulated));
  if (rc == 0)
    rc = escrow__json_set(jws.payload, ESCROW_ATTEST_CLAIM_VERIFIED_AT, escrow__json_int(now));
  if (rc == 0) {
    *claims = jws.payload;
    jws.payload = NULL;
  }
done:
  escrow__jws_clear(&jws);
  return rc;
}

int escrow_attest_verify(char **claims, size_t *claims_len, const escrow_attest_trust *trust,
                         const char *format, const uint8_t *evidence, size_t evidence_len,
                         const escrow_attest_verify_opts *opts) {
  if (claims != NULL)
    *claims = NULL;
  if (claims_len != NULL)
    *claims_len = 0;
  if (claims == NULL || trust == NULL || format == NULL || evidence == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_verify: %s is NULL",
                       claims == NULL  ? "claims"
                       : trust == NULL ? "trust"
                       : format == NULL ? "format"
                                        : "evidence");
  const escrow_attest_verify_opts defaults = ESCROW_ATTEST_VERIFY_OPTS_INIT;
  const escrow_attest_verify_opts *o = opts != NULL ? opts : &defaults;
  if (o->version != ESCROW_ATTEST_VERIFY_OPTS_VERSION)
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_verify_opts version %u is not %d",
                       o->version, ESCROW_ATTEST_VERIFY_OPTS_VERSION);
  if (o->now < 0 || o->now > INT64_MAX / 2)
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_verify: now is out of range");
  if (o->runtime_data == NULL && o->runtime_data_len != 0)
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_verify: runtime_data is NULL");
  const plugin *pl = find_plugin(format);
  if (pl == NULL)
    return unsupported_format(format);
  if (pl->simulated && !o->allow_simulated)
    return escrow__err(ESCROW_E_AUTH, "'%s' evidence is SIMULATED (no TEE hardware) and "
                                      "simulated evidence is not allowed here",
                       pl->format);
  if (evidence_len > ESCROW_ATTEST_MAX_INPUT)
    return escrow__err(ESCROW_E_LIMIT, "the evidence is larger than %u bytes",
                       ESCROW_ATTEST_MAX_INPUT);
  if (escrow_init() != 0)
    return escrow_error_last_code();
  escrow__json *c = NULL;
  int rc = verify_jwt(&c, trust, pl, (const char *)evidence, evidence_len, o,
                      escrow__attest_now(o->now));
  if (rc == 0)
    rc = escrow__json_canonical(c, claims, claims_len);
  escrow__json_free(c);
  return rc;
}

/* ---- dynamic checks ------------------------------------------------------------------------ */

static int expect_str(const escrow__json *rt, const char *key, const char *want,
                      const char *label) {
  if (want == NULL)
    return 0;
  const char *got = escrow__json_get_str(rt, key);
  if (got == NULL)
    return escrow__err(ESCROW_E_CHECK, "the token's runtime data has no %s", key);
  if (strcmp(got, want) != 0)
    return escrow__err(ESCROW_E_CHECK, "the token is for %s '%.128s', not '%.128s'", label, got,
                       want);
  return 0;
}

int escrow_attest_check_expect(const uint8_t *claims, size_t claims_len,
                               const escrow_attest_expect *e) {
  if (claims == NULL || e == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_check_expect: %s is NULL",
                       claims == NULL ? "claims" : "expect");
  if (e->version != ESCROW_ATTEST_EXPECT_VERSION)
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_expect version %u is not %d",
                       e->version, ESCROW_ATTEST_EXPECT_VERSION);
  if (e->now < 0 || e->now > INT64_MAX / 2)
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_check_expect: now is out of range");
  escrow__json *c = NULL;
  int rc = escrow__json_parse(&c, claims, claims_len, "the claims");
  if (rc != 0)
    return rc;
  if (c->type != ESCROW__J_OBJECT) {
    rc = escrow__err(ESCROW_E_FORMAT, "the claims are not a JSON object");
    goto done;
  }
  const escrow__json *sim = escrow__json_get(c, ESCROW_ATTEST_CLAIM_SIMULATED);
  if (sim == NULL || sim->type != ESCROW__J_BOOL) {
    rc = escrow__err(ESCROW_E_CHECK, "the claims do not say whether the evidence was simulated "
                                     "(%s): they did not come from escrow_attest_verify",
                     ESCROW_ATTEST_CLAIM_SIMULATED);
    goto done;
  }
  if (sim->b && !e->allow_simulated) {
    rc = escrow__err(ESCROW_E_CHECK, "the evidence is SIMULATED and simulated evidence is not "
                                     "allowed");
    goto done;
  }
  const escrow__json *rt = escrow__json_get(c, ESCROW_ATTEST_CLAIM_RUNTIME);
  if ((e->project_id != NULL || e->run_id != NULL || e->role != NULL || e->nonce != NULL) &&
      (rt == NULL || rt->type != ESCROW__J_OBJECT)) {
    rc = escrow__err(ESCROW_E_CHECK, "the claims have no runtime data (%s)",
                     ESCROW_ATTEST_CLAIM_RUNTIME);
    goto done;
  }
  rc = expect_str(rt, "project_id", e->project_id, "project");
  if (rc == 0)
    rc = expect_str(rt, "run_id", e->run_id, "run");
  if (rc == 0)
    rc = expect_str(rt, "role", e->role, "role");
  if (rc != 0)
    goto done;
  if (e->nonce != NULL) {
    const char *got = escrow__json_get_str(rt, "nonce");
    if (got == NULL || strlen(got) != strlen(e->nonce) ||
        sodium_memcmp(got, e->nonce, strlen(got)) != 0) {
      rc = escrow__err(ESCROW_E_CHECK, "the token's nonce is not the nonce issued for this "
                                       "request");
      goto done;
    }
  }
  if (e->package_digest != NULL) {
    const char *got = escrow__json_get_str(c, ESCROW_ATTEST_CLAIM_PACKAGE_DIGEST);
    if (got == NULL) {
      rc = escrow__err(ESCROW_E_CHECK, "the token names no package digest (%s)",
                       ESCROW_ATTEST_CLAIM_PACKAGE_DIGEST);
      goto done;
    }
    if (strcmp(got, e->package_digest) != 0) {
      rc = escrow__err(ESCROW_E_CHECK, "the token is for package '%.100s', not the approved "
                                       "'%.100s'",
                       got, e->package_digest);
      goto done;
    }
  }
  if (e->max_age != 0) {
    int64_t iat = 0;
    rc = escrow__json_get_int(c, "iat", &iat, "the claims");
    if (rc == ESCROW_E_NOTFOUND)
      rc = escrow__err(ESCROW_E_CHECK, "the token has no 'iat' (issue time) to judge its "
                                       "freshness");
    if (rc != 0)
      goto done;
    int64_t now = escrow__attest_now(e->now);
    if (iat < now - (int64_t)e->max_age)
      rc = escrow__err(ESCROW_E_CHECK, "the token is too old: issued at %lld, more than %u "
                                       "seconds before now (%lld)",
                       (long long)iat, e->max_age, (long long)now);
  }
done:
  escrow__json_free(c);
  return rc;
}
