/*
 * libescrow client: the HTTP transport shared by the Platform and Enclave API clients
 * (include/escrow/client.h): URL rules, timeouts, TLS, status-to-code mapping, bounded bodies.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "client_internal.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

void escrow__query_add(escrow__sb *q, const char *name, const char *value) {
  if (!value)
    return;
  if (q->len)
    escrow__sb_addc(q, '&');
  escrow__sb_add_pct(q, name, false);
  escrow__sb_addc(q, '=');
  escrow__sb_add_pct(q, value, false);
}

/* Split "scheme://authority[/path]" and check the scheme/host rules. */
static int check_url(const char *url, bool *loopback, size_t *path_at) {
  bool https = strncasecmp(url, "https://", 8) == 0;
  bool http = !https && strncasecmp(url, "http://", 7) == 0;
  if (!https && !http)
    return escrow__err(ESCROW_E_INVALID, "the API URL must start with https:// (or http:// to a "
                                         "loopback host)");
  const char *auth = url + (https ? 8 : 7);
  size_t an = strcspn(auth, "/?#");
  if (an == 0 || an > 255)
    return escrow__err(ESCROW_E_INVALID, "the API URL has no host");
  if (auth[an] == '?' || auth[an] == '#' || strchr(auth, '?') || strchr(auth, '#'))
    return escrow__err(ESCROW_E_INVALID, "the API URL must not carry a query or fragment");
  for (const char *p = url; *p; p++)
    if ((unsigned char)*p <= 0x20 || *p == 0x7f)
      return escrow__err(ESCROW_E_INVALID, "the API URL holds a space or control character");
  if (memchr(auth, '@', an))
    return escrow__err(ESCROW_E_INVALID, "the API URL must not carry user information");
  char host[256];
  memcpy(host, auth, an);
  host[an] = 0;
  /* drop the port: after the last ':' unless inside brackets */
  char *colon = strrchr(host, ':');
  char *bracket = strrchr(host, ']');
  if (colon && (!bracket || colon > bracket))
    *colon = 0;
  for (char *p = host; *p; p++)
    if (*p >= 'A' && *p <= 'Z')
      *p = (char)(*p - 'A' + 'a');
  *loopback = escrow__host_is_loopback(host);
  if (http && !*loopback)
    return escrow__err(ESCROW_E_INVALID, "http:// is allowed only to a loopback host "
                                         "(127.0.0.1, [::1], localhost); use https://");
  *path_at = (size_t)(auth - url) + an;
  return 0;
}

int escrow__http_init(escrow__http *h, const char *base_url, const char *default_path,
                      const escrow_client_options *opts, const char *ca_env_fallback) {
  memset(h, 0, sizeof *h);
  if (opts && opts->version != ESCROW_CLIENT_OPTIONS_VERSION)
    return escrow__err(ESCROW_E_INVALID, "escrow_client_options.version must be %d",
                       ESCROW_CLIENT_OPTIONS_VERSION);
  if (!base_url || !*base_url)
    return escrow__err(ESCROW_E_INVALID, "an API base URL is required");
  size_t path_at = 0;
  int rc = check_url(base_url, &h->loopback, &path_at);
  if (rc)
    return rc;
  pthread_once(&curl_once, curl_init);
  if (curl_init_rc != CURLE_OK)
    return escrow__err(ESCROW_E_IO, "libcurl failed to initialise: %s",
                       curl_easy_strerror(curl_init_rc));
  escrow__sb b = {0};
  size_t n = strlen(base_url);
  while (n > path_at && base_url[n - 1] == '/')
    n--;
  escrow__sb_add(&b, base_url, n);
  if (n == path_at && default_path)
    escrow__sb_adds(&b, default_path);
  h->base = b.s;
  const char *ca = opts && opts->ca_file ? opts->ca_file : NULL;
  if (!ca && ca_env_fallback) {
    const char *e1 = getenv("SSL_CERT_FILE"), *e2 = getenv("CURL_CA_BUNDLE");
    ca = e1 && *e1 ? e1 : e2 && *e2 ? e2 : NULL;
  }
  char ua[64];
  snprintf(ua, sizeof ua, "libescrow/%s", escrow_version());
  h->ca_file = ca ? escrow__strdup(ca) : NULL;
  h->user_agent = escrow__strdup(opts && opts->user_agent ? opts->user_agent : ua);
  h->connect_timeout_s = opts && opts->connect_timeout_s ? (long)opts->connect_timeout_s : 30;
  h->timeout_s = opts && opts->timeout_s ? (long)opts->timeout_s : 120;
  h->stall_timeout_s = opts && opts->stall_timeout_s ? (long)opts->stall_timeout_s : 60;
  if (b.oom || !h->user_agent || (ca && !h->ca_file)) {
    escrow__http_free(h);
    return escrow__err_nomem();
  }
  h->easy = curl_easy_init();
  if (!h->easy) {
    escrow__http_free(h);
    return escrow__err(ESCROW_E_IO, "libcurl could not make a handle");
  }
  return 0;
}

void escrow__http_free(escrow__http *h) {
  if (!h)
    return;
  if (h->easy)
    curl_easy_cleanup(h->easy);
  escrow__free(h->base);
  escrow__free(h->ca_file);
  escrow__free(h->user_agent);
  escrow__sb_free(&h->last_body);
  memset(h, 0, sizeof *h);
}

/* ---- one request --------------------------------------------------------------------------- */

typedef struct rx {
  escrow__http *h;
  const escrow__http_req *req;
  escrow__sb body; /* collected answer (JSON) or error body */
  int sink_rc;
  bool too_big;
} rx;

static bool status_is_answer(const rx *x, long s) {
  return (s >= 200 && s < 300) || (x->req->ok_extra && s == x->req->ok_extra);
}

static size_t on_body(char *buf, size_t size, size_t n, void *ud) {
  rx *x = ud;
  size_t len = size * n;
  long s = 0;
  curl_easy_getinfo(x->h->easy, CURLINFO_RESPONSE_CODE, &s);
  bool answer = status_is_answer(x, s);
  if (answer && x->req->sink) {
    int rc = x->req->sink(x->req->sink_ud, (const uint8_t *)buf, len);
    if (rc) {
      x->sink_rc = rc;
      return CURL_WRITEFUNC_ERROR;
    }
    return len;
  }
  size_t cap = answer ? ESCROW__CLIENT_JSON_MAX : ESCROW__CLIENT_ERR_BODY_MAX;
  if (x->body.len + len > cap) {
    if (answer) {
      x->too_big = true;
      return CURL_WRITEFUNC_ERROR;
    }
    len = cap > x->body.len ? cap - x->body.len : 0; /* keep the start of an error body */
    escrow__sb_add(&x->body, buf, len);
    return size * n;
  }
  escrow__sb_add(&x->body, buf, len);
  if (x->body.oom) {
    x->sink_rc = ESCROW_E_NOMEM;
    return CURL_WRITEFUNC_ERROR;
  }
  return len;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow) {
  rx *x = ud;
  const escrow__http_req *r = x->req;
  if (r->mime) {
    r->progress(r->progress_ud, (uint64_t)ulnow, (uint64_t)ultotal);
  } else {
    long s = 0;
    curl_easy_getinfo(x->h->easy, CURLINFO_RESPONSE_CODE, &s);
    if (status_is_answer(x, s))
      r->progress(r->progress_ud, r->progress_base + (uint64_t)dlnow,
                  dltotal > 0 ? r->progress_base + (uint64_t)dltotal : 0);
  }
  return 0;
}

/* The server's own message from an error body: "error" (escrowd), else "message" (string),
 * cleaned of control characters and cut to 300 bytes. */
static void server_message(const char *body, size_t len, char *out, size_t outsz) {
  out[0] = 0;
  if (!len)
    return;
  yajl_val v = NULL;
  if (escrow__cjson_parse(body, len, "the error answer", &v) == 0) {
    yajl_val m = escrow__cjson_get(v, "error");
    if (!YAJL_IS_STRING(m))
      m = escrow__cjson_get(v, "message");
    if (!YAJL_IS_STRING(m))
      m = escrow__cjson_get(v, "detail");
    if (YAJL_IS_STRING(m))
      snprintf(out, outsz, "%s", m->u.string);
    yajl_tree_free(v);
  }
  escrow_error_clear();
  if (!out[0]) {
    size_t n = len < outsz - 1 ? len : outsz - 1;
    memcpy(out, body, n);
    out[n] = 0;
  }
  if (strlen(out) > 300)
    strcpy(out + 297, "...");
  for (char *p = out; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      *p = ' ';
}

static int status_code(long s) {
  switch (s) {
  case 400:
    return ESCROW_E_INVALID;
  case 401:
  case 403:
    return ESCROW_E_AUTH;
  case 404:
    return ESCROW_E_NOTFOUND;
  case 409:
    return ESCROW_E_STATE;
  case 413:
    return ESCROW_E_LIMIT;
  case 422:
    return ESCROW_E_CHECK;
  default:
    return ESCROW_E_IO;
  }
}

int escrow__http_do(escrow__http *h, const escrow__http_req *req, char **out, size_t *out_len) {
  if (out)
    *out = NULL;
  if (out_len)
    *out_len = 0;
  h->last_status = 0;
  h->last_body.len = 0;
  if (h->last_body.s)
    h->last_body.s[0] = 0;
  escrow__sb url = {0};
  escrow__sb_adds(&url, h->base);
  escrow__sb_adds(&url, req->path);
  if (req->query && *req->query) {
    escrow__sb_addc(&url, '?');
    escrow__sb_adds(&url, req->query);
  }
  struct curl_slist *hdrs = NULL, *t;
  char auth[16384];
  int rc = 0;
  rx x = {h, req, {0}, 0, false};
  if (url.oom) {
    rc = escrow__err_nomem();
    goto out;
  }
  if (req->bearer) {
    if (strlen(req->bearer) > sizeof auth - 32) {
      rc = escrow__err(ESCROW_E_LIMIT, "the bearer token is too long");
      goto out;
    }
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", req->bearer);
    if (!(t = curl_slist_append(hdrs, auth)))
      goto nomem;
    hdrs = t;
  }
  if (req->body) {
    if (!(t = curl_slist_append(hdrs, "Content-Type: application/json")))
      goto nomem;
    hdrs = t;
  }
  if (!(t = curl_slist_append(hdrs, "Accept: application/json, */*")))
    goto nomem;
  hdrs = t;
  if (!(t = curl_slist_append(hdrs, "Expect:")))
    goto nomem;
  hdrs = t;

  CURL *e = h->easy;
  curl_easy_reset(e);
  char curl_err[CURL_ERROR_SIZE] = "";
  bool bad = false;
  bad |= curl_easy_setopt(e, CURLOPT_URL, url.s) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, h->user_agent) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, h->connect_timeout_s) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, h->stall_timeout_s) != CURLE_OK;
  if (!req->transfer)
    bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT, h->timeout_s) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, &x) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, curl_err) != CURLE_OK;
  if (h->loopback)
    bad |= curl_easy_setopt(e, CURLOPT_PROXY, "") != CURLE_OK;
  if (h->ca_file)
    bad |= curl_easy_setopt(e, CURLOPT_CAINFO, h->ca_file) != CURLE_OK;
  if (req->range)
    bad |= curl_easy_setopt(e, CURLOPT_RANGE, req->range) != CURLE_OK;
  if (req->progress) {
    bad |= curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_XFERINFODATA, &x) != CURLE_OK;
  }
  if (req->mime) {
    bad |= curl_easy_setopt(e, CURLOPT_MIMEPOST, req->mime) != CURLE_OK;
  } else if (req->body) {
    bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len) != CURLE_OK;
  } else if (strcmp(req->method, "POST") == 0) {
    bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, "") != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0) != CURLE_OK;
  }
  if (bad) {
    rc = escrow__err(ESCROW_E_IO, "libcurl refused an option (built without https or MIME?)");
    goto out;
  }
  CURLcode cc = curl_easy_perform(e);
  long s = 0;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &s);
  h->last_status = s;
  if (cc != CURLE_OK) {
    if (x.sink_rc) {
      rc = x.sink_rc;
    } else if (x.too_big) {
      rc = escrow__err(ESCROW_E_LIMIT, "%s %s: the answer is larger than %u MiB", req->method,
                       req->path, ESCROW__CLIENT_JSON_MAX >> 20);
    } else if (cc == CURLE_PARTIAL_FILE) {
      rc = escrow__err(ESCROW_E_TRUNCATED, "%s %s: the answer was cut short", req->method,
                       req->path);
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
      rc = escrow__err(ESCROW_E_IO, "%s %s: timed out (%s)", req->method, req->path,
                       curl_err[0] ? curl_err : curl_easy_strerror(cc));
    } else {
      rc = escrow__err(ESCROW_E_IO, "%s %s: %s", req->method, req->path,
                       curl_err[0] ? curl_err : curl_easy_strerror(cc));
    }
    goto out;
  }
  if (!status_is_answer(&x, s)) {
    char msg[512];
    escrow__sb_add(&h->last_body, x.body.s ? x.body.s : "", x.body.len);
    server_message(x.body.s ? x.body.s : "", x.body.len, msg, sizeof msg);
    rc = escrow__err(status_code(s), "%s %s: HTTP %ld%s%s", req->method, req->path, s,
                     msg[0] ? ": " : "", msg);
    goto out;
  }
  if (!req->sink) {
    if (!x.body.s) {
      escrow__sb_adds(&x.body, "");
      if (x.body.oom)
        goto nomem;
    }
    if (out) {
      *out = x.body.s;
      x.body.s = NULL;
    }
    if (out_len)
      *out_len = x.body.len;
  }
  goto out;
nomem:
  rc = escrow__err_nomem();
out:
  if (h->easy) {
    curl_easy_setopt(h->easy, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h->easy, CURLOPT_ERRORBUFFER, NULL);
  }
  curl_slist_free_all(hdrs);
  sodium_memzero(auth, sizeof auth);
  escrow__sb_free(&url);
  escrow__sb_free(&x.body);
  return rc;
}
