/*
 * libescrow client: the Enclave API (include/escrow/client.h, DESIGN §7), as an algorithm in
 * the TEE calls it: files listing, streamed decrypted files, progress lines, reports,
 * artifacts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "client_internal.h"

struct escrow_enclave {
  escrow__http http;
};

int escrow_enclave_open(escrow_enclave **out, const char *base_url,
                        const escrow_client_options *opts) {
  if (!out)
    return escrow__err(ESCROW_E_INVALID, "out is NULL");
  *out = NULL;
  if (!base_url || !*base_url) {
    const char *e1 = getenv("ENCLAVE_URL"), *e2 = getenv("ESCROW_RUNTIME_LOCATION");
    base_url = e1 && *e1 ? e1 : e2 && *e2 ? e2 : "https://localhost:5000";
  }
  if (escrow_init())
    return escrow_error_last_code();
  escrow_enclave *e = escrow__calloc(1, sizeof *e);
  if (!e)
    return escrow__err_nomem();
  int rc = escrow__http_init(&e->http, base_url, NULL, opts, "env");
  if (rc) {
    escrow__free(e);
    return rc;
  }
  *out = e;
  return 0;
}

void escrow_enclave_close(escrow_enclave *e) {
  if (!e)
    return;
  escrow__http_free(&e->http);
  escrow__free(e);
}

long escrow_enclave_last_status(const escrow_enclave *e) { return e ? e->http.last_status : 0; }

const char *escrow_enclave_last_body(const escrow_enclave *e) {
  return e && e->http.last_body.s ? e->http.last_body.s : "";
}

int escrow_enclave_list(escrow_enclave *e, const char *sas_url, escrow_enclave_files **out) {
  if (!e || !out)
    return escrow__err(ESCROW_E_INVALID, "escrow_enclave_list: NULL argument");
  *out = NULL;
  escrow__sb q = {0};
  if (sas_url && *sas_url) {
    size_t n = strlen(sas_url);
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = escrow__malloc(cap);
    if (!b64)
      return escrow__err_nomem();
    sodium_bin2base64(b64, cap, (const uint8_t *)sas_url, n, sodium_base64_VARIANT_ORIGINAL);
    escrow__query_add(&q, "SASUrl", b64);
    sodium_memzero(b64, cap);
    escrow__free(b64);
    if (q.oom) {
      escrow__sb_free(&q);
      return escrow__err_nomem();
    }
  }
  escrow__http_req r = {.method = "GET", .path = "/api/v1/data/files", .query = q.s};
  char *body = NULL;
  size_t len = 0;
  int rc = escrow__http_do(&e->http, &r, &body, &len);
  if (q.s)
    sodium_memzero(q.s, q.len);
  escrow__sb_free(&q);
  if (!rc)
    rc = escrow__parse_files(body, len, out);
  escrow__free(body);
  return rc;
}

typedef struct ranged {
  escrow_enclave *e;
  escrow_enclave_write_fn write;
  void *payload;
  uint64_t offset;
  bool checked; /* the answer's status and Content-Range were checked */
} ranged;

/* The first byte position of a "bytes FIRST-LAST/TOTAL" Content-Range, or -1. */
static int64_t content_range_first(const char *v) {
  if (!v || strncasecmp(v, "bytes", 5) != 0)
    return -1;
  v += 5;
  while (*v == ' ')
    v++;
  if (*v < '0' || *v > '9')
    return -1;
  uint64_t first = 0;
  for (; *v >= '0' && *v <= '9'; v++) {
    if (first > (UINT64_MAX - 9) / 10 || first * 10 + (uint64_t)(*v - '0') > INT64_MAX)
      return -1;
    first = first * 10 + (uint64_t)(*v - '0');
  }
  return *v == '-' ? (int64_t)first : -1;
}

/* With an offset, only the bytes of a 206 answer that starts at that offset may reach the
 * receiver (a 200 starts at byte 0; a 206 from elsewhere would be appended in the wrong
 * place). */
static int ranged_write(void *ud, const uint8_t *d, size_t n) {
  ranged *g = ud;
  if (g->offset && !g->checked) {
    long s = 0;
    curl_easy_getinfo(g->e->http.easy, CURLINFO_RESPONSE_CODE, &s);
    if (s != 206)
      return escrow__err(ESCROW_E_UNSUPPORTED, "GET /api/v1/data/file: the server ignored the "
                                               "Range request (HTTP %ld)", s);
    struct curl_header *h = NULL;
    int64_t first = -1;
    if (curl_easy_header(g->e->http.easy, "Content-Range", 0, CURLH_HEADER, -1, &h) ==
        CURLHE_OK)
      first = content_range_first(h->value);
    if (first < 0)
      return escrow__err(ESCROW_E_MISMATCH, "GET /api/v1/data/file: asked for the bytes from "
                                            "%llu, the partial answer has no valid Content-Range",
                         (unsigned long long)g->offset);
    if ((uint64_t)first != g->offset)
      return escrow__err(ESCROW_E_MISMATCH, "GET /api/v1/data/file: asked for the bytes from "
                                            "%llu, the partial answer starts at %lld",
                         (unsigned long long)g->offset, (long long)first);
    g->checked = true;
  }
  return g->write(g->payload, d, n);
}

int escrow_enclave_get(escrow_enclave *e, const char *name, uint64_t offset,
                       escrow_enclave_write_fn write, void *payload, escrow_progress_cb progress,
                       void *progress_payload) {
  if (!e || !name || !*name || !write)
    return escrow__err(ESCROW_E_INVALID, "escrow_enclave_get: a file name and a writer are "
                                         "required");
  escrow__sb q = {0};
  escrow__query_add(&q, "filepath", name);
  char range[32];
  snprintf(range, sizeof range, "%llu-", (unsigned long long)offset);
  if (q.oom)
    return escrow__err_nomem();
  ranged g = {e, write, payload, offset, false};
  escrow__http_req r = {.method = "GET",
                        .path = "/api/v1/data/file",
                        .query = q.s,
                        .range = offset ? range : NULL,
                        .transfer = true,
                        .sink = ranged_write,
                        .sink_ud = &g,
                        .progress = progress,
                        .progress_ud = progress_payload,
                        .progress_base = offset};
  int rc = escrow__http_do(&e->http, &r, NULL, NULL);
  escrow__sb_free(&q);
  return rc;
}

static int write_atomic(void *ud, const uint8_t *d, size_t n) {
  escrow__atomic *a = ud;
  return escrow__write_all(a->fd, d, n, a->path);
}

int escrow_enclave_get_file(escrow_enclave *e, const char *name, const char *out_path,
                            escrow_progress_cb progress, void *progress_payload) {
  if (!out_path || !*out_path)
    return escrow__err(ESCROW_E_INVALID, "an output path is required");
  escrow__atomic a;
  int rc = escrow__atomic_open(&a, out_path, 0600, false);
  if (rc)
    return rc;
  rc = escrow_enclave_get(e, name, 0, write_atomic, &a, progress, progress_payload);
  if (!rc)
    rc = escrow__atomic_commit(&a);
  else
    escrow__atomic_abort(&a);
  return rc;
}

int escrow_enclave_log(escrow_enclave *e, const char *message, const char *status) {
  if (!e || !message)
    return escrow__err(ESCROW_E_INVALID, "escrow_enclave_log: a message is required");
  escrow__sb b = {0};
  escrow__sb_adds(&b, "{\"message\":");
  escrow__cjson_str(&b, message);
  escrow__sb_adds(&b, ",\"status\":");
  escrow__cjson_str(&b, status ? status : "Progress");
  escrow__sb_addc(&b, '}');
  if (b.oom) {
    escrow__sb_free(&b);
    return escrow__err_nomem();
  }
  escrow__http_req r = {.method = "POST", .path = "/api/v1/log", .body = b.s, .body_len = b.len};
  char *body = NULL;
  int rc = escrow__http_do(&e->http, &r, &body, NULL);
  escrow__free(body);
  escrow__sb_free(&b);
  return rc;
}

static int post_report(escrow_enclave *e, const char *path, const escrow_enclave_report_in *in,
                       escrow_enclave_verdict **out) {
  if (out)
    *out = NULL;
  if (!e || !in || !in->name || !*in->name || !in->status || !*in->status || !in->json_data)
    return escrow__err(ESCROW_E_INVALID, "a report needs name, status and json_data");
  yajl_val doc = NULL;
  int rc = escrow__cjson_parse(in->json_data, strlen(in->json_data), "json_data", &doc);
  if (rc)
    return rc;
  escrow__sb b = {0};
  escrow__sb_adds(&b, "{\"name\":");
  escrow__cjson_str(&b, in->name);
  escrow__sb_adds(&b, ",\"status\":");
  escrow__cjson_str(&b, in->status);
  escrow__sb_adds(&b, ",\"json_data\":");
  char *canon = escrow__cjson_dump(doc); /* re-serialised: exactly one JSON value */
  yajl_tree_free(doc);
  if (!canon) {
    escrow__sb_free(&b);
    return escrow__err_nomem();
  }
  escrow__sb_adds(&b, canon);
  escrow__free(canon);
  const char *opt_names[] = {"project", "run", "run_configuration"};
  const char *opt_vals[] = {in->project, in->run, in->run_configuration};
  for (int i = 0; i < 3; i++) {
    if (!opt_vals[i])
      continue;
    escrow__sb_adds(&b, ",");
    escrow__cjson_str(&b, opt_names[i]);
    escrow__sb_addc(&b, ':');
    escrow__cjson_str(&b, opt_vals[i]);
  }
  escrow__sb_addc(&b, '}');
  if (b.oom) {
    escrow__sb_free(&b);
    return escrow__err_nomem();
  }
  /* 400 carries the criteria's refusal {"status":"failed",...}: an answer, not an error */
  escrow__http_req r = {.method = "POST", .path = path, .body = b.s, .body_len = b.len,
                        .ok_extra = 400};
  char *body = NULL;
  size_t len = 0;
  rc = escrow__http_do(&e->http, &r, &body, &len);
  escrow__sb_free(&b);
  if (rc)
    goto out;
  escrow_enclave_verdict *v = NULL;
  rc = escrow__parse_verdict(body, len, e->http.last_status, &v);
  if (rc && e->http.last_status == 400) {
    /* a 400 that is not a verdict: a malformed request; report it as the error it is */
    char msg[300];
    snprintf(msg, sizeof msg, "%.*s", (int)(len < 250 ? len : 250), body);
    for (char *p = msg; *p; p++)
      if ((unsigned char)*p < 0x20)
        *p = ' ';
    escrow__sb_add(&e->http.last_body, body, len);
    rc = escrow__err(ESCROW_E_INVALID, "POST %s: HTTP 400: %s", path, msg);
    goto out;
  }
  if (rc)
    goto out;
  if (out)
    *out = v;
  else
    escrow_enclave_verdict_free(v);
out:
  escrow__free(body);
  return rc;
}

int escrow_enclave_validate(escrow_enclave *e, const escrow_enclave_report_in *r,
                            escrow_enclave_verdict **out) {
  return post_report(e, "/api/v1/validate", r, out);
}

int escrow_enclave_report(escrow_enclave *e, const escrow_enclave_report_in *r,
                          escrow_enclave_verdict **out) {
  return post_report(e, "/api/v1/report", r, out);
}

int escrow_enclave_artifact(escrow_enclave *e, const char *path, const char *file_name,
                            escrow_progress_cb progress, void *progress_payload,
                            escrow_api_answer **out) {
  if (out)
    *out = NULL;
  if (!e || !path || !*path)
    return escrow__err(ESCROW_E_INVALID, "escrow_enclave_artifact: a file is required");
  struct stat st;
  if (stat(path, &st) != 0)
    return escrow__err_errno("cannot read the artifact", path);
  if (!S_ISREG(st.st_mode) || access(path, R_OK) != 0)
    return escrow__err(ESCROW_E_INVALID, "'%s' is not a readable regular file", path);
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  curl_mime *m = curl_mime_init(e->http.easy);
  curl_mimepart *p = m ? curl_mime_addpart(m) : NULL;
  if (!p || curl_mime_name(p, "artifact_file") != CURLE_OK ||
      curl_mime_filedata(p, path) != CURLE_OK ||
      curl_mime_filename(p, file_name ? file_name : base) != CURLE_OK ||
      curl_mime_type(p, "application/octet-stream") != CURLE_OK) {
    curl_mime_free(m);
    return escrow__err_nomem();
  }
  escrow__http_req r = {.method = "POST", .path = "/api/v1/report/artifact", .mime = m,
                        .transfer = true, .progress = progress, .progress_ud = progress_payload};
  char *body = NULL;
  size_t len = 0;
  int rc = escrow__http_do(&e->http, &r, &body, &len);
  curl_mime_free(m);
  if (!rc && out)
    rc = escrow__parse_answer(body, len, e->http.last_status, out);
  escrow__free(body);
  return rc;
}
