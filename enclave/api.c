/* The Enclave API (DESIGN §7) served to the sandbox over a unix socket, and the egress gate:
 * only a Completed report that passed the approved criteria is kept for output; a refused
 * report's reason is the criteria's errors with the document's values redacted; progress lines
 * are capped. HTTPS with a per-run CA (tls.c), or plain HTTP when asked. */
#define _GNU_SOURCE
#include "enclave.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

/* TLS 1.3 or 1.2, AEAD suites only, AES-128-GCM first (the server's order): the cheapest
 * cipher every client has, for the download speed; the API is reachable only on the sandbox's
 * loopback */
#define ENC_TLS_PRIORITIES                                                                     \
  "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:"          \
  "+CHACHA20-POLY1305:%SERVER_PRECEDENCE"
#define BODY_MAX_REPORT (16u << 20) /* a report body */
#define BODY_MAX_SMALL (256u << 10) /* log lines, file requests */

/* ---- small JSON helpers ----------------------------------------------------------------------- */

static void gen_value(yajl_gen g, yajl_val v) {
  if (YAJL_IS_STRING(v)) {
    yajl_gen_string(g, (const unsigned char *)v->u.string, strlen(v->u.string));
  } else if (YAJL_IS_NUMBER(v)) {
    yajl_gen_number(g, v->u.number.r, strlen(v->u.number.r));
  } else if (YAJL_IS_OBJECT(v)) {
    yajl_gen_map_open(g);
    for (size_t i = 0; i < v->u.object.len; i++) {
      yajl_gen_string(g, (const unsigned char *)v->u.object.keys[i], strlen(v->u.object.keys[i]));
      gen_value(g, v->u.object.values[i]);
    }
    yajl_gen_map_close(g);
  } else if (YAJL_IS_ARRAY(v)) {
    yajl_gen_array_open(g);
    for (size_t i = 0; i < v->u.array.len; i++) gen_value(g, v->u.array.values[i]);
    yajl_gen_array_close(g);
  } else if (YAJL_IS_TRUE(v)) {
    yajl_gen_bool(g, 1);
  } else if (YAJL_IS_FALSE(v)) {
    yajl_gen_bool(g, 0);
  } else {
    yajl_gen_null(g);
  }
}

static char *gen_take(yajl_gen g) {
  const unsigned char *buf;
  size_t len;
  char *out = NULL;
  if (yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok) out = strndup((const char *)buf, len);
  yajl_gen_free(g);
  return out;
}

static char *value_json(yajl_val v) {
  yajl_gen g = yajl_gen_alloc(NULL);
  if (!g) return NULL;
  yajl_gen_config(g, yajl_gen_validate_utf8, 1);
  gen_value(g, v);
  return gen_take(g);
}

/* a JSON string literal of s (malloc'd) */
static char *json_str(const char *s, size_t n);
char *enc_json_str(const char *s, size_t n) { return json_str(s, n); }
static char *json_str(const char *s, size_t n) {
  yajl_gen g = yajl_gen_alloc(NULL);
  if (!g) return NULL;
  if (yajl_gen_string(g, (const unsigned char *)s, n) != yajl_gen_status_ok) {
    /* not UTF-8: replace bytes >= 0x80 */
    yajl_gen_free(g);
    char *c = strndup(s, n);
    if (!c) return NULL;
    for (size_t i = 0; i < n; i++)
      if ((unsigned char)c[i] >= 0x80) c[i] = '?';
    g = yajl_gen_alloc(NULL);
    if (!g) { free(c); return NULL; }
    yajl_gen_string(g, (const unsigned char *)c, n);
    free(c);
  }
  return gen_take(g);
}

static yajl_val parse_obj(const char *text) {
  char ebuf[64];
  yajl_val v = yajl_tree_parse(text, ebuf, sizeof(ebuf));
  if (v && !YAJL_IS_OBJECT(v)) { yajl_tree_free(v); v = NULL; }
  return v;
}

static const char *obj_str(yajl_val o, const char *key) {
  const char *path[] = {key, NULL};
  yajl_val v = yajl_tree_get(o, path, yajl_t_string);
  return v ? v->u.string : NULL;
}

/* ---- logs.jsonl ------------------------------------------------------------------------------- */

static void now_iso(char out[32]) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  char base[24];
  strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, 32, "%.20s.%03dZ", base, (int)(ts.tv_nsec / 1000000) % 1000);
}

static void log_write(enc_log *l, const char *line) {
  if (l->fd < 0) return;
  size_t n = strlen(line);
  while (n) {
    ssize_t w = write(l->fd, line, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    line += w;
    n -= (size_t)w;
  }
}

void enc_log_platform(enc_log *l, const char *stage, const char *fmt, ...) {
  char msg[2048], ts[32], *line = NULL;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  now_iso(ts);
  char *m = json_str(msg, strlen(msg)), *s = json_str(stage, strlen(stage));
  if (m && s &&
      asprintf(&line,
               "{\"time\":\"%s\",\"source\":\"platform\",\"stage\":%s,\"message\":%s,"
               "\"simulated_tee\":true}\n",
               ts, s, m) >= 0) {
    pthread_mutex_lock(&l->mu);
    log_write(l, line);
    pthread_mutex_unlock(&l->mu);
    free(line);
  }
  free(m);
  free(s);
}

static const char *known_status(const char *s) {
  static const char *const ok[] = {"In Progress", "Completed", "Failed", NULL};
  if (!s) return NULL;
  for (size_t i = 0; ok[i]; i++)
    if (!strcmp(s, ok[i])) return ok[i];
  return "other";
}

int enc_log_progress(enc_log *l, const char *message, size_t len, const char *status) {
  char ts[32], *line = NULL;
  int kept = 0;
  pthread_mutex_lock(&l->mu);
  if (l->progress_lines >= ENC_PROGRESS_MAX_LINES) {
    l->progress_dropped++;
  } else {
    l->progress_lines++;
    int cut = len > ENC_PROGRESS_MAX_BYTES;
    if (cut) {
      len = ENC_PROGRESS_MAX_BYTES;
      while (len && ((unsigned char)message[len] & 0xC0) == 0x80) len--; /* whole characters */
    }
    char *m = json_str(message, len);
    const char *st = known_status(status);
    now_iso(ts);
    if (m && asprintf(&line,
                      "{\"time\":\"%s\",\"source\":\"algorithm\",\"stage\":\"Run\",\"message\":%s"
                      "%s%s%s%s,\"simulated_tee\":true}\n",
                      ts, m, st ? ",\"status\":\"" : "", st ? st : "", st ? "\"" : "",
                      cut ? ",\"truncated\":true" : "") >= 0) {
      log_write(l, line);
      free(line);
      kept = 1;
    }
    if (l->progress_lines == ENC_PROGRESS_MAX_LINES) {
      now_iso(ts);
      if (asprintf(&line,
                   "{\"time\":\"%s\",\"source\":\"platform\",\"stage\":\"Run\",\"message\":"
                   "\"progress messages capped at %d lines: later ones are dropped\","
                   "\"simulated_tee\":true}\n",
                   ts, ENC_PROGRESS_MAX_LINES) >= 0) {
        log_write(l, line);
        free(line);
      }
    }
    free(m);
  }
  pthread_mutex_unlock(&l->mu);
  return kept;
}

/* ---- json_data decoding ----------------------------------------------------------------------- */

static int b64_decode(const char *s, size_t n, unsigned char **out, size_t *outlen) {
  /* standard or URL-safe alphabet, padding optional, no whitespace */
  size_t padded = (n + 3) / 4 * 4;
  char *t = malloc(padded + 1);
  unsigned char *o = malloc(padded / 4 * 3 + 1);
  if (!t || !o) { free(t); free(o); return -1; }
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '-') c = '+';
    else if (c == '_') c = '/';
    else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '+' || c == '/' || (c == '=' && i + 2 >= n))) {
      free(t); free(o); return -1;
    }
    t[i] = c;
  }
  size_t m = n;
  while (m < padded) t[m++] = '=';
  t[m] = 0;
  int r = m ? EVP_DecodeBlock(o, (const unsigned char *)t, (int)m) : 0;
  if (r < 0) { free(t); free(o); return -1; }
  size_t pad = 0;
  while (pad < m && pad < 2 && t[m - 1 - pad] == '=') pad++;
  free(t);
  *outlen = (size_t)r - pad;
  o[*outlen] = 0;
  *out = o;
  return 0;
}

/* an object, or a string (a document Cerberus would refuse, accepted only without criteria) */
static yajl_val parse_doc(const char *text) {
  char ebuf[64];
  yajl_val v = yajl_tree_parse(text, ebuf, sizeof(ebuf));
  if (v && !YAJL_IS_OBJECT(v) && !YAJL_IS_STRING(v)) { yajl_tree_free(v); v = NULL; }
  return v;
}

int enc_json_data_decode(const char *text, size_t len, char **doc) {
  *doc = NULL;
  char *z = strndup(text, len);
  if (!z) return -1;
  char ebuf[64];
  yajl_val v = yajl_tree_parse(z, ebuf, sizeof(ebuf));
  free(z);
  if (!v) return -1;
  yajl_val inner = NULL;
  int rc = -1;
  if (YAJL_IS_OBJECT(v)) {
    *doc = value_json(v);
    rc = *doc ? 0 : -1;
  } else if (YAJL_IS_STRING(v)) {
    /* as libescrow reads it: JSON text when it starts with '{' or '[', else base64 of JSON */
    const char *s = v->u.string;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
    if (*s == '{' || *s == '[') {
      inner = parse_obj(s);
    } else {
      unsigned char *raw = NULL;
      size_t rl = 0;
      if (b64_decode(s, strlen(s), &raw, &rl) == 0 && strlen((char *)raw) == rl)
        inner = parse_doc((char *)raw);
      free(raw);
    }
    if (inner) *doc = value_json(inner);
    rc = *doc ? 0 : -1;
  }
  if (inner) yajl_tree_free(inner);
  yajl_tree_free(v);
  return rc;
}

/* ---- refused-report errors: field names the criteria do not know are the document's -------- */

static int key_known(yajl_val crit, const char *k) {
  if (!crit) return 0;
  if (YAJL_IS_OBJECT(crit)) {
    for (size_t i = 0; i < crit->u.object.len; i++)
      if (!strcmp(crit->u.object.keys[i], k) || key_known(crit->u.object.values[i], k)) return 1;
  } else if (YAJL_IS_ARRAY(crit)) {
    for (size_t i = 0; i < crit->u.array.len; i++)
      if (key_known(crit->u.array.values[i], k)) return 1;
  }
  return 0;
}

static int all_digits(const char *k) {
  if (!*k || strlen(k) > 9) return 0;
  for (; *k; k++)
    if (*k < '0' || *k > '9') return 0;
  return 1;
}

static void gen_redacted(yajl_gen g, yajl_val v, yajl_val crit, size_t *n_red) {
  if (YAJL_IS_OBJECT(v)) {
    yajl_gen_map_open(g);
    for (size_t i = 0; i < v->u.object.len; i++) {
      const char *k = v->u.object.keys[i];
      if (key_known(crit, k) || all_digits(k)) {
        yajl_gen_string(g, (const unsigned char *)k, strlen(k));
      } else {
        char r[48];
        snprintf(r, sizeof(r), "<redacted field %zu>", ++*n_red);
        yajl_gen_string(g, (const unsigned char *)r, strlen(r));
      }
      gen_redacted(g, v->u.object.values[i], crit, n_red);
    }
    yajl_gen_map_close(g);
  } else if (YAJL_IS_ARRAY(v)) {
    yajl_gen_array_open(g);
    for (size_t i = 0; i < v->u.array.len; i++) gen_redacted(g, v->u.array.values[i], crit, n_red);
    yajl_gen_array_close(g);
  } else {
    gen_value(g, v);
  }
}

char *enc_redact_error_fields(const char *errors_json, const char *criteria_json) {
  char ebuf[64];
  yajl_val e = yajl_tree_parse(errors_json, ebuf, sizeof(ebuf));
  yajl_val c = criteria_json ? yajl_tree_parse(criteria_json, ebuf, sizeof(ebuf)) : NULL;
  char *out = NULL;
  yajl_gen g = e ? yajl_gen_alloc(NULL) : NULL;
  if (g) {
    size_t n = 0;
    gen_redacted(g, e, c, &n);
    out = gen_take(g);
  }
  if (e) yajl_tree_free(e);
  if (c) yajl_tree_free(c);
  return out;
}

/* ---- connections ------------------------------------------------------------------------------ */

typedef struct conn {
  char *body;
  size_t len, cap, max;
  int too_big;
  /* POST /api/v1/report/artifact */
  int artifact;                 /* this request is an artifact upload */
  struct MHD_PostProcessor *pp;
  enc_api *api;
  int afd;                      /* the artifact being received, or -1 */
  char atmp[4200];              /* its temporary path */
  char aname[132];              /* its name in model.zip */
  int afiles;                   /* artifact_file parts seen */
  uint64_t abytes;              /* bytes of this upload counted against the run's cap */
  unsigned aerr;                /* an HTTP status to answer with (413, 500), or 0 */
} conn;

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *json) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(strlen(json), (void *)json, MHD_RESPMEM_MUST_COPY);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, "Content-Type", "application/json");
  enum MHD_Result ret = MHD_queue_response(c, code, r);
  MHD_destroy_response(r);
  return ret;
}

int enc_reply(struct MHD_Connection *c, unsigned code, const char *json) {
  return (int)reply(c, code, json);
}

static enum MHD_Result reply_msg(struct MHD_Connection *c, unsigned code, const char *status,
                                 const char *msg) {
  char *m = json_str(msg, strlen(msg)), *out = NULL;
  enum MHD_Result ret = MHD_NO;
  if (m && asprintf(&out, "{\"status\":\"%s\",\"message\":%s}", status, m) >= 0) {
    ret = reply(c, code, out);
    free(out);
  }
  free(m);
  return ret;
}

/* ---- data ------------------------------------------------------------------------------------- */

typedef struct list_ctx {
  yajl_gen g;
  size_t n;
  char *dir; /* a file:// dataset's folder (decoded), or NULL */
} list_ctx;

int enc_upload_date(const char *last_modified, const char *path, char *out, size_t outlen) {
  struct tm tm;
  memset(&tm, 0, sizeof(tm));
  if (last_modified) {
    const char *e = strptime(last_modified, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!e || *e) return -1;
    return strftime(out, outlen, "%Y-%m-%dT%H:%M:%S.000Z", &tm) ? 0 : -1;
  }
  struct stat st;
  if (!path || lstat(path, &st) != 0 || !gmtime_r(&st.st_mtim.tv_sec, &tm)) return -1;
  char base[24];
  if (!strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm)) return -1;
  int n = snprintf(out, outlen, "%.20s.%03dZ", base, (int)(st.st_mtim.tv_nsec / 1000000) % 1000);
  return n > 0 && (size_t)n < outlen ? 0 : -1;
}

/* the folder of a file:// URL, percent-decoded (malloc'd), or NULL */
static char *file_url_dir(const char *url) {
  if (!url || strncmp(url, "file://", 7) != 0) return NULL;
  const char *p = url + 7;
  char *d = malloc(strlen(p) + 1);
  if (!d) return NULL;
  size_t n = 0;
  for (; *p; p++) {
    unsigned hi, lo;
    if (*p == '%' && p[1] && p[2] && sscanf(p + 1, "%1x%1x", &hi, &lo) == 2) {
      d[n++] = (char)(hi * 16 + lo);
      p += 2;
    } else {
      d[n++] = *p;
    }
  }
  d[n] = 0;
  if (memchr(d, 0, n) || d[0] != '/') { free(d); return NULL; } /* a %00 or a relative path */
  return d;
}

static int list_cb(void *p, const escrow_blob_item *it) {
  list_ctx *lc = p;
  if (!strcmp(it->name, ESCROW_MANIFEST_FILE)) return 0;
  char id[32];
  snprintf(id, sizeof(id), "%zu", lc->n);
  yajl_gen g = lc->g;
  yajl_gen_map_open(g);
  yajl_gen_string(g, (const unsigned char *)"id", 2);
  yajl_gen_string(g, (const unsigned char *)id, strlen(id));
  yajl_gen_string(g, (const unsigned char *)"name", 4);
  yajl_gen_string(g, (const unsigned char *)it->name, strlen(it->name));
  yajl_gen_string(g, (const unsigned char *)"size", 4);
  yajl_gen_integer(g, (long long)it->size);
  /* an ISO 8601 date-time as the manual shows it: the blob's Last-Modified, or the file's
   * modification time for a folder dataset; never null */
  char date[40], *path = NULL;
  int dr = -1;
  if (it->last_modified) {
    dr = enc_upload_date(it->last_modified, NULL, date, sizeof(date));
    if (dr != 0 && strlen(it->last_modified) < sizeof(date)) { /* kept as the service sent it */
      snprintf(date, sizeof(date), "%s", it->last_modified);
      dr = 0;
    }
  } else if (lc->dir && asprintf(&path, "%s/%s", lc->dir, it->name) >= 0) {
    dr = enc_upload_date(NULL, path, date, sizeof(date));
    free(path);
  }
  if (dr != 0) now_iso(date); /* no date known (a file gone since): the time of the listing */
  yajl_gen_string(g, (const unsigned char *)"uploadDate", 10);
  yajl_gen_string(g, (const unsigned char *)date, strlen(date));
  yajl_gen_map_close(g);
  lc->n++;
  return 0;
}

/* SASUrl (base64): absent or empty means the run's dataset; naming it again is fine; any other
 * URL is refused (letting the algorithm choose URLs the host fetches would be an egress channel).*/
static int sas_ok(enc_api *api, const char *b64) {
  if (!b64 || !*b64) return 1;
  unsigned char *raw = NULL;
  size_t rl = 0;
  int ok = b64_decode(b64, strlen(b64), &raw, &rl) == 0 && strlen((char *)raw) == rl &&
           !strcmp((char *)raw, api->dataset_url);
  free(raw);
  return ok;
}

static enum MHD_Result data_files(enc_api *api, struct MHD_Connection *c) {
  if (!sas_ok(api, MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "SASUrl")))
    return reply_msg(c, 403, "failed", "SASUrl does not name this run's dataset");
  list_ctx lc = {yajl_gen_alloc(NULL), 0, file_url_dir(api->dataset_url)};
  if (!lc.g) { free(lc.dir); return MHD_NO; }
  yajl_gen_map_open(lc.g);
  yajl_gen_string(lc.g, (const unsigned char *)"files", 5);
  yajl_gen_array_open(lc.g);
  pthread_mutex_lock(&api->mu);
  int rc = escrow_blob_list(api->blob, NULL, list_cb, &lc);
  pthread_mutex_unlock(&api->mu);
  free(lc.dir);
  if (rc != 0) {
    yajl_gen_free(lc.g);
    enc_log_platform(api->log, "Run", "dataset listing failed: %s", escrow_error_last());
    return reply_msg(c, 502, "failed", "the dataset could not be listed");
  }
  yajl_gen_array_close(lc.g);
  yajl_gen_string(lc.g, (const unsigned char *)"totalFiles", 10);
  yajl_gen_integer(lc.g, (long long)lc.n);
  yajl_gen_map_close(lc.g);
  char *out = gen_take(lc.g);
  if (!out) return MHD_NO;
  enum MHD_Result ret = reply(c, 200, out);
  free(out);
  return ret;
}

/* Range: bytes=a-b | a- | -n (one range) */
static int parse_range(const char *h, uint64_t size, uint64_t *off, uint64_t *len) {
  if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ',')) return 0;
  const char *p = h + 6;
  char *e;
  if (*p == '-') {
    unsigned long long n = strtoull(p + 1, &e, 10);
    if (*e || e == p + 1 || n == 0) return -1;
    if (n > size) n = size;
    *off = size - n;
    *len = n;
    return 1;
  }
  unsigned long long a = strtoull(p, &e, 10);
  if (e == p || *e != '-') return -1;
  p = e + 1;
  unsigned long long b = size ? size - 1 : 0;
  if (*p) {
    b = strtoull(p, &e, 10);
    if (*e) return -1;
    if (b >= size) b = size - 1;
  }
  if (a >= size || b < a) return -1;
  *off = a;
  *len = b - a + 1;
  return 1;
}

/* ---- streaming a v1 file while it decrypts ------------------------------------------------------
 * A thread runs escrow_blob_get_decrypt and hands each verified piece to the response, which
 * copies it straight into its buffer (no pipe: one copy). Only verified chunks are handed over;
 * memory is one chunk. If decryption fails midway, the response is cut short (with the
 * manifest's size as Content-Length, or chunked without a final chunk), so the client sees an
 * error, never a clean end. The answer waits for the first byte, so a file that fails from the
 * start (wrong key, swapped file) gets an error status instead. */

typedef struct stream_ctx {
  pthread_t th;
  int joined;
  escrow_blob_client *bc;
  char *name;
  char *expect_path;
  uint8_t tag[32];
  int have_tag;
  const escrow_cek *cek;
  /* the hand-over: the decrypting thread offers each verified piece (cur, cur_len) and waits
   * until the response has copied it out; one copy, no pipe */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  const uint8_t *cur;
  size_t cur_len;
  int done;        /* the decrypting thread has finished (result set) */
  int reader_gone; /* the response ended: the thread stops at its next piece */
  int result;
  char why[256]; /* the error message (errors are per thread) */
} stream_ctx;

static int stream_write(void *p, const uint8_t *data, size_t len) {
  stream_ctx *s = p;
  pthread_mutex_lock(&s->mu);
  s->cur = data;
  s->cur_len = len;
  pthread_cond_broadcast(&s->cv);
  while (s->cur_len && !s->reader_gone) pthread_cond_wait(&s->cv, &s->mu);
  int gone = s->reader_gone;
  s->cur_len = 0;
  pthread_mutex_unlock(&s->mu);
  return gone ? ESCROW_E_IO : 0; /* the reader went away */
}

static void *stream_thread(void *p) {
  stream_ctx *s = p;
  escrow_decrypt_options o = ESCROW_DECRYPT_OPTIONS_INIT;
  o.expect_path = s->expect_path;
  o.expect_hdrtag = s->have_tag ? s->tag : NULL;
  int rc = escrow_blob_get_decrypt(s->bc, s->name, s->cek, &o, stream_write, s, NULL, NULL);
  pthread_mutex_lock(&s->mu);
  s->result = rc;
  if (rc != 0) snprintf(s->why, sizeof(s->why), "%s", escrow_error_last());
  s->done = 1;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

static void stream_free(stream_ctx *s) {
  if (!s) return;
  pthread_mutex_lock(&s->mu);
  s->reader_gone = 1; /* a writer still running stops */
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
  if (!s->joined) pthread_join(s->th, NULL);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  escrow_blob_close(s->bc);
  free(s->name);
  free(s->expect_path);
  free(s);
}

/* fill buf with what the thread offers: wait for the first piece, then take what is ready */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
  stream_ctx *s = cls;
  (void)pos;
  size_t n = 0;
  pthread_mutex_lock(&s->mu);
  while (n < max) {
    while (!s->cur_len && !s->done && n == 0) pthread_cond_wait(&s->cv, &s->mu);
    if (!s->cur_len) break; /* the end, or nothing more ready right now */
    size_t k = s->cur_len < max - n ? s->cur_len : max - n;
    memcpy(buf + n, s->cur, k);
    s->cur += k;
    s->cur_len -= k;
    n += k;
    if (!s->cur_len) {
      pthread_cond_broadcast(&s->cv); /* the thread decrypts the next piece meanwhile */
      struct timespec ts;            /* and takes it if it comes within 2 ms */
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_nsec += 2000000;
      if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
      while (!s->cur_len && !s->done && n < max)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) != 0) break;
    }
  }
  int done = s->done && !s->cur_len, result = s->result;
  pthread_mutex_unlock(&s->mu);
  if (n > 0) return (ssize_t)n;
  if (!done) return 0; /* cannot happen: we waited for a piece or the end */
  return result == 0 ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void stream_done(void *cls) { stream_free(cls); }

static enum MHD_Result stream_file(enc_api *api, struct MHD_Connection *c, const char *name,
                                   const escrow_decrypt_options *dopts, uint64_t size,
                                   int *handled) {
  *handled = 1;
  stream_ctx *s = calloc(1, sizeof(*s));
  if (!s) return MHD_NO;
  s->joined = 1;
  s->cek = api->ds_cek;
  s->name = strdup(name);
  s->expect_path = dopts->expect_path ? strdup(dopts->expect_path) : NULL;
  if (dopts->expect_hdrtag) {
    memcpy(s->tag, dopts->expect_hdrtag, 32);
    s->have_tag = 1;
  }
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  escrow_blob_options bo = ESCROW_BLOB_OPTIONS_INIT;
  bo.flags = ESCROW_BLOB_ALLOW_LOOPBACK_HTTP; /* emulators (Azurite) on 127.0.0.1 only */
  if (!s->name || (dopts->expect_path && !s->expect_path) ||
      escrow_blob_open(&s->bc, api->dataset_url, &bo) != 0) {
    stream_free(s);
    return reply_msg(c, 500, "failed", "internal error");
  }
  if (pthread_create(&s->th, NULL, stream_thread, s) != 0) {
    stream_free(s);
    return reply_msg(c, 500, "failed", "internal error");
  }
  s->joined = 0;
  /* wait for the first piece or the end */
  pthread_mutex_lock(&s->mu);
  while (!s->cur_len && !s->done) pthread_cond_wait(&s->cv, &s->mu);
  int failed_early = !s->cur_len && s->done;
  pthread_mutex_unlock(&s->mu);
  if (failed_early) {
    pthread_join(s->th, NULL);
    s->joined = 1;
    int rc = s->result;
    if (rc == ESCROW_E_UNSUPPORTED) {
      *handled = 0;
      stream_free(s);
      return MHD_NO;
    }
    if (rc != 0) {
      if (rc != ESCROW_E_NOTFOUND)
        enc_log_platform(api->log, "Run", "a dataset file could not be served: %s (%s)",
                         escrow_strerror(rc), s->why);
      stream_free(s);
      if (rc == ESCROW_E_NOTFOUND) return reply_msg(c, 404, "failed", "no such file");
      return reply_msg(c, 502, "failed", "the file could not be decrypted");
    }
  }
  struct MHD_Response *r = MHD_create_response_from_callback(size, 256 * 1024, stream_read, s,
                                                             stream_done);
  if (!r) {
    stream_free(s);
    return MHD_NO;
  }
  MHD_add_response_header(r, "Content-Type", "application/octet-stream");
  MHD_add_response_header(r, "Accept-Ranges", "bytes");
  enum MHD_Result ret = MHD_queue_response(c, 200, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result data_file(enc_api *api, struct MHD_Connection *c, const char *name,
                                 const char *sas) {
  if (!sas_ok(api, sas)) return reply_msg(c, 403, "failed", "SASUrl does not name this run's dataset");
  if (!name || !*name) return reply_msg(c, 400, "failed", "filepath is required");
  if (!strcmp(name, ESCROW_MANIFEST_FILE)) return reply_msg(c, 404, "failed", "no such file");
  size_t nl = strlen(name);
  int enc = nl > 6 && !strcmp(name + nl - 6, ".bkenc");
  escrow_decrypt_options dopts = ESCROW_DECRYPT_OPTIONS_INIT;
  char *plain_name = strndup(name, enc ? nl - 6 : nl);
  uint64_t plain_size = MHD_SIZE_UNKNOWN;
  if (!plain_name) return MHD_NO;
  if (enc) {
    dopts.expect_path = plain_name;
    if (api->manifest) {
      size_t idx;
      const char *mp;
      uint64_t msize;
      const uint8_t *tag;
      if (escrow_manifest_find(api->manifest, plain_name, &idx) != 0 ||
          escrow_manifest_entry(api->manifest, idx, &mp, &msize, &tag) != 0) {
        free(plain_name);
        enc_log_platform(api->log, "Run", "refused a file that is not in the dataset manifest");
        return reply_msg(c, 404, "failed", "no such file in the dataset manifest");
      }
      dopts.expect_hdrtag = tag;
      plain_size = msize;
    }
  }
  if (enc && api->ds_cek && !MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range")) {
    int handled = 0;
    enum MHD_Result r = stream_file(api, c, name, &dopts, plain_size, &handled);
    if (handled) {
      free(plain_name);
      return r;
    }
    /* not streamable (a legacy v0 file: its only tag is at its end): staged below */
  }
  char path[4096];
  pthread_mutex_lock(&api->mu);
  snprintf(path, sizeof(path), "%s/f%lu", api->plain_dir, ++api->file_counter);
  pthread_mutex_unlock(&api->mu);
  /* a client per download: a long transfer does not hold up the other requests */
  escrow_blob_client *bc = NULL;
  escrow_blob_options bo = ESCROW_BLOB_OPTIONS_INIT;
  bo.flags = ESCROW_BLOB_ALLOW_LOOPBACK_HTTP; /* emulators (Azurite) on 127.0.0.1 only */
  int rc = escrow_blob_open(&bc, api->dataset_url, &bo);
  if (rc == 0) {
    if (enc && api->ds_cek)
      rc = escrow_blob_get_decrypt_file(bc, name, api->ds_cek, &dopts, path, NULL, NULL);
    else if (enc)
      rc = ESCROW_E_KEY;
    else
      rc = escrow_blob_get_file(bc, name, path, NULL, NULL);
    escrow_blob_close(bc);
  }
  free(plain_name);
  if (rc == ESCROW_E_NOTFOUND) return reply_msg(c, 404, "failed", "no such file");
  if (rc != 0) {
    enc_log_platform(api->log, "Run", "a dataset file could not be served: %s (%s)",
                     escrow_strerror(rc), rc == ESCROW_E_KEY ? "no DS CEK" : escrow_error_last());
    return reply_msg(c, 502, "failed", "the file could not be decrypted");
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  unlink(path); /* nothing stays on disk once the response ends */
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    if (fd >= 0) close(fd);
    return reply_msg(c, 500, "failed", "internal error");
  }
  uint64_t size = (uint64_t)st.st_size, off = 0, len = size;
  int rr = parse_range(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range"), size, &off, &len);
  if (rr < 0) {
    close(fd);
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    char cr[64];
    snprintf(cr, sizeof(cr), "bytes */%llu", (unsigned long long)size);
    MHD_add_response_header(r, "Content-Range", cr);
    enum MHD_Result ret = MHD_queue_response(c, 416, r);
    MHD_destroy_response(r);
    return ret;
  }
  struct MHD_Response *r = MHD_create_response_from_fd_at_offset64(len, fd, off);
  if (!r) { close(fd); return MHD_NO; }
  MHD_add_response_header(r, "Content-Type", "application/octet-stream");
  MHD_add_response_header(r, "Accept-Ranges", "bytes");
  unsigned code = 200;
  if (rr > 0) {
    char cr[96];
    snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)off,
             (unsigned long long)(off + len - 1), (unsigned long long)size);
    MHD_add_response_header(r, "Content-Range", cr);
    code = 206;
  }
  enum MHD_Result ret = MHD_queue_response(c, code, r);
  MHD_destroy_response(r);
  return ret;
}

/* ---- log, validate, report -------------------------------------------------------------------- */

static enum MHD_Result post_log(enc_api *api, struct MHD_Connection *c, const char *body) {
  yajl_val o = parse_obj(body);
  const char *msg = o ? obj_str(o, "message") : NULL;
  if (!msg) {
    if (o) yajl_tree_free(o);
    return reply_msg(c, 400, "failed", "expected a JSON object with a \"message\" string");
  }
  enc_log_progress(api->log, msg, strlen(msg), obj_str(o, "status"));
  yajl_tree_free(o);
  return reply(c, 200, "{\"status\":\"successful\",\"message\":{}}");
}

static enum MHD_Result post_report(enc_api *api, struct MHD_Connection *c, const char *body,
                                   int is_report) {
  yajl_val o = parse_obj(body);
  if (!o) return reply_msg(c, 400, "failed", "expected a JSON object");
  const char *path[] = {"json_data", NULL};
  yajl_val jd = yajl_tree_get(o, path, yajl_t_any);
  const char *name = obj_str(o, "name"), *status = obj_str(o, "status");
  if (!jd || !name || !status) {
    yajl_tree_free(o);
    return reply_msg(c, 400, "failed", "a report needs json_data, name and status");
  }
  if (is_report && strcmp(status, "Completed") != 0) {
    enc_log_platform(api->log, "Run", "the algorithm posted a report with status %s: it is not "
                     "released (only a Completed report that passes the criteria leaves)",
                     known_status(status));
    yajl_tree_free(o);
    return reply(c, 200, "{\"status\":\"successful\",\"message\":{}}");
  }
  char *jd_text = value_json(jd), *answer = NULL, *doc = NULL;
  int valid = 0, rc = 0, not_a_dict = 0;
  if (!jd_text) { yajl_tree_free(o); return MHD_NO; }
  if (api->criteria) {
    rc = escrow_criteria_validate_report(api->criteria, jd_text, strlen(jd_text), &valid, &answer);
    /* a document that decodes but is no mapping (the manual's base64 of a JSON string): Cerberus
     * raises DocumentError "'...' is not a document, must be a dict" */
    not_a_dict = rc == ESCROW_E_FORMAT && strstr(escrow_error_last(), "is not a document, must be a dict");
  } else if (enc_json_data_decode(jd_text, strlen(jd_text), &doc) == 0) {
    valid = 1; /* no criteria (pre-flight): an object or a string document is taken as it is */
    answer = strdup("{\"status\":\"successful\",\"message\":{}}");
  } else {
    rc = ESCROW_E_FORMAT;
  }
  enum MHD_Result ret;
  if (not_a_dict) {
    /* the answer stays in the TEE and may quote the document; what leaves (the run's reason)
     * says only why */
    ret = reply_msg(c, 400, "failed", escrow_error_last());
    if (is_report) {
      pthread_mutex_lock(&api->mu);
      api->reports_refused++;
      free(api->refused_errors);
      api->refused_errors = strdup("\"the report document is not a dict: the criteria validate a JSON "
                                   "object (Cerberus: '<redacted>' is not a document, must be a dict)\"");
      pthread_mutex_unlock(&api->mu);
      enc_log_platform(api->log, "Run", "report refused: its document is not a dict (Cerberus: "
                       "'<redacted>' is not a document, must be a dict)");
    }
  } else if (rc != 0) {
    ret = reply_msg(c, 400, "failed", "json_data must be a JSON object, a JSON string holding one, "
                    "or base64 of JSON (an object, or without criteria a string)");
    if (is_report) {
      pthread_mutex_lock(&api->mu);
      api->reports_refused++;
      free(api->refused_errors);
      api->refused_errors = strdup("\"json_data is not a JSON object\"");
      pthread_mutex_unlock(&api->mu);
      enc_log_platform(api->log, "Run", "report refused: json_data is not a JSON object");
    }
  } else if (!valid) {
    ret = reply(c, 400, answer ? answer : "{\"status\":\"failed\",\"message\":{}}");
    if (is_report) {
      /* the answer's message holds the redacted errors (criteria compiled with redact_values) */
      yajl_val a = answer ? parse_obj(answer) : NULL;
      const char *mp[] = {"message", NULL};
      yajl_val m = a ? yajl_tree_get(a, mp, yajl_t_any) : NULL;
      char *raw = m ? value_json(m) : NULL;
      char *errs = raw ? enc_redact_error_fields(raw, api->criteria_json) : NULL;
      free(raw);
      pthread_mutex_lock(&api->mu);
      api->reports_refused++;
      free(api->refused_errors);
      api->refused_errors = errs;
      pthread_mutex_unlock(&api->mu);
      enc_log_platform(api->log, "Run", "report refused by the criteria: %s", errs ? errs : "{}");
      if (a) yajl_tree_free(a);
    }
  } else {
    ret = reply(c, 200, answer ? answer : "{\"status\":\"successful\",\"message\":{}}");
    if (is_report) {
      if (!doc && enc_json_data_decode(jd_text, strlen(jd_text), &doc) != 0) doc = NULL;
      size_t nlen = strlen(name);
      if (nlen > ENC_REPORT_NAME_MAX) { /* the name is free text outside the criteria: bounded */
        nlen = ENC_REPORT_NAME_MAX;
        while (nlen && ((unsigned char)name[nlen] & 0xC0) == 0x80) nlen--;
      }
      char *n = json_str(name, nlen), *out = NULL;
      if (doc && n &&
          asprintf(&out, "{\"name\":%s,\"status\":\"Completed\",\"json_data\":%s}\n", n, doc) >= 0) {
        pthread_mutex_lock(&api->mu);
        free(api->report_json);
        api->report_json = out;
        pthread_mutex_unlock(&api->mu);
        enc_log_platform(api->log, "Run", "a report passed the criteria%s",
                         api->criteria ? "" : " (none given: not checked)");
      }
      free(n);
    }
  }
  free(doc);
  free(answer);
  free(jd_text);
  yajl_tree_free(o);
  return ret;
}

/* ---- training artifacts ------------------------------------------------------------------------
 * POST /api/v1/report/artifact, multipart field artifact_file: the file is received into the
 * host-only artifact folder under its sanitised name (the last upload of a name wins). All
 * uploads of a run together may not exceed api->artifact_cap bytes (413 beyond). Validation runs
 * refuse (403): there, only the report leaves. The artifacts leave only inside model.zip.bkenc,
 * encrypted to the AO's CEK, and only when the run completed. */

void enc_artifact_name(const char *filename, char *out, size_t outlen) {
  const char *b = filename ? filename : "";
  for (const char *p = b; *p; p++)
    if (*p == '/' || *p == '\\') b = p + 1;
  while (*b == '.') b++; /* no hidden files, no "." or ".." */
  size_t n = 0;
  for (; *b && n + 1 < outlen && n < 128; b++) {
    char c = *b;
    out[n++] = (char)(((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '.' || c == '_' || c == '-') ? c : '_');
  }
  if (n == 0) n = (size_t)snprintf(out, outlen, "artifact");
  out[n] = 0;
}

static enum MHD_Result artifact_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *filename, const char *content_type,
                                     const char *transfer_encoding, const char *data, uint64_t off,
                                     size_t size) {
  conn *k = cls;
  enc_api *api = k->api;
  (void)kind;
  (void)content_type;
  (void)transfer_encoding;
  if (!key || strcmp(key, "artifact_file") != 0 || k->aerr) return MHD_YES; /* other fields */
  if (off == 0 && k->afd >= 0 && k->abytes > 0) { k->aerr = 400; return MHD_YES; } /* a 2nd file */
  if (off == 0 && k->afd < 0) {
    k->afiles++;
    enc_artifact_name(filename, k->aname, sizeof(k->aname));
    pthread_mutex_lock(&api->mu);
    unsigned long n = ++api->file_counter;
    pthread_mutex_unlock(&api->mu);
    snprintf(k->atmp, sizeof(k->atmp), "%s/.upload-%lu", api->artifact_dir, n);
    k->afd = open(k->atmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (k->afd < 0) { k->aerr = 500; return MHD_YES; }
  }
  if (k->afd < 0 || size == 0) return MHD_YES;
  pthread_mutex_lock(&api->mu);
  int over = api->artifact_bytes + size > api->artifact_cap;
  if (!over) api->artifact_bytes += size;
  pthread_mutex_unlock(&api->mu);
  if (!over) k->abytes += size;
  if (over) { k->aerr = 413; return MHD_YES; }
  while (size) {
    ssize_t w = write(k->afd, data, size);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) { k->aerr = 500; return MHD_YES; }
    data += w;
    size -= (size_t)w;
  }
  return MHD_YES;
}

/* an upload that was refused or cut off: its file goes, and so does its share of the cap */
static void artifact_discard(conn *k) {
  if (k->afd >= 0) {
    close(k->afd);
    k->afd = -1;
    unlink(k->atmp);
    pthread_mutex_lock(&k->api->mu);
    k->api->artifact_bytes -= k->abytes;
    pthread_mutex_unlock(&k->api->mu);
    k->abytes = 0;
  }
}

static enum MHD_Result artifact_finish(enc_api *api, struct MHD_Connection *c, conn *k) {
  if (!api->training) return reply_msg(c, 403, "failed", "artifacts are accepted only in training runs: a validation run releases its report only");
  if (!k->pp) return reply_msg(c, 400, "failed", "expected multipart/form-data with a file field artifact_file");
  if (!k->aerr && k->afd < 0) k->aerr = 400;
  if (k->aerr) {
    artifact_discard(k);
    if (k->aerr == 413) {
      enc_log_platform(api->log, "Run", "an artifact was refused: the artifacts of a run are capped at %llu MiB",
                       (unsigned long long)(api->artifact_cap >> 20));
      return reply_msg(c, 413, "failed", "the artifacts of this run exceed their size cap");
    }
    if (k->aerr == 400) return reply_msg(c, 400, "failed", "expected exactly one file in the field artifact_file");
    return reply_msg(c, 500, "failed", "the artifact could not be stored");
  }
  char dst[4300];
  snprintf(dst, sizeof(dst), "%s/%s", api->artifact_dir, k->aname);
  int ok = close(k->afd) == 0;
  k->afd = -1;
  if (!ok || rename(k->atmp, dst) != 0) {
    unlink(k->atmp);
    return reply_msg(c, 500, "failed", "the artifact could not be stored");
  }
  pthread_mutex_lock(&api->mu);
  api->artifacts++;
  pthread_mutex_unlock(&api->mu);
  enc_log_platform(api->log, "Run", "training artifact %s received (it leaves only in model.zip.bkenc, encrypted to the AO's CEK)", k->aname);
  return reply(c, 200, "{\"status\":\"successful\",\"message\":{}}");
}

/* ---- dispatch --------------------------------------------------------------------------------- */

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls) {
  enc_api *api = cls;
  (void)version;
  int is_post = !strcmp(method, "POST"), is_get = !strcmp(method, "GET");
  if (!*con_cls) {
    conn *k = calloc(1, sizeof(*k));
    if (!k) return MHD_NO;
    k->max = (!strcmp(url, "/api/v1/report") || !strcmp(url, "/api/v1/validate"))
                 ? BODY_MAX_REPORT : BODY_MAX_SMALL;
    k->afd = -1;
    k->api = api;
    if (is_post && !strcmp(url, "/api/v1/report/artifact")) {
      k->artifact = 1;
      if (api->training && api->artifact_dir)
        k->pp = MHD_create_post_processor(c, 64 * 1024, artifact_iter, k); /* NULL: not multipart */
    }
    *con_cls = k;
    pthread_mutex_lock(&api->mu);
    if (api->requests++ == 0) api->first_request_ms = enc_now_ms();
    pthread_mutex_unlock(&api->mu);
    return MHD_YES;
  }
  conn *k = *con_cls;
  if (k->artifact) {
    if (*upload_size) {
      if (k->pp && !k->aerr && MHD_post_process(k->pp, upload, *upload_size) != MHD_YES && !k->aerr)
        k->aerr = 400;
      *upload_size = 0;
      return MHD_YES;
    }
    return artifact_finish(api, c, k);
  }
  if (*upload_size) {
    if (!k->too_big) {
      if (k->len + *upload_size > k->max) {
        k->too_big = 1;
      } else {
        if (k->len + *upload_size + 1 > k->cap) {
          size_t nc = (k->len + *upload_size + 1) * 2;
          if (nc > k->max + 1) nc = k->max + 1;
          char *nb = realloc(k->body, nc);
          if (!nb) return MHD_NO;
          k->body = nb;
          k->cap = nc;
        }
        memcpy(k->body + k->len, upload, *upload_size);
        k->len += *upload_size;
        k->body[k->len] = 0;
      }
    }
    *upload_size = 0;
    return MHD_YES;
  }
  if (k->too_big) return reply_msg(c, 413, "failed", "request body too large");
  const char *body = k->body ? k->body : "";
  if (k->body && strlen(k->body) != k->len)
    return reply_msg(c, 400, "failed", "the body holds a NUL byte");

  if (!strcmp(url, "/api/v1/data/files") && is_get) return data_files(api, c);
  if (!strcmp(url, "/api/v1/data/file") && is_get)
    return data_file(api, c, MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "filepath"),
                     MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "SASUrl"));
  if (!strcmp(url, "/api/v1/data/file") && is_post) {
    yajl_val o = parse_obj(body);
    const char *fp = o ? obj_str(o, "filepath") : NULL;
    const char *sas = o ? obj_str(o, "SASUrl") : NULL;
    if (!sas) sas = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "SASUrl");
    enum MHD_Result r = data_file(api, c, fp, sas);
    if (o) yajl_tree_free(o);
    return r;
  }
  if (!strcmp(url, "/api/v1/log") && is_post) return post_log(api, c, body);
  if (!strcmp(url, "/api/v1/validate") && is_post) return post_report(api, c, body, 0);
  if (!strcmp(url, "/api/v1/report") && is_post) return post_report(api, c, body, 1);
  if (!strncmp(url, "/api/2.0/mlflow/", 16))
    return (enum MHD_Result)enc_mlflow_handle(api, c, url, method, body);
  if (!strcmp(url, "/health") && is_get)
    return reply(c, 200, "{\"enclave\":\"ok\",\"simulated_tee\":true}");
  return reply_msg(c, 404, "failed", "no such endpoint");
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)c;
  (void)toe;
  conn *k = *con_cls;
  if (k) {
    if (k->pp) MHD_destroy_post_processor(k->pp);
    artifact_discard(k);
    free(k->body);
    free(k);
  }
  *con_cls = NULL;
}

int enc_api_start(enc_api *api, int listen_fd) {
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
  if (api->tls_cert_pem && api->tls_key_pem)
    api->daemon = MHD_start_daemon(
        flags | MHD_USE_TLS, 0, NULL, NULL, handler, api, MHD_OPTION_LISTEN_SOCKET, listen_fd,
        MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600,
        MHD_OPTION_HTTPS_MEM_KEY, api->tls_key_pem, MHD_OPTION_HTTPS_MEM_CERT, api->tls_cert_pem,
        MHD_OPTION_HTTPS_PRIORITIES, ENC_TLS_PRIORITIES, MHD_OPTION_END);
  else
    api->daemon = MHD_start_daemon(flags, 0, NULL, NULL, handler, api, MHD_OPTION_LISTEN_SOCKET,
                                   listen_fd, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                                   MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600, MHD_OPTION_END);
  return api->daemon ? 0 : -1;
}

void enc_api_stop(enc_api *api) {
  if (api->daemon) MHD_stop_daemon(api->daemon);
  api->daemon = NULL;
}
