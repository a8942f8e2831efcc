/* The signed run certificate (docs/ENCLAVE.md, "The run certificate"): a per-run Ed25519 key
 * (libsodium; the private half in secure memory, wiped when the run ends) signs the canonical
 * serialisation of certificate.json without its "signature" member. verify-certificate checks
 * that signature and, given OUTDIR, the SHA-256 of every output the certificate names. */
#define _GNU_SOURCE
#include "enclave.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

int enc_run_key_new(enc_run_key *k) {
  memset(k, 0, sizeof(*k));
  k->sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
  if (!k->sk) return -1;
  if (crypto_sign_keypair(k->pk, k->sk) != 0) {
    sodium_free(k->sk);
    k->sk = NULL;
    return -1;
  }
  return 0;
}

void enc_run_key_free(enc_run_key *k) {
  if (k->sk) sodium_free(k->sk); /* wiped by sodium_free */
  k->sk = NULL;
}

void enc_run_key_public_b64(const enc_run_key *k, char out[64]) {
  sodium_bin2base64(out, 64, k->pk, sizeof(k->pk), sodium_base64_VARIANT_ORIGINAL);
}

/* ---- canonical JSON ------------------------------------------------------------------------ */

static int cmp_keys(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int gen_canon(yajl_gen g, yajl_val v, int top, const char *skip) {
  if (YAJL_IS_OBJECT(v)) {
    size_t n = v->u.object.len;
    const char **keys = malloc((n ? n : 1) * sizeof(*keys));
    if (!keys) return -1;
    for (size_t i = 0; i < n; i++) keys[i] = v->u.object.keys[i];
    qsort(keys, n, sizeof(*keys), cmp_keys);
    for (size_t i = 1; i < n; i++)
      if (!strcmp(keys[i - 1], keys[i])) { free(keys); return -1; } /* duplicate member */
    yajl_gen_map_open(g);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
      if (top && skip && !strcmp(keys[i], skip)) continue;
      yajl_val child = NULL;
      for (size_t j = 0; j < n; j++)
        if (v->u.object.keys[j] == keys[i]) child = v->u.object.values[j];
      yajl_gen_string(g, (const unsigned char *)keys[i], strlen(keys[i]));
      rc = gen_canon(g, child, 0, NULL);
    }
    yajl_gen_map_close(g);
    free(keys);
    return rc;
  }
  if (YAJL_IS_ARRAY(v)) {
    yajl_gen_array_open(g);
    for (size_t i = 0; i < v->u.array.len; i++)
      if (gen_canon(g, v->u.array.values[i], 0, NULL) != 0) return -1;
    yajl_gen_array_close(g);
    return 0;
  }
  if (YAJL_IS_STRING(v)) return yajl_gen_string(g, (const unsigned char *)v->u.string, strlen(v->u.string)) == yajl_gen_status_ok ? 0 : -1;
  if (YAJL_IS_NUMBER(v)) {
    if (!YAJL_IS_INTEGER(v)) return -1; /* the certificate holds integers only */
    return yajl_gen_integer(g, YAJL_GET_INTEGER(v)) == yajl_gen_status_ok ? 0 : -1;
  }
  if (YAJL_IS_TRUE(v)) return yajl_gen_bool(g, 1) == yajl_gen_status_ok ? 0 : -1;
  if (YAJL_IS_FALSE(v)) return yajl_gen_bool(g, 0) == yajl_gen_status_ok ? 0 : -1;
  return yajl_gen_null(g) == yajl_gen_status_ok ? 0 : -1;
}

/* the canonical text of object v without its top-level member skip (malloc'd), or NULL */
static char *canon(yajl_val v, const char *skip) {
  yajl_gen g = yajl_gen_alloc(NULL);
  if (!g) return NULL;
  yajl_gen_config(g, yajl_gen_validate_utf8, 1);
  char *out = NULL;
  if (YAJL_IS_OBJECT(v) && gen_canon(g, v, 1, skip) == 0) {
    const unsigned char *buf;
    size_t len;
    if (yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok) out = strndup((const char *)buf, len);
  }
  yajl_gen_free(g);
  return out;
}

char *enc_canonical_json(const char *json) {
  char ebuf[128];
  yajl_val v = yajl_tree_parse(json, ebuf, sizeof(ebuf));
  char *out = v ? canon(v, NULL) : NULL;
  if (v) yajl_tree_free(v);
  return out;
}

int enc_cert_sign(const enc_run_key *k, const char *body, char **out) {
  *out = NULL;
  char ebuf[128];
  yajl_val v = yajl_tree_parse(body, ebuf, sizeof(ebuf));
  char *c = v ? canon(v, "signature") : NULL;
  if (v) yajl_tree_free(v);
  if (!c || !k->sk) { free(c); return -1; }
  unsigned char sig[crypto_sign_BYTES];
  char sig64[sodium_base64_ENCODED_LEN(crypto_sign_BYTES, sodium_base64_VARIANT_ORIGINAL)];
  int rc = crypto_sign_detached(sig, NULL, (const unsigned char *)c, strlen(c), k->sk);
  size_t cl = strlen(c);
  if (rc == 0) {
    sodium_bin2base64(sig64, sizeof(sig64), sig, sizeof(sig), sodium_base64_VARIANT_ORIGINAL);
    /* the canonical text with the signature as its last member, then a newline */
    if (cl < 2 || asprintf(out, "%.*s,\"signature\":\"%s\"}\n", (int)(cl - 1), c, sig64) < 0) {
      *out = NULL;
      rc = -1;
    }
  }
  free(c);
  return rc;
}

/* ---- verification ------------------------------------------------------------------------- */

static int sha256_path(const char *path, char hex[65]) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return -1;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  unsigned char buf[65536], md[32];
  unsigned mdl = 0;
  int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
  ssize_t r = 0;
  while (ok && (r = read(fd, buf, sizeof(buf))) > 0) ok = EVP_DigestUpdate(ctx, buf, (size_t)r);
  ok = ok && r == 0 && EVP_DigestFinal_ex(ctx, md, &mdl);
  EVP_MD_CTX_free(ctx);
  close(fd);
  if (!ok) return -1;
  for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
  return 0;
}

typedef struct errs {
  yajl_gen g;
  size_t n;
} errs;

static void add_err(errs *e, const char *msg) {
  yajl_gen_string(e->g, (const unsigned char *)msg, strlen(msg));
  e->n++;
}

/* the outputs a run may write: each present in OUTDIR must be covered by the certificate */
static const char *const KNOWN_OUTPUTS[] = {"report.json", "model.zip.bkenc", "result.json",
                                            "logs.jsonl", NULL};

int enc_cert_verify(const char *cert_json, const char *outdir, char **answer) {
  char ebuf[128], msg[1200];
  *answer = NULL;
  errs e = {yajl_gen_alloc(NULL), 0};
  if (!e.g) return 2;
  yajl_gen_array_open(e.g);
  yajl_val v = yajl_tree_parse(cert_json, ebuf, sizeof(ebuf));
  const char *sp[] = {"signature", NULL}, *kp[] = {"run_public_key", NULL},
             *fp[] = {"format", NULL}, *op[] = {"outputs", NULL}, *alg[] = {"signature_alg", NULL};
  yajl_val sig = v ? yajl_tree_get(v, sp, yajl_t_string) : NULL;
  yajl_val pk = v ? yajl_tree_get(v, kp, yajl_t_string) : NULL;
  yajl_val fmt = v ? yajl_tree_get(v, fp, yajl_t_string) : NULL;
  yajl_val sa = v ? yajl_tree_get(v, alg, yajl_t_string) : NULL;
  yajl_val outs = v ? yajl_tree_get(v, op, yajl_t_object) : NULL;
  int sig_ok = 0;
  if (!v || !YAJL_IS_OBJECT(v)) {
    add_err(&e, "the certificate is not a JSON object");
  } else if (!fmt || strcmp(fmt->u.string, ENC_CERT_FORMAT) != 0) {
    add_err(&e, "the certificate's format is not " ENC_CERT_FORMAT);
  } else if (!sig || !pk || !sa || strcmp(sa->u.string, "ed25519") != 0) {
    add_err(&e, "the certificate has no ed25519 signature and run_public_key");
  } else {
    unsigned char key[crypto_sign_PUBLICKEYBYTES], s[crypto_sign_BYTES];
    size_t kl = 0, sl = 0;
    char *c = canon(v, "signature");
    if (sodium_base642bin(key, sizeof(key), pk->u.string, strlen(pk->u.string), NULL, &kl, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 || kl != sizeof(key)) {
      add_err(&e, "run_public_key is not a base64 Ed25519 public key");
    } else if (sodium_base642bin(s, sizeof(s), sig->u.string, strlen(sig->u.string), NULL, &sl,
                                 NULL, sodium_base64_VARIANT_ORIGINAL) != 0 || sl != sizeof(s)) {
      add_err(&e, "signature is not a base64 Ed25519 signature");
    } else if (!c) {
      add_err(&e, "the certificate cannot be serialised canonically (duplicate members, non-integer numbers or invalid UTF-8)");
    } else if (crypto_sign_verify_detached(s, (const unsigned char *)c, strlen(c), key) != 0) {
      add_err(&e, "the signature does not verify: the certificate was altered");
    } else {
      sig_ok = 1;
    }
    free(c);
  }
  size_t checked = 0;
  if (outdir && v && YAJL_IS_OBJECT(v)) {
    if (!outs) add_err(&e, "the certificate names no outputs");
    for (size_t i = 0; outs && i < outs->u.object.len; i++) {
      const char *name = outs->u.object.keys[i];
      yajl_val h = outs->u.object.values[i];
      char path[4200], hex[65];
      if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..") || !YAJL_IS_STRING(h)) {
        snprintf(msg, sizeof(msg), "output %.200s: not a file name with a SHA-256", name);
        add_err(&e, msg);
        continue;
      }
      snprintf(path, sizeof(path), "%s/%s", outdir, name);
      if (sha256_path(path, hex) != 0) {
        snprintf(msg, sizeof(msg), "output %.200s: missing or unreadable", name);
        add_err(&e, msg);
      } else if (strcmp(hex, h->u.string) != 0) {
        snprintf(msg, sizeof(msg), "output %.200s: its SHA-256 differs from the certificate's", name);
        add_err(&e, msg);
      } else {
        checked++;
      }
    }
    for (size_t i = 0; KNOWN_OUTPUTS[i]; i++) {
      char path[4200];
      struct stat st;
      snprintf(path, sizeof(path), "%s/%s", outdir, KNOWN_OUTPUTS[i]);
      const char *q[] = {KNOWN_OUTPUTS[i], NULL};
      if (lstat(path, &st) == 0 && !(outs && yajl_tree_get(outs, q, yajl_t_any))) {
        snprintf(msg, sizeof(msg), "output %s is in OUTDIR but not in the certificate", KNOWN_OUTPUTS[i]);
        add_err(&e, msg);
      }
    }
  }
  yajl_gen_array_close(e.g);
  const unsigned char *buf;
  size_t len;
  yajl_gen_get_buf(e.g, &buf, &len);
  int valid = sig_ok && e.n == 0;
  /* a run in a simulated TEE says so here too (a false or missing member is not "true") */
  const char *simp[] = {"simulated_tee", NULL};
  yajl_val sim = v ? yajl_tree_get(v, simp, yajl_t_any) : NULL;
  if (asprintf(answer,
               "{\"valid\":%s,\"signature\":%s,\"outputs_checked\":%zu,\"simulated_tee\":%s,"
               "\"errors\":%.*s}\n",
               valid ? "true" : "false", sig_ok ? "true" : "false", checked,
               sim && YAJL_IS_TRUE(sim) ? "true" : "false", (int)len, buf) < 0)
    *answer = NULL;
  yajl_gen_free(e.g);
  if (v) yajl_tree_free(v);
  return valid ? 0 : 1;
}
