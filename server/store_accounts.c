/* escrowd: the rows of accounts.h on SQLite (the data folder's escrowd.db, its own
 * connection). Every value is bound, never spliced into SQL. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts.h"

struct acc_db {
  sqlite3 *db;
};

/* The accounts' own tables; each statement is idempotent. */
static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS web_session (token_sha256 TEXT PRIMARY KEY,"
    "  user_id TEXT NOT NULL REFERENCES user(id) ON DELETE CASCADE,"
    "  created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS web_session_expiry ON web_session(expires_at);";

acc_db *acc_db_open(const char *path, char *err, size_t errsz) {
  acc_db *a = calloc(1, sizeof *a);
  if (!a) {
    snprintf(err, errsz, "out of memory");
    return NULL;
  }
  if (sqlite3_open_v2(path, &a->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) !=
          SQLITE_OK ||
      sqlite3_busy_timeout(a->db, 10000) != SQLITE_OK ||
      sqlite3_exec(a->db, "PRAGMA foreign_keys=ON; PRAGMA synchronous=FULL;", NULL, NULL, NULL) !=
          SQLITE_OK ||
      sqlite3_exec(a->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK) {
    snprintf(err, errsz, "cannot open the accounts tables: %s",
             a->db ? sqlite3_errmsg(a->db) : "out of memory");
    sqlite3_close(a->db);
    free(a);
    return NULL;
  }
  return a;
}

void acc_db_close(acc_db *a) {
  if (!a) return;
  sqlite3_close(a->db);
  free(a);
}

/* Prepare sql and bind the n text parameters (NULL binds NULL). */
static sqlite3_stmt *q(acc_db *a, const char *sql, const char *const *p, int n) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(a->db, sql, -1, &st, NULL) != SQLITE_OK) return NULL;
  for (int i = 0; i < n; i++) {
    int rc = p[i] ? sqlite3_bind_text(st, i + 1, p[i], -1, SQLITE_TRANSIENT)
                  : sqlite3_bind_null(st, i + 1);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(st);
      return NULL;
    }
  }
  return st;
}

static int done(sqlite3_stmt *st, int rc) {
  sqlite3_finalize(st);
  if (rc == SQLITE_DONE || rc == SQLITE_ROW || rc == SQLITE_OK) return 0;
  if ((rc & 0xff) == SQLITE_CONSTRAINT) return SRV_CONFLICT;
  return SRV_STOREERR;
}

/* Run a write; SRV_NOTFOUND when it changed no row and must_change. */
static int exec_p(acc_db *a, const char *sql, const char *const *p, int n, int must_change) {
  sqlite3_stmt *st = q(a, sql, p, n);
  if (!st) return SRV_STOREERR;
  int r = done(st, sqlite3_step(st));
  if (!r && must_change && sqlite3_changes(a->db) == 0) r = SRV_NOTFOUND;
  return r;
}

static char *col(sqlite3_stmt *st, int i) {
  const unsigned char *t = sqlite3_column_text(st, i);
  return t ? strdup((const char *)t) : NULL;
}

#define USER_COLS "u.id,u.org_id,u.email,u.public_key_pem,u.is_operator"

static int read_user(sqlite3_stmt *st, int base, srv_user *u) {
  memset(u, 0, sizeof *u);
  u->id = col(st, base);
  u->org_id = col(st, base + 1);
  u->email = col(st, base + 2);
  u->public_key_pem = col(st, base + 3);
  u->is_operator = sqlite3_column_int(st, base + 4);
  if (!u->id || !u->org_id || !u->email) {
    srv_user_clear(u);
    return SRV_STOREERR;
  }
  return 0;
}

/* One user row from a query whose first columns are USER_COLS. */
static int one_user(sqlite3_stmt *st, srv_user *u, char **extra) {
  if (!st) return SRV_STOREERR;
  int rc = sqlite3_step(st);
  int r = rc == SQLITE_ROW ? read_user(st, 0, u) : rc == SQLITE_DONE ? SRV_NOTFOUND : SRV_STOREERR;
  if (!r && extra) *extra = col(st, 5);
  sqlite3_finalize(st);
  return r;
}

int acc_user_password(acc_db *a, const char *email, srv_user *u, char **hash) {
  const char *p[] = {email};
  *hash = NULL;
  return one_user(q(a, "SELECT " USER_COLS ",u.password_hash FROM user u WHERE u.email = ?", p, 1),
                  u, hash);
}

int acc_user_get(acc_db *a, const char *user_id, srv_user *u) {
  const char *p[] = {user_id};
  return one_user(q(a, "SELECT " USER_COLS " FROM user u WHERE u.id = ?", p, 1), u, NULL);
}

int acc_user_set_password(acc_db *a, const char *user_id, const char *hash) {
  const char *p[] = {hash, user_id};
  return exec_p(a, "UPDATE user SET password_hash = ? WHERE id = ?", p, 2, 1);
}

int acc_user_set_key(acc_db *a, const char *user_id, const char *pem) {
  const char *p[] = {pem, user_id};
  return exec_p(a, "UPDATE user SET public_key_pem = ? WHERE id = ?", p, 2, 1);
}

int acc_session_put(acc_db *a, const char *token_sha256, const char *user_id, int64_t now,
                    int64_t expires) {
  sqlite3_stmt *st = q(a, "DELETE FROM web_session WHERE expires_at <= ?", NULL, 0);
  if (!st) return SRV_STOREERR;
  sqlite3_bind_int64(st, 1, now);
  int r = done(st, sqlite3_step(st));
  if (r) return r;
  const char *p[] = {token_sha256, user_id};
  st = q(a, "INSERT INTO web_session(token_sha256,user_id,created_at,expires_at) VALUES(?,?,?,?)",
         p, 2);
  if (!st) return SRV_STOREERR;
  sqlite3_bind_int64(st, 3, now);
  sqlite3_bind_int64(st, 4, expires);
  return done(st, sqlite3_step(st));
}

int acc_session_user(acc_db *a, const char *token_sha256, int64_t now, srv_user *u) {
  const char *p[] = {token_sha256};
  sqlite3_stmt *st = q(a,
                       "SELECT " USER_COLS " FROM web_session s JOIN user u ON u.id = s.user_id"
                       " WHERE s.token_sha256 = ? AND s.expires_at > ?",
                       p, 1);
  if (st) sqlite3_bind_int64(st, 2, now);
  return one_user(st, u, NULL);
}

int acc_session_delete(acc_db *a, const char *token_sha256) {
  const char *p[] = {token_sha256};
  return exec_p(a, "DELETE FROM web_session WHERE token_sha256 = ?", p, 1, 1);
}

int acc_project_set_state(acc_db *a, const char *project_id, const char *state) {
  const char *p[] = {state, project_id};
  return exec_p(a, "UPDATE project SET state = ? WHERE id = ?", p, 2, 1);
}

/* Step st, calling row(st, fn, arg) per row; stops at a non-zero return. */
static int each(sqlite3_stmt *st, int (*row)(sqlite3_stmt *, void *, void *), void *fn,
                void *arg) {
  if (!st) return SRV_STOREERR;
  int rc, r = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    if ((r = row(st, fn, arg))) break;
  if (r) {
    sqlite3_finalize(st);
    return r;
  }
  return done(st, rc);
}

static int project_row(sqlite3_stmt *st, void *fn, void *arg) {
  srv_project p = {.id = col(st, 0), .name = col(st, 1), .description = col(st, 2),
                   .tee = col(st, 3), .state = col(st, 5)};
  p.training = sqlite3_column_int(st, 4);
  p.created_at = sqlite3_column_int64(st, 6);
  int r = p.id && p.name && p.description && p.tee && p.state ? ((acc_project_fn)fn)(arg, &p)
                                                               : SRV_STOREERR;
  srv_project_clear(&p);
  return r;
}

int acc_projects_each(acc_db *a, const char *user_id, acc_project_fn fn, void *arg) {
  const char *p[] = {user_id};
  sqlite3_stmt *st =
      user_id ? q(a,
                  "SELECT p.id,p.name,p.description,p.tee,p.training,p.state,p.created_at"
                  " FROM project p JOIN project_user pu ON pu.project_id = p.id"
                  " WHERE pu.user_id = ? ORDER BY p.created_at DESC, p.rowid DESC",
                  p, 1)
              : q(a,
                  "SELECT id,name,description,tee,training,state,created_at FROM project"
                  " ORDER BY created_at DESC, rowid DESC",
                  NULL, 0);
  return each(st, project_row, (void *)fn, arg);
}

static int party_row(sqlite3_stmt *st, void *fn, void *arg) {
  return ((acc_party_fn)fn)(arg, (const char *)sqlite3_column_text(st, 0),
                            (const char *)sqlite3_column_text(st, 1),
                            (const char *)sqlite3_column_text(st, 2));
}

int acc_parties_each(acc_db *a, const char *project_id, acc_party_fn fn, void *arg) {
  const char *p[] = {project_id};
  return each(q(a,
                "SELECT o.id,o.name,po.role FROM project_org po JOIN org o ON o.id = po.org_id"
                " WHERE po.project_id = ? ORDER BY po.role, o.name",
                p, 1),
              party_row, (void *)fn, arg);
}

static int user_row(sqlite3_stmt *st, void *fn, void *arg) {
  srv_user u;
  int r = read_user(st, 0, &u);
  if (r) return r;
  r = ((acc_user_fn)fn)(arg, &u);
  srv_user_clear(&u);
  return r;
}

int acc_users_each(acc_db *a, const char *project_id, acc_user_fn fn, void *arg) {
  const char *p[] = {project_id};
  sqlite3_stmt *st =
      project_id ? q(a,
                     "SELECT " USER_COLS " FROM user u JOIN project_user pu ON pu.user_id = u.id"
                     " WHERE pu.project_id = ? ORDER BY u.email",
                     p, 1)
                 : q(a, "SELECT " USER_COLS " FROM user u ORDER BY u.email", NULL, 0);
  return each(st, user_row, (void *)fn, arg);
}

static int org_row(sqlite3_stmt *st, void *fn, void *arg) {
  return ((acc_org_fn)fn)(arg, (const char *)sqlite3_column_text(st, 0),
                          (const char *)sqlite3_column_text(st, 1), sqlite3_column_int64(st, 2));
}

int acc_orgs_each(acc_db *a, acc_org_fn fn, void *arg) {
  return each(q(a, "SELECT id,name,created_at FROM org ORDER BY name", NULL, 0), org_row,
              (void *)fn, arg);
}

int acc_org_name(acc_db *a, const char *org_id, char **name) {
  const char *p[] = {org_id};
  sqlite3_stmt *st = q(a, "SELECT name FROM org WHERE id = ?", p, 1);
  if (!st) return SRV_STOREERR;
  int rc = sqlite3_step(st);
  int r = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? SRV_NOTFOUND : SRV_STOREERR;
  if (!r && !(*name = col(st, 0))) r = SRV_STOREERR;
  sqlite3_finalize(st);
  return r;
}

static int hit_row(sqlite3_stmt *st, void *fn, void *arg) {
  acc_hit h = {
      .project_id = (const char *)sqlite3_column_text(st, 0),
      .project_name = (const char *)sqlite3_column_text(st, 1),
      .kind = (const char *)sqlite3_column_text(st, 2),
      .org_id = (const char *)sqlite3_column_text(st, 3),
      .name = (const char *)sqlite3_column_text(st, 4),
      .description = (const char *)sqlite3_column_text(st, 5),
      .version_tag = (const char *)sqlite3_column_text(st, 6),
      .version_description = (const char *)sqlite3_column_text(st, 7),
      .system_version = sqlite3_column_int64(st, 8),
      .created_at = sqlite3_column_int64(st, 9),
  };
  return ((acc_hit_fn)fn)(arg, &h);
}

int acc_search(acc_db *a, const char *user_id, const char *text, size_t limit, acc_hit_fn fn,
               void *arg) {
  /* LIKE with \ as the escape: the user's %, _ and \ match themselves */
  size_t n = strlen(text);
  char *pat = malloc(2 * n + 3);
  if (!pat) return SRV_STOREERR;
  char *w = pat;
  *w++ = '%';
  for (size_t i = 0; i < n; i++) {
    if (text[i] == '%' || text[i] == '_' || text[i] == '\\') *w++ = '\\';
    *w++ = text[i];
  }
  *w++ = '%';
  *w = 0;
  const char *p[] = {user_id, pat};
  /* A project row (kind "project") and the artifact versions; the caller filters what a
   * party may see. WCEKs carry no searchable text of value but are listed like other kinds. */
  sqlite3_stmt *st = q(
      a,
      "WITH mine AS (SELECT p.id FROM project p WHERE ?1 IS NULL OR EXISTS"
      "   (SELECT 1 FROM project_user pu WHERE pu.project_id = p.id AND pu.user_id = ?1))"
      " SELECT p.id,p.name,'project',NULL,p.name,p.description,NULL,NULL,0,p.created_at"
      "  FROM project p WHERE p.id IN (SELECT id FROM mine)"
      "  AND (p.name LIKE ?2 ESCAPE '\\' OR p.description LIKE ?2 ESCAPE '\\')"
      " UNION ALL"
      " SELECT p.id,p.name,v.kind,v.org_id,v.name,v.description,v.version_tag,"
      "  v.version_description,v.system_version,v.created_at"
      "  FROM artifact_version v JOIN project p ON p.id = v.project_id"
      "  WHERE v.project_id IN (SELECT id FROM mine) AND (v.name LIKE ?2 ESCAPE '\\'"
      "   OR v.description LIKE ?2 ESCAPE '\\' OR v.version_tag LIKE ?2 ESCAPE '\\'"
      "   OR v.version_description LIKE ?2 ESCAPE '\\')"
      " ORDER BY 10 DESC LIMIT ?3",
      p, 2);
  free(pat);
  if (st) sqlite3_bind_int64(st, 3, (sqlite3_int64)limit);
  return each(st, hit_row, (void *)fn, arg);
}
