/* escrowd: the database layer over SQLite and libpq (see db.h). */
#include "db.h"

#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CACHE_SLOTS 256 /* prepared statements kept per connection (power of two) */
#define CACHE_MAX 192   /* past this, statements run uncached */
#define MAX_PARAMS 64

typedef struct cached {
  char *sql;
  uint64_t hash;
  sqlite3_stmt *st; /* SQLite */
  unsigned pgid;    /* PostgreSQL: prepared as "e<pgid>" */
} cached;

struct srv_dbc {
  srv_db *db;
  sqlite3 *sq;
  PGconn *pg;
  int depth;   /* nested gets by the holding thread */
  int in_txn;  /* a transaction is open */
  int wlocked; /* SQLite: this connection holds db->wlock */
  cached cache[CACHE_SLOTS];
  unsigned ncached, next_pgid;
  srv_dbc *next; /* in the free list */
};

struct srv_db {
  srv_db_dialect dialect;
  char *target;
  unsigned max, open;
  srv_dbc *free;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_mutex_t wlock; /* SQLite: one writer in this process */
};

struct srv_db_row {
  srv_dbc *c;
  sqlite3_stmt *st;
  PGresult *res;
  int row;
  void *scratch[8]; /* PostgreSQL: decoded bytea values of this row */
  int nscratch;
};

/* the connection the calling thread holds (one database per thread at a time) */
static _Thread_local srv_dbc *tl_conn;

static void log_db(const char *what, const char *msg) {
  fprintf(stderr, "escrowd: database: %s: %s\n", what, msg ? msg : "unknown error");
}

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

static int is_pg_url(const char *t) {
  return strncmp(t, "postgresql://", 13) == 0 || strncmp(t, "postgres://", 11) == 0;
}

/* ---- connections ---------------------------------------------------------------------- */

static void cache_clear(srv_dbc *c) {
  for (unsigned i = 0; i < CACHE_SLOTS; i++) {
    if (c->cache[i].st) sqlite3_finalize(c->cache[i].st);
    free(c->cache[i].sql);
  }
  memset(c->cache, 0, sizeof c->cache);
  c->ncached = 0;
}

static void conn_free(srv_dbc *c) {
  if (!c) return;
  cache_clear(c);
  if (c->sq) sqlite3_close(c->sq);
  if (c->pg) PQfinish(c->pg);
  free(c);
}

static int sq_exec(sqlite3 *db, const char *sql) {
  char *msg = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK) return 0;
  log_db("sqlite", msg ? msg : sqlite3_errmsg(db));
  sqlite3_free(msg);
  return -1;
}

static void pg_notice(void *arg, const char *msg) {
  (void)arg;
  (void)msg; /* NOTICEs ("relation exists, skipping") are not errors */
}

static srv_dbc *conn_open(srv_db *db, char *err, size_t errsz) {
  srv_dbc *c = calloc(1, sizeof *c);
  if (!c) {
    snprintf(err, errsz, "out of memory");
    return NULL;
  }
  c->db = db;
  if (db->dialect == SRV_DB_SQLITE) {
    if (sqlite3_open_v2(db->target, &c->sq,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
      snprintf(err, errsz, "cannot open the database: %s",
               c->sq ? sqlite3_errmsg(c->sq) : "out of memory");
      conn_free(c);
      return NULL;
    }
    sqlite3_busy_timeout(c->sq, 10000);
    if (sq_exec(c->sq, "PRAGMA journal_mode=WAL") || sq_exec(c->sq, "PRAGMA synchronous=FULL") ||
        sq_exec(c->sq, "PRAGMA foreign_keys=ON")) {
      snprintf(err, errsz, "cannot configure the database: %s", sqlite3_errmsg(c->sq));
      conn_free(c);
      return NULL;
    }
  } else {
    c->pg = PQconnectdb(db->target);
    if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
      /* libpq's message names host and reason, never the password */
      snprintf(err, errsz, "cannot connect to PostgreSQL: %s",
               c->pg ? PQerrorMessage(c->pg) : "out of memory");
      size_t n = strlen(err);
      while (n && (err[n - 1] == '\n' || err[n - 1] == ' ')) err[--n] = 0;
      conn_free(c);
      return NULL;
    }
    PQsetNoticeProcessor(c->pg, pg_notice, NULL);
    PGresult *r = PQexec(c->pg, "SET synchronous_commit = on; SET client_min_messages = warning");
    int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
      snprintf(err, errsz, "cannot configure the PostgreSQL session: %s", PQerrorMessage(c->pg));
      conn_free(c);
      return NULL;
    }
  }
  return c;
}

srv_dbc *srv_db_get(srv_db *db) {
  srv_dbc *c = tl_conn;
  if (c && c->db == db) {
    c->depth++;
    return c;
  }
  pthread_mutex_lock(&db->mu);
  while (!db->free && db->open >= db->max) pthread_cond_wait(&db->cv, &db->mu);
  c = db->free;
  if (c) {
    db->free = c->next;
  } else {
    db->open++; /* reserve the slot, open outside the lock */
  }
  pthread_mutex_unlock(&db->mu);
  if (!c) {
    char err[512];
    if (!(c = conn_open(db, err, sizeof err))) {
      log_db("connect", err);
      pthread_mutex_lock(&db->mu);
      db->open--;
      pthread_cond_signal(&db->cv);
      pthread_mutex_unlock(&db->mu);
      return NULL;
    }
  }
  c->next = NULL;
  c->depth = 1;
  if (!tl_conn) tl_conn = c;
  return c;
}

void srv_db_put(srv_dbc *c) {
  if (!c || --c->depth > 0) return;
  srv_db *db = c->db;
  if (tl_conn == c) tl_conn = NULL;
  int broken = c->pg && PQstatus(c->pg) != CONNECTION_OK;
  pthread_mutex_lock(&db->mu);
  if (broken) {
    db->open--;
  } else {
    c->next = db->free;
    db->free = c;
  }
  pthread_cond_signal(&db->cv);
  pthread_mutex_unlock(&db->mu);
  if (broken) conn_free(c);
}

srv_db_dialect srv_db_dialect_of(const srv_db *db) { return db->dialect; }
srv_db_dialect srv_dbc_dialect(const srv_dbc *c) { return c->db->dialect; }

const char *srv_db_skip_locked(const srv_dbc *c) {
  return c->db->dialect == SRV_DB_POSTGRES ? " FOR UPDATE SKIP LOCKED" : "";
}

/* ---- statements ----------------------------------------------------------------------- */

static int sq_map(int rc) {
  if (rc == SQLITE_DONE || rc == SQLITE_OK || rc == SQLITE_ROW) return 0;
  if ((rc & 0xff) == SQLITE_CONSTRAINT) return SRV_CONFLICT;
  return SRV_STOREERR;
}

static int pg_map(const PGresult *r) {
  const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  if (state && strncmp(state, "23", 2) == 0) return SRV_CONFLICT;
  return SRV_STOREERR;
}

/* The cache slot for sql: its entry if cached, else a free slot (sql NULL), else NULL. */
static cached *cache_slot(srv_dbc *c, const char *sql, uint64_t h) {
  for (unsigned i = 0; i < CACHE_SLOTS; i++) {
    cached *e = &c->cache[(h + i) & (CACHE_SLOTS - 1)];
    if (!e->sql) return c->ncached < CACHE_MAX ? e : NULL;
    if (e->hash == h && strcmp(e->sql, sql) == 0) return e;
  }
  return NULL;
}

static sqlite3_stmt *sq_prepare(srv_dbc *c, const char *sql, int *owned) {
  uint64_t h = fnv1a(sql);
  cached *e = cache_slot(c, sql, h);
  if (e && e->sql) {
    *owned = 0;
    return e->st;
  }
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v3(c->sq, sql, -1, e ? SQLITE_PREPARE_PERSISTENT : 0, &st, NULL) !=
      SQLITE_OK) {
    log_db("prepare", sqlite3_errmsg(c->sq));
    return NULL;
  }
  if (e && (e->sql = strdup(sql))) {
    e->hash = h;
    e->st = st;
    c->ncached++;
    *owned = 0;
  } else {
    *owned = 1;
  }
  return st;
}

static int sq_bind(srv_dbc *c, sqlite3_stmt *st, const srv_db_param *p, size_t n) {
  if ((size_t)sqlite3_bind_parameter_count(st) != n) {
    log_db("bind", "the statement's placeholders do not match the parameters given");
    return SRV_STOREERR;
  }
  for (size_t i = 0; i < n; i++) {
    char name[24];
    snprintf(name, sizeof name, "$%zu", i + 1);
    int idx = sqlite3_bind_parameter_index(st, name);
    int rc;
    if (!idx) {
      log_db("bind", "placeholders must be $1..$n");
      return SRV_STOREERR;
    }
    switch (p[i].type) {
    case SRV_DB_T_INT: rc = sqlite3_bind_int64(st, idx, p[i].i); break;
    case SRV_DB_T_TEXT: rc = sqlite3_bind_text(st, idx, p[i].p, -1, SQLITE_STATIC); break;
    case SRV_DB_T_BLOB:
      rc = sqlite3_bind_blob64(st, idx, p[i].p, (sqlite3_uint64)p[i].len, SQLITE_STATIC);
      break;
    default: rc = sqlite3_bind_null(st, idx);
    }
    if (rc != SQLITE_OK) {
      log_db("bind", sqlite3_errmsg(c->sq));
      return SRV_STOREERR;
    }
  }
  return 0;
}

/* Run a SQLite statement; rows go to fn (one row only when one). */
static int sq_run(srv_dbc *c, const char *sql, const srv_db_param *p, size_t n,
                  int (*fn)(void *, const srv_db_row *), void *arg, int one, int64_t *changes) {
  int owned = 0;
  sqlite3_stmt *st = sq_prepare(c, sql, &owned);
  if (!st) return SRV_STOREERR;
  int r = sq_bind(c, st, p, n);
  int lock = !r && !c->in_txn && !sqlite3_stmt_readonly(st);
  if (lock) pthread_mutex_lock(&c->db->wlock);
  int rows = 0, rc = SQLITE_DONE;
  while (!r && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    rows++;
    if (fn) {
      srv_db_row row = {.c = c, .st = st};
      r = fn(arg, &row);
    }
    if (one) break;
  }
  if (!r && rc != SQLITE_ROW && rc != SQLITE_DONE) {
    r = sq_map(rc);
    if (r == SRV_STOREERR) log_db("step", sqlite3_errmsg(c->sq));
  }
  if (!r && changes) *changes = sqlite3_changes64(c->sq);
  if (!r && one && !rows) r = SRV_NOTFOUND;
  sqlite3_reset(st);
  if (lock) pthread_mutex_unlock(&c->db->wlock);
  sqlite3_clear_bindings(st);
  if (owned) sqlite3_finalize(st);
  return r;
}

static int pg_run(srv_dbc *c, const char *sql, const srv_db_param *p, size_t n,
                  int (*fn)(void *, const srv_db_row *), void *arg, int one, int64_t *changes) {
  if (n > MAX_PARAMS) {
    log_db("bind", "too many parameters");
    return SRV_STOREERR;
  }
  const char *values[MAX_PARAMS];
  int lengths[MAX_PARAMS], formats[MAX_PARAMS];
  char ints[MAX_PARAMS][24];
  for (size_t i = 0; i < n; i++) {
    lengths[i] = 0;
    formats[i] = 0;
    switch (p[i].type) {
    case SRV_DB_T_INT:
      snprintf(ints[i], sizeof ints[i], "%lld", (long long)p[i].i);
      values[i] = ints[i];
      break;
    case SRV_DB_T_TEXT: values[i] = p[i].p; break;
    case SRV_DB_T_BLOB:
      if (p[i].len > INT32_MAX) return SRV_STOREERR;
      values[i] = p[i].p;
      lengths[i] = (int)p[i].len;
      formats[i] = 1; /* bytea's binary form is the bytes */
      break;
    default: values[i] = NULL;
    }
  }
  uint64_t h = fnv1a(sql);
  cached *e = cache_slot(c, sql, h);
  PGresult *res;
  if (e) {
    char name[24];
    if (!e->sql) {
      unsigned id = ++c->next_pgid;
      snprintf(name, sizeof name, "e%u", id);
      PGresult *pr = PQprepare(c->pg, name, sql, (int)n, NULL);
      int ok = pr && PQresultStatus(pr) == PGRES_COMMAND_OK;
      if (!ok) {
        int r = pg_map(pr);
        log_db("prepare", PQerrorMessage(c->pg));
        PQclear(pr);
        return r;
      }
      PQclear(pr);
      if ((e->sql = strdup(sql))) {
        e->hash = h;
        e->pgid = id;
        c->ncached++;
      } else {
        log_db("prepare", "out of memory");
        return SRV_STOREERR; /* the prepared name stays unused on the server */
      }
    }
    snprintf(name, sizeof name, "e%u", e->pgid);
    res = PQexecPrepared(c->pg, name, (int)n, values, lengths, formats, 0);
  } else {
    res = PQexecParams(c->pg, sql, (int)n, NULL, values, lengths, formats, 0);
  }
  ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
    int r = pg_map(res);
    if (r == SRV_STOREERR) log_db("statement", PQerrorMessage(c->pg));
    PQclear(res);
    return r;
  }
  int r = 0, rows = s == PGRES_TUPLES_OK ? PQntuples(res) : 0;
  for (int i = 0; i < rows && !r; i++) {
    if (fn) {
      srv_db_row row = {.c = c, .res = res, .row = i};
      r = fn(arg, &row);
      for (int k = 0; k < row.nscratch; k++) PQfreemem(row.scratch[k]);
    }
    if (one) break;
  }
  if (!r && changes) {
    const char *t = PQcmdTuples(res);
    *changes = t && *t ? strtoll(t, NULL, 10) : 0;
  }
  if (!r && one && !rows) r = SRV_NOTFOUND;
  PQclear(res);
  return r;
}

static int run(srv_dbc *c, const char *sql, const srv_db_param *p, size_t n,
               int (*fn)(void *, const srv_db_row *), void *arg, int one, int64_t *changes) {
  if (!c || !sql || (n && !p)) return SRV_STOREERR;
  return c->sq ? sq_run(c, sql, p, n, fn, arg, one, changes)
               : pg_run(c, sql, p, n, fn, arg, one, changes);
}

int srv_db_exec(srv_dbc *c, const char *sql, const srv_db_param *p, size_t n, int64_t *changes) {
  return run(c, sql, p, n, NULL, NULL, 0, changes);
}

int srv_db_query(srv_dbc *c, const char *sql, const srv_db_param *p, size_t n,
                 int (*fn)(void *, const srv_db_row *), void *arg) {
  return run(c, sql, p, n, fn, arg, 0, NULL);
}

int srv_db_query_one(srv_dbc *c, const char *sql, const srv_db_param *p, size_t n,
                     int (*fn)(void *, const srv_db_row *), void *arg) {
  return run(c, sql, p, n, fn, arg, 1, NULL);
}

/* ---- rows ----------------------------------------------------------------------------- */

int srv_db_row_isnull(const srv_db_row *r, int col) {
  if (r->st) return sqlite3_column_type(r->st, col) == SQLITE_NULL;
  return col >= PQnfields(r->res) || PQgetisnull(r->res, r->row, col);
}

int64_t srv_db_row_int(const srv_db_row *r, int col) {
  if (r->st) return sqlite3_column_int64(r->st, col);
  if (srv_db_row_isnull(r, col)) return 0;
  const char *v = PQgetvalue(r->res, r->row, col);
  if (v[0] == 't' && !v[1]) return 1; /* boolean */
  if (v[0] == 'f' && !v[1]) return 0;
  return strtoll(v, NULL, 10);
}

const char *srv_db_row_text(const srv_db_row *r, int col) {
  if (r->st) return (const char *)sqlite3_column_text(r->st, col);
  if (srv_db_row_isnull(r, col)) return NULL;
  return PQgetvalue(r->res, r->row, col);
}

char *srv_db_row_strdup(const srv_db_row *r, int col) {
  const char *t = srv_db_row_text(r, col);
  return t ? strdup(t) : NULL;
}

const void *srv_db_row_blob(const srv_db_row *r, int col, size_t *len) {
  *len = 0;
  if (r->st) {
    const void *b = sqlite3_column_blob(r->st, col);
    *len = (size_t)sqlite3_column_bytes(r->st, col);
    return b;
  }
  if (srv_db_row_isnull(r, col)) return NULL;
  srv_db_row *w = (srv_db_row *)r; /* scratch is the row's own, freed after the callback */
  if (w->nscratch == (int)(sizeof w->scratch / sizeof w->scratch[0])) return NULL;
  size_t n = 0;
  unsigned char *b =
      PQunescapeBytea((const unsigned char *)PQgetvalue(r->res, r->row, col), &n);
  if (!b) return NULL;
  w->scratch[w->nscratch++] = b;
  *len = n;
  return b;
}

/* ---- transactions --------------------------------------------------------------------- */

static int simple(srv_dbc *c, const char *sql) {
  if (c->sq) return sq_exec(c->sq, sql) ? SRV_STOREERR : 0;
  PGresult *r = PQexec(c->pg, sql);
  int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
  int rc = ok ? 0 : pg_map(r);
  if (!ok) log_db("statement", PQerrorMessage(c->pg));
  PQclear(r);
  return rc;
}

int srv_db_in_transaction(srv_db *db) {
  return tl_conn && tl_conn->db == db && tl_conn->in_txn;
}

int srv_db_begin(srv_db *db) {
  if (srv_db_in_transaction(db)) {
    log_db("begin", "a transaction is already open on this thread");
    return SRV_STOREERR;
  }
  srv_dbc *c = srv_db_get(db);
  if (!c) return SRV_STOREERR;
  if (c->sq) {
    pthread_mutex_lock(&db->wlock);
    c->wlocked = 1;
  }
  if (simple(c, c->sq ? "BEGIN IMMEDIATE" : "BEGIN")) {
    if (c->wlocked) pthread_mutex_unlock(&db->wlock);
    c->wlocked = 0;
    srv_db_put(c);
    return SRV_STOREERR;
  }
  c->in_txn = 1;
  return 0;
}

static void end_txn(srv_dbc *c) {
  c->in_txn = 0;
  if (c->wlocked) pthread_mutex_unlock(&c->db->wlock);
  c->wlocked = 0;
  srv_db_put(c);
}

int srv_db_commit(srv_db *db) {
  if (!srv_db_in_transaction(db)) return SRV_STOREERR;
  srv_dbc *c = tl_conn;
  int rc = simple(c, "COMMIT");
  if (rc && c->sq) (void)simple(c, "ROLLBACK");
  end_txn(c);
  return rc ? SRV_STOREERR : 0;
}

void srv_db_rollback(srv_db *db) {
  if (!srv_db_in_transaction(db)) return;
  srv_dbc *c = tl_conn;
  (void)simple(c, "ROLLBACK");
  end_txn(c);
}

/* ---- migrations ----------------------------------------------------------------------- */

typedef struct ver_arg {
  int v;
} ver_arg;

static int read_ver(void *arg, const srv_db_row *r) {
  ((ver_arg *)arg)->v = (int)srv_db_row_int(r, 0);
  return 0;
}

static int module_version(srv_dbc *c, const char *module) {
  ver_arg a = {0};
  srv_db_param p[] = {SRV_DB_TEXT(module)};
  int rc = srv_db_query_one(
      c, "SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) FROM db_migrations WHERE module = $1",
      p, 1, read_ver, &a);
  return rc ? rc : a.v;
}

int srv_db_module_version(srv_db *db, const char *module) {
  srv_dbc *c = srv_db_get(db);
  if (!c) return SRV_STOREERR;
  int v = module_version(c, module);
  srv_db_put(c);
  return v;
}

static int exists_legacy(void *arg, const srv_db_row *r) {
  (void)r;
  *(int *)arg = 1;
  return 0;
}

static int prepare_ledger(srv_db *db, srv_dbc *c) {
  if (srv_db_begin(db)) return SRV_STOREERR;
  /* two processes opening a new PostgreSQL database at once must not both create the table */
  int rc = c->pg ? srv_db_query(c, "SELECT pg_advisory_xact_lock(6060842)", NULL, 0, NULL, NULL)
                 : 0;
  if (!rc) rc = simple(c, "CREATE TABLE IF NOT EXISTS db_migrations (module TEXT NOT NULL,"
                     " version INTEGER NOT NULL, applied_at BIGINT NOT NULL,"
                     " PRIMARY KEY (module, version))");
  if (!rc && c->sq) {
    /* databases made before modules had their own versions recorded the core's steps in
     * schema_migrations(version, applied_at) */
    int legacy = 0;
    rc = srv_db_query(c, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND"
                         " name = 'schema_migrations'", NULL, 0, exists_legacy, &legacy);
    if (!rc && legacy)
      rc = srv_db_exec(c, "INSERT OR IGNORE INTO db_migrations(module, version, applied_at)"
                          " SELECT 'core', version, applied_at FROM schema_migrations", NULL, 0,
                       NULL);
    if (!rc && legacy) rc = simple(c, "DROP TABLE schema_migrations");
  }
  if (rc) {
    srv_db_rollback(db);
    return rc;
  }
  return srv_db_commit(db);
}

static int migrate(srv_db *db, const srv_db_module *const *mods, size_t nmods, char *err,
                   size_t errsz) {
  srv_dbc *c = srv_db_get(db);
  if (!c) {
    snprintf(err, errsz, "cannot connect to the database (see the log)");
    return -1;
  }
  int ret = -1;
  if (prepare_ledger(db, c)) {
    snprintf(err, errsz, "cannot create the migrations table (see the log)");
    goto out;
  }
  for (size_t m = 0; m < nmods; m++) {
    const srv_db_module *mod = mods[m];
    for (size_t v = 1; v <= mod->nsteps; v++) {
      if (srv_db_begin(db)) goto fail;
      /* under the write lock (SQLite) or the table lock (PostgreSQL) so two processes opening
       * the same database apply each step once */
      if (c->pg && srv_db_query(c, "SELECT pg_advisory_xact_lock(6060842)", NULL, 0, NULL, NULL))
        goto fail_txn;
      int have = module_version(c, mod->name);
      if (have < 0) goto fail_txn;
      if (have > (int)mod->nsteps) {
        srv_db_rollback(db);
        snprintf(err, errsz,
                 "the database schema of \"%s\" (version %d) is newer than this escrowd (%zu)",
                 mod->name, have, mod->nsteps);
        goto out;
      }
      if ((size_t)have >= v) {
        srv_db_rollback(db);
        continue;
      }
      const srv_db_migration *st = &mod->steps[v - 1];
      const char *sql = c->sq ? (st->sqlite ? st->sqlite : st->sql) : (st->pg ? st->pg : st->sql);
      if (sql && *sql && simple(c, sql)) {
        srv_db_rollback(db);
        snprintf(err, errsz, "database migration %s %zu failed (see the log)", mod->name, v);
        goto out;
      }
      srv_db_param p[] = {SRV_DB_TEXT(mod->name), SRV_DB_INT(v), SRV_DB_INT(time(NULL))};
      if (srv_db_exec(c, "INSERT INTO db_migrations(module, version, applied_at)"
                         " VALUES ($1, $2, $3)", p, 3, NULL))
        goto fail_txn;
      if (srv_db_commit(db)) goto fail;
    }
  }
  ret = 0;
  goto out;
fail_txn:
  srv_db_rollback(db);
fail:
  snprintf(err, errsz, "database migration failed (see the log)");
out:
  srv_db_put(c);
  return ret;
}

srv_db *srv_db_open(const char *target, const srv_db_module *const *modules, size_t nmodules,
                    unsigned pool_size, char *err, size_t errsz) {
  srv_db *db = calloc(1, sizeof *db);
  if (!db || !(db->target = strdup(target))) {
    free(db);
    snprintf(err, errsz, "out of memory");
    return NULL;
  }
  db->dialect = is_pg_url(target) ? SRV_DB_POSTGRES : SRV_DB_SQLITE;
  db->max = pool_size ? pool_size : 16;
  pthread_mutex_init(&db->mu, NULL);
  pthread_cond_init(&db->cv, NULL);
  pthread_mutex_init(&db->wlock, NULL);
  if (db->dialect == SRV_DB_SQLITE && !sqlite3_threadsafe()) {
    snprintf(err, errsz, "this SQLite library was built without thread support");
    srv_db_close(db);
    return NULL;
  }
  /* the first connection is opened here so its error reaches the caller */
  srv_dbc *c = conn_open(db, err, errsz);
  if (!c) {
    srv_db_close(db);
    return NULL;
  }
  db->open = 1;
  db->free = c;
  if (migrate(db, modules, nmodules, err, errsz)) {
    srv_db_close(db);
    return NULL;
  }
  return db;
}

void srv_db_close(srv_db *db) {
  if (!db) return;
  while (db->free) {
    srv_dbc *c = db->free;
    db->free = c->next;
    conn_free(c);
  }
  pthread_mutex_destroy(&db->mu);
  pthread_cond_destroy(&db->cv);
  pthread_mutex_destroy(&db->wlock);
  free(db->target);
  free(db);
}
