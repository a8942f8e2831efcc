/* escrowd: libmicrohttpd glue (see http.h). Bodies are read into memory up to max_body. */
#include "http.h"
#include "runs.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accounts.h"
#include "blobs.h"
#include "web.h"

typedef struct conn_state {
  char *data;
  size_t len, cap;
  int too_large;
  /* a streamed multipart body (over SRV_STREAM_THRESHOLD or without Content-Length): text
   * fields in memory (at most STREAM_TEXT_MAX bytes), the one file part written to the blob
   * folder while it is hashed */
  struct MHD_PostProcessor *pp;
  srv_form *fields;
  size_t text_bytes;
  unsigned long long received;
  srv_blob_writer w;
  char *file_key, *file_name, *file_type;
  const char *data_dir;
  char bad[160]; /* the 400 message once the stream is refused */
  /* the request once read, and its answer; a worker thread fills res while the connection
   * is suspended (handled then says the answer is ready) */
  srv_request req;
  srv_response res;
  char addr[INET6_ADDRSTRLEN];
  int built, handled;
  struct MHD_Connection *conn;
  struct conn_state *next; /* in the queue of requests waiting for a worker */
} conn_state;

#define STREAM_TEXT_MAX (1024 * 1024)

static void stream_bad(conn_state *st, const char *msg) {
  if (!st->bad[0]) snprintf(st->bad, sizeof st->bad, "%s", msg);
}

/* MHD's post processor hands each multipart part over in pieces. */
static enum MHD_Result on_part(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *filename, const char *ctype, const char *enc,
                               const char *data, uint64_t off, size_t size) {
  (void)kind;
  (void)enc;
  conn_state *st = cls;
  if (st->bad[0]) return MHD_NO;
  if (!key || strlen(key) == 0 || strlen(key) >= SRV_FORM_MAX_NAME) {
    stream_bad(st, "a multipart part has no name or a name that is too long");
    return MHD_NO;
  }
  if (filename) {
    if (st->file_key && (strcmp(key, st->file_key) != 0 || strcmp(filename, st->file_name) != 0 ||
                         (off == 0 && st->w.size > 0) || st->w.fd < 0)) {
      stream_bad(st, "send one file per request");
      return MHD_NO;
    }
    if (!st->file_key) {
      char why[160];
      st->file_key = strdup(key);
      st->file_name = strdup(filename);
      st->file_type = ctype ? strdup(ctype) : NULL;
      if (!st->file_key || !st->file_name ||
          srv_blob_writer_open(&st->w, st->data_dir, why, sizeof why)) {
        stream_bad(st, "the upload cannot be stored");
        return MHD_NO;
      }
    }
    if (size && srv_blob_writer_write(&st->w, data, size)) {
      stream_bad(st, "the upload cannot be stored");
      return MHD_NO;
    }
    return MHD_YES;
  }
  st->text_bytes += size;
  if (st->text_bytes > STREAM_TEXT_MAX) {
    stream_bad(st, "the form's text fields are too large");
    return MHD_NO;
  }
  srv_form *f = st->fields;
  srv_field *last = f->n ? &f->fields[f->n - 1] : NULL;
  if (off > 0 && last && !last->filename && strcmp(last->name, key) == 0) {
    char *v = realloc(last->value, last->len + size + 1);
    if (!v) {
      stream_bad(st, "out of memory");
      return MHD_NO;
    }
    memcpy(v + last->len, data, size);
    last->len += size;
    v[last->len] = 0;
    last->value = v;
    return MHD_YES;
  }
  if (f->n >= SRV_FORM_MAX_FIELDS - 1 || srv_form_add(f, key, strlen(key), data ? data : "", size, NULL, NULL)) {
    stream_bad(st, "the form has too many fields");
    return MHD_NO;
  }
  return MHD_YES;
}

static void stream_free(conn_state *st) {
  if (st->pp) MHD_destroy_post_processor(st->pp);
  st->pp = NULL;
  srv_blob_writer_abort(&st->w);
  if (st->fields) srv_form_clear(st->fields);
  free(st->fields);
  st->fields = NULL;
  free(st->file_key);
  free(st->file_name);
  free(st->file_type);
  st->file_key = st->file_name = st->file_type = NULL;
}

/* The end of a streamed body: the form with the stored file part. 0, or -1 with the 400
 * message in st->bad. */
static int stream_finish(conn_state *st, srv_form *out) {
  if (MHD_destroy_post_processor(st->pp) == MHD_NO)
    stream_bad(st, "malformed multipart/form-data body (a part or the closing boundary is missing)");
  st->pp = NULL;
  if (st->bad[0]) return -1;
  if (st->file_key) {
    char hex[65];
    unsigned long long size = st->w.size;
    char tmp[sizeof st->w.tmp];
    memcpy(tmp, st->w.tmp, sizeof tmp);
    if (srv_blob_writer_finish(&st->w, hex)) {
      stream_bad(st, "the upload cannot be stored");
      return -1;
    }
    srv_form *f = st->fields;
    if (f->n >= SRV_FORM_MAX_FIELDS) {
      unlink(tmp);
      stream_bad(st, "the form has too many fields");
      return -1;
    }
    unsigned char *content = NULL;
    size_t len = 0;
    if (size <= SRV_FILE_INMEM_MAX) { /* small: in memory like an unstreamed part */
      FILE *fp = fopen(tmp, "rb");
      content = malloc((size_t)size + 1);
      if (fp && content) len = fread(content, 1, (size_t)size, fp);
      if (fp) fclose(fp);
      unlink(tmp);
      if (!content || len != size) {
        free(content);
        stream_bad(st, "the upload cannot be read back");
        return -1;
      }
      content[len] = 0;
    } else if (!(content = calloc(1, 1))) {
      unlink(tmp);
      stream_bad(st, "out of memory");
      return -1;
    }
    srv_field *fl = &f->fields[f->n];
    memset(fl, 0, sizeof *fl);
    fl->name = st->file_key;
    fl->filename = st->file_name;
    fl->content_type = st->file_type;
    st->file_key = st->file_name = st->file_type = NULL;
    fl->value = (char *)content;
    fl->len = len;
    f->n++;
    if (size > SRV_FILE_INMEM_MAX) {
      fl->blob_size = size;
      fl->blob_hex = strdup(hex);
      fl->blob_tmp = strdup(tmp);
      if (!fl->blob_hex || !fl->blob_tmp) {
        unlink(tmp);
        stream_bad(st, "out of memory");
        return -1;
      }
    }
  }
  *out = *st->fields;
  srv_form_init(st->fields);
  return 0;
}

typedef struct server {
  srv_ctx *ctx;
  size_t max_body;
  const char *web_dir;
  int tls;
  /* the requests waiting for a worker, first come first served: Q_PASSWORD's check a
   * password (Argon2id, SRV_PASSWORD_LANES workers of their own), Q_OTHER's are the rest */
  pthread_mutex_t mu;
  pthread_cond_t idle;
  struct queue {
    pthread_cond_t ready;
    conn_state *head, *tail;
  } q[2];
  unsigned inflight; /* queued or being handled: their connections are suspended */
  int stopping, quit;
} server;

enum { Q_OTHER, Q_PASSWORD };

typedef struct worker_arg {
  server *sv;
  struct queue *q;
} worker_arg;

/* Hand a read request to the workers: its connection is suspended until a worker has
 * answered it (then MHD calls on_request again, which sends the answer). -1 when the server
 * is stopping. */
static int hand_off(server *sv, struct MHD_Connection *conn, conn_state *st) {
  struct queue *q = &sv->q[srv_dispatch_checks_password(&st->req) ? Q_PASSWORD : Q_OTHER];
  pthread_mutex_lock(&sv->mu);
  if (sv->stopping) {
    pthread_mutex_unlock(&sv->mu);
    return -1;
  }
  /* suspended before a worker can see it, so its resume always follows */
  MHD_suspend_connection(conn);
  st->conn = conn;
  st->next = NULL;
  if (q->tail) q->tail->next = st;
  else q->head = st;
  q->tail = st;
  sv->inflight++;
  pthread_cond_signal(&q->ready);
  pthread_mutex_unlock(&sv->mu);
  return 0;
}

/* A worker: handles queued requests in arrival order (the handlers block on the database,
 * RSA and Argon2; the polling threads never do). */
static void *worker(void *arg) {
  server *sv = ((worker_arg *)arg)->sv;
  struct queue *q = ((worker_arg *)arg)->q;
  for (;;) {
    pthread_mutex_lock(&sv->mu);
    while (!q->head && !sv->quit) pthread_cond_wait(&q->ready, &sv->mu);
    conn_state *st = q->head;
    if (!st) {
      pthread_mutex_unlock(&sv->mu);
      return NULL;
    }
    q->head = st->next;
    if (!q->head) q->tail = NULL;
    pthread_mutex_unlock(&sv->mu);
    srv_dispatch(&st->req, &st->res);
    struct MHD_Connection *conn = st->conn;
    pthread_mutex_lock(&sv->mu);
    st->handled = 1;
    pthread_mutex_unlock(&sv->mu);
    MHD_resume_connection(conn); /* st belongs to the polling thread from here */
    pthread_mutex_lock(&sv->mu);
    if (--sv->inflight == 0) pthread_cond_broadcast(&sv->idle);
    pthread_mutex_unlock(&sv->mu);
  }
}

/* The headers of every answer (web.h). */
static void security_headers(struct MHD_Response *r, int tls) {
  MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header(r, "Content-Security-Policy", SRV_WEB_CSP);
  MHD_add_response_header(r, "X-Frame-Options", "DENY");
  MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
  MHD_add_response_header(r, "Cross-Origin-Opener-Policy", "same-origin");
  if (tls) MHD_add_response_header(r, "Strict-Transport-Security", "max-age=31536000");
}

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value) {
  (void)kind;
  srv_form *f = cls;
  if (!value) value = "";
  if (srv_form_add(f, key, strlen(key), value, strlen(value), NULL, NULL)) return MHD_NO;
  return MHD_YES;
}

static enum MHD_Result send_json_c(struct MHD_Connection *conn, const server *sv, int status,
                                   const char *body, size_t len, const char *cookie) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, "Content-Type", "application/json");
  MHD_add_response_header(r, "Cache-Control", "no-store");
  security_headers(r, sv->tls);
  if (cookie && *cookie) MHD_add_response_header(r, "Set-Cookie", cookie);
  if (status == 401) MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
  enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, const server *sv, int status,
                                  const char *msg) {
  srv_response res = {0};
  srv_respond_error(&res, status, msg, NULL);
  enum MHD_Result r = send_json_c(conn, sv, status, res.body.p ? res.body.p : "{}",
                                  res.body.p ? res.body.len : 2, NULL);
  srv_buf_free(&res.body);
  return r;
}

/* One log line per request. The path is the client's, percent-decoded: control characters
 * are written as \xNN so a request cannot forge log lines, and a long path is cut. */
static void log_request(const char *method, const char *url, int status) {
  char clean[512];
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)url; *p && o + 5 < sizeof clean; p++) {
    if (*p < 0x20 || *p == 0x7f || *p == '\\')
      o += (size_t)snprintf(clean + o, sizeof clean - o, "\\x%02x", *p);
    else
      clean[o++] = (char)*p;
  }
  clean[o] = 0;
  fprintf(stderr, "escrowd: %s %s -> %d\n", method, clean, status);
}

/* GET/HEAD of a dashboard file (web.h). */
static enum MHD_Result send_static(struct MHD_Connection *conn, const server *sv,
                                   const char *url, const char *method) {
  srv_web_file f;
  int status = srv_web_open(sv->web_dir, url, &f);
  if (status) {
    log_request(method, url, status);
    return send_error(conn, sv, status, status == 404 ? "no such page" : "the page cannot be read");
  }
  struct MHD_Response *r = MHD_create_response_from_fd((uint64_t)f.size, f.fd);
  if (!r) {
    close(f.fd);
    return MHD_NO;
  }
  MHD_add_response_header(r, "Content-Type", f.ctype);
  MHD_add_response_header(r, "Cache-Control", f.cache);
  security_headers(r, sv->tls);
  enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
  MHD_destroy_response(r);
  log_request(method, url, 200);
  return ret;
}

/* A body read into memory (not a streamed multipart upload) is at most 1 MiB: the largest a
 * form or a JSON body (SRV_FORM_MAX_JSON) needs. Held per connection before the request is
 * authenticated, so the upload limit (--max-upload-mib) would let each connection hold that
 * much memory. */
#define INMEM_TOO_LARGE                                                                        \
  "the request body is larger than this server accepts (only multipart/form-data uploads may " \
  "exceed 1 MiB)"
static size_t inmem_max(const server *sv) {
  return sv->max_body < SRV_STREAM_THRESHOLD ? sv->max_body : SRV_STREAM_THRESHOLD;
}

/* A streamed upload is written to disk (and, up to SRV_FILE_INMEM_MAX, read back into memory)
 * before its handler runs: its sender must hold valid credentials before the body is read,
 * or anyone could fill the disk and the memory. The handler checks them again, with the
 * route's own rules. MHD_YES, or the refusal queued. */
static enum MHD_Result stream_precheck(struct MHD_Connection *conn, const server *sv, int *status) {
  const char *authz = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
  const char *session = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, "escrow_session");
  srv_err err = {0};
  int rc;
  if (authz) {
    srv_caller c;
    rc = dom_authenticate(sv->ctx, authz, &c, &err);
    if (!rc) srv_caller_clear(&c);
  } else if (session) {
    srv_user u;
    rc = dom_session_user(sv->ctx, session, &u, &err);
    if (!rc) srv_user_clear(&u);
  } else {
    rc = SRV_E_UNAUTH;
    snprintf(err.msg, sizeof err.msg,
             "an upload needs credentials: Authorization: Bearer <JWT> or a web session");
    err.kind = SRV_E_UNAUTH;
  }
  *status = 0;
  if (!rc) return MHD_YES;
  srv_response res = {0};
  srv_respond_domain_error(&res, &err, NULL);
  *status = res.status;
  enum MHD_Result r =
      res.body.p && !res.body.oom
          ? send_json_c(conn, sv, res.status, res.body.p, res.body.len, NULL)
          : send_error(conn, sv, 500, "out of memory");
  srv_buf_free(&res.body);
  return r;
}

static void request_clear(conn_state *st);

/* Send the request's answer (set by a worker or by the checks before it) and forget it. */
static enum MHD_Result answer(struct MHD_Connection *conn, const server *sv, conn_state *st) {
  srv_response *res = &st->res;
  enum MHD_Result r;
  if (res->body.oom || !res->body.p)
    r = send_error(conn, sv, 500, "out of memory");
  else
    r = send_json_c(conn, sv, res->status, res->body.p, res->body.len, res->set_cookie);
  log_request(st->req.method, st->req.path, res->status);
  request_clear(st);
  stream_free(st);
  return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
  (void)version;
  server *sv = cls;
  conn_state *st = *con_cls;
  if (!st) {
    st = calloc(1, sizeof *st);
    if (!st) return MHD_NO;
    st->w.fd = -1;
    srv_form_init(&st->req.query);
    srv_form_init(&st->req.body);
    *con_cls = st;
    if (sv->web_dir && !srv_web_is_api_path(url) &&
        (!strcmp(method, "GET") || !strcmp(method, "HEAD")))
      return send_static(conn, sv, url, method);
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    unsigned long long clen = 0;
    if (cl) {
      char *end;
      clen = strtoull(cl, &end, 10);
      if (*end || clen > sv->max_body) {
        st->too_large = 1;
        return send_error(conn, sv, 413, "the request body is larger than this server accepts");
      }
    }
    const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    if (!strcmp(method, "POST") && ct && strncasecmp(ct, "multipart/form-data", 19) == 0 &&
        (!cl || clen > SRV_STREAM_THRESHOLD)) {
      int status = 0;
      enum MHD_Result pr = stream_precheck(conn, sv, &status);
      if (status) {
        st->too_large = 1; /* the body, if it comes, is not read */
        log_request(method, url, status);
        return pr;
      }
      st->data_dir = sv->ctx->cfg.data_dir;
      if (!(st->fields = calloc(1, sizeof *st->fields))) return MHD_NO;
      st->pp = MHD_create_post_processor(conn, 65536, on_part, st);
      if (!st->pp) stream_bad(st, "multipart/form-data needs a boundary parameter (2 to 70 characters)");
    } else if (cl && clen > inmem_max(sv)) {
      st->too_large = 1;
      return send_error(conn, sv, 413, INMEM_TOO_LARGE);
    }
    return MHD_YES;
  }
  if (*upload_data_size) {
    size_t n = *upload_data_size;
    *upload_data_size = 0;
    if (st->too_large) return MHD_YES;
    if (st->fields) { /* streamed */
      st->received += n;
      if (st->received > sv->max_body) {
        st->too_large = 1;
        stream_free(st); /* nothing is left behind */
        return MHD_YES;
      }
      if (st->pp && !st->bad[0] && MHD_post_process(st->pp, upload_data, n) == MHD_NO)
        stream_bad(st, "malformed multipart/form-data body");
      return MHD_YES;
    }
    if (st->len + n > inmem_max(sv)) {
      st->too_large = 2; /* 2: over the in-memory limit */
      free(st->data);
      st->data = NULL;
      st->len = st->cap = 0;
      return MHD_YES;
    }
    if (st->len + n + 1 > st->cap) {
      size_t cap = st->cap ? st->cap : 65536;
      while (cap < st->len + n + 1) cap *= 2;
      char *p = realloc(st->data, cap);
      if (!p) {
        st->too_large = 1;
        return MHD_YES;
      }
      st->data = p;
      st->cap = cap;
    }
    memcpy(st->data + st->len, upload_data, n);
    st->len += n;
    st->data[st->len] = 0;
    return MHD_YES;
  }
  pthread_mutex_lock(&sv->mu);
  int handled = st->handled;
  pthread_mutex_unlock(&sv->mu);
  if (handled) return answer(conn, sv, st);
  if (st->too_large)
    return send_error(conn, sv, 413,
                      st->too_large == 2 ? INMEM_TOO_LARGE
                                         : "the request body is larger than this server accepts");

  srv_request *req = &st->req;
  srv_response *res = &st->res;
  st->built = 1;
  req->ctx = sv->ctx;
  req->method = method;
  req->path = url;
  /* header values stay valid while the request lasts, suspended or not */
  req->authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
  req->content_type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
  req->session = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, "escrow_session");
  req->csrf = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-CSRF-Token");
  req->origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
  req->host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
  req->tls = sv->tls;
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
    inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, st->addr,
              sizeof st->addr);
  req->addr = st->addr[0] ? st->addr : NULL;
  char err[256];
  int ready = 0; /* read in full: a worker may handle it */
  if (MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, add_arg, &req->query) < 0 ||
      req->query.n >= SRV_FORM_MAX_FIELDS) {
    srv_respond_error(res, 400, "the query string has too many arguments", NULL);
  } else if (st->fields) {
    if ((!st->pp && !st->bad[0]) || stream_finish(st, &req->body))
      srv_respond_error(res, 400, st->bad[0] ? st->bad : "malformed multipart/form-data body", NULL);
    else
      ready = 1;
  } else if (srv_form_parse_body(&req->body, req->content_type, st->data, st->len, err,
                                 sizeof err)) {
    srv_respond_error(res, 400, err, NULL);
  } else {
    ready = 1;
  }
  if (ready && hand_off(sv, conn, st) == 0) return MHD_YES;
  if (ready) srv_respond_error(res, 503, "the server is stopping", NULL);
  return answer(conn, sv, st);
}

/* Forget the request: its fields, its answer and any uploaded file no rule adopted. */
static void request_clear(conn_state *st) {
  if (!st->built) return;
  for (size_t i = 0; i < st->req.body.n; i++)
    if (st->req.body.fields[i].blob_tmp) unlink(st->req.body.fields[i].blob_tmp);
  explicit_bzero(st->res.set_cookie, sizeof st->res.set_cookie);
  srv_buf_free(&st->res.body);
  srv_form_clear(&st->req.query);
  srv_form_clear(&st->req.body);
  st->built = 0;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)conn;
  (void)toe;
  conn_state *st = *con_cls;
  if (st) {
    request_clear(st);
    stream_free(st); /* an interrupted upload leaves no temporary file */
    free(st->data);
    free(st);
  }
  *con_cls = NULL;
}

/* Answer what is queued, then end the workers and free them. */
static void stop_workers(server *sv, pthread_t *workers, unsigned n) {
  pthread_mutex_lock(&sv->mu);
  sv->stopping = 1;
  while (sv->inflight) pthread_cond_wait(&sv->idle, &sv->mu);
  sv->quit = 1;
  pthread_cond_broadcast(&sv->q[Q_OTHER].ready);
  pthread_cond_broadcast(&sv->q[Q_PASSWORD].ready);
  pthread_mutex_unlock(&sv->mu);
  for (unsigned i = 0; i < n; i++) pthread_join(workers[i], NULL);
  free(workers);
}

int srv_http_serve(srv_ctx *ctx, const srv_http_options *opts) {
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)opts->port);
  if (inet_pton(AF_INET, opts->host, &sa.sin_addr) != 1) {
    fprintf(stderr, "escrowd: --listen needs an IPv4 address and port, e.g. 127.0.0.1:8080\n");
    return -1;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
  server sv = {.ctx = ctx, .max_body = opts->max_body, .web_dir = opts->web_dir,
                .tls = opts->tls_cert != NULL};
  pthread_mutex_init(&sv.mu, NULL);
  pthread_cond_init(&sv.idle, NULL);
  pthread_cond_init(&sv.q[Q_OTHER].ready, NULL);
  pthread_cond_init(&sv.q[Q_PASSWORD].ready, NULL);
  /* Polling threads read requests and write answers; they never block on a handler. They
   * poll() (level-triggered): with MHD's epoll mode a client that closed its connection in the
   * middle of an upload was noticed only at the connection's timeout, 60 s later, its
   * temporary file kept until then (server_accounts sends three such uploads).
   * Workers handle the requests in the order they were read: under load every request waits
   * about as long as any other (bench/bench_server.sh), and a slow request (a key release)
   * holds up one worker, not the connections polled with it. Password checks have workers
   * of their own (bench/bench_login_stall.py). */
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  unsigned nworkers = opts->workers ? opts->workers : cores > 2 ? (unsigned)(2 * cores) : 4;
  if (nworkers > 1024) nworkers = 1024;
  nworkers += SRV_PASSWORD_LANES;
  /* Connections: as many as the descriptor limit allows (raised to its hard limit, at most
   * 65536) less room for files and database connections. With several polling threads MHD
   * splits the limit between them, and one busy thread may accept more than its share. */
  struct rlimit rl;
  unsigned max_conns = 1000;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
    if (rl.rlim_cur < want) {
      rl.rlim_cur = want;
      (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur > 256)
      max_conns = (unsigned)(rl.rlim_cur - 128);
  }
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_POLL |
                   MHD_ALLOW_SUSPEND_RESUME;
  if (sv.tls) {
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
      fprintf(stderr, "escrowd: this libmicrohttpd was built without TLS\n");
      return -1;
    }
    flags |= MHD_USE_TLS;
  }
  struct MHD_OptionItem tls_opts[] = {
      {sv.tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, (void *)opts->tls_cert},
      {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)opts->tls_key},
      {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"},
      {MHD_OPTION_END, 0, NULL}};
  pthread_t *workers = calloc(nworkers, sizeof *workers);
  worker_arg wa[2] = {{&sv, &sv.q[Q_OTHER]}, {&sv, &sv.q[Q_PASSWORD]}};
  unsigned started = 0;
  while (workers && started < nworkers &&
         pthread_create(&workers[started], NULL, worker,
                        &wa[started < SRV_PASSWORD_LANES ? Q_PASSWORD : Q_OTHER]) == 0)
    started++;
  if (started < nworkers) {
    fprintf(stderr, "escrowd: cannot start %u request workers\n", nworkers);
    stop_workers(&sv, workers, started);
    return -1;
  }
  struct MHD_Daemon *d = MHD_start_daemon(
      flags, 0, NULL, NULL, on_request, &sv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
      (unsigned)60, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
      MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)256, MHD_OPTION_CONNECTION_LIMIT,
      max_conns, MHD_OPTION_THREAD_POOL_SIZE,
      opts->threads > 1 ? opts->threads : 0, MHD_OPTION_ARRAY, tls_opts,
      MHD_OPTION_END);
  if (!d) {
    fprintf(stderr, "escrowd: cannot listen on %s:%u\n", opts->host, opts->port);
    stop_workers(&sv, workers, started);
    return -1;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  printf("{\"listening\":\"%s:%u\",\"tls\":%s}\n", opts->host,
         info ? (unsigned)info->port : opts->port, sv.tls ? "true" : "false");
  fflush(stdout);
  /* the runners tell the enclave where to find this server (key release) */
  srv_runs_set_listen(ctx, opts->host, info ? (unsigned)info->port : opts->port, sv.tls);
  int sig = 0;
  sigwait(&set, &sig);
  /* no suspended connection may outlive the daemon: the workers answer what they hold, new
   * requests get 503, and only then does the daemon stop */
  stop_workers(&sv, workers, started);
  MHD_stop_daemon(d);
  pthread_cond_destroy(&sv.idle);
  pthread_cond_destroy(&sv.q[Q_OTHER].ready);
  pthread_cond_destroy(&sv.q[Q_PASSWORD].ready);
  pthread_mutex_destroy(&sv.mu);
  fprintf(stderr, "escrowd: stopped (signal %d)\n", sig);
  return 0;
}
