/* escrowd: JWT parsing and RS256 verification (see jwt.h). */
#include "jwt.h"
#include "form.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/rsa.h>
#include <yajl/yajl_tree.h>

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t errsz, const char *fmt, ...) {
  if (err && errsz) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
  }
  return -1;
}

static int b64url_val(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

unsigned char *srv_b64url_decode(const char *in, size_t len, size_t *out_len) {
  if (len % 4 == 1) return NULL;
  unsigned char *out = malloc(len * 3 / 4 + 2);
  if (!out) return NULL;
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < len; i++) {
    int v = b64url_val((unsigned char)in[i]);
    if (v < 0) {
      free(out);
      return NULL;
    }
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (unsigned char)(acc >> bits);
    }
  }
  /* canonical: the unused low bits must be zero */
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
    free(out);
    return NULL;
  }
  out[o] = 0;
  *out_len = o;
  return out;
}

/* Parse a JSON object; refuse duplicate member names. */
static yajl_val parse_object(const unsigned char *text, size_t len, const char *what, char *err,
                             size_t errsz) {
  if (memchr(text, 0, len)) {
    fail(err, errsz, "the token's %s holds a NUL byte", what);
    return NULL;
  }
  if (!srv_json_depth_ok((const char *)text, len, SRV_JSON_MAX_DEPTH)) {
    fail(err, errsz, "the token's %s is nested too deep", what);
    return NULL;
  }
  char ebuf[128];
  yajl_val v = yajl_tree_parse((const char *)text, ebuf, sizeof ebuf);
  if (!v || !YAJL_IS_OBJECT(v)) {
    if (v) yajl_tree_free(v);
    fail(err, errsz, "the token's %s is not a JSON object", what);
    return NULL;
  }
  size_t n = v->u.object.len;
  for (size_t i = 0; i < n; i++)
    for (size_t j = i + 1; j < n; j++)
      if (strcmp(v->u.object.keys[i], v->u.object.keys[j]) == 0) {
        fail(err, errsz, "the token's %s repeats the member \"%s\"", what, "(name)");
        yajl_tree_free(v);
        return NULL;
      }
  return v;
}

static yajl_val member(yajl_val obj, const char *name) {
  for (size_t i = 0; i < obj->u.object.len; i++)
    if (strcmp(obj->u.object.keys[i], name) == 0) return obj->u.object.values[i];
  return NULL;
}

static int get_string(yajl_val obj, const char *name, char **out, char *err, size_t errsz) {
  yajl_val v = member(obj, name);
  if (!v) return 0;
  if (!YAJL_IS_STRING(v)) return fail(err, errsz, "the claim \"%s\" is not a string", name);
  *out = strdup(v->u.string);
  if (!*out) return fail(err, errsz, "out of memory");
  return 0;
}

static int get_time(yajl_val obj, const char *name, int64_t *out, int *has, char *err,
                    size_t errsz) {
  yajl_val v = member(obj, name);
  if (!v) return 0;
  if (YAJL_IS_INTEGER(v)) {
    *out = (int64_t)v->u.number.i;
  } else if (YAJL_IS_DOUBLE(v)) {
    double d = v->u.number.d;
    if (!(d > -1e15 && d < 1e15)) return fail(err, errsz, "the claim \"%s\" is out of range", name);
    *out = (int64_t)d;
  } else {
    return fail(err, errsz, "the claim \"%s\" is not a number", name);
  }
  *has = 1;
  return 0;
}

int srv_jwt_parse(srv_jwt **out, const char *token, size_t len, char *err, size_t errsz) {
  *out = NULL;
  if (len == 0) return fail(err, errsz, "the token is empty");
  if (len > SRV_JWT_MAX_TOKEN) return fail(err, errsz, "the token is too long");
  const char *d1 = memchr(token, '.', len);
  if (!d1) return fail(err, errsz, "the token is not a compact JWS (three parts)");
  const char *d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token));
  if (!d2) return fail(err, errsz, "the token is not a compact JWS (three parts)");
  if (memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
    return fail(err, errsz, "the token has more than three parts (JWE is not accepted)");
  size_t hlen = (size_t)(d1 - token), plen = (size_t)(d2 - d1 - 1),
         slen = len - (size_t)(d2 + 1 - token);
  if (hlen == 0 || plen == 0) return fail(err, errsz, "the token has an empty part");

  srv_jwt *j = calloc(1, sizeof *j);
  if (!j) return fail(err, errsz, "out of memory");
  unsigned char *hdr = NULL, *pay = NULL;
  yajl_val h = NULL, p = NULL;
  size_t n;
  int rc = -1;

  if (!(hdr = srv_b64url_decode(token, hlen, &n))) {
    fail(err, errsz, "the token's header is not base64url");
    goto out;
  }
  if (!(h = parse_object(hdr, n, "header", err, errsz))) goto out;
  yajl_val alg = member(h, "alg");
  if (!alg || !YAJL_IS_STRING(alg)) {
    fail(err, errsz, "the token names no algorithm");
    goto out;
  }
  if (strcmp(alg->u.string, "RS256") != 0) {
    fail(err, errsz, "the token's algorithm is not accepted (only RS256)");
    goto out;
  }
  if (member(h, "crit")) {
    fail(err, errsz, "the token has critical header parameters this server does not know");
    goto out;
  }
  yajl_val typ = member(h, "typ");
  if (typ && (!YAJL_IS_STRING(typ) || strcasecmp(typ->u.string, "JWT") != 0)) {
    fail(err, errsz, "the token's type is not JWT");
    goto out;
  }

  if (slen == 0) {
    fail(err, errsz, "the token is unsigned");
    goto out;
  }
  if (!(pay = srv_b64url_decode(d1 + 1, plen, &n))) {
    fail(err, errsz, "the token's payload is not base64url");
    goto out;
  }
  if (!(p = parse_object(pay, n, "payload", err, errsz))) goto out;
  if (get_string(p, "iss", &j->iss, err, errsz) || get_string(p, "sub", &j->sub, err, errsz) ||
      get_string(p, "user", &j->user, err, errsz) ||
      get_time(p, "exp", &j->exp, &j->has_exp, err, errsz) ||
      get_time(p, "nbf", &j->nbf, &j->has_nbf, err, errsz) ||
      get_time(p, "iat", &j->iat, &j->has_iat, err, errsz))
    goto out;
  yajl_val aud = member(p, "aud");
  if (aud) {
    if (YAJL_IS_STRING(aud)) {
      if (!(j->aud[j->naud++] = strdup(aud->u.string))) {
        fail(err, errsz, "out of memory");
        goto out;
      }
    } else if (YAJL_IS_ARRAY(aud)) {
      if (aud->u.array.len > SRV_JWT_MAX_AUD) {
        fail(err, errsz, "the token names too many audiences");
        goto out;
      }
      for (size_t i = 0; i < aud->u.array.len; i++) {
        yajl_val a = aud->u.array.values[i];
        if (!YAJL_IS_STRING(a)) {
          fail(err, errsz, "the claim \"aud\" holds a non-string");
          goto out;
        }
        if (!(j->aud[j->naud++] = strdup(a->u.string))) {
          fail(err, errsz, "out of memory");
          goto out;
        }
      }
    } else {
      fail(err, errsz, "the claim \"aud\" is neither a string nor an array");
      goto out;
    }
  }
  if (!(j->sig = srv_b64url_decode(d2 + 1, slen, &j->sig_len))) {
    fail(err, errsz, "the token's signature is not base64url");
    goto out;
  }
  j->signing_len = (size_t)(d2 - token);
  if (!(j->signing_input = malloc(j->signing_len + 1))) {
    fail(err, errsz, "out of memory");
    goto out;
  }
  memcpy(j->signing_input, token, j->signing_len);
  j->signing_input[j->signing_len] = 0;
  rc = 0;
out:
  free(hdr);
  free(pay);
  if (h) yajl_tree_free(h);
  if (p) yajl_tree_free(p);
  if (rc == 0)
    *out = j;
  else
    srv_jwt_free(j);
  return rc;
}

int srv_jwt_verify_rs256(const srv_jwt *jwt, EVP_PKEY *key, char *err, size_t errsz) {
  if (!jwt || !key) return fail(err, errsz, "no key");
  if (!EVP_PKEY_is_a(key, "RSA")) return fail(err, errsz, "the registered key is not RSA");
  if (EVP_PKEY_get_bits(key) < 2048)
    return fail(err, errsz, "the registered key is shorter than 2048 bits");
  if (jwt->sig_len != (size_t)EVP_PKEY_get_size(key))
    return fail(err, errsz, "the token's signature does not verify");
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx) return fail(err, errsz, "out of memory");
  EVP_PKEY_CTX *pctx = NULL;
  int ok = EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), NULL, key) == 1 &&
           EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1 &&
           EVP_DigestVerify(ctx, jwt->sig, jwt->sig_len, (const unsigned char *)jwt->signing_input,
                            jwt->signing_len) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return fail(err, errsz, "the token's signature does not verify");
  return 0;
}

int srv_jwt_check_claims(const srv_jwt *jwt, int64_t now, int64_t skew, int64_t max_lifetime,
                         const char *iss, const char *const *auds, size_t nauds, char *err,
                         size_t errsz) {
  if (!jwt->iss || strcmp(jwt->iss, iss) != 0)
    return fail(err, errsz, "the token's issuer is not \"%s\"", iss);
  if (!jwt->has_exp) return fail(err, errsz, "the token has no expiry (exp)");
  if (now - skew >= jwt->exp) return fail(err, errsz, "the token has expired");
  if (jwt->exp > now + max_lifetime + skew)
    return fail(err, errsz, "the token lives too long (exp at most %lld seconds ahead)",
                (long long)max_lifetime);
  if (jwt->has_nbf && jwt->nbf > now + skew) return fail(err, errsz, "the token is not valid yet");
  if (jwt->has_iat && jwt->iat > now + skew)
    return fail(err, errsz, "the token was issued in the future");
  if (jwt->naud == 0) return fail(err, errsz, "the token names no audience (aud)");
  for (size_t i = 0; i < jwt->naud; i++)
    for (size_t k = 0; k < nauds; k++)
      if (strcmp(jwt->aud[i], auds[k]) == 0) goto aud_ok;
  return fail(err, errsz, "the token's audience is not accepted by this server");
aud_ok:
  if (!jwt->sub || !*jwt->sub) return fail(err, errsz, "the token names no project (sub)");
  if (!jwt->user || !*jwt->user) return fail(err, errsz, "the token names no user (user)");
  return 0;
}

void srv_jwt_free(srv_jwt *jwt) {
  if (!jwt) return;
  free(jwt->iss);
  free(jwt->sub);
  free(jwt->user);
  for (size_t i = 0; i < jwt->naud; i++) free(jwt->aud[i]);
  free(jwt->signing_input);
  free(jwt->sig);
  free(jwt);
}
