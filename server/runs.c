/* escrowd: run configurations, requests, review, results, notifications, chat (see runs.h).
 * Every operation here runs under ctx->lock on the handlers' own connection (r->db). */
#define _GNU_SOURCE
#include <ctype.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#include "blobs.h"
#include "runs_int.h"

#define NOTIFY_TTL_S (48 * 3600)

__attribute__((format(printf, 3, 4))) static int fail(srv_err *e, int kind, const char *fmt,
                                                       ...) {
  e->kind = kind;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  return kind;
}

static int dberr(srv_err *e, const char *what) {
  return fail(e, SRV_E_INTERNAL, "the database failed while handling %s", what);
}

static srv_runs *R(srv_ctx *ctx) { return (srv_runs *)ctx->runs; }

static void uuid4(char out[37]) {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) abort();
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
  snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
           b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
           b[14], b[15]);
}

static int is_ao(const srv_caller *c) { return strcmp(c->member.role, "ao") == 0; }

/* ---- parameter names (manual §14.7.5) ------------------------------------------------------ */

int runs_param_name_ok(const char *n) {
  if (!n || !isalpha((unsigned char)*n) || strlen(n) > 128) return 0;
  const char *p = n + 1;
  while (isalnum((unsigned char)*p)) p++;
  while (*p) {
    if (*p != '_' && *p != '-' && *p != '.') return 0;
    p++;
    if (!isalnum((unsigned char)*p)) return 0;
    while (isalnum((unsigned char)*p)) p++;
  }
  static const char *const reserved[] = {"PATH", "HOME", "TMPDIR", "LANG", "ENCLAVE_URL",
                                         "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
                                         "MLFLOW_TRACKING_URI", "PYTHONDONTWRITEBYTECODE", NULL};
  for (size_t i = 0; reserved[i]; i++)
    if (strcasecmp(n, reserved[i]) == 0) return 0;
  if (strncasecmp(n, "ESCROW_", 7) == 0 || strncasecmp(n, "LD_", 3) == 0) return 0;
  return 1;
}

/* ---- artifacts and configurations ----------------------------------------------------------- */

typedef struct art {
  char *id, *org_id, *tag, *meta, *sha256, *name;
} art;

static void art_clear(art *a) {
  free(a->id), free(a->org_id), free(a->tag), free(a->meta), free(a->sha256), free(a->name);
  memset(a, 0, sizeof *a);
}

/* The version of kind in the project whose id or tag is ref. SRV_NOTFOUND, SRV_CONFLICT when
 * the tag names versions of several parties (send the id). */
static int art_find(sqlite3 *db, const char *project, const char *kind, const char *ref,
                    art *out) {
  memset(out, 0, sizeof *out);
  sqlite3_stmt *st = runs_db_prep(db, "SELECT id, org_id, version_tag, meta_json, sha256, name "
                                      "FROM artifact_version WHERE project_id = ? AND kind = ? "
                                      "AND (id = ? OR version_tag = ?) ORDER BY id = ? DESC");
  if (!st) return SRV_STOREERR;
  const char *t[] = {project, kind, ref, ref, ref};
  runs_db_bind(st, 5, t);
  int n = 0, rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (n == 0) {
      out->id = runs_db_col(st, 0);
      out->org_id = runs_db_col(st, 1);
      out->tag = runs_db_col(st, 2);
      out->meta = runs_db_col(st, 3);
      out->sha256 = runs_db_col(st, 4);
      out->name = runs_db_col(st, 5);
      if (strcmp(out->id, ref) == 0) { /* an exact id wins */
        n = 1;
        rc = SQLITE_DONE;
        break;
      }
    }
    n++;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    art_clear(out);
    return SRV_STOREERR;
  }
  if (n == 0) return SRV_NOTFOUND;
  if (n > 1) {
    art_clear(out);
    return SRV_CONFLICT;
  }
  return 0;
}

/* A string member of a JSON object text (malloc'd), or NULL. */
static char *json_member(const char *json, const char *key) {
  if (!json) return NULL;
  yajl_val v = yajl_tree_parse(json, NULL, 0);
  if (!v) return NULL;
  const char *path[] = {key, NULL};
  yajl_val s = yajl_tree_get(v, path, yajl_t_string);
  const char *t = s ? YAJL_GET_STRING(s) : NULL;
  char *r = t ? strdup(t) : NULL;
  yajl_tree_free(v);
  return r;
}

/* The dataset's SAS rule (manual §14.7.3.2): refused when the expiry recorded from its URL is
 * past or within 24 hours. A local folder (the embedded default) has no expiry. */
static int dataset_usable(const art *ds, srv_err *err) {
  char *status = json_member(ds->meta, "sas_status");
  char *se = json_member(ds->meta, "sas_expiry");
  int r = 0;
  if (status && strcmp(status, "local folder") == 0) goto done;
  if (!se) {
    r = fail(err, SRV_E_UNPROCESSABLE, "the dataset version \"%s\" has no SAS expiry on record: "
             "the data steward must update its SAS URL", ds->tag);
    goto done;
  }
  struct tm tm = {0};
  const char *end = strptime(se, "%Y-%m-%dT%H:%M", &tm);
  if (end && *end == ':') {
    int sec = atoi(end + 1);
    tm.tm_sec = sec;
  }
  if (!end) {
    r = fail(err, SRV_E_UNPROCESSABLE, "the dataset's SAS expiry cannot be read");
    goto done;
  }
  int64_t exp = (int64_t)timegm(&tm);
  int64_t now = runs_now();
  if (exp <= now)
    r = fail(err, SRV_E_UNPROCESSABLE, "the dataset version \"%s\" has an expired SAS URL "
             "(expired): provided sas token will expire in less than 24 hours; ask the data "
             "steward to refresh it", ds->tag);
  else if (exp - now <= 24 * 3600)
    r = fail(err, SRV_E_UNPROCESSABLE, "the dataset version \"%s\" has a SAS URL that expires "
             "within 24 hours (expiring): provided sas token will expire in less than 24 hours; "
             "ask the data steward to refresh it", ds->tag);
done:
  free(status);
  free(se);
  return r;
}

typedef struct cfg {
  char *id, *project_id, *name, *description, *run_type, *algorithm_id, *dataset_id, *ds_org_id,
      *alg_tag, *ds_tag, *alg_meta, *ds_meta;
  int64_t created_at;
} cfg;

static void cfg_clear(cfg *c) {
  char **f[] = {&c->id, &c->project_id, &c->name, &c->description, &c->run_type, &c->algorithm_id,
                &c->dataset_id, &c->ds_org_id, &c->alg_tag, &c->ds_tag, &c->alg_meta, &c->ds_meta};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) free(*f[i]);
  memset(c, 0, sizeof *c);
}

#define CFG_COLS                                                                              \
  "c.id, c.project_id, c.name, c.description, c.run_type, c.algorithm_id, c.dataset_id, "     \
  "c.ds_org_id, a.version_tag, d.version_tag, a.meta_json, d.meta_json, c.created_at FROM "   \
  "run_configuration c JOIN artifact_version a ON a.id = c.algorithm_id JOIN "                \
  "artifact_version d ON d.id = c.dataset_id "

static void cfg_row(sqlite3_stmt *st, cfg *c) {
  char **f[] = {&c->id, &c->project_id, &c->name, &c->description, &c->run_type, &c->algorithm_id,
                &c->dataset_id, &c->ds_org_id, &c->alg_tag, &c->ds_tag, &c->alg_meta, &c->ds_meta};
  for (int i = 0; i < 12; i++) *f[i] = runs_db_col(st, i);
  c->created_at = sqlite3_column_int64(st, 12);
}

/* Find the configuration the reference names, visible to the caller (a DS sees only those on
 * its own datasets). */
static int cfg_find(srv_runs *r, const srv_caller *c, const srv_run_ref *ref, cfg *out,
                    srv_err *err) {
  memset(out, 0, sizeof *out);
  sqlite3_stmt *st = NULL;
  art a = {0}, d = {0};
  int rc;
  if (ref->config_id && *ref->config_id) {
    st = runs_db_prep(r->db, "SELECT " CFG_COLS "WHERE c.project_id = ? AND c.id = ?");
    const char *t[] = {c->project.id, ref->config_id};
    if (st) runs_db_bind(st, 2, t);
  } else {
    if (!ref->algorithm_version || !*ref->algorithm_version || !ref->dataset_version ||
        !*ref->dataset_version)
      return fail(err, SRV_E_BADREQ, "name the run configuration: run_configuration (its id), "
                  "or algorithm_version and dataset_version (tags)");
    if ((rc = art_find(r->db, c->project.id, "algorithm", ref->algorithm_version, &a)) ||
        (rc = art_find(r->db, c->project.id, "dataset", ref->dataset_version, &d))) {
      art_clear(&a);
      art_clear(&d);
      if (rc == SRV_CONFLICT)
        return fail(err, SRV_E_CONFLICT, "the version tag names versions of several parties: "
                    "send the version's id instead");
      if (rc == SRV_NOTFOUND) return fail(err, SRV_E_NOTFOUND, "no such run configuration");
      return dberr(err, "the run configuration");
    }
    st = runs_db_prep(r->db, "SELECT " CFG_COLS "WHERE c.project_id = ? AND c.algorithm_id = ? "
                             "AND c.dataset_id = ?");
    const char *t[] = {c->project.id, a.id, d.id};
    if (st) runs_db_bind(st, 3, t);
    art_clear(&a);
    art_clear(&d);
  }
  if (!st) return dberr(err, "the run configuration");
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) cfg_row(st, out);
  sqlite3_finalize(st);
  if (rc == SQLITE_DONE || (rc == SQLITE_ROW && !is_ao(c) &&
                            strcmp(out->ds_org_id, c->member.org_id) != 0)) {
    cfg_clear(out);
    return fail(err, SRV_E_NOTFOUND, "no such run configuration in this project");
  }
  if (rc != SQLITE_ROW || !out->id) {
    cfg_clear(out);
    return dberr(err, "the run configuration");
  }
  return 0;
}

/* ---- runs ------------------------------------------------------------------------------------ */

typedef struct run {
  char *id, *status, *stage, *machine_type, *params_json, *reason, *report_json, *certificate,
      *model_sha256, *runner, *requested_by, *decided_by;
  int64_t run_number, vcpus, memory_mib, timeout_s, requested_at, decided_at, ended_at;
  int cancel_requested;
  double first_api_ms;
} run;

static void run_clear(run *x) {
  char **f[] = {&x->id, &x->status, &x->stage, &x->machine_type, &x->params_json, &x->reason,
                &x->report_json, &x->certificate, &x->model_sha256, &x->runner,
                &x->requested_by, &x->decided_by};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) free(*f[i]);
  memset(x, 0, sizeof *x);
}

#define RUN_COLS                                                                              \
  "id, status, stage, machine_type, params_json, reason, report_json, certificate_json, "     \
  "model_sha256, runner, requested_by, decided_by, run_number, vcpus, memory_mib, timeout_s, " \
  "requested_at, decided_at, ended_at, cancel_requested, first_api_ms FROM run "

static void run_row(sqlite3_stmt *st, run *x) {
  char **f[] = {&x->id, &x->status, &x->stage, &x->machine_type, &x->params_json, &x->reason,
                &x->report_json, &x->certificate, &x->model_sha256, &x->runner,
                &x->requested_by, &x->decided_by};
  for (int i = 0; i < 12; i++) *f[i] = runs_db_col(st, i);
  x->run_number = sqlite3_column_int64(st, 12);
  x->vcpus = sqlite3_column_int64(st, 13);
  x->memory_mib = sqlite3_column_int64(st, 14);
  x->timeout_s = sqlite3_column_int64(st, 15);
  x->requested_at = sqlite3_column_int64(st, 16);
  x->decided_at = sqlite3_column_int64(st, 17);
  x->ended_at = sqlite3_column_int64(st, 18);
  x->cancel_requested = sqlite3_column_int(st, 19);
  x->first_api_ms = sqlite3_column_double(st, 20);
}

/* The configuration's run with that number (NULL: the newest). */
static int run_find(srv_runs *r, const char *config_id, const char *number, run *out,
                    srv_err *err) {
  memset(out, 0, sizeof *out);
  sqlite3_stmt *st;
  if (number && *number) {
    char *end = NULL;
    long long n = strtoll(number, &end, 10);
    if (!end || *end || n < 1) return fail(err, SRV_E_BADREQ, "run_number must be a run's number (1, 2, ...)");
    st = runs_db_prep(r->db, "SELECT " RUN_COLS "WHERE config_id = ? AND run_number = ?");
    if (st) {
      sqlite3_bind_text(st, 1, config_id, -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(st, 2, n);
    }
  } else {
    st = runs_db_prep(r->db, "SELECT " RUN_COLS "WHERE config_id = ? ORDER BY run_number DESC "
                             "LIMIT 1");
    if (st) sqlite3_bind_text(st, 1, config_id, -1, SQLITE_TRANSIENT);
  }
  if (!st) return dberr(err, "the run");
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) run_row(st, out);
  sqlite3_finalize(st);
  if (rc == SQLITE_DONE) return fail(err, SRV_E_NOTFOUND, "this run configuration has no such run");
  if (rc != SQLITE_ROW || !out->id) {
    run_clear(out);
    return dberr(err, "the run");
  }
  return 0;
}

static void cfg_json(srv_buf *out, const cfg *c, const char *status) {
  srv_buf_puts(out, "{");
  srv_buf_json_kv(out, 1, "id", c->id);
  srv_buf_json_kv(out, 0, "project_id", c->project_id);
  srv_buf_json_kv(out, 0, "name", c->name);
  srv_buf_json_kv(out, 0, "description", c->description);
  srv_buf_json_kv(out, 0, "run_type", c->run_type);
  srv_buf_json_kv(out, 0, "algorithm_version", c->alg_tag);
  srv_buf_json_kv(out, 0, "algorithm_version_id", c->algorithm_id);
  srv_buf_json_kv(out, 0, "dataset_version", c->ds_tag);
  srv_buf_json_kv(out, 0, "dataset_version_id", c->dataset_id);
  srv_buf_json_kv(out, 0, "data_steward_org_id", c->ds_org_id);
  srv_buf_json_kv(out, 0, "confidential_compute_technology", "sandbox (simulated TEE)");
  srv_buf_json_kv(out, 0, "status", status);
  srv_buf_printf(out, ",\"simulated_tee\":true,\"created_at\":%lld}", (long long)c->created_at);
}

static void run_json(srv_buf *out, const run *x, const cfg *c, int with_results) {
  srv_buf_puts(out, "{");
  srv_buf_json_kv(out, 1, "run_id", x->id);
  srv_buf_json_kv(out, 0, "run_configuration", c->id);
  srv_buf_json_kv(out, 0, "algorithm_version", c->alg_tag);
  srv_buf_json_kv(out, 0, "dataset_version", c->ds_tag);
  srv_buf_printf(out, ",\"run_number\":%lld", (long long)x->run_number);
  srv_buf_json_kv(out, 0, "status", x->status);
  const char *stage = x->stage;
  if (x->status && strcmp(x->status, "In Progress") == 0 && !x->runner) stage = "Run Initiated";
  srv_buf_json_kv(out, 0, "stage", stage);
  srv_buf_json_kv(out, 0, "reason", x->reason);
  srv_buf_json_kv(out, 0, "machine_type", x->machine_type);
  srv_buf_printf(out, ",\"vcpus\":%lld,\"memory_gib\":%lld,\"run_timeout_minutes\":%lld",
                 (long long)x->vcpus, (long long)(x->memory_mib / 1024),
                 (long long)(x->timeout_s / 60));
  srv_buf_puts(out, ",\"runtime_parameters\":");
  srv_buf_puts(out, x->params_json ? x->params_json : "{}");
  srv_buf_json_kv(out, 0, "requested_by", x->requested_by);
  srv_buf_json_kv(out, 0, "decided_by", x->decided_by);
  srv_buf_printf(out, ",\"requested_at\":%lld", (long long)x->requested_at);
  if (x->decided_at) srv_buf_printf(out, ",\"decided_at\":%lld", (long long)x->decided_at);
  if (x->ended_at) srv_buf_printf(out, ",\"ended_at\":%lld", (long long)x->ended_at);
  srv_buf_printf(out, ",\"cancel_requested\":%s", x->cancel_requested ? "true" : "false");
  srv_buf_puts(out, ",\"simulated_tee\":true,\"tee\":\"sandbox (SIMULATED TEE: bubblewrap, "
                    "cgroups, seccomp; the host can read its memory)\"");
  if (with_results) {
    srv_buf_printf(out, ",\"has_report\":%s,\"has_model\":%s",
                   x->report_json ? "true" : "false", x->model_sha256 ? "true" : "false");
  }
  srv_buf_puts(out, ",\"certificate\":");
  srv_buf_puts(out, x->certificate ? x->certificate : "null");
  srv_buf_puts(out, "}");
}

static const char *cfg_status(srv_runs *r, const char *config_id, int64_t *n) {
  static const char *const known[] = {"Run Requested", "In Progress", "Completed", "Failed",
                                      "Rejected", "Cancelled"};
  sqlite3_stmt *st = runs_db_prep(r->db, "SELECT status, run_number FROM run WHERE config_id = "
                                         "? ORDER BY run_number DESC LIMIT 1");
  const char *s = "Pending";
  *n = 0;
  if (!st) return s;
  sqlite3_bind_text(st, 1, config_id, -1, SQLITE_TRANSIENT);
  if (sqlite3_step(st) == SQLITE_ROW) {
    const char *t = (const char *)sqlite3_column_text(st, 0);
    for (size_t i = 0; t && i < sizeof known / sizeof known[0]; i++)
      if (strcmp(t, known[i]) == 0) s = known[i];
    *n = sqlite3_column_int64(st, 1);
  }
  sqlite3_finalize(st);
  return s;
}

static int project_settings(srv_runs *r, const char *project, int *ao_may_initiate,
                            int *ds_sees) {
  *ao_may_initiate = *ds_sees = 0;
  sqlite3_stmt *st = runs_db_prep(r->db, "SELECT ao_may_initiate, ds_sees_results FROM "
                                         "run_settings WHERE project_id = ?");
  if (!st) return SRV_STOREERR;
  sqlite3_bind_text(st, 1, project, -1, SQLITE_TRANSIENT);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    *ao_may_initiate = sqlite3_column_int(st, 0);
    *ds_sees = sqlite3_column_int(st, 1);
  }
  sqlite3_finalize(st);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : SRV_STOREERR;
}

static int audit(srv_runs *r, const srv_caller *c, const char *action, const char *object) {
  sqlite3_stmt *st = runs_db_prep(r->db, "INSERT INTO audit(at,actor,action,project_id,object) "
                                         "VALUES(?,?,?,?,?)");
  if (!st) return SRV_STOREERR;
  sqlite3_bind_int64(st, 1, runs_now());
  const char *t[] = {c->user.email, action, c->project.id, object};
  for (int i = 0; i < 4; i++) sqlite3_bind_text(st, i + 2, t[i], -1, SQLITE_TRANSIENT);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : SRV_STOREERR;
}

static int require_runs(srv_ctx *ctx, srv_err *err) {
  if (!R(ctx)) return fail(err, SRV_E_INTERNAL, "runs are not available in this process");
  return 0;
}

/* ---- operations ------------------------------------------------------------------------------ */

int runs_create_config(srv_ctx *ctx, const srv_caller *c, const srv_run_ref *ref,
                       const srv_run_config_in *in, srv_buf *out, srv_err *err) {
  if (require_runs(ctx, err)) return err->kind;
  srv_runs *r = R(ctx);
  if (!is_ao(c)) return fail(err, SRV_E_FORBIDDEN, "run configurations are created by the algorithm owner");
  if (strcmp(c->project.state, "Active") != 0)
    return fail(err, SRV_E_CONFLICT, "the project is %s: runs need an Active project", c->project.state);
  if (!srv_valid_text(in->name, 200)) return fail(err, SRV_E_BADREQ, "name is required (1 to 200 printable characters)");
  if (in->description && *in->description && !srv_valid_text(in->description, 4000))
    return fail(err, SRV_E_BADREQ, "description has control characters or is too long");
  if (!srv_valid_text(ref->algorithm_version, 100) || !srv_valid_text(ref->dataset_version, 100))
    return fail(err, SRV_E_BADREQ, "algorithm_version and dataset_version (version tags or ids) are required");
  art a = {0}, d = {0};
  int rc = art_find(r->db, c->project.id, "algorithm", ref->algorithm_version, &a);
  if (rc) return rc == SRV_NOTFOUND ? fail(err, SRV_E_NOTFOUND, "no algorithm version \"%s\" in this project", ref->algorithm_version)
                 : dberr(err, "the algorithm version");
  rc = art_find(r->db, c->project.id, "dataset", ref->dataset_version, &d);
  if (rc) {
    art_clear(&a);
    return rc == SRV_NOTFOUND ? fail(err, SRV_E_NOTFOUND, "no dataset version \"%s\" in this project", ref->dataset_version)
           : rc == SRV_CONFLICT ? fail(err, SRV_E_CONFLICT, "several data stewards have a dataset version \"%s\": send its id", ref->dataset_version)
                                : dberr(err, "the dataset version");
  }
  int res = 0;
  char *type = json_member(a.meta, "algorithm_type");
  if (in->run_type && *in->run_type && type && strcmp(in->run_type, type) != 0) {
    res = fail(err, SRV_E_BADREQ, "run_type \"%s\" does not match the algorithm's type \"%s\"", in->run_type, type);
    goto done;
  }
  if ((res = dataset_usable(&d, err))) goto done;
  char id[37];
  uuid4(id);
  if (runs_db_begin(r->db)) {
    res = dberr(err, "the run configuration");
    goto done;
  }
  sqlite3_stmt *st = runs_db_prep(r->db, "INSERT INTO run_configuration(id,project_id,name,"
                                         "description,run_type,algorithm_id,dataset_id,ds_org_id,"
                                         "created_by,created_at) VALUES(?,?,?,?,?,?,?,?,?,?)");
  int sr = SQLITE_ERROR;
  if (st) {
    const char *t[] = {id, c->project.id, in->name, in->description ? in->description : "",
                       type ? type : "validation", a.id, d.id, d.org_id, c->user.id};
    runs_db_bind(st, 9, t);
    sqlite3_bind_int64(st, 10, runs_now());
    sr = sqlite3_step(st);
    sqlite3_finalize(st);
  }
  if (sr != SQLITE_DONE || audit(r, c, "run_configuration.create", id) || runs_db_commit(r->db)) {
    runs_db_rollback(r->db);
    res = (sr & 0xff) == SQLITE_CONSTRAINT
              ? fail(err, SRV_E_CONFLICT, "a run configuration for algorithm version \"%s\" and "
                     "dataset version \"%s\" exists already (each combination is configured once)",
                     a.tag, d.tag)
              : dberr(err, "the run configuration");
    goto done;
  }
  cfg cf = {0};
  srv_run_ref byid = {.config_id = id};
  if ((res = cfg_find(r, c, &byid, &cf, err))) goto done;
  cfg_json(out, &cf, "Pending");
  cfg_clear(&cf);
done:
  free(type);
  art_clear(&a);
  art_clear(&d);
  return res;
}

int runs_list_configs(srv_ctx *ctx, const srv_caller *c, srv_buf *out, srv_err *err) {
  if (require_runs(ctx, err)) return err->kind;
  srv_runs *r = R(ctx);
  sqlite3_stmt *st = runs_db_prep(r->db, "SELECT " CFG_COLS "WHERE c.project_id = ? AND "
                                         "(? OR c.ds_org_id = ?) ORDER BY c.created_at, c.id");
  if (!st) return dberr(err, "the run configurations");
  sqlite3_bind_text(st, 1, c->project.id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(st, 2, is_ao(c));
  sqlite3_bind_text(st, 3, c->member.org_id, -1, SQLITE_TRANSIENT);
  srv_buf_puts(out, "{\"run_configurations\":[");
  int n = 0, rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    cfg cf = {0};
    cfg_row(st, &cf);
    int64_t num;
    const char *s = cfg_status(r, cf.id, &num);
    if (n++) srv_buf_puts(out, ",");
    cfg_json(out, &cf, s);
    out->len--; /* reopen the object to add the runs */
    srv_buf_printf(out, ",\"run_requested\":%s,\"runs\":[",
                   strcmp(s, "Run Requested") == 0 ? "true" : "false");
    sqlite3_stmt *rs = runs_db_prep(r->db, "SELECT " RUN_COLS "WHERE config_id = ? ORDER BY run_number");
    int k = 0;
    if (rs) {
      sqlite3_bind_text(rs, 1, cf.id, -1, SQLITE_TRANSIENT);
      while (sqlite3_step(rs) == SQLITE_ROW) {
        run x = {0};
        run_row(rs, &x);
        if (k++) srv_buf_puts(out, ",");
        run_json(out, &x, &cf, 1);
        run_clear(&x);
      }
      sqlite3_finalize(rs);
    }
    srv_buf_puts(out, "]}");
    cfg_clear(&cf);
  }
  sqlite3_finalize(st);
  srv_buf_puts(out, "]}");
  return rc == SQLITE_DONE ? 0 : dberr(err, "the run configurations");
}

static int parse_params(const char *text, srv_buf *norm, srv_err *err) {
  srv_buf_puts(norm, "{");
  if (!text || !*text) {
    srv_buf_puts(norm, "}");
    return 0;
  }
  char ebuf[128];
  yajl_val v = yajl_tree_parse(text, ebuf, sizeof ebuf);
  if (!v || !YAJL_IS_OBJECT(v)) {
    yajl_tree_free(v);
    return fail(err, SRV_E_BADREQ, "runtime_parameters must be a JSON object of names and values");
  }
  int r = 0;
  size_t n = v->u.object.len;
  if (n > 64) r = fail(err, SRV_E_BADREQ, "at most 64 runtime parameters");
  for (size_t i = 0; !r && i < n; i++) {
    const char *k = v->u.object.keys[i];
    yajl_val x = v->u.object.values[i];
    if (!runs_param_name_ok(k)) {
      r = fail(err, SRV_E_BADREQ, "runtime parameter name \"%.100s\" does not match the manual's regex "
               "^[a-zA-Z][a-zA-Z0-9]*([_\\-.][a-zA-Z0-9]+)*$ or is a name the runtime sets", k);
      break;
    }
    for (size_t j = 0; j < i; j++)
      if (strcmp(v->u.object.keys[j], k) == 0) r = fail(err, SRV_E_BADREQ, "runtime parameter \"%s\" is given twice", k);
    char num[64];
    const char *val = YAJL_IS_STRING(x) ? YAJL_GET_STRING(x) : NULL;
    if (!val && YAJL_IS_NUMBER(x)) {
      snprintf(num, sizeof num, "%s", YAJL_GET_NUMBER(x));
      val = num;
    }
    if (!r && (!val || strlen(val) > 4096 || strchr(val, '\n') || strchr(val, '\r')))
      r = fail(err, SRV_E_BADREQ, "runtime parameter \"%s\": the value must be a string of at "
               "most 4096 characters on one line", k);
    if (!r) {
      if (i) srv_buf_puts(norm, ",");
      srv_buf_json_str(norm, k);
      srv_buf_puts(norm, ":");
      srv_buf_json_str(norm, val);
    }
  }
  yajl_tree_free(v);
  srv_buf_puts(norm, "}");
  return r;
}

int runs_request(srv_ctx *ctx, const srv_caller *c, const srv_run_ref *ref,
                 const srv_run_request_in *in, srv_buf *out, srv_err *err) {
  if (require_runs(ctx, err)) return err->kind;
  srv_runs *r = R(ctx);
  if (!is_ao(c)) return fail(err, SRV_E_FORBIDDEN, "run requests are sent by the algorithm owner");
  if (strcmp(c->project.state, "Active") != 0)
    return fail(err, SRV_E_CONFLICT, "the project is %s: runs need an Active project", c->project.state);
  /* vCPU and RAM (sandbox: 1, 2, 4, 8 or 16 vCPUs; 4 GiB per vCPU unless set, at most 8) */
  long vcpus = 0, mem_gib = 0, timeout_min = 60;
  if (in->machine_type && *in->machine_type) {
    char *end = NULL;
    if (strncmp(in->machine_type, "cpu-standard-", 13) == 0)
      vcpus = strtol(in->machine_type + 13, &end, 10);
    if (!end || *end || end == in->machine_type + 13)
      return fail(err, SRV_E_BADREQ, "machine_type must be cpu-standard-<vCPUs> (1, 2, 4, 8 or 16)");
  } else if (in->cpus && *in->cpus) {
    char *end = NULL;
    vcpus = strtol(in->cpus, &end, 10);
    if (!end || *end) return fail(err, SRV_E_BADREQ, "algo_container_cpus must be a number of vCPUs");
  } else {
    return fail(err, SRV_E_BADREQ, "machine_type (cpu-standard-<vCPUs>) or algo_container_cpus is required");
  }
  if (vcpus != 1 && vcpus != 2 && vcpus != 4 && vcpus != 8 && vcpus != 16)
    return fail(err, SRV_E_BADREQ, "this project's TEE technology (sandbox) offers 1, 2, 4, 8 or 16 vCPUs");
  mem_gib = 4 * vcpus;
  if (in->memory && *in->memory) {
    char *end = NULL;
    mem_gib = strtol(in->memory, &end, 10);
    if (!end || *end || mem_gib < 1 || mem_gib > 8 * vcpus)
      return fail(err, SRV_E_BADREQ, "algo_container_memory must be 1 to %ld GiB for %ld vCPUs", 8 * vcpus, vcpus);
  }
  if (in->timeout && *in->timeout) {
    char *end = NULL;
    timeout_min = strtol(in->timeout, &end, 10);
    if (!end || *end || timeout_min < 1 || timeout_min > 7 * 24 * 60)
      return fail(err, SRV_E_BADREQ, "run_timeout must be 1 to 10080 minutes");
  }
  srv_buf params = {0};
  if (parse_params(in->parameters, &params, err)) {
    srv_buf_free(&params);
    return err->kind;
  }
  cfg cf = {0};
  int res = cfg_find(r, c, ref, &cf, err);
  if (res) {
    srv_buf_free(&params);
    return res;
  }
  art d = {0};
  int rc = art_find(r->db, c->project.id, "dataset", cf.dataset_id, &d);
  if (rc) {
    res = dberr(err, "the dataset version");
    goto done;
  }
  if ((res = dataset_usable(&d, err))) goto done;
  char id[37], mt[32];
  uuid4(id);
  snprintf(mt, sizeof mt, "cpu-standard-%ld", vcpus);
  if (runs_db_begin(r->db)) {
    res = dberr(err, "the run request");
    goto done;
  }
  sqlite3_stmt *st = runs_db_prep(
      r->db, "INSERT INTO run(id,config_id,project_id,run_number,status,stage,machine_type,vcpus,"
             "memory_mib,timeout_s,params_json,requested_by,requested_at) VALUES(?1,?2,?3,"
             "(SELECT coalesce(max(run_number),0)+1 FROM run WHERE config_id=?2),'Run Requested',"
             "NULL,?4,?5,?6,?7,?8,?9,?10)");
  int sr = SQLITE_ERROR;
  if (st && !params.oom) {
    const char *t[] = {id, cf.id, c->project.id, mt};
    runs_db_bind(st, 4, t);
    sqlite3_bind_int64(st, 5, vcpus);
    sqlite3_bind_int64(st, 6, mem_gib * 1024);
    sqlite3_bind_int64(st, 7, timeout_min * 60);
    sqlite3_bind_text(st, 8, params.p, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 9, c->user.email, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 10, runs_now());
    sr = sqlite3_step(st);
  }
  sqlite3_finalize(st);
  char msg[512];
  snprintf(msg, sizeof msg, "Run requested by %s: algorithm version %s on dataset version %s "
           "(%s). Review it and initiate or reject it.", c->user.email, cf.alg_tag, cf.ds_tag, mt);
  if (sr != SQLITE_DONE || audit(r, c, "run.request", id) ||
      runs_db_notify(r->db, c->project.id, cf.ds_org_id, "run_requested", msg, id) ||
      runs_db_commit(r->db)) {
    runs_db_rollback(r->db);
    res = (sr & 0xff) == SQLITE_CONSTRAINT
              ? fail(err, SRV_E_CONFLICT, "this run configuration already has a run requested or "
                     "in progress: one run at a time per configuration (wait until it ends)")
              : dberr(err, "the run request");
    goto done;
  }
  run x = {0};
  if ((res = run_find(r, cf.id, NULL, &x, err))) goto done;
  run_json(out, &x, &cf, 0);
  run_clear(&x);
done:
  srv_buf_free(&params);
  art_clear(&d);
  cfg_clear(&cf);
  return res;
}

/* The criteria version of a validation algorithm must be accepted by the dataset's DS. */
static int criteria_accepted(srv_runs *r, const cfg *cf, srv_err *err) {
  char *type = json_member(cf->alg_meta, "algorithm_type");
  char *crit = json_member(cf->alg_meta, "validation_criteria_id");
  char *tag = json_member(cf->alg_meta, "validation_criteria_version");
  int res = 0;
  if (type && strcmp(type, "validation") == 0) {
    sqlite3_stmt *st = crit ? runs_db_prep(r->db, "SELECT 1 FROM criteria_acceptance WHERE "
                                                  "artifact_id = ? AND org_id = ?")
                            : NULL;
    int rc = SQLITE_ERROR;
    if (st) {
      const char *t[] = {crit, cf->ds_org_id};
      runs_db_bind(st, 2, t);
      rc = sqlite3_step(st);
      sqlite3_finalize(st);
    }
    if (rc == SQLITE_DONE)
      res = fail(err, SRV_E_CONFLICT, "the data steward has not accepted validation criteria "
                 "version \"%s\" (POST /api/v1/validation-criteria-accept/) : runs of a "
                 "validation algorithm need it", tag ? tag : "?");
    else if (rc != SQLITE_ROW)
      res = dberr(err, "the criteria acceptance");
  }
  free(type);
  free(crit);
  free(tag);
  return res;
}

static int set_status(srv_runs *r, const char *run_id, const char *from1, const char *from2,
                      const char *to, const char *stage, const char *by, const char *reason) {
  sqlite3_stmt *st = runs_db_prep(
      r->db, "UPDATE run SET status = ?, stage = coalesce(?, stage), decided_by = ?, "
             "decided_at = ?, reason = ?, ended_at = CASE WHEN ? IN ('Rejected','Cancelled') "
             "THEN ? ELSE ended_at END WHERE id = ? AND (status = ? OR status = ?)");
  if (!st) return SRV_STOREERR;
  const char *t[] = {to, stage, by};
  runs_db_bind(st, 3, t);
  sqlite3_bind_int64(st, 4, runs_now());
  if (reason) sqlite3_bind_text(st, 5, reason, -1, SQLITE_TRANSIENT);
  else sqlite3_bind_null(st, 5);
  sqlite3_bind_text(st, 6, to, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 7, runs_now());
  sqlite3_bind_text(st, 8, run_id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 9, from1, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 10, from2 ? from2 : from1, -1, SQLITE_TRANSIENT);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return SRV_STOREERR;
  return sqlite3_changes(r->db) == 1 ? 0 : SRV_CONFLICT;
}

static int platform_log(srv_runs *r, const char *run_id, const char *stage, const char *message) {
  srv_buf b = {0};
  char ts[32];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
  srv_buf_puts(&b, "{");
  srv_buf_json_kv(&b, 1, "time", ts);
  srv_buf_json_kv(&b, 0, "source", "platform");
  srv_buf_json_kv(&b, 0, "stage", stage);
  srv_buf_json_kv(&b, 0, "message", message);
  srv_buf_puts(&b, ",\"simulated_tee\":true}");
  int rc = b.oom ? SRV_STOREERR : runs_db_log(r->db, run_id, b.p);
  srv_buf_free(&b);
  return rc;
}

int runs_initiate(srv_ctx *ctx, const srv_caller *c, const srv_run_ref *ref, srv_buf *out,
                  srv_err *err) {
  if (require_runs(ctx, err)) return err->kind;
  srv_runs *r = R(ctx);
  cfg cf = {0};
  run x = {0};
  art d = {0};
  int res = cfg_find(r, c, ref, &cf, err);
  if (res) return res;
  int ao_may = 0, ds_sees = 0;
  if (project_settings(r, c->project.id, &ao_may, &ds_sees)) {
    res = dberr(err, "the project's run permissions");
    goto done;
  }
  if (is_ao(c) && !ao_may) {
    res = fail(err, SRV_E_FORBIDDEN, "the data steward initiates runs; this project does not give "
               "the algorithm owner permission to initiate runs");
    goto done;
  }
  if ((res = run_find(r, cf.id, NULL, &x, err))) {
    if (res == SRV_E_NOTFOUND)
      res = fail(err, SRV_E_CONFLICT, "no run has been requested for this configuration");
    goto done;
  }
  if (strcmp(x.status, "Run Requested") != 0) {
    res = fail(err, SRV_E_CONFLICT, "run %lld is %s: only a requested run can be initiated",
               (long long)x.run_number, x.status);
    goto done;
  }
  if (strcmp(c->project.state, "Active") != 0) {
    res = fail(err, SRV_E_CONFLICT, "the project is %s: runs need an Active project", c->project.state);
    goto done;
  }
  if ((res = criteria_accepted(r, &cf, err))) goto done;
  if (art_find(r->db, c->project.id, "dataset", cf.dataset_id, &d)) {
    res = dberr(err, "the dataset version");
    goto done;
  }
  if ((res = dataset_usable(&d, err))) goto done;
  if (!r->allow_simulated_tee) {
    res = fail(err, SRV_E_CONFLICT, "this project's TEE is the sandbox, a SIMULATED TEE, and this "
               "server refuses simulated TEEs: the operator starts escrowd with "
               "--allow-simulated-tee to run them");
    goto done;
  }
  if (runs_db_begin(r->db)) {
    res = dberr(err, "the run");
    goto done;
  }
  int rc = set_status(r, x.id, "Run Requested", NULL, "In Progress", "Run Initiated",
                      c->user.email, NULL);
  if (!rc) rc = platform_log(r, x.id, "Run Initiated", "run initiated: queued for a runner "
                             "(sandbox backend, a SIMULATED TEE)");
  if (!rc) rc = audit(r, c, "run.initiate", x.id);
  if (rc || runs_db_commit(r->db)) {
    runs_db_rollback(r->db);
    res = rc == SRV_CONFLICT ? fail(err, SRV_E_CONFLICT, "the run changed state meanwhile: reload it")
                             : dberr(err, "the run");
    goto done;
  }
  runs_runner_wake(r);
  run_clear(&x);
  if ((res = run_find(r, cf.id, NULL, &x, err))) goto done;
  run_json(out, &x, &cf, 0);
done:
  art_clear(&d);
  run_clear(&x);
  cfg_clear(&cf);
  return res;
}

int runs_reject(srv_ctx *ctx, const srv_caller *c, const srv_run_ref *ref, const char *reason,
                srv_buf *out, srv_err *err) {
  if (require_runs(ctx, err)) return err->kind;
  srv_runs *r = R(ctx);
  if (is_ao(c)) return fail(err, SRV_E_FORBIDDEN, "run requests are rejected by the data steward");
  if (!reason || !*reason) return fail(err, SRV_E_BADREQ, "reason is required: tell the algorithm owner why the run is rejected");
  if (!srv_valid_text(reason, 2000)) return fail(err, SRV_E_BADREQ, "reason has control characters or is over 2000 characters");
  cfg cf = {0};
  run x = {0};
  int res = cfg_find(r, c, ref, &cf, err);
  if (res) return res;
  if ((res = run_find(r, cf.id, ref->run_number, &x, err))) goto done;
  if (strcmp(x.status, "Run Requested") != 0) {
    res = fail(err, SRV_E_CONFLICT, "run %lld is %s: only a requested run can be rejected",
               (long long)x.run_number, x.status);
    goto done;
  }
  char *ao_org = NULL;
  sqlite3_stmt *st = runs_db_prep(r->db, "SELECT org_id FROM project_org WHERE project_id = ? "
                                         "AND role = 'ao'");
  if (st) {
    sqlite3_bind_text(st, 1, c->project.id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW) ao_org = runs_db_col(st, 0);
    sqlite3_finalize(st);
  }
  char msg[2400];
  snprintf(msg, sizeof msg, "Run %lld of algorithm version %s on dataset version %s was "
           "rejected by %s: %s", (long long)x.run_number, cf.alg_tag, cf.ds_tag, c->user.email,
           reason);
  int rc = !ao_org || runs_db_begin(r->db) ? SRV_STOREERR : 0;
  if (!rc) rc = set_status(r, x.id, "Run Requested", NULL, "Rejected", NULL, c->user.email, reason);
  if (!rc) rc = runs_db_notify(r->db, c->project.id, ao_org, "run_rejected", msg, x.id);
  if (!rc) rc = audit(r, c, "run.reject", x.id);
  if (rc || runs_db_commit(r->db)) {
    if (ao_org) runs_db_rollback(r->db);
    res = rc == SRV_CONFLICT ? fail(err, SRV_E_CONFLICT, "the run changed state meanwhile: reload it")
                             : dberr(err, "the rejection");
  }
  free(ao_org);
  if (res) goto done;
  run_clear(&x);
  if ((res = run_find(r, cf.id, ref->run_number, &x, err))) goto done;
  run_json(out, &x, &cf, 0);
done:
  run_clear(&x);
  cfg_clear(&cf);
  return res;
}

int runs_cancel(srv_ctx *ctx, const srv_caller *c, const srv_run_ref *ref, srv_buf *out,
                srv_err *err) {
  if (require_runs(ctx, err)) return err->kind;
  srv_runs *r = R(ctx);
  if (is_ao(c)) return fail(err, SRV_E_FORBIDDEN, "runs are cancelled by the data steward");
  cfg cf = {0};
  run x = {0};
  int res = cfg_find(r, c, ref, &cf, err);
  if (res) return res;
  if ((res = run_find(r, cf.id, ref->run_number, &x, err))) goto done;
  int rc;
  if (runs_db_begin(r->db)) {
    res = dberr(err, "the cancellation");
    goto done;
  }
  if (strcmp(x.status, "Run Requested") == 0 ||
      (strcmp(x.status, "In Progress") == 0 && !x.runner)) {
    rc = set_status(r, x.id, "Run Requested", "In Progress", "Cancelled", NULL, c->user.email,
                    "cancelled by the data steward");
    if (!rc) rc = platform_log(r, x.id, "Run", "Run Cancelled by the data steward before it started");
  } else if (strcmp(x.status, "In Progress") == 0) {
    sqlite3_stmt *st = runs_db_prep(r->db, "UPDATE run SET cancel_requested = 1 WHERE id = ? AND "
                                           "status = 'In Progress'");
    if (st) sqlite3_bind_text(st, 1, x.id, -1, SQLITE_TRANSIENT);
    rc = st && sqlite3_step(st) == SQLITE_DONE ? 0 : SRV_STOREERR;
    sqlite3_finalize(st);
    if (!rc) rc = platform_log(r, x.id, x.stage ? x.stage : "Run", "cancellation requested by the data steward");
  } else {
    runs_db_rollback(r->db);
    res = fail(err, SRV_E_CONFLICT, "run %lld is %s: only a requested or running run can be "
               "cancelled", (long long)x.run_number, x.status);
    goto done;
  }
  if (!rc) rc = audit(r, c, "run.cancel", x.id);
  if (rc || runs_db_commit(r->db)) {
    runs_db_rollback(r->db);
    res = rc == SRV_CONFLICT ? fail(err, SRV_E_CONFLICT, "the run changed state meanwhile: reload it")
                             : dberr(err, "the cancellation");
    goto done;
  }
  runs_runner_wake(r);
  run_clear(&x);
  if ((res = run_find(r, cf.id, ref->run_number, &x, err))) goto done;
  run_json(out, &x, &cf, 0);
done:
  run_clear(&x);
  cfg_clear(&cf);
  return res;
}

int runs_status(srv_ctx *ctx, const srv_caller *c, const srv_run_ref *ref, srv_buf *out,
                srv_err *err) {
  if (require_runs(ctx, err)) return err->kind;
  srv_runs *r = R(ctx);
  cfg cf = {0};
  run x = {0};
  int res = cfg_find(r, c, ref, &cf, err);
  if (res) return res;
  if ((res = run_find(r, cf.id, ref->run_number, &x, err))) {
    if (res == SRV_E_NOTFOUND && !(ref->run_number && *ref->run_number)) {
      /* a configuration without runs: Pending */
      srv_buf_puts(out, "{");
      srv_buf_json_kv(out, 1, "run_configuration", cf.id);
      srv_buf_json_kv(out, 0, "status", "Pending");
      srv_buf_puts(out, ",\"stage\":null,\"run_number\":null,\"simulated_tee\":true}");
      res = 0;
    }
    goto done;
  }
  run_json(out, &x, &cf, 1);
done:
  run_clear(&x);
  cfg_clear(&cf);
  return res;
}

/* Who sees the outputs (manual §13.10.4, §14.9): the AO, and a DS only when the project grants
 * it. */
static int may_see_outputs(srv_runs *r, const srv_caller *c, srv_err *err) {
  if (is_ao(c)) return 0;
  int ao_may, ds_sees;
  if (project_settings(r, c->project.id, &ao_may, &ds_sees)) return dberr(err, "the project's settings");
  if (!ds_sees)
    return fail(err, SRV_E_FORBIDDEN, "the report and the model are the algorithm owner's; this "
                "project does not give data stewards access to them (the logs are yours to read)");
  return 0;
}

static void file_stem(srv_buf *out, const srv_caller *c, const run *x) {
  /* <project_name><some_unique_identifier> (manual §14.9.3) */
  for (const char *p = c->project.name; *p; p++) {
    unsigned char ch = (unsigned char)*p;
    char s[2] = {isalnum(ch) || ch == '-' || ch == '_' ? (char)ch : '_', 0};
    srv_buf_puts(out, s);
  }
  srv_buf_printf(out, "%.8s%lld", x->id, (long long)x->run_number);
}

/* A flat CSV of the report document: one header row of dotted paths, one row of values. */
static void csv_cell(srv_buf *b, const char *s) {
  int q = strpbrk(s, ",\"\r\n") != NULL;
  if (!q) {
    srv_buf_puts(b, s);
    return;
  }
  srv_buf_puts(b, "\"");
  for (const char *p = s; *p; p++) {
    if (*p == '"') srv_buf_puts(b, "\"");
    srv_buf_add(b, p, 1);
  }
  srv_buf_puts(b, "\"");
}

static void flatten(yajl_val v, const char *prefix, srv_buf *head, srv_buf *row, int *n) {
  if (YAJL_IS_OBJECT(v) && v->u.object.len) {
    for (size_t i = 0; i < v->u.object.len; i++) {
      char *p = NULL;
      if (asprintf(&p, "%s%s%s", prefix, *prefix ? "." : "", v->u.object.keys[i]) < 0) return;
      flatten(v->u.object.values[i], p, head, row, n);
      free(p);
    }
    return;
  }
  if ((*n)++) {
    srv_buf_puts(head, ",");
    srv_buf_puts(row, ",");
  }
  csv_cell(head, prefix);
  if (YAJL_IS_STRING(v)) csv_cell(row, YAJL_GET_STRING(v));
  else if (YAJL_IS_NUMBER(v)) csv_cell(row, YAJL_GET_NUMBER(v));
  else if (YAJL_IS_TRUE(v)) srv_buf_puts(row, "true");
  else if (YAJL_IS_FALSE(v)) srv_buf_puts(row, "false");
  else if (YAJL_IS_NULL(v)) srv_buf_puts(row, "");
  else {
    /* a list: its items joined with ';' */
    srv_buf item = {0};
    for (size_t i = 0; YAJL_IS_ARRAY(v) && i < v->u.array.len; i++) {
      yajl_val e = v->u.array.values[i];
      if (i) srv_buf_puts(&item, ";");
      if (YAJL_IS_STRING(e)) srv_buf_puts(&item, YAJL_GET_STRING(e));
      else if (YAJL_IS_NUMBER(e)) srv_buf_puts(&item, YAJL_GET_NUMBER(e));
      else srv_buf_puts(&item, "...");
    }
    csv_cell(row, item.p ? item.p : "");
    srv_buf_free(&item);
  }
}

int runs_report(srv_ctx *ctx, const srv_caller *c, const srv_run_ref *ref, const char *format,
                srv_buf *out, srv_err *err) {
  if (require_runs(ctx, err)) return err->kind;
  srv_runs *r = R(ctx);
  int csv = format && strcasecmp(format, "csv") == 0;
  if (format && *format && !csv && strcasecmp(format, "json") != 0)
    return fail(err, SRV_E_BADREQ, "format is json or csv");
  cfg cf = {0};
  run x = {0};
  int res = cfg_find(r, c, ref, &cf, err);
  if (res) return res;
  if ((res = may_see_outputs(r, c, err))) goto done;
  if ((res = run_find(r, cf.id, ref->run_number, &x, err))) goto done;
  if (!x.report_json) {
    res = fail(err, SRV_E_NOTFOUND, "run %lld (%s) has no report%s", (long long)x.run_number,
               x.status, strcmp(x.status, "Completed") == 0 ? "" : " yet");
    goto done;
  }
  srv_buf name = {0}, content = {0};
  file_stem(&name, c, &x);
  srv_buf_puts(&name, csv ? ".csv" : ".json");
  if (!csv) {
    srv_buf_puts(&content, x.report_json);
  } else {
    yajl_val v = yajl_tree_parse(x.report_json, NULL, 0);
    const char *path[] = {"json_data", NULL};
    yajl_val doc = v ? yajl_tree_get(v, path, yajl_t_any) : NULL;
    srv_buf head = {0}, row = {0};
    int n = 0;
    if (doc) flatten(doc, "", &head, &row, &n);
    srv_buf_printf(&content, "%s\r\n%s\r\n", head.p ? head.p : "", row.p ? row.p : "");
    srv_buf_free(&head);
    srv_buf_free(&row);
    yajl_tree_free(v);
  }
  srv_buf_puts(out, "{");
  srv_buf_json_kv(out, 1, "report content", content.p ? content.p : "");
  srv_buf_json_kv(out, 0, "file_name", name.p);
  srv_buf_json_kv(out, 0, "format", csv ? "csv" : "json");
  srv_buf_printf(out, ",\"run_number\":%lld,\"simulated_tee\":true}", (long long)x.run_number);
  if (name.oom || content.oom) res = fail(err, SRV_E_INTERNAL, "out of memory");
  srv_buf_free(&name);
  srv_buf_free(&content);
done:
  run_clear(&x);
  cfg_clear(&cf);
  return res;
}

int runs_reports_by_site(srv_ctx *ctx, const srv_caller *c, const char *alg_ref, srv_buf *out,
                         srv_err *err) {
  if (require_runs(ctx, err)) return err->kind;
  srv_runs *r = R(ctx);
  if (!is_ao(c)) return fail(err, SRV_E_FORBIDDEN, "the per-site view is the algorithm owner's");
  if (!srv_valid_text(alg_ref, 100)) return fail(err, SRV_E_BADREQ, "algorithm_version is required");
  art a = {0};
  int rc = art_find(r->db, c->project.id, "algorithm", alg_ref, &a);
  if (rc) return rc == SRV_NOTFOUND ? fail(err, SRV_E_NOTFOUND, "no algorithm version \"%s\"", alg_ref)
                                    : dberr(err, "the algorithm version");
  sqlite3_stmt *st = runs_db_prep(
      r->db, "SELECT c.id, d.version_tag, o.name, c.ds_org_id, "
             "(SELECT run_number FROM run WHERE config_id = c.id AND status = 'Completed' ORDER BY "
             "run_number DESC LIMIT 1), (SELECT report_json FROM run WHERE config_id = c.id AND "
             "status = 'Completed' ORDER BY run_number DESC LIMIT 1) FROM run_configuration c "
             "JOIN artifact_version d ON d.id = c.dataset_id JOIN org o ON o.id = c.ds_org_id "
             "WHERE c.project_id = ? AND c.algorithm_id = ? ORDER BY o.name, d.version_tag");
  if (!st) {
    art_clear(&a);
    return dberr(err, "the reports");
  }
  const char *t[] = {c->project.id, a.id};
  runs_db_bind(st, 2, t);
  srv_buf_puts(out, "{");
  srv_buf_json_kv(out, 1, "algorithm_version", a.tag);
  srv_buf_puts(out, ",\"simulated_tee\":true,\"sites\":[");
  int n = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (n++) srv_buf_puts(out, ",");
    srv_buf_puts(out, "{");
    srv_buf_json_kv(out, 1, "run_configuration", (const char *)sqlite3_column_text(st, 0));
    srv_buf_json_kv(out, 0, "dataset_version", (const char *)sqlite3_column_text(st, 1));
    srv_buf_json_kv(out, 0, "data_steward", (const char *)sqlite3_column_text(st, 2));
    srv_buf_json_kv(out, 0, "data_steward_org_id", (const char *)sqlite3_column_text(st, 3));
    if (sqlite3_column_type(st, 4) == SQLITE_NULL) {
      srv_buf_puts(out, ",\"run_number\":null,\"report\":null}");
    } else {
      const char *rep = (const char *)sqlite3_column_text(st, 5);
      srv_buf_printf(out, ",\"run_number\":%lld,\"report\":%s}",
                     (long long)sqlite3_column_int64(st, 4), rep ? rep : "null");
    }
  }
  sqlite3_finalize(st);
  art_clear(&a);
  srv_buf_puts(out, "]}");
  return rc == SQLITE_DONE ? 0 : dberr(err, "the reports");
}

int runs_logs(srv_ctx *ctx, const srv_caller *c, const srv_run_ref *ref, srv_buf *out,
              srv_err *err) {
  if (require_runs(ctx, err)) return err->kind;
  srv_runs *r = R(ctx);
  cfg cf = {0};
  run x = {0};
  int res = cfg_find(r, c, ref, &cf, err);
  if (res) return res;
  if ((res = run_find(r, cf.id, ref->run_number, &x, err))) goto done;
  sqlite3_stmt *st = runs_db_prep(r->db, "SELECT line FROM run_log WHERE run_id = ? ORDER BY seq");
  if (!st) {
    res = dberr(err, "the logs");
    goto done;
  }
  sqlite3_bind_text(st, 1, x.id, -1, SQLITE_TRANSIENT);
  srv_buf_printf(out, "{\"run_number\":%lld", (long long)x.run_number);
  srv_buf_json_kv(out, 0, "status", x.status);
  srv_buf_json_kv(out, 0, "stage", x.stage);
  srv_buf_puts(out, ",\"simulated_tee\":true,\"logs\":[");
  int n = 0, rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (n++) srv_buf_puts(out, ",");
    srv_buf_puts(out, (const char *)sqlite3_column_text(st, 0)); /* JSON lines we wrote */
  }
  sqlite3_finalize(st);
  srv_buf_puts(out, "]}");
  if (rc != SQLITE_DONE) res = dberr(err, "the logs");
done:
  run_clear(&x);
  cfg_clear(&cf);
  return res;
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int runs_model(srv_ctx *ctx, const srv_caller *c, const srv_run_ref *ref, srv_buf *out,
               srv_err *err) {
  if (require_runs(ctx, err)) return err->kind;
  srv_runs *r = R(ctx);
  cfg cf = {0};
  run x = {0};
  int res = cfg_find(r, c, ref, &cf, err);
  if (res) return res;
  if ((res = may_see_outputs(r, c, err))) goto done;
  if ((res = run_find(r, cf.id, ref->run_number, &x, err))) goto done;
  if (!x.model_sha256) {
    res = fail(err, SRV_E_NOTFOUND, "run %lld has no trained model", (long long)x.run_number);
    goto done;
  }
  unsigned char *data = NULL;
  size_t len = 0;
  if (srv_blob_get(ctx->cfg.data_dir, x.model_sha256, &data, &len)) {
    res = fail(err, SRV_E_INTERNAL, "the stored model cannot be read");
    goto done;
  }
  srv_buf name = {0};
  file_stem(&name, c, &x);
  srv_buf_puts(&name, "-model.zip.bkenc");
  srv_buf_puts(out, "{");
  srv_buf_json_kv(out, 1, "file_name", name.p);
  srv_buf_json_kv(out, 0, "sha256", x.model_sha256);
  srv_buf_puts(out, ",\"encrypted_to\":\"the algorithm owner's CEK (BKENC v1)\",\"model content\":\"");
  char q[4];
  for (size_t i = 0; i < len; i += 3) {
    uint32_t v = (uint32_t)data[i] << 16 | (i + 1 < len ? (uint32_t)data[i + 1] << 8 : 0) |
                 (i + 2 < len ? data[i + 2] : 0);
    q[0] = B64[v >> 18 & 63];
    q[1] = B64[v >> 12 & 63];
    q[2] = i + 1 < len ? B64[v >> 6 & 63] : '=';
    q[3] = i + 2 < len ? B64[v & 63] : '=';
    srv_buf_add(out, q, 4);
  }
  srv_buf_printf(out, "\",\"run_number\":%lld}", (long long)x.run_number);
  srv_buf_free(&name);
  free(data);
done:
  run_clear(&x);
  cfg_clear(&cf);
  return res;
}

int runs_notifications(srv_ctx *ctx, const srv_caller *c, int mark_read, srv_buf *out,
                       srv_err *err) {
  if (require_runs(ctx, err)) return err->kind;
  srv_runs *r = R(ctx);
  /* removed after 48 hours (manual §10.5) */
  sqlite3_stmt *del = runs_db_prep(r->db, "DELETE FROM notification WHERE created_at < ?");
  if (del) {
    sqlite3_bind_int64(del, 1, runs_now() - NOTIFY_TTL_S);
    sqlite3_step(del);
    sqlite3_finalize(del);
  }
  sqlite3_stmt *st = runs_db_prep(
      r->db, "SELECT n.id, n.kind, n.message, n.run_id, n.created_at, EXISTS(SELECT 1 FROM "
             "notification_read x WHERE x.notification_id = n.id AND x.user_id = ?) FROM "
             "notification n WHERE n.project_id = ? AND n.org_id = ? ORDER BY n.id DESC");
  if (!st) return dberr(err, "the notifications");
  const char *t[] = {c->user.id, c->project.id, c->member.org_id};
  runs_db_bind(st, 3, t);
  srv_buf_puts(out, "{\"notifications\":[");
  int n = 0, unread = 0, rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    int read = sqlite3_column_int(st, 5);
    unread += !read;
    if (n++) srv_buf_puts(out, ",");
    srv_buf_printf(out, "{\"id\":%lld", (long long)sqlite3_column_int64(st, 0));
    srv_buf_json_kv(out, 0, "kind", (const char *)sqlite3_column_text(st, 1));
    srv_buf_json_kv(out, 0, "message", (const char *)sqlite3_column_text(st, 2));
    srv_buf_json_kv(out, 0, "run_id", (const char *)sqlite3_column_text(st, 3));
    int64_t at = sqlite3_column_int64(st, 4);
    srv_buf_printf(out, ",\"created_at\":%lld,\"expires_at\":%lld,\"read\":%s}", (long long)at,
                   (long long)(at + NOTIFY_TTL_S), read ? "true" : "false");
  }
  sqlite3_finalize(st);
  srv_buf_printf(out, "],\"unread\":%d}", unread);
  if (rc != SQLITE_DONE) return dberr(err, "the notifications");
  if (mark_read) {
    st = runs_db_prep(r->db, "INSERT OR IGNORE INTO notification_read(notification_id,user_id) "
                             "SELECT id, ? FROM notification WHERE project_id = ? AND org_id = ?");
    if (st) runs_db_bind(st, 3, t);
    rc = st ? sqlite3_step(st) : SQLITE_ERROR;
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return dberr(err, "the notifications");
  }
  return 0;
}

int runs_chat_post(srv_ctx *ctx, const srv_caller *c, const char *message, srv_buf *out,
                   srv_err *err) {
  if (require_runs(ctx, err)) return err->kind;
  srv_runs *r = R(ctx);
  if (!message || !*message) return fail(err, SRV_E_BADREQ, "message is required");
  size_t n = strlen(message);
  if (n > 4000) return fail(err, SRV_E_BADREQ, "message is over 4000 characters");
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)message[i];
    if ((ch < 0x20 && ch != '\n' && ch != '\t') || ch == 0x7f)
      return fail(err, SRV_E_BADREQ, "message has control characters");
  }
  sqlite3_stmt *st = runs_db_prep(r->db, "INSERT INTO chat_message(project_id,user_id,email,role,"
                                         "message,created_at) VALUES(?,?,?,?,?,?)");
  if (!st) return dberr(err, "the chat");
  const char *t[] = {c->project.id, c->user.id, c->user.email, c->member.role, message};
  runs_db_bind(st, 5, t);
  sqlite3_bind_int64(st, 6, runs_now());
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return dberr(err, "the chat");
  int64_t seq = sqlite3_last_insert_rowid(r->db);
  /* the author has read their own message */
  st = runs_db_prep(r->db, "INSERT INTO chat_read(project_id,user_id,last_seq) VALUES(?,?,?) "
                           "ON CONFLICT(project_id,user_id) DO UPDATE SET last_seq = "
                           "max(last_seq, excluded.last_seq)");
  if (st) {
    runs_db_bind(st, 2, t);
    sqlite3_bind_int64(st, 3, seq);
    sqlite3_step(st);
    sqlite3_finalize(st);
  }
  srv_buf_printf(out, "{\"seq\":%lld", (long long)seq);
  srv_buf_json_kv(out, 0, "from", c->user.email);
  srv_buf_json_kv(out, 0, "role", c->member.role);
  srv_buf_json_kv(out, 0, "message", message);
  srv_buf_puts(out, "}");
  return 0;
}

int runs_chat_list(srv_ctx *ctx, const srv_caller *c, srv_buf *out, srv_err *err) {
  if (require_runs(ctx, err)) return err->kind;
  srv_runs *r = R(ctx);
  int64_t last = 0;
  sqlite3_stmt *st = runs_db_prep(r->db, "SELECT last_seq FROM chat_read WHERE project_id = ? "
                                         "AND user_id = ?");
  const char *t[] = {c->project.id, c->user.id};
  if (st) {
    runs_db_bind(st, 2, t);
    if (sqlite3_step(st) == SQLITE_ROW) last = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
  }
  st = runs_db_prep(r->db, "SELECT seq, email, role, message, created_at FROM chat_message "
                           "WHERE project_id = ? ORDER BY seq");
  if (!st) return dberr(err, "the chat");
  runs_db_bind(st, 1, t);
  srv_buf_puts(out, "{\"messages\":[");
  int n = 0, unread = 0, rc;
  int64_t top = last;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t seq = sqlite3_column_int64(st, 0);
    int is_unread = seq > last;
    unread += is_unread;
    if (seq > top) top = seq;
    if (n++) srv_buf_puts(out, ",");
    srv_buf_printf(out, "{\"seq\":%lld", (long long)seq);
    srv_buf_json_kv(out, 0, "from", (const char *)sqlite3_column_text(st, 1));
    srv_buf_json_kv(out, 0, "role", (const char *)sqlite3_column_text(st, 2));
    srv_buf_json_kv(out, 0, "message", (const char *)sqlite3_column_text(st, 3));
    srv_buf_printf(out, ",\"created_at\":%lld,\"unread\":%s}",
                   (long long)sqlite3_column_int64(st, 4), is_unread ? "true" : "false");
  }
  sqlite3_finalize(st);
  srv_buf_printf(out, "],\"unread\":%d}", unread);
  if (rc != SQLITE_DONE) return dberr(err, "the chat");
  st = runs_db_prep(r->db, "INSERT INTO chat_read(project_id,user_id,last_seq) VALUES(?,?,?) "
                           "ON CONFLICT(project_id,user_id) DO UPDATE SET last_seq = "
                           "excluded.last_seq");
  if (st) {
    runs_db_bind(st, 2, t);
    sqlite3_bind_int64(st, 3, top);
    sqlite3_step(st);
    sqlite3_finalize(st);
  }
  return 0;
}

/* ---- lifecycle -------------------------------------------------------------------------------- */

int srv_runs_open(srv_ctx *ctx, char *err, size_t errsz) {
  if (ctx->runs) return 0;
  srv_runs *r = calloc(1, sizeof *r);
  if (!r) {
    snprintf(err, errsz, "out of memory");
    return -1;
  }
  r->ctx = ctx;
  if (snprintf(r->db_path, sizeof r->db_path, "%s/escrowd.db", ctx->cfg.data_dir) >=
      (int)sizeof r->db_path) {
    snprintf(err, errsz, "the data folder's path is too long");
    free(r);
    return -1;
  }
  if (!(r->db = runs_db_open(r->db_path, err, errsz))) {
    free(r);
    return -1;
  }
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cv, NULL);
  r->have_sync = 1;
  snprintf(r->runner_name, sizeof r->runner_name, "escrowd-embedded");
  ctx->runs = r;
  return 0;
}

int srv_runs_set_permissions(srv_ctx *ctx, const char *project_id, int ao_may_initiate,
                             int ds_sees_results, srv_buf *out, srv_err *err) {
  char e[256];
  if (srv_runs_open(ctx, e, sizeof e)) return fail(err, SRV_E_INTERNAL, "%s", e);
  srv_runs *r = R(ctx);
  srv_project p;
  int rc = ctx->store->project_get(ctx->store, project_id, &p);
  if (rc) return rc == SRV_NOTFOUND ? fail(err, SRV_E_NOTFOUND, "no project %s", project_id)
                                    : dberr(err, "the project");
  srv_project_clear(&p);
  sqlite3_stmt *st = runs_db_prep(
      r->db, "INSERT INTO run_settings(project_id,ao_may_initiate,ds_sees_results) VALUES(?,?,?) "
             "ON CONFLICT(project_id) DO UPDATE SET ao_may_initiate = CASE WHEN ?2 < 0 THEN "
             "ao_may_initiate ELSE ?2 END, ds_sees_results = CASE WHEN ?3 < 0 THEN "
             "ds_sees_results ELSE ?3 END");
  if (!st) return dberr(err, "the settings");
  sqlite3_bind_text(st, 1, project_id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(st, 2, ao_may_initiate);
  sqlite3_bind_int(st, 3, ds_sees_results);
  rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return dberr(err, "the settings");
  int a = 0, d = 0;
  project_settings(r, project_id, &a, &d);
  srv_buf_puts(out, "{");
  srv_buf_json_kv(out, 1, "project_id", project_id);
  srv_buf_printf(out, ",\"ao_may_initiate\":%s,\"ds_sees_results\":%s}", a > 0 ? "true" : "false",
                 d > 0 ? "true" : "false");
  return 0;
}

static int find_enclave(srv_runs *r, const char *given) {
  if (given) {
    if (access(given, X_OK) != 0) return -1;
    snprintf(r->enclave, sizeof r->enclave, "%s", given);
    return 0;
  }
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = 0;
    char *sl = strrchr(self, '/');
    if (sl) {
      *sl = 0;
      const char *cands[] = {"", "/../enclave"};
      for (size_t i = 0; i < 2; i++) {
        char p[PATH_MAX + 64];
        snprintf(p, sizeof p, "%s%s/escrow-enclave", self, cands[i]);
        if (access(p, X_OK) == 0 && realpath(p, r->enclave)) return 0;
      }
    }
  }
  const char *path = getenv("PATH");
  char *dup = path ? strdup(path) : NULL, *save = NULL;
  for (char *d = dup ? strtok_r(dup, ":", &save) : NULL; d; d = strtok_r(NULL, ":", &save)) {
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/escrow-enclave", d);
    if (strlen(p) < sizeof r->enclave && access(p, X_OK) == 0) {
      memcpy(r->enclave, p, strlen(p) + 1);
      free(dup);
      return 0;
    }
  }
  free(dup);
  return -1;
}

int srv_runs_start(srv_ctx *ctx, const srv_runs_config *rc, char *err, size_t errsz) {
  if (srv_runs_open(ctx, err, errsz)) return -1;
  srv_runs *r = R(ctx);
  r->allow_simulated_tee = rc->allow_simulated_tee;
  if (rc->runner_name) snprintf(r->runner_name, sizeof r->runner_name, "%s", rc->runner_name);
  int n = runs_db_recover(r->db, r->runner_name, 300);
  if (n < 0) {
    snprintf(err, errsz, "cannot recover the runs a previous process left in progress");
    return -1;
  }
  if (n > 0)
    fprintf(stderr, "escrowd: %d run(s) left in progress by a stopped runner marked Failed with the reason\n", n);
  if (rc->runners == 0) return 0;
  if (find_enclave(r, rc->enclave_bin)) {
    snprintf(err, errsz, "escrow-enclave was not found%s%s (beside escrowd, in ../enclave, or on "
             "PATH): give --enclave PATH, or --runners 0 to serve without running",
             rc->enclave_bin ? " at " : "", rc->enclave_bin ? rc->enclave_bin : "");
    return -1;
  }
  return runs_runner_start(r, rc->runners, err, errsz);
}

void srv_runs_stop(srv_ctx *ctx) {
  srv_runs *r = R(ctx);
  if (!r) return;
  runs_runner_stop(r);
  sqlite3_close(r->db);
  if (r->have_sync) {
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
  }
  free(r);
  ctx->runs = NULL;
}
