/* escrowd: the run tables (module "runs" of the database layer, db.h) and the few queue
 * operations the runners share. Works on SQLite and PostgreSQL alike. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runs_int.h"

static const srv_db_migration STEPS[] = {
    /* 1 */
    {.sqlite =
         "CREATE TABLE run_settings (project_id TEXT PRIMARY KEY REFERENCES project(id),"
         "  ao_may_initiate INTEGER NOT NULL DEFAULT 0, ds_sees_results INTEGER NOT NULL DEFAULT 0);"
         "CREATE TABLE run_configuration (id TEXT PRIMARY KEY,"
         "  project_id TEXT NOT NULL REFERENCES project(id), name TEXT NOT NULL,"
         "  description TEXT NOT NULL, run_type TEXT NOT NULL,"
         "  algorithm_id TEXT NOT NULL REFERENCES artifact_version(id),"
         "  dataset_id TEXT NOT NULL REFERENCES artifact_version(id),"
         "  ds_org_id TEXT NOT NULL REFERENCES org(id), created_by TEXT NOT NULL,"
         "  created_at INTEGER NOT NULL, UNIQUE (algorithm_id, dataset_id));"
         "CREATE TABLE run (id TEXT PRIMARY KEY,"
         "  config_id TEXT NOT NULL REFERENCES run_configuration(id),"
         "  project_id TEXT NOT NULL REFERENCES project(id), run_number INTEGER NOT NULL,"
         "  status TEXT NOT NULL, stage TEXT, machine_type TEXT NOT NULL, vcpus INTEGER NOT NULL,"
         "  memory_mib INTEGER NOT NULL, timeout_s INTEGER NOT NULL, params_json TEXT NOT NULL,"
         "  requested_by TEXT NOT NULL, requested_at INTEGER NOT NULL, decided_by TEXT,"
         "  decided_at INTEGER, reason TEXT, runner TEXT, claimed_at INTEGER, heartbeat INTEGER,"
         "  cancel_requested INTEGER NOT NULL DEFAULT 0, ended_at INTEGER, report_json TEXT,"
         "  certificate_json TEXT, model_sha256 TEXT, UNIQUE (config_id, run_number));"
         "CREATE UNIQUE INDEX run_one_active ON run(config_id)"
         "  WHERE status IN ('Run Requested','In Progress');"
         "CREATE INDEX run_queue ON run(status, runner, decided_at);"
         "CREATE TABLE run_log (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
         "  run_id TEXT NOT NULL REFERENCES run(id), logged_at INTEGER NOT NULL,"
         "  line TEXT NOT NULL);"
         "CREATE INDEX run_log_run ON run_log(run_id, seq);"
         "CREATE TABLE notification (id INTEGER PRIMARY KEY AUTOINCREMENT,"
         "  project_id TEXT NOT NULL REFERENCES project(id), org_id TEXT NOT NULL REFERENCES org(id),"
         "  kind TEXT NOT NULL, message TEXT NOT NULL, run_id TEXT, created_at INTEGER NOT NULL);"
         "CREATE TABLE notification_read (notification_id INTEGER NOT NULL"
         "  REFERENCES notification(id) ON DELETE CASCADE, user_id TEXT NOT NULL,"
         "  PRIMARY KEY (notification_id, user_id));"
         "CREATE TABLE chat_message (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
         "  project_id TEXT NOT NULL REFERENCES project(id), user_id TEXT NOT NULL,"
         "  email TEXT NOT NULL, role TEXT NOT NULL, message TEXT NOT NULL,"
         "  created_at INTEGER NOT NULL);"
         "CREATE TABLE chat_read (project_id TEXT NOT NULL, user_id TEXT NOT NULL,"
         "  last_seq INTEGER NOT NULL, PRIMARY KEY (project_id, user_id));",
     .pg =
         "CREATE TABLE run_settings (project_id TEXT PRIMARY KEY REFERENCES project(id),"
         "  ao_may_initiate INTEGER NOT NULL DEFAULT 0, ds_sees_results INTEGER NOT NULL DEFAULT 0);"
         "CREATE TABLE run_configuration (id TEXT PRIMARY KEY,"
         "  project_id TEXT NOT NULL REFERENCES project(id), name TEXT NOT NULL,"
         "  description TEXT NOT NULL, run_type TEXT NOT NULL,"
         "  algorithm_id TEXT NOT NULL REFERENCES artifact_version(id),"
         "  dataset_id TEXT NOT NULL REFERENCES artifact_version(id),"
         "  ds_org_id TEXT NOT NULL REFERENCES org(id), created_by TEXT NOT NULL,"
         "  created_at BIGINT NOT NULL, UNIQUE (algorithm_id, dataset_id));"
         "CREATE TABLE run (id TEXT PRIMARY KEY,"
         "  config_id TEXT NOT NULL REFERENCES run_configuration(id),"
         "  project_id TEXT NOT NULL REFERENCES project(id), run_number BIGINT NOT NULL,"
         "  status TEXT NOT NULL, stage TEXT, machine_type TEXT NOT NULL, vcpus BIGINT NOT NULL,"
         "  memory_mib BIGINT NOT NULL, timeout_s BIGINT NOT NULL, params_json TEXT NOT NULL,"
         "  requested_by TEXT NOT NULL, requested_at BIGINT NOT NULL, decided_by TEXT,"
         "  decided_at BIGINT, reason TEXT, runner TEXT, claimed_at BIGINT, heartbeat BIGINT,"
         "  cancel_requested INTEGER NOT NULL DEFAULT 0, ended_at BIGINT, report_json TEXT,"
         "  certificate_json TEXT, model_sha256 TEXT, UNIQUE (config_id, run_number));"
         "CREATE UNIQUE INDEX run_one_active ON run(config_id)"
         "  WHERE status IN ('Run Requested','In Progress');"
         "CREATE INDEX run_queue ON run(status, runner, decided_at);"
         "CREATE TABLE run_log (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
         "  run_id TEXT NOT NULL REFERENCES run(id), logged_at BIGINT NOT NULL,"
         "  line TEXT NOT NULL);"
         "CREATE INDEX run_log_run ON run_log(run_id, seq);"
         "CREATE TABLE notification (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
         "  project_id TEXT NOT NULL REFERENCES project(id), org_id TEXT NOT NULL REFERENCES org(id),"
         "  kind TEXT NOT NULL, message TEXT NOT NULL, run_id TEXT, created_at BIGINT NOT NULL);"
         "CREATE TABLE notification_read (notification_id BIGINT NOT NULL"
         "  REFERENCES notification(id) ON DELETE CASCADE, user_id TEXT NOT NULL,"
         "  PRIMARY KEY (notification_id, user_id));"
         "CREATE TABLE chat_message (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
         "  project_id TEXT NOT NULL REFERENCES project(id), user_id TEXT NOT NULL,"
         "  email TEXT NOT NULL, role TEXT NOT NULL, message TEXT NOT NULL,"
         "  created_at BIGINT NOT NULL);"
         "CREATE TABLE chat_read (project_id TEXT NOT NULL, user_id TEXT NOT NULL,"
         "  last_seq BIGINT NOT NULL, PRIMARY KEY (project_id, user_id));"},
    /* 2: attested key release: one single-use nonce per role, the run's enclave token (hash) */
    {.sql = "ALTER TABLE run ADD COLUMN attest_nonce_ao TEXT;"
            "ALTER TABLE run ADD COLUMN attest_nonce_ds TEXT;"
            "ALTER TABLE run ADD COLUMN enclave_token_sha256 TEXT;"},
};

const srv_db_module srv_store_runs_module = {"runs", STEPS, sizeof STEPS / sizeof STEPS[0]};

int64_t runs_now(void) { return (int64_t)time(NULL); }

/* ---- a small result table over srv_db_query ------------------------------------------------ */

typedef struct fill_arg {
  rq *q;
  int ncol;
  unsigned blobs;
  int oom;
} fill_arg;

static int fill(void *arg, const srv_db_row *row) {
  fill_arg *a = arg;
  rq *q = a->q;
  rq_cell *c = realloc(q->c, (q->nrow + 1) * (size_t)a->ncol * sizeof *c);
  if (!c) {
    a->oom = 1;
    return SRV_STOREERR;
  }
  q->c = c;
  rq_cell *r = c + q->nrow * (size_t)a->ncol;
  memset(r, 0, (size_t)a->ncol * sizeof *r);
  q->nrow++;
  for (int i = 0; i < a->ncol; i++) {
    r[i].null = srv_db_row_isnull(row, i);
    if (r[i].null) continue;
    if (a->blobs & (1u << i)) {
      size_t len = 0;
      const void *b = srv_db_row_blob(row, i, &len);
      r[i].s = malloc(len + 1);
      if (!r[i].s) return a->oom = 1, SRV_STOREERR;
      if (len) memcpy(r[i].s, b, len);
      r[i].s[len] = 0;
      r[i].len = len;
    } else {
      r[i].i = srv_db_row_int(row, i);
      const char *t = srv_db_row_text(row, i);
      r[i].s = strdup(t ? t : "");
      if (!r[i].s) return a->oom = 1, SRV_STOREERR;
      r[i].len = strlen(r[i].s);
    }
  }
  return 0;
}

int rq_run(srv_db *db, const char *sql, const srv_db_param *p, size_t np, int ncol,
           unsigned blobs, rq *out) {
  memset(out, 0, sizeof *out);
  out->ncol = (size_t)ncol;
  srv_dbc *c = srv_db_get(db);
  if (!c) return SRV_STOREERR;
  fill_arg a = {out, ncol, blobs, 0};
  int rc = srv_db_query(c, sql, p, np, fill, &a);
  srv_db_put(c);
  if (rc) {
    rq_free(out);
    return SRV_STOREERR;
  }
  return 0;
}

void rq_free(rq *q) {
  for (size_t i = 0; q->c && i < q->nrow * q->ncol; i++) free(q->c[i].s);
  free(q->c);
  memset(q, 0, sizeof *q);
}

const char *rq_s(const rq *q, size_t row, int col) {
  const rq_cell *c = &q->c[row * q->ncol + (size_t)col];
  return c->null ? NULL : c->s;
}

int64_t rq_i(const rq *q, size_t row, int col) { return q->c[row * q->ncol + (size_t)col].i; }

char *rq_dup(const rq *q, size_t row, int col) {
  const char *s = rq_s(q, row, col);
  return s ? strdup(s) : NULL;
}

int rx(srv_db *db, const char *sql, const srv_db_param *p, size_t np, int64_t *changes) {
  srv_dbc *c = srv_db_get(db);
  if (!c) return SRV_STOREERR;
  int rc = srv_db_exec(c, sql, p, np, changes);
  srv_db_put(c);
  return rc;
}

/* ---- shared operations ----------------------------------------------------------------------- */

int runs_db_log(srv_db *db, const char *run_id, const char *line) {
  srv_db_param p[] = {SRV_DB_TEXT(run_id), SRV_DB_INT(runs_now()), SRV_DB_TEXT(line)};
  /* seq is global (identity): a runner and a request appending to one run never collide */
  return rx(db, "INSERT INTO run_log(run_id, logged_at, line) VALUES ($1, $2, $3)", p, 3, NULL);
}

int runs_db_notify(srv_db *db, const char *project_id, const char *org_id, const char *kind,
                   const char *message, const char *run_id) {
  srv_db_param p[] = {SRV_DB_TEXT(project_id), SRV_DB_TEXT(org_id), SRV_DB_TEXT(kind),
                      SRV_DB_TEXT(message), SRV_DB_TEXT(run_id), SRV_DB_INT(runs_now())};
  return rx(db, "INSERT INTO notification(project_id, org_id, kind, message, run_id, created_at) "
                "VALUES ($1, $2, $3, $4, $5, $6)", p, 6, NULL);
}

int runs_db_claim(srv_db *db, const char *runner, char **run_id) {
  *run_id = NULL;
  if (srv_db_begin(db)) return SRV_STOREERR;
  srv_dbc *c = srv_db_get(db);
  if (!c) {
    srv_db_rollback(db);
    return SRV_STOREERR;
  }
  char sql[256];
  snprintf(sql, sizeof sql, "SELECT id FROM run WHERE status = 'In Progress' AND runner IS NULL "
                            "ORDER BY decided_at, id LIMIT 1%s", srv_db_skip_locked(c));
  srv_db_put(c);
  rq q;
  int rc = rq_run(db, sql, NULL, 0, 1, 0, &q);
  if (rc || q.nrow == 0) {
    rq_free(&q);
    srv_db_rollback(db);
    return rc ? rc : SRV_NOTFOUND;
  }
  char *id = rq_dup(&q, 0, 0);
  rq_free(&q);
  int64_t n = 0;
  srv_db_param p[] = {SRV_DB_TEXT(runner), SRV_DB_INT(runs_now()), SRV_DB_TEXT(id)};
  rc = id ? rx(db, "UPDATE run SET runner = $1, claimed_at = $2, heartbeat = $2 WHERE id = $3 "
                   "AND runner IS NULL AND status = 'In Progress'", p, 3, &n)
          : SRV_STOREERR;
  if (rc || n != 1 || srv_db_commit(db)) {
    if (srv_db_in_transaction(db)) srv_db_rollback(db);
    free(id);
    return rc ? rc : SRV_NOTFOUND;
  }
  *run_id = id;
  return 0;
}

int runs_db_recover(srv_db *db, const char *runner, int64_t stale_s) {
  if (srv_db_begin(db)) return -1;
  srv_db_param p[] = {SRV_DB_TEXT(runner), SRV_DB_INT(runs_now() - stale_s)};
  rq q;
  if (rq_run(db, "SELECT id, runner FROM run WHERE status = 'In Progress' AND runner IS NOT "
                 "NULL AND (runner = $1 OR heartbeat < $2)", p, 2, 2, 0, &q)) {
    srv_db_rollback(db);
    return -1;
  }
  int bad = 0;
  for (size_t i = 0; i < q.nrow && !bad; i++) {
    const char *id = rq_s(&q, i, 0), *who = rq_s(&q, i, 1);
    const char *why = who && strcmp(who, runner) == 0
                          ? "the runner restarted while the run was in progress; nothing it "
                            "produced was kept: request the run again"
                          : "the runner stopped reporting (no heartbeat); nothing it produced "
                            "was kept: request the run again";
    srv_db_param u[] = {SRV_DB_TEXT(why), SRV_DB_INT(runs_now()), SRV_DB_TEXT(id)};
    char line[512];
    snprintf(line, sizeof line,
             "{\"source\":\"platform\",\"stage\":\"Run\",\"message\":\"Run Failed: %s\","
             "\"simulated_tee\":true}", why);
    if (rx(db, "UPDATE run SET status = 'Failed', reason = $1, ended_at = $2 WHERE id = $3", u,
           3, NULL) ||
        runs_db_log(db, id, line))
      bad = 1;
  }
  int n = (int)q.nrow;
  rq_free(&q);
  if (bad) {
    srv_db_rollback(db);
    return -1;
  }
  if (srv_db_commit(db)) return -1;
  return n;
}
