/* escrowd: the store's operations on the database layer, for SQLite and PostgreSQL alike
 * (see store.h, db.h). */
#include "store.h"
#include "store_accounts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the core module's schema ---------------------------------------------------------- */

/* Each entry moves the schema one version up; never edit one that has shipped. Version 1 is
 * written per dialect: PostgreSQL has no BLOB, AUTOINCREMENT, NOCASE or rowid, and "user" is
 * reserved there (the SQLite text is the one that shipped; SQLite accepts the quoted name for
 * the same table). PostgreSQL's artifact_version has an identity column named rowid so the
 * same ORDER BY gives insertion order on both. */
static const srv_db_migration CORE[] = {
    /* 1 */
    {.sqlite =
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
     .pg =
         "CREATE TABLE org (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
         "  created_at BIGINT NOT NULL);"
         "CREATE TABLE \"user\" (id TEXT PRIMARY KEY, org_id TEXT NOT NULL REFERENCES org(id),"
         "  email TEXT NOT NULL, public_key_pem TEXT, password_hash TEXT,"
         "  is_operator INTEGER NOT NULL DEFAULT 0, created_at BIGINT NOT NULL);"
         "CREATE UNIQUE INDEX user_email_ci ON \"user\"(lower(email));"
         "CREATE TABLE project (id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL,"
         "  tee TEXT NOT NULL, training INTEGER NOT NULL, state TEXT NOT NULL,"
         "  created_at BIGINT NOT NULL);"
         "CREATE TABLE project_org (project_id TEXT NOT NULL REFERENCES project(id),"
         "  org_id TEXT NOT NULL REFERENCES org(id), role TEXT NOT NULL CHECK (role IN ('ao','ds')),"
         "  PRIMARY KEY (project_id, org_id));"
         "CREATE UNIQUE INDEX project_one_ao ON project_org(project_id) WHERE role = 'ao';"
         "CREATE TABLE project_user (project_id TEXT NOT NULL REFERENCES project(id),"
         "  user_id TEXT NOT NULL REFERENCES \"user\"(id), PRIMARY KEY (project_id, user_id));"
         "CREATE TABLE kek (project_id TEXT NOT NULL REFERENCES project(id),"
         "  org_id TEXT NOT NULL REFERENCES org(id), role TEXT NOT NULL, public_pem TEXT NOT NULL,"
         "  file_name TEXT NOT NULL, sealed_private BYTEA NOT NULL, PRIMARY KEY (project_id, org_id));"
         "CREATE TABLE artifact_version (id TEXT PRIMARY KEY,"
         "  rowid BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,"
         "  project_id TEXT NOT NULL REFERENCES project(id), kind TEXT NOT NULL,"
         "  org_id TEXT NOT NULL REFERENCES org(id), name TEXT NOT NULL, description TEXT NOT NULL,"
         "  version_tag TEXT NOT NULL, version_description TEXT NOT NULL,"
         "  system_version BIGINT NOT NULL, sha256 TEXT, file_name TEXT, meta_json TEXT NOT NULL,"
         "  created_by TEXT NOT NULL, created_at BIGINT NOT NULL,"
         "  UNIQUE (project_id, kind, org_id, version_tag));"
         "CREATE TABLE audit (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
         "  at BIGINT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, project_id TEXT,"
         "  object TEXT, before_sha256 TEXT, after_sha256 TEXT);"},
    /* 2: a data steward's acceptance of a validation criteria version */
    {.sql = "CREATE TABLE criteria_acceptance (artifact_id TEXT NOT NULL"
            "  REFERENCES artifact_version(id) ON DELETE CASCADE,"
            "  org_id TEXT NOT NULL REFERENCES org(id), user_id TEXT NOT NULL"
            "  REFERENCES \"user\"(id), at BIGINT NOT NULL, PRIMARY KEY (artifact_id, org_id));"},
    /* 3: secrets a version carries (a dataset's SAS URL), sealed by the vault */
    {.sqlite = "ALTER TABLE artifact_version ADD COLUMN sealed_secret BLOB;",
     .pg = "ALTER TABLE artifact_version ADD COLUMN sealed_secret BYTEA;"},
    /* 4: the lookups every request makes: the user by e-mail (case-insensitive on both, so
     * lower(email) is indexed on SQLite too), a project's versions by kind and party */
    {.sqlite = "CREATE INDEX user_email_lower ON \"user\"(lower(email));"
               "CREATE INDEX artifact_version_list ON artifact_version(project_id, kind, org_id);",
     .pg = "CREATE INDEX artifact_version_list ON artifact_version(project_id, kind, org_id);"},
};

const srv_db_module srv_store_core_module = {"core", CORE, sizeof CORE / sizeof CORE[0]};

int srv_store_schema_version(void) { return (int)srv_store_core_module.nsteps; }

/* Every module's tables, in the order they are created (a module may refer to the tables of
 * the modules before it). Add a module's line at the end. */
extern const srv_db_module srv_store_runs_module; /* store_runs.c */
static const srv_db_module *const MODULES[] = {
    &srv_store_core_module,
    &srv_store_accounts_module,
    &srv_store_runs_module,
};

/* ---- helpers --------------------------------------------------------------------------- */

#define NP(p) (sizeof(p) / sizeof((p)[0]))

static int64_t now_s(void) { return (int64_t)time(NULL); }

/* Run a statement without rows on the thread's connection. */
static int exec_p(srv_store *s, const char *sql, const srv_db_param *p, size_t n) {
  srv_dbc *c = srv_db_get(s->db);
  if (!c) return SRV_STOREERR;
  int rc = srv_db_exec(c, sql, p, n, NULL);
  srv_db_put(c);
  return rc;
}

static int one_p(srv_store *s, const char *sql, const srv_db_param *p, size_t n,
                 int (*fn)(void *, const srv_db_row *), void *arg) {
  srv_dbc *c = srv_db_get(s->db);
  if (!c) return SRV_STOREERR;
  int rc = srv_db_query_one(c, sql, p, n, fn, arg);
  srv_db_put(c);
  return rc;
}

/* Copy text column col into *dst; SRV_STOREERR when it is NULL or memory runs out and
 * required is set. */
static int take(const srv_db_row *r, int col, char **dst, int required) {
  *dst = srv_db_row_strdup(r, col);
  if (!*dst && (required || !srv_db_row_isnull(r, col))) return SRV_STOREERR;
  return 0;
}

static int st_begin(srv_store *s) { return srv_db_begin(s->db); }
static int st_commit(srv_store *s) { return srv_db_commit(s->db); }
static void st_rollback(srv_store *s) { srv_db_rollback(s->db); }
static void st_close(srv_store *s) {
  if (!s) return;
  srv_db_close(s->db);
  free(s);
}

/* ---- organisations and users ---------------------------------------------------------- */

static int st_org_create(srv_store *s, const char *id, const char *name) {
  srv_db_param p[] = {SRV_DB_TEXT(id), SRV_DB_TEXT(name), SRV_DB_INT(now_s())};
  return exec_p(s, "INSERT INTO org(id, name, created_at) VALUES ($1, $2, $3)", p, NP(p));
}

static int row_first_text(void *arg, const srv_db_row *r) { return take(r, 0, arg, 1); }

static int st_org_find(srv_store *s, const char *name, char **id_out) {
  *id_out = NULL;
  srv_db_param p[] = {SRV_DB_TEXT(name)};
  return one_p(s, "SELECT id FROM org WHERE name = $1 OR id = $1", p, NP(p), row_first_text,
               id_out);
}

static int st_user_create(srv_store *s, const srv_user *u) {
  srv_db_param p[] = {SRV_DB_TEXT(u->id),    SRV_DB_TEXT(u->org_id),
                      SRV_DB_TEXT(u->email), SRV_DB_TEXT(u->public_key_pem),
                      SRV_DB_INT(u->is_operator), SRV_DB_INT(now_s())};
  return exec_p(s, "INSERT INTO \"user\"(id, org_id, email, public_key_pem, is_operator,"
                   " created_at) VALUES ($1, $2, $3, $4, $5, $6)", p, NP(p));
}

static int row_user(void *arg, const srv_db_row *r) {
  srv_user *u = arg;
  u->is_operator = (int)srv_db_row_int(r, 4);
  return take(r, 0, &u->id, 1) || take(r, 1, &u->org_id, 1) || take(r, 2, &u->email, 1) ||
                 take(r, 3, &u->public_key_pem, 0)
             ? SRV_STOREERR
             : 0;
}

static int st_user_find_email(srv_store *s, const char *email, srv_user *out) {
  memset(out, 0, sizeof *out);
  srv_db_param p[] = {SRV_DB_TEXT(email)};
  int rc = one_p(s, "SELECT id, org_id, email, public_key_pem, is_operator FROM \"user\""
                    " WHERE lower(email) = lower($1)", p, NP(p), row_user, out);
  if (rc) srv_user_clear(out);
  return rc;
}

typedef struct caller_arg {
  srv_user *u;
  srv_project *p;
  srv_member *m;
  int *in_project;
} caller_arg;

static int row_caller(void *arg, const srv_db_row *r) {
  caller_arg *a = arg;
  a->u->is_operator = (int)srv_db_row_int(r, 4);
  if (take(r, 0, &a->u->id, 1) || take(r, 1, &a->u->org_id, 1) || take(r, 2, &a->u->email, 1) ||
      take(r, 3, &a->u->public_key_pem, 0))
    return SRV_STOREERR;
  if (srv_db_row_isnull(r, 5)) return 0; /* not a member (or no such project) */
  const char *role = srv_db_row_text(r, 13);
  if (!role || strlen(role) != 2) return SRV_STOREERR;
  memcpy(a->m->role, role, 3);
  a->p->training = (int)srv_db_row_int(r, 9);
  a->p->created_at = srv_db_row_int(r, 11);
  if (take(r, 5, &a->p->id, 1) || take(r, 6, &a->p->name, 1) ||
      take(r, 7, &a->p->description, 1) || take(r, 8, &a->p->tee, 1) ||
      take(r, 10, &a->p->state, 1) || take(r, 12, &a->m->org_id, 1))
    return SRV_STOREERR;
  *a->in_project = 1;
  return 0;
}

int srv_store_caller_get(srv_store *s, const char *email, const char *project_id, srv_user *u,
                         srv_project *p, srv_member *m, int *in_project) {
  memset(u, 0, sizeof *u);
  memset(p, 0, sizeof *p);
  memset(m, 0, sizeof *m);
  *in_project = 0;
  srv_db_param q[] = {SRV_DB_TEXT(email), SRV_DB_TEXT(project_id)};
  caller_arg a = {u, p, m, in_project};
  /* the membership rule of member_get: the user is in project_user and the user's
   * organisation is a party of the project */
  int rc = one_p(s, "SELECT u.id, u.org_id, u.email, u.public_key_pem, u.is_operator,"
                    " pr.id, pr.name, pr.description, pr.tee, pr.training, pr.state,"
                    " pr.created_at, po.org_id, po.role"
                    " FROM \"user\" u"
                    " LEFT JOIN project_user pu ON pu.project_id = $2 AND pu.user_id = u.id"
                    " LEFT JOIN project_org po ON po.project_id = pu.project_id"
                    "  AND po.org_id = u.org_id"
                    " LEFT JOIN project pr ON pr.id = po.project_id"
                    " WHERE lower(u.email) = lower($1)", q, NP(q), row_caller, &a);
  if (rc || !*in_project) {
    srv_project_clear(p);
    srv_member_clear(m);
    *in_project = 0;
  }
  if (rc) srv_user_clear(u);
  return rc;
}

/* ---- projects ------------------------------------------------------------------------- */

static int st_project_create(srv_store *s, const srv_project *pr) {
  srv_db_param p[] = {SRV_DB_TEXT(pr->id),  SRV_DB_TEXT(pr->name),
                      SRV_DB_TEXT(pr->description ? pr->description : ""),
                      SRV_DB_TEXT(pr->tee), SRV_DB_INT(pr->training),
                      SRV_DB_TEXT(pr->state), SRV_DB_INT(now_s())};
  return exec_p(s, "INSERT INTO project(id, name, description, tee, training, state, created_at)"
                   " VALUES ($1, $2, $3, $4, $5, $6, $7)", p, NP(p));
}

static int row_project(void *arg, const srv_db_row *r) {
  srv_project *o = arg;
  o->training = (int)srv_db_row_int(r, 4);
  o->created_at = srv_db_row_int(r, 6);
  return take(r, 0, &o->id, 1) || take(r, 1, &o->name, 1) || take(r, 2, &o->description, 1) ||
                 take(r, 3, &o->tee, 1) || take(r, 5, &o->state, 1)
             ? SRV_STOREERR
             : 0;
}

static int st_project_get(srv_store *s, const char *id, srv_project *out) {
  memset(out, 0, sizeof *out);
  srv_db_param p[] = {SRV_DB_TEXT(id)};
  int rc = one_p(s, "SELECT id, name, description, tee, training, state, created_at"
                    " FROM project WHERE id = $1", p, NP(p), row_project, out);
  if (rc) srv_project_clear(out);
  return rc;
}

static int st_project_add_org(srv_store *s, const char *pid, const char *oid, const char *role) {
  srv_db_param p[] = {SRV_DB_TEXT(pid), SRV_DB_TEXT(oid), SRV_DB_TEXT(role)};
  return exec_p(s, "INSERT INTO project_org(project_id, org_id, role) VALUES ($1, $2, $3)", p,
                NP(p));
}

static int st_project_add_user(srv_store *s, const char *pid, const char *uid) {
  srv_db_param p[] = {SRV_DB_TEXT(pid), SRV_DB_TEXT(uid)};
  return exec_p(s, "INSERT INTO project_user(project_id, user_id) VALUES ($1, $2)", p, NP(p));
}

static int row_member(void *arg, const srv_db_row *r) {
  srv_member *m = arg;
  const char *role = srv_db_row_text(r, 1);
  if (!role || strlen(role) != 2) return SRV_STOREERR;
  memcpy(m->role, role, 3);
  return take(r, 0, &m->org_id, 1);
}

static int st_member_get(srv_store *s, const char *pid, const char *uid, srv_member *out) {
  memset(out, 0, sizeof *out);
  srv_db_param p[] = {SRV_DB_TEXT(pid), SRV_DB_TEXT(uid)};
  int rc = one_p(s, "SELECT po.org_id, po.role" SRV_SQL_PARTY_OF("$2", "$1"), p, NP(p),
                 row_member, out);
  if (rc) srv_member_clear(out);
  return rc;
}

/* ---- keys ----------------------------------------------------------------------------- */

static int st_kek_put(srv_store *s, const char *pid, const char *oid, const char *role,
                      const srv_kek *k) {
  srv_db_param p[] = {SRV_DB_TEXT(pid),           SRV_DB_TEXT(oid),
                      SRV_DB_TEXT(role),          SRV_DB_TEXT(k->public_pem),
                      SRV_DB_TEXT(k->file_name),  SRV_DB_BLOB(k->sealed, k->sealed_len)};
  return exec_p(s, "INSERT INTO kek(project_id, org_id, role, public_pem, file_name,"
                   " sealed_private) VALUES ($1, $2, $3, $4, $5, $6)", p, NP(p));
}

static int row_kek(void *arg, const srv_db_row *r) {
  srv_kek *k = arg;
  size_t n = 0;
  const void *b = srv_db_row_blob(r, 2, &n);
  if (!b || !n || !(k->sealed = malloc(n))) return SRV_STOREERR;
  memcpy(k->sealed, b, n);
  k->sealed_len = n;
  return take(r, 0, &k->public_pem, 1) || take(r, 1, &k->file_name, 1) ? SRV_STOREERR : 0;
}

static int st_kek_get(srv_store *s, const char *pid, const char *oid, srv_kek *out) {
  memset(out, 0, sizeof *out);
  srv_db_param p[] = {SRV_DB_TEXT(pid), SRV_DB_TEXT(oid)};
  int rc = one_p(s, "SELECT public_pem, file_name, sealed_private FROM kek"
                    " WHERE project_id = $1 AND org_id = $2", p, NP(p), row_kek, out);
  if (rc) srv_kek_clear(out);
  return rc;
}

/* ---- artifact versions ------------------------------------------------------------------ */

static int row_int(void *arg, const srv_db_row *r) {
  *(int64_t *)arg = srv_db_row_int(r, 0);
  return 0;
}

int srv_store_project_state_locked(srv_store *s, const char *project_id, char **state) {
  *state = NULL;
  srv_dbc *c = srv_db_get(s->db);
  if (!c) return SRV_STOREERR;
  srv_db_param p[] = {SRV_DB_TEXT(project_id)};
  int rc = srv_db_query_one(c,
                            srv_dbc_dialect(c) == SRV_DB_POSTGRES
                                ? "SELECT state FROM project WHERE id = $1 FOR UPDATE"
                                : "SELECT state FROM project WHERE id = $1",
                            p, NP(p), row_first_text, state);
  srv_db_put(c);
  return rc;
}

static int st_artifact_insert(srv_store *s, srv_artifact *a) {
  srv_dbc *c = srv_db_get(s->db);
  if (!c) return SRV_STOREERR;
  int rc = 0;
  /* PostgreSQL: two uploads of the same artifact must not both read the same highest
   * version; the project row's lock orders them (SQLite's IMMEDIATE transaction does) */
  if (srv_dbc_dialect(c) == SRV_DB_POSTGRES && srv_db_in_transaction(s->db)) {
    srv_db_param lp[] = {SRV_DB_TEXT(a->project_id)};
    rc = srv_db_query(c, "SELECT id FROM project WHERE id = $1 FOR UPDATE", lp, NP(lp), NULL,
                      NULL);
  }
  srv_db_param q[] = {SRV_DB_TEXT(a->project_id), SRV_DB_TEXT(a->kind), SRV_DB_TEXT(a->org_id),
                      SRV_DB_TEXT(a->name)};
  if (!rc)
    rc = srv_db_query_one(c, "SELECT COALESCE(MAX(system_version), 0) + 1 FROM artifact_version"
                             " WHERE project_id = $1 AND kind = $2 AND org_id = $3 AND name = $4",
                          q, NP(q), row_int, &a->system_version);
  a->created_at = now_s();
  srv_db_param p[] = {SRV_DB_TEXT(a->id),
                      SRV_DB_TEXT(a->project_id),
                      SRV_DB_TEXT(a->kind),
                      SRV_DB_TEXT(a->org_id),
                      SRV_DB_TEXT(a->name),
                      SRV_DB_TEXT(a->description ? a->description : ""),
                      SRV_DB_TEXT(a->version_tag),
                      SRV_DB_TEXT(a->version_description ? a->version_description : ""),
                      SRV_DB_INT(a->system_version),
                      SRV_DB_TEXT(a->sha256),
                      SRV_DB_TEXT(a->file_name),
                      SRV_DB_TEXT(a->meta_json ? a->meta_json : "{}"),
                      SRV_DB_TEXT(a->created_by),
                      SRV_DB_INT(a->created_at),
                      SRV_DB_BLOB(a->sealed_secret, a->sealed_secret_len)};
  if (!rc)
    rc = srv_db_exec(c, "INSERT INTO artifact_version(id, project_id, kind, org_id, name,"
                        " description, version_tag, version_description, system_version, sha256,"
                        " file_name, meta_json, created_by, created_at, sealed_secret)"
                        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,"
                        " $15)", p, NP(p), NULL);
  srv_db_put(c);
  return rc;
}

#define ART_COLS                                                                             \
  "SELECT id, project_id, kind, org_id, name, description, version_tag, version_description," \
  " system_version, sha256, file_name, meta_json, created_by, created_at FROM artifact_version "

static int read_artifact(const srv_db_row *r, srv_artifact *o) {
  char **f[] = {&o->id,   &o->project_id,  &o->kind,        &o->org_id,
                &o->name, &o->description, &o->version_tag, &o->version_description};
  int rc = 0;
  for (int i = 0; i < 8; i++)
    if (take(r, i, f[i], 1)) rc = SRV_STOREERR;
  o->system_version = srv_db_row_int(r, 8);
  o->created_at = srv_db_row_int(r, 13);
  if (take(r, 9, &o->sha256, 0) || take(r, 10, &o->file_name, 0) ||
      take(r, 11, &o->meta_json, 1) || take(r, 12, &o->created_by, 1))
    rc = SRV_STOREERR;
  return rc;
}

static int row_artifact(void *arg, const srv_db_row *r) { return read_artifact(r, arg); }

static int st_artifact_find_tag(srv_store *s, const char *pid, const char *kind, const char *oid,
                                const char *tag, srv_artifact *out) {
  memset(out, 0, sizeof *out);
  srv_db_param p[] = {SRV_DB_TEXT(pid), SRV_DB_TEXT(kind), SRV_DB_TEXT(oid), SRV_DB_TEXT(tag)};
  int rc = one_p(s, ART_COLS "WHERE project_id = $1 AND kind = $2"
                             " AND (CAST($3 AS TEXT) IS NULL OR org_id = $3) AND version_tag = $4"
                             " ORDER BY created_at, rowid LIMIT 1", p, NP(p), row_artifact, out);
  if (rc) srv_artifact_clear(out);
  return rc;
}

static int st_artifact_latest(srv_store *s, const char *pid, const char *kind, const char *oid,
                              srv_artifact *out) {
  memset(out, 0, sizeof *out);
  srv_db_param p[] = {SRV_DB_TEXT(pid), SRV_DB_TEXT(kind), SRV_DB_TEXT(oid)};
  int rc = one_p(s, ART_COLS "WHERE project_id = $1 AND kind = $2 AND org_id = $3"
                             " ORDER BY created_at DESC, rowid DESC LIMIT 1", p, NP(p),
                 row_artifact, out);
  if (rc) srv_artifact_clear(out);
  return rc;
}

typedef struct each_arg {
  int (*fn)(void *arg, const srv_artifact *a);
  void *arg;
} each_arg;

static int row_each(void *arg, const srv_db_row *r) {
  each_arg *e = arg;
  srv_artifact a = {0};
  int rc = read_artifact(r, &a);
  if (!rc) rc = e->fn(e->arg, &a);
  srv_artifact_clear(&a);
  return rc;
}

static int st_artifact_each_visible(srv_store *s, const char *pid, const char *oid, int is_ao,
                                    const char *kind,
                                    int (*fn)(void *arg, const srv_artifact *a), void *arg) {
  srv_db_param p[] = {SRV_DB_TEXT(pid), SRV_DB_TEXT(oid), SRV_DB_TEXT(kind),
                      SRV_DB_INT(is_ao ? 1 : 0)};
  each_arg e = {fn, arg};
  srv_dbc *c = srv_db_get(s->db);
  if (!c) return SRV_STOREERR;
  int rc = srv_db_query(
      c, ART_COLS "WHERE project_id = $1 AND (CAST($3 AS TEXT) IS NULL OR kind = $3) AND (org_id = $2 OR"
                  " org_id = (SELECT org_id FROM project_org WHERE project_id = $1 AND"
                  " role = 'ao') OR ($4 = 1 AND kind <> 'wcek'))"
                  " ORDER BY created_at, rowid",
      p, NP(p), row_each, &e);
  srv_db_put(c);
  return rc;
}

static int st_artifact_prune(srv_store *s, const char *pid, const char *kind, const char *oid,
                             const char *keep) {
  srv_db_param p[] = {SRV_DB_TEXT(pid), SRV_DB_TEXT(kind), SRV_DB_TEXT(oid), SRV_DB_TEXT(keep)};
  return exec_p(s, "DELETE FROM artifact_version WHERE project_id = $1 AND kind = $2"
                   " AND org_id = $3 AND id <> $4", p, NP(p));
}

static int st_acceptance_add(srv_store *s, const char *aid, const char *oid, const char *uid,
                             int64_t *at) {
  *at = now_s();
  srv_db_param p[] = {SRV_DB_TEXT(aid), SRV_DB_TEXT(oid), SRV_DB_TEXT(uid), SRV_DB_INT(*at)};
  return exec_p(s, "INSERT INTO criteria_acceptance(artifact_id, org_id, user_id, at)"
                   " VALUES ($1, $2, $3, $4)", p, NP(p));
}

static int st_acceptance_has(srv_store *s, const char *aid, const char *oid) {
  srv_db_param p[] = {SRV_DB_TEXT(aid), SRV_DB_TEXT(oid)};
  return one_p(s, "SELECT 1 FROM criteria_acceptance WHERE artifact_id = $1 AND org_id = $2", p,
               NP(p), NULL, NULL);
}

static int st_audit_append(srv_store *s, const char *actor, const char *action, const char *pid,
                           const char *object, const char *before, const char *after) {
  srv_db_param p[] = {SRV_DB_INT(now_s()),  SRV_DB_TEXT(actor),  SRV_DB_TEXT(action),
                      SRV_DB_TEXT(pid),     SRV_DB_TEXT(object), SRV_DB_TEXT(before),
                      SRV_DB_TEXT(after)};
  return exec_p(s, "INSERT INTO audit(at, actor, action, project_id, object, before_sha256,"
                   " after_sha256) VALUES ($1, $2, $3, $4, $5, $6, $7)", p, NP(p));
}

/* ---- open ------------------------------------------------------------------------------ */

srv_store *srv_store_open(const char *target, unsigned pool_size, char *err, size_t errsz) {
  srv_store *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, errsz, "out of memory");
    return NULL;
  }
  if (!(s->db = srv_db_open(target, MODULES, NP(MODULES), pool_size, err, errsz))) {
    free(s);
    return NULL;
  }
  s->begin = st_begin;
  s->commit = st_commit;
  s->rollback = st_rollback;
  s->close = st_close;
  s->org_create = st_org_create;
  s->org_find = st_org_find;
  s->user_create = st_user_create;
  s->user_find_email = st_user_find_email;
  s->project_create = st_project_create;
  s->project_get = st_project_get;
  s->project_add_org = st_project_add_org;
  s->project_add_user = st_project_add_user;
  s->member_get = st_member_get;
  s->kek_put = st_kek_put;
  s->kek_get = st_kek_get;
  s->artifact_insert = st_artifact_insert;
  s->artifact_find_tag = st_artifact_find_tag;
  s->artifact_latest = st_artifact_latest;
  s->artifact_prune = st_artifact_prune;
  s->audit_append = st_audit_append;
  s->acceptance_add = st_acceptance_add;
  s->artifact_each_visible = st_artifact_each_visible;
  s->acceptance_has = st_acceptance_has;
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
