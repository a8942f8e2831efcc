/*
 * attest: key release in Azure Key Vault's shape.
 *
 * Platform: the KEK's PKCS#8 private key (secure memory) is wrapped with RSA_AES_KEY_WRAP_256
 * - RSA-OAEP-256 of a fresh AES-256 key K, then AES-KWP (RFC 5649) of the PKCS#8 under K - to
 * the enclave's ephemeral key, placed in key_hsm and signed into a JWS.
 * Enclave: verify the JWS (platform key, or Key Vault's x5c chain to a pinned root), check the
 * wrapping names its own key, unwrap into secure memory, and read the KEK from there.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <sodium.h>

#include "attest_internal.h"
#include "internal.h"

#define AES_KEY_BYTES 32
#define X5C_MAX_CERTS 8

static const char *const enc_names[] = {"RSA_AES_KEY_WRAP_256", "RSA_AES_KEY_WRAP_384",
                                        "CKM_RSA_AES_KEY_WRAP"};

static const EVP_MD *enc_md(escrow_attest_enc enc) {
  switch (enc) {
  case ESCROW_ATTEST_ENC_RSA_AES_KEY_WRAP_256:
    return EVP_sha256();
  case ESCROW_ATTEST_ENC_RSA_AES_KEY_WRAP_384:
    return EVP_sha384();
  case ESCROW_ATTEST_ENC_CKM_RSA_AES_KEY_WRAP:
    return EVP_sha1();
  }
  return NULL;
}

static EVP_PKEY_CTX *oaep_ctx(EVP_PKEY *pkey, const EVP_MD *md, bool decrypt) {
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
  if (ctx == NULL)
    return NULL;
  if ((decrypt ? EVP_PKEY_decrypt_init(ctx) : EVP_PKEY_encrypt_init(ctx)) <= 0 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) <= 0 || EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) <= 0) {
    EVP_PKEY_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

/* The first encryption key of x-ms-runtime.keys, as Key Vault picks it. */
static int find_wrapping_key(const escrow__json *claims, EVP_PKEY **pkey, const char **kid) {
  const escrow__json *rt = escrow__json_get(claims, ESCROW_ATTEST_CLAIM_RUNTIME);
  const escrow__json *keys = escrow__json_get(rt, "keys");
  if (keys == NULL || keys->type != ESCROW__J_ARRAY)
    return escrow__err(ESCROW_E_NOTFOUND, "the claims carry no %s.keys: there is no key to "
                                          "release to",
                       ESCROW_ATTEST_CLAIM_RUNTIME);
  for (size_t i = 0; i < keys->n; i++) {
    const escrow__json *k = keys->items[i];
    const char *use = escrow__json_get_str(k, "use");
    const escrow__json *ops = escrow__json_get(k, "key_ops");
    bool enc = use != NULL && strcmp(use, "enc") == 0;
    for (size_t j = 0; ops != NULL && ops->type == ESCROW__J_ARRAY && j < ops->n; j++)
      if (ops->items[j]->type == ESCROW__J_STRING && strcmp(ops->items[j]->s, "encrypt") == 0)
        enc = true;
    if (!enc)
      continue;
    const char *kty = escrow__json_get_str(k, "kty");
    if (kty == NULL || strcmp(kty, "RSA") != 0)
      return escrow__err(ESCROW_E_KEY, "the token's encryption key is not an RSA key");
    *kid = escrow__json_get_str(k, "kid");
    if (*kid == NULL || **kid == '\0')
      return escrow__err(ESCROW_E_KEY, "the token's encryption key has no kid");
    return escrow__rsa_from_jwk(pkey, k, "the token's encryption key");
  }
  return escrow__err(ESCROW_E_NOTFOUND, "no key in %s.keys is for encryption (key_ops "
                                        "\"encrypt\" or use \"enc\")",
                     ESCROW_ATTEST_CLAIM_RUNTIME);
}

/* RSA-OAEP(K) || AES-KWP(K, plain) with a fresh K. */
static int rsa_aes_wrap(EVP_PKEY *to, escrow_attest_enc enc, const uint8_t *plain,
                        size_t plain_len, uint8_t **out, size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  uint8_t *k = escrow__secure_malloc(AES_KEY_BYTES);
  if (k == NULL)
    return escrow__err_nomem();
  randombytes_buf(k, AES_KEY_BYTES);
  uint8_t *kwp = NULL, *buf = NULL;
  size_t kwp_len = 0;
  size_t rsa_len = (size_t)EVP_PKEY_get_size(to);
  int rc = escrow__kwp_wrap(k, AES_KEY_BYTES, plain, plain_len, &kwp, &kwp_len);
  if (rc != 0)
    goto done;
  buf = escrow__malloc(rsa_len + kwp_len);
  if (buf == NULL) {
    rc = escrow__err_nomem();
    goto done;
  }
  EVP_PKEY_CTX *ctx = oaep_ctx(to, enc_md(enc), false);
  size_t ol = rsa_len;
  if (ctx == NULL || EVP_PKEY_encrypt(ctx, buf, &ol, k, AES_KEY_BYTES) <= 0 || ol != rsa_len) {
    EVP_PKEY_CTX_free(ctx);
    rc = escrow__err_openssl(ESCROW_E_CRYPTO, "cannot wrap the AES key with RSA-OAEP");
    goto done;
  }
  EVP_PKEY_CTX_free(ctx);
  memcpy(buf + rsa_len, kwp, kwp_len);
  *out = buf;
  *out_len = rsa_len + kwp_len;
  buf = NULL;
done:
  escrow__secure_free(k);
  escrow__free(kwp);
  escrow__free(buf);
  return rc;
}

static int set_str(escrow__json *o, const char *k, const char *v) {
  return escrow__json_set(o, k, escrow__json_str(v));
}

/* Take child into parent under key (child freed on failure); returns rc. */
static int adopt(escrow__json *parent, const char *key, escrow__json *child, int rc) {
  if (rc != 0) {
    escrow__json_free(child);
    return rc;
  }
  return escrow__json_set(parent, key, child);
}

static escrow__json *str_array(const char *const *v, size_t n) {
  escrow__json *a = escrow__json_new(ESCROW__J_ARRAY);
  for (size_t i = 0; a != NULL && i < n; i++)
    if (escrow__json_push(a, escrow__json_str(v[i])) != 0) {
      escrow__json_free(a);
      return NULL;
    }
  return a;
}

int escrow_attest_release(char **out, size_t *out_len, const escrow_attest_signer *release_key,
                          const escrow_kek *kek, const uint8_t *claims, size_t claims_len,
                          const escrow_attest_release_opts *opts) {
  if (out != NULL)
    *out = NULL;
  if (out_len != NULL)
    *out_len = 0;
  if (out == NULL || release_key == NULL || kek == NULL || claims == NULL || opts == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_release: %s is NULL",
                       out == NULL           ? "out"
                       : release_key == NULL ? "release_key"
                       : kek == NULL         ? "kek"
                       : claims == NULL      ? "claims"
                                             : "opts");
  if (opts->version != ESCROW_ATTEST_RELEASE_OPTS_VERSION)
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_release_opts version %u is not %d",
                       opts->version, ESCROW_ATTEST_RELEASE_OPTS_VERSION);
  if (opts->key_id == NULL || *opts->key_id == '\0')
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_release: the released key needs a "
                                         "key_id");
  if ((unsigned)opts->enc >= ESCROW__ARRAY_LEN(enc_names))
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_release: unknown enc %d",
                       (int)opts->enc);
  if (!escrow_kek_has_private(kek))
    return escrow__err(ESCROW_E_INVALID, "the KEK has no private half to release");
  if (escrow_init() != 0)
    return escrow_error_last_code();
  const char *enc = enc_names[opts->enc];
  escrow__json *c = NULL, *payload = NULL, *header = NULL, *hsm = NULL;
  EVP_PKEY *to = NULL, *kek_pub = NULL;
  uint8_t *pkcs8 = NULL, *ct = NULL, *spki = NULL;
  size_t pkcs8_len = 0, ct_len = 0, spki_len = 0;
  char *ct64 = NULL, *hsm_json = NULL, *hsm64 = NULL, *n = NULL, *e = NULL, *jws = NULL;
  const char *eph_kid = NULL;
  int rc = escrow__json_parse(&c, claims, claims_len, "the claims");
  if (rc == 0)
    rc = find_wrapping_key(c, &to, &eph_kid);
  if (rc != 0)
    goto done;
  /* The KEK's public numbers for the response's key object. */
  rc = escrow_kek_public_export(kek, ESCROW_KEY_DER, &spki, &spki_len);
  if (rc != 0)
    goto done;
  const unsigned char *sp = spki;
  kek_pub = d2i_PUBKEY(NULL, &sp, (long)spki_len);
  if (kek_pub == NULL) {
    rc = escrow__err_openssl(ESCROW_E_CRYPTO, "cannot read the KEK's public key");
    goto done;
  }
  rc = escrow__rsa_ne(kek_pub, &n, &e);
  if (rc != 0)
    goto done;
  rc = escrow_kek_private_export(kek, ESCROW_KEY_DER, &pkcs8, &pkcs8_len);
  if (rc == 0)
    rc = rsa_aes_wrap(to, opts->enc, pkcs8, pkcs8_len, &ct, &ct_len);
  if (rc != 0)
    goto done;
  ct64 = escrow__b64url(ct, ct_len);
  hsm = escrow__json_new(ESCROW__J_OBJECT);
  escrow__json *hh = escrow__json_new(ESCROW__J_OBJECT);
  if (ct64 == NULL || hsm == NULL || hh == NULL) {
    escrow__json_free(hh);
    rc = ESCROW_E_NOMEM;
    goto done;
  }
  rc = set_str(hh, "alg", "dir");
  if (rc == 0)
    rc = set_str(hh, "enc", enc);
  if (rc == 0)
    rc = set_str(hh, "kid", eph_kid);
  rc = adopt(hsm, "header", hh, rc);
  if (rc == 0)
    rc = set_str(hsm, "schema_version", "1.0");
  if (rc == 0)
    rc = set_str(hsm, "ciphertext", ct64);
  size_t hsm_len = 0;
  if (rc == 0)
    rc = escrow__json_canonical(hsm, &hsm_json, &hsm_len);
  if (rc != 0)
    goto done;
  hsm64 = escrow__b64url((const uint8_t *)hsm_json, hsm_len);
  if (hsm64 == NULL) {
    rc = ESCROW_E_NOMEM;
    goto done;
  }
  /* payload = {request:{api-version,enc,kid}, response:{key:{key:{..}, attributes:{..}}}} */
  int64_t now = escrow__attest_now(opts->now);
  static const char *const ops[] = {"encrypt", "decrypt", "wrapKey", "unwrapKey"};
  payload = escrow__json_new(ESCROW__J_OBJECT);
  escrow__json *req = escrow__json_new(ESCROW__J_OBJECT);
  escrow__json *resp = escrow__json_new(ESCROW__J_OBJECT);
  escrow__json *outer = escrow__json_new(ESCROW__J_OBJECT);
  escrow__json *key = escrow__json_new(ESCROW__J_OBJECT);
  escrow__json *attrs = escrow__json_new(ESCROW__J_OBJECT);
  rc = payload == NULL || req == NULL || resp == NULL || outer == NULL || key == NULL ||
               attrs == NULL
           ? ESCROW_E_NOMEM
           : 0;
  if (rc == 0)
    rc = set_str(req, "api-version", "7.4");
  if (rc == 0)
    rc = set_str(req, "enc", enc);
  if (rc == 0)
    rc = set_str(req, "kid", opts->key_id);
  if (rc == 0)
    rc = set_str(key, "kid", opts->key_id);
  if (rc == 0)
    rc = set_str(key, "kty", "RSA");
  if (rc == 0)
    rc = escrow__json_set(key, "key_ops", str_array(ops, ESCROW__ARRAY_LEN(ops)));
  if (rc == 0)
    rc = set_str(key, "n", n);
  if (rc == 0)
    rc = set_str(key, "e", e);
  if (rc == 0)
    rc = set_str(key, "key_hsm", hsm64);
  if (rc == 0)
    rc = escrow__json_set(attrs, "enabled", escrow__json_bool(true));
  if (rc == 0)
    rc = escrow__json_set(attrs, "exportable", escrow__json_bool(true));
  if (rc == 0)
    rc = escrow__json_set(attrs, "created", escrow__json_int(now));
  if (rc == 0)
    rc = escrow__json_set(attrs, "updated", escrow__json_int(now));
  rc = adopt(outer, "key", key, rc);
  rc = adopt(outer, "attributes", attrs, rc);
  rc = adopt(resp, "key", outer, rc);
  rc = adopt(payload, "request", req, rc);
  rc = adopt(payload, "response", resp, rc);
  if (rc != 0)
    goto done;
  header = escrow__json_new(ESCROW__J_OBJECT);
  rc = header == NULL ? ESCROW_E_NOMEM : set_str(header, "alg", "RS256");
  if (rc == 0)
    rc = set_str(header, "kid", escrow_attest_signer_kid(release_key));
  if (rc == 0)
    rc = set_str(header, "typ", "JWT");
  size_t jws_len = 0;
  if (rc == 0)
    rc = escrow__jws_sign(&jws, &jws_len, escrow__signer_pkey(release_key), header, payload);
  if (rc != 0)
    goto done;
  escrow__json *value = escrow__json_new(ESCROW__J_OBJECT);
  rc = value == NULL ? ESCROW_E_NOMEM : set_str(value, "value", jws);
  if (rc == 0)
    rc = escrow__json_canonical(value, out, out_len);
  escrow__json_free(value);
done:
  escrow__json_free(c);
  escrow__json_free(payload);
  escrow__json_free(header);
  escrow__json_free(hsm);
  EVP_PKEY_free(to);
  EVP_PKEY_free(kek_pub);
  escrow_secret_free(pkcs8);
  escrow__free(ct);
  escrow__free(spki);
  escrow__free(ct64);
  escrow__free(hsm_json);
  escrow__free(hsm64);
  escrow__free(n);
  escrow__free(e);
  escrow__free(jws);
  return rc;
}

/* ---- the enclave's side -------------------------------------------------------------------- */

/* The JWS text of a response: {"value":"<JWS>"} or the bare JWS (surrounding whitespace
 * allowed). *text is escrow__malloc'd. */
static int response_jws(const uint8_t *resp, size_t len, char **text, size_t *text_len) {
  *text = NULL;
  if (len > ESCROW_ATTEST_MAX_INPUT)
    return escrow__err(ESCROW_E_LIMIT, "the release response is larger than %u bytes",
                       ESCROW_ATTEST_MAX_INPUT);
  size_t a = 0, b = len;
  while (a < b && (resp[a] == ' ' || resp[a] == '\n' || resp[a] == '\r' || resp[a] == '\t'))
    a++;
  while (b > a && (resp[b - 1] == ' ' || resp[b - 1] == '\n' || resp[b - 1] == '\r' ||
                   resp[b - 1] == '\t'))
    b--;
  if (a < b && resp[a] == '{') {
    escrow__json *j = NULL;
    int rc = escrow__json_parse(&j, resp, len, "the release response");
    if (rc != 0)
      return rc;
    const escrow__json *v = escrow__json_get(j, "value");
    if (v == NULL || v->type != ESCROW__J_STRING) {
      escrow__json_free(j);
      return escrow__err(ESCROW_E_FORMAT, "the release response has no 'value' string");
    }
    *text = escrow__strndup(v->s, v->len);
    *text_len = v->len;
    escrow__json_free(j);
  } else {
    *text = escrow__strndup((const char *)resp + a, b - a);
    *text_len = b - a;
  }
  return *text == NULL ? escrow__err_nomem() : 0;
}

static int platform_key(EVP_PKEY **out, bool *borrowed, escrow__jwks *jwks,
                        const escrow_attest_release_trust *t, const char *kid) {
  *out = NULL;
  *borrowed = false;
  const uint8_t *d = t->platform_key;
  size_t l = t->platform_key_len;
  size_t a = 0;
  while (a < l && (d[a] == ' ' || d[a] == '\n' || d[a] == '\r' || d[a] == '\t'))
    a++;
  if (a < l && d[a] == '{') {
    int rc = escrow__jwks_parse(jwks, d, l);
    if (rc != 0)
      return rc;
    if (kid == NULL)
      return escrow__err(ESCROW_E_FORMAT, "the release response's header has no 'kid'");
    *out = escrow__jwks_find(jwks, kid);
    *borrowed = true;
    if (*out == NULL)
      return escrow__err(ESCROW_E_NOTFOUND, "the platform's JWKS has no key with kid '%.64s'",
                         kid);
    return 0;
  }
  EVP_PKEY *pk = NULL;
  if (l > 10 && memcmp(d + a, "-----BEGIN", 10) == 0) {
    BIO *bio = BIO_new_mem_buf(d, (int)l);
    if (bio != NULL)
      pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
  } else {
    const unsigned char *p = d;
    pk = d2i_PUBKEY(NULL, &p, (long)l);
    if (pk != NULL && p != d + l) {
      EVP_PKEY_free(pk);
      pk = NULL;
    }
  }
  ERR_clear_error();
  if (pk == NULL)
    return escrow__err(ESCROW_E_KEY, "the platform key is not a public key (PEM or DER "
                                     "SubjectPublicKeyInfo) or a JWKS");
  *out = pk;
  return 0;
}

/* Verify the header's x5c chain to the pinned root at t->now and return the leaf's key. */
static int x5c_key(EVP_PKEY **out, const escrow__json *header,
                   const escrow_attest_release_trust *t) {
  *out = NULL;
  const escrow__json *x5c = escrow__json_get(header, "x5c");
  if (x5c == NULL || x5c->type != ESCROW__J_ARRAY || x5c->n == 0)
    return escrow__err(ESCROW_E_FORMAT, "the release response's header has no x5c chain");
  if (x5c->n > X5C_MAX_CERTS)
    return escrow__err(ESCROW_E_LIMIT, "the x5c chain has more than %d certificates",
                       X5C_MAX_CERTS);
  int rc = 0;
  X509 *root = NULL, *leaf = NULL;
  STACK_OF(X509) *chain = sk_X509_new_null();
  X509_STORE *store = X509_STORE_new();
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  BIO *bio = BIO_new_mem_buf(t->x5c_root, (int)t->x5c_root_len);
  if (chain == NULL || store == NULL || ctx == NULL || bio == NULL) {
    rc = escrow__err_openssl(ESCROW_E_NOMEM, "cannot set up certificate checks");
    goto done;
  }
  root = PEM_read_bio_X509(bio, NULL, NULL, NULL);
  if (root == NULL) {
    rc = escrow__err_openssl(ESCROW_E_KEY, "the pinned root is not a PEM X.509 certificate");
    goto done;
  }
  for (size_t i = 0; i < x5c->n; i++) {
    const escrow__json *c = x5c->items[i];
    if (c->type != ESCROW__J_STRING) {
      rc = escrow__err(ESCROW_E_FORMAT, "x5c[%zu] is not a string", i);
      goto done;
    }
    size_t cap = c->len / 4 * 3 + 3;
    uint8_t *der = escrow__malloc(cap);
    if (der == NULL) {
      rc = escrow__err_nomem();
      goto done;
    }
    size_t got = 0;
    const char *end = NULL;
    X509 *cert = NULL;
    if (sodium_base642bin(der, cap, c->s, c->len, NULL, &got, &end,
                          sodium_base64_VARIANT_ORIGINAL) == 0 &&
        end == c->s + c->len) {
      const unsigned char *p = der;
      cert = d2i_X509(NULL, &p, (long)got);
      if (cert != NULL && p != der + got) {
        X509_free(cert);
        cert = NULL;
      }
    }
    escrow__free(der);
    if (cert == NULL) {
      rc = escrow__err_openssl(ESCROW_E_FORMAT, "x5c[%zu] is not a base64 X.509 certificate",
                               i);
      goto done;
    }
    if (i == 0) {
      leaf = cert;
    } else if (!sk_X509_push(chain, cert)) {
      X509_free(cert);
      rc = escrow__err_openssl(ESCROW_E_NOMEM, "cannot hold the x5c chain");
      goto done;
    }
  }
  if (!X509_STORE_add_cert(store, root) || !X509_STORE_CTX_init(ctx, store, leaf, chain)) {
    rc = escrow__err_openssl(ESCROW_E_CRYPTO, "cannot set up certificate checks");
    goto done;
  }
  X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(ctx);
  X509_VERIFY_PARAM_set_time(vp, (time_t)escrow__attest_now(t->now));
  if (!X509_VERIFY_PARAM_set1_host(vp, t->x5c_host, 0)) {
    rc = escrow__err_openssl(ESCROW_E_INVALID, "cannot check the host name");
    goto done;
  }
  if (X509_verify_cert(ctx) != 1) {
    int err = X509_STORE_CTX_get_error(ctx);
    rc = escrow__err(ESCROW_E_AUTH, "the release response's certificate chain does not verify: "
                                    "%s",
                     X509_verify_cert_error_string(err));
    goto done;
  }
  *out = X509_get_pubkey(leaf);
  if (*out == NULL)
    rc = escrow__err_openssl(ESCROW_E_KEY, "cannot read the certificate's key");
done:
  X509_STORE_CTX_free(ctx); /* first: it points at leaf and chain */
  X509_free(root);
  X509_free(leaf);
  sk_X509_pop_free(chain, X509_free);
  X509_STORE_free(store);
  BIO_free(bio);
  ERR_clear_error();
  return rc;
}

/* Verify a response and hand back its payload tree. */
static int release_verify(escrow__json **payload, const uint8_t *response, size_t len,
                          const escrow_attest_release_trust *t) {
  *payload = NULL;
  if (t->version != ESCROW_ATTEST_RELEASE_TRUST_VERSION)
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_release_trust version %u is not %d",
                       t->version, ESCROW_ATTEST_RELEASE_TRUST_VERSION);
  if ((t->platform_key == NULL) == (t->x5c_root == NULL))
    return escrow__err(ESCROW_E_INVALID, "the release trust needs exactly one of platform_key "
                                         "and x5c_root");
  if ((t->platform_key != NULL && t->platform_key_len > ESCROW_ATTEST_MAX_INPUT) ||
      (t->x5c_root != NULL && t->x5c_root_len > ESCROW_ATTEST_MAX_INPUT))
    return escrow__err(ESCROW_E_LIMIT, "the release trust's %s is larger than %u bytes",
                       t->platform_key != NULL ? "platform_key" : "x5c_root",
                       ESCROW_ATTEST_MAX_INPUT);
  /* A pinned root is a public CA's: without the vault's host name every certificate it
   * issued (any web site's) could sign a release. */
  if (t->x5c_root != NULL && (t->x5c_host == NULL || *t->x5c_host == '\0'))
    return escrow__err(ESCROW_E_INVALID, "the release trust's x5c_root needs x5c_host (the "
                                         "vault's DNS name the leaf certificate must carry)");
  if (escrow_init() != 0)
    return escrow_error_last_code();
  char *text = NULL;
  size_t tl = 0;
  int rc = response_jws(response, len, &text, &tl);
  if (rc != 0)
    return rc;
  escrow__jws jws;
  memset(&jws, 0, sizeof jws);
  escrow__jwks jwks = {NULL, 0};
  EVP_PKEY *key = NULL;
  bool borrowed = false;
  rc = escrow__jws_parse(&jws, text, tl, "the release response", true);
  if (rc != 0)
    goto done;
  if (t->platform_key != NULL)
    rc = platform_key(&key, &borrowed, &jwks, t, escrow__json_get_str(jws.header, "kid"));
  else
    rc = x5c_key(&key, jws.header, t);
  if (rc == 0)
    rc = escrow__jws_verify(&jws, key, "the release response");
  if (rc == 0)
    rc = escrow__jws_decode_payload(&jws, "the release response");
  if (rc == 0) {
    *payload = jws.payload;
    jws.payload = NULL;
  }
done:
  if (!borrowed)
    EVP_PKEY_free(key);
  escrow__jwks_clear(&jwks);
  escrow__jws_clear(&jws);
  escrow__free(text);
  return rc;
}

int escrow_attest_release_inspect(char **payload, size_t *payload_len, const uint8_t *response,
                                  size_t response_len, const escrow_attest_release_trust *trust) {
  if (payload != NULL)
    *payload = NULL;
  if (payload_len != NULL)
    *payload_len = 0;
  if (payload == NULL || response == NULL || trust == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_release_inspect: %s is NULL",
                       payload == NULL    ? "payload"
                       : response == NULL ? "response"
                                          : "trust");
  escrow__json *p = NULL;
  int rc = release_verify(&p, response, response_len, trust);
  if (rc == 0)
    rc = escrow__json_canonical(p, payload, payload_len);
  escrow__json_free(p);
  return rc;
}

static const char unwrap_failed[] =
    "the released key does not unwrap: it is wrapped to another key or was altered";

int escrow_attest_release_open(escrow_kek **out, const uint8_t *response, size_t response_len,
                               const escrow_attest_release_trust *trust,
                               const escrow_attest_key *ephemeral) {
  if (out != NULL)
    *out = NULL;
  if (out == NULL || response == NULL || trust == NULL || ephemeral == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_release_open: %s is NULL",
                       out == NULL        ? "out"
                       : response == NULL ? "response"
                       : trust == NULL    ? "trust"
                                          : "ephemeral");
  escrow__json *p = NULL, *hsm = NULL;
  uint8_t *hsm_raw = NULL, *ct = NULL, *k = NULL, *plain = NULL;
  size_t hsm_len = 0, ct_len = 0, plain_len = 0;
  int rc = release_verify(&p, response, response_len, trust);
  if (rc != 0)
    goto done;
  const escrow__json *key = escrow__json_path(p, "response.key.key");
  const char *hsm64 = escrow__json_get_str(key, "key_hsm");
  if (hsm64 == NULL) {
    rc = escrow__err(ESCROW_E_FORMAT, "the release response has no response.key.key.key_hsm");
    goto done;
  }
  rc = escrow__b64url_decode(hsm64, strlen(hsm64), false, "key_hsm", &hsm_raw, &hsm_len);
  if (rc == 0)
    rc = escrow__json_parse(&hsm, hsm_raw, hsm_len, "key_hsm");
  if (rc != 0)
    goto done;
  const char *schema = escrow__json_get_str(hsm, "schema_version");
  const escrow__json *hh = escrow__json_get(hsm, "header");
  const char *alg = escrow__json_get_str(hh, "alg");
  const char *enc = escrow__json_get_str(hh, "enc");
  const char *kid = escrow__json_get_str(hh, "kid");
  const char *ct64 = escrow__json_get_str(hsm, "ciphertext");
  if (schema == NULL || strcmp(schema, "1.0") != 0) {
    rc = escrow__err(ESCROW_E_UNSUPPORTED, "key_hsm schema_version '%.16s' is not supported "
                                           "(1.0)",
                     schema != NULL ? schema : "");
    goto done;
  }
  if (alg == NULL || strcmp(alg, "dir") != 0 || enc == NULL || kid == NULL || ct64 == NULL) {
    rc = escrow__err(ESCROW_E_FORMAT, "key_hsm needs header {alg:\"dir\", enc, kid} and a "
                                      "ciphertext");
    goto done;
  }
  int ei = -1;
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(enc_names); i++)
    if (strcmp(enc, enc_names[i]) == 0)
      ei = (int)i;
  if (ei < 0) {
    rc = escrow__err(ESCROW_E_UNSUPPORTED, "key wrapping '%.32s' is not supported", enc);
    goto done;
  }
  char my_kid[ESCROW_ATTEST_KID_SIZE];
  escrow_attest_key_kid(ephemeral, my_kid, sizeof my_kid);
  if (strcmp(kid, my_kid) != 0) {
    rc = escrow__err(ESCROW_E_MISMATCH, "the key was released to another key (kid '%.64s'), not "
                                        "to this enclave's key '%s'",
                     kid, my_kid);
    goto done;
  }
  rc = escrow__b64url_decode(ct64, strlen(ct64), false, "the key_hsm ciphertext", &ct, &ct_len);
  if (rc != 0)
    goto done;
  EVP_PKEY *eph = escrow__attest_key_pkey(ephemeral);
  size_t rsa_len = (size_t)EVP_PKEY_get_size(eph);
  if (ct_len <= rsa_len + 8) {
    rc = escrow__err(ESCROW_E_FORMAT, "the key_hsm ciphertext (%zu bytes) is too short for an "
                                      "RSA-%zu block and a wrapped key",
                     ct_len, rsa_len * 8);
    goto done;
  }
  k = escrow__secure_malloc(rsa_len);
  if (k == NULL) {
    rc = escrow__err_nomem();
    goto done;
  }
  EVP_PKEY_CTX *ctx = oaep_ctx(eph, enc_md((escrow_attest_enc)ei), true);
  size_t kl = rsa_len;
  int ok = ctx != NULL && EVP_PKEY_decrypt(ctx, k, &kl, ct, rsa_len) > 0 &&
           (kl == 16 || kl == 24 || kl == 32);
  EVP_PKEY_CTX_free(ctx);
  ERR_clear_error();
  if (!ok) {
    rc = escrow__err(ESCROW_E_AUTH, "%s", unwrap_failed);
    goto done;
  }
  rc = escrow__kwp_unwrap(k, kl, ct + rsa_len, ct_len - rsa_len, &plain, &plain_len);
  if (rc == ESCROW_E_AUTH)
    rc = escrow__err(ESCROW_E_AUTH, "%s", unwrap_failed);
  if (rc == 0)
    rc = escrow_kek_private_from_bytes(out, plain, plain_len);
done:
  if (k != NULL)
    escrow__secure_free(k);
  if (plain != NULL)
    escrow__secure_free(plain);
  escrow__json_free(p);
  escrow__json_free(hsm);
  escrow__free(hsm_raw);
  escrow__free(ct);
  return rc;
}
