/*
 * attest: JOSE pieces - base64url, RSA JWKs and thumbprints, RS256 compact JWS, JWKS, the
 * signing keys (development issuer, platform release key) and the enclave's ephemeral key -
 * and AES key wrap with padding (RFC 5649).
 *
 * Only RS256 exists here on purpose: the verifier must not let a token choose its algorithm.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/buffer.h>
#include <openssl/core_names.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "attest_internal.h"
#include "internal.h"

/* RSA sizes any JOSE key here may have. */
#define JOSE_RSA_MIN_BITS 2048
#define JOSE_RSA_MAX_BITS 8192
#define JWKS_MAX_KEYS 64
#define SIGNER_KID_MAX 128

/* ---- base64url --------------------------------------------------------------------------- */

char *escrow__b64url(const uint8_t *in, size_t len) {
  size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  char *out = escrow__malloc(cap);
  if (out == NULL) {
    escrow__err_nomem();
    return NULL;
  }
  sodium_bin2base64(out, cap, in != NULL ? in : (const uint8_t *)"", len,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return out;
}

int escrow__b64url_decode(const char *in, size_t len, bool secret, const char *what,
                          uint8_t **out, size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  size_t cap = len / 4 * 3 + 3;
  uint8_t *buf = secret ? escrow__secure_malloc(cap) : escrow__malloc(cap);
  if (buf == NULL)
    return escrow__err_nomem();
  size_t got = 0;
  const char *end = NULL;
  if (len > 0 && (sodium_base642bin(buf, cap, in, len, NULL, &got, &end,
                                    sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
                  end != in + len)) {
    if (secret)
      escrow__secure_free(buf);
    else
      escrow__free(buf);
    return escrow__err(ESCROW_E_FORMAT, "%s is not valid base64url", what);
  }
  buf[got] = 0;
  *out = buf;
  *out_len = got;
  return 0;
}

/* ---- RSA keys ---------------------------------------------------------------------------- */

static int check_rsa(EVP_PKEY *pkey, const char *what) {
  if (!EVP_PKEY_is_a(pkey, "RSA"))
    return escrow__err(ESCROW_E_KEY, "%s is not an RSA key", what);
  int bits = EVP_PKEY_get_bits(pkey);
  if (bits < JOSE_RSA_MIN_BITS || bits > JOSE_RSA_MAX_BITS)
    return escrow__err(ESCROW_E_KEY, "%s is RSA-%d; %d to %d bits are accepted", what, bits,
                       JOSE_RSA_MIN_BITS, JOSE_RSA_MAX_BITS);
  return 0;
}

static int b64url_member(const escrow__json *obj, const char *key, const char *what,
                         uint8_t **out, size_t *out_len) {
  const char *s = escrow__json_get_str(obj, key);
  if (s == NULL || *s == '\0')
    return escrow__err(ESCROW_E_KEY, "%s has no '%s'", what, key);
  int rc = escrow__b64url_decode(s, strlen(s), false, what, out, out_len);
  if (rc == ESCROW_E_FORMAT)
    return escrow__err(ESCROW_E_KEY, "%s: '%s' is not valid base64url", what, key);
  return rc;
}

int escrow__rsa_from_jwk(EVP_PKEY **out, const escrow__json *jwk, const char *what) {
  *out = NULL;
  uint8_t *nb = NULL, *eb = NULL;
  size_t nl = 0, el = 0;
  BIGNUM *n = NULL, *e = NULL;
  OSSL_PARAM_BLD *bld = NULL;
  OSSL_PARAM *params = NULL;
  EVP_PKEY_CTX *ctx = NULL;
  EVP_PKEY *pkey = NULL;
  int rc = b64url_member(jwk, "n", what, &nb, &nl);
  if (rc == 0)
    rc = b64url_member(jwk, "e", what, &eb, &el);
  if (rc != 0)
    goto done;
  if (nl * 8 > JOSE_RSA_MAX_BITS + 8 || el > 32) {
    rc = escrow__err(ESCROW_E_KEY, "%s: the RSA numbers are too large", what);
    goto done;
  }
  n = BN_bin2bn(nb, (int)nl, NULL);
  e = BN_bin2bn(eb, (int)el, NULL);
  if (n == NULL || e == NULL) {
    rc = escrow__err_openssl(ESCROW_E_CRYPTO, "%s: cannot read the RSA numbers", what);
    goto done;
  }
  if (!BN_is_odd(n) || !BN_is_odd(e) || BN_is_one(e) || BN_cmp(e, n) >= 0) {
    rc = escrow__err(ESCROW_E_KEY, "%s: the RSA public key is malformed", what);
    goto done;
  }
  bld = OSSL_PARAM_BLD_new();
  if (bld == NULL || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
      !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
      (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
      (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
      EVP_PKEY_fromdata_init(ctx) <= 0 ||
      EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
    rc = escrow__err_openssl(ESCROW_E_KEY, "%s: cannot make an RSA key", what);
    goto done;
  }
  rc = check_rsa(pkey, what);
  if (rc == 0) {
    *out = pkey;
    pkey = NULL;
  }
done:
  EVP_PKEY_free(pkey);
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  BN_free(n);
  BN_free(e);
  escrow__free(nb);
  escrow__free(eb);
  ERR_clear_error();
  return rc;
}

static char *bn_b64url(const BIGNUM *bn) {
  int l = BN_num_bytes(bn);
  uint8_t *buf = escrow__malloc(l > 0 ? (size_t)l : 1);
  if (buf == NULL) {
    escrow__err_nomem();
    return NULL;
  }
  BN_bn2bin(bn, buf);
  char *s = escrow__b64url(buf, (size_t)l);
  escrow__free(buf);
  return s;
}

int escrow__rsa_ne(const EVP_PKEY *pkey, char **n_out, char **e_out) {
  *n_out = NULL;
  *e_out = NULL;
  BIGNUM *n = NULL, *e = NULL;
  if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) ||
      !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e)) {
    BN_free(n);
    BN_free(e);
    return escrow__err_openssl(ESCROW_E_CRYPTO, "cannot read the RSA key's public numbers");
  }
  *n_out = bn_b64url(n);
  *e_out = bn_b64url(e);
  BN_free(n);
  BN_free(e);
  if (*n_out == NULL || *e_out == NULL) {
    escrow__free(*n_out);
    escrow__free(*e_out);
    *n_out = *e_out = NULL;
    return ESCROW_E_NOMEM;
  }
  return 0;
}

int escrow__rsa_thumbprint(const EVP_PKEY *pkey, char kid[ESCROW_ATTEST_KID_SIZE]) {
  char *n = NULL, *e = NULL;
  int rc = escrow__rsa_ne(pkey, &n, &e);
  if (rc != 0)
    return rc;
  size_t cap = strlen(n) + strlen(e) + 32;
  char *m = escrow__malloc(cap);
  if (m == NULL) {
    rc = escrow__err_nomem();
  } else {
    /* RFC 7638: the required members in lexicographic order, no whitespace. */
    int ml = snprintf(m, cap, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", e, n);
    uint8_t md[32];
    crypto_hash_sha256(md, (const uint8_t *)m, (unsigned long long)ml);
    sodium_bin2base64(kid, ESCROW_ATTEST_KID_SIZE, md, sizeof md,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  }
  escrow__free(m);
  escrow__free(n);
  escrow__free(e);
  return rc;
}

/* ---- JWS --------------------------------------------------------------------------------- */

void escrow__jws_clear(escrow__jws *jws) {
  escrow__json_free(jws->header);
  escrow__json_free(jws->payload);
  escrow__free(jws->sig);
  memset(jws, 0, sizeof *jws);
}

static int decode_json_part(escrow__json **out, const char *s, size_t len, const char *what,
                            const char *part) {
  char label[96];
  snprintf(label, sizeof label, "the %s of %s", part, what);
  uint8_t *raw = NULL;
  size_t rl = 0;
  int rc = escrow__b64url_decode(s, len, false, label, &raw, &rl);
  if (rc != 0)
    return rc;
  rc = escrow__json_parse(out, raw, rl, label);
  escrow__free(raw);
  if (rc == 0 && (*out)->type != ESCROW__J_OBJECT) {
    escrow__json_free(*out);
    *out = NULL;
    rc = escrow__err(ESCROW_E_FORMAT, "%s is not a JSON object", label);
  }
  return rc;
}

int escrow__jws_decode_payload(escrow__jws *jws, const char *what) {
  return decode_json_part(&jws->payload, jws->payload_b64, jws->payload_b64_len, what,
                          "payload");
}

int escrow__jws_parse(escrow__jws *jws, const char *text, size_t len, const char *what,
                      bool defer_payload) {
  memset(jws, 0, sizeof *jws);
  if (len > ESCROW_ATTEST_MAX_INPUT)
    return escrow__err(ESCROW_E_LIMIT, "%s is larger than %u bytes", what,
                       ESCROW_ATTEST_MAX_INPUT);
  const char *d1 = memchr(text, '.', len);
  const char *d2 = d1 != NULL ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - text)) : NULL;
  if (d1 == NULL || d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - text)) != NULL)
    return escrow__err(ESCROW_E_FORMAT, "%s is not a compact JWS (three base64url parts "
                                        "separated by '.')",
                       what);
  if (d1 == text || d2 == d1 + 1)
    return escrow__err(ESCROW_E_FORMAT, "%s has an empty header or payload", what);
  if (d2 + 1 == text + len)
    return escrow__err(ESCROW_E_UNSUPPORTED, "%s has no signature: unsigned JWS (alg none) "
                                             "are not accepted",
                       what);
  int rc = decode_json_part(&jws->header, text, (size_t)(d1 - text), what, "header");
  if (rc != 0)
    goto fail;
  const escrow__json *alg = escrow__json_get(jws->header, "alg");
  if (alg == NULL || alg->type != ESCROW__J_STRING) {
    rc = escrow__err(ESCROW_E_FORMAT, "%s: the header has no 'alg'", what);
    goto fail;
  }
  if (strcmp(alg->s, "RS256") != 0) {
    rc = escrow__err(ESCROW_E_UNSUPPORTED, "%s: alg '%.32s' is not accepted (only RS256)", what,
                     alg->s);
    goto fail;
  }
  if (escrow__json_get(jws->header, "crit") != NULL) {
    rc = escrow__err(ESCROW_E_UNSUPPORTED, "%s: the header has 'crit' extensions, which are "
                                           "not understood",
                     what);
    goto fail;
  }
  const escrow__json *typ = escrow__json_get(jws->header, "typ");
  if (typ != NULL && (typ->type != ESCROW__J_STRING ||
                      (strcasecmp(typ->s, "JWT") != 0 && strcasecmp(typ->s, "JOSE") != 0))) {
    rc = escrow__err(ESCROW_E_FORMAT, "%s: typ must be JWT", what);
    goto fail;
  }
  jws->payload_b64 = d1 + 1;
  jws->payload_b64_len = (size_t)(d2 - d1 - 1);
  if (!defer_payload) {
    rc = escrow__jws_decode_payload(jws, what);
    if (rc != 0)
      goto fail;
  }
  char label[96];
  snprintf(label, sizeof label, "the signature of %s", what);
  rc = escrow__b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - text), false, label, &jws->sig,
                             &jws->sig_len);
  if (rc != 0)
    goto fail;
  jws->signing_input = text;
  jws->signing_input_len = (size_t)(d2 - text);
  return 0;
fail:
  escrow__jws_clear(jws);
  return rc;
}

int escrow__jws_verify(const escrow__jws *jws, EVP_PKEY *key, const char *what) {
  int rc = check_rsa(key, "the verification key");
  if (rc != 0)
    return rc;
  const escrow__algs *algs = escrow__get_algs();
  if (algs == NULL)
    return escrow_error_last_code();
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (ctx == NULL)
    return escrow__err_openssl(ESCROW_E_CRYPTO, "cannot set up RS256");
  EVP_PKEY_CTX *pctx = NULL;
  int ok = EVP_DigestVerifyInit(ctx, &pctx, algs->sha256, NULL, key) > 0 &&
           EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0;
  if (!ok) {
    EVP_MD_CTX_free(ctx);
    return escrow__err_openssl(ESCROW_E_CRYPTO, "cannot set up RS256");
  }
  ok = EVP_DigestVerify(ctx, jws->sig, jws->sig_len, (const uint8_t *)jws->signing_input,
                        jws->signing_input_len) == 1;
  EVP_MD_CTX_free(ctx);
  ERR_clear_error();
  if (!ok)
    return escrow__err(ESCROW_E_AUTH, "the signature of %s does not verify", what);
  return 0;
}

int escrow__jws_sign(char **out, size_t *out_len, EVP_PKEY *key, const escrow__json *header,
                     const escrow__json *payload) {
  *out = NULL;
  char *hj = NULL, *pj = NULL, *h64 = NULL, *p64 = NULL, *s64 = NULL, *res = NULL;
  uint8_t *sig = NULL;
  EVP_MD_CTX *ctx = NULL;
  size_t hl = 0, pl = 0;
  int rc = escrow__json_canonical(header, &hj, &hl);
  if (rc == 0)
    rc = escrow__json_canonical(payload, &pj, &pl);
  if (rc != 0)
    goto done;
  h64 = escrow__b64url((const uint8_t *)hj, hl);
  p64 = escrow__b64url((const uint8_t *)pj, pl);
  if (h64 == NULL || p64 == NULL) {
    rc = ESCROW_E_NOMEM;
    goto done;
  }
  size_t hl64 = strlen(h64), pl64 = strlen(p64);
  size_t sig_len = (size_t)EVP_PKEY_get_size(key);
  sig = escrow__malloc(sig_len);
  /* header.payload.signature: the signature is at most 4/3 of sig_len + 4. */
  size_t cap = hl64 + pl64 + sig_len * 4 / 3 + 8;
  res = escrow__malloc(cap);
  if (sig == NULL || res == NULL) {
    rc = escrow__err_nomem();
    goto done;
  }
  memcpy(res, h64, hl64);
  res[hl64] = '.';
  memcpy(res + hl64 + 1, p64, pl64);
  size_t in_len = hl64 + 1 + pl64;
  const escrow__algs *algs = escrow__get_algs();
  if (algs == NULL) {
    rc = escrow_error_last_code();
    goto done;
  }
  ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX *pctx = NULL;
  if (ctx == NULL || EVP_DigestSignInit(ctx, &pctx, algs->sha256, NULL, key) <= 0 ||
      EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0 ||
      EVP_DigestSign(ctx, sig, &sig_len, (const uint8_t *)res, in_len) <= 0) {
    rc = escrow__err_openssl(ESCROW_E_CRYPTO, "cannot sign with RS256");
    goto done;
  }
  s64 = escrow__b64url(sig, sig_len);
  if (s64 == NULL) {
    rc = ESCROW_E_NOMEM;
    goto done;
  }
  size_t sl = strlen(s64);
  if (in_len + 1 + sl + 1 > cap) {
    rc = escrow__err(ESCROW_E_CRYPTO, "the RS256 signature is longer than the key");
    goto done;
  }
  res[in_len] = '.';
  memcpy(res + in_len + 1, s64, sl + 1);
  *out = res;
  if (out_len != NULL)
    *out_len = in_len + 1 + sl;
  res = NULL;
done:
  EVP_MD_CTX_free(ctx);
  escrow__free(hj);
  escrow__free(pj);
  escrow__free(h64);
  escrow__free(p64);
  escrow__free(s64);
  escrow__free(sig);
  escrow__free(res);
  return rc;
}

/* ---- JWKS -------------------------------------------------------------------------------- */

void escrow__jwks_clear(escrow__jwks *k) {
  for (size_t i = 0; i < k->n; i++) {
    escrow__free(k->keys[i].kid);
    EVP_PKEY_free(k->keys[i].pkey);
  }
  escrow__free(k->keys);
  k->keys = NULL;
  k->n = 0;
}

EVP_PKEY *escrow__jwks_find(const escrow__jwks *k, const char *kid) {
  for (size_t i = 0; i < k->n; i++)
    if (strcmp(k->keys[i].kid, kid) == 0)
      return k->keys[i].pkey;
  return NULL;
}

/* The key of the first certificate of an x5c array (standard base64 DER). */
static int key_from_x5c(EVP_PKEY **out, const escrow__json *x5c, const char *what) {
  *out = NULL;
  if (x5c->type != ESCROW__J_ARRAY || x5c->n == 0 || x5c->items[0]->type != ESCROW__J_STRING)
    return escrow__err(ESCROW_E_KEY, "%s: x5c is not an array of certificates", what);
  const escrow__json *c = x5c->items[0];
  size_t cap = c->len / 4 * 3 + 3;
  uint8_t *der = escrow__malloc(cap);
  if (der == NULL)
    return escrow__err_nomem();
  size_t got = 0;
  const char *end = NULL;
  int rc = 0;
  if (sodium_base642bin(der, cap, c->s, c->len, NULL, &got, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != c->s + c->len) {
    rc = escrow__err(ESCROW_E_KEY, "%s: x5c[0] is not valid base64", what);
  } else {
    const unsigned char *p = der;
    X509 *cert = d2i_X509(NULL, &p, (long)got);
    if (cert == NULL || p != der + got) {
      rc = escrow__err_openssl(ESCROW_E_KEY, "%s: x5c[0] is not an X.509 certificate", what);
    } else {
      *out = X509_get_pubkey(cert);
      if (*out == NULL)
        rc = escrow__err_openssl(ESCROW_E_KEY, "%s: cannot read x5c[0]'s key", what);
      else if ((rc = check_rsa(*out, what)) != 0) {
        EVP_PKEY_free(*out);
        *out = NULL;
      }
    }
    X509_free(cert);
  }
  escrow__free(der);
  ERR_clear_error();
  return rc;
}

int escrow__jwks_parse(escrow__jwks *out, const uint8_t *text, size_t len) {
  memset(out, 0, sizeof *out);
  escrow__json *j = NULL;
  int rc = escrow__json_parse(&j, text, len, "the JWKS");
  if (rc != 0)
    return rc;
  const escrow__json *keys = escrow__json_get(j, "keys");
  if (keys == NULL || keys->type != ESCROW__J_ARRAY) {
    rc = escrow__err(ESCROW_E_FORMAT, "the JWKS has no 'keys' array");
    goto done;
  }
  if (keys->n > JWKS_MAX_KEYS) {
    rc = escrow__err(ESCROW_E_LIMIT, "the JWKS has more than %d keys", JWKS_MAX_KEYS);
    goto done;
  }
  out->keys = escrow__calloc(keys->n > 0 ? keys->n : 1, sizeof *out->keys);
  if (out->keys == NULL) {
    rc = escrow__err_nomem();
    goto done;
  }
  for (size_t i = 0; i < keys->n; i++) {
    const escrow__json *k = keys->items[i];
    const char *kty = escrow__json_get_str(k, "kty");
    const char *use = escrow__json_get_str(k, "use");
    const char *kid = escrow__json_get_str(k, "kid");
    if (kty == NULL || strcmp(kty, "RSA") != 0 || (use != NULL && strcmp(use, "sig") != 0) ||
        kid == NULL || *kid == '\0')
      continue;
    if (escrow__jwks_find(out, kid) != NULL) {
      rc = escrow__err(ESCROW_E_FORMAT, "the JWKS has two keys with kid '%.64s'", kid);
      goto done;
    }
    char what[128];
    snprintf(what, sizeof what, "JWKS key '%.64s'", kid);
    EVP_PKEY *pkey = NULL;
    const escrow__json *x5c = escrow__json_get(k, "x5c");
    if (escrow__json_get(k, "n") == NULL && x5c != NULL)
      rc = key_from_x5c(&pkey, x5c, what);
    else
      rc = escrow__rsa_from_jwk(&pkey, k, what);
    if (rc != 0)
      goto done;
    char *kd = escrow__strdup(kid);
    if (kd == NULL) {
      EVP_PKEY_free(pkey);
      rc = escrow__err_nomem();
      goto done;
    }
    out->keys[out->n].kid = kd;
    out->keys[out->n].pkey = pkey;
    out->n++;
  }
  if (out->n == 0)
    rc = escrow__err(ESCROW_E_KEY, "the JWKS has no RSA signing key with a kid");
done:
  escrow__json_free(j);
  if (rc != 0)
    escrow__jwks_clear(out);
  return rc;
}

/* ---- private keys from bytes -------------------------------------------------------------- */

static int no_passphrase(char *buf, int size, int rwflag, void *u) {
  ESCROW__UNUSED(buf);
  ESCROW__UNUSED(size);
  ESCROW__UNUSED(rwflag);
  *(int *)u = 1;
  return -1;
}

static int private_from_bytes(EVP_PKEY **out, const uint8_t *data, size_t len, const char *what) {
  *out = NULL;
  if (data == NULL || len == 0)
    return escrow__err(ESCROW_E_INVALID, "%s is empty", what);
  if (len > 64 * 1024)
    return escrow__err(ESCROW_E_KEY, "%s is larger than 64 KiB", what);
  int asked = 0;
  EVP_PKEY *pkey = NULL;
  if (len > 10 && memcmp(data, "-----BEGIN", 10) == 0) {
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    if (bio == NULL)
      return escrow__err_openssl(ESCROW_E_NOMEM, "cannot read %s", what);
    pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, &asked);
    BIO_free(bio);
  } else {
    const unsigned char *p = data;
    pkey = d2i_AutoPrivateKey(NULL, &p, (long)len);
    if (pkey != NULL && p != data + len) {
      EVP_PKEY_free(pkey);
      pkey = NULL;
    }
  }
  if (pkey == NULL) {
    ERR_clear_error();
    if (asked)
      return escrow__err(ESCROW_E_KEY, "%s is encrypted; an unencrypted PKCS#8 key is needed",
                         what);
    return escrow__err(ESCROW_E_KEY, "%s is not an unencrypted private key (PKCS#8 or PKCS#1, "
                                     "PEM or DER)",
                       what);
  }
  *out = pkey;
  return 0;
}

/* ---- signers ------------------------------------------------------------------------------ */

struct escrow_attest_signer {
  EVP_PKEY *pkey;
  char kid[SIGNER_KID_MAX + 1];
};

EVP_PKEY *escrow__signer_pkey(const escrow_attest_signer *s) { return s->pkey; }

static int signer_adopt(escrow_attest_signer **out, EVP_PKEY *pkey, const char *kid) {
  int rc = check_rsa(pkey, "the signing key");
  escrow_attest_signer *s = NULL;
  if (rc == 0 && (s = escrow__calloc(1, sizeof *s)) == NULL)
    rc = escrow__err_nomem();
  if (rc == 0) {
    if (kid != NULL) {
      memcpy(s->kid, kid, strlen(kid) + 1);
    } else {
      rc = escrow__rsa_thumbprint(pkey, s->kid);
    }
  }
  if (rc != 0) {
    EVP_PKEY_free(pkey);
    escrow__free(s);
    return rc;
  }
  s->pkey = pkey;
  *out = s;
  return 0;
}

static int check_kid(const char *kid) {
  if (kid == NULL)
    return 0;
  size_t l = strlen(kid);
  if (l == 0 || l > SIGNER_KID_MAX)
    return escrow__err(ESCROW_E_INVALID, "a kid has 1 to %d characters", SIGNER_KID_MAX);
  for (size_t i = 0; i < l; i++)
    if (kid[i] < 0x21 || kid[i] > 0x7e)
      return escrow__err(ESCROW_E_INVALID, "a kid is printable ASCII without spaces");
  return 0;
}

static EVP_PKEY *rsa_generate(unsigned bits) {
  EVP_PKEY *pkey = NULL;
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
  if (ctx == NULL || EVP_PKEY_keygen_init(ctx) <= 0 ||
      EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, (int)bits) <= 0 || EVP_PKEY_generate(ctx, &pkey) <= 0) {
    EVP_PKEY_free(pkey);
    pkey = NULL;
  }
  EVP_PKEY_CTX_free(ctx);
  return pkey;
}

int escrow_attest_signer_generate(escrow_attest_signer **out, unsigned bits, const char *kid) {
  if (out == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_signer_generate: out is NULL");
  *out = NULL;
  if (bits == 0)
    bits = 3072;
  if (bits < JOSE_RSA_MIN_BITS || bits > JOSE_RSA_MAX_BITS)
    return escrow__err(ESCROW_E_INVALID, "a signing key has %d to %d bits (%u requested)",
                       JOSE_RSA_MIN_BITS, JOSE_RSA_MAX_BITS, bits);
  int rc = check_kid(kid);
  if (rc != 0)
    return rc;
  if (escrow_init() != 0)
    return escrow_error_last_code();
  EVP_PKEY *pkey = rsa_generate(bits);
  if (pkey == NULL)
    return escrow__err_openssl(ESCROW_E_CRYPTO, "cannot generate an RSA-%u key", bits);
  return signer_adopt(out, pkey, kid);
}

int escrow_attest_signer_from_bytes(escrow_attest_signer **out, const uint8_t *data, size_t len,
                                    const char *kid) {
  if (out == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_signer_from_bytes: out is NULL");
  *out = NULL;
  int rc = check_kid(kid);
  if (rc != 0)
    return rc;
  if (escrow_init() != 0)
    return escrow_error_last_code();
  EVP_PKEY *pkey = NULL;
  rc = private_from_bytes(&pkey, data, len, "the signing key");
  if (rc != 0)
    return rc;
  return signer_adopt(out, pkey, kid);
}

static int encode_key(EVP_PKEY *pkey, int selection, const char *structure, bool secret,
                      uint8_t **out, size_t *out_len) {
  *out = NULL;
  if (out_len != NULL)
    *out_len = 0;
  int rc = 0;
  OSSL_ENCODER_CTX *ectx = OSSL_ENCODER_CTX_new_for_pkey(pkey, selection, "PEM", structure, NULL);
  BIO *bio = BIO_new(secret ? BIO_s_secmem() : BIO_s_mem());
  BUF_MEM *bm = NULL;
  if (ectx == NULL || OSSL_ENCODER_CTX_get_num_encoders(ectx) == 0 || bio == NULL ||
      !OSSL_ENCODER_to_bio(ectx, bio) || BIO_get_mem_ptr(bio, &bm) <= 0 || bm == NULL ||
      bm->length == 0) {
    rc = escrow__err_openssl(ESCROW_E_CRYPTO, "cannot encode the key as PEM");
    goto done;
  }
  uint8_t *buf = secret ? escrow__secure_malloc(bm->length + 1) : escrow__malloc(bm->length + 1);
  if (buf == NULL) {
    rc = escrow__err_nomem();
    goto done;
  }
  memcpy(buf, bm->data, bm->length);
  buf[bm->length] = '\0';
  *out = buf;
  if (out_len != NULL)
    *out_len = bm->length;
done:
  if (secret && bm != NULL && bm->data != NULL)
    OPENSSL_cleanse(bm->data, bm->max);
  BIO_free(bio);
  OSSL_ENCODER_CTX_free(ectx);
  return rc;
}

int escrow_attest_signer_export(const escrow_attest_signer *s, uint8_t **out, size_t *out_len) {
  if (s == NULL || out == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_signer_export: %s is NULL",
                       s == NULL ? "s" : "out");
  return encode_key(s->pkey, EVP_PKEY_KEYPAIR, "PrivateKeyInfo", true, out, out_len);
}

int escrow_attest_signer_public_pem(const escrow_attest_signer *s, uint8_t **out,
                                    size_t *out_len) {
  if (s == NULL || out == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_signer_public_pem: %s is NULL",
                       s == NULL ? "s" : "out");
  return encode_key(s->pkey, EVP_PKEY_PUBLIC_KEY, "SubjectPublicKeyInfo", false, out, out_len);
}

int escrow_attest_signer_jwks(const escrow_attest_signer *s, char **out, size_t *out_len) {
  if (out != NULL)
    *out = NULL;
  if (s == NULL || out == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_signer_jwks: %s is NULL",
                       s == NULL ? "s" : "out");
  char *n = NULL, *e = NULL;
  int rc = escrow__rsa_ne(s->pkey, &n, &e);
  if (rc != 0)
    return rc;
  escrow__json *root = escrow__json_new(ESCROW__J_OBJECT);
  escrow__json *keys = escrow__json_new(ESCROW__J_ARRAY);
  escrow__json *k = escrow__json_new(ESCROW__J_OBJECT);
  if (root == NULL || keys == NULL || k == NULL) {
    rc = ESCROW_E_NOMEM;
    escrow__json_free(keys);
    escrow__json_free(k);
    goto done;
  }
  rc = escrow__json_set(k, "alg", escrow__json_str("RS256"));
  if (rc == 0)
    rc = escrow__json_set(k, "e", escrow__json_str(e));
  if (rc == 0)
    rc = escrow__json_set(k, "kid", escrow__json_str(s->kid));
  if (rc == 0)
    rc = escrow__json_set(k, "kty", escrow__json_str("RSA"));
  if (rc == 0)
    rc = escrow__json_set(k, "n", escrow__json_str(n));
  if (rc == 0)
    rc = escrow__json_set(k, "use", escrow__json_str("sig"));
  if (rc != 0) {
    escrow__json_free(keys);
    escrow__json_free(k);
    goto done;
  }
  rc = escrow__json_push(keys, k);
  if (rc != 0) {
    escrow__json_free(keys);
    goto done;
  }
  rc = escrow__json_set(root, "keys", keys);
  if (rc == 0)
    rc = escrow__json_canonical(root, out, out_len);
done:
  escrow__json_free(root);
  escrow__free(n);
  escrow__free(e);
  return rc;
}

const char *escrow_attest_signer_kid(const escrow_attest_signer *s) {
  return s == NULL ? NULL : s->kid;
}

void escrow_attest_signer_free(escrow_attest_signer *s) {
  if (s == NULL)
    return;
  EVP_PKEY_free(s->pkey);
  escrow__free(s);
}

/* ---- the enclave's ephemeral key ----------------------------------------------------------- */

struct escrow_attest_key {
  EVP_PKEY *pkey;
  char kid[ESCROW_ATTEST_KID_SIZE];
};

EVP_PKEY *escrow__attest_key_pkey(const escrow_attest_key *k) { return k->pkey; }

static int key_adopt(escrow_attest_key **out, EVP_PKEY *pkey) {
  int rc = 0;
  int bits = EVP_PKEY_is_a(pkey, "RSA") ? EVP_PKEY_get_bits(pkey) : 0;
  if (bits < ESCROW_ATTEST_KEY_MIN_BITS || bits > ESCROW_ATTEST_KEY_MAX_BITS)
    rc = escrow__err(ESCROW_E_KEY, "an ephemeral key is RSA of %d to %d bits",
                     ESCROW_ATTEST_KEY_MIN_BITS, ESCROW_ATTEST_KEY_MAX_BITS);
  escrow_attest_key *k = NULL;
  if (rc == 0 && (k = escrow__calloc(1, sizeof *k)) == NULL)
    rc = escrow__err_nomem();
  if (rc == 0)
    rc = escrow__rsa_thumbprint(pkey, k->kid);
  if (rc != 0) {
    EVP_PKEY_free(pkey);
    escrow__free(k);
    return rc;
  }
  k->pkey = pkey;
  *out = k;
  return 0;
}

int escrow_attest_key_generate(escrow_attest_key **out, unsigned bits) {
  if (out == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_key_generate: out is NULL");
  *out = NULL;
  if (bits == 0)
    bits = ESCROW_ATTEST_KEY_DEFAULT_BITS;
  if (bits < ESCROW_ATTEST_KEY_MIN_BITS || bits > ESCROW_ATTEST_KEY_MAX_BITS)
    return escrow__err(ESCROW_E_INVALID, "an ephemeral key has %d to %d bits (%u requested)",
                       ESCROW_ATTEST_KEY_MIN_BITS, ESCROW_ATTEST_KEY_MAX_BITS, bits);
  if (escrow_init() != 0)
    return escrow_error_last_code();
  EVP_PKEY *pkey = rsa_generate(bits);
  if (pkey == NULL)
    return escrow__err_openssl(ESCROW_E_CRYPTO, "cannot generate an RSA-%u key", bits);
  return key_adopt(out, pkey);
}

int escrow_attest_key_from_bytes(escrow_attest_key **out, const uint8_t *data, size_t len) {
  if (out == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_key_from_bytes: out is NULL");
  *out = NULL;
  if (escrow_init() != 0)
    return escrow_error_last_code();
  EVP_PKEY *pkey = NULL;
  int rc = private_from_bytes(&pkey, data, len, "the ephemeral key");
  if (rc != 0)
    return rc;
  return key_adopt(out, pkey);
}

int escrow_attest_key_kid(const escrow_attest_key *key, char *buf, size_t size) {
  if (key == NULL || buf == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_key_kid: %s is NULL",
                       key == NULL ? "key" : "buf");
  if (size < ESCROW_ATTEST_KID_SIZE)
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_key_kid: the buffer needs %d bytes",
                       ESCROW_ATTEST_KID_SIZE);
  memcpy(buf, key->kid, ESCROW_ATTEST_KID_SIZE);
  return 0;
}

escrow__json *escrow__attest_key_jwk_tree(const escrow_attest_key *key) {
  char *n = NULL, *e = NULL;
  if (escrow__rsa_ne(key->pkey, &n, &e) != 0)
    return NULL;
  escrow__json *k = escrow__json_new(ESCROW__J_OBJECT);
  escrow__json *ops = escrow__json_new(ESCROW__J_ARRAY);
  int rc = k == NULL || ops == NULL ? ESCROW_E_NOMEM : 0;
  if (rc == 0)
    rc = escrow__json_push(ops, escrow__json_str("encrypt"));
  if (rc == 0) {
    rc = escrow__json_set(k, "key_ops", ops); /* takes ops, even on failure */
    ops = NULL;
  }
  escrow__json_free(ops);
  if (rc == 0)
    rc = escrow__json_set(k, "e", escrow__json_str(e));
  if (rc == 0)
    rc = escrow__json_set(k, "kid", escrow__json_str(key->kid));
  if (rc == 0)
    rc = escrow__json_set(k, "kty", escrow__json_str("RSA"));
  if (rc == 0)
    rc = escrow__json_set(k, "n", escrow__json_str(n));
  escrow__free(n);
  escrow__free(e);
  if (rc != 0) {
    escrow__json_free(k);
    return NULL;
  }
  return k;
}

int escrow_attest_key_jwk(const escrow_attest_key *key, char **out, size_t *out_len) {
  if (out != NULL)
    *out = NULL;
  if (key == NULL || out == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_key_jwk: %s is NULL",
                       key == NULL ? "key" : "out");
  escrow__json *k = escrow__attest_key_jwk_tree(key);
  if (k == NULL)
    return escrow_error_last_code() != 0 ? escrow_error_last_code() : ESCROW_E_NOMEM;
  int rc = escrow__json_canonical(k, out, out_len);
  escrow__json_free(k);
  return rc;
}

void escrow_attest_key_free(escrow_attest_key *key) {
  if (key == NULL)
    return;
  EVP_PKEY_free(key->pkey);
  escrow__free(key);
}

/* ---- AES key wrap with padding ------------------------------------------------------------ */

static const EVP_CIPHER *kwp_cipher(size_t key_len) {
  switch (key_len) {
  case 16:
    return EVP_aes_128_wrap_pad();
  case 24:
    return EVP_aes_192_wrap_pad();
  case 32:
    return EVP_aes_256_wrap_pad();
  default:
    return NULL;
  }
}

static int kwp_run(const uint8_t *key, size_t key_len, const uint8_t *in, size_t len, bool enc,
                   uint8_t *out, size_t *out_len) {
  const EVP_CIPHER *c = kwp_cipher(key_len);
  if (c == NULL)
    return escrow__err(ESCROW_E_INVALID, "AES key wrap needs a 16, 24 or 32-byte key");
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (ctx == NULL)
    return escrow__err_openssl(ESCROW_E_CRYPTO, "cannot set up AES key wrap");
  EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
  int l1 = 0, l2 = 0;
  int ok = EVP_CipherInit_ex(ctx, c, NULL, key, NULL, enc ? 1 : 0) > 0 &&
           EVP_CipherUpdate(ctx, out, &l1, in, (int)len) > 0 &&
           EVP_CipherFinal_ex(ctx, out + l1, &l2) > 0;
  EVP_CIPHER_CTX_free(ctx);
  if (!ok) {
    ERR_clear_error();
    return enc ? escrow__err(ESCROW_E_CRYPTO, "AES key wrap failed")
               : escrow__err(ESCROW_E_AUTH, "the AES-wrapped key does not unwrap: wrong key or "
                                            "altered ciphertext");
  }
  *out_len = (size_t)l1 + (size_t)l2;
  return 0;
}

int escrow__kwp_wrap(const uint8_t *key, size_t key_len, const uint8_t *in, size_t len,
                     uint8_t **out, size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  if (len == 0 || len > 65536)
    return escrow__err(ESCROW_E_INVALID, "AES key wrap takes 1 to 65536 bytes");
  size_t cap = (len + 7) / 8 * 8 + 8;
  uint8_t *buf = escrow__malloc(cap);
  if (buf == NULL)
    return escrow__err_nomem();
  size_t ol = 0;
  int rc = kwp_run(key, key_len, in, len, true, buf, &ol);
  if (rc == 0 && ol != cap)
    rc = escrow__err(ESCROW_E_CRYPTO, "AES key wrap produced %zu bytes, not %zu", ol, cap);
  if (rc != 0) {
    escrow__free(buf);
    return rc;
  }
  *out = buf;
  *out_len = ol;
  return 0;
}

int escrow__kwp_unwrap(const uint8_t *key, size_t key_len, const uint8_t *in, size_t len,
                       uint8_t **out, size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  if (len < 16 || len % 8 != 0 || len > 65536 + 16)
    return escrow__err(ESCROW_E_AUTH, "the AES-wrapped key does not unwrap: its length (%zu) "
                                      "is not a multiple of 8 of at least 16",
                       len);
  uint8_t *buf = escrow__secure_malloc(len);
  if (buf == NULL)
    return escrow__err_nomem();
  size_t ol = 0;
  int rc = kwp_run(key, key_len, in, len, false, buf, &ol);
  if (rc != 0) {
    escrow__secure_free(buf);
    return rc;
  }
  *out = buf;
  *out_len = ol;
  return 0;
}
