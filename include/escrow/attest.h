/*
 * libescrow attest: attestation evidence, its verification, the key-release policy and the
 * attested release of a KEK private key (DESIGN §9, docs/ATTESTATION.md).
 *
 * The flow, enclave (E) and platform (P):
 *   E  escrow_attest_key_generate            ephemeral RSA key, private half never leaves E
 *   E  escrow_attest_runtime_data            {keys:[JWK], nonce, project_id, role, run_id}
 *   E  evidence binding report_data = SHA-256(runtime_data) || 32 zero bytes
 *   -  evidence: today only "sim", a Microsoft-Azure-Attestation-shaped JWT signed by a local
 *      development issuer (escrow_attest_sim_issue). It is SIMULATED: it proves nothing about
 *      the hardware and says so in its claims. Plugins for "maa-jwt" and "snp-report" evidence
 *      fit the same verifier interface later.
 *   P  escrow_attest_verify                  evidence -> normalised claims (JSON)
 *   P  escrow_attest_policy_eval             Azure Key Vault release-policy grammar
 *   P  escrow_attest_check_expect            the run's dynamic checks (project, run, nonce, ...)
 *   P  escrow_attest_release                 KEK private key wrapped to the ephemeral key
 *                                            (RSA_AES_KEY_WRAP_256) in a Key-Vault-shaped JWS
 *   E  escrow_attest_release_open            verify the JWS, unwrap -> escrow_kek (private)
 *
 * Strings in and out are UTF-8 JSON; every JSON output is a NUL-terminated buffer freed with
 * escrow_free() (its length, without the NUL, in *out_len when that is not NULL). Times are
 * seconds since the Unix epoch; a "now" of 0 means the current time (tests pass a fixed one).
 * Error messages say which check failed and never contain key material.
 *
 * Handles are used by one thread at a time, except that a built escrow_attest_trust and
 * escrow_attest_signer may be shared by concurrent verify/sign calls (they are read-only).
 */
#ifndef ESCROW_ATTEST_H
#define ESCROW_ATTEST_H

#include "common.h"
#include "keys.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Ephemeral key sizes: 2048 bits like Azure's confidential-container sidecar (the default),
 * up to 4096. */
#define ESCROW_ATTEST_KEY_DEFAULT_BITS 2048
#define ESCROW_ATTEST_KEY_MIN_BITS 2048
#define ESCROW_ATTEST_KEY_MAX_BITS 4096
/* A JWK thumbprint (RFC 7638, SHA-256, base64url without padding): 43 characters + NUL. */
#define ESCROW_ATTEST_KID_SIZE 44
/* report_data as in SEV-SNP: 64 bytes. */
#define ESCROW_ATTEST_REPORT_DATA_BYTES 64
/* Largest evidence, claims, policy or release document the parsers look at. */
#define ESCROW_ATTEST_MAX_INPUT (256u * 1024u)

/* Normalised claims the verifier stamps (any copy of these in the evidence is replaced). */
#define ESCROW_ATTEST_CLAIM_VERIFIER "x-escrow-verifier"     /* "sim", ... */
#define ESCROW_ATTEST_CLAIM_AUTHORITY "x-escrow-authority"   /* the trusted issuer */
#define ESCROW_ATTEST_CLAIM_SIMULATED "x-escrow-simulated"   /* true / false, always present */
#define ESCROW_ATTEST_CLAIM_VERIFIED_AT "x-escrow-verified-at" /* integer time */
/* Claims of the runtime data, the report data and the package. */
#define ESCROW_ATTEST_CLAIM_RUNTIME "x-ms-runtime"
#define ESCROW_ATTEST_CLAIM_REPORT_DATA "x-escrow-reportdata" /* 128 lowercase hex digits */
#define ESCROW_ATTEST_CLAIM_PACKAGE_DIGEST "x-escrow-package-digest"

/* ==== enclave side: ephemeral key and runtime data ======================================= */

typedef struct escrow_attest_key escrow_attest_key;

/* Generate an ephemeral RSA key pair (bits 0 = ESCROW_ATTEST_KEY_DEFAULT_BITS; 2048..4096).
 * The private half stays inside OpenSSL (cleared on free). Free with escrow_attest_key_free.
 * Errors: ESCROW_E_INVALID (NULL, bad size), ESCROW_E_CRYPTO, ESCROW_E_NOMEM. */
ESCROW_EXTERN int escrow_attest_key_generate(escrow_attest_key **out, unsigned bits);

/* Read an ephemeral key pair from unencrypted PKCS#8 (PEM or DER) - for tests and for an
 * enclave that keeps its key in a sealed file. Same size rules.
 * Errors: ESCROW_E_INVALID, ESCROW_E_KEY, ESCROW_E_NOMEM. */
ESCROW_EXTERN int escrow_attest_key_from_bytes(escrow_attest_key **out, const uint8_t *data,
                                               size_t len);

/* The public JWK, canonical (members sorted, no spaces):
 * {"e":..,"key_ops":["encrypt"],"kid":<thumbprint>,"kty":"RSA","n":..}.
 * *out is freed with escrow_free(). Errors: ESCROW_E_INVALID, ESCROW_E_NOMEM, ESCROW_E_CRYPTO. */
ESCROW_EXTERN int escrow_attest_key_jwk(const escrow_attest_key *key, char **out,
                                        size_t *out_len);

/* The key's kid: its RFC 7638 SHA-256 thumbprint, base64url. buf holds ESCROW_ATTEST_KID_SIZE.
 * Errors: ESCROW_E_INVALID (NULL, buffer too small). */
ESCROW_EXTERN int escrow_attest_key_kid(const escrow_attest_key *key, char *buf, size_t size);

/* Wipe and free. NULL is a no-op. */
ESCROW_EXTERN void escrow_attest_key_free(escrow_attest_key *key);

/* The runtime data the evidence binds, canonical JSON (members sorted, no spaces):
 * {"keys":[<key's JWK>],"nonce":..,"project_id":..,"role":..,"run_id":..}.
 * Every string is required, non-empty, valid UTF-8 and at most 256 bytes.
 * *out is freed with escrow_free(). Errors: ESCROW_E_INVALID, ESCROW_E_NOMEM, ESCROW_E_CRYPTO. */
ESCROW_EXTERN int escrow_attest_runtime_data(char **out, size_t *out_len,
                                             const escrow_attest_key *key, const char *nonce,
                                             const char *project_id, const char *run_id,
                                             const char *role);

/* A fresh challenge nonce for the platform to hand out: 32 random bytes, base64url without
 * padding (43 characters + NUL). buf holds ESCROW_ATTEST_NONCE_SIZE. Keeping nonces single-use
 * is the caller's store. Errors: ESCROW_E_INVALID (NULL, buffer too small). */
#define ESCROW_ATTEST_NONCE_SIZE 44
ESCROW_EXTERN int escrow_attest_nonce(char *buf, size_t size);

/* report_data for runtime data: SHA-256 of the exact bytes, then 32 zero bytes.
 * Errors: ESCROW_E_INVALID, ESCROW_E_CRYPTO. */
ESCROW_EXTERN int escrow_attest_report_data(uint8_t out[ESCROW_ATTEST_REPORT_DATA_BYTES],
                                            const uint8_t *runtime_data, size_t len);

/* ==== signing keys: the development issuer and the platform's release key ================ */

typedef struct escrow_attest_signer escrow_attest_signer;

/* Generate an RSA signing key (bits 0 = 3072; 2048..8192). kid NULL = the RFC 7638
 * thumbprint; otherwise 1..128 printable ASCII characters.
 * Errors: ESCROW_E_INVALID, ESCROW_E_CRYPTO, ESCROW_E_NOMEM. */
ESCROW_EXTERN int escrow_attest_signer_generate(escrow_attest_signer **out, unsigned bits,
                                                const char *kid);

/* Read a signing key from unencrypted PKCS#8 / PKCS#1 (PEM or DER); kid as above.
 * Errors: ESCROW_E_INVALID, ESCROW_E_KEY, ESCROW_E_NOMEM. */
ESCROW_EXTERN int escrow_attest_signer_from_bytes(escrow_attest_signer **out,
                                                  const uint8_t *data, size_t len,
                                                  const char *kid);

/* The private key as PKCS#8 PEM (to persist it, mode 0600). *out is secret memory freed with
 * escrow_secret_free(). Errors: ESCROW_E_INVALID, ESCROW_E_NOMEM, ESCROW_E_CRYPTO. */
ESCROW_EXTERN int escrow_attest_signer_export(const escrow_attest_signer *s, uint8_t **out,
                                              size_t *out_len);

/* The public key as SubjectPublicKeyInfo PEM. *out is freed with escrow_free(). */
ESCROW_EXTERN int escrow_attest_signer_public_pem(const escrow_attest_signer *s, uint8_t **out,
                                                  size_t *out_len);

/* The public key as a JWKS: {"keys":[{"alg":"RS256","e":..,"kid":..,"kty":"RSA","n":..,
 * "use":"sig"}]} (what an issuer serves at /certs). *out is freed with escrow_free(). */
ESCROW_EXTERN int escrow_attest_signer_jwks(const escrow_attest_signer *s, char **out,
                                            size_t *out_len);

/* The kid (borrowed; valid while s lives), or NULL for NULL. */
ESCROW_EXTERN const char *escrow_attest_signer_kid(const escrow_attest_signer *s);

/* Free. NULL is a no-op. */
ESCROW_EXTERN void escrow_attest_signer_free(escrow_attest_signer *s);

/* ==== "sim" evidence (SIMULATED: a development issuer, no hardware) ====================== */

typedef struct escrow_attest_sim_opts {
  unsigned version;           /* ESCROW_ATTEST_SIM_OPTS_VERSION */
  const char *issuer;         /* "iss", required, e.g. "http://127.0.0.1:8443/sim" */
  const char *package_digest; /* the workload's package digest, or NULL (claim omitted) */
  int64_t now;                /* iat and nbf; 0 = current time */
  unsigned lifetime;          /* exp = now + lifetime seconds; 0 = 600 */
} escrow_attest_sim_opts;
#define ESCROW_ATTEST_SIM_OPTS_VERSION 1
#define ESCROW_ATTEST_SIM_OPTS_INIT {ESCROW_ATTEST_SIM_OPTS_VERSION, NULL, NULL, 0, 0}

/* Issue a simulated attestation token for runtime data (the exact bytes the enclave made):
 * an RS256 JWT {alg,kid,typ:"JWT"} with claims iss, iat, nbf, exp, jti,
 * "x-ms-attestation-type":"sim", "x-ms-ver":"sim-1", "x-escrow-simulated":true,
 * "x-escrow-reportdata" (hex of escrow_attest_report_data), "x-ms-runtime" (the runtime data
 * as a JSON object), and "x-escrow-package-digest" when given. The runtime data must be a
 * JSON object with a "keys" array. *out_token (compact JWS, NUL-terminated) is freed with
 * escrow_free(). Errors: ESCROW_E_INVALID, ESCROW_E_FORMAT (runtime data), ESCROW_E_NOMEM,
 * ESCROW_E_CRYPTO. */
ESCROW_EXTERN int escrow_attest_sim_issue(char **out_token, size_t *out_len,
                                          const escrow_attest_signer *issuer_key,
                                          const escrow_attest_sim_opts *opts,
                                          const uint8_t *runtime_data, size_t runtime_data_len);

/* ==== verifier ============================================================================ */

/* Evidence formats: a name selects a verifier plugin. Only ESCROW_ATTEST_FORMAT_SIM is built
 * today; "maa-jwt" and "snp-report" are reserved for the Azure Attestation and SEV-SNP
 * plugins (ESCROW_E_UNSUPPORTED until then). */
#define ESCROW_ATTEST_FORMAT_SIM "sim"

/* 1 if this build has a verifier for the format, else 0. */
ESCROW_EXTERN int escrow_attest_format_supported(const char *format);

typedef struct escrow_attest_trust escrow_attest_trust;

/* An empty trust store. Errors: ESCROW_E_INVALID, ESCROW_E_NOMEM. */
ESCROW_EXTERN int escrow_attest_trust_new(escrow_attest_trust **out);

/* Trust an issuer for a format: tokens whose "iss" equals issuer (after removing one trailing
 * '/' on both sides) are verified with the RSA keys of jwks ({"keys":[{kty:"RSA",kid,n,e}]},
 * or keys carrying only x5c, whose first certificate gives the key, as Azure Attestation
 * serves them). Issuers are unique per store. Evidence of format "sim" is always simulated,
 * whatever it claims. Keys of another kty, or with a "use" other than "sig", are skipped.
 * Errors: ESCROW_E_INVALID, ESCROW_E_UNSUPPORTED (format), ESCROW_E_FORMAT / ESCROW_E_KEY
 * (JWKS, with the reason; ESCROW_E_KEY also when no usable key is left), ESCROW_E_LIMIT (more
 * than 64 keys), ESCROW_E_EXISTS, ESCROW_E_NOMEM. */
ESCROW_EXTERN int escrow_attest_trust_add_issuer(escrow_attest_trust *trust, const char *format,
                                                 const char *issuer, const uint8_t *jwks,
                                                 size_t jwks_len);

/* Free. NULL is a no-op. */
ESCROW_EXTERN void escrow_attest_trust_free(escrow_attest_trust *trust);

typedef struct escrow_attest_verify_opts {
  unsigned version;             /* ESCROW_ATTEST_VERIFY_OPTS_VERSION */
  int allow_simulated;          /* 1 to accept simulated evidence (development only) */
  int64_t now;                  /* 0 = current time */
  unsigned skew;                /* leeway in seconds for exp/nbf/iat (INIT: 60) */
  const uint8_t *runtime_data;  /* optional: runtime data as the enclave sent it; then it */
  size_t runtime_data_len;      /*   must hash to the evidence's report data too */
} escrow_attest_verify_opts;
#define ESCROW_ATTEST_VERIFY_OPTS_VERSION 1
#define ESCROW_ATTEST_VERIFY_OPTS_INIT {ESCROW_ATTEST_VERIFY_OPTS_VERSION, 0, 0, 60, NULL, 0}

/* Verify evidence of a format against the trust store and return its normalised claims as a
 * JSON object: the token's claims plus x-escrow-verifier, x-escrow-authority,
 * x-escrow-simulated and x-escrow-verified-at. For a JWT: strict RS256 (alg none, HS*, any
 * other alg and a "crit" header are refused; "jku", "x5u", "x5c" and "jwk" headers are never
 * used to find a key), kid must name a key of the trusted issuer's JWKS, iss must be trusted,
 * duplicate JSON members are refused, exp
 * and nbf are checked with the skew (both required), iat must not be in the future, and the
 * report data must equal SHA-256 of the canonical x-ms-runtime (and of opts->runtime_data,
 * which must then be that same JSON). Simulated evidence is refused unless
 * opts->allow_simulated. opts NULL = ESCROW_ATTEST_VERIFY_OPTS_INIT.
 * *claims is freed with escrow_free().
 * Errors: ESCROW_E_INVALID, ESCROW_E_UNSUPPORTED (format, alg), ESCROW_E_FORMAT (malformed
 * token), ESCROW_E_NOTFOUND (untrusted issuer, unknown kid), ESCROW_E_AUTH (bad signature,
 * simulated not allowed), ESCROW_E_CHECK (expired, not yet valid, issued in the future),
 * ESCROW_E_MISMATCH (report data does not bind the runtime data), ESCROW_E_LIMIT,
 * ESCROW_E_NOMEM, ESCROW_E_CRYPTO. */
ESCROW_EXTERN int escrow_attest_verify(char **claims, size_t *claims_len,
                                       const escrow_attest_trust *trust, const char *format,
                                       const uint8_t *evidence, size_t evidence_len,
                                       const escrow_attest_verify_opts *opts) ESCROW_WARN_UNUSED;

/* ==== release policy (Azure Key Vault / Managed HSM grammar) ============================== */

/* Check a release policy without evaluating it: {"version":"1.0.0"|"0.2","anyOf":[
 * {"authority":URL,"allOf"|"anyOf":[condition...]}...]} where a condition is {"allOf":[..]},
 * {"anyOf":[..]} or {"claim":"dot.path","<op>":scalar} with op one of equals, notEquals,
 * less, lessOrEquals, greater, greaterOrEquals, or {"claim":..,"exists":true|false}.
 * The Key Vault wire form {"contentType":..,"data":base64url(policy),...} is accepted too.
 * Errors: ESCROW_E_INVALID, ESCROW_E_FORMAT (with the JSON path of the fault),
 * ESCROW_E_UNSUPPORTED (version), ESCROW_E_LIMIT (size, depth), ESCROW_E_NOMEM. */
ESCROW_EXTERN int escrow_attest_policy_check(const uint8_t *policy, size_t policy_len);

/* Evaluate a release policy against normalised claims. The claims' authority is
 * x-escrow-authority (else iss); an authority entry applies when equal after trailing-slash
 * normalisation. A claim is found by its dot path through nested objects (arrays are not
 * addressable); a missing claim fails its condition (except exists:false). equals/notEquals
 * compare canonical text: true/false and decimal integers match their string forms ("false",
 * "0"); the ordering operators compare numbers numerically and strings bytewise.
 * Returns 0 when the policy allows release, ESCROW_E_CHECK when it does not (the message
 * names the failing condition, e.g. "anyOf[0].allOf[2]: claim 'x-ms-runtime.run_id' equals
 * \"r1\": differs"), or the errors of escrow_attest_policy_check for a bad policy or claims
 * (ESCROW_E_FORMAT). */
ESCROW_EXTERN int escrow_attest_policy_eval(const uint8_t *policy, size_t policy_len,
                                            const uint8_t *claims,
                                            size_t claims_len) ESCROW_WARN_UNUSED;

/* The dynamic checks a static policy cannot express. NULL fields are not checked. */
typedef struct escrow_attest_expect {
  unsigned version;           /* ESCROW_ATTEST_EXPECT_VERSION */
  const char *project_id;     /* x-ms-runtime.project_id */
  const char *run_id;         /* x-ms-runtime.run_id */
  const char *role;           /* x-ms-runtime.role */
  const char *nonce;          /* x-ms-runtime.nonce: the caller's single-use nonce (the caller
                                 keeps the store and consumes the nonce on success) */
  const char *package_digest; /* x-escrow-package-digest */
  int allow_simulated;        /* 0: x-escrow-simulated must be false */
  int64_t now;                /* 0 = current time */
  unsigned max_age;           /* iat must be within max_age seconds of now; 0 = unchecked */
} escrow_attest_expect;
#define ESCROW_ATTEST_EXPECT_VERSION 1
#define ESCROW_ATTEST_EXPECT_INIT                                                             \
  {ESCROW_ATTEST_EXPECT_VERSION, NULL, NULL, NULL, NULL, NULL, 0, 0, 0}

/* Check normalised claims against the expected values. Returns 0, or ESCROW_E_CHECK naming
 * the first claim that differs or is missing (e.g. "the token is for run 'r2', not 'r1'"),
 * ESCROW_E_FORMAT (claims not a JSON object), ESCROW_E_INVALID, ESCROW_E_NOMEM. */
ESCROW_EXTERN int escrow_attest_check_expect(const uint8_t *claims, size_t claims_len,
                                             const escrow_attest_expect *expect)
    ESCROW_WARN_UNUSED;

/* ==== key release ========================================================================= */

/* Key-wrapping schemes of Key Vault's release ("enc"): RSA-OAEP with the hash named, of a
 * fresh AES-256 key, followed by AES key wrap with padding (RFC 5649) of the released key. */
typedef enum escrow_attest_enc {
  ESCROW_ATTEST_ENC_RSA_AES_KEY_WRAP_256 = 0, /* "RSA_AES_KEY_WRAP_256": OAEP SHA-256 */
  ESCROW_ATTEST_ENC_RSA_AES_KEY_WRAP_384 = 1, /* "RSA_AES_KEY_WRAP_384": OAEP SHA-384 */
  ESCROW_ATTEST_ENC_CKM_RSA_AES_KEY_WRAP = 2  /* "CKM_RSA_AES_KEY_WRAP": OAEP SHA-1 (accepted
                                                 on open for Key Vault compatibility) */
} escrow_attest_enc;

typedef struct escrow_attest_release_opts {
  unsigned version;      /* ESCROW_ATTEST_RELEASE_OPTS_VERSION */
  const char *key_id;    /* the released key's name in request.kid / key.kid, required */
  escrow_attest_enc enc; /* INIT: RSA_AES_KEY_WRAP_256 */
  int64_t now;           /* attributes.created/updated; 0 = current time */
} escrow_attest_release_opts;
#define ESCROW_ATTEST_RELEASE_OPTS_VERSION 1
#define ESCROW_ATTEST_RELEASE_OPTS_INIT                                                       \
  {ESCROW_ATTEST_RELEASE_OPTS_VERSION, NULL, ESCROW_ATTEST_ENC_RSA_AES_KEY_WRAP_256, 0}

/* Platform side: wrap the KEK's private key (PKCS#8 DER, only ever in secure memory) to the
 * first encryption key of the claims' x-ms-runtime.keys (kty RSA, key_ops containing
 * "encrypt" or use "enc", 2048..8192 bits) and return the Key-Vault-shaped response
 * {"value":"<JWS>"}: an RS256 JWS {alg,kid,typ:"JWT"} by release_key whose payload is
 * {"request":{"api-version":"7.4","enc":..,"kid":key_id},"response":{"key":{"key":{"kid":
 * key_id,"kty":"RSA","key_ops":[..],"n":..,"e":..,"key_hsm":base64url({"schema_version":"1.0",
 * "header":{"kid":<ephemeral kid>,"alg":"dir","enc":..},"ciphertext":base64url(RSA-OAEP(K) ||
 * AES-KWP(K, PKCS#8))})},"attributes":{"enabled":true,"exportable":true,"created":now,
 * "updated":now}}}}. Call it only after escrow_attest_verify, the policy and the expected
 * checks passed. *out is freed with escrow_free().
 * Errors: ESCROW_E_INVALID (NULL, KEK without its private half, no key_id), ESCROW_E_FORMAT /
 * ESCROW_E_NOTFOUND (claims without a usable encryption key), ESCROW_E_KEY (that key is not a
 * usable RSA key), ESCROW_E_NOMEM, ESCROW_E_CRYPTO. */
ESCROW_EXTERN int escrow_attest_release(char **out, size_t *out_len,
                                        const escrow_attest_signer *release_key,
                                        const escrow_kek *kek, const uint8_t *claims,
                                        size_t claims_len,
                                        const escrow_attest_release_opts *opts);

/* How the enclave trusts a release response: either the platform's release key, or (Key
 * Vault) the JWS's x5c certificate chain verified to a pinned root at a time, with the leaf
 * matching a DNS name (x5c_host, required with x5c_root). Exactly one of platform_key and
 * x5c_root is set. */
typedef struct escrow_attest_release_trust {
  unsigned version;             /* ESCROW_ATTEST_RELEASE_TRUST_VERSION */
  const uint8_t *platform_key;  /* SubjectPublicKeyInfo PEM/DER, or a JWKS whose kid matches */
  size_t platform_key_len;
  const uint8_t *x5c_root;      /* a PEM X.509 certificate the x5c chain must end at */
  size_t x5c_root_len;
  const char *x5c_host;         /* DNS name the x5c leaf must carry; required with x5c_root */
  int64_t now;                  /* certificate validity time; 0 = current time */
} escrow_attest_release_trust;
#define ESCROW_ATTEST_RELEASE_TRUST_VERSION 1
#define ESCROW_ATTEST_RELEASE_TRUST_INIT                                                      \
  {ESCROW_ATTEST_RELEASE_TRUST_VERSION, NULL, 0, NULL, 0, NULL, 0}

/* Verify a release response ({"value":JWS} or the bare JWS) and return its payload JSON
 * (wrapped material only, nothing secret) for inspection. Strict RS256.
 * *payload is freed with escrow_free().
 * Errors: ESCROW_E_INVALID, ESCROW_E_FORMAT, ESCROW_E_UNSUPPORTED (alg), ESCROW_E_KEY (trust
 * key unusable), ESCROW_E_NOTFOUND (kid not in the JWKS), ESCROW_E_AUTH (signature or
 * certificate chain does not verify), ESCROW_E_LIMIT, ESCROW_E_NOMEM, ESCROW_E_CRYPTO. */
ESCROW_EXTERN int escrow_attest_release_inspect(char **payload, size_t *payload_len,
                                                const uint8_t *response, size_t response_len,
                                                const escrow_attest_release_trust *trust)
    ESCROW_WARN_UNUSED;

/* Enclave side: verify a release response like escrow_attest_release_inspect, check that its
 * key_hsm is wrapped to this ephemeral key (header kid) with a supported enc (all three), and
 * unwrap it to a KEK handle with its private half (the PKCS#8 key exists only in secure
 * memory). *out is freed with escrow_kek_free().
 * Errors: those of escrow_attest_release_inspect, ESCROW_E_MISMATCH (wrapped to another key),
 * ESCROW_E_UNSUPPORTED (enc, schema_version), ESCROW_E_AUTH (unwrap fails: wrong key or
 * altered ciphertext, one message for both), ESCROW_E_KEY (the released key is not a KEK). */
ESCROW_EXTERN int escrow_attest_release_open(escrow_kek **out, const uint8_t *response,
                                             size_t response_len,
                                             const escrow_attest_release_trust *trust,
                                             const escrow_attest_key *ephemeral)
    ESCROW_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif
