/* escrowd: the SQLite store (WAL, versioned migrations). See store.h. */
#include "store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct sq {
  sqlite3 *db;
} sq;

#define DB(s) (((sq *)(s)->impl)->db)

/* Each entry moves the schema one version up; never edit one that has shipped. */
static const char *const MIGRATIONS[] = {
    /* 1 */
    "CREATE TABLE org (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE user (id TEXT PRIMARY KEY, org_id TEXT NOT NULL REFERENCES org(id),"
    "  email TEXT NOT NULL UNIQUE COLLATE NOCASE, public_key_pem TEXT, password_hash TEXT,"
    "  is_operator INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);"
    "CREATE TABLE project (id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL,"
    "  tee TEXT NOT NULL, training INTEGER NOT NULL, state TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE project_org (project_id TEXT NOT NULL REFERENCES project(id),"
    "  org_id TEXT NOT NULL REFERENCES org(id), role TEXT NOT NULL CHECK (role IN ('ao','ds')),"
    "  PRIMARY KEY (project_id, org_id));"
    "CREATE UNIQUE INDEX project_one_ao ON project_org(project_id) WHERE role = 'ao';"
    "CREATE TABLE project_user (project_id TEXT NOT NULL REFERENCES project(id),"
    "  user_id TEXT NOT NULL REFERENCES user(id), PRIMARY KEY (project_id, user_id));"
    "CREATE TABLE kek (project_id TEXT NOT NULL REFERENCES project(id),"
    "  org_id TEXT NOT NULL REFERENCES org(id), role TEXT NOT NULL, public_pem TEXT NOT NULL,"
    "  file_name TEXT NOT NULL, sealed_private BLOB NOT NULL, PRIMARY KEY (project_id, org_id));"
    "CREATE TABLE artifact_version (id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL REFERENCES project(id), kind TEXT NOT NULL,"
    "  org_id TEXT NOT NULL REFERENCES org(id), name TEXT NOT NULL, description TEXT NOT NULL,"
    "  version_tag TEXT NOT NULL, version_description TEXT NOT NULL,"
    "  system_version INTEGER NOT NULL, sha256 TEXT, file_name TEXT, meta_json TEXT NOT NULL,"
    "  created_by TEXT NOT NULL, created_at INTEGER NOT NULL,"
    "  UNIQUE (project_id, kind, org_id, version_tag));"
    "CREATE TABLE audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL,"
    "  actor TEXT NOT NULL, action TEXT NOT NULL, project_id TEXT, object TEXT,"
    "  before_sha256 TEXT, after_sha256 TEXT);",
    /* 2: a data steward's acceptance of a validation criteria version */
    "CREATE TABLE criteria_acceptance (artifact_id TEXT NOT NULL"
    "  REFERENCES artifact_version(id) ON DELETE CASCADE,"
    "  org_id TEXT NOT NULL REFERENCES org(id), user_id TEXT NOT NULL REFERENCES user(id),"
    "  at INTEGER NOT NULL, PRIMARY KEY (artifact_id, org_id));",
    /* 3: secrets a version carries (a dataset's SAS URL), sealed by the vault */
    "ALTER TABLE artifact_version ADD COLUMN sealed_secret BLOB;",
};
#define NMIGRATIONS (sizeof MIGRATIONS / sizeof MIGRATIONS[0])

int srv_store_schema_version(void) { return (int)NMIGRATIONS; }

static int exec(sqlite3 *db, const char *sql) {
  return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : SRV_STOREERR;
}

static int map_rc(int rc) {
  if (rc == SQLITE_DONE || rc == SQLITE_OK || rc == SQLITE_ROW) return 0;
  if ((rc & 0xff) == SQLITE_CONSTRAINT) return SRV_CONFLICT;
  return SRV_STOREERR;
}

static sqlite3_stmt *prep(srv_store *s, const char *sql) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(DB(s), sql, -1, &st, NULL) != SQLITE_OK) return NULL;
  return st;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v) {
  if (v)
    sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null(st, i);
}

static char *col_text(sqlite3_stmt *st, int i) {
  const unsigned char *t = sqlite3_column_text(st, i);
  return t ? strdup((const char *)t) : NULL;
}

/* Run a statement with no result rows. */
static int run(sqlite3_stmt *st) {
  if (!st) return SRV_STOREERR;
  int rc = map_rc(sqlite3_step(st));
  sqlite3_finalize(st);
  return rc;
}

static int64_t now_s(void) { return (int64_t)time(NULL); }

static int sq_begin(srv_store *s) { return exec(DB(s), "BEGIN IMMEDIATE"); }
static int sq_commit(srv_store *s) { return exec(DB(s), "COMMIT"); }
static void sq_rollback(srv_store *s) { (void)exec(DB(s), "ROLLBACK"); }
static void sq_close(srv_store *s) {
  if (!s) return;
  sqlite3_close(DB(s));
  free(s->impl);
  free(s);
}

static int sq_org_create(srv_store *s, const char *id, const char *name) {
  sqlite3_stmt *st = prep(s, "INSERT INTO org(id,name,created_at) VALUES(?,?,?)");
  if (!st) return SRV_STOREERR;
  bind_text(st, 1, id);
  bind_text(st, 2, name);
  sqlite3_bind_int64(st, 3, now_s());
  return run(st);
}

static int sq_org_find(srv_store *s, const char *name, char **id_out) {
  sqlite3_stmt *st = prep(s, "SELECT id FROM org WHERE name = ? OR id = ?");
  if (!st) return SRV_STOREERR;
  bind_text(st, 1, name);
  bind_text(st, 2, name);
  int rc = sqlite3_step(st);
  int r = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? SRV_NOTFOUND : SRV_STOREERR;
  if (!r && !(*id_out = col_text(st, 0))) r = SRV_STOREERR;
  sqlite3_finalize(st);
  return r;
}

static int sq_user_create(srv_store *s, const srv_user *u) {
  sqlite3_stmt *st = prep(s, "INSERT INTO user(id,org_id,email,public_key_pem,is_operator,"
                             "created_at) VALUES(?,?,?,?,?,?)");
  if (!st) return SRV_STOREERR;
  bind_text(st, 1, u->id);
  bind_text(st, 2, u->org_id);
  bind_text(st, 3, u->email);
  bind_text(st, 4, u->public_key_pem);
  sqlite3_bind_int(st, 5, u->is_operator);
  sqlite3_bind_int64(st, 6, now_s());
  return run(st);
}

static int sq_user_find_email(srv_store *s, const char *email, srv_user *out) {
  memset(out, 0, sizeof *out);
  sqlite3_stmt *st =
      prep(s, "SELECT id,org_id,email,public_key_pem,is_operator FROM user WHERE email = ?");
  if (!st) return SRV_STOREERR;
  bind_text(st, 1, email);
  int rc = sqlite3_step(st);
  int r = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? SRV_NOTFOUND : SRV_STOREERR;
  if (!r) {
    out->id = col_text(st, 0);
    out->org_id = col_text(st, 1);
    out->email = col_text(st, 2);
    out->public_key_pem = col_text(st, 3);
    out->is_operator = sqlite3_column_int(st, 4);
    if (!out->id || !out->org_id || !out->email) r = SRV_STOREERR;
  }
  sqlite3_finalize(st);
  if (r) srv_user_clear(out);
  return r;
}

static int sq_project_create(srv_store *s, const srv_project *p) {
  sqlite3_stmt *st = prep(s, "INSERT INTO project(id,name,description,tee,training,state,"
                             "created_at) VALUES(?,?,?,?,?,?,?)");
  if (!st) return SRV_STOREERR;
  bind_text(st, 1, p->id);
  bind_text(st, 2, p->name);
  bind_text(st, 3, p->description ? p->description : "");
  bind_text(st, 4, p->tee);
  sqlite3_bind_int(st, 5, p->training);
  bind_text(st, 6, p->state);
  sqlite3_bind_int64(st, 7, now_s());
  return run(st);
}

static int sq_project_get(srv_store *s, const char *id, srv_project *out) {
  memset(out, 0, sizeof *out);
  sqlite3_stmt *st = prep(s, "SELECT id,name,description,tee,training,state,created_at "
                             "FROM project WHERE id = ?");
  if (!st) return SRV_STOREERR;
  bind_text(st, 1, id);
  int rc = sqlite3_step(st);
  int r = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? SRV_NOTFOUND : SRV_STOREERR;
  if (!r) {
    out->id = col_text(st, 0);
    out->name = col_text(st, 1);
    out->description = col_text(st, 2);
    out->tee = col_text(st, 3);
    out->training = sqlite3_column_int(st, 4);
    out->state = col_text(st, 5);
    out->created_at = sqlite3_column_int64(st, 6);
    if (!out->id || !out->name || !out->description || !out->tee || !out->state)
      r = SRV_STOREERR;
  }
  sqlite3_finalize(st);
  if (r) srv_project_clear(out);
  return r;
}

static int sq_project_add_org(srv_store *s, const char *pid, const char *oid, const char *role) {
  sqlite3_stmt *st = prep(s, "INSERT INTO project_org(project_id,org_id,role) VALUES(?,?,?)");
  if (!st) return SRV_STOREERR;
  bind_text(st, 1, pid);
  bind_text(st, 2, oid);
  bind_text(st, 3, role);
  return run(st);
}

static int sq_project_add_user(srv_store *s, const char *pid, const char *uid) {
  sqlite3_stmt *st = prep(s, "INSERT INTO project_user(project_id,user_id) VALUES(?,?)");
  if (!st) return SRV_STOREERR;
  bind_text(st, 1, pid);
  bind_text(st, 2, uid);
  return run(st);
}

static int sq_member_get(srv_store *s, const char *pid, const char *uid, srv_member *out) {
  memset(out, 0, sizeof *out);
  sqlite3_stmt *st = prep(s, "SELECT po.org_id, po.role FROM project_user pu"
                             " JOIN user u ON u.id = pu.user_id"
                             " JOIN project_org po ON po.project_id = pu.project_id"
                             "  AND po.org_id = u.org_id"
                             " WHERE pu.project_id = ? AND pu.user_id = ?");
  if (!st) return SRV_STOREERR;
  bind_text(st, 1, pid);
  bind_text(st, 2, uid);
  int rc = sqlite3_step(st);
  int r = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? SRV_NOTFOUND : SRV_STOREERR;
  if (!r) {
    out->org_id = col_text(st, 0);
    const unsigned char *role = sqlite3_column_text(st, 1);
    if (!out->org_id || !role || strlen((const char *)role) != 2)
      r = SRV_STOREERR;
    else
      memcpy(out->role, role, 3);
  }
  sqlite3_finalize(st);
  if (r) srv_member_clear(out);
  return r;
}

static int sq_kek_put(srv_store *s, const char *pid, const char *oid, const char *role,
                      const srv_kek *k) {
  sqlite3_stmt *st = prep(s, "INSERT INTO kek(project_id,org_id,role,public_pem,file_name,"
                             "sealed_private) VALUES(?,?,?,?,?,?)");
  if (!st) return SRV_STOREERR;
  bind_text(st, 1, pid);
  bind_text(st, 2, oid);
  bind_text(st, 3, role);
  bind_text(st, 4, k->public_pem);
  bind_text(st, 5, k->file_name);
  sqlite3_bind_blob(st, 6, k->sealed, (int)k->sealed_len, SQLITE_TRANSIENT);
  return run(st);
}

static int sq_kek_get(srv_store *s, const char *pid, const char *oid, srv_kek *out) {
  memset(out, 0, sizeof *out);
  sqlite3_stmt *st = prep(s, "SELECT public_pem, file_name, sealed_private FROM kek"
                             " WHERE project_id = ? AND org_id = ?");
  if (!st) return SRV_STOREERR;
  bind_text(st, 1, pid);
  bind_text(st, 2, oid);
  int rc = sqlite3_step(st);
  int r = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? SRV_NOTFOUND : SRV_STOREERR;
  if (!r) {
    out->public_pem = col_text(st, 0);
    out->file_name = col_text(st, 1);
    int n = sqlite3_column_bytes(st, 2);
    const void *b = sqlite3_column_blob(st, 2);
    out->sealed = n > 0 ? malloc((size_t)n) : NULL;
    if (out->sealed) {
      memcpy(out->sealed, b, (size_t)n);
      out->sealed_len = (size_t)n;
    }
    if (!out->public_pem || !out->file_name || !out->sealed) r = SRV_STOREERR;
  }
  sqlite3_finalize(st);
  if (r) srv_kek_clear(out);
  return r;
}

static int sq_artifact_insert(srv_store *s, srv_artifact *a) {
  sqlite3_stmt *st = prep(s, "SELECT COALESCE(MAX(system_version),0)+1 FROM artifact_version"
                             " WHERE project_id = ? AND kind = ? AND org_id = ? AND name = ?");
  if (!st) return SRV_STOREERR;
  bind_text(st, 1, a->project_id);
  bind_text(st, 2, a->kind);
  bind_text(st, 3, a->org_id);
  bind_text(st, 4, a->name);
  if (sqlite3_step(st) != SQLITE_ROW) {
    sqlite3_finalize(st);
    return SRV_STOREERR;
  }
  a->system_version = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  a->created_at = now_s();
  st = prep(s, "INSERT INTO artifact_version(id,project_id,kind,org_id,name,description,"
               "version_tag,version_description,system_version,sha256,file_name,meta_json,"
               "created_by,created_at,sealed_secret) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  if (!st) return SRV_STOREERR;
  bind_text(st, 1, a->id);
  bind_text(st, 2, a->project_id);
  bind_text(st, 3, a->kind);
  bind_text(st, 4, a->org_id);
  bind_text(st, 5, a->name);
  bind_text(st, 6, a->description ? a->description : "");
  bind_text(st, 7, a->version_tag);
  bind_text(st, 8, a->version_description ? a->version_description : "");
  sqlite3_bind_int64(st, 9, a->system_version);
  bind_text(st, 10, a->sha256);
  bind_text(st, 11, a->file_name);
  bind_text(st, 12, a->meta_json ? a->meta_json : "{}");
  bind_text(st, 13, a->created_by);
  sqlite3_bind_int64(st, 14, a->created_at);
  if (a->sealed_secret)
    sqlite3_bind_blob(st, 15, a->sealed_secret, (int)a->sealed_secret_len, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null(st, 15);
  return run(st);
}

static const char ART_COLS[] =
    "SELECT id,project_id,kind,org_id,name,description,version_tag,version_description,"
    "system_version,sha256,file_name,meta_json,created_by,created_at FROM artifact_version ";

static int read_artifact(sqlite3_stmt *st, srv_artifact *out) {
  int rc = sqlite3_step(st);
  int r = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? SRV_NOTFOUND : SRV_STOREERR;
  if (!r) {
    char **f[] = {&out->id,          &out->project_id, &out->kind,        &out->org_id,
                  &out->name,        &out->description, &out->version_tag,
                  &out->version_description};
    for (int i = 0; i < 8; i++)
      if (!(*f[i] = col_text(st, i))) r = SRV_STOREERR;
    out->system_version = sqlite3_column_int64(st, 8);
    out->sha256 = col_text(st, 9);
    out->file_name = col_text(st, 10);
    out->meta_json = col_text(st, 11);
    out->created_by = col_text(st, 12);
    out->created_at = sqlite3_column_int64(st, 13);
    if (!out->meta_json || !out->created_by) r = SRV_STOREERR;
  }
  sqlite3_finalize(st);
  if (r) srv_artifact_clear(out);
  return r;
}

static int sq_artifact_find_tag(srv_store *s, const char *pid, const char *kind, const char *oid,
                                const char *tag, srv_artifact *out) {
  memset(out, 0, sizeof *out);
  char sql[512];
  snprintf(sql, sizeof sql, "%sWHERE project_id = ? AND kind = ? AND (?3 IS NULL OR org_id = ?3)"
                            " AND version_tag = ?4 ORDER BY created_at, rowid LIMIT 1", ART_COLS);
  sqlite3_stmt *st = prep(s, sql);
  if (!st) return SRV_STOREERR;
  bind_text(st, 1, pid);
  bind_text(st, 2, kind);
  bind_text(st, 3, oid);
  bind_text(st, 4, tag);
  return read_artifact(st, out);
}

static int sq_artifact_latest(srv_store *s, const char *pid, const char *kind, const char *oid,
                              srv_artifact *out) {
  memset(out, 0, sizeof *out);
  char sql[512];
  snprintf(sql, sizeof sql, "%sWHERE project_id = ? AND kind = ? AND org_id = ?"
                            " ORDER BY created_at DESC, rowid DESC LIMIT 1", ART_COLS);
  sqlite3_stmt *st = prep(s, sql);
  if (!st) return SRV_STOREERR;
  bind_text(st, 1, pid);
  bind_text(st, 2, kind);
  bind_text(st, 3, oid);
  return read_artifact(st, out);
}

static int sq_artifact_each_visible(srv_store *s, const char *pid, const char *oid, int is_ao,
                                    const char *kind,
                                    int (*fn)(void *arg, const srv_artifact *a), void *arg) {
  char sql[768];
  snprintf(sql, sizeof sql,
           "%sWHERE project_id = ?1 AND (?3 IS NULL OR kind = ?3) AND (org_id = ?2 OR org_id ="
           " (SELECT org_id FROM project_org WHERE project_id = ?1 AND role = 'ao')"
           " OR (?4 = 1 AND kind <> 'wcek'))"
           " ORDER BY created_at, rowid",
           ART_COLS);
  sqlite3_stmt *st = prep(s, sql);
  if (!st) return SRV_STOREERR;
  bind_text(st, 1, pid);
  bind_text(st, 2, oid);
  bind_text(st, 3, kind);
  sqlite3_bind_int(st, 4, is_ao ? 1 : 0);
  int rc, r = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    srv_artifact a = {0};
    char **f[] = {&a.id,   &a.project_id,  &a.kind,        &a.org_id,
                  &a.name, &a.description, &a.version_tag, &a.version_description};
    int bad = 0;
    for (int i = 0; i < 8; i++)
      if (!(*f[i] = col_text(st, i))) bad = 1;
    a.system_version = sqlite3_column_int64(st, 8);
    a.sha256 = col_text(st, 9);
    a.file_name = col_text(st, 10);
    a.meta_json = col_text(st, 11);
    a.created_by = col_text(st, 12);
    a.created_at = sqlite3_column_int64(st, 13);
    if (bad || !a.meta_json || !a.created_by)
      r = SRV_STOREERR;
    else
      r = fn(arg, &a);
    srv_artifact_clear(&a);
    if (r) break;
  }
  if (!r && rc != SQLITE_DONE) r = SRV_STOREERR;
  sqlite3_finalize(st);
  return r;
}

static int sq_artifact_prune(srv_store *s, const char *pid, const char *kind, const char *oid,
                             const char *keep) {
  sqlite3_stmt *st = prep(s, "DELETE FROM artifact_version WHERE project_id = ? AND kind = ?"
                             " AND org_id = ? AND id <> ?");
  if (!st) return SRV_STOREERR;
  bind_text(st, 1, pid);
  bind_text(st, 2, kind);
  bind_text(st, 3, oid);
  bind_text(st, 4, keep);
  return run(st);
}

static int sq_acceptance_add(srv_store *s, const char *aid, const char *oid, const char *uid,
                             int64_t *at) {
  sqlite3_stmt *st = prep(s, "INSERT INTO criteria_acceptance(artifact_id,org_id,user_id,at)"
                             " VALUES(?,?,?,?)");
  if (!st) return SRV_STOREERR;
  *at = now_s();
  bind_text(st, 1, aid);
  bind_text(st, 2, oid);
  bind_text(st, 3, uid);
  sqlite3_bind_int64(st, 4, *at);
  return run(st);
}

static int sq_acceptance_has(srv_store *s, const char *aid, const char *oid) {
  sqlite3_stmt *st =
      prep(s, "SELECT 1 FROM criteria_acceptance WHERE artifact_id = ? AND org_id = ?");
  if (!st) return SRV_STOREERR;
  bind_text(st, 1, aid);
  bind_text(st, 2, oid);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? SRV_NOTFOUND : SRV_STOREERR;
}

static int sq_audit_append(srv_store *s, const char *actor, const char *action, const char *pid,
                           const char *object, const char *before, const char *after) {
  sqlite3_stmt *st = prep(s, "INSERT INTO audit(at,actor,action,project_id,object,"
                             "before_sha256,after_sha256) VALUES(?,?,?,?,?,?,?)");
  if (!st) return SRV_STOREERR;
  sqlite3_bind_int64(st, 1, now_s());
  bind_text(st, 2, actor);
  bind_text(st, 3, action);
  bind_text(st, 4, pid);
  bind_text(st, 5, object);
  bind_text(st, 6, before);
  bind_text(st, 7, after);
  return run(st);
}

static int migrate(sqlite3 *db, char *err, size_t errsz) {
  if (exec(db, "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
               " applied_at INTEGER NOT NULL)"))
    goto fail;
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(version),0) FROM schema_migrations", -1, &st,
                         NULL) != SQLITE_OK)
    goto fail;
  int have = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
  sqlite3_finalize(st);
  if (have < 0) goto fail;
  if (have > (int)NMIGRATIONS) {
    snprintf(err, errsz, "the database schema (version %d) is newer than this escrowd (%d)",
             have, (int)NMIGRATIONS);
    return -1;
  }
  for (int v = have + 1; v <= (int)NMIGRATIONS; v++) {
    char sql[128];
    if (exec(db, "BEGIN IMMEDIATE")) goto fail;
    snprintf(sql, sizeof sql, "INSERT INTO schema_migrations VALUES(%d, %lld)", v,
             (long long)now_s());
    if (exec(db, MIGRATIONS[v - 1]) || exec(db, sql) || exec(db, "COMMIT")) {
      exec(db, "ROLLBACK");
      goto fail;
    }
  }
  return 0;
fail:
  snprintf(err, errsz, "database migration failed: %s", sqlite3_errmsg(db));
  return -1;
}

srv_store *srv_store_sqlite_open(const char *path, char *err, size_t errsz) {
  sqlite3 *db = NULL;
  if (sqlite3_open_v2(path, &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      NULL) != SQLITE_OK) {
    snprintf(err, errsz, "cannot open the database: %s", db ? sqlite3_errmsg(db) : "no memory");
    sqlite3_close(db);
    return NULL;
  }
  sqlite3_busy_timeout(db, 10000);
  if (exec(db, "PRAGMA journal_mode=WAL") || exec(db, "PRAGMA synchronous=FULL") ||
      exec(db, "PRAGMA foreign_keys=ON")) {
    snprintf(err, errsz, "cannot configure the database: %s", sqlite3_errmsg(db));
    sqlite3_close(db);
    return NULL;
  }
  if (migrate(db, err, errsz)) {
    sqlite3_close(db);
    return NULL;
  }
  srv_store *s = calloc(1, sizeof *s);
  sq *q = calloc(1, sizeof *q);
  if (!s || !q) {
    free(s);
    free(q);
    sqlite3_close(db);
    snprintf(err, errsz, "out of memory");
    return NULL;
  }
  q->db = db;
  s->impl = q;
  s->begin = sq_begin;
  s->commit = sq_commit;
  s->rollback = sq_rollback;
  s->close = sq_close;
  s->org_create = sq_org_create;
  s->org_find = sq_org_find;
  s->user_create = sq_user_create;
  s->user_find_email = sq_user_find_email;
  s->project_create = sq_project_create;
  s->project_get = sq_project_get;
  s->project_add_org = sq_project_add_org;
  s->project_add_user = sq_project_add_user;
  s->member_get = sq_member_get;
  s->kek_put = sq_kek_put;
  s->kek_get = sq_kek_get;
  s->artifact_insert = sq_artifact_insert;
  s->artifact_find_tag = sq_artifact_find_tag;
  s->artifact_latest = sq_artifact_latest;
  s->artifact_prune = sq_artifact_prune;
  s->audit_append = sq_audit_append;
  s->acceptance_add = sq_acceptance_add;
  s->artifact_each_visible = sq_artifact_each_visible;
  s->acceptance_has = sq_acceptance_has;
  return s;
}

void srv_user_clear(srv_user *u) {
  free(u->id);
  free(u->org_id);
  free(u->email);
  free(u->public_key_pem);
  memset(u, 0, sizeof *u);
}
void srv_project_clear(srv_project *p) {
  free(p->id);
  free(p->name);
  free(p->description);
  free(p->tee);
  free(p->state);
  memset(p, 0, sizeof *p);
}
void srv_member_clear(srv_member *m) {
  free(m->org_id);
  memset(m, 0, sizeof *m);
}
void srv_kek_clear(srv_kek *k) {
  free(k->public_pem);
  free(k->file_name);
  free(k->sealed);
  memset(k, 0, sizeof *k);
}
void srv_artifact_clear(srv_artifact *a) {
  char **f[] = {&a->id,   &a->project_id,  &a->kind,        &a->org_id,
                &a->name, &a->description, &a->version_tag, &a->version_description,
                &a->sha256, &a->file_name, &a->meta_json,   &a->created_by};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) free(*f[i]);
  memset(a, 0, sizeof *a);
}
