/* escrowd: run configurations, requests, review, results, notifications, chat (see runs.h).
 * Requests run in parallel; every statement goes through the store's database (db.h), several
 * that must hold together in one transaction. */
#define _GNU_SOURCE
#include <ctype.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include <yajl/yajl_tree.h>

#include <escrow/error.h>
#include <escrow/keys.h>
#include <escrow/package.h>

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
static int attest_setup(srv_runs *r, char *err, size_t errsz);
static void attest_free(srv_runs *r);

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
static int art_find(srv_db *db, const char *project, const char *kind, const char *ref,
                    art *out) {
  memset(out, 0, sizeof *out);
  srv_db_param p[] = {SRV_DB_TEXT(project), SRV_DB_TEXT(kind), SRV_DB_TEXT(ref)};
  rq q;
  if (rq_run(db, "SELECT id, org_id, version_tag, meta_json, sha256, name FROM artifact_version "
                 "WHERE project_id = $1 AND kind = $2 AND (id = $3 OR version_tag = $3) "
                 "ORDER BY CASE WHEN id = $3 THEN 0 ELSE 1 END, id", p, 3, 6, 0, &q))
    return SRV_STOREERR;
  if (q.nrow == 0) {
    rq_free(&q);
    return SRV_NOTFOUND;
  }
  /* an exact id wins; a tag must name one version */
  if (q.nrow > 1 && strcmp(rq_s(&q, 0, 0), ref) != 0) {
    rq_free(&q);
    return SRV_CONFLICT;
  }
  out->id = rq_dup(&q, 0, 0);
  out->org_id = rq_dup(&q, 0, 1);
  out->tag = rq_dup(&q, 0, 2);
  out->meta = rq_dup(&q, 0, 3);
  out->sha256 = rq_dup(&q, 0, 4);
  out->name = rq_dup(&q, 0, 5);
  rq_free(&q);
  if (!out->id || !out->org_id || !out->tag) {
    art_clear(out);
    return SRV_STOREERR;
  }
  return 0;
}

/* A string member of a JSON object text (malloc'd), or NULL. */
static char *json_member(const char *json, const char *key) {
  if (!json) return NULL;
  yajl_val v = srv_runs_json_parse(json, SRV_RUNS_STORED_JSON_DEPTH, NULL, 0);
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

#define CFG_NSTR 12

static void cfg_fields(cfg *c, char **f[CFG_NSTR]) {
  char **t[CFG_NSTR] = {&c->id, &c->project_id, &c->name, &c->description, &c->run_type,
                        &c->algorithm_id, &c->dataset_id, &c->ds_org_id, &c->alg_tag, &c->ds_tag,
                        &c->alg_meta, &c->ds_meta};
  memcpy(f, t, sizeof t);
}

static void cfg_clear(cfg *c) {
  char **f[CFG_NSTR];
  cfg_fields(c, f);
  for (int i = 0; i < CFG_NSTR; i++) free(*f[i]);
  memset(c, 0, sizeof *c);
}

#define CFG_COLS                                                                              \
  "c.id, c.project_id, c.name, c.description, c.run_type, c.algorithm_id, c.dataset_id, "     \
  "c.ds_org_id, a.version_tag, d.version_tag, a.meta_json, d.meta_json, c.created_at FROM "   \
  "run_configuration c JOIN artifact_version a ON a.id = c.algorithm_id JOIN "                \
  "artifact_version d ON d.id = c.dataset_id "
#define CFG_NCOL 13

static int cfg_row(const rq *q, size_t row, cfg *c) {
  char **f[CFG_NSTR];
  cfg_fields(c, f);
  for (int i = 0; i < CFG_NSTR; i++) *f[i] = rq_dup(q, row, i);
  c->created_at = rq_i(q, row, 12);
  return c->id && c->alg_tag && c->ds_tag && c->ds_org_id ? 0 : -1;
}

/* Find the configuration the reference names, visible to the caller (a DS sees only those on
 * its own datasets). */
static int cfg_find(srv_runs *r, const srv_caller *c, const srv_run_ref *ref, cfg *out,
                    srv_err *err) {
  memset(out, 0, sizeof *out);
  art a = {0}, d = {0};
  rq q;
  int rc;
  if (ref->config_id && *ref->config_id) {
    srv_db_param p[] = {SRV_DB_TEXT(c->project.id), SRV_DB_TEXT(ref->config_id)};
    rc = rq_run(r->db, "SELECT " CFG_COLS "WHERE c.project_id = $1 AND c.id = $2", p, 2,
                CFG_NCOL, 0, &q);
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
    srv_db_param p[] = {SRV_DB_TEXT(c->project.id), SRV_DB_TEXT(a.id), SRV_DB_TEXT(d.id)};
    rc = rq_run(r->db, "SELECT " CFG_COLS "WHERE c.project_id = $1 AND c.algorithm_id = $2 "
                "AND c.dataset_id = $3", p, 3, CFG_NCOL, 0, &q);
    art_clear(&a);
    art_clear(&d);
  }
  if (rc) return dberr(err, "the run configuration");
  if (q.nrow == 0) {
    rq_free(&q);
    return fail(err, SRV_E_NOTFOUND, "no such run configuration in this project");
  }
  rc = cfg_row(&q, 0, out);
  rq_free(&q);
  if (rc) {
    cfg_clear(out);
    return dberr(err, "the run configuration");
  }
  if (!is_ao(c) && strcmp(out->ds_org_id, c->member.org_id) != 0) {
    cfg_clear(out);
    return fail(err, SRV_E_NOTFOUND, "no such run configuration in this project");
  }
  return 0;
}

/* ---- runs ------------------------------------------------------------------------------------ */

typedef struct run {
  char *id, *status, *stage, *machine_type, *params_json, *reason, *report_json, *certificate,
      *model_sha256, *runner, *requested_by, *decided_by;
  int64_t run_number, vcpus, memory_mib, timeout_s, requested_at, decided_at, ended_at;
  int cancel_requested;
} run;

#define RUN_NSTR 12

static void run_fields(run *x, char **f[RUN_NSTR]) {
  char **t[RUN_NSTR] = {&x->id, &x->status, &x->stage, &x->machine_type, &x->params_json,
                        &x->reason, &x->report_json, &x->certificate, &x->model_sha256,
                        &x->runner, &x->requested_by, &x->decided_by};
  memcpy(f, t, sizeof t);
}

static void run_clear(run *x) {
  char **f[RUN_NSTR];
  run_fields(x, f);
  for (int i = 0; i < RUN_NSTR; i++) free(*f[i]);
  memset(x, 0, sizeof *x);
}

#define RUN_COLS                                                                              \
  "id, status, stage, machine_type, params_json, reason, report_json, certificate_json, "     \
  "model_sha256, runner, requested_by, decided_by, run_number, vcpus, memory_mib, timeout_s, " \
  "requested_at, decided_at, ended_at, cancel_requested FROM run "
#define RUN_NCOL 20

static int run_row(const rq *q, size_t row, run *x) {
  char **f[RUN_NSTR];
  run_fields(x, f);
  for (int i = 0; i < RUN_NSTR; i++) *f[i] = rq_dup(q, row, i);
  x->run_number = rq_i(q, row, 12);
  x->vcpus = rq_i(q, row, 13);
  x->memory_mib = rq_i(q, row, 14);
  x->timeout_s = rq_i(q, row, 15);
  x->requested_at = rq_i(q, row, 16);
  x->decided_at = rq_i(q, row, 17);
  x->ended_at = rq_i(q, row, 18);
  x->cancel_requested = (int)rq_i(q, row, 19);
  return x->id && x->status ? 0 : -1;
}

/* The configuration's run with that number (NULL: the newest). */
static int run_find(srv_runs *r, const char *config_id, const char *number, run *out,
                    srv_err *err) {
  memset(out, 0, sizeof *out);
  rq q;
  int rc;
  if (number && *number) {
    char *end = NULL;
    long long n = strtoll(number, &end, 10);
    if (!end || *end || n < 1) return fail(err, SRV_E_BADREQ, "run_number must be a run's number (1, 2, ...)");
    srv_db_param p[] = {SRV_DB_TEXT(config_id), SRV_DB_INT(n)};
    rc = rq_run(r->db, "SELECT " RUN_COLS "WHERE config_id = $1 AND run_number = $2", p, 2,
                RUN_NCOL, 0, &q);
  } else {
    srv_db_param p[] = {SRV_DB_TEXT(config_id)};
    rc = rq_run(r->db, "SELECT " RUN_COLS "WHERE config_id = $1 ORDER BY run_number DESC LIMIT 1",
                p, 1, RUN_NCOL, 0, &q);
  }
  if (rc) return dberr(err, "the run");
  if (q.nrow == 0) {
    rq_free(&q);
    return fail(err, SRV_E_NOTFOUND, "this run configuration has no such run");
  }
  rc = run_row(&q, 0, out);
  rq_free(&q);
  if (rc) {
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

static const char *cfg_status(srv_runs *r, const char *config_id) {
  static const char *const known[] = {"Run Requested", "In Progress", "Completed", "Failed",
                                      "Rejected", "Cancelled"};
  srv_db_param p[] = {SRV_DB_TEXT(config_id)};
  rq q;
  const char *s = "Pending";
  if (rq_run(r->db, "SELECT status FROM run WHERE config_id = $1 ORDER BY run_number DESC "
                    "LIMIT 1", p, 1, 1, 0, &q))
    return s;
  for (size_t i = 0; q.nrow && i < sizeof known / sizeof known[0]; i++)
    if (strcmp(rq_s(&q, 0, 0), known[i]) == 0) s = known[i];
  rq_free(&q);
  return s;
}

static int project_settings(srv_runs *r, const char *project, int *ao_may_initiate,
                            int *ds_sees) {
  *ao_may_initiate = *ds_sees = 0;
  srv_db_param p[] = {SRV_DB_TEXT(project)};
  rq q;
  if (rq_run(r->db, "SELECT ao_may_initiate, ds_sees_results FROM run_settings WHERE "
                    "project_id = $1", p, 1, 2, 0, &q))
    return SRV_STOREERR;
  if (q.nrow) {
    *ao_may_initiate = (int)rq_i(&q, 0, 0);
    *ds_sees = (int)rq_i(&q, 0, 1);
  }
  rq_free(&q);
  return 0;
}

static int audit(srv_runs *r, const srv_caller *c, const char *action, const char *object) {
  srv_store *s = r->ctx->store;
  return s->audit_append(s, c->user.email, action, c->project.id, object, NULL, NULL);
}

static int require_runs(srv_ctx *ctx, srv_err *err) {
  if (!R(ctx)) return fail(err, SRV_E_INTERNAL, "runs are not available in this process");
  return 0;
}

/* ---- e-mail (manual §13.9: the DS is e-mailed a run request, the AO a rejection) ------------- */

typedef struct mail_src {
  const char *p;
  size_t left;
} mail_src;

static size_t mail_read(char *buf, size_t size, size_t n, void *arg) {
  mail_src *m = arg;
  size_t k = size * n < m->left ? size * n : m->left;
  memcpy(buf, m->p, k);
  m->p += k;
  m->left -= k;
  return k;
}

/* E-mail the organisation's members of the project (when --smtp-url is set). A failure is
 * logged and does not undo the notification in the bell. */
static void notify_email(srv_runs *r, const char *project_id, const char *org_id,
                         const char *subject, const char *text) {
  if (!r->smtp_url[0]) return;
  srv_db_param p[] = {SRV_DB_TEXT(project_id), SRV_DB_TEXT(org_id)};
  rq q;
  if (rq_run(r->db, "SELECT u.email FROM project_user pu JOIN \"user\" u ON u.id = pu.user_id "
                    "WHERE pu.project_id = $1 AND u.org_id = $2", p, 2, 1, 0, &q))
    return;
  CURL *c = q.nrow ? curl_easy_init() : NULL;
  struct curl_slist *rcpt = NULL;
  srv_buf msg = {0};
  char from[300];
  snprintf(from, sizeof from, "<%s>", r->smtp_from);
  srv_buf_printf(&msg, "From: escrowd <%s>\r\nTo: ", r->smtp_from);
  for (size_t i = 0; i < q.nrow; i++) {
    char to[300];
    snprintf(to, sizeof to, "<%s>", rq_s(&q, i, 0));
    rcpt = curl_slist_append(rcpt, to);
    srv_buf_printf(&msg, "%s%s", i ? ", " : "", to);
  }
  srv_buf_printf(&msg, "\r\nSubject: [escrow] %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                 "\r\n%s\r\n\r\n(The TEE of this platform is SIMULATED.)\r\n", subject, text);
  if (c && rcpt && !msg.oom) {
    mail_src src = {msg.p, msg.len};
    curl_easy_setopt(c, CURLOPT_URL, r->smtp_url);
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, mail_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &src);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 15L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
      fprintf(stderr, "escrowd: the notification e-mail could not be sent: %s\n",
              curl_easy_strerror(rc));
  }
  curl_slist_free_all(rcpt);
  if (c) curl_easy_cleanup(c);
  srv_buf_free(&msg);
  rq_free(&q);
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
  if (srv_db_begin(r->db)) {
    res = dberr(err, "the run configuration");
    goto done;
  }
  const char *idp = id;
  srv_db_param p[] = {SRV_DB_TEXT(idp), SRV_DB_TEXT(c->project.id), SRV_DB_TEXT(in->name),
                      SRV_DB_TEXT(in->description ? in->description : ""),
                      SRV_DB_TEXT(type ? type : "validation"), SRV_DB_TEXT(a.id), SRV_DB_TEXT(d.id),
                      SRV_DB_TEXT(d.org_id), SRV_DB_TEXT(c->user.id), SRV_DB_INT(runs_now())};
  rc = rx(r->db, "INSERT INTO run_configuration(id, project_id, name, description, run_type, "
                 "algorithm_id, dataset_id, ds_org_id, created_by, created_at) VALUES ($1, $2, "
                 "$3, $4, $5, $6, $7, $8, $9, $10)", p, 10, NULL);
  if (!rc) rc = audit(r, c, "run_configuration.create", id);
  if (rc) {
    srv_db_rollback(r->db);
    res = rc == SRV_CONFLICT
              ? fail(err, SRV_E_CONFLICT, "a run configuration for algorithm version \"%s\" and "
                     "dataset version \"%s\" exists already (each combination is configured once)",
                     a.tag, d.tag)
              : dberr(err, "the run configuration");
    goto done;
  }
  if (srv_db_commit(r->db)) {
    res = dberr(err, "the run configuration");
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
  srv_db_param p[] = {SRV_DB_TEXT(c->project.id), SRV_DB_INT(is_ao(c)), SRV_DB_TEXT(c->member.org_id)};
  rq q;
  if (rq_run(r->db, "SELECT " CFG_COLS "WHERE c.project_id = $1 AND ($2 = 1 OR c.ds_org_id = $3) "
                    "ORDER BY c.created_at, c.id", p, 3, CFG_NCOL, 0, &q))
    return dberr(err, "the run configurations");
  srv_buf_puts(out, "{\"run_configurations\":[");
  int bad = 0;
  for (size_t i = 0; i < q.nrow && !bad; i++) {
    cfg cf = {0};
    if (cfg_row(&q, i, &cf)) {
      cfg_clear(&cf);
      bad = 1;
      break;
    }
    const char *s = cfg_status(r, cf.id);
    if (i) srv_buf_puts(out, ",");
    cfg_json(out, &cf, s);
    if (out->len) out->len--; /* reopen the object to add the runs */
    srv_buf_printf(out, ",\"run_requested\":%s,\"runs\":[",
                   strcmp(s, "Run Requested") == 0 ? "true" : "false");
    srv_db_param rp[] = {SRV_DB_TEXT(cf.id)};
    rq runs;
    if (rq_run(r->db, "SELECT " RUN_COLS "WHERE config_id = $1 ORDER BY run_number", rp, 1,
               RUN_NCOL, 0, &runs) == 0) {
      for (size_t k = 0; k < runs.nrow; k++) {
        run x = {0};
        if (run_row(&runs, k, &x) == 0) {
          if (k) srv_buf_puts(out, ",");
          run_json(out, &x, &cf, 1);
        }
        run_clear(&x);
      }
      rq_free(&runs);
    } else {
      bad = 1;
    }
    srv_buf_puts(out, "]}");
    cfg_clear(&cf);
  }
  rq_free(&q);
  srv_buf_puts(out, "]}");
  return bad ? dberr(err, "the run configurations") : 0;
}

static int parse_params(const char *text, srv_buf *norm, srv_err *err) {
  srv_buf_puts(norm, "{");
  if (!text || !*text) {
    srv_buf_puts(norm, "}");
    return 0;
  }
  char ebuf[128];
  if (!srv_json_depth_ok(text, strlen(text), SRV_JSON_MAX_DEPTH))
    return fail(err, SRV_E_BADREQ, "runtime_parameters is nested too deep");
  yajl_val v = yajl_tree_parse(text, ebuf, sizeof ebuf); /* its depth checked just above */
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
    if (!escrow_runtime_param_name_ok(k)) {
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
  if (params.oom) {
    srv_buf_free(&params);
    return fail(err, SRV_E_INTERNAL, "out of memory");
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
  char msg[512];
  snprintf(msg, sizeof msg, "Run requested by %s: algorithm version %s on dataset version %s "
           "(%s). Review it and initiate or reject it.", c->user.email, cf.alg_tag, cf.ds_tag, mt);
  if (srv_db_begin(r->db)) {
    res = dberr(err, "the run request");
    goto done;
  }
  const char *idp = id, *mtp = mt;
  srv_db_param p[] = {SRV_DB_TEXT(idp), SRV_DB_TEXT(cf.id), SRV_DB_TEXT(c->project.id),
                      SRV_DB_TEXT(mtp), SRV_DB_INT(vcpus), SRV_DB_INT(mem_gib * 1024),
                      SRV_DB_INT(timeout_min * 60), SRV_DB_TEXT(params.p),
                      SRV_DB_TEXT(c->user.email), SRV_DB_INT(runs_now())};
  rc = rx(r->db, "INSERT INTO run(id, config_id, project_id, run_number, status, machine_type, "
                 "vcpus, memory_mib, timeout_s, params_json, requested_by, requested_at) VALUES "
                 "($1, $2, $3, (SELECT COALESCE(MAX(run_number), 0) + 1 FROM run WHERE config_id "
                 "= $2), 'Run Requested', $4, $5, $6, $7, $8, $9, $10)", p, 10, NULL);
  if (!rc) rc = audit(r, c, "run.request", id);
  if (!rc) rc = runs_db_notify(r->db, c->project.id, cf.ds_org_id, "run_requested", msg, id);
  if (rc) {
    srv_db_rollback(r->db);
    res = rc == SRV_CONFLICT
              ? fail(err, SRV_E_CONFLICT, "this run configuration already has a run requested or "
                     "in progress: one run at a time per configuration (wait until it ends)")
              : dberr(err, "the run request");
    goto done;
  }
  if (srv_db_commit(r->db)) {
    res = dberr(err, "the run request");
    goto done;
  }
  notify_email(r, c->project.id, cf.ds_org_id, "Run requested", msg);
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
    srv_store *s = r->ctx->store;
    int rc = crit ? s->acceptance_has(s, crit, cf->ds_org_id) : SRV_NOTFOUND;
    if (rc == SRV_NOTFOUND)
      res = fail(err, SRV_E_CONFLICT, "the data steward has not accepted validation criteria "
                 "version \"%s\" (POST /api/v1/validation-criteria-accept/): runs of a "
                 "validation algorithm need it", tag ? tag : "?");
    else if (rc)
      res = dberr(err, "the criteria acceptance");
  } else {
    /* training: the report is checked against the newest criteria the DS accepted */
    srv_db_param p[] = {SRV_DB_TEXT(cf->project_id), SRV_DB_TEXT(cf->ds_org_id)};
    rq q;
    if (rq_run(r->db, "SELECT 1 FROM artifact_version a JOIN criteria_acceptance x ON "
                      "x.artifact_id = a.id WHERE a.project_id = $1 AND a.kind = "
                      "'validation_criteria' AND x.org_id = $2", p, 2, 1, 0, &q))
      res = dberr(err, "the criteria acceptance");
    else if (q.nrow == 0)
      res = fail(err, SRV_E_CONFLICT, "the data steward has accepted no validation criteria in "
                 "this project: a training run's report is checked against them");
    rq_free(&q);
  }
  free(type);
  free(crit);
  free(tag);
  return res;
}

/* Move a run from one of two states to another; SRV_CONFLICT when it was in neither. */
static int set_status(srv_runs *r, const char *run_id, const char *from1, const char *from2,
                      const char *to, const char *stage, const char *by, const char *reason) {
  int ends = !strcmp(to, "Rejected") || !strcmp(to, "Cancelled");
  srv_db_param p[] = {SRV_DB_TEXT(to), SRV_DB_TEXT(stage), SRV_DB_TEXT(by), SRV_DB_INT(runs_now()),
                      SRV_DB_TEXT(reason), SRV_DB_INT(ends), SRV_DB_TEXT(run_id),
                      SRV_DB_TEXT(from1), SRV_DB_TEXT(from2 ? from2 : from1)};
  int64_t n = 0;
  int rc = rx(r->db, "UPDATE run SET status = $1, stage = COALESCE(CAST($2 AS TEXT), stage), "
                     "decided_by = $3, decided_at = $4, reason = CAST($5 AS TEXT), ended_at = "
                     "CASE WHEN $6 = 1 THEN $4 ELSE ended_at END WHERE id = $7 AND (status = $8 "
                     "OR status = $9)", p, 9, &n);
  if (rc) return rc;
  return n == 1 ? 0 : SRV_CONFLICT;
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
  if (srv_db_begin(r->db)) {
    res = dberr(err, "the run");
    goto done;
  }
  int rc = set_status(r, x.id, "Run Requested", NULL, "In Progress", "Run Initiated",
                      c->user.email, NULL);
  if (!rc) rc = platform_log(r, x.id, "Run Initiated", "run initiated: queued for a runner "
                             "(sandbox backend, a SIMULATED TEE)");
  if (!rc) rc = audit(r, c, "run.initiate", x.id);
  if (rc) srv_db_rollback(r->db);
  if (rc || srv_db_commit(r->db)) {
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
  srv_db_param pp[] = {SRV_DB_TEXT(c->project.id)};
  rq q;
  char *ao_org = NULL;
  if (rq_run(r->db, "SELECT org_id FROM project_org WHERE project_id = $1 AND role = 'ao'", pp, 1,
             1, 0, &q) == 0) {
    if (q.nrow) ao_org = rq_dup(&q, 0, 0);
    rq_free(&q);
  }
  char msg[2400];
  snprintf(msg, sizeof msg, "Run %lld of algorithm version %s on dataset version %s was "
           "rejected by %s: %s", (long long)x.run_number, cf.alg_tag, cf.ds_tag, c->user.email,
           reason);
  int rc = !ao_org || srv_db_begin(r->db) ? SRV_STOREERR : 0;
  int began = !rc;
  if (!rc) rc = set_status(r, x.id, "Run Requested", NULL, "Rejected", NULL, c->user.email, reason);
  if (!rc) rc = runs_db_notify(r->db, c->project.id, ao_org, "run_rejected", msg, x.id);
  if (!rc) rc = audit(r, c, "run.reject", x.id);
  if (rc && began) srv_db_rollback(r->db);
  if (rc || srv_db_commit(r->db))
    res = rc == SRV_CONFLICT ? fail(err, SRV_E_CONFLICT, "the run changed state meanwhile: reload it")
                             : dberr(err, "the rejection");
  if (!res) notify_email(r, c->project.id, ao_org, "Run rejected", msg);
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
  int queued = strcmp(x.status, "Run Requested") == 0 ||
               (strcmp(x.status, "In Progress") == 0 && !x.runner);
  if (!queued && strcmp(x.status, "In Progress") != 0) {
    res = fail(err, SRV_E_CONFLICT, "run %lld is %s: only a requested or running run can be "
               "cancelled", (long long)x.run_number, x.status);
    goto done;
  }
  if (srv_db_begin(r->db)) {
    res = dberr(err, "the cancellation");
    goto done;
  }
  int rc;
  if (queued) {
    /* not claimed yet: ends now (a runner's claim needs runner IS NULL, so no race) */
    srv_db_param p[] = {SRV_DB_TEXT(c->user.email), SRV_DB_INT(runs_now()), SRV_DB_TEXT(x.id)};
    int64_t n = 0;
    rc = rx(r->db, "UPDATE run SET status = 'Cancelled', decided_by = $1, reason = 'cancelled by "
                   "the data steward', ended_at = $2 WHERE id = $3 AND runner IS NULL AND status "
                   "IN ('Run Requested', 'In Progress')", p, 3, &n);
    if (!rc && n != 1) rc = SRV_CONFLICT;
    if (!rc) rc = platform_log(r, x.id, "Run", "Run Cancelled by the data steward before it started");
  } else {
    srv_db_param p[] = {SRV_DB_TEXT(x.id)};
    rc = rx(r->db, "UPDATE run SET cancel_requested = 1 WHERE id = $1 AND status = 'In Progress'",
            p, 1, NULL);
    if (!rc) rc = platform_log(r, x.id, x.stage ? x.stage : "Run", "cancellation requested by the data steward");
  }
  if (!rc) rc = audit(r, c, "run.cancel", x.id);
  if (rc) srv_db_rollback(r->db);
  if (rc || srv_db_commit(r->db)) {
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
    yajl_val v = srv_runs_json_parse(x.report_json, SRV_RUNS_STORED_JSON_DEPTH, NULL, 0);
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
  srv_db_param p[] = {SRV_DB_TEXT(c->project.id), SRV_DB_TEXT(a.id)};
  rq q;
  rc = rq_run(r->db,
              "SELECT c.id, d.version_tag, o.name, c.ds_org_id, "
              "(SELECT MAX(run_number) FROM run WHERE config_id = c.id AND status = 'Completed'), "
              "(SELECT report_json FROM run WHERE config_id = c.id AND status = 'Completed' ORDER "
              "BY run_number DESC LIMIT 1) FROM run_configuration c JOIN artifact_version d ON "
              "d.id = c.dataset_id JOIN org o ON o.id = c.ds_org_id WHERE c.project_id = $1 AND "
              "c.algorithm_id = $2 ORDER BY o.name, d.version_tag", p, 2, 6, 0, &q);
  if (rc) {
    art_clear(&a);
    return dberr(err, "the reports");
  }
  srv_buf_puts(out, "{");
  srv_buf_json_kv(out, 1, "algorithm_version", a.tag);
  srv_buf_puts(out, ",\"simulated_tee\":true,\"sites\":[");
  for (size_t i = 0; i < q.nrow; i++) {
    if (i) srv_buf_puts(out, ",");
    srv_buf_puts(out, "{");
    srv_buf_json_kv(out, 1, "run_configuration", rq_s(&q, i, 0));
    srv_buf_json_kv(out, 0, "dataset_version", rq_s(&q, i, 1));
    srv_buf_json_kv(out, 0, "data_steward", rq_s(&q, i, 2));
    srv_buf_json_kv(out, 0, "data_steward_org_id", rq_s(&q, i, 3));
    if (!rq_s(&q, i, 4) || !rq_s(&q, i, 5))
      srv_buf_puts(out, ",\"run_number\":null,\"report\":null}");
    else
      srv_buf_printf(out, ",\"run_number\":%lld,\"report\":%s}", (long long)rq_i(&q, i, 4),
                     rq_s(&q, i, 5));
  }
  rq_free(&q);
  art_clear(&a);
  srv_buf_puts(out, "]}");
  return 0;
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
  srv_db_param p[] = {SRV_DB_TEXT(x.id)};
  rq q;
  if (rq_run(r->db, "SELECT line FROM run_log WHERE run_id = $1 ORDER BY seq", p, 1, 1, 0, &q)) {
    res = dberr(err, "the logs");
    goto done;
  }
  srv_buf_printf(out, "{\"run_number\":%lld", (long long)x.run_number);
  srv_buf_json_kv(out, 0, "status", x.status);
  srv_buf_json_kv(out, 0, "stage", x.stage);
  srv_buf_puts(out, ",\"simulated_tee\":true,\"logs\":[");
  for (size_t i = 0; i < q.nrow; i++) {
    if (i) srv_buf_puts(out, ",");
    srv_buf_puts(out, rq_s(&q, i, 0)); /* JSON lines the platform wrote */
  }
  rq_free(&q);
  srv_buf_puts(out, "]}");
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
  char b4[4];
  for (size_t i = 0; i < len; i += 3) {
    uint32_t v = (uint32_t)data[i] << 16 | (i + 1 < len ? (uint32_t)data[i + 1] << 8 : 0) |
                 (i + 2 < len ? data[i + 2] : 0);
    b4[0] = B64[v >> 18 & 63];
    b4[1] = B64[v >> 12 & 63];
    b4[2] = i + 1 < len ? B64[v >> 6 & 63] : '=';
    b4[3] = i + 2 < len ? B64[v & 63] : '=';
    srv_buf_add(out, b4, 4);
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
  srv_db_param del[] = {SRV_DB_INT(runs_now() - NOTIFY_TTL_S)};
  if (rx(r->db, "DELETE FROM notification WHERE created_at < $1", del, 1, NULL))
    return dberr(err, "the notifications");
  srv_db_param p[] = {SRV_DB_TEXT(c->user.id), SRV_DB_TEXT(c->project.id), SRV_DB_TEXT(c->member.org_id)};
  rq q;
  if (rq_run(r->db, "SELECT n.id, n.kind, n.message, n.run_id, n.created_at, CASE WHEN EXISTS "
                    "(SELECT 1 FROM notification_read x WHERE x.notification_id = n.id AND "
                    "x.user_id = $1) THEN 1 ELSE 0 END FROM notification n WHERE n.project_id = "
                    "$2 AND n.org_id = $3 ORDER BY n.id DESC", p, 3, 6, 0, &q))
    return dberr(err, "the notifications");
  srv_buf_puts(out, "{\"notifications\":[");
  int unread = 0;
  for (size_t i = 0; i < q.nrow; i++) {
    int read = rq_i(&q, i, 5) != 0;
    unread += !read;
    if (i) srv_buf_puts(out, ",");
    srv_buf_printf(out, "{\"id\":%lld", (long long)rq_i(&q, i, 0));
    srv_buf_json_kv(out, 0, "kind", rq_s(&q, i, 1));
    srv_buf_json_kv(out, 0, "message", rq_s(&q, i, 2));
    srv_buf_json_kv(out, 0, "run_id", rq_s(&q, i, 3));
    int64_t at = rq_i(&q, i, 4);
    srv_buf_printf(out, ",\"created_at\":%lld,\"expires_at\":%lld,\"read\":%s}", (long long)at,
                   (long long)(at + NOTIFY_TTL_S), read ? "true" : "false");
  }
  rq_free(&q);
  srv_buf_printf(out, "],\"unread\":%d}", unread);
  if (mark_read &&
      rx(r->db, "INSERT INTO notification_read(notification_id, user_id) SELECT id, $1 FROM "
                "notification WHERE project_id = $2 AND org_id = $3 ON CONFLICT DO NOTHING",
         p, 3, NULL))
    return dberr(err, "the notifications");
  return 0;
}

static int chat_mark(srv_runs *r, const srv_caller *c, int64_t seq) {
  srv_db_param p[] = {SRV_DB_TEXT(c->project.id), SRV_DB_TEXT(c->user.id), SRV_DB_INT(seq)};
  return rx(r->db, "INSERT INTO chat_read(project_id, user_id, last_seq) VALUES ($1, $2, $3) "
                   "ON CONFLICT (project_id, user_id) DO UPDATE SET last_seq = CASE WHEN "
                   "excluded.last_seq > chat_read.last_seq THEN excluded.last_seq ELSE "
                   "chat_read.last_seq END", p, 3, NULL);
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
  srv_db_param p[] = {SRV_DB_TEXT(c->project.id), SRV_DB_TEXT(c->user.id), SRV_DB_TEXT(c->user.email),
                      SRV_DB_TEXT(c->member.role), SRV_DB_TEXT(message), SRV_DB_INT(runs_now())};
  rq q;
  if (rq_run(r->db, "INSERT INTO chat_message(project_id, user_id, email, role, message, "
                    "created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq", p, 6, 1, 0, &q) ||
      q.nrow != 1) {
    if (q.c) rq_free(&q);
    return dberr(err, "the chat");
  }
  int64_t seq = rq_i(&q, 0, 0);
  rq_free(&q);
  chat_mark(r, c, seq); /* the author has read their own message */
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
  srv_db_param p[] = {SRV_DB_TEXT(c->project.id), SRV_DB_TEXT(c->user.id)};
  rq q;
  if (rq_run(r->db, "SELECT last_seq FROM chat_read WHERE project_id = $1 AND user_id = $2", p, 2,
             1, 0, &q))
    return dberr(err, "the chat");
  if (q.nrow) last = rq_i(&q, 0, 0);
  rq_free(&q);
  if (rq_run(r->db, "SELECT seq, email, role, message, created_at FROM chat_message WHERE "
                    "project_id = $1 ORDER BY seq", p, 1, 5, 0, &q))
    return dberr(err, "the chat");
  srv_buf_puts(out, "{\"messages\":[");
  int unread = 0;
  int64_t top = last;
  for (size_t i = 0; i < q.nrow; i++) {
    int64_t seq = rq_i(&q, i, 0);
    int is_unread = seq > last;
    unread += is_unread;
    if (seq > top) top = seq;
    if (i) srv_buf_puts(out, ",");
    srv_buf_printf(out, "{\"seq\":%lld", (long long)seq);
    srv_buf_json_kv(out, 0, "from", rq_s(&q, i, 1));
    srv_buf_json_kv(out, 0, "role", rq_s(&q, i, 2));
    srv_buf_json_kv(out, 0, "message", rq_s(&q, i, 3));
    srv_buf_printf(out, ",\"created_at\":%lld,\"unread\":%s}", (long long)rq_i(&q, i, 4),
                   is_unread ? "true" : "false");
  }
  rq_free(&q);
  srv_buf_printf(out, "],\"unread\":%d}", unread);
  if (top > last && chat_mark(r, c, top)) return dberr(err, "the chat");
  return 0;
}

/* ---- lifecycle -------------------------------------------------------------------------------- */

int srv_runs_open(srv_ctx *ctx, char *err, size_t errsz) {
  if (ctx->runs) return 0;
  if (!ctx->store || !ctx->store->db) {
    snprintf(err, errsz, "the store is not open");
    return -1;
  }
  srv_runs *r = calloc(1, sizeof *r);
  if (!r) {
    snprintf(err, errsz, "out of memory");
    return -1;
  }
  r->ctx = ctx;
  r->db = ctx->store->db;
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cv, NULL);
  snprintf(r->runner_name, sizeof r->runner_name, "escrowd-embedded");
  ctx->runs = r;
  return 0;
}

int srv_runs_set_permissions(srv_ctx *ctx, const char *project_id, int ao_may_initiate,
                             int ds_sees_results, srv_buf *out, srv_err *err) {
  char e[256];
  int opened = !ctx->runs;
  if (srv_runs_open(ctx, e, sizeof e)) return fail(err, SRV_E_INTERNAL, "%s", e);
  srv_runs *r = R(ctx);
  srv_project p;
  int res = 0;
  int rc = ctx->store->project_get(ctx->store, project_id, &p);
  if (rc) {
    res = rc == SRV_NOTFOUND ? fail(err, SRV_E_NOTFOUND, "no project %s", project_id)
                             : dberr(err, "the project");
    goto done;
  }
  srv_project_clear(&p);
  srv_db_param q[] = {SRV_DB_TEXT(project_id), SRV_DB_INT(ao_may_initiate), SRV_DB_INT(ds_sees_results)};
  if (rx(r->db, "INSERT INTO run_settings(project_id, ao_may_initiate, ds_sees_results) VALUES "
                "($1, CASE WHEN $2 < 0 THEN 0 ELSE $2 END, CASE WHEN $3 < 0 THEN 0 ELSE $3 END) "
                "ON CONFLICT (project_id) DO UPDATE SET ao_may_initiate = CASE WHEN $2 < 0 THEN "
                "run_settings.ao_may_initiate ELSE $2 END, ds_sees_results = CASE WHEN $3 < 0 "
                "THEN run_settings.ds_sees_results ELSE $3 END", q, 3, NULL)) {
    res = dberr(err, "the settings");
    goto done;
  }
  int a = 0, d = 0;
  project_settings(r, project_id, &a, &d);
  srv_buf_puts(out, "{");
  srv_buf_json_kv(out, 1, "project_id", project_id);
  srv_buf_printf(out, ",\"ao_may_initiate\":%s,\"ds_sees_results\":%s}", a > 0 ? "true" : "false",
                 d > 0 ? "true" : "false");
done:
  if (opened) srv_runs_stop(ctx);
  return res;
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
  if (rc->smtp_url) {
    if ((strncmp(rc->smtp_url, "smtp://", 7) != 0 && strncmp(rc->smtp_url, "smtps://", 8) != 0) ||
        !rc->smtp_from || !strchr(rc->smtp_from, '@') || strpbrk(rc->smtp_from, "<>\r\n ") ||
        strlen(rc->smtp_url) >= sizeof r->smtp_url || strlen(rc->smtp_from) >= sizeof r->smtp_from) {
      snprintf(err, errsz, "--smtp-url takes smtp://HOST:PORT or smtps://..., with --smtp-from ADDRESS");
      return -1;
    }
    snprintf(r->smtp_url, sizeof r->smtp_url, "%s", rc->smtp_url);
    snprintf(r->smtp_from, sizeof r->smtp_from, "%s", rc->smtp_from);
  }
  if (rc->runner_name) {
    /* it names a folder: letters, digits, '-', '_', '.' only */
    size_t n = strlen(rc->runner_name);
    int ok = n > 0 && n < sizeof r->runner_name && rc->runner_name[0] != '.';
    for (size_t i = 0; ok && i < n; i++) {
      char ch = rc->runner_name[i];
      ok = isalnum((unsigned char)ch) || ch == '-' || ch == '_' || ch == '.';
    }
    if (!ok) {
      snprintf(err, errsz, "--runner-name: 1 to 95 letters, digits, '-', '_' or '.'");
      return -1;
    }
    snprintf(r->runner_name, sizeof r->runner_name, "%s", rc->runner_name);
  }
  int n = runs_db_recover(r->db, r->runner_name, 300);
  if (n < 0) {
    snprintf(err, errsz, "cannot recover the runs a previous process left in progress");
    return -1;
  }
  if (n > 0)
    fprintf(stderr, "escrowd: %d run(s) left in progress by a stopped runner marked Failed with the reason\n", n);
  if (attest_setup(r, err, errsz)) return -1;
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
  attest_free(r);
  pthread_mutex_destroy(&r->mu);
  pthread_cond_destroy(&r->cv);
  free(r);
  ctx->runs = NULL;
}

/* ---- attested key release (DESIGN §9) ----------------------------------------------------------- */

void srv_runs_set_listen(srv_ctx *ctx, const char *host, unsigned port, int tls) {
  srv_runs *r = R(ctx);
  if (!r) return;
  pthread_mutex_lock(&r->mu);
  snprintf(r->base_url, sizeof r->base_url, "%s://%s:%u", tls ? "https" : "http",
           strcmp(host, "0.0.0.0") == 0 ? "127.0.0.1" : host, port);
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
}

/* Load a signing key from the data folder, or make it (mode 0600, created exclusively). */
static int load_signer(const char *dir, const char *name, escrow_attest_signer **out,
                       char *err, size_t errsz) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (f) {
    unsigned char buf[16384];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    int rc = escrow_attest_signer_from_bytes(out, buf, n, NULL);
    OPENSSL_cleanse(buf, sizeof buf);
    if (rc) snprintf(err, errsz, "%s cannot be read: %s", path, escrow_error_last());
    return rc ? -1 : 0;
  }
  uint8_t *pem = NULL;
  size_t len = 0;
  if (escrow_attest_signer_generate(out, 3072, NULL) ||
      escrow_attest_signer_export(*out, &pem, &len)) {
    snprintf(err, errsz, "cannot make %s: %s", name, escrow_error_last());
    return -1;
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  int ok = fd >= 0 && write(fd, pem, len) == (ssize_t)len && fsync(fd) == 0;
  if (fd >= 0) close(fd);
  escrow_secret_free(pem);
  if (!ok) {
    snprintf(err, errsz, "cannot write %s", path);
    return -1;
  }
  return 0;
}

static int attest_setup(srv_runs *r, char *err, size_t errsz) {
  const char *dir = r->ctx->cfg.data_dir;
  if (load_signer(dir, "attest-sim-issuer.key.pem", &r->issuer, err, errsz) ||
      load_signer(dir, "attest-release.key.pem", &r->release, err, errsz))
    return -1;
  snprintf(r->issuer_url, sizeof r->issuer_url, "https://sim-issuer.escrowd.invalid/%s",
           escrow_attest_signer_kid(r->issuer));
  char *jwks = NULL;
  size_t jl = 0;
  uint8_t *pub = NULL;
  size_t pl = 0;
  int rc = escrow_attest_trust_new(&r->trust) || escrow_attest_signer_jwks(r->issuer, &jwks, &jl) ||
           escrow_attest_trust_add_issuer(r->trust, ESCROW_ATTEST_FORMAT_SIM, r->issuer_url,
                                          (const uint8_t *)jwks, jl) ||
           escrow_attest_signer_export(r->issuer, &r->issuer_pem, &r->issuer_pem_len) ||
           escrow_attest_signer_public_pem(r->release, &pub, &pl);
  escrow_free(jwks);
  if (!rc && !(r->release_pub_pem = strndup((const char *)pub, pl))) rc = -1;
  escrow_free(pub);
  if (rc) snprintf(err, errsz, "the attestation keys cannot be set up: %s", escrow_error_last());
  return rc ? -1 : 0;
}

static void attest_free(srv_runs *r) {
  escrow_attest_signer_free(r->issuer);
  escrow_attest_signer_free(r->release);
  escrow_attest_trust_free(r->trust);
  if (r->issuer_pem) escrow_secret_free(r->issuer_pem);
  free(r->release_pub_pem);
}

typedef struct enclave_run {
  char *project_id, *status, *runner, *token_sha, *nonce, *alg_sha, *org_id;
} enclave_run;

static void enclave_run_clear(enclave_run *e) {
  free(e->project_id), free(e->status), free(e->runner), free(e->token_sha), free(e->nonce),
      free(e->alg_sha), free(e->org_id);
  memset(e, 0, sizeof *e);
}

/* The run an enclave call names, authenticated by its bearer token (constant-time compare of
 * SHA-256 hex); role "ao" or "ds" gives that party's organisation and outstanding nonce. */
static int enclave_auth(srv_runs *r, const char *authorization, const char *run_id,
                        const char *role, enclave_run *e, srv_err *err) {
  memset(e, 0, sizeof *e);
  if (!role || (strcmp(role, "ao") != 0 && strcmp(role, "ds") != 0))
    return fail(err, SRV_E_BADREQ, "role must be ao or ds");
  if (!srv_valid_text(run_id, 100)) return fail(err, SRV_E_BADREQ, "run_id is required");
  if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
    return fail(err, SRV_E_UNAUTH, "the run's enclave token is required");
  const char *tok = authorization + 7;
  unsigned char md[32];
  char hex[65];
  unsigned mdl = 0;
  EVP_Digest(tok, strlen(tok), md, &mdl, EVP_sha256(), NULL);
  for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
  int ao = strcmp(role, "ao") == 0;
  srv_db_param p[] = {SRV_DB_TEXT(run_id)};
  rq q;
  if (rq_run(r->db, ao ? "SELECT r.project_id, r.status, r.runner, r.enclave_token_sha256, "
                         "r.attest_nonce_ao, a.sha256, (SELECT org_id FROM project_org WHERE "
                         "project_id = r.project_id AND role = 'ao') FROM run r JOIN "
                         "run_configuration c ON c.id = r.config_id JOIN artifact_version a ON "
                         "a.id = c.algorithm_id WHERE r.id = $1"
                       : "SELECT r.project_id, r.status, r.runner, r.enclave_token_sha256, "
                         "r.attest_nonce_ds, a.sha256, c.ds_org_id FROM run r JOIN "
                         "run_configuration c ON c.id = r.config_id JOIN artifact_version a ON "
                         "a.id = c.algorithm_id WHERE r.id = $1",
             p, 1, 7, 0, &q))
    return dberr(err, "the run");
  if (q.nrow) {
    e->project_id = rq_dup(&q, 0, 0);
    e->status = rq_dup(&q, 0, 1);
    e->runner = rq_dup(&q, 0, 2);
    e->token_sha = rq_dup(&q, 0, 3);
    e->nonce = rq_dup(&q, 0, 4);
    e->alg_sha = rq_dup(&q, 0, 5);
    e->org_id = rq_dup(&q, 0, 6);
  }
  rq_free(&q);
  int ok = e->token_sha && strlen(e->token_sha) == 64 && CRYPTO_memcmp(e->token_sha, hex, 64) == 0;
  OPENSSL_cleanse(hex, sizeof hex);
  if (!ok) {
    enclave_run_clear(e);
    return fail(err, SRV_E_UNAUTH, "not this run's enclave token");
  }
  if (!e->status || strcmp(e->status, "In Progress") != 0 || !e->runner || !e->project_id ||
      !e->alg_sha || !e->org_id) {
    enclave_run_clear(e);
    return fail(err, SRV_E_CONFLICT, "the run is not in progress");
  }
  return 0;
}

int runs_key_release(srv_ctx *ctx, const char *authorization, const char *run_id,
                     const char *role, const char *format, const char *evidence, srv_buf *out,
                     srv_err *err) {
  if (require_runs(ctx, err)) return err->kind;
  srv_runs *r = R(ctx);
  if (!r->trust) return fail(err, SRV_E_CONFLICT, "this server has no attestation set up");
  enclave_run e;
  int res = enclave_auth(r, authorization, run_id, role, &e, err);
  if (res) return res;
  char *claims = NULL, *policy = NULL, digest[80];
  size_t cl = 0;
  srv_kek k = {0};
  unsigned char *priv = NULL;
  size_t privlen = 0;
  escrow_kek *kek = NULL;
  snprintf(digest, sizeof digest, "sha256:%s", e.alg_sha);
  if (!format || !*format) format = ESCROW_ATTEST_FORMAT_SIM;
  if (!evidence || !*evidence) {
    res = fail(err, SRV_E_BADREQ, "evidence (an attestation token) is required");
    goto done;
  }
  if (!e.nonce) {
    res = fail(err, SRV_E_FORBIDDEN, "key release refused: this run's %s nonce has been used "
               "(a replayed request)", role);
    goto done;
  }
  escrow_attest_verify_opts vo = ESCROW_ATTEST_VERIFY_OPTS_INIT;
  vo.allow_simulated = r->allow_simulated_tee;
  if (escrow_attest_verify(&claims, &cl, r->trust, format, (const uint8_t *)evidence,
                           strlen(evidence), &vo)) {
    res = fail(err, SRV_E_FORBIDDEN, "key release refused: the evidence does not verify: %s",
               escrow_error_last());
    goto done;
  }
  /* the release policy, in Azure Key Vault's grammar */
  if (asprintf(&policy,
               "{\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":\"%s\",\"allOf\":["
               "{\"claim\":\"x-escrow-package-digest\",\"equals\":\"%s\"},"
               "{\"claim\":\"x-ms-runtime.project_id\",\"equals\":\"%s\"},"
               "{\"claim\":\"x-ms-runtime.run_id\",\"equals\":\"%s\"},"
               "{\"claim\":\"x-ms-runtime.role\",\"equals\":\"%s\"}]}]}",
               r->issuer_url, digest, e.project_id, run_id, role) < 0) {
    policy = NULL;
    res = fail(err, SRV_E_INTERNAL, "out of memory");
    goto done;
  }
  if (escrow_attest_policy_eval((const uint8_t *)policy, strlen(policy), (const uint8_t *)claims, cl)) {
    res = fail(err, SRV_E_FORBIDDEN, "key release refused by the release policy: %s",
               escrow_error_last());
    goto done;
  }
  escrow_attest_expect ex = ESCROW_ATTEST_EXPECT_INIT;
  ex.project_id = e.project_id;
  ex.run_id = run_id;
  ex.role = role;
  ex.nonce = e.nonce;
  ex.package_digest = digest;
  ex.allow_simulated = r->allow_simulated_tee;
  ex.max_age = 300;
  if (escrow_attest_check_expect((const uint8_t *)claims, cl, &ex)) {
    res = fail(err, SRV_E_FORBIDDEN, "key release refused: %s", escrow_error_last());
    goto done;
  }
  /* consume the nonce: single use, even against a concurrent replay */
  int64_t n = 0;
  srv_db_param cp[] = {SRV_DB_TEXT(run_id), SRV_DB_TEXT(e.nonce)};
  if (rx(r->db, strcmp(role, "ao") == 0
                    ? "UPDATE run SET attest_nonce_ao = NULL WHERE id = $1 AND attest_nonce_ao = $2"
                    : "UPDATE run SET attest_nonce_ds = NULL WHERE id = $1 AND attest_nonce_ds = $2",
         cp, 2, &n) || n != 1) {
    res = fail(err, SRV_E_FORBIDDEN, "key release refused: the nonce was used meanwhile (a "
               "replayed request)");
    goto done;
  }
  int rc = ctx->store->kek_get(ctx->store, e.project_id, e.org_id, &k);
  char context[160];
  snprintf(context, sizeof context, "escrowd-kek/%s/%s", e.project_id, e.org_id);
  if (rc || ctx->vault->unseal(ctx->vault, context, k.sealed, k.sealed_len, &priv, &privlen) ||
      escrow_kek_private_from_bytes(&kek, priv, privlen)) {
    res = fail(err, SRV_E_INTERNAL, "the vault could not open the %s key", role);
    goto done;
  }
  char kid[200];
  snprintf(kid, sizeof kid, "escrowd-kek/%s/%s", e.project_id, role);
  escrow_attest_release_opts ro = ESCROW_ATTEST_RELEASE_OPTS_INIT;
  ro.key_id = kid;
  char *jws = NULL;
  size_t jl = 0;
  if (escrow_attest_release(&jws, &jl, r->release, kek, (const uint8_t *)claims, cl, &ro)) {
    res = fail(err, SRV_E_UNPROCESSABLE, "the key cannot be wrapped to the evidence's key: %s",
               escrow_error_last());
    goto done;
  }
  srv_buf_add(out, jws, jl);
  escrow_free(jws);
  char msg[200];
  snprintf(msg, sizeof msg, "key release: the %s key encryption key was released to the "
           "enclave, wrapped to its ephemeral key (SIMULATED attestation)", role);
  platform_log(r, run_id, "Workload Launch", msg);
done:
  escrow_kek_free(kek);
  srv_vault_secret_free(priv, privlen);
  srv_kek_clear(&k);
  escrow_free(claims);
  free(policy);
  enclave_run_clear(&e);
  return res;
}

int runs_enclave_wcek(srv_ctx *ctx, const char *authorization, const char *run_id,
                      const char *role, srv_buf *out, srv_err *err) {
  if (require_runs(ctx, err)) return err->kind;
  srv_runs *r = R(ctx);
  enclave_run e;
  int res = enclave_auth(r, authorization, run_id, role, &e, err);
  if (res) return res;
  srv_artifact w;
  int rc = ctx->store->artifact_latest(ctx->store, e.project_id, "wcek", e.org_id, &w);
  unsigned char *data = NULL;
  size_t len = 0;
  if (rc || !w.sha256 || srv_blob_get(ctx->cfg.data_dir, w.sha256, &data, &len)) {
    res = fail(err, SRV_E_NOTFOUND, "the %s WCEK is missing", role);
  } else {
    srv_buf_puts(out, "{\"wcek\":\"");
    char b4[4];
    for (size_t i = 0; i < len; i += 3) {
      uint32_t v = (uint32_t)data[i] << 16 | (i + 1 < len ? (uint32_t)data[i + 1] << 8 : 0) |
                   (i + 2 < len ? data[i + 2] : 0);
      b4[0] = B64[v >> 18 & 63];
      b4[1] = B64[v >> 12 & 63];
      b4[2] = i + 1 < len ? B64[v >> 6 & 63] : '=';
      b4[3] = i + 2 < len ? B64[v & 63] : '=';
      srv_buf_add(out, b4, 4);
    }
    srv_buf_puts(out, "\"}");
  }
  free(data);
  if (!rc) srv_artifact_clear(&w);
  enclave_run_clear(&e);
  return res;
}
