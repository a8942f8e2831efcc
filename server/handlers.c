/* escrowd: API handlers: parse, authorise, call the domain layer. */
#include <stdio.h>
#include <string.h>

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
  static const int status[] = {500, 400, 401, 403, 404, 409, 422, 500};
  int k = err->kind >= 0 && err->kind <= SRV_E_INTERNAL ? err->kind : SRV_E_INTERNAL;
  respond_error_key(res, status[k], err->msg, err->detail_key ? err->detail_key : "schema_errors",
                    detail);
}

/* Authenticate, and check that a project_id parameter (if sent) names the token's project. */
int srv_authenticate_request(srv_request *req, srv_response *res, srv_caller *c) {
  srv_err err = {0};
  if (dom_authenticate(req->ctx, req->authorization, c, &err)) {
    srv_respond_domain_error(res, &err, NULL);
    return -1;
  }
  int conflict = 0;
  const char *pid = srv_param(req, "project_id", &conflict);
  if (conflict) {
    srv_respond_error(res, 400, "project_id differs between the query and the body", NULL);
    srv_caller_clear(c);
    return -1;
  }
  if (pid && strcmp(pid, c->project.id) != 0) {
    srv_respond_error(res, 403, "project_id is not the project your token names (sub)", NULL);
    srv_caller_clear(c);
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

/* The uploaded file: the part named file_name (the sample's field). */
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
  if (srv_authenticate_request(req, res, &c)) return;
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
  if (srv_authenticate_request(req, res, &c)) return;
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
  if (srv_authenticate_request(req, res, &c)) return;
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
  if (srv_authenticate_request(req, res, &c)) return;
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
  if (srv_authenticate_request(req, res, &c)) return;
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
  if (srv_authenticate_request(req, res, &c)) return;
  srv_version_in v;
  const srv_field *f;
  if (version_fields(req, res, &v) || file_field(req, res, &f, 1)) {
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
  int rc = dom_upload_algorithm(req->ctx, &c, &v, &a, f->filename, (const unsigned char *)f->value,
                                f->len, &out, &err);
  finish(res, rc, &err, &out, 201);
  srv_caller_clear(&c);
}

const srv_route srv_routes[] = {
    {"GET", "/healthz", h_health},
    {"GET", "/api/v1/key-encryption-key-download", h_kek_download},
    {"POST", "/api/v1/wrapped-content-encryption-key", h_wcek},
    {"POST", "/api/v1/validation-criteria", h_criteria},
    {"POST", "/api/v1/data-specification", h_spec},
    {"POST", "/api/v1/data-attestation", h_attestation},
    {"POST", "/api/v1/dataset", h_dataset},
    {"POST", "/api/v1/validation-criteria-accept", h_criteria_accept},
    {"GET", "/api/v1/artifact", h_artifacts},
    {"POST", "/api/v1/algorithm", h_algorithm},
};
const size_t srv_nroutes = sizeof srv_routes / sizeof srv_routes[0];

void srv_dispatch(srv_request *req, srv_response *res) {
  int status;
  char allow[64];
  const srv_route *r =
      srv_route_find(srv_routes, srv_nroutes, req->method, req->path, &status, allow, sizeof allow);
  if (!r && status == 404) /* the runs module's routes (runs_http.c) */
    r = srv_route_find(srv_runs_routes, srv_runs_nroutes, req->method, req->path, &status, allow,
                       sizeof allow);
  if (!r) {
    srv_respond_error(res, status, status == 404 ? "no such endpoint" : "method not allowed",
                      NULL);
    return;
  }
  r->handler(req, res);
}
