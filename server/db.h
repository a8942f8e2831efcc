/*
 * escrowd: the database layer. One SQL text runs on both backends, SQLite (the embedded
 * default, a file in the data folder, WAL mode) and PostgreSQL (libpq, a postgresql:// URL).
 *
 * SQL. Placeholders are $1..$n in both dialects ($n may repeat; SQLite binds them by name).
 * PostgreSQL infers each parameter's type from where it is used: a parameter that appears only
 * where no type follows (`$3 IS NULL`) must say it, portably: `CAST($3 AS TEXT) IS NULL`.
 * Parameters are typed (srv_db_param, made with SRV_DB_INT / _TEXT / _BLOB / _NULL). Write
 * portable SQL: BIGINT/INTEGER/TEXT columns, no rowid-only tricks, quote "user" (reserved in
 * PostgreSQL). For the rare difference ask srv_db_dialect_of() or use srv_db_skip_locked().
 * Statements are prepared once per connection and cached by their text (so build dynamic SQL
 * only from a bounded set of fragments, never from input: input is always a parameter).
 *
 * Connections and threads. A srv_db is a pool. srv_db_get() hands the calling thread a
 * connection (the same one again if the thread already holds one: nested gets are counted) and
 * srv_db_put() gives it back; srv_db_begin() .. srv_db_commit()/srv_db_rollback() keep it for
 * the transaction. Connections are opened lazily up to the pool size; a thread waits when all
 * are busy. SQLite connections read in parallel (WAL); writers are serialised inside the
 * process (begin takes a write lock and BEGIN IMMEDIATE, an autocommit write takes it for the
 * statement), and other processes (escrowd admin while serve runs) wait on SQLite's busy
 * timeout. PostgreSQL connections are independent backends; transactions are READ COMMITTED.
 *
 * Migrations. Each module (the core store, accounts, runs, ...) owns an ordered list of
 * srv_db_migration and is named in a srv_db_module; srv_db_open() applies, module by module in
 * the order given, every version above the one recorded for that module in db_migrations,
 * each in its own transaction. A database with a module version newer than this binary knows
 * is refused. Never edit a migration that has shipped: add a new version.
 *
 * Errors: every call returning int returns 0, SRV_NOTFOUND (no row where one was required),
 * SRV_CONFLICT (a constraint: unique, foreign key, check) or SRV_STOREERR (anything else; the
 * backend's message goes to stderr, never parameter values).
 */
#ifndef ESCROWD_DB_H
#define ESCROWD_DB_H

#include <stddef.h>
#include <stdint.h>

#define SRV_NOTFOUND (-2)
#define SRV_CONFLICT (-3)
#define SRV_STOREERR (-4)

typedef enum srv_db_dialect { SRV_DB_SQLITE = 1, SRV_DB_POSTGRES = 2 } srv_db_dialect;

typedef struct srv_db srv_db;   /* the database: a pool of connections; thread-safe */
typedef struct srv_dbc srv_dbc; /* one connection, used by the thread that got it */

/* One schema step. sql is the text for both dialects; sqlite / pg, when not NULL, replace it
 * for that dialect (types that differ: BLOB/BYTEA, AUTOINCREMENT/IDENTITY, collations). An
 * empty text is a no-op step (the version is still recorded). Several statements may be
 * separated by ';'. */
typedef struct srv_db_migration {
  const char *sql, *sqlite, *pg;
} srv_db_migration;

/* A module's migrations: steps[0] is version 1, steps[1] version 2, ... */
typedef struct srv_db_module {
  const char *name; /* unique, e.g. "core", "accounts", "runs" */
  const srv_db_migration *steps;
  size_t nsteps;
} srv_db_module;

enum { SRV_DB_T_NULL = 0, SRV_DB_T_INT, SRV_DB_T_TEXT, SRV_DB_T_BLOB };

/* A bound value; borrowed (must outlive the call it is passed to). */
typedef struct srv_db_param {
  int type;
  int64_t i;
  const void *p;
  size_t len;
} srv_db_param;

static inline srv_db_param srv_db_int_(int64_t v) {
  return (srv_db_param){SRV_DB_T_INT, v, NULL, 0};
}
static inline srv_db_param srv_db_text_(const char *s) {
  return (srv_db_param){s ? SRV_DB_T_TEXT : SRV_DB_T_NULL, 0, s, 0};
}
static inline srv_db_param srv_db_blob_(const void *b, size_t n) {
  return (srv_db_param){b ? SRV_DB_T_BLOB : SRV_DB_T_NULL, 0, b, n};
}
#define SRV_DB_INT(v) srv_db_int_((int64_t)(v))
/* a NUL-terminated string; NULL binds SQL NULL */
#define SRV_DB_TEXT(s) srv_db_text_(s)
/* bytes; NULL binds SQL NULL */
#define SRV_DB_BLOB(b, n) srv_db_blob_((b), (n))
#define SRV_DB_NULL ((srv_db_param){SRV_DB_T_NULL, 0, NULL, 0})

/* Open the database named by target: a "postgresql://" or "postgres://" URL (libpq
 * connection URI) selects PostgreSQL, anything else is a SQLite file path (created if
 * missing). Checks one connection and applies the modules' migrations. pool_size: the most
 * connections kept open (0: 16). NULL on error with a message in err (a URL's password is
 * never copied into it). */
srv_db *srv_db_open(const char *target, const srv_db_module *const *modules, size_t nmodules,
                    unsigned pool_size, char *err, size_t errsz);

/* Close every connection. No connection may be held. NULL is a no-op. */
void srv_db_close(srv_db *db);

srv_db_dialect srv_db_dialect_of(const srv_db *db);

/* The version recorded for a module (0: none yet), or SRV_STOREERR. */
int srv_db_module_version(srv_db *db, const char *module);

/* The calling thread's connection (see above). NULL only when a connection cannot be opened
 * (message on stderr). Every successful get needs one put. */
srv_dbc *srv_db_get(srv_db *db);
void srv_db_put(srv_dbc *c);

/* A transaction on the thread's connection: begin gets the connection (and, on SQLite, the
 * write lock and BEGIN IMMEDIATE: the transaction can write without a busy failure later);
 * commit and rollback end it and put the connection back. begin inside a transaction is
 * SRV_STOREERR. A failed commit has rolled back. */
int srv_db_begin(srv_db *db);
int srv_db_commit(srv_db *db);
void srv_db_rollback(srv_db *db);

/* Non-zero while the calling thread has a transaction open on db. */
int srv_db_in_transaction(srv_db *db);

/* Run a statement without result rows. *changes (may be NULL) receives the rows it changed. */
int srv_db_exec(srv_dbc *c, const char *sql, const srv_db_param *params, size_t nparams,
                int64_t *changes);

/* A result row, valid only inside the row callback. Column numbers start at 0. */
typedef struct srv_db_row srv_db_row;
int srv_db_row_isnull(const srv_db_row *r, int col);
int64_t srv_db_row_int(const srv_db_row *r, int col);           /* NULL reads 0 */
const char *srv_db_row_text(const srv_db_row *r, int col);      /* borrowed; NULL for NULL */
const void *srv_db_row_blob(const srv_db_row *r, int col, size_t *len); /* borrowed */
/* A malloc'd copy of a text column (NULL for SQL NULL or no memory: check isnull). */
char *srv_db_row_strdup(const srv_db_row *r, int col);

/* Run a query and call fn for each row, in order; fn returns non-zero to stop and that value
 * is returned. Returns 0 after the last row (also when there was none). */
int srv_db_query(srv_dbc *c, const char *sql, const srv_db_param *params, size_t nparams,
                 int (*fn)(void *arg, const srv_db_row *row), void *arg);

/* Like srv_db_query for one row: fn is called for the first row only; SRV_NOTFOUND when there
 * is none. */
int srv_db_query_one(srv_dbc *c, const char *sql, const srv_db_param *params, size_t nparams,
                     int (*fn)(void *arg, const srv_db_row *row), void *arg);

/* The clause a queue claim appends to its SELECT inside a transaction: " FOR UPDATE SKIP
 * LOCKED" on PostgreSQL (concurrent claimers take different rows without waiting), "" on
 * SQLite (the IMMEDIATE transaction already excludes other writers). The claim pattern:
 *   srv_db_begin(db); SELECT id FROM queue WHERE state = 'queued' ORDER BY id LIMIT 1<clause>;
 *   UPDATE queue SET state = 'claimed', worker = $2 WHERE id = $1 AND state = 'queued';
 *   srv_db_commit(db);  */
const char *srv_db_skip_locked(const srv_dbc *c);

/* The dialect of a connection (for the rare SQL that must differ). */
srv_db_dialect srv_dbc_dialect(const srv_dbc *c);

#endif
