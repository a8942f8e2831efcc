/* escrowd: the runs endpoints (DESIGN §8; docs/openapi.yaml). Parse, authenticate, call
 * runs.c. Parameters come from the body or the query (the sample's GET requests carry form
 * bodies); versions are referenced by tag. */
#include <stdio.h>
#include <string.h>

#include "http.h"
#include "runs.h"

static void done(srv_response *res, int rc, const srv_err *err, srv_buf *out, int ok) {
  if (rc) {
    srv_respond_domain_error(res, err, NULL);
    srv_buf_free(out);
  } else if (out->oom) {
    srv_buf_free(out);
    srv_respond_error(res, 500, "out of memory", NULL);
  } else {
    res->status = ok;
    srv_buf_free(&res->body);
    res->body = *out;
  }
}

/* Read the named parameters; 400 when one differs between body and query. */
static int params(srv_request *req, srv_response *res, const char *const *names,
                  const char **vals, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int conflict = 0;
    vals[i] = srv_param(req, names[i], &conflict);
    if (conflict) {
      char m[160];
      snprintf(m, sizeof m, "%s differs between the query and the body", names[i]);
      srv_respond_error(res, 400, m, NULL);
      return -1;
    }
  }
  return 0;
}

static int ref_of(srv_request *req, srv_response *res, srv_run_ref *ref) {
  static const char *const names[] = {"run_configuration", "algorithm_version", "dataset_version",
                                      "run_number"};
  const char *v[4];
  if (params(req, res, names, v, 4)) return -1;
  ref->config_id = v[0];
  ref->algorithm_version = v[1];
  ref->dataset_version = v[2];
  ref->run_number = v[3];
  return 0;
}

typedef int (*ref_op)(srv_ctx *, const srv_caller *, const srv_run_ref *, srv_buf *, srv_err *);

static void by_ref(srv_request *req, srv_response *res, ref_op op, int ok) {
  srv_caller c;
  if (srv_authenticate_request(req, res, &c)) return;
  srv_run_ref ref;
  if (ref_of(req, res, &ref) == 0) {
    srv_buf out = {0};
    srv_err err = {0};
    int rc = op(req->ctx, &c, &ref, &out, &err);
    done(res, rc, &err, &out, ok);
  }
  srv_caller_clear(&c);
}

static void h_config_create(srv_request *req, srv_response *res) {
  srv_caller c;
  if (srv_authenticate_request(req, res, &c)) return;
  static const char *const names[] = {"name", "description", "run_type"};
  const char *v[3];
  srv_run_ref ref;
  if (ref_of(req, res, &ref) == 0 && params(req, res, names, v, 3) == 0) {
    srv_run_config_in in = {v[0], v[1], v[2]};
    srv_buf out = {0};
    srv_err err = {0};
    int rc = runs_create_config(req->ctx, &c, &ref, &in, &out, &err);
    done(res, rc, &err, &out, 201);
  }
  srv_caller_clear(&c);
}

static void h_config_list(srv_request *req, srv_response *res) {
  srv_caller c;
  if (srv_authenticate_request(req, res, &c)) return;
  srv_buf out = {0};
  srv_err err = {0};
  int rc = runs_list_configs(req->ctx, &c, &out, &err);
  done(res, rc, &err, &out, 200);
  srv_caller_clear(&c);
}

static void h_request(srv_request *req, srv_response *res) {
  srv_caller c;
  if (srv_authenticate_request(req, res, &c)) return;
  static const char *const names[] = {"machine_type", "algo_container_cpus",
                                      "algo_container_memory", "runtime_parameters",
                                      "training_parameters", "run_timeout"};
  const char *v[6];
  srv_run_ref ref;
  if (ref_of(req, res, &ref) == 0 && params(req, res, names, v, 6) == 0) {
    if (v[3] && *v[3] && v[4] && *v[4]) {
      srv_respond_error(res, 400, "send runtime_parameters or training_parameters, not both", NULL);
    } else {
      srv_run_request_in in = {v[0], v[1], v[2], v[3] && *v[3] ? v[3] : v[4], v[5]};
      srv_buf out = {0};
      srv_err err = {0};
      int rc = runs_request(req->ctx, &c, &ref, &in, &out, &err);
      done(res, rc, &err, &out, 201);
    }
  }
  srv_caller_clear(&c);
}

static void h_initiate(srv_request *req, srv_response *res) { by_ref(req, res, runs_initiate, 200); }
static void h_cancel(srv_request *req, srv_response *res) { by_ref(req, res, runs_cancel, 200); }
static void h_status(srv_request *req, srv_response *res) { by_ref(req, res, runs_status, 200); }
static void h_logs(srv_request *req, srv_response *res) { by_ref(req, res, runs_logs, 200); }
static void h_model(srv_request *req, srv_response *res) { by_ref(req, res, runs_model, 200); }

static void h_reject(srv_request *req, srv_response *res) {
  srv_caller c;
  if (srv_authenticate_request(req, res, &c)) return;
  static const char *const names[] = {"reason"};
  const char *v[1];
  srv_run_ref ref;
  if (ref_of(req, res, &ref) == 0 && params(req, res, names, v, 1) == 0) {
    srv_buf out = {0};
    srv_err err = {0};
    int rc = runs_reject(req->ctx, &c, &ref, v[0], &out, &err);
    done(res, rc, &err, &out, 200);
  }
  srv_caller_clear(&c);
}

static void h_report(srv_request *req, srv_response *res) {
  srv_caller c;
  if (srv_authenticate_request(req, res, &c)) return;
  static const char *const names[] = {"format"};
  const char *v[1];
  srv_run_ref ref;
  if (ref_of(req, res, &ref) == 0 && params(req, res, names, v, 1) == 0) {
    srv_buf out = {0};
    srv_err err = {0};
    int rc = ref.dataset_version || ref.config_id
                 ? runs_report(req->ctx, &c, &ref, v[0], &out, &err)
                 : runs_reports_by_site(req->ctx, &c, ref.algorithm_version, &out, &err);
    done(res, rc, &err, &out, 200);
  }
  srv_caller_clear(&c);
}

static void h_notifications(srv_request *req, srv_response *res) {
  srv_caller c;
  if (srv_authenticate_request(req, res, &c)) return;
  static const char *const names[] = {"mark_read"};
  const char *v[1];
  if (params(req, res, names, v, 1) == 0) {
    srv_buf out = {0};
    srv_err err = {0};
    int mark = v[0] && (!strcmp(v[0], "true") || !strcmp(v[0], "1"));
    int rc = runs_notifications(req->ctx, &c, mark, &out, &err);
    done(res, rc, &err, &out, 200);
  }
  srv_caller_clear(&c);
}

static void h_chat_post(srv_request *req, srv_response *res) {
  srv_caller c;
  if (srv_authenticate_request(req, res, &c)) return;
  static const char *const names[] = {"message"};
  const char *v[1];
  if (params(req, res, names, v, 1) == 0) {
    srv_buf out = {0};
    srv_err err = {0};
    int rc = runs_chat_post(req->ctx, &c, v[0], &out, &err);
    done(res, rc, &err, &out, 201);
  }
  srv_caller_clear(&c);
}

static void h_chat_list(srv_request *req, srv_response *res) {
  srv_caller c;
  if (srv_authenticate_request(req, res, &c)) return;
  srv_buf out = {0};
  srv_err err = {0};
  int rc = runs_chat_list(req->ctx, &c, &out, &err);
  done(res, rc, &err, &out, 200);
  srv_caller_clear(&c);
}

/* The enclave's calls: authenticated by the run's bearer token (runs_key_release). */
static void h_key_release(srv_request *req, srv_response *res) {
  static const char *const names[] = {"run_id", "role", "format", "evidence"};
  const char *v[4];
  if (params(req, res, names, v, 4)) return;
  srv_buf out = {0};
  srv_err err = {0};
  int rc = runs_key_release(req->ctx, req->authorization, v[0], v[1], v[2], v[3], &out, &err);
  done(res, rc, &err, &out, 200);
}

static void h_enclave_wcek(srv_request *req, srv_response *res) {
  static const char *const names[] = {"run_id", "role"};
  const char *v[2];
  if (params(req, res, names, v, 2)) return;
  srv_buf out = {0};
  srv_err err = {0};
  int rc = runs_enclave_wcek(req->ctx, req->authorization, v[0], v[1], &out, &err);
  done(res, rc, &err, &out, 200);
}

const srv_route srv_runs_routes[] = {
    {"POST", "/api/v1/enclave/key-release", h_key_release, 0},
    {"GET", "/api/v1/enclave/wcek", h_enclave_wcek, 0},
    {"POST", "/api/v1/run-configuration", h_config_create, 0},
    {"GET", "/api/v1/run-configuration", h_config_list, 0},
    {"POST", "/api/v1/run-request", h_request, 0},
    {"GET", "/api/v1/initiate-run", h_initiate, 0}, /* the sample's state-changing GET */
    {"POST", "/api/v1/initiate-run", h_initiate, 0},
    {"POST", "/api/v1/run-reject", h_reject, 0},
    {"POST", "/api/v1/run-cancel", h_cancel, 0},
    {"GET", "/api/v1/run-status", h_status, 0},
    {"GET", "/api/v1/report-download", h_report, 0},
    {"GET", "/api/v1/model-download", h_model, 0},
    {"GET", "/api/v1/log-download", h_logs, 0},
    {"GET", "/api/v1/notifications", h_notifications, 0},
    {"POST", "/api/v1/chat", h_chat_post, 0},
    {"GET", "/api/v1/chat", h_chat_list, 0},
};
const size_t srv_runs_nroutes = sizeof srv_runs_routes / sizeof srv_runs_routes[0];
