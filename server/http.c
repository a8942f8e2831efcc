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
#include <sys/socket.h>
#include <unistd.h>

#include "web.h"

typedef struct conn_state {
  char *data;
  size_t len, cap;
  int too_large;
} conn_state;

typedef struct server {
  srv_ctx *ctx;
  size_t max_body;
  const char *web_dir;
  int tls;
} server;

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

/* GET/HEAD of a dashboard file (web.h). */
static enum MHD_Result send_static(struct MHD_Connection *conn, const server *sv,
                                   const char *url, const char *method) {
  srv_web_file f;
  int status = srv_web_open(sv->web_dir, url, &f);
  if (status) {
    fprintf(stderr, "escrowd: %s %s -> %d\n", method, url, status);
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
  fprintf(stderr, "escrowd: %s %s -> 200\n", method, url);
  return ret;
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
    *con_cls = st;
    if (sv->web_dir && !srv_web_is_api_path(url) &&
        (!strcmp(method, "GET") || !strcmp(method, "HEAD")))
      return send_static(conn, sv, url, method);
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    if (cl) {
      char *end;
      unsigned long long n = strtoull(cl, &end, 10);
      if (*end || n > sv->max_body) {
        st->too_large = 1;
        return send_error(conn, sv, 413, "the request body is larger than this server accepts");
      }
    }
    return MHD_YES;
  }
  if (*upload_data_size) {
    size_t n = *upload_data_size;
    *upload_data_size = 0;
    if (st->too_large) return MHD_YES;
    if (st->len + n > sv->max_body) {
      st->too_large = 1;
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
  if (st->too_large)
    return send_error(conn, sv, 413, "the request body is larger than this server accepts");

  srv_request req = {.ctx = sv->ctx, .method = method, .path = url};
  srv_form_init(&req.query);
  srv_form_init(&req.body);
  req.authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
  req.content_type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
  req.session = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, "escrow_session");
  req.csrf = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-CSRF-Token");
  req.tls = sv->tls;
  char addr[INET6_ADDRSTRLEN] = "";
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
    inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, addr, sizeof addr);
  req.addr = addr[0] ? addr : NULL;
  srv_response res = {0};
  char err[256];
  if (MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, add_arg, &req.query) < 0 ||
      req.query.n >= SRV_FORM_MAX_FIELDS) {
    srv_respond_error(&res, 400, "the query string has too many arguments", NULL);
  } else if (srv_form_parse_body(&req.body, req.content_type, st->data, st->len, err,
                                 sizeof err)) {
    srv_respond_error(&res, 400, err, NULL);
  } else {
    srv_dispatch(&req, &res);
  }
  enum MHD_Result r;
  if (res.body.oom || !res.body.p)
    r = send_error(conn, sv, 500, "out of memory");
  else
    r = send_json_c(conn, sv, res.status, res.body.p, res.body.len, res.set_cookie);
  explicit_bzero(res.set_cookie, sizeof res.set_cookie);
  fprintf(stderr, "escrowd: %s %s -> %d\n", method, url, res.status);
  srv_buf_free(&res.body);
  srv_form_clear(&req.query);
  srv_form_clear(&req.body);
  return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)conn;
  (void)toe;
  conn_state *st = *con_cls;
  if (st) {
    free(st->data);
    free(st);
  }
  *con_cls = NULL;
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
  server sv = {ctx, opts->max_body, opts->web_dir, opts->tls_cert != NULL};
  unsigned flags =
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
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
  struct MHD_Daemon *d = MHD_start_daemon(
      flags, 0, NULL, NULL, on_request, &sv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
      (unsigned)60, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024),
      MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)256, MHD_OPTION_ARRAY, tls_opts,
      MHD_OPTION_END);
  if (!d) {
    fprintf(stderr, "escrowd: cannot listen on %s:%u\n", opts->host, opts->port);
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
  MHD_stop_daemon(d);
  fprintf(stderr, "escrowd: stopped (signal %d)\n", sig);
  return 0;
}
