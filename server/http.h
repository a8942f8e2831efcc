/* escrowd: the HTTP layer (GNU libmicrohttpd) and the request/response the handlers see. */
#ifndef ESCROWD_HTTP_H
#define ESCROWD_HTTP_H

#include <stddef.h>

#include "buf.h"
#include "domain.h"
#include "form.h"
#include "router.h"

typedef struct srv_request {
  srv_ctx *ctx;
  const char *method, *path;
  const char *authorization, *content_type;
  const char *session; /* the escrow_session cookie, NULL when absent */
  const char *origin, *host; /* the Origin and Host headers, NULL when absent */
  const char *csrf;    /* the X-CSRF-Token header */
  const char *addr;    /* the client's address (text) */
  int tls;             /* the connection is TLS */
  srv_form query; /* URL query arguments */
  srv_form body;  /* form or multipart body fields */
} srv_request;

typedef struct srv_response {
  int status;
  srv_buf body; /* JSON */
  char set_cookie[160]; /* a Set-Cookie header value, "" for none */
} srv_response;

/* A request parameter from the body, else the query (GET requests of the sample carry form
 * bodies). *conflict is set when both hold different values. NULL when absent. */
const char *srv_param(const srv_request *req, const char *name, int *conflict);

/* Authenticate a project-scoped request: a Bearer JWT (the project is its sub; a project_id
 * parameter, if sent, must name it) or the web session cookie (the project_id parameter
 * chooses the project, the user must be a member; unsafe methods need X-CSRF-Token). 0, or -1
 * with the answer set. */
int srv_authenticate_request(srv_request *req, srv_response *res, srv_caller *c);

/* Answer {"error": msg} (plus "schema_errors" when detail is JSON text). */
void srv_respond_error(srv_response *res, int status, const char *msg, const char *detail);
/* Map a domain error to its status and answer. */
void srv_respond_domain_error(srv_response *res, const srv_err *err, const char *detail);

extern const srv_route srv_routes[];
extern const size_t srv_nroutes;

/* Handle one fully read request (routing, parsing done by the caller). Used by the MHD glue and
 * by tests. */
void srv_dispatch(srv_request *req, srv_response *res);
/* Whether srv_dispatch would run a handler that checks a password (Argon2id). */
int srv_dispatch_checks_password(const srv_request *req);

typedef struct srv_http_options {
  const char *host; /* "127.0.0.1" */
  unsigned port;
  size_t max_body;  /* bytes */
  const char *web_dir;  /* static files served at / (web.h), NULL for none */
  const char *tls_cert; /* PEM text of the certificate chain, NULL for plain HTTP */
  const char *tls_key;  /* PEM text of its private key (kept in secure memory by the caller) */
  unsigned threads; /* threads polling the connections; 0 or 1: one */
  unsigned workers; /* threads handling the requests read, in arrival order (and
                       SRV_PASSWORD_LANES more for password checks); 0: twice the cores, at
                       least 4 */
} srv_http_options;

/* Serve until SIGINT/SIGTERM. 0 on a clean stop, -1 when the daemon cannot start. */
int srv_http_serve(srv_ctx *ctx, const srv_http_options *opts);

#endif
