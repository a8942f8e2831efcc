/*
 * libescrow blob: Azure Blob Storage over libcurl through a container SAS URL, and file://
 * folders (include/escrow/blob.h, docs/STORAGE.md).
 */
#define _GNU_SOURCE /* sync_file_range */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "blob_internal.h"
#include "sas_internal.h"

#define X_MS_VERSION "2021-12-02"
#define LIST_PAGE_MAX (32u << 20)      /* bytes of one List Blobs response */
#define LIST_MAX_RESULTS 1000
#define MAX_BLOCKS 50000u
#define FILE_CHUNK (1u << 20)
#define SMALL_PUT_MAX (4u << 20) /* up to this, Put Blob from memory with a checked Content-MD5 */
#define BACKOFF_CAP_MS 30000u

struct escrow_blob_client {
  bool is_file;
  char *root;          /* file:// folder */
  escrow_sas *sas;     /* https:// */
  char *container_url; /* endpoint + "/" + container, %-encoded, no query */
  bool loopback;
  escrow_blob_options o;
  CURL *easy;
  EVP_MD *md5;
  escrow_blob_stats stats;
};

/* ---- setup ----------------------------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static int check_name(const char *name) {
  if (name == NULL || name[0] == '\0')
    return escrow__err(ESCROW_E_INVALID, "a blob name is required");
  size_t n = strlen(name);
  if (n > ESCROW__BLOB_NAME_MAX)
    return escrow__err(ESCROW_E_LIMIT, "a blob name is at most %d bytes",
                       ESCROW__BLOB_NAME_MAX);
  if (!escrow__utf8_valid((const uint8_t *)name, n))
    return escrow__err(ESCROW_E_INVALID, "the blob name is not valid UTF-8");
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
      return escrow__err(ESCROW_E_INVALID, "the blob name holds a control character");
  return 0;
}

void escrow_blob_close(escrow_blob_client *c) {
  if (c == NULL)
    return;
  if (c->easy)
    curl_easy_cleanup(c->easy);
  EVP_MD_free(c->md5);
  escrow_sas_free(c->sas);
  escrow__free(c->root);
  escrow__free(c->container_url);
  escrow__free(c);
}

void escrow_blob_get_stats(const escrow_blob_client *c, escrow_blob_stats *out) {
  if (out == NULL)
    return;
  if (c == NULL)
    memset(out, 0, sizeof *out);
  else
    *out = c->stats;
}

int escrow_blob_open(escrow_blob_client **out, const char *url, const escrow_blob_options *opts) {
  if (out == NULL || url == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_blob_open: NULL argument");
  *out = NULL;
  escrow_blob_options o = ESCROW_BLOB_OPTIONS_INIT;
  if (opts) {
    if (opts->version != ESCROW_BLOB_OPTIONS_VERSION)
      return escrow__err(ESCROW_E_INVALID, "escrow_blob_options.version must be %d",
                         ESCROW_BLOB_OPTIONS_VERSION);
    o = *opts;
  }
  if (o.max_retries == 0) o.max_retries = 8;
  if (o.retry_base_ms == 0) o.retry_base_ms = 250;
  if (o.stall_timeout_s == 0) o.stall_timeout_s = 60;
  if (o.block_size == 0) o.block_size = 4u << 20;
  if (o.single_put_max == 0) o.single_put_max = (size_t)256 << 20;
  if (o.parallel == 0) o.parallel = 4;
  if (o.block_size > (size_t)4000 << 20 || o.single_put_max > (size_t)256 << 20 ||
      o.parallel > 16 || o.block_size < 1024)
    return escrow__err(ESCROW_E_INVALID, "blob options out of range (block size 1 KiB..4000 "
                                         "MiB, single put up to 256 MiB, up to 16 in parallel)");
  escrow_blob_client *c = escrow__calloc(1, sizeof *c);
  if (c == NULL)
    return escrow__err_nomem();
  c->o = o;
  c->o.ca_file = NULL; /* not kept: only used while opening handles below */
  int rc = 0;
  c->md5 = EVP_MD_fetch(NULL, "MD5", NULL);
  if (c->md5 == NULL) {
    rc = escrow__err_openssl(ESCROW_E_CRYPTO, "MD5 is not available");
    goto fail;
  }
  if (strncmp(url, "file://", 7) == 0) {
    c->is_file = true;
    const char *p = url + 7;
    if (strncmp(p, "localhost/", 10) == 0)
      p += 9;
    if (*p != '/') {
      rc = escrow__err(ESCROW_E_FORMAT, "a file:// URL needs an absolute path (file:///...)");
      goto fail;
    }
    if (strchr(p, '?') || strchr(p, '#')) {
      rc = escrow__err(ESCROW_E_FORMAT, "a file:// URL has no query or fragment");
      goto fail;
    }
    rc = escrow__pct_decode(&c->root, p, strlen(p), "the file:// path");
    if (rc)
      goto fail;
    size_t n = strlen(c->root);
    while (n > 1 && c->root[n - 1] == '/')
      c->root[--n] = '\0';
    struct stat st;
    if (stat(c->root, &st) != 0) {
      rc = escrow__err_errno("cannot open the dataset folder", c->root);
      goto fail;
    }
    if (!S_ISDIR(st.st_mode)) {
      rc = escrow__err(ESCROW_E_INVALID, "'%s' is not a folder", c->root);
      goto fail;
    }
    *out = c;
    return 0;
  }
  unsigned pflags = (o.flags & ESCROW_BLOB_PATH_STYLE) ? ESCROW_SAS_PATH_STYLE : 0;
  rc = escrow_sas_parse(&c->sas, url, pflags);
  if (rc)
    goto fail;
  if (escrow_sas_container(c->sas) == NULL || escrow_sas_blob(c->sas) != NULL) {
    rc = escrow__err(ESCROW_E_FORMAT, "the URL is not a container URL (<endpoint>/<container>?"
                                      "<sas>)");
    goto fail;
  }
  c->loopback = escrow__host_is_loopback(escrow_sas_host(c->sas));
  if (strcmp(escrow_sas_scheme(c->sas), "http") == 0 &&
      !(c->loopback && (o.flags & ESCROW_BLOB_ALLOW_LOOPBACK_HTTP))) {
    rc = escrow__err(ESCROW_E_INVALID, "http:// is allowed only on a loopback host, for a local "
                                       "emulator, with the allow-loopback-http option");
    goto fail;
  }
  escrow__sb b = {0};
  escrow__sb_adds(&b, escrow_sas_endpoint(c->sas));
  escrow__sb_addc(&b, '/');
  escrow__sb_add_pct(&b, escrow_sas_container(c->sas), false);
  if (b.oom) {
    escrow__sb_free(&b);
    rc = escrow__err_nomem();
    goto fail;
  }
  c->container_url = b.s;
  pthread_once(&curl_once, curl_init);
  if (curl_init_rc != CURLE_OK) {
    rc = escrow__err(ESCROW_E_IO, "libcurl could not start: %s", curl_easy_strerror(curl_init_rc));
    goto fail;
  }
  c->easy = curl_easy_init();
  if (c->easy == NULL) {
    rc = escrow__err(ESCROW_E_IO, "libcurl could not create a handle");
    goto fail;
  }
  c->o.ca_file = opts ? opts->ca_file : NULL; /* borrowed: the caller keeps it alive */
  *out = c;
  return 0;
fail:
  escrow_blob_close(c);
  return rc;
}

/* ---- HTTP plumbing --------------------------------------------------------------------------- */

typedef int (*sink_fn)(void *ud, const uint8_t *d, size_t n);

typedef struct xfer {
  escrow_blob_client *c;
  CURL *h;
  struct curl_slist *headers;
  long status;
  char etag[160];
  char content_range[128];
  char md5[64];
  char err_code[96];
  uint64_t content_length;
  bool has_cl;
  sink_fn sink;
  void *sink_ud;
  int sink_rc;
  uint64_t skip;      /* body bytes to drop (a server that ignored Range) */
  uint64_t received;  /* body bytes delivered to the sink in this attempt */
  bool ranged;        /* the request asked for bytes from range_start */
  uint64_t range_start;
  uint64_t limit;     /* deliver at most this many body bytes (UINT64_MAX: no limit) */
  bool body_started;
  void (*reset)(void *ud); /* called before each attempt of request() */
  const uint8_t *up;
  size_t up_len, up_pos;
  bool up_from_fd;    /* the body is read from up_fd (at up_pos) instead of up */
  int up_fd;
  EVP_MD_CTX *up_md;  /* with up_from_fd: MD5 of the bytes sent in this attempt */
  const EVP_MD *up_md_type;
  char curl_err[CURL_ERROR_SIZE];
  /* for parallel uploads */
  size_t slot;
} xfer;

static void header_value(char *dst, size_t dst_size, const char *v, size_t n) {
  while (n > 0 && (*v == ' ' || *v == '\t')) {
    v++;
    n--;
  }
  while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
    n--;
  if (n >= dst_size)
    n = dst_size - 1;
  memcpy(dst, v, n);
  dst[n] = '\0';
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud) {
  xfer *x = ud;
  size_t len = size * n;
  if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
    /* a new response (after 100 Continue or a retry): forget what the last one said */
    x->etag[0] = x->content_range[0] = x->md5[0] = x->err_code[0] = '\0';
    x->has_cl = false;
    return len;
  }
  const char *colon = memchr(buf, ':', len);
  if (colon == NULL)
    return len;
  size_t nl = (size_t)(colon - buf);
  const char *v = colon + 1;
  size_t vl = len - nl - 1;
#define IS(h) (nl == sizeof(h) - 1 && strncasecmp(buf, h, nl) == 0)
  if (IS("ETag"))
    header_value(x->etag, sizeof x->etag, v, vl);
  else if (IS("Content-Range"))
    header_value(x->content_range, sizeof x->content_range, v, vl);
  else if (IS("Content-MD5"))
    header_value(x->md5, sizeof x->md5, v, vl);
  else if (IS("x-ms-error-code"))
    header_value(x->err_code, sizeof x->err_code, v, vl);
  else if (IS("Content-Length")) {
    char t[32];
    header_value(t, sizeof t, v, vl);
    char *end;
    errno = 0;
    unsigned long long cl = strtoull(t, &end, 10);
    x->has_cl = errno == 0 && end != t && *end == '\0' && t[0] != '-';
    x->content_length = cl;
  }
#undef IS
  return len;
}

static size_t on_body(char *buf, size_t size, size_t n, void *ud) {
  xfer *x = ud;
  size_t len = size * n;
  long status = 0;
  curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status >= 300 || x->sink == NULL)
    return len; /* an error body: x-ms-error-code says what we need */
  if (!x->body_started) {
    x->body_started = true;
    if (status == 200 && x->ranged)
      x->skip = x->range_start; /* the server ignored Range and starts at byte 0 */
  }
  const uint8_t *d = (const uint8_t *)buf;
  if (x->skip > 0) {
    size_t k = x->skip < len ? (size_t)x->skip : len;
    x->skip -= k;
    d += k;
    len -= k;
    if (len == 0)
      return size * n;
  }
  if ((uint64_t)len > x->limit - x->received)
    len = (size_t)(x->limit - x->received); /* never past what was asked for */
  if (len == 0)
    return size * n;
  int rc = x->sink(x->sink_ud, d, len);
  if (rc != 0) {
    x->sink_rc = rc;
    return 0; /* abort the transfer */
  }
  x->received += len;
  x->c->stats.bytes_down += len;
  return size * n;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ud) {
  xfer *x = ud;
  size_t want = size * n, left = x->up_len - x->up_pos;
  if (want > left)
    want = left;
  if (x->up_from_fd) {
    size_t got = 0;
    if (want > 0 && (escrow__pread_full(x->up_fd, (uint8_t *)buf, want, x->up_pos, &got,
                                        "the file being uploaded") != 0 ||
                     got != want))
      return CURL_READFUNC_ABORT;
    if (x->up_md && got && EVP_DigestUpdate(x->up_md, buf, got) != 1)
      return CURL_READFUNC_ABORT;
    x->up_pos += got;
    return got;
  }
  memcpy(buf, x->up + x->up_pos, want);
  x->up_pos += want;
  return want;
}

static int on_seek(void *ud, curl_off_t offset, int origin) {
  xfer *x = ud;
  if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > x->up_len)
    return CURL_SEEKFUNC_CANTSEEK;
  if (x->up_from_fd) { /* the running MD5 can only start over */
    if (offset != 0 || (x->up_md && EVP_DigestInit_ex(x->up_md, x->up_md_type, NULL) != 1))
      return CURL_SEEKFUNC_CANTSEEK;
  }
  x->up_pos = (size_t)offset;
  return CURL_SEEKFUNC_OK;
}

/* Prepare handle h for one request. headers_extra: NULL-terminated list of header lines. */
static int xfer_setup(xfer *x, escrow_blob_client *c, CURL *h, const char *method,
                      const char *url, const char *const *headers_extra) {
  x->c = c;
  x->h = h;
  x->status = 0;
  x->etag[0] = x->content_range[0] = x->md5[0] = x->err_code[0] = x->curl_err[0] = '\0';
  x->has_cl = false;
  x->sink_rc = 0;
  x->received = 0;
  x->up_pos = 0;
  if (x->up_from_fd && x->up_md && EVP_DigestInit_ex(x->up_md, x->up_md_type, NULL) != 1)
    return escrow__err_openssl(ESCROW_E_CRYPTO, "cannot start MD5");
  x->skip = 0;
  x->body_started = false;
  x->ranged = false;
  x->limit = UINT64_MAX;
  curl_slist_free_all(x->headers);
  x->headers = NULL;
  curl_easy_reset(h);
  struct curl_slist *l = curl_slist_append(NULL, "x-ms-version: " X_MS_VERSION);
  if (l)
    l = curl_slist_append(l, "Expect:");
  for (size_t i = 0; l && headers_extra && headers_extra[i]; i++) {
    struct curl_slist *n = curl_slist_append(l, headers_extra[i]);
    if (n == NULL) {
      curl_slist_free_all(l);
      l = NULL;
    }
    l = n;
  }
  if (l == NULL)
    return escrow__err_nomem();
  x->headers = l;
  int bad = 0;
  bad |= curl_easy_setopt(h, CURLOPT_URL, url) != CURLE_OK;
  bad |= curl_easy_setopt(h, CURLOPT_HTTPHEADER, l) != CURLE_OK;
  bad |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
  bad |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
  bad |= curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
  bad |= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L) != CURLE_OK;
  bad |= curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L) != CURLE_OK;
  bad |= curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)c->o.stall_timeout_s) != CURLE_OK;
  bad |= curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK;
  bad |= curl_easy_setopt(h, CURLOPT_HEADERDATA, x) != CURLE_OK;
  bad |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
  bad |= curl_easy_setopt(h, CURLOPT_WRITEDATA, x) != CURLE_OK;
  bad |= curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->curl_err) != CURLE_OK;
  bad |= curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 256L * 1024) != CURLE_OK;
  if (c->loopback)
    bad |= curl_easy_setopt(h, CURLOPT_PROXY, "") != CURLE_OK;
  if (c->o.ca_file)
    bad |= curl_easy_setopt(h, CURLOPT_CAINFO, c->o.ca_file) != CURLE_OK;
  if (strcmp(method, "HEAD") == 0) {
    bad |= curl_easy_setopt(h, CURLOPT_NOBODY, 1L) != CURLE_OK;
  } else if (strcmp(method, "PUT") == 0) {
    bad |= curl_easy_setopt(h, CURLOPT_UPLOAD, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_READDATA, x) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_SEEKDATA, x) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->up_len) != CURLE_OK;
  }
  if (bad)
    return escrow__err(ESCROW_E_IO, "libcurl refused an option");
  return 0;
}

static void xfer_cleanup(xfer *x) {
  curl_slist_free_all(x->headers);
  x->headers = NULL;
}

enum { OUTCOME_OK = 0, OUTCOME_RETRY = 1 };

/* Judge a finished transfer: OUTCOME_OK, OUTCOME_RETRY (transient), or a negative code with a
 * message naming what (never the query: it holds the SAS). */
static int xfer_outcome(xfer *x, CURLcode cc, const char *method, const char *what) {
  if (cc == CURLE_WRITE_ERROR && x->sink_rc != 0)
    return x->sink_rc;
  curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
  if (cc != CURLE_OK) {
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      escrow__err(ESCROW_E_IO, "%s %s: %s", method, what,
                  x->curl_err[0] ? x->curl_err : curl_easy_strerror(cc));
      return OUTCOME_RETRY;
    default:
      return escrow__err(ESCROW_E_IO, "%s %s: %s", method, what,
                         x->curl_err[0] ? x->curl_err : curl_easy_strerror(cc));
    }
  }
  long s = x->status;
  if (s >= 200 && s < 300)
    return OUTCOME_OK;
  const char *code = x->err_code[0] ? x->err_code : "";
  if (s == 408 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504) {
    escrow__err(ESCROW_E_IO, "%s %s: HTTP %ld %s", method, what, s, code);
    return OUTCOME_RETRY;
  }
  if (s == 403 || s == 401)
    return escrow__err(ESCROW_E_AUTH, "%s %s: HTTP %ld %s: the SAS does not allow this (wrong "
                       "permissions, expired, not yet valid, or altered)", method, what, s, code);
  if (s == 404)
    return escrow__err(ESCROW_E_NOTFOUND, "%s %s: HTTP 404 %s: not found", method, what, code);
  if (s == 412)
    return escrow__err(ESCROW_E_MISMATCH, "%s %s: HTTP 412 %s: the blob changed meanwhile",
                       method, what, code);
  if (s == 416)
    return escrow__err(ESCROW_E_INVALID, "%s %s: HTTP 416 %s: the range is past the end of the "
                       "blob", method, what, code);
  return escrow__err(ESCROW_E_IO, "%s %s: HTTP %ld %s", method, what, s, code);
}

static void backoff(const escrow_blob_client *c, unsigned attempt) {
  uint64_t ms = c->o.retry_base_ms;
  for (unsigned i = 0; i < attempt && ms < BACKOFF_CAP_MS; i++)
    ms *= 2;
  if (ms > BACKOFF_CAP_MS)
    ms = BACKOFF_CAP_MS;
  ms = ms / 2 + randombytes_uniform((uint32_t)(ms / 2 + 1)); /* jitter: [ms/2, ms] */
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* One request with retries on transient failures. The sink (may be NULL) must tolerate a
 * retried request starting over: callers that stream use their own loop (blob_get). */
static int request(escrow_blob_client *c, xfer *x, const char *method, const char *url,
                   const char *const *headers, const char *what) {
  for (unsigned attempt = 0;; attempt++) {
    if (x->reset)
      x->reset(x->sink_ud);
    int rc = xfer_setup(x, c, c->easy, method, url, headers);
    if (rc)
      return rc;
    c->stats.requests++;
    CURLcode cc = curl_easy_perform(c->easy);
    rc = xfer_outcome(x, cc, method, what);
    if (rc == OUTCOME_OK) {
      c->stats.bytes_up += x->up_len;
      return 0;
    }
    if (rc != OUTCOME_RETRY || attempt >= c->o.max_retries)
      return rc == OUTCOME_RETRY ? escrow_error_last_code() : rc;
    c->stats.retries++;
    backoff(c, attempt);
  }
}

/* "<container_url>/<name %-encoded>" [+ "?" + extra + "&" + token]. what (optional) receives
 * the same without the query, for messages. */
static int blob_url(char **out, char **what, const escrow_blob_client *c, const char *name,
                    const char *extra) {
  escrow__sb b = {0};
  escrow__sb_adds(&b, c->container_url);
  if (name) {
    escrow__sb_addc(&b, '/');
    escrow__sb_add_pct(&b, name, true);
  }
  size_t base_len = b.len;
  escrow__sb_addc(&b, '?');
  if (extra) {
    escrow__sb_adds(&b, extra);
    escrow__sb_addc(&b, '&');
  }
  escrow__sb_adds(&b, escrow_sas_token(c->sas));
  if (b.oom) {
    escrow__sb_free(&b);
    return escrow__err_nomem();
  }
  if (what) {
    *what = escrow__strndup(b.s, base_len);
    if (*what == NULL) {
      escrow__sb_free(&b);
      return escrow__err_nomem();
    }
  }
  *out = b.s;
  return 0;
}

/* ---- file:// helpers ------------------------------------------------------------------------- */

static int file_path(char **out, const escrow_blob_client *c, const char *name) {
  if (!escrow__path_is_clean(name))
    return escrow__err(ESCROW_E_INVALID, "'%.200s' is not a clean relative path (no '..', no "
                       "leading '/', no empty or '.' parts)", name);
  *out = escrow__path_join(c->root, name);
  return *out ? 0 : escrow__err_nomem();
}

static bool is_temp_name(const char *n) {
  const char *t = strstr(n, ".tmp-");
  if (t == NULL || strlen(t) != 17)
    return false;
  for (const char *p = t + 5; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
      return false;
  return true;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Walk dir (relative rel under root) in name order. */
static int file_walk(escrow_blob_client *c, const char *rel, const char *prefix,
                     escrow_blob_list_cb cb, void *payload, unsigned depth) {
  if (depth > 64)
    return escrow__err(ESCROW_E_LIMIT, "the dataset folder is nested more than 64 deep");
  char *dir = rel[0] ? escrow__path_join(c->root, rel) : escrow__strdup(c->root);
  if (dir == NULL)
    return escrow__err_nomem();
  DIR *d = opendir(dir);
  if (d == NULL) {
    int rc = escrow__err_errno("cannot read folder", dir);
    escrow__free(dir);
    return rc;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    if (n == cap) {
      size_t nc = cap ? cap * 2 : 32;
      char **nn = escrow__realloc(names, nc * sizeof *nn);
      if (nn == NULL) {
        rc = escrow__err_nomem();
        break;
      }
      names = nn;
      cap = nc;
    }
    names[n] = escrow__strdup(e->d_name);
    if (names[n] == NULL) {
      rc = escrow__err_nomem();
      break;
    }
    n++;
  }
  closedir(d);
  if (rc == 0 && n > 1)
    qsort(names, n, sizeof *names, cmp_str);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    char *r = rel[0] ? escrow__path_join(rel, names[i]) : escrow__strdup(names[i]);
    char *full = r ? escrow__path_join(c->root, r) : NULL;
    if (full == NULL) {
      escrow__free(r);
      rc = escrow__err_nomem();
      break;
    }
    struct stat st;
    if (lstat(full, &st) != 0) {
      rc = errno == ENOENT ? 0 : escrow__err_errno("cannot stat", full);
    } else if (S_ISDIR(st.st_mode)) {
      rc = file_walk(c, r, prefix, cb, payload, depth + 1);
    } else if (S_ISREG(st.st_mode) && !is_temp_name(names[i]) &&
               (prefix == NULL || strncmp(r, prefix, strlen(prefix)) == 0)) {
      if (strlen(r) > ESCROW__BLOB_NAME_MAX) {
        rc = escrow__err(ESCROW_E_LIMIT, "a file name under the dataset folder is longer than "
                         "%d bytes", ESCROW__BLOB_NAME_MAX);
      } else {
        escrow_blob_item item = {r, (uint64_t)st.st_size, NULL, NULL, NULL};
        c->stats.requests++;
        rc = cb(payload, &item);
      }
    }
    escrow__free(full);
    escrow__free(r);
  }
  for (size_t i = 0; i < n; i++)
    escrow__free(names[i]);
  escrow__free(names);
  escrow__free(dir);
  return rc;
}

/* ---- listing --------------------------------------------------------------------------------- */

static void reset_buffer(void *ud) { ((escrow__sb *)ud)->len = 0; }

static int sink_buffer(void *ud, const uint8_t *d, size_t n) {
  escrow__sb *b = ud;
  if (b->len + n > LIST_PAGE_MAX)
    return escrow__err(ESCROW_E_LIMIT, "a List Blobs page is larger than %u bytes",
                       LIST_PAGE_MAX);
  escrow__sb_add(b, (const char *)d, n);
  return b->oom ? escrow__err_nomem() : 0;
}

int escrow_blob_list(escrow_blob_client *c, const char *prefix, escrow_blob_list_cb cb,
                     void *payload) {
  if (c == NULL || cb == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_blob_list: NULL argument");
  if (prefix && prefix[0] == '\0')
    prefix = NULL;
  if (prefix && strlen(prefix) > ESCROW__BLOB_NAME_MAX)
    return escrow__err(ESCROW_E_LIMIT, "the prefix is longer than a blob name can be");
  if (c->is_file)
    return file_walk(c, "", prefix, cb, payload, 0);
  char *marker = NULL;
  int rc = 0;
  xfer x = {0};
  do {
    escrow__sb q = {0};
    escrow__sb_adds(&q, "restype=container&comp=list");
    char mr[32];
    snprintf(mr, sizeof mr, "&maxresults=%u", LIST_MAX_RESULTS);
    escrow__sb_adds(&q, mr);
    if (prefix) {
      escrow__sb_adds(&q, "&prefix=");
      escrow__sb_add_pct(&q, prefix, false);
    }
    if (marker) {
      escrow__sb_adds(&q, "&marker=");
      escrow__sb_add_pct(&q, marker, false);
    }
    char *url = NULL, *what = NULL;
    if (q.oom)
      rc = escrow__err_nomem();
    else
      rc = blob_url(&url, &what, c, NULL, q.s);
    escrow__sb_free(&q);
    escrow__sb body = {0};
    if (rc == 0) {
      x.sink = sink_buffer;
      x.sink_ud = &body;
      x.reset = reset_buffer; /* a retried page starts over */
      rc = request(c, &x, "GET", url, NULL, what);
    }
    escrow__free(url);
    escrow__free(marker);
    marker = NULL;
    if (rc == 0) {
      escrow__blob_list_parser *p;
      rc = escrow__blob_list_parser_new(&p, cb, payload);
      if (rc == 0) {
        rc = escrow__blob_list_parser_feed(p, body.s ? body.s : "", body.len);
        if (rc == 0)
          rc = escrow__blob_list_parser_finish(p, &marker);
        if (rc < 0 && rc == ESCROW_E_FORMAT)
          escrow__err(ESCROW_E_FORMAT, "GET %s (List Blobs): %s", what, escrow_error_last());
        escrow__blob_list_parser_free(p);
      }
    }
    escrow__free(what);
    escrow__sb_free(&body);
  } while (rc == 0 && marker != NULL);
  escrow__free(marker);
  xfer_cleanup(&x);
  return rc;
}

/* ---- properties ------------------------------------------------------------------------------ */

static int md5_file_b64(const escrow_blob_client *c, const char *path, char out[25]);

int escrow_blob_stat(escrow_blob_client *c, const char *name, uint64_t *size, char *md5_b64) {
  if (c == NULL || size == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_blob_stat: NULL argument");
  int rc = check_name(name);
  if (rc)
    return rc;
  if (md5_b64)
    md5_b64[0] = '\0';
  if (c->is_file) {
    char *path;
    rc = file_path(&path, c, name);
    if (rc)
      return rc;
    struct stat st;
    if (stat(path, &st) != 0)
      rc = escrow__err_errno("cannot stat", path);
    else if (!S_ISREG(st.st_mode))
      rc = escrow__err(ESCROW_E_NOTFOUND, "'%s' is not a file", path);
    else
      *size = (uint64_t)st.st_size;
    escrow__free(path);
    return rc;
  }
  char *url, *what;
  rc = blob_url(&url, &what, c, name, NULL);
  if (rc)
    return rc;
  xfer x = {0};
  rc = request(c, &x, "HEAD", url, NULL, what);
  if (rc == 0) {
    if (!x.has_cl)
      rc = escrow__err(ESCROW_E_FORMAT, "HEAD %s: no Content-Length in the answer", what);
    else
      *size = x.content_length;
    if (rc == 0 && md5_b64 && strlen(x.md5) == 24)
      memcpy(md5_b64, x.md5, 25);
  }
  xfer_cleanup(&x);
  escrow__free(url);
  escrow__free(what);
  return rc;
}

/* ---- downloading ----------------------------------------------------------------------------- */

typedef struct get_state {
  escrow_blob_write_fn write;
  void *payload;
  escrow_progress_cb progress;
  void *progress_payload;
  uint64_t done, total;
} get_state;

static int get_sink(void *ud, const uint8_t *d, size_t n) {
  get_state *g = ud;
  int rc = g->write(g->payload, d, n);
  if (rc != 0)
    return rc < 0 ? rc : escrow__err(ESCROW_E_IO, "the download was stopped by its receiver");
  g->done += n;
  if (g->progress)
    g->progress(g->progress_payload, g->done, g->total);
  return 0;
}

/* Parse "bytes a-b/total". */
static bool parse_content_range(const char *s, uint64_t *first, uint64_t *total) {
  unsigned long long a, b, t;
  char tail;
  if (sscanf(s, "bytes %llu-%llu/%llu%c", &a, &b, &t, &tail) != 3 || b < a || b >= t)
    return false;
  *first = a;
  *total = t;
  return true;
}

static int file_get(escrow_blob_client *c, const char *name, uint64_t offset, uint64_t length,
                    get_state *g) {
  char *path;
  int rc = file_path(&path, c, name);
  if (rc)
    return rc;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    rc = escrow__err_errno("cannot open", path);
    if (fd >= 0)
      close(fd);
    escrow__free(path);
    return rc;
  }
  c->stats.requests++;
  uint64_t size = (uint64_t)st.st_size;
  if (!S_ISREG(st.st_mode))
    rc = escrow__err(ESCROW_E_NOTFOUND, "'%s' is not a file", path);
  else if (offset > size || (offset == size && size > 0 && length != 0))
    rc = escrow__err(ESCROW_E_INVALID, "offset %llu is past the end of '%s' (%llu bytes)",
                     (unsigned long long)offset, name, (unsigned long long)size);
  uint64_t end = length == ESCROW_BLOB_TO_END || length > size - offset ? size : offset + length;
  g->total = end - offset;
  uint8_t *buf = rc ? NULL : escrow__malloc(FILE_CHUNK);
  if (rc == 0 && buf == NULL)
    rc = escrow__err_nomem();
  for (uint64_t pos = offset; rc == 0 && pos < end;) {
    size_t want = end - pos > FILE_CHUNK ? FILE_CHUNK : (size_t)(end - pos), got;
    rc = escrow__pread_full(fd, buf, want, pos, &got, path);
    if (rc == 0 && got == 0)
      rc = escrow__err(ESCROW_E_TRUNCATED, "'%s' shrank while it was read", path);
    if (rc == 0) {
      rc = get_sink(g, buf, got);
      c->stats.bytes_down += got;
      pos += got;
    }
  }
  escrow__free(buf);
  close(fd);
  escrow__free(path);
  return rc;
}

int escrow_blob_get(escrow_blob_client *c, const char *name, uint64_t offset, uint64_t length,
                    escrow_blob_write_fn write, void *payload, escrow_progress_cb progress,
                    void *progress_payload) {
  if (c == NULL || write == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_blob_get: NULL argument");
  int rc = check_name(name);
  if (rc)
    return rc;
  get_state g = {write, payload, progress, progress_payload, 0, 0};
  if (c->is_file)
    return file_get(c, name, offset, length, &g);
  if (length == 0)
    return 0;
  char *url, *what;
  rc = blob_url(&url, &what, c, name, NULL);
  if (rc)
    return rc;
  xfer x = {0};
  x.sink = get_sink;
  x.sink_ud = &g;
  uint64_t pos = offset;
  uint64_t end = length == ESCROW_BLOB_TO_END ? UINT64_MAX : offset + length; /* exclusive */
  if (end < offset)
    end = UINT64_MAX;
  bool know_end = end != UINT64_MAX;
  char etag[160] = "";
  unsigned attempt = 0, retries_total = 0;
  for (;;) {
    char range[96], ifmatch[200];
    const char *hdrs[3] = {NULL, NULL, NULL};
    size_t nh = 0;
    bool ranged = pos > 0 || know_end;
    if (ranged) {
      if (know_end)
        snprintf(range, sizeof range, "Range: bytes=%llu-%llu", (unsigned long long)pos,
                 (unsigned long long)(end - 1));
      else
        snprintf(range, sizeof range, "Range: bytes=%llu-", (unsigned long long)pos);
      hdrs[nh++] = range;
    }
    if (etag[0]) {
      snprintf(ifmatch, sizeof ifmatch, "If-Match: %s", etag);
      hdrs[nh++] = ifmatch;
    }
    rc = xfer_setup(&x, c, c->easy, "GET", url, hdrs);
    if (rc)
      break;
    x.ranged = ranged;
    x.range_start = pos;
    x.limit = know_end ? end - pos : UINT64_MAX;
    c->stats.requests++;
    CURLcode cc = curl_easy_perform(c->easy);
    uint64_t got = x.received;
    pos += got;
    rc = xfer_outcome(&x, cc, "GET", what);
    if (rc == 0 || rc == OUTCOME_RETRY) {
      if (etag[0] == '\0' && x.etag[0])
        snprintf(etag, sizeof etag, "%s", x.etag);
    }
    if ((rc == OUTCOME_OK || rc == OUTCOME_RETRY) && !know_end) {
      /* learn the end from the first answer that tells it */
      uint64_t first, total;
      if (x.status == 206 && parse_content_range(x.content_range, &first, &total)) {
        end = total;
        know_end = true;
      } else if (x.status == 200 && x.has_cl) {
        end = x.content_length;
        know_end = true;
      } else if (rc == OUTCOME_OK) {
        rc = escrow__err(ESCROW_E_FORMAT, "GET %s: the answer gives no size", what);
        break;
      }
      if (know_end)
        g.total = end - offset;
    } else if ((rc == OUTCOME_OK || rc == OUTCOME_RETRY) && x.status == 206) {
      /* a range asked past the end of the blob stops at its end, as for file:// */
      uint64_t first, total;
      if (parse_content_range(x.content_range, &first, &total) && total < end) {
        end = total > pos - got ? total : pos - got;
        g.total = end - offset;
      }
    }
    if (rc == OUTCOME_OK) {
      if (pos >= end)
        break; /* done */
      escrow__err(ESCROW_E_TRUNCATED, "GET %s: the answer ended at byte %llu of %llu", what,
                  (unsigned long long)pos, (unsigned long long)end);
      rc = OUTCOME_RETRY;
    }
    if (rc != OUTCOME_RETRY)
      break;
    /* transient: resume from pos; progress resets the attempt count, within a global cap */
    if (got > 0)
      attempt = 0;
    if (attempt >= c->o.max_retries || retries_total >= 8u * c->o.max_retries + 64u) {
      rc = escrow_error_last_code();
      break;
    }
    c->stats.retries++;
    retries_total++;
    backoff(c, attempt++);
  }
  if (rc == 0 && know_end && g.total == 0 && g.progress)
    g.progress(g.progress_payload, 0, 0);
  xfer_cleanup(&x);
  escrow__free(url);
  escrow__free(what);
  return rc;
}

/* Outputs are fsynced before they are renamed into place. Starting the writeback of every
 * 8 MiB as the data arrives, instead of leaving all of it to the final fsync, overlaps the disk
 * with the network (a 256 MiB fsync alone takes about as long as the download). */
#define WRITEBACK_STEP (8u << 20)

typedef struct fd_sink {
  int fd;
  const char *path;
  uint64_t written, started;
} fd_sink;

static int sink_write(fd_sink *o, const uint8_t *d, size_t n) {
  int rc = escrow__write_all(o->fd, d, n, o->path);
  if (rc)
    return rc;
  o->written += n;
#ifdef SYNC_FILE_RANGE_WRITE
  if (o->written - o->started >= WRITEBACK_STEP) {
    /* a hint only: any write error shows at the final fsync */
    (void)sync_file_range(o->fd, (off_t)o->started, (off_t)(o->written - o->started),
                          SYNC_FILE_RANGE_WRITE);
    o->started = o->written;
  }
#endif
  return 0;
}

static int write_fd(void *ud, const uint8_t *d, size_t n) { return sink_write(ud, d, n); }

int escrow_blob_get_file(escrow_blob_client *c, const char *name, const char *out_path,
                         escrow_progress_cb progress, void *progress_payload) {
  if (c == NULL || out_path == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_blob_get_file: NULL argument");
  escrow__atomic a;
  int rc = escrow__atomic_open(&a, out_path, 0644, false);
  if (rc)
    return rc;
  fd_sink s = {a.fd, a.tmp_path, 0, 0};
  rc = escrow_blob_get(c, name, 0, ESCROW_BLOB_TO_END, write_fd, &s, progress, progress_payload);
  if (rc == 0)
    return escrow__atomic_commit(&a);
  escrow__atomic_abort(&a);
  return rc;
}

/* decrypt while downloading */
typedef struct dec_sink {
  const escrow_cek *cek;
  const escrow_decrypt_options *opts;
  escrow_file_format fmt;
  uint8_t head[8];
  size_t head_len;
  escrow_decryptor *d;
  uint8_t *out;
  size_t out_size;
  fd_sink out_f;        /* plaintext (atomic temp); fd -1 when write is set */
  escrow_blob_write_fn write; /* plaintext to a receiver instead (v1 only) */
  void *write_payload;
  const char *final_path;
  int v0_fd;            /* v0: ciphertext staged here */
  char *v0_path;
} dec_sink;

#define DEC_PIECE (64u * 1024u)

static int dec_feed(dec_sink *s, const uint8_t *d, size_t n) {
  if (s->fmt == ESCROW_FORMAT_V0)
    return escrow__write_all(s->v0_fd, d, n, s->v0_path);
  while (n > 0) {
    size_t piece = n > DEC_PIECE ? DEC_PIECE : n, w = 0;
    size_t need = escrow_decryptor_update_bound(s->d, piece);
    if (need > s->out_size) { /* the bound follows the held chunk: at most one chunk more */
      uint8_t *nb = escrow__secure_malloc(need);
      if (nb == NULL)
        return escrow__err_nomem();
      escrow__secure_free(s->out);
      s->out = nb;
      s->out_size = need;
    }
    int rc = escrow_decryptor_update(s->d, s->out, s->out_size, &w, d, piece);
    if (rc)
      return rc;
    if (w)
      rc = s->write ? s->write(s->write_payload, s->out, w)
                    : sink_write(&s->out_f, s->out, w);
    if (rc)
      return rc < 0 ? rc : escrow__err(ESCROW_E_IO, "the download was stopped by its receiver");
    d += piece;
    n -= piece;
  }
  return 0;
}

static int dec_start(dec_sink *s) {
  s->fmt = escrow_detect_format(s->head, s->head_len);
  if (s->fmt == ESCROW_FORMAT_V1) {
    int rc = escrow_decryptor_new(&s->d, s->cek, s->opts);
    if (rc)
      return rc;
    size_t b1 = escrow_decryptor_update_bound(s->d, DEC_PIECE);
    size_t b2 = escrow_decryptor_final_bound(s->d);
    s->out_size = b1 > b2 ? b1 : b2;
    s->out = escrow__secure_malloc(s->out_size);
    if (s->out == NULL)
      return escrow__err_nomem();
    return 0;
  }
  if (s->fmt == ESCROW_FORMAT_V0) {
    if (s->write)
      return escrow__err(ESCROW_E_UNSUPPORTED, "a legacy v0 blob has its only tag at its end, so "
                         "it cannot be streamed to a receiver: use escrow_blob_get_decrypt_file");
    if (s->opts && (s->opts->expect_path || s->opts->expect_hdrtag))
      return escrow__err(ESCROW_E_MISMATCH, "a legacy v0 file carries no path or header tag to "
                                            "check");
    /* v0 has one tag at its end: stage the ciphertext (never plaintext) beside the output */
    size_t n = strlen(s->final_path) + 16;
    s->v0_path = escrow__malloc(n);
    if (s->v0_path == NULL)
      return escrow__err_nomem();
    snprintf(s->v0_path, n, "%s.v0-XXXXXX", s->final_path);
    s->v0_fd = mkstemp(s->v0_path);
    if (s->v0_fd < 0) {
      int rc = escrow__err_errno("cannot create a staging file", s->v0_path);
      escrow__free(s->v0_path);
      s->v0_path = NULL;
      return rc;
    }
    return 0;
  }
  return escrow__err(ESCROW_E_FORMAT, "the blob is neither BKENC v1 nor legacy v0 (unknown "
                                      "magic)");
}

static int dec_write(void *ud, const uint8_t *d, size_t n) {
  dec_sink *s = ud;
  if (s->fmt == ESCROW_FORMAT_UNKNOWN) {
    size_t k = sizeof s->head - s->head_len;
    if (k > n)
      k = n;
    memcpy(s->head + s->head_len, d, k);
    s->head_len += k;
    d += k;
    n -= k;
    if (s->head_len < sizeof s->head)
      return 0;
    int rc = dec_start(s);
    if (rc == 0)
      rc = dec_feed(s, s->head, s->head_len);
    if (rc)
      return rc;
  }
  return n ? dec_feed(s, d, n) : 0;
}

int escrow_blob_get_decrypt_file(escrow_blob_client *c, const char *name,
                                 const escrow_cek *cek, const escrow_decrypt_options *opts,
                                 const char *out_path, escrow_progress_cb progress,
                                 void *progress_payload) {
  if (c == NULL || cek == NULL || out_path == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_blob_get_decrypt_file: NULL argument");
  escrow__atomic a;
  int rc = escrow__atomic_open(&a, out_path, 0600, false);
  if (rc)
    return rc;
  dec_sink s = {.cek = cek, .opts = opts, .out_f = {a.fd, a.tmp_path, 0, 0},
                .final_path = out_path, .v0_fd = -1};
  rc = escrow_blob_get(c, name, 0, ESCROW_BLOB_TO_END, dec_write, &s, progress,
                       progress_payload);
  if (rc == 0 && s.fmt == ESCROW_FORMAT_UNKNOWN) {
    /* fewer than 8 bytes */
    rc = dec_start(&s);
    if (rc == 0)
      rc = escrow__err(ESCROW_E_FORMAT, "the blob is too short to be encrypted");
  }
  if (rc == 0 && s.fmt == ESCROW_FORMAT_V1 && escrow_decryptor_final_bound(s.d) > s.out_size) {
    uint8_t *nb = escrow__secure_malloc(escrow_decryptor_final_bound(s.d));
    if (nb == NULL) {
      rc = escrow__err_nomem();
    } else {
      escrow__secure_free(s.out);
      s.out = nb;
      s.out_size = escrow_decryptor_final_bound(s.d);
    }
  }
  if (rc == 0 && s.fmt == ESCROW_FORMAT_V1) {
    size_t w = 0;
    rc = escrow_decryptor_final(s.d, s.out, s.out_size, &w);
    if (rc == 0 && w)
      rc = escrow__write_all(a.fd, s.out, w, a.tmp_path);
  }
  if (rc == 0 && s.fmt == ESCROW_FORMAT_V0) {
    if (lseek(s.v0_fd, 0, SEEK_SET) < 0)
      rc = escrow__err_errno("cannot rewind", s.v0_path);
    else
      rc = escrow_legacy_decrypt_fd(cek, s.v0_fd, a.fd);
  }
  if (s.out)
    escrow__secure_free(s.out);
  escrow_decryptor_free(s.d);
  if (s.v0_fd >= 0) {
    close(s.v0_fd);
    unlink(s.v0_path);
  }
  escrow__free(s.v0_path);
  if (rc == 0)
    return escrow__atomic_commit(&a);
  escrow__atomic_abort(&a);
  return rc;
}

int escrow_blob_get_decrypt(escrow_blob_client *c, const char *name, const escrow_cek *cek,
                            const escrow_decrypt_options *opts, escrow_blob_write_fn write,
                            void *payload, escrow_progress_cb progress,
                            void *progress_payload) {
  if (c == NULL || cek == NULL || write == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_blob_get_decrypt: NULL argument");
  dec_sink s = {.cek = cek, .opts = opts, .out_f = {-1, NULL, 0, 0}, .write = write,
                .write_payload = payload, .v0_fd = -1};
  int rc = escrow_blob_get(c, name, 0, ESCROW_BLOB_TO_END, dec_write, &s, progress,
                           progress_payload);
  if (rc == 0 && s.fmt == ESCROW_FORMAT_UNKNOWN) {
    rc = dec_start(&s);
    if (rc == 0)
      rc = escrow__err(ESCROW_E_FORMAT, "the blob is too short to be encrypted");
  }
  if (rc == 0 && s.fmt == ESCROW_FORMAT_V1) {
    size_t need = escrow_decryptor_final_bound(s.d), w = 0;
    if (need > s.out_size) {
      uint8_t *nb = escrow__secure_malloc(need);
      if (nb == NULL) {
        rc = escrow__err_nomem();
      } else {
        escrow__secure_free(s.out);
        s.out = nb;
        s.out_size = need;
      }
    }
    if (rc == 0)
      rc = escrow_decryptor_final(s.d, s.out, s.out_size, &w);
    if (rc == 0 && w) {
      rc = write(payload, s.out, w);
      if (rc > 0)
        rc = escrow__err(ESCROW_E_IO, "the download was stopped by its receiver");
    }
  }
  if (s.out)
    escrow__secure_free(s.out);
  escrow_decryptor_free(s.d);
  return rc;
}

/* ---- uploading ------------------------------------------------------------------------------- */

static int md5_init(const escrow_blob_client *c, EVP_MD_CTX **ctx) {
  *ctx = EVP_MD_CTX_new();
  if (*ctx == NULL || EVP_DigestInit_ex(*ctx, c->md5, NULL) != 1) {
    EVP_MD_CTX_free(*ctx);
    *ctx = NULL;
    return escrow__err_openssl(ESCROW_E_CRYPTO, "cannot start MD5");
  }
  return 0;
}

static int md5_final_b64(EVP_MD_CTX *ctx, char out[25]) {
  uint8_t md[16];
  unsigned int l = 0;
  if (EVP_DigestFinal_ex(ctx, md, &l) != 1 || l != 16)
    return escrow__err_openssl(ESCROW_E_CRYPTO, "MD5 failed");
  sodium_bin2base64(out, 25, md, 16, sodium_base64_VARIANT_ORIGINAL);
  return 0;
}

static int md5_buf_b64(const escrow_blob_client *c, const uint8_t *d, size_t n, char out[25]) {
  EVP_MD_CTX *ctx;
  int rc = md5_init(c, &ctx);
  if (rc)
    return rc;
  rc = EVP_DigestUpdate(ctx, d, n) == 1 ? md5_final_b64(ctx, out)
                                        : escrow__err_openssl(ESCROW_E_CRYPTO, "MD5 failed");
  EVP_MD_CTX_free(ctx);
  return rc;
}

static int md5_file_b64(const escrow_blob_client *c, const char *path, char out[25]) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return escrow__err_errno("cannot open", path);
  EVP_MD_CTX *ctx;
  int rc = md5_init(c, &ctx);
  uint8_t *buf = rc ? NULL : escrow__malloc(FILE_CHUNK);
  if (rc == 0 && buf == NULL)
    rc = escrow__err_nomem();
  while (rc == 0) {
    size_t got;
    rc = escrow__read_full(fd, buf, FILE_CHUNK, &got, path);
    if (rc || got == 0)
      break;
    if (EVP_DigestUpdate(ctx, buf, got) != 1)
      rc = escrow__err_openssl(ESCROW_E_CRYPTO, "MD5 failed");
  }
  if (rc == 0)
    rc = md5_final_b64(ctx, out);
  escrow__free(buf);
  EVP_MD_CTX_free(ctx);
  close(fd);
  return rc;
}

static int put_file_local(escrow_blob_client *c, const char *name, int in_fd, const char *path,
                          uint64_t size, escrow_progress_cb progress, void *pp) {
  char *dst;
  int rc = file_path(&dst, c, name);
  if (rc)
    return rc;
  char *slash = strrchr(dst, '/');
  if (slash && slash != dst) {
    *slash = '\0';
    rc = escrow__mkdirs(dst, 0755);
    *slash = '/';
  }
  escrow__atomic a;
  if (rc == 0)
    rc = escrow__atomic_open(&a, dst, 0644, false);
  if (rc) {
    escrow__free(dst);
    return rc;
  }
  c->stats.requests++;
  uint8_t *buf = escrow__malloc(FILE_CHUNK);
  uint64_t done = 0;
  if (buf == NULL)
    rc = escrow__err_nomem();
  while (rc == 0) {
    size_t got;
    rc = escrow__read_full(in_fd, buf, FILE_CHUNK, &got, path);
    if (rc || got == 0)
      break;
    rc = escrow__write_all(a.fd, buf, got, a.tmp_path);
    done += got;
    c->stats.bytes_up += got;
    if (rc == 0 && progress)
      progress(pp, done, size);
  }
  escrow__free(buf);
  if (rc == 0)
    rc = escrow__atomic_commit(&a);
  else
    escrow__atomic_abort(&a);
  escrow__free(dst);
  return rc;
}

/* One in-flight block upload. */
typedef struct slot {
  CURL *h;
  xfer x;
  uint8_t *buf;
  size_t len;
  uint32_t index;
  unsigned attempt;
  bool busy;
  bool waiting;        /* backing off until retry_at */
  struct timespec retry_at;
  char *url;
  char md5_hdr[64];
} slot;

static void block_id(char out[33], uint32_t index) {
  char raw[32];
  snprintf(raw, sizeof raw, "escrow-blk-%05u", (unsigned)(index % 100000u));
  sodium_bin2base64(out, 33, (const uint8_t *)raw, 16, sodium_base64_VARIANT_ORIGINAL);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int slot_start(escrow_blob_client *c, CURLM *m, slot *s, const char *what) {
  const char *hdrs[] = {s->md5_hdr, NULL};
  s->x.up = s->buf;
  s->x.up_len = s->len;
  int rc = xfer_setup(&s->x, c, s->h, "PUT", s->url, hdrs);
  if (rc)
    return rc;
  (void)what;
  c->stats.requests++;
  if (curl_multi_add_handle(m, s->h) != CURLM_OK)
    return escrow__err(ESCROW_E_IO, "libcurl could not start a transfer");
  s->busy = true;
  s->waiting = false;
  return 0;
}

static int put_blocks(escrow_blob_client *c, const char *name, int fd, const char *path,
                      uint64_t size, char file_md5[25], escrow_progress_cb progress, void *pp,
                      const char *what) {
  uint64_t nblocks64 = (size + c->o.block_size - 1) / c->o.block_size;
  if (nblocks64 > MAX_BLOCKS)
    return escrow__err(ESCROW_E_LIMIT, "'%s' needs %llu blocks of %zu bytes; a blob has at most "
                       "%u", path, (unsigned long long)nblocks64, c->o.block_size, MAX_BLOCKS);
  uint32_t nblocks = (uint32_t)nblocks64;
  unsigned np = c->o.parallel < nblocks ? c->o.parallel : nblocks;
  CURLM *m = curl_multi_init();
  slot *slots = escrow__calloc(np, sizeof *slots);
  EVP_MD_CTX *md = NULL;
  int rc = 0;
  if (m == NULL || slots == NULL)
    rc = escrow__err_nomem();
  if (rc == 0)
    rc = md5_init(c, &md);
  for (unsigned i = 0; rc == 0 && i < np; i++) {
    slots[i].h = curl_easy_init();
    slots[i].buf = escrow__malloc(c->o.block_size);
    if (slots[i].h == NULL || slots[i].buf == NULL)
      rc = escrow__err_nomem();
  }
  uint32_t next = 0, acked = 0;
  uint64_t done = 0;
  while (rc == 0 && acked < nblocks) {
    /* fill free slots with the next blocks (read in order: the file MD5 follows) */
    for (unsigned i = 0; rc == 0 && i < np && next < nblocks; i++) {
      slot *s = &slots[i];
      if (s->busy || s->waiting)
        continue;
      size_t want = next + 1 == nblocks ? (size_t)(size - (uint64_t)next * c->o.block_size)
                                        : c->o.block_size;
      size_t got;
      rc = escrow__read_full(fd, s->buf, want, &got, path);
      if (rc == 0 && got != want)
        rc = escrow__err(ESCROW_E_IO, "'%s' changed size while it was uploaded", path);
      if (rc)
        break;
      if (EVP_DigestUpdate(md, s->buf, got) != 1) {
        rc = escrow__err_openssl(ESCROW_E_CRYPTO, "MD5 failed");
        break;
      }
      s->len = got;
      s->index = next++;
      s->attempt = 0;
      char id[33];
      block_id(id, s->index);
      /* no per-block Content-MD5: the transport checks blocks (TCP, TLS), and the blob's MD5
       * (x-ms-blob-content-md5, over the whole file) is what readers and skip-same rely on;
       * hashing every byte twice halved upload speed */
      snprintf(s->md5_hdr, sizeof s->md5_hdr, "Content-Type: application/octet-stream");
      escrow__sb q = {0};
      escrow__sb_adds(&q, "comp=block&blockid=");
      escrow__sb_add_pct(&q, id, false);
      escrow__free(s->url);
      s->url = NULL;
      rc = q.oom ? escrow__err_nomem() : blob_url(&s->url, NULL, c, name, q.s);
      escrow__sb_free(&q);
      if (rc == 0)
        rc = slot_start(c, m, s, what);
      break; /* one block per turn, so transfers in flight keep moving between reads */
    }
    if (rc)
      break;
    /* restart slots whose backoff is over */
    double t = now_s();
    for (unsigned i = 0; rc == 0 && i < np; i++)
      if (slots[i].waiting && (double)slots[i].retry_at.tv_sec +
                                      slots[i].retry_at.tv_nsec / 1e9 <= t)
        rc = slot_start(c, m, &slots[i], what);
    if (rc)
      break;
    int running = 0;
    if (curl_multi_perform(m, &running) != CURLM_OK) {
      rc = escrow__err(ESCROW_E_IO, "libcurl failed while uploading");
      break;
    }
    CURLMsg *msg;
    int left;
    while (rc == 0 && (msg = curl_multi_info_read(m, &left)) != NULL) {
      if (msg->msg != CURLMSG_DONE)
        continue;
      slot *s = NULL;
      for (unsigned i = 0; i < np; i++)
        if (slots[i].h == msg->easy_handle)
          s = &slots[i];
      if (s == NULL)
        continue;
      CURLcode cc = msg->data.result;
      curl_multi_remove_handle(m, s->h);
      s->busy = false;
      int o = xfer_outcome(&s->x, cc, "PUT", what);
      if (o == OUTCOME_OK) {
        acked++;
        done += s->len;
        c->stats.bytes_up += s->len;
        if (progress)
          progress(pp, done, size);
      } else if (o == OUTCOME_RETRY && s->attempt < c->o.max_retries) {
        c->stats.retries++;
        uint64_t ms = c->o.retry_base_ms;
        for (unsigned k = 0; k < s->attempt && ms < BACKOFF_CAP_MS; k++)
          ms *= 2;
        ms = ms / 2 + randombytes_uniform((uint32_t)(ms / 2 + 1));
        s->attempt++;
        clock_gettime(CLOCK_MONOTONIC, &s->retry_at);
        s->retry_at.tv_sec += (time_t)(ms / 1000);
        s->retry_at.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (s->retry_at.tv_nsec >= 1000000000L) {
          s->retry_at.tv_sec++;
          s->retry_at.tv_nsec -= 1000000000L;
        }
        s->waiting = true;
      } else {
        rc = o == OUTCOME_RETRY ? escrow_error_last_code() : o;
      }
    }
    if (rc == 0 && acked < nblocks) {
      int numfds;
      if (curl_multi_poll(m, NULL, 0, 20, &numfds) != CURLM_OK)
        rc = escrow__err(ESCROW_E_IO, "libcurl failed while waiting");
    }
  }
  if (rc == 0)
    rc = md5_final_b64(md, file_md5);
  for (unsigned i = 0; slots && i < np; i++) {
    if (slots[i].h) {
      if (slots[i].busy)
        curl_multi_remove_handle(m, slots[i].h);
      curl_easy_cleanup(slots[i].h);
    }
    xfer_cleanup(&slots[i].x);
    escrow__free(slots[i].buf);
    escrow__free(slots[i].url);
  }
  escrow__free(slots);
  EVP_MD_CTX_free(md);
  if (m)
    curl_multi_cleanup(m);
  if (rc)
    return rc;
  /* commit the block list */
  escrow__sb body = {0};
  escrow__sb_adds(&body, "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
  for (uint32_t i = 0; i < nblocks; i++) {
    char id[33];
    block_id(id, i);
    escrow__sb_adds(&body, "<Latest>");
    escrow__sb_adds(&body, id);
    escrow__sb_adds(&body, "</Latest>");
  }
  escrow__sb_adds(&body, "</BlockList>");
  char *url = NULL;
  if (body.oom)
    rc = escrow__err_nomem();
  else
    rc = blob_url(&url, NULL, c, name, "comp=blocklist");
  if (rc == 0) {
    char h1[80];
    snprintf(h1, sizeof h1, "x-ms-blob-content-md5: %s", file_md5);
    const char *hdrs[] = {h1, "Content-Type: application/xml", NULL};
    xfer x = {0};
    x.up = (const uint8_t *)body.s;
    x.up_len = body.len;
    rc = request(c, &x, "PUT", url, hdrs, what);
    xfer_cleanup(&x);
  }
  escrow__free(url);
  escrow__sb_free(&body);
  return rc;
}

/* One Put Blob streamed from fd (no buffer), its MD5 computed as the bytes go out, then set as
 * the blob's Content-MD5 with Set Blob Properties. */
static int put_streamed(escrow_blob_client *c, int fd, uint64_t size, const char *url,
                        const char *what) {
  xfer x = {0};
  x.up_from_fd = true;
  x.up_fd = fd;
  x.up_len = (size_t)size;
  x.up_md_type = c->md5;
  x.up_md = EVP_MD_CTX_new();
  if (x.up_md == NULL)
    return escrow__err_nomem();
  const char *hdrs[] = {"x-ms-blob-type: BlockBlob", "Content-Type: application/octet-stream",
                        NULL};
  int rc = request(c, &x, "PUT", url, hdrs, what);
  char m[25];
  if (rc == 0)
    rc = md5_final_b64(x.up_md, m);
  EVP_MD_CTX_free(x.up_md);
  xfer_cleanup(&x);
  if (rc)
    return rc;
  size_t n = strlen(url) + 32;
  char *purl = escrow__malloc(n);
  if (purl == NULL)
    return escrow__err_nomem();
  const char *q = strchr(url, '?');
  snprintf(purl, n, "%.*s?comp=properties&%s", (int)(q - url), url, q + 1);
  char h1[80];
  snprintf(h1, sizeof h1, "x-ms-blob-content-md5: %s", m);
  const char *phdrs[] = {h1, "x-ms-blob-content-type: application/octet-stream", NULL};
  xfer y = {0};
  rc = request(c, &y, "PUT", purl, phdrs, what);
  xfer_cleanup(&y);
  escrow__free(purl);
  return rc;
}

int escrow_blob_put_file(escrow_blob_client *c, const char *name, const char *path,
                         unsigned flags, int *skipped, escrow_progress_cb progress,
                         void *progress_payload) {
  if (skipped)
    *skipped = 0;
  if (c == NULL || path == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_blob_put_file: NULL argument");
  int rc = check_name(name);
  if (rc)
    return rc;
  if (!escrow__path_is_clean(name))
    return escrow__err(ESCROW_E_INVALID, "'%.200s' is not a clean relative blob name (no "
                       "'..', no leading '/', no empty or '.' parts)", name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    rc = escrow__err_errno("cannot open", path);
    if (fd >= 0)
      close(fd);
    return rc;
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return escrow__err(ESCROW_E_INVALID, "'%s' is not a regular file", path);
  }
  uint64_t size = (uint64_t)st.st_size;
  char local_md5[25] = "";
  if (flags & ESCROW_BLOB_PUT_SKIP_SAME) {
    uint64_t rsize;
    char rmd5[25];
    rc = escrow_blob_stat(c, name, &rsize, rmd5);
    if (rc == 0 && rsize == size) {
      if (c->is_file) {
        char *dst;
        rc = file_path(&dst, c, name);
        if (rc == 0) {
          rc = md5_file_b64(c, dst, rmd5);
          escrow__free(dst);
        }
      }
      if (rc == 0)
        rc = md5_file_b64(c, path, local_md5);
      if (rc == 0 && rmd5[0] && strcmp(rmd5, local_md5) == 0) {
        close(fd);
        if (skipped)
          *skipped = 1;
        if (progress)
          progress(progress_payload, size, size);
        return 0;
      }
    } else if (rc == ESCROW_E_NOTFOUND || rc == ESCROW_E_AUTH || rc == 0) {
      /* not there, or a write-only SAS that may not read it: upload (the PUT will say if the
       * SAS does not allow that either) */
      rc = 0;
    }
    if (rc) {
      close(fd);
      return rc;
    }
  }
  if (c->is_file) {
    rc = put_file_local(c, name, fd, path, size, progress, progress_payload);
    close(fd);
    return rc;
  }
  char *what = NULL, *url = NULL;
  rc = blob_url(&url, &what, c, name, NULL);
  if (rc) {
    close(fd);
    return rc;
  }
  if (size > SMALL_PUT_MAX && size <= c->o.single_put_max) {
    rc = put_streamed(c, fd, size, url, what);
    if (rc == 0 && progress)
      progress(progress_payload, size, size);
  } else if (size <= c->o.single_put_max) {
    uint8_t *buf = escrow__malloc(size ? size : 1);
    size_t got = 0;
    if (buf == NULL)
      rc = escrow__err_nomem();
    if (rc == 0)
      rc = escrow__read_full(fd, buf, size, &got, path);
    if (rc == 0 && got != size)
      rc = escrow__err(ESCROW_E_IO, "'%s' changed size while it was read", path);
    char m[25];
    if (rc == 0)
      rc = md5_buf_b64(c, buf, size, m);
    if (rc == 0) {
      char h1[64], h2[80];
      snprintf(h1, sizeof h1, "Content-MD5: %s", m);
      snprintf(h2, sizeof h2, "x-ms-blob-content-md5: %s", m);
      const char *hdrs[] = {"x-ms-blob-type: BlockBlob", h1, h2,
                            "Content-Type: application/octet-stream", NULL};
      xfer x = {0};
      x.up = buf;
      x.up_len = size;
      rc = request(c, &x, "PUT", url, hdrs, what);
      xfer_cleanup(&x);
      if (rc == 0 && progress)
        progress(progress_payload, size, size);
    }
    escrow__free(buf);
  } else {
    char m[25];
    rc = put_blocks(c, name, fd, path, size, m, progress, progress_payload, what);
  }
  close(fd);
  escrow__free(url);
  escrow__free(what);
  return rc;
}
