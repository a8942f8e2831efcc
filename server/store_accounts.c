/* escrowd: the accounts module's rows on the database layer (see store_accounts.h). Every
 * value is a bound parameter, never spliced into SQL. */
#include "store_accounts.h"

#include <stdlib.h>
#include <string.h>

#include "db.h"

/* Version 1: web sessions, by the SHA-256 of their token (the token itself is never stored). */
static const srv_db_migration STEPS[] = {
    {.sql = "CREATE TABLE web_session (token_sha256 TEXT PRIMARY KEY,"
            "  user_id TEXT NOT NULL REFERENCES \"user\"(id) ON DELETE CASCADE,"
            "  created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL);"
            "CREATE INDEX web_session_expiry ON web_session(expires_at);"},
};
const srv_db_module srv_store_accounts_module = {"accounts", STEPS,
                                                 sizeof STEPS / sizeof STEPS[0]};

#define NP(p) (sizeof(p) / sizeof((p)[0]))

static int exec_p(srv_store *s, const char *sql, const srv_db_param *p, size_t n,
                  int must_change) {
  srv_dbc *c = srv_db_get(s->db);
  if (!c) return SRV_STOREERR;
  int64_t changes = 0;
  int rc = srv_db_exec(c, sql, p, n, &changes);
  srv_db_put(c);
  if (!rc && must_change && changes == 0) rc = SRV_NOTFOUND;
  return rc;
}

static int query(srv_store *s, int one, const char *sql, const srv_db_param *p, size_t n,
                 int (*fn)(void *, const srv_db_row *), void *arg) {
  srv_dbc *c = srv_db_get(s->db);
  if (!c) return SRV_STOREERR;
  int rc = one ? srv_db_query_one(c, sql, p, n, fn, arg) : srv_db_query(c, sql, p, n, fn, arg);
  srv_db_put(c);
  return rc;
}

#define USER_COLS "u.id, u.org_id, u.email, u.public_key_pem, u.is_operator"

static int read_user(const srv_db_row *r, srv_user *u) {
  memset(u, 0, sizeof *u);
  u->id = srv_db_row_strdup(r, 0);
  u->org_id = srv_db_row_strdup(r, 1);
  u->email = srv_db_row_strdup(r, 2);
  u->public_key_pem = srv_db_row_strdup(r, 3);
  u->is_operator = (int)srv_db_row_int(r, 4);
  if (!u->id || !u->org_id || !u->email || (!u->public_key_pem && !srv_db_row_isnull(r, 3))) {
    srv_user_clear(u);
    return SRV_STOREERR;
  }
  return 0;
}

static int row_user(void *arg, const srv_db_row *r) { return read_user(r, arg); }

typedef struct user_hash {
  srv_user *u;
  char **hash;
} user_hash;

static int row_user_hash(void *arg, const srv_db_row *r) {
  user_hash *uh = arg;
  int rc = read_user(r, uh->u);
  if (rc) return rc;
  *uh->hash = srv_db_row_strdup(r, 5);
  if (!*uh->hash && !srv_db_row_isnull(r, 5)) {
    srv_user_clear(uh->u);
    return SRV_STOREERR;
  }
  return 0;
}

int acc_user_password(srv_store *s, const char *email, srv_user *u, char **hash) {
  *hash = NULL;
  memset(u, 0, sizeof *u);
  srv_db_param p[] = {SRV_DB_TEXT(email)};
  user_hash uh = {u, hash};
  return query(s, 1,
               "SELECT " USER_COLS ", u.password_hash FROM \"user\" u"
               " WHERE lower(u.email) = lower($1)",
               p, NP(p), row_user_hash, &uh);
}

int acc_user_set_password(srv_store *s, const char *user_id, const char *hash) {
  srv_db_param p[] = {SRV_DB_TEXT(hash), SRV_DB_TEXT(user_id)};
  int rc = exec_p(s, "UPDATE \"user\" SET password_hash = $1 WHERE id = $2", p, NP(p), 1);
  if (rc) return rc;
  /* a new password ends the sessions the old one opened */
  srv_db_param q[] = {SRV_DB_TEXT(user_id)};
  return exec_p(s, "DELETE FROM web_session WHERE user_id = $1", q, NP(q), 0);
}

int acc_user_set_key(srv_store *s, const char *user_id, const char *pem) {
  srv_db_param p[] = {SRV_DB_TEXT(pem), SRV_DB_TEXT(user_id)};
  return exec_p(s, "UPDATE \"user\" SET public_key_pem = $1 WHERE id = $2", p, NP(p), 1);
}

int acc_session_put(srv_store *s, const char *token_sha256, const char *user_id, int64_t now,
                    int64_t expires) {
  srv_db_param old[] = {SRV_DB_INT(now)};
  int rc = exec_p(s, "DELETE FROM web_session WHERE expires_at <= $1", old, NP(old), 0);
  if (rc) return rc;
  srv_db_param p[] = {SRV_DB_TEXT(token_sha256), SRV_DB_TEXT(user_id), SRV_DB_INT(now),
                      SRV_DB_INT(expires)};
  return exec_p(s,
                "INSERT INTO web_session(token_sha256, user_id, created_at, expires_at)"
                " VALUES ($1, $2, $3, $4)",
                p, NP(p), 0);
}

int acc_session_user(srv_store *s, const char *token_sha256, int64_t now, srv_user *u) {
  memset(u, 0, sizeof *u);
  srv_db_param p[] = {SRV_DB_TEXT(token_sha256), SRV_DB_INT(now)};
  return query(s, 1,
               "SELECT " USER_COLS " FROM web_session w JOIN \"user\" u ON u.id = w.user_id"
               " WHERE w.token_sha256 = $1 AND w.expires_at > $2",
               p, NP(p), row_user, u);
}

int acc_session_delete(srv_store *s, const char *token_sha256) {
  srv_db_param p[] = {SRV_DB_TEXT(token_sha256)};
  return exec_p(s, "DELETE FROM web_session WHERE token_sha256 = $1", p, NP(p), 1);
}

int acc_project_set_state(srv_store *s, const char *project_id, const char *from,
                          const char *state) {
  srv_db_param p[] = {SRV_DB_TEXT(state), SRV_DB_TEXT(project_id), SRV_DB_TEXT(from)};
  return exec_p(s, "UPDATE project SET state = $1 WHERE id = $2 AND state = $3", p, NP(p), 1);
}

typedef struct cb {
  void *fn, *arg;
} cb;

static int row_project(void *arg, const srv_db_row *r) {
  cb *k = arg;
  srv_project p = {.id = srv_db_row_strdup(r, 0), .name = srv_db_row_strdup(r, 1),
                   .description = srv_db_row_strdup(r, 2), .tee = srv_db_row_strdup(r, 3),
                   .state = srv_db_row_strdup(r, 5)};
  p.training = (int)srv_db_row_int(r, 4);
  p.created_at = srv_db_row_int(r, 6);
  int rc = p.id && p.name && p.description && p.tee && p.state
               ? ((acc_project_fn)k->fn)(k->arg, &p)
               : SRV_STOREERR;
  srv_project_clear(&p);
  return rc;
}

int acc_projects_each(srv_store *s, const char *user_id, acc_project_fn fn, void *arg) {
  cb k = {(void *)fn, arg};
  if (!user_id)
    return query(s, 0,
                 "SELECT id, name, description, tee, training, state, created_at FROM project"
                 " ORDER BY created_at DESC, id",
                 NULL, 0, row_project, &k);
  srv_db_param p[] = {SRV_DB_TEXT(user_id)};
  return query(s, 0,
               "SELECT p.id, p.name, p.description, p.tee, p.training, p.state, p.created_at"
               " FROM project p JOIN project_user pu ON pu.project_id = p.id"
               " WHERE pu.user_id = $1 ORDER BY p.created_at DESC, p.id",
               p, NP(p), row_project, &k);
}

static int row_party(void *arg, const srv_db_row *r) {
  cb *k = arg;
  return ((acc_party_fn)k->fn)(k->arg, srv_db_row_text(r, 0), srv_db_row_text(r, 1),
                               srv_db_row_text(r, 2));
}

int acc_parties_each(srv_store *s, const char *project_id, acc_party_fn fn, void *arg) {
  cb k = {(void *)fn, arg};
  srv_db_param p[] = {SRV_DB_TEXT(project_id)};
  return query(s, 0,
               "SELECT o.id, o.name, po.role FROM project_org po JOIN org o ON o.id = po.org_id"
               " WHERE po.project_id = $1 ORDER BY po.role, o.name",
               p, NP(p), row_party, &k);
}

static int row_each_user(void *arg, const srv_db_row *r) {
  cb *k = arg;
  srv_user u;
  int rc = read_user(r, &u);
  if (rc) return rc;
  rc = ((acc_user_fn)k->fn)(k->arg, &u);
  srv_user_clear(&u);
  return rc;
}

int acc_users_each(srv_store *s, const char *project_id, acc_user_fn fn, void *arg) {
  cb k = {(void *)fn, arg};
  if (!project_id)
    return query(s, 0, "SELECT " USER_COLS " FROM \"user\" u ORDER BY u.email", NULL, 0,
                 row_each_user, &k);
  srv_db_param p[] = {SRV_DB_TEXT(project_id)};
  return query(s, 0,
               "SELECT " USER_COLS " FROM \"user\" u JOIN project_user pu ON pu.user_id = u.id"
               " WHERE pu.project_id = $1 ORDER BY u.email",
               p, NP(p), row_each_user, &k);
}

typedef struct page_arg {
  acc_project_fn pfn;
  acc_party_fn ofn;
  acc_user_fn ufn;
  void *arg;
  int seen; /* the project's row came and is visible */
} page_arg;

static int row_page(void *arg, const srv_db_row *r) {
  page_arg *a = arg;
  int64_t tag = srv_db_row_int(r, 0);
  if (tag == 0) {
    if (!srv_db_row_int(r, 11)) return SRV_NOTFOUND; /* the viewer is not a member */
    srv_project p = {0};
    p.training = (int)srv_db_row_int(r, 9);
    p.created_at = srv_db_row_int(r, 10);
    p.id = srv_db_row_strdup(r, 4);
    p.name = srv_db_row_strdup(r, 5);
    p.description = srv_db_row_strdup(r, 6);
    p.tee = srv_db_row_strdup(r, 7);
    p.state = srv_db_row_strdup(r, 8);
    int rc = p.id && p.name && p.description && p.tee && p.state ? a->pfn(a->arg, &p)
                                                                  : SRV_STOREERR;
    srv_project_clear(&p);
    a->seen = 1;
    return rc;
  }
  if (!a->seen) return SRV_NOTFOUND; /* no project row sorts first: no such project */
  if (tag == 1)
    return a->ofn(a->arg, srv_db_row_text(r, 4), srv_db_row_text(r, 5), srv_db_row_text(r, 6));
  srv_user u = {0};
  u.id = srv_db_row_strdup(r, 4);
  u.org_id = srv_db_row_strdup(r, 5);
  u.email = srv_db_row_strdup(r, 6); /* the page shows no key: public_key_pem stays NULL */
  u.is_operator = (int)srv_db_row_int(r, 9);
  int rc = u.id && u.org_id && u.email ? a->ufn(a->arg, &u) : SRV_STOREERR;
  srv_user_clear(&u);
  return rc;
}

/* One statement instead of four (project, membership, parties, members): rows tagged 0, 1, 2
 * and sorted by tag, then by the order each list had on its own (k1, k2: a party's role and
 * organisation name; k3: a member's e-mail, compared as the column's collation compares it:
 * NOCASE on SQLite). Columns: tag, k1, k2, k3, t0..t4 (text), i0..i2 (integers). */
#define PAGE_SQL(k3_order)                                                                     \
  "SELECT 0, CAST(NULL AS TEXT), CAST(NULL AS TEXT), CAST(NULL AS TEXT), p.id, p.name,"       \
  " p.description, p.tee, p.state, CAST(p.training AS BIGINT), p.created_at,"                  \
  " CASE WHEN CAST($2 AS TEXT) IS NULL OR EXISTS (SELECT 1" SRV_SQL_PARTY_OF("$2", "$1")       \
  ") THEN 1 ELSE 0 END"                                                                        \
  " FROM project p WHERE p.id = $1"                                                            \
  " UNION ALL SELECT 1, po.role, o.name, NULL, o.id, o.name, po.role, NULL, NULL, NULL, NULL," \
  " NULL FROM project_org po JOIN org o ON o.id = po.org_id WHERE po.project_id = $1"          \
  " UNION ALL SELECT 2, NULL, NULL, u.email, u.id, u.org_id, u.email, NULL, NULL,"              \
  " CAST(u.is_operator AS BIGINT), NULL, NULL FROM \"user\" u"                                 \
  " JOIN project_user pu ON pu.user_id = u.id WHERE pu.project_id = $1"                        \
  " ORDER BY 1, 2, 3, 4" k3_order

int acc_project_page(srv_store *s, const char *project_id, const char *viewer_id,
                     acc_project_fn pfn, acc_party_fn ofn, acc_user_fn ufn, void *arg) {
  page_arg a = {pfn, ofn, ufn, arg, 0};
  srv_db_param p[] = {SRV_DB_TEXT(project_id), SRV_DB_TEXT(viewer_id)};
  srv_dbc *c = srv_db_get(s->db);
  if (!c) return SRV_STOREERR;
  int rc = srv_db_query(c,
                        srv_dbc_dialect(c) == SRV_DB_SQLITE ? PAGE_SQL(" COLLATE NOCASE")
                                                            : PAGE_SQL(""),
                        p, NP(p), row_page, &a);
  srv_db_put(c);
  return !rc && !a.seen ? SRV_NOTFOUND : rc;
}

static int row_org(void *arg, const srv_db_row *r) {
  cb *k = arg;
  return ((acc_org_fn)k->fn)(k->arg, srv_db_row_text(r, 0), srv_db_row_text(r, 1),
                             srv_db_row_int(r, 2));
}

int acc_orgs_each(srv_store *s, acc_org_fn fn, void *arg) {
  cb k = {(void *)fn, arg};
  return query(s, 0, "SELECT id, name, created_at FROM org ORDER BY name", NULL, 0, row_org, &k);
}

static int row_text0(void *arg, const srv_db_row *r) {
  char **out = arg;
  return (*out = srv_db_row_strdup(r, 0)) ? 0 : SRV_STOREERR;
}

int acc_org_name(srv_store *s, const char *org_id, char **name) {
  *name = NULL;
  srv_db_param p[] = {SRV_DB_TEXT(org_id)};
  return query(s, 1, "SELECT name FROM org WHERE id = $1", p, NP(p), row_text0, name);
}

static int row_hit(void *arg, const srv_db_row *r) {
  cb *k = arg;
  acc_hit h = {
      .project_id = srv_db_row_text(r, 0),
      .project_name = srv_db_row_text(r, 1),
      .kind = srv_db_row_text(r, 2),
      .org_id = srv_db_row_text(r, 3),
      .name = srv_db_row_text(r, 4),
      .description = srv_db_row_text(r, 5),
      .version_tag = srv_db_row_text(r, 6),
      .version_description = srv_db_row_text(r, 7),
      .system_version = srv_db_row_int(r, 8),
      .created_at = srv_db_row_int(r, 9),
  };
  if (!h.project_id || !h.kind) return SRV_STOREERR;
  return ((acc_hit_fn)k->fn)(k->arg, &h);
}

int acc_search(srv_store *s, const char *user_id, const char *text, size_t limit, acc_hit_fn fn,
               void *arg) {
  /* LIKE with \ as the escape: the user's %, _ and \ match themselves; lower() on both sides
   * makes it case-insensitive for ASCII on both backends */
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
  cb k = {(void *)fn, arg};
  srv_db_param p[] = {SRV_DB_TEXT(user_id), SRV_DB_TEXT(pat), SRV_DB_INT(limit)};
#define LIKE(col) "lower(" col ") LIKE lower($2) ESCAPE '\\'"
  /* the viewer $1's party po in the row's project; what each party sees is the artifact
   * listing's rule */
#define MEMBER(row) SRV_SQL_PARTY_OF("$1", row ".project_id")
  int rc = query(
      s, 0,
      "SELECT p.id, p.name, 'project', NULL, p.name, p.description, NULL, NULL, 0, p.created_at"
      " FROM project p WHERE (CAST($1 AS TEXT) IS NULL OR p.id IN"
      "  (SELECT project_id FROM project_user WHERE user_id = $1))"
      " AND (" LIKE("p.name") " OR " LIKE("p.description") ")"
      " UNION ALL"
      " SELECT p.id, p.name, v.kind, v.org_id, v.name, v.description, v.version_tag,"
      "  v.version_description, v.system_version, v.created_at"
      " FROM artifact_version v JOIN project p ON p.id = v.project_id"
      " WHERE v.kind <> 'wcek' AND (CAST($1 AS TEXT) IS NULL OR EXISTS (SELECT 1" MEMBER("v")
      "  AND (po.role = 'ao' OR v.org_id = po.org_id OR v.org_id = (SELECT ao.org_id"
      "   FROM project_org ao WHERE ao.project_id = v.project_id AND ao.role = 'ao'))))"
      " AND (" LIKE("v.name") " OR " LIKE("v.description") " OR " LIKE("v.version_tag")
      " OR " LIKE("v.version_description") ")"
      " UNION ALL"
      " SELECT p.id, p.name, 'run_configuration', rc.ds_org_id, rc.name, rc.description, NULL, NULL,"
      "  0, rc.created_at"
      " FROM run_configuration rc JOIN project p ON p.id = rc.project_id"
      " WHERE (CAST($1 AS TEXT) IS NULL OR EXISTS (SELECT 1" MEMBER("rc")
      "  AND (po.role = 'ao' OR rc.ds_org_id = po.org_id)))"
      " AND (" LIKE("rc.name") " OR " LIKE("rc.description") ")"
      " ORDER BY 10 DESC LIMIT $3",
      p, NP(p), row_hit, &k);
#undef LIKE
#undef MEMBER
  free(pat);
  return rc;
}
