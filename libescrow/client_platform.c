/*
 * libescrow client: the Platform API (include/escrow/client.h, DESIGN §8): the API sample's
 * RS256 bearer tokens, made per request, and the endpoints with their form bodies.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>

#include "client_internal.h"

struct escrow_client {
  escrow__http http;
  EVP_PKEY *key;
  char *email;
  char *project_id;
  char *audience;
  unsigned lifetime_s;
};

#define DEFAULT_AUDIENCE "frontoffice.beekeeperai"
#define KEY_PEM_MAX (64u << 10)

static int no_passphrase(char *buf, int size, int rwflag, void *u) {
  (void)buf, (void)size, (void)rwflag, (void)u;
  return -1; /* never prompt: an encrypted key is refused */
}

/* Parse an RSA private key from PEM, or from base64 of PEM (EscrowAICI's form). */
static int load_key(const char *pem, size_t len, EVP_PKEY **out) {
  *out = NULL;
  if (!pem || len == 0)
    return escrow__err(ESCROW_E_INVALID, "the user's private key is required");
  if (len > KEY_PEM_MAX)
    return escrow__err(ESCROW_E_KEY, "the private key file is larger than %u KiB",
                       KEY_PEM_MAX >> 10);
  uint8_t *decoded = NULL;
  size_t dlen = 0;
  const char *text = pem;
  size_t tlen = len;
  bool has_pem = false;
  for (size_t i = 0; i + 10 <= len && !has_pem; i++)
    has_pem = memcmp(pem + i, "-----BEGIN", 10) == 0;
  if (!has_pem) {
    decoded = escrow__secure_malloc(len);
    if (!decoded)
      return escrow__err_nomem();
    if (sodium_base642bin(decoded, len, pem, len, " \t\r\n", &dlen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0) {
      escrow__secure_free(decoded);
      return escrow__err(ESCROW_E_KEY, "the private key is neither PEM nor base64 of PEM");
    }
    text = (const char *)decoded;
    tlen = dlen;
  }
  int rc = 0;
  BIO *bio = BIO_new_mem_buf(text, (int)tlen);
  if (!bio) {
    rc = escrow__err_openssl(ESCROW_E_NOMEM, "cannot read the private key");
    goto out;
  }
  EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
  BIO_free(bio);
  if (!k) {
    rc = escrow__err_openssl(ESCROW_E_KEY, "the private key is not an unencrypted PEM private "
                                           "key");
    goto out;
  }
  if (!EVP_PKEY_is_a(k, "RSA")) {
    EVP_PKEY_free(k);
    rc = escrow__err(ESCROW_E_KEY, "the API key must be an RSA key (tokens are RS256)");
    goto out;
  }
  if (EVP_PKEY_get_bits(k) < 2048) {
    int bits = EVP_PKEY_get_bits(k);
    EVP_PKEY_free(k);
    rc = escrow__err(ESCROW_E_KEY, "the RSA key has %d bits; at least 2048 are required", bits);
    goto out;
  }
  *out = k;
out:
  ERR_clear_error();
  if (decoded)
    escrow__secure_free(decoded);
  return rc;
}

int escrow_client_open(escrow_client **out, const char *base_url, const char *key_pem,
                       size_t key_len, const char *email, const char *project_id,
                       const escrow_client_options *opts) {
  if (!out)
    return escrow__err(ESCROW_E_INVALID, "out is NULL");
  *out = NULL;
  if (!email || !*email)
    return escrow__err(ESCROW_E_INVALID, "the user's e-mail is required");
  if (!project_id || !*project_id)
    return escrow__err(ESCROW_E_INVALID, "the project id is required");
  if (escrow_init())
    return escrow_error_last_code();
  escrow_client *c = escrow__calloc(1, sizeof *c);
  if (!c)
    return escrow__err_nomem();
  int rc = escrow__http_init(&c->http, base_url, "/api/v1", opts, NULL);
  if (rc) {
    escrow__free(c);
    return rc;
  }
  if ((rc = load_key(key_pem, key_len, &c->key)))
    goto fail;
  c->email = escrow__strdup(email);
  c->project_id = escrow__strdup(project_id);
  c->audience = escrow__strdup(opts && opts->audience ? opts->audience : DEFAULT_AUDIENCE);
  c->lifetime_s = opts && opts->token_lifetime_s ? opts->token_lifetime_s : 300;
  if (!c->email || !c->project_id || !c->audience) {
    rc = escrow__err_nomem();
    goto fail;
  }
  *out = c;
  return 0;
fail:
  escrow_client_close(c);
  return rc;
}

void escrow_client_close(escrow_client *c) {
  if (!c)
    return;
  escrow__http_free(&c->http);
  EVP_PKEY_free(c->key); /* OpenSSL clears RSA private components when freeing them */
  escrow__free(c->email);
  escrow__free(c->project_id);
  escrow__free(c->audience);
  escrow__free(c);
}

long escrow_client_last_status(const escrow_client *c) { return c ? c->http.last_status : 0; }

const char *escrow_client_last_body(const escrow_client *c) {
  return c && c->http.last_body.s ? c->http.last_body.s : "";
}

/* ---- tokens ---------------------------------------------------------------------------------- */

static void b64url(escrow__sb *b, const uint8_t *d, size_t n) {
  size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  char *tmp = escrow__malloc(cap);
  if (!tmp) {
    b->oom = true;
    return;
  }
  sodium_bin2base64(tmp, cap, d, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  escrow__sb_adds(b, tmp);
  escrow__free(tmp);
}

int escrow_client_token(escrow_client *c, char **out) {
  if (!c || !out)
    return escrow__err(ESCROW_E_INVALID, "escrow_client_token: NULL argument");
  *out = NULL;
  escrow__sb claims = {0}, tok = {0};
  char num[32];
  snprintf(num, sizeof num, "%lld", (long long)time(NULL) + c->lifetime_s);
  escrow__sb_adds(&claims, "{\"iss\":\"EscrowAI-API\",\"exp\":");
  escrow__sb_adds(&claims, num);
  escrow__sb_adds(&claims, ",\"aud\":");
  escrow__cjson_str(&claims, c->audience);
  escrow__sb_adds(&claims, ",\"sub\":");
  escrow__cjson_str(&claims, c->project_id);
  escrow__sb_adds(&claims, ",\"user\":");
  escrow__cjson_str(&claims, c->email);
  escrow__sb_addc(&claims, '}');
  static const char header[] = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
  b64url(&tok, (const uint8_t *)header, sizeof header - 1);
  escrow__sb_addc(&tok, '.');
  if (!claims.oom)
    b64url(&tok, (const uint8_t *)claims.s, claims.len);
  int rc = 0;
  if (claims.oom || tok.oom) {
    rc = escrow__err_nomem();
    goto out;
  }
  const escrow__algs *algs = escrow__get_algs();
  if (!algs) {
    rc = escrow_error_last_code();
    goto out;
  }
  uint8_t sig[1024];
  size_t siglen = sizeof sig;
  if ((size_t)EVP_PKEY_get_size(c->key) > sizeof sig) {
    rc = escrow__err(ESCROW_E_KEY, "the RSA key is larger than 8192 bits");
    goto out;
  }
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  if (!md || EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL, c->key, NULL) != 1 ||
      EVP_DigestSign(md, sig, &siglen, (const uint8_t *)tok.s, tok.len) != 1) {
    EVP_MD_CTX_free(md);
    rc = escrow__err_openssl(ESCROW_E_CRYPTO, "signing the API token failed");
    goto out;
  }
  EVP_MD_CTX_free(md);
  escrow__sb_addc(&tok, '.');
  b64url(&tok, sig, siglen);
  if (tok.oom) {
    rc = escrow__err_nomem();
    goto out;
  }
  *out = tok.s;
  tok.s = NULL;
out:
  escrow__sb_free(&claims);
  escrow__sb_free(&tok);
  return rc;
}

/* ---- requests ------------------------------------------------------------------------------ */

typedef struct call {
  escrow_client *c;
  const char *method;
  const char *path;
  escrow__sb query;
  curl_mime *mime;
  bool oom;
} call;

static void call_init(call *k, escrow_client *c, const char *method, const char *path) {
  memset(k, 0, sizeof *k);
  k->c = c;
  k->method = method;
  k->path = path;
}

/* A field: in the query for GET, a multipart part for POST. NULL values are not sent. */
static void field(call *k, const char *name, const char *value) {
  if (!value)
    return;
  if (strcmp(k->method, "GET") == 0) {
    escrow__query_add(&k->query, name, value);
    return;
  }
  if (!k->mime && !(k->mime = curl_mime_init(k->c->http.easy))) {
    k->oom = true;
    return;
  }
  curl_mimepart *p = curl_mime_addpart(k->mime);
  if (!p || curl_mime_name(p, name) != CURLE_OK ||
      curl_mime_data(p, value, CURL_ZERO_TERMINATED) != CURLE_OK)
    k->oom = true;
}

static int file_part(call *k, const char *field_name, const char *path, const char *file_name) {
  struct stat st;
  if (stat(path, &st) != 0)
    return escrow__err_errno("cannot read the file", path);
  if (!S_ISREG(st.st_mode))
    return escrow__err(ESCROW_E_INVALID, "'%s' is not a regular file", path);
  if (access(path, R_OK) != 0)
    return escrow__err_errno("cannot read the file", path);
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  if (!k->mime && !(k->mime = curl_mime_init(k->c->http.easy)))
    return escrow__err_nomem();
  curl_mimepart *p = curl_mime_addpart(k->mime);
  if (!p || curl_mime_name(p, field_name) != CURLE_OK ||
      curl_mime_filedata(p, path) != CURLE_OK ||
      curl_mime_filename(p, file_name ? file_name : base) != CURLE_OK ||
      curl_mime_type(p, "application/octet-stream") != CURLE_OK)
    return escrow__err_nomem();
  return 0;
}

/* Send the call (project_id added); the answer's text in *body. */
static int call_do(call *k, bool transfer, escrow_progress_cb progress, void *pp,
                   escrow__http_sink sink, void *sink_ud, char **body, size_t *len) {
  char *token = NULL;
  int rc = 0;
  field(k, "project_id", k->c->project_id);
  if (k->oom || k->query.oom) {
    rc = escrow__err_nomem();
    goto out;
  }
  if ((rc = escrow_client_token(k->c, &token)))
    goto out;
  escrow__http_req r = {.method = k->method,
                        .path = k->path,
                        .query = k->query.s,
                        .mime = k->mime,
                        .bearer = token,
                        .transfer = transfer,
                        .sink = sink,
                        .sink_ud = sink_ud,
                        .progress = progress,
                        .progress_ud = pp};
  rc = escrow__http_do(&k->c->http, &r, body, len);
out:
  if (token) {
    sodium_memzero(token, strlen(token));
    escrow__free(token);
  }
  curl_mime_free(k->mime);
  k->mime = NULL;
  escrow__sb_free(&k->query);
  return rc;
}

static int check_version_fields(const escrow_api_version_fields *v) {
  if (!v || !v->name || !*v->name || !v->version_tag || !*v->version_tag)
    return escrow__err(ESCROW_E_INVALID, "name and version_tag are required");
  return 0;
}

static void version_fields(call *k, const escrow_api_version_fields *v) {
  field(k, "name", v->name);
  field(k, "description", v->description ? v->description : "");
  field(k, "version_description", v->version_description ? v->version_description : "");
  field(k, "version_tag", v->version_tag);
}

#define NEED(c, out)                                                                          \
  do {                                                                                        \
    if (out)                                                                                  \
      *(out) = NULL;                                                                          \
    if (!(c))                                                                                 \
      return escrow__err(ESCROW_E_INVALID, "the client handle is NULL");                      \
  } while (0)

int escrow_client_kek_download(escrow_client *c, escrow_api_kek **out) {
  NEED(c, out);
  if (!out)
    return escrow__err(ESCROW_E_INVALID, "out is NULL");
  call k;
  call_init(&k, c, "GET", "/key-encryption-key-download/");
  char *body = NULL;
  size_t len = 0;
  int rc = call_do(&k, false, NULL, NULL, NULL, NULL, &body, &len);
  if (!rc)
    rc = escrow__parse_kek(body, len, out);
  escrow__free(body);
  return rc;
}

static const char *upload_path(escrow_api_upload_kind kind) {
  switch (kind) {
  case ESCROW_API_WCEK:
    return "/wrapped-content-encryption-key/";
  case ESCROW_API_VALIDATION_CRITERIA:
    return "/validation-criteria/";
  case ESCROW_API_DATA_SPECIFICATION:
    return "/data-specification/";
  case ESCROW_API_DATA_ATTESTATION:
    return "/data-attestation/";
  case ESCROW_API_ALGORITHM:
    return "/algorithm/";
  }
  return NULL;
}

static int finish_artifact(int rc, char *body, size_t len, escrow_api_artifact **out) {
  if (!rc && out)
    rc = escrow__parse_artifact(body, len, out);
  escrow__free(body);
  return rc;
}

int escrow_client_upload(escrow_client *c, escrow_api_upload_kind kind,
                         const escrow_api_version_fields *v, const char *path,
                         escrow_progress_cb progress, void *progress_payload,
                         escrow_api_artifact **out) {
  NEED(c, out);
  const char *p = upload_path(kind);
  if (!p)
    return escrow__err(ESCROW_E_INVALID, "unknown upload kind %d", (int)kind);
  if (kind == ESCROW_API_ALGORITHM)
    return escrow__err(ESCROW_E_INVALID, "an algorithm is uploaded with "
                                         "escrow_client_upload_algorithm");
  int rc = check_version_fields(v);
  if (rc)
    return rc;
  if (!path)
    return escrow__err(ESCROW_E_INVALID, "the file to upload is required");
  call k;
  call_init(&k, c, "POST", p);
  version_fields(&k, v);
  if ((rc = file_part(&k, "file_name", path, NULL))) {
    curl_mime_free(k.mime);
    return rc;
  }
  char *body = NULL;
  size_t len = 0;
  rc = call_do(&k, true, progress, progress_payload, NULL, NULL, &body, &len);
  return finish_artifact(rc, body, len, out);
}

int escrow_client_upload_algorithm(escrow_client *c, const escrow_api_version_fields *v,
                                   const escrow_api_algorithm_fields *a, const char *path,
                                   escrow_progress_cb progress, void *progress_payload,
                                   escrow_api_artifact **out) {
  NEED(c, out);
  int rc = check_version_fields(v);
  if (rc)
    return rc;
  if (!a || !a->algorithm_type)
    return escrow__err(ESCROW_E_INVALID, "algorithm_type is required");
  if (!path)
    return escrow__err(ESCROW_E_INVALID, "the algorithm zip is required");
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  call k;
  call_init(&k, c, "POST", "/algorithm/");
  version_fields(&k, v);
  field(&k, "algorithm_type", a->algorithm_type);
  field(&k, "validation_criteria_version", a->validation_criteria_version);
  field(&k, "data_attestation_version", a->data_attestation_version);
  field(&k, "upload_type", a->upload_type ? a->upload_type : "Upload Zip");
  field(&k, "upload_file_name", a->upload_file_name ? a->upload_file_name : base);
  if ((rc = file_part(&k, "file_name", path, NULL))) {
    curl_mime_free(k.mime);
    return rc;
  }
  char *body = NULL;
  size_t len = 0;
  rc = call_do(&k, true, progress, progress_payload, NULL, NULL, &body, &len);
  return finish_artifact(rc, body, len, out);
}

int escrow_client_dataset(escrow_client *c, const escrow_api_version_fields *v,
                          const escrow_api_dataset_fields *d, escrow_api_artifact **out) {
  NEED(c, out);
  int rc = check_version_fields(v);
  if (rc)
    return rc;
  if (!d || !d->dataset_uri || !*d->dataset_uri)
    return escrow__err(ESCROW_E_INVALID, "dataset_uri (the container SAS URL) is required");
  call k;
  call_init(&k, c, "POST", "/dataset/");
  version_fields(&k, v);
  field(&k, "tags", d->tags);
  field(&k, "dataset_uri", d->dataset_uri);
  field(&k, "data_specification_version", d->data_specification_version);
  field(&k, "data_attestation_version", d->data_attestation_version);
  char *body = NULL;
  size_t len = 0;
  rc = call_do(&k, false, NULL, NULL, NULL, NULL, &body, &len);
  return finish_artifact(rc, body, len, out);
}

static int finish_answer(escrow_client *c, int rc, char *body, size_t len,
                         escrow_api_answer **out) {
  if (!rc && out)
    rc = escrow__parse_answer(body, len, c->http.last_status, out);
  escrow__free(body);
  return rc;
}

int escrow_client_accept_criteria(escrow_client *c, const char *version_tag,
                                  escrow_api_answer **out) {
  NEED(c, out);
  if (!version_tag || !*version_tag)
    return escrow__err(ESCROW_E_INVALID, "the criteria's version tag is required");
  call k;
  call_init(&k, c, "POST", "/validation-criteria-accept/");
  field(&k, "validation_criteria_version", version_tag);
  char *body = NULL;
  size_t len = 0;
  int rc = call_do(&k, false, NULL, NULL, NULL, NULL, &body, &len);
  return finish_answer(c, rc, body, len, out);
}

int escrow_client_versions(escrow_client *c, const char *artifact_type,
                           escrow_api_versions **out) {
  NEED(c, out);
  if (!out)
    return escrow__err(ESCROW_E_INVALID, "out is NULL");
  call k;
  call_init(&k, c, "GET", "/artifact/");
  field(&k, "artifact_type", artifact_type && *artifact_type ? artifact_type : NULL);
  char *body = NULL;
  size_t len = 0;
  int rc = call_do(&k, false, NULL, NULL, NULL, NULL, &body, &len);
  if (!rc)
    rc = escrow__parse_versions(body, len, out);
  escrow__free(body);
  return rc;
}

static int run_fields(call *k, const escrow_api_run_ref *r, bool number) {
  if (!r || !r->algorithm_version || !*r->algorithm_version || !r->dataset_version ||
      !*r->dataset_version)
    return escrow__err(ESCROW_E_INVALID, "a run is named by algorithm_version and "
                                         "dataset_version (tags)");
  field(k, "algorithm_version", r->algorithm_version);
  field(k, "dataset_version", r->dataset_version);
  if (number && r->run_number > 0) {
    char n[24];
    snprintf(n, sizeof n, "%lld", (long long)r->run_number);
    field(k, "run_number", n);
  }
  return 0;
}

int escrow_client_run_configuration(escrow_client *c, const char *name,
                                    const escrow_api_run_ref *run, const char *description,
                                    const char *run_type, escrow_api_answer **out) {
  NEED(c, out);
  if (!name || !*name)
    return escrow__err(ESCROW_E_INVALID, "the run configuration's name is required");
  call k;
  call_init(&k, c, "POST", "/run-configuration/");
  field(&k, "name", name);
  int rc = run_fields(&k, run, false);
  if (rc) {
    curl_mime_free(k.mime);
    return rc;
  }
  field(&k, "description", description ? description : "");
  field(&k, "run_type", run_type ? run_type : "validation");
  char *body = NULL;
  size_t len = 0;
  rc = call_do(&k, false, NULL, NULL, NULL, NULL, &body, &len);
  return finish_answer(c, rc, body, len, out);
}

static int run_call(escrow_client *c, const char *method, const char *path,
                    const escrow_api_run_ref *run, bool number, const char *n1, const char *v1,
                    const char *const *params, size_t n_params, escrow_api_run **out) {
  NEED(c, out);
  call k;
  call_init(&k, c, method, path);
  int rc = run_fields(&k, run, number);
  if (rc) {
    curl_mime_free(k.mime);
    escrow__sb_free(&k.query);
    return rc;
  }
  if (n1)
    field(&k, n1, v1);
  if (n_params) { /* runtime_parameters: a JSON object of names and values */
    escrow__sb j = {0};
    escrow__sb_addc(&j, '{');
    for (size_t i = 0; i < n_params; i++) {
      const char *eq = params[i] ? strchr(params[i], '=') : NULL;
      if (!eq || eq == params[i]) {
        escrow__sb_free(&j);
        curl_mime_free(k.mime);
        return escrow__err(ESCROW_E_INVALID, "runtime parameter %zu is not NAME=VALUE", i + 1);
      }
      char *name = escrow__strndup(params[i], (size_t)(eq - params[i]));
      if (!name) {
        j.oom = true;
        break;
      }
      if (i)
        escrow__sb_addc(&j, ',');
      escrow__cjson_str(&j, name);
      escrow__sb_addc(&j, ':');
      escrow__cjson_str(&j, eq + 1);
      escrow__free(name);
    }
    escrow__sb_addc(&j, '}');
    if (!j.oom)
      field(&k, "runtime_parameters", j.s);
    else
      k.oom = true;
    escrow__sb_free(&j);
  }
  char *body = NULL;
  size_t len = 0;
  rc = call_do(&k, false, NULL, NULL, NULL, NULL, &body, &len);
  if (!rc && out)
    rc = escrow__parse_run(body, len, out);
  escrow__free(body);
  return rc;
}

int escrow_client_run_request(escrow_client *c, const escrow_api_run_ref *run,
                              const char *machine_type, const char *const *params,
                              size_t n_params, escrow_api_run **out) {
  if (!machine_type || !*machine_type)
    return escrow__err(ESCROW_E_INVALID, "machine_type (cpu-standard-<vCPUs>) is required");
  if (n_params && !params)
    return escrow__err(ESCROW_E_INVALID, "params is NULL");
  return run_call(c, "POST", "/run-request/", run, false, "machine_type", machine_type, params,
                  n_params, out);
}

int escrow_client_initiate_run(escrow_client *c, const escrow_api_run_ref *run,
                               escrow_api_run **out) {
  return run_call(c, "GET", "/initiate-run/", run, false, NULL, NULL, NULL, 0, out);
}

int escrow_client_run_reject(escrow_client *c, const escrow_api_run_ref *run,
                             const char *reason, escrow_api_run **out) {
  if (!reason || !*reason)
    return escrow__err(ESCROW_E_INVALID, "a reason is required to reject a run");
  return run_call(c, "POST", "/run-reject/", run, true, "reason", reason, NULL, 0, out);
}

int escrow_client_run_cancel(escrow_client *c, const escrow_api_run_ref *run,
                             escrow_api_run **out) {
  return run_call(c, "POST", "/run-cancel/", run, true, NULL, NULL, NULL, 0, out);
}

int escrow_client_run_status(escrow_client *c, const escrow_api_run_ref *run,
                             escrow_api_run **out) {
  return run_call(c, "GET", "/run-status/", run, true, NULL, NULL, NULL, 0, out);
}

int escrow_client_report_download(escrow_client *c, const escrow_api_run_ref *run,
                                  escrow_api_report **out) {
  NEED(c, out);
  if (!out)
    return escrow__err(ESCROW_E_INVALID, "out is NULL");
  call k;
  call_init(&k, c, "GET", "/report-download/");
  int rc = run_fields(&k, run, true);
  if (rc) {
    escrow__sb_free(&k.query);
    return rc;
  }
  char *body = NULL;
  size_t len = 0;
  rc = call_do(&k, false, NULL, NULL, NULL, NULL, &body, &len);
  if (!rc)
    rc = escrow__parse_report(body, len, out);
  escrow__free(body);
  return rc;
}

/* The output's content from its answer: "report content" (text), "model content" (base64),
 * else the body as sent. */
static int output_content(escrow_api_output which, const char *body, size_t len, uint8_t **out,
                          size_t *out_len, bool *owned) {
  *out = (uint8_t *)body;
  *out_len = len;
  *owned = false;
  if (which == ESCROW_API_LOG || len == 0 || body[0] != '{')
    return 0;
  yajl_val v = NULL;
  int rc = escrow__cjson_parse(body, len, "the answer", &v);
  if (rc)
    return rc;
  yajl_val c = escrow__cjson_get(v, which == ESCROW_API_REPORT ? "report content"
                                                               : "model content");
  if (YAJL_IS_STRING(c)) {
    size_t n = strlen(c->u.string);
    uint8_t *buf = escrow__malloc(n + 1);
    size_t bl = 0;
    if (!buf) {
      rc = escrow__err_nomem();
    } else if (which == ESCROW_API_REPORT) {
      memcpy(buf, c->u.string, n);
      bl = n;
    } else if (sodium_base642bin(buf, n + 1, c->u.string, n, " \r\n", &bl, NULL,
                                 sodium_base64_VARIANT_ORIGINAL) != 0) {
      rc = escrow__err(ESCROW_E_FORMAT, "the answer's \"model content\" is not base64");
    }
    if (rc) {
      escrow__free(buf);
    } else {
      *out = buf;
      *out_len = bl;
      *owned = true;
    }
  }
  yajl_tree_free(v);
  return rc;
}

int escrow_client_download(escrow_client *c, escrow_api_output which,
                           const escrow_api_run_ref *run, const char *out_path,
                           escrow_progress_cb progress, void *progress_payload) {
  NEED(c, (char **)NULL);
  const char *p = which == ESCROW_API_REPORT  ? "/report-download/"
                  : which == ESCROW_API_MODEL ? "/model-download/"
                  : which == ESCROW_API_LOG   ? "/log-download/"
                                              : NULL;
  if (!p)
    return escrow__err(ESCROW_E_INVALID, "unknown run output %d", (int)which);
  if (!out_path || !*out_path)
    return escrow__err(ESCROW_E_INVALID, "an output path is required");
  call k;
  call_init(&k, c, "GET", p);
  int rc = run_fields(&k, run, true);
  if (rc) {
    escrow__sb_free(&k.query);
    return rc;
  }
  char *body = NULL;
  size_t len = 0;
  if ((rc = call_do(&k, true, progress, progress_payload, NULL, NULL, &body, &len)))
    return rc;
  uint8_t *data;
  size_t dlen;
  bool owned;
  if ((rc = output_content(which, body, len, &data, &dlen, &owned))) {
    escrow__free(body);
    return rc;
  }
  escrow__atomic a;
  if (!(rc = escrow__atomic_open(&a, out_path, 0600, false))) {
    rc = escrow__write_all(a.fd, data, dlen, out_path);
    if (!rc)
      rc = escrow__atomic_commit(&a);
    else
      escrow__atomic_abort(&a);
  }
  if (owned) {
    sodium_memzero(data, dlen);
    escrow__free(data);
  }
  escrow__free(body);
  return rc;
}

int escrow_client_notifications(escrow_client *c, escrow_api_answer **out) {
  NEED(c, out);
  call k;
  call_init(&k, c, "GET", "/notifications/");
  char *body = NULL;
  size_t len = 0;
  int rc = call_do(&k, false, NULL, NULL, NULL, NULL, &body, &len);
  return finish_answer(c, rc, body, len, out);
}

int escrow_client_call(escrow_client *c, const char *method, const char *path,
                       const char *const *names, const char *const *values, size_t n_fields,
                       escrow_api_answer **out) {
  NEED(c, out);
  if (!method || (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0))
    return escrow__err(ESCROW_E_INVALID, "the method must be GET or POST");
  if (!path || !*path || strstr(path, "..") || strpbrk(path, "?#") || path[0] == '/')
    return escrow__err(ESCROW_E_INVALID, "the path must be relative to the API root, "
                                         "without a query (\"chat/\")");
  if (n_fields && (!names || !values))
    return escrow__err(ESCROW_E_INVALID, "names and values are required with fields");
  escrow__sb p = {0};
  escrow__sb_addc(&p, '/');
  escrow__sb_add_pct(&p, path, true);
  if (p.oom)
    return escrow__err_nomem();
  call k;
  call_init(&k, c, method, p.s);
  for (size_t i = 0; i < n_fields; i++)
    if (names[i] && strcmp(names[i], "project_id") != 0)
      field(&k, names[i], values[i]);
  char *body = NULL;
  size_t len = 0;
  int rc = call_do(&k, false, NULL, NULL, NULL, NULL, &body, &len);
  rc = finish_answer(c, rc, body, len, out);
  escrow__sb_free(&p);
  return rc;
}
