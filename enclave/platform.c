/* escrow-enclave platform: the run as escrowd's runner launches it (DESIGN §9).
 *
 *   escrow-enclave platform --bundle FILE      (the runner passes a pipe: /dev/fd/3)
 *
 * The bundle (JSON, read once and wiped) names the run, the package, the approved criteria,
 * the dataset URL, the parameters and the limits, the platform's URL, a per-run bearer token,
 * one single-use nonce per role and the platform's release-signing public key. Inside:
 *   1. for each role (ao, ds): an ephemeral RSA key, the runtime data {keys, nonce, project_id,
 *      role, run_id}, and evidence binding it: a "sim" attestation token signed with the
 *      development issuer's key the bundle carries. This is SIMULATED evidence: the sandbox is
 *      no TEE and has no hardware to attest; the platform accepts it only when it runs with
 *      --allow-simulated-tee;
 *   2. POST /api/v1/enclave/key-release: the platform verifies the evidence, evaluates its
 *      release policy (package digest, project, run, role, single-use nonce, freshness) and
 *      answers the role's KEK private key wrapped to the ephemeral key in a Key-Vault-shaped JWS;
 *   3. the JWS is verified with the platform's release key and unwrapped here
 *      (escrow_attest_release_open): the KEK private key exists only in this process;
 *   4. GET /api/v1/enclave/wcek: the role's WCEK, unwrapped here into the CEK;
 *   5. the pipeline of `run` (enc_run) with those CEKs.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#include <escrow/attest.h>

#include "enclave.h"

#define BUNDLE_MAX (1u << 20)
#define ANSWER_MAX (1u << 20)

typedef struct answer {
  char *p;
  size_t n;
  int over;
} answer;

static size_t on_data(char *d, size_t sz, size_t nm, void *arg) {
  answer *a = arg;
  size_t n = sz * nm;
  if (a->over || a->n + n > ANSWER_MAX) {
    a->over = 1;
    return 0;
  }
  char *q = realloc(a->p, a->n + n + 1);
  if (!q) return 0;
  memcpy(q + a->n, d, n);
  a->p = q;
  a->n += n;
  a->p[a->n] = 0;
  return n;
}

/* One call to the platform: POST form (fields non-NULL) or GET. Returns the HTTP status (0: no
 * answer); the body in *out (malloc'd). */
static long platform_call(const char *server, const char *path, const char *token,
                          const char *form, answer *out) {
  memset(out, 0, sizeof *out);
  CURL *c = curl_easy_init();
  if (!c) return 0;
  char url[4096], auth[512];
  snprintf(url, sizeof url, "%s%s", server, path);
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
  struct curl_slist *h = curl_slist_append(NULL, auth);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  if (form) curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
  long status = 0;
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  OPENSSL_cleanse(auth, sizeof auth);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  return out->over ? 0 : status;
}

static char *form_escape(const char *s) {
  CURL *c = curl_easy_init();
  char *e = c ? curl_easy_escape(c, s, 0) : NULL;
  char *r = e ? strdup(e) : NULL;
  curl_free(e);
  if (c) curl_easy_cleanup(c);
  return r;
}

static const char *jget(yajl_val v, const char *key) {
  const char *path[] = {key, NULL};
  yajl_val s = yajl_tree_get(v, path, yajl_t_string);
  return s ? YAJL_GET_STRING(s) : NULL;
}

static long long jnum(yajl_val v, const char *key) {
  const char *path[] = {key, NULL};
  yajl_val s = yajl_tree_get(v, path, yajl_t_number);
  return s && YAJL_IS_INTEGER(s) ? YAJL_GET_INTEGER(s) : -1;
}

/* The error text of a refusal, without the body's values beyond the platform's message. */
static void refusal(const char *what, long status, const answer *a) {
  yajl_val v = a->p ? yajl_tree_parse(a->p, NULL, 0) : NULL;
  const char *msg = v ? jget(v, "error") : NULL;
  fprintf(stderr, "escrow-enclave: %s refused (HTTP %ld): %s\n", what, status,
          msg ? msg : "no answer");
  yajl_tree_free(v);
}

/* Attest for role, obtain the KEK by key release, fetch and unwrap the WCEK. */
static int role_cek(yajl_val b, const char *role, const escrow_attest_signer *issuer,
                    escrow_cek **out) {
  const char *server = jget(b, "server"), *token = jget(b, "token"), *run_id = jget(b, "run_id"),
             *project = jget(b, "project_id"), *release_pub = jget(b, "release_key_pem");
  char nk[16];
  snprintf(nk, sizeof nk, "nonce_%s", role);
  const char *nonce = jget(b, nk);
  escrow_attest_key *key = NULL;
  char *rt = NULL, *tok = NULL, *ev = NULL, *form = NULL;
  size_t rtl = 0, tokl = 0;
  escrow_kek *kek = NULL;
  answer a = {0}, w = {0};
  unsigned char *wcek = NULL;
  int rc = -1;
  escrow_attest_sim_opts so = ESCROW_ATTEST_SIM_OPTS_INIT;
  so.issuer = jget(b, "issuer");
  so.package_digest = jget(b, "package_digest");
  so.lifetime = 300;
  if (!nonce || !so.issuer || !release_pub) {
    fprintf(stderr, "escrow-enclave: the bundle lacks the attestation inputs\n");
    goto done;
  }
  if (escrow_attest_key_generate(&key, 0) ||
      escrow_attest_runtime_data(&rt, &rtl, key, nonce, project, run_id, role) ||
      escrow_attest_sim_issue(&tok, &tokl, issuer, &so, (const uint8_t *)rt, rtl)) {
    fprintf(stderr, "escrow-enclave: attestation evidence could not be made: %s\n",
            escrow_error_last());
    goto done;
  }
  char *erun = form_escape(run_id), *ev_e = form_escape(tok);
  ev = ev_e;
  if (!erun || !ev || asprintf(&form, "run_id=%s&role=%s&format=sim&evidence=%s", erun, role, ev) < 0)
    form = NULL;
  free(erun);
  if (!form) goto done;
  long st = platform_call(server, "/api/v1/enclave/key-release", token, form, &a);
  if (st != 200) {
    refusal("key release", st, &a);
    goto done;
  }
  escrow_attest_release_trust tr = ESCROW_ATTEST_RELEASE_TRUST_INIT;
  tr.platform_key = (const uint8_t *)release_pub;
  tr.platform_key_len = strlen(release_pub);
  if (escrow_attest_release_open(&kek, (const uint8_t *)a.p, a.n, &tr, key)) {
    fprintf(stderr, "escrow-enclave: the key release answer does not verify or unwrap: %s\n",
            escrow_error_last());
    goto done;
  }
  char path[512];
  char *erun2 = form_escape(run_id);
  snprintf(path, sizeof path, "/api/v1/enclave/wcek?run_id=%s&role=%s", erun2 ? erun2 : "", role);
  free(erun2);
  st = platform_call(server, path, token, NULL, &w);
  yajl_val wv = st == 200 && w.p ? yajl_tree_parse(w.p, NULL, 0) : NULL;
  const char *b64 = wv ? jget(wv, "wcek") : NULL;
  if (!b64) {
    yajl_tree_free(wv);
    refusal("the WCEK", st, &w);
    goto done;
  }
  size_t bl = strlen(b64);
  wcek = malloc(bl / 4 * 3 + 4);
  int n = wcek ? EVP_DecodeBlock(wcek, (const unsigned char *)b64, (int)bl) : -1;
  while (n > 0 && bl > 0 && b64[bl - 1] == '=') n--, bl--;
  yajl_tree_free(wv);
  if (n <= 0 || escrow_wcek_unwrap(out, kek, wcek, (size_t)n, ESCROW_OAEP_AUTO, NULL)) {
    fprintf(stderr, "escrow-enclave: the %s WCEK does not unwrap with the released key\n", role);
    goto done;
  }
  fprintf(stderr, "escrow-enclave: %s key released to this (SIMULATED) enclave and unwrapped inside\n",
          role);
  rc = 0;
done:
  escrow_attest_key_free(key);
  escrow_free(rt);
  escrow_free(tok);
  free(ev);
  free(form);
  escrow_kek_free(kek);
  free(a.p);
  free(w.p);
  free(wcek);
  return rc;
}

static char *read_fd_path(const char *path, size_t max, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  size_t cap = 4096, n = 0;
  char *b = malloc(cap + 1);
  while (b) {
    if (n == cap) {
      if (cap >= max) {
        OPENSSL_cleanse(b, n);
        free(b);
        b = NULL;
        break;
      }
      char *nb = malloc(cap * 2 + 1);
      if (nb) memcpy(nb, b, n);
      OPENSSL_cleanse(b, n);
      free(b);
      b = nb;
      cap *= 2;
      continue;
    }
    ssize_t r = read(fd, b + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    n += (size_t)r;
  }
  close(fd);
  if (b) {
    b[n] = 0;
    *len = n;
  }
  return b;
}

int enc_platform_main(int argc, char **argv) {
  const char *bundle_path = NULL;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--bundle") && i + 1 < argc) bundle_path = argv[++i];
    else {
      fprintf(stderr, "usage: escrow-enclave platform --bundle FILE (launched by escrowd's runner)\n");
      return 2;
    }
  }
  if (!bundle_path) {
    fprintf(stderr, "usage: escrow-enclave platform --bundle FILE (launched by escrowd's runner)\n");
    return 2;
  }
  size_t blen = 0;
  char *text = read_fd_path(bundle_path, BUNDLE_MAX, &blen);
  char ebuf[128];
  yajl_val b = text ? yajl_tree_parse(text, ebuf, sizeof ebuf) : NULL;
  if (text) {
    OPENSSL_cleanse(text, blen);
    free(text);
  }
  if (!b || !YAJL_IS_OBJECT(b)) {
    fprintf(stderr, "escrow-enclave: the run bundle cannot be read\n");
    yajl_tree_free(b);
    return 2;
  }
  int rc = 2;
  escrow_attest_signer *issuer = NULL;
  escrow_cek *ao = NULL, *ds = NULL;
  escrow_criteria *crit = NULL;
  char *crit_text = NULL;
  char **params = NULL;
  size_t np = 0;
  const char *ikey = jget(b, "issuer_key_pem"), *out = jget(b, "out"), *pkg = jget(b, "package"),
             *url = jget(b, "dataset_url"), *type = jget(b, "type"), *cpath = jget(b, "criteria");
  if (!ikey || !out || !pkg || !url || !type || !jget(b, "server") || !jget(b, "token") ||
      !jget(b, "run_id") || !jget(b, "project_id")) {
    fprintf(stderr, "escrow-enclave: the run bundle is incomplete\n");
    goto done;
  }
  if (escrow_attest_signer_from_bytes(&issuer, (const uint8_t *)ikey, strlen(ikey), NULL)) {
    fprintf(stderr, "escrow-enclave: the simulated issuer key cannot be read\n");
    goto done;
  }
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) goto done;
  if (role_cek(b, "ao", issuer, &ao) || role_cek(b, "ds", issuer, &ds)) {
    rc = 1;
    goto done;
  }
  if (cpath) {
    size_t cl = 0;
    crit_text = read_fd_path(cpath, 1u << 20, &cl);
    escrow_criteria_options copts = ESCROW_CRITERIA_OPTIONS_INIT;
    copts.redact_values = 1;
    char *serr = NULL;
    if (!crit_text || escrow_criteria_compile(&crit, crit_text, cl, &copts, &serr) != 0) {
      escrow_free(serr);
      fprintf(stderr, "escrow-enclave: the approved criteria cannot be read\n");
      goto done;
    }
  }
  const char *ppath[] = {"params", NULL};
  yajl_val pv = yajl_tree_get(b, ppath, yajl_t_array);
  size_t n = pv ? pv->u.array.len : 0;
  params = calloc(n + 1, sizeof *params);
  if (!params) goto done;
  for (size_t i = 0; i < n; i++) {
    yajl_val e = pv->u.array.values[i];
    const char *s = YAJL_IS_STRING(e) ? YAJL_GET_STRING(e) : NULL;
    const char *eq = s ? strchr(s, '=') : NULL;
    char name[256];
    if (!eq || (size_t)(eq - s) >= sizeof name) goto done;
    memcpy(name, s, (size_t)(eq - s));
    name[eq - s] = 0;
    if (!escrow_runtime_param_name_ok(name)) {
      fprintf(stderr, "escrow-enclave: runtime parameter name refused: %s\n", name);
      goto done;
    }
    params[np++] = (char *)s;
  }
  if (mkdir(out, 0700) != 0 && errno != EEXIST) goto done;
  enc_run_config cfg = {0};
  cfg.package = pkg;
  cfg.dataset_url = url;
  cfg.ao_cek = ao;
  cfg.ds_cek = ds;
  cfg.criteria = crit;
  cfg.criteria_text = crit_text;
  cfg.training = !strcmp(type, "training");
  cfg.params = params;
  cfg.n_params = np;
  long long v = jnum(b, "vcpus"), m = jnum(b, "memory_mib"), t = jnum(b, "timeout_s");
  cfg.vcpus = v > 0 && v <= 64 ? (unsigned)v : 1;
  cfg.memory_mib = m >= 16 && m <= (1 << 20) ? (unsigned)m : 2048;
  cfg.timeout_s = t > 0 && t <= 7 * 86400 ? (unsigned)t : 3600;
  cfg.out = out;
  rc = enc_run(&cfg);
done:
  escrow_cek_free(ao);
  escrow_cek_free(ds);
  escrow_criteria_free(crit);
  free(crit_text);
  free(params);
  escrow_attest_signer_free(issuer);
  yajl_tree_free(b); /* holds the token, the dataset URL and the issuer key: freed now */
  curl_global_cleanup();
  return rc;
}
