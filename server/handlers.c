/* escrowd: API handlers: parse, authorise, call the domain layer. */
#include <stdio.h>
#include <string.h>

#include <sodium.h>
#include <stdlib.h>

#include "accounts.h"
#include "http.h"
#include "runs.h"

const char *srv_param(const srv_request *req, const char *name, int *conflict) {
  const srv_field *b = srv_form_get(&req->body, name, NULL);
  const srv_field *q = srv_form_get(&req->query, name, NULL);
  if (b && b->filename) b = NULL; /* a file part is not a parameter */
  if (b && q && strcmp(b->value, q->value) != 0 && conflict) *conflict = 1;
  return b ? b->value : q ? q->value : NULL;
}

static void respond_error_key(srv_response *res, int status, const char *msg, const char *key,
                              const char *detail) {
  res->status = status;
  srv_buf_free(&res->body);
  srv_buf_puts(&res->body, "{");
  srv_buf_json_kv(&res->body, 1, "error", msg);
  if (detail && *detail) {
    srv_buf_puts(&res->body, ",");
    srv_buf_json_str(&res->body, key);
    srv_buf_puts(&res->body, ":");
    srv_buf_puts(&res->body, detail);
  }
  srv_buf_puts(&res->body, "}");
}

void srv_respond_error(srv_response *res, int status, const char *msg, const char *detail) {
  respond_error_key(res, status, msg, "schema_errors", detail);
}

void srv_respond_domain_error(srv_response *res, const srv_err *err, const char *detail) {
  static const int status[] = {500, 400, 401, 403, 404, 409, 422, 500, 429};
  int k = err->kind >= 0 && err->kind <= SRV_E_RATELIMIT ? err->kind : SRV_E_INTERNAL;
  respond_error_key(res, status[k], err->msg, err->detail_key ? err->detail_key : "schema_errors",
                    detail);
}

static int is_unsafe(const char *method) {
  return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
         strcmp(method, "OPTIONS") != 0;
}

/* A web session's user (the escrow_session cookie): unsafe methods must carry the session's
 * X-CSRF-Token. 0, or -1 with the answer made. */
static int session_user(srv_request *req, srv_response *res, srv_user *u) {
  srv_err err = {0};
  if (dom_session_user(req->ctx, req->session, u, &err)) {
    srv_respond_domain_error(res, &err, NULL);
    return -1;
  }
  if (is_unsafe(req->method) && !dom_csrf_ok(req->session, req->csrf)) {
    srv_user_clear(u);
    srv_respond_error(res, 403,
                      "X-CSRF-Token is missing or wrong: send the csrf_token the login answered",
                      NULL);
    return -1;
  }
  return 0;
}

/* The caller's credentials: a Bearer token when Authorization is sent, else the session
 * cookie. */
static int uses_session(const srv_request *req) {
  return !req->authorization && req->session;
}

/* Authenticate a project-scoped request. Bearer JWT: the project is the token's sub, and a
 * project_id parameter (if sent) must name it. Session: project_id chooses the project. */
static int auth(srv_request *req, srv_response *res, srv_caller *c) {
  srv_err err = {0};
  int conflict = 0;
  const char *pid = srv_param(req, "project_id", &conflict);
  if (conflict) {
    srv_respond_error(res, 400, "project_id differs between the query and the body", NULL);
    return -1;
  }
  if (uses_session(req)) {
    srv_user u;
    if (session_user(req, res, &u)) return -1;
    if (dom_session_caller(req->ctx, &u, pid, c, &err)) {
      srv_respond_domain_error(res, &err, NULL);
      return -1;
    }
    return 0;
  }
  if (dom_authenticate(req->ctx, req->authorization, c, &err)) {
    srv_respond_domain_error(res, &err, NULL);
    return -1;
  }
  if (pid && strcmp(pid, c->project.id) != 0) {
    srv_respond_error(res, 403, "project_id is not the project your token names (sub)", NULL);
    srv_caller_clear(c);
    return -1;
  }
  return 0;
}

int srv_authenticate_request(srv_request *req, srv_response *res, srv_caller *c) {
  return auth(req, res, c);
}

/* Authenticate a request about the user rather than one project: a session, or a Bearer
 * token (its user). */
static int auth_user(srv_request *req, srv_response *res, srv_user *u) {
  memset(u, 0, sizeof *u);
  if (uses_session(req)) return session_user(req, res, u);
  srv_caller c;
  srv_err err = {0};
  if (dom_authenticate(req->ctx, req->authorization, &c, &err)) {
    srv_respond_domain_error(res, &err, NULL);
    return -1;
  }
  *u = c.user;
  memset(&c.user, 0, sizeof c.user);
  srv_caller_clear(&c);
  return 0;
}

/* A parameter sent at most once (query or body); -1 with 400 answered otherwise. */
static int one_param(srv_request *req, srv_response *res, const char *name, const char **out) {
  int conflict = 0;
  size_t n = 0;
  *out = srv_param(req, name, &conflict);
  srv_form_get(&req->body, name, &n);
  if (conflict || n > 1) {
    char m[128];
    snprintf(m, sizeof m, "%s is given more than once", name);
    srv_respond_error(res, 400, m, NULL);
    return -1;
  }
  return 0;
}

/* The version fields every artifact upload carries. */
static int version_fields(srv_request *req, srv_response *res, srv_version_in *v) {
  const char *names[] = {"name", "description", "version_tag", "version_description"};
  const char **dst[] = {&v->name, &v->description, &v->version_tag, &v->version_description};
  for (int i = 0; i < 4; i++) {
    int conflict = 0;
    *dst[i] = srv_param(req, names[i], &conflict);
    size_t n = 0;
    srv_form_get(&req->body, names[i], &n);
    if (conflict || n > 1) {
      char m[128];
      snprintf(m, sizeof m, "%s is given more than once", names[i]);
      srv_respond_error(res, 400, m, NULL);
      return -1;
    }
  }
  return 0;
}

/* The uploaded file: the part named file_name (the sample's field). required: 0 optional,
 * 1 required, 2 required and may be a large streamed file (value empty, blob_tmp set). */
static int file_field(srv_request *req, srv_response *res, const srv_field **out, int required) {
  size_t n = 0;
  const srv_field *f = srv_form_get(&req->body, "file_name", &n);
  *out = NULL;
  if (n > 1) {
    srv_respond_error(res, 400, "send one file in the field file_name", NULL);
    return -1;
  }
  if (!f || !f->filename) {
    if (!required) return 0;
    srv_respond_error(res, 400, "file_name: a file part (multipart/form-data) is required", NULL);
    return -1;
  }
  if (!srv_valid_file_name(f->filename)) {
    srv_respond_error(res, 400,
                      "file_name: the file name must be a plain name (no folders, no leading "
                      "dot, no control characters)",
                      NULL);
    return -1;
  }
  if (f->blob_tmp) {
    if (required == 2) { /* the caller takes a stored file (the algorithm zip) */
      *out = f;
      return 0;
    }
    srv_respond_error(res, 413, "file_name: a file of this kind may have at most 64 MiB", NULL);
    return -1;
  }
  if (f->len == 0) {
    srv_respond_error(res, 400, "file_name: the file is empty", NULL);
    return -1;
  }
  *out = f;
  return 0;
}

static void finish(srv_response *res, int rc, const srv_err *err, srv_buf *out, int ok_status) {
  if (rc) {
    srv_respond_domain_error(res, err, out->len ? out->p : NULL);
    srv_buf_free(out);
  } else if (out->oom) {
    srv_buf_free(out);
    srv_respond_error(res, 500, "out of memory", NULL);
  } else {
    res->status = ok_status;
    srv_buf_free(&res->body);
    res->body = *out;
  }
}

static void h_health(srv_request *req, srv_response *res) {
  (void)req;
  res->status = 200;
  srv_buf_puts(&res->body, "{\"status\":\"ok\"}");
}

static void h_kek_download(srv_request *req, srv_response *res) {
  srv_caller c;
  if (auth(req, res, &c)) return;
  srv_buf out = {0};
  srv_err err = {0};
  int rc = dom_kek_download(req->ctx, &c, &out, &err);
  finish(res, rc, &err, &out, 200);
  srv_caller_clear(&c);
}

typedef int (*upload_fn)(srv_ctx *, const srv_caller *, const srv_version_in *, const char *,
                         const unsigned char *, size_t, srv_buf *, srv_err *);

static void upload(srv_request *req, srv_response *res, upload_fn fn, const char *kind) {
  srv_caller c;
  if (auth(req, res, &c)) return;
  srv_version_in v;
  const srv_field *f;
  if (version_fields(req, res, &v) || file_field(req, res, &f, 1)) {
    srv_caller_clear(&c);
    return;
  }
  srv_buf out = {0};
  srv_err err = {0};
  int rc = kind ? dom_upload_document(req->ctx, &c, kind, &v, f->filename,
                                      (const unsigned char *)f->value, f->len, &out, &err)
                : fn(req->ctx, &c, &v, f->filename, (const unsigned char *)f->value, f->len,
                     &out, &err);
  finish(res, rc, &err, &out, 201);
  srv_caller_clear(&c);
}

static void h_wcek(srv_request *req, srv_response *res) { upload(req, res, dom_upload_wcek, NULL); }
static void h_criteria(srv_request *req, srv_response *res) {
  upload(req, res, dom_upload_criteria, NULL);
}
static void h_spec(srv_request *req, srv_response *res) {
  upload(req, res, NULL, "data_specification");
}
static void h_attestation(srv_request *req, srv_response *res) {
  upload(req, res, NULL, "data_attestation");
}

static void h_dataset(srv_request *req, srv_response *res) {
  srv_caller c;
  if (auth(req, res, &c)) return;
  srv_version_in v;
  if (version_fields(req, res, &v)) {
    srv_caller_clear(&c);
    return;
  }
  int conflict = 0;
  const char *uri = srv_param(req, "dataset_uri", &conflict);
  const char *spec = srv_param(req, "data_specification_version", &conflict);
  const char *att = srv_param(req, "data_attestation_version", &conflict);
  const char *tags = srv_param(req, "tags", &conflict);
  if (conflict) {
    srv_respond_error(res, 400, "a parameter differs between the query and the body", NULL);
    srv_caller_clear(&c);
    return;
  }
  srv_buf out = {0};
  srv_err err = {0};
  int rc = dom_upload_dataset(req->ctx, &c, &v, uri, spec, att, tags, &out, &err);
  finish(res, rc, &err, &out, 201);
  srv_caller_clear(&c);
}

static void h_criteria_accept(srv_request *req, srv_response *res) {
  srv_caller c;
  if (auth(req, res, &c)) return;
  int conflict = 0;
  const char *tag = srv_param(req, "validation_criteria_version", &conflict);
  if (conflict) {
    srv_respond_error(res, 400, "validation_criteria_version differs between the query and the body", NULL);
    srv_caller_clear(&c);
    return;
  }
  srv_buf out = {0};
  srv_err err = {0};
  int rc = dom_accept_criteria(req->ctx, &c, tag, &out, &err);
  finish(res, rc, &err, &out, 201);
  srv_caller_clear(&c);
}

static void h_artifacts(srv_request *req, srv_response *res) {
  srv_caller c;
  if (auth(req, res, &c)) return;
  int conflict = 0;
  const char *kind = srv_param(req, "artifact_type", &conflict);
  srv_buf out = {0};
  srv_err err = {0};
  int rc = conflict ? (err.kind = SRV_E_BADREQ,
                       snprintf(err.msg, sizeof err.msg, "artifact_type differs between the query and the body"),
                       SRV_E_BADREQ)
                    : dom_list_versions(req->ctx, &c, kind, &out, &err);
  finish(res, rc, &err, &out, 200);
  srv_caller_clear(&c);
}

static void h_algorithm(srv_request *req, srv_response *res) {
  srv_caller c;
  if (auth(req, res, &c)) return;
  srv_version_in v;
  const srv_field *f;
  if (version_fields(req, res, &v) || file_field(req, res, &f, 2)) {
    srv_caller_clear(&c);
    return;
  }
  int conflict = 0;
  srv_algorithm_in a = {
      .algorithm_type = srv_param(req, "algorithm_type", &conflict),
      .criteria_tag = srv_param(req, "validation_criteria_version", &conflict),
      .attestation_tag = srv_param(req, "data_attestation_version", &conflict),
      .upload_type = srv_param(req, "upload_type", &conflict),
      .upload_file_name = srv_param(req, "upload_file_name", &conflict)};
  if (conflict || (a.upload_file_name && *a.upload_file_name && !srv_valid_file_name(a.upload_file_name))) {
    srv_respond_error(res, 400, conflict ? "a parameter differs between the query and the body"
                                         : "upload_file_name must be a plain file name", NULL);
    srv_caller_clear(&c);
    return;
  }
  srv_buf out = {0};
  srv_err err = {0};
  int rc = f->blob_tmp
               ? dom_upload_algorithm_stored(req->ctx, &c, &v, &a, f->filename, f->blob_tmp,
                                             f->blob_hex, &out, &err)
               : dom_upload_algorithm(req->ctx, &c, &v, &a, f->filename,
                                      (const unsigned char *)f->value, f->len, &out, &err);
  finish(res, rc, &err, &out, 201);
  srv_caller_clear(&c);
}

/* ---- accounts, sessions, projects (accounts.h) ------------------------------------------ */

static void set_session_cookie(srv_request *req, srv_response *res, const char *token,
                               long long max_age) {
  snprintf(res->set_cookie, sizeof res->set_cookie,
           "escrow_session=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%lld%s", token,
           max_age, req->tls ? "; Secure" : "");
}

/* A browser's login from another site's page (login CSRF) names that site in Origin: its
 * host must be this server's Host (the scheme is not compared, so a TLS-terminating proxy that
 * keeps Host works). Clients that send no Origin (the API, curl) are not affected. */
static int same_origin(const srv_request *req) {
  if (!req->origin) return 1;
  const char *sep = strstr(req->origin, "://");
  return req->host && sep && strcmp(sep + 3, req->host) == 0;
}

static void h_login(srv_request *req, srv_response *res) {
  if (!same_origin(req)) {
    srv_respond_error(res, 403, "the login must come from this server's own pages (Origin)", NULL);
    return;
  }
  const char *email, *password;
  if (one_param(req, res, "email", &email) || one_param(req, res, "password", &password)) return;
  char token[SRV_SESSION_TOKEN_LEN + 1];
  srv_buf out = {0};
  srv_err err = {0};
  int rc = dom_login(req->ctx, email, password, req->addr, token, &out, &err);
  if (!rc) set_session_cookie(req, res, token, (long long)req->ctx->cfg.session_ttl);
  sodium_memzero(token, sizeof token);
  finish(res, rc, &err, &out, 200);
}

static void h_logout(srv_request *req, srv_response *res) {
  if (!uses_session(req)) {
    srv_respond_error(res, 401, "logout ends a web session: send the escrow_session cookie", NULL);
    return;
  }
  srv_user u;
  if (session_user(req, res, &u)) return;
  srv_user_clear(&u);
  srv_err err = {0};
  srv_buf out = {0};
  int rc = dom_logout(req->ctx, req->session, &err);
  if (!rc) {
    srv_buf_puts(&out, "{\"logged_out\":true}");
    set_session_cookie(req, res, "", 0);
  }
  finish(res, rc, &err, &out, 200);
}

typedef int (*user_fn)(srv_ctx *, const srv_user *, srv_buf *, srv_err *);

/* A user-level GET: authenticate, call fn. */
static void user_get(srv_request *req, srv_response *res, user_fn fn) {
  srv_user u;
  if (auth_user(req, res, &u)) return;
  srv_buf out = {0};
  srv_err err = {0};
  int rc = fn(req->ctx, &u, &out, &err);
  finish(res, rc, &err, &out, 200);
  srv_user_clear(&u);
}

static void h_me(srv_request *req, srv_response *res) {
  srv_user u;
  if (auth_user(req, res, &u)) return;
  srv_buf out = {0};
  srv_err err = {0};
  int rc = dom_me(req->ctx, &u, &out, &err);
  if (!rc && uses_session(req) && out.len && out.p[out.len - 1] == '}') {
    /* a reloaded page gets its CSRF token back */
    char csrf[SRV_CSRF_TOKEN_LEN + 1];
    dom_csrf_token(req->session, csrf);
    out.len--;
    srv_buf_json_kv(&out, 0, "csrf_token", csrf);
    srv_buf_puts(&out, "}");
    sodium_memzero(csrf, sizeof csrf);
  }
  finish(res, rc, &err, &out, 200);
  srv_user_clear(&u);
}

static void h_search(srv_request *req, srv_response *res) {
  srv_user u;
  const char *q;
  if (one_param(req, res, "q", &q) || auth_user(req, res, &u)) return;
  srv_buf out = {0};
  srv_err err = {0};
  int rc = dom_search(req->ctx, &u, q, &out, &err);
  finish(res, rc, &err, &out, 200);
  srv_user_clear(&u);
}

static void h_api_key(srv_request *req, srv_response *res) {
  const char *pem;
  if (one_param(req, res, "public_key", &pem)) return;
  size_t n = 0;
  const srv_field *f = srv_form_get(&req->body, "file_name", &n);
  if (!pem && f && f->filename && n == 1 && memchr(f->value, 0, f->len) == NULL) pem = f->value;
  srv_user u;
  if (auth_user(req, res, &u)) return;
  srv_buf out = {0};
  srv_err err = {0};
  int rc = dom_register_api_key(req->ctx, &u, pem, &out, &err);
  finish(res, rc, &err, &out, 200);
  srv_user_clear(&u);
}

static void h_projects(srv_request *req, srv_response *res) {
  const char *pid;
  if (one_param(req, res, "project_id", &pid)) return;
  srv_user u;
  if (auth_user(req, res, &u)) return;
  srv_buf out = {0};
  srv_err err = {0};
  int rc = pid ? dom_get_project(req->ctx, &u, pid, &out, &err)
               : dom_list_projects(req->ctx, &u, &out, &err);
  finish(res, rc, &err, &out, 200);
  srv_user_clear(&u);
}

static void h_orgs(srv_request *req, srv_response *res) { user_get(req, res, dom_list_orgs); }
static void h_users(srv_request *req, srv_response *res) { user_get(req, res, dom_list_users); }

/* Every value of a repeated parameter (body, else query). -1 with 400 when more than max. */
static int multi_param(srv_request *req, srv_response *res, const char *name, const char **v,
                       size_t max, size_t *n) {
  *n = 0;
  const srv_form *forms[] = {&req->body, &req->query};
  for (int k = 0; k < 2 && *n == 0; k++)
    for (size_t i = 0; i < forms[k]->n; i++) {
      const srv_field *f = &forms[k]->fields[i];
      if (strcmp(f->name, name) != 0 || f->filename) continue;
      if (*n == max) {
        char m[128];
        snprintf(m, sizeof m, "%s: at most %zu values", name, max);
        srv_respond_error(res, 400, m, NULL);
        return -1;
      }
      v[(*n)++] = f->value;
    }
  return 0;
}

static int bool_param(srv_request *req, srv_response *res, const char *name, int *out) {
  const char *v;
  if (one_param(req, res, name, &v)) return -1;
  *out = 0;
  if (!v || !*v || !strcmp(v, "false") || !strcmp(v, "0")) return 0;
  if (!strcmp(v, "true") || !strcmp(v, "1")) {
    *out = 1;
    return 0;
  }
  char m[128];
  snprintf(m, sizeof m, "%s must be true or false", name);
  srv_respond_error(res, 400, m, NULL);
  return -1;
}

/* The operator's POSTs: the user must be the platform operator. */
static int operator_user(srv_request *req, srv_response *res, srv_user *u) {
  if (auth_user(req, res, u)) return -1;
  srv_err err = {0};
  if (dom_require_operator(u, &err)) {
    srv_respond_domain_error(res, &err, NULL);
    srv_user_clear(u);
    return -1;
  }
  return 0;
}

static void h_org_create(srv_request *req, srv_response *res) {
  const char *name;
  if (one_param(req, res, "name", &name)) return;
  srv_user u;
  if (operator_user(req, res, &u)) return;
  srv_buf out = {0};
  srv_err err = {0};
  int rc = name ? dom_create_org(req->ctx, name, &out, &err)
                : (err.kind = SRV_E_BADREQ, snprintf(err.msg, sizeof err.msg, "name is required"),
                   SRV_E_BADREQ);
  finish(res, rc, &err, &out, 201);
  srv_user_clear(&u);
}

static void h_user_create(srv_request *req, srv_response *res) {
  const char *org, *email, *password, *pem;
  int op;
  if (one_param(req, res, "org", &org) || one_param(req, res, "email", &email) ||
      one_param(req, res, "password", &password) || one_param(req, res, "public_key", &pem) ||
      bool_param(req, res, "operator", &op))
    return;
  srv_buf out = {0};
  srv_err err = {0};
  char hash[crypto_pwhash_STRBYTES] = "";
  srv_user u;
  if (operator_user(req, res, &u)) return;
  int rc = 0;
  if (!org || !email)
    rc = (err.kind = SRV_E_BADREQ, snprintf(err.msg, sizeof err.msg, "org and email are required"),
          SRV_E_BADREQ);
  if (!rc && password && *password) rc = dom_password_hash(password, hash, sizeof hash, &err);
  if (!rc) {
    rc = dom_create_user(req->ctx, org, email, pem && *pem ? pem : NULL, op, &out, &err);
    if (!rc && hash[0]) rc = dom_set_password_hash(req->ctx, email, hash, &err);
  }
  sodium_memzero(hash, sizeof hash);
  finish(res, rc, &err, &out, 201);
  srv_user_clear(&u);
}

#define MAXLIST 32

static void h_project_create(srv_request *req, srv_response *res) {
  const char *name, *description, *ao_org, *tee;
  const char *ds[MAXLIST], *users[2 * MAXLIST];
  size_t nds, nusers;
  int training;
  if (one_param(req, res, "name", &name) || one_param(req, res, "description", &description) ||
      one_param(req, res, "ao_org", &ao_org) || one_param(req, res, "tee", &tee) ||
      bool_param(req, res, "training", &training) ||
      multi_param(req, res, "ds_org", ds, MAXLIST, &nds) ||
      multi_param(req, res, "user", users, 2 * MAXLIST, &nusers))
    return;
  srv_user u;
  if (operator_user(req, res, &u)) return;
  srv_buf out = {0};
  srv_err err = {0};
  int rc = !name || !ao_org || !nds
               ? (err.kind = SRV_E_BADREQ,
                  snprintf(err.msg, sizeof err.msg, "name, ao_org and at least one ds_org are required"),
                  SRV_E_BADREQ)
               : dom_create_project(req->ctx, name, description ? description : "", ao_org, ds,
                                    nds, training, tee && *tee ? tee : "sandbox", users, nusers,
                                    &out, &err);
  finish(res, rc, &err, &out, 201);
  srv_user_clear(&u);
}

static void h_project_state(srv_request *req, srv_response *res) {
  const char *pid, *state;
  if (one_param(req, res, "project_id", &pid) || one_param(req, res, "state", &state)) return;
  srv_user u;
  if (auth_user(req, res, &u)) return;
  srv_buf out = {0};
  srv_err err = {0};
  int rc = dom_project_set_state(req->ctx, &u, pid, state, &out, &err);
  finish(res, rc, &err, &out, 200);
  srv_user_clear(&u);
}

static void h_project_user(srv_request *req, srv_response *res) {
  const char *pid, *email;
  if (one_param(req, res, "project_id", &pid) || one_param(req, res, "email", &email)) return;
  srv_user u;
  if (auth_user(req, res, &u)) return;
  srv_buf out = {0};
  srv_err err = {0};
  int rc = dom_project_add_user(req->ctx, &u, pid, email, &out, &err);
  finish(res, rc, &err, &out, 201);
  srv_user_clear(&u);
}

const srv_route srv_routes[] = {
    {"GET", "/healthz", h_health, 0},
    {"GET", "/api/v1/key-encryption-key-download", h_kek_download, 0},
    {"POST", "/api/v1/wrapped-content-encryption-key", h_wcek, 0},
    {"POST", "/api/v1/validation-criteria", h_criteria, 0},
    {"POST", "/api/v1/data-specification", h_spec, 0},
    {"POST", "/api/v1/data-attestation", h_attestation, 0},
    {"POST", "/api/v1/dataset", h_dataset, 0},
    {"POST", "/api/v1/validation-criteria-accept", h_criteria_accept, 0},
    {"GET", "/api/v1/artifact", h_artifacts, 0},
    {"POST", "/api/v1/algorithm", h_algorithm, 0},
    {"POST", "/api/v1/login", h_login, 1},
    {"POST", "/api/v1/logout", h_logout, 0},
    {"GET", "/api/v1/me", h_me, 0},
    {"GET", "/api/v1/search", h_search, 0},
    {"POST", "/api/v1/api-key", h_api_key, 0},
    {"GET", "/api/v1/project", h_projects, 0},
    {"POST", "/api/v1/project", h_project_create, 0},
    {"POST", "/api/v1/project-state", h_project_state, 0},
    {"POST", "/api/v1/project-user", h_project_user, 0},
    {"GET", "/api/v1/organisation", h_orgs, 0},
    {"POST", "/api/v1/organisation", h_org_create, 0},
    {"GET", "/api/v1/user", h_users, 0},
    {"POST", "/api/v1/user", h_user_create, 1},
};
const size_t srv_nroutes = sizeof srv_routes / sizeof srv_routes[0];

static const srv_route *route_of(const srv_request *req, int *status, char *allow,
                                 size_t allowsz) {
  const srv_route *r =
      srv_route_find(srv_routes, srv_nroutes, req->method, req->path, status, allow, allowsz);
  if (!r && *status == 404) /* the runs module's routes (runs_http.c) */
    r = srv_route_find(srv_runs_routes, srv_runs_nroutes, req->method, req->path, status, allow,
                       allowsz);
  return r;
}

int srv_dispatch_checks_password(const srv_request *req) {
  int status;
  char allow[64];
  const srv_route *r = route_of(req, &status, allow, sizeof allow);
  return r && r->checks_password;
}

void srv_dispatch(srv_request *req, srv_response *res) {
  int status;
  char allow[64];
  const srv_route *r = route_of(req, &status, allow, sizeof allow);
  if (!r) {
    srv_respond_error(res, status, status == 404 ? "no such endpoint" : "method not allowed",
                      NULL);
    return;
  }
  r->handler(req, res);
}
