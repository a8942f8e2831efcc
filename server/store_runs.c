/* escrowd: the run tables in SQLite (see runs_int.h). Their migrations are numbered on their
 * own (runs_schema_migrations) so this module can grow without touching the core schema. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runs_int.h"
#include "store.h"

static const char *const RUN_MIGRATIONS[] = {
    /* 1 */
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
    "  certificate_json TEXT, model_sha256 TEXT, first_api_ms REAL,"
    "  UNIQUE (config_id, run_number));"
    "CREATE UNIQUE INDEX run_one_active ON run(config_id)"
    "  WHERE status IN ('Run Requested','In Progress');"
    "CREATE INDEX run_queue ON run(status, runner, decided_at);"
    "CREATE TABLE run_log (run_id TEXT NOT NULL REFERENCES run(id), seq INTEGER NOT NULL,"
    "  at INTEGER NOT NULL, line TEXT NOT NULL, PRIMARY KEY (run_id, seq));"
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
};
#define NRUNMIG (sizeof RUN_MIGRATIONS / sizeof RUN_MIGRATIONS[0])

int64_t runs_now(void) { return (int64_t)time(NULL); }

int runs_db_exec(sqlite3 *db, const char *sql) {
  return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : SRV_STOREERR;
}

sqlite3_stmt *runs_db_prep(sqlite3 *db, const char *sql) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return NULL;
  return st;
}

void runs_db_bind(sqlite3_stmt *st, int n, const char *const *t) {
  for (int i = 0; i < n; i++) {
    if (t[i])
      sqlite3_bind_text(st, i + 1, t[i], -1, SQLITE_TRANSIENT);
    else
      sqlite3_bind_null(st, i + 1);
  }
}

char *runs_db_col(sqlite3_stmt *st, int i) {
  const unsigned char *t = sqlite3_column_text(st, i);
  return t ? strdup((const char *)t) : NULL;
}

int runs_db_begin(sqlite3 *db) { return runs_db_exec(db, "BEGIN IMMEDIATE"); }
int runs_db_commit(sqlite3 *db) { return runs_db_exec(db, "COMMIT"); }
void runs_db_rollback(sqlite3 *db) { (void)runs_db_exec(db, "ROLLBACK"); }

static int step_done(sqlite3_stmt *st) {
  if (!st) return SRV_STOREERR;
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc == SQLITE_DONE || rc == SQLITE_ROW) return 0;
  return (rc & 0xff) == SQLITE_CONSTRAINT ? SRV_CONFLICT : SRV_STOREERR;
}

sqlite3 *runs_db_open(const char *path, char *err, size_t errsz) {
  sqlite3 *db = NULL;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      NULL) != SQLITE_OK) {
    snprintf(err, errsz, "cannot open the database for runs: %s",
             db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return NULL;
  }
  sqlite3_busy_timeout(db, 10000);
  if (runs_db_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
                       "CREATE TABLE IF NOT EXISTS runs_schema_migrations (version INTEGER "
                       "PRIMARY KEY, applied_at INTEGER NOT NULL);")) {
    snprintf(err, errsz, "cannot prepare the run tables: %s", sqlite3_errmsg(db));
    sqlite3_close(db);
    return NULL;
  }
  for (size_t v = 1; v <= NRUNMIG; v++) {
    if (runs_db_begin(db)) {
      snprintf(err, errsz, "cannot migrate the run tables: %s", sqlite3_errmsg(db));
      sqlite3_close(db);
      return NULL;
    }
    sqlite3_stmt *st = runs_db_prep(db, "SELECT 1 FROM runs_schema_migrations WHERE version = ?");
    int have = 0;
    if (st) {
      sqlite3_bind_int64(st, 1, (sqlite3_int64)v);
      have = sqlite3_step(st) == SQLITE_ROW;
      sqlite3_finalize(st);
    }
    int rc = 0;
    if (!have) {
      rc = runs_db_exec(db, RUN_MIGRATIONS[v - 1]);
      sqlite3_stmt *ins = rc ? NULL
                             : runs_db_prep(db, "INSERT INTO runs_schema_migrations(version,"
                                                "applied_at) VALUES(?,?)");
      if (ins) {
        sqlite3_bind_int64(ins, 1, (sqlite3_int64)v);
        sqlite3_bind_int64(ins, 2, runs_now());
      }
      if (!rc) rc = step_done(ins);
    }
    if (!st || rc || runs_db_commit(db)) {
      snprintf(err, errsz, "run tables migration %zu failed: %s", v, sqlite3_errmsg(db));
      runs_db_rollback(db);
      sqlite3_close(db);
      return NULL;
    }
  }
  /* a database migrated by a newer binary is refused */
  sqlite3_stmt *st = runs_db_prep(db, "SELECT max(version) FROM runs_schema_migrations");
  sqlite3_int64 top = 0;
  if (st && sqlite3_step(st) == SQLITE_ROW) top = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  if (top > (sqlite3_int64)NRUNMIG) {
    snprintf(err, errsz, "the run tables are at version %lld, newer than this escrowd (%zu)",
             (long long)top, NRUNMIG);
    sqlite3_close(db);
    return NULL;
  }
  return db;
}

int runs_db_log(sqlite3 *db, const char *run_id, const char *line) {
  sqlite3_stmt *st = runs_db_prep(
      db, "INSERT INTO run_log(run_id,seq,at,line) VALUES(?1,"
          "(SELECT coalesce(max(seq),0)+1 FROM run_log WHERE run_id=?1),?2,?3)");
  if (!st) return SRV_STOREERR;
  sqlite3_bind_text(st, 1, run_id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 2, runs_now());
  sqlite3_bind_text(st, 3, line, -1, SQLITE_TRANSIENT);
  return step_done(st);
}

int runs_db_notify(sqlite3 *db, const char *project_id, const char *org_id, const char *kind,
                   const char *message, const char *run_id) {
  sqlite3_stmt *st = runs_db_prep(db, "INSERT INTO notification(project_id,org_id,kind,message,"
                                      "run_id,created_at) VALUES(?,?,?,?,?,?)");
  if (!st) return SRV_STOREERR;
  const char *t[] = {project_id, org_id, kind, message, run_id};
  runs_db_bind(st, 5, t);
  sqlite3_bind_int64(st, 6, runs_now());
  return step_done(st);
}

int runs_db_claim(sqlite3 *db, const char *runner, char **run_id) {
  *run_id = NULL;
  if (runs_db_begin(db)) return SRV_STOREERR;
  sqlite3_stmt *st = runs_db_prep(db, "SELECT id FROM run WHERE status = 'In Progress' AND "
                                      "runner IS NULL ORDER BY decided_at, id LIMIT 1");
  int rc = st ? sqlite3_step(st) : SQLITE_ERROR;
  char *id = rc == SQLITE_ROW ? runs_db_col(st, 0) : NULL;
  sqlite3_finalize(st);
  if (rc == SQLITE_DONE) {
    runs_db_rollback(db);
    return SRV_NOTFOUND;
  }
  if (!id) {
    runs_db_rollback(db);
    return SRV_STOREERR;
  }
  st = runs_db_prep(db, "UPDATE run SET runner = ?, claimed_at = ?, heartbeat = ? "
                        "WHERE id = ? AND runner IS NULL AND status = 'In Progress'");
  if (st) {
    sqlite3_bind_text(st, 1, runner, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, runs_now());
    sqlite3_bind_int64(st, 3, runs_now());
    sqlite3_bind_text(st, 4, id, -1, SQLITE_TRANSIENT);
  }
  int r = step_done(st);
  if (r || sqlite3_changes(db) != 1 || runs_db_commit(db)) {
    runs_db_rollback(db);
    free(id);
    return r ? r : SRV_NOTFOUND;
  }
  *run_id = id;
  return 0;
}

int runs_db_recover(sqlite3 *db, const char *runner, int64_t stale_s) {
  if (runs_db_begin(db)) return -1;
  sqlite3_stmt *st = runs_db_prep(
      db, "SELECT id, project_id, runner FROM run WHERE status = 'In Progress' AND runner IS NOT "
          "NULL AND (runner = ? OR heartbeat < ?)");
  if (!st) {
    runs_db_rollback(db);
    return -1;
  }
  sqlite3_bind_text(st, 1, runner, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 2, runs_now() - stale_s);
  int n = 0, bad = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    char *id = runs_db_col(st, 0);
    char *mine = runs_db_col(st, 2);
    const char *why = mine && strcmp(mine, runner) == 0
                          ? "the runner restarted while the run was in progress; nothing it "
                            "produced was kept: request the run again"
                          : "the runner stopped reporting (no heartbeat); nothing it produced "
                            "was kept: request the run again";
    sqlite3_stmt *u = runs_db_prep(db, "UPDATE run SET status = 'Failed', reason = ?, "
                                       "ended_at = ? WHERE id = ?");
    if (u && id) {
      sqlite3_bind_text(u, 1, why, -1, SQLITE_STATIC);
      sqlite3_bind_int64(u, 2, runs_now());
      sqlite3_bind_text(u, 3, id, -1, SQLITE_TRANSIENT);
    }
    char line[512];
    snprintf(line, sizeof line,
             "{\"source\":\"platform\",\"stage\":\"Run\",\"message\":\"Run Failed: %s\"}", why);
    if (!id || step_done(u) || runs_db_log(db, id, line)) bad = 1;
    free(id);
    free(mine);
    n++;
  }
  sqlite3_finalize(st);
  if (bad || runs_db_commit(db)) {
    runs_db_rollback(db);
    return -1;
  }
  return n;
}
