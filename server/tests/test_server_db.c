/* escrowd's database layer (server/db.h) on SQLite and, when a test cluster runs
 * (ESCROWD_PG=1, ESCROWD_PG_CLUSTER: tools/pg-test-cluster.sh), on PostgreSQL: the same
 * tests for both. Without a cluster the PostgreSQL group is skipped (exit 77) unless
 * ESCROWD_PG_REQUIRED=1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"

typedef struct fixture {
  srv_db *db;
  char target[1024];  /* the main database */
  char target2[1024]; /* a second, empty database for the migration tests */
} fixture;

static const srv_db_migration NO_STEPS[] = {{.sql = ""}};
static const srv_db_module EMPTY = {"empty", NO_STEPS, 1};
static const srv_db_module *const EMPTY_MODS[] = {&EMPTY};

/* ---- fixtures --------------------------------------------------------------------------- */

static char tmpdir[256];

static int setup_sqlite(void **state) {
  fixture *f = calloc(1, sizeof *f);
  snprintf(tmpdir, sizeof tmpdir, "/tmp/escrowd-dbtest-XXXXXX");
  if (!f || !mkdtemp(tmpdir)) return -1;
  snprintf(f->target, sizeof f->target, "%s/a.db", tmpdir);
  snprintf(f->target2, sizeof f->target2, "%s/b.db", tmpdir);
  char err[512];
  if (!(f->db = srv_db_open(f->target, EMPTY_MODS, 1, 4, err, sizeof err))) {
    fprintf(stderr, "%s\n", err);
    return -1;
  }
  *state = f;
  return 0;
}

static int pg_admin(const char *base, const char *sql) {
  PGconn *c = PQconnectdb(base);
  int ok = PQstatus(c) == CONNECTION_OK;
  if (ok) {
    PGresult *r = PQexec(c, sql);
    ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) fprintf(stderr, "%s", PQerrorMessage(c));
    PQclear(r);
  } else {
    fprintf(stderr, "%s", PQerrorMessage(c));
  }
  PQfinish(c);
  return ok ? 0 : -1;
}

static char pg_base[1024];

static int setup_pg(void **state) {
  fixture *f = calloc(1, sizeof *f);
  if (!f) return -1;
  const char *names[2] = {"escrowd_dbtest_a", "escrowd_dbtest_b"};
  char *dst[2] = {f->target, f->target2};
  for (int i = 0; i < 2; i++) {
    char sql[256];
    char name[128];
    /* one database per build folder: builds side by side never share one */
    snprintf(name, sizeof name, "%s_%lx", names[i], (unsigned long)getpid());
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", name);
    if (pg_admin(pg_base, sql)) return -1;
    snprintf(sql, sizeof sql, "CREATE DATABASE \"%s\"", name);
    if (pg_admin(pg_base, sql)) return -1;
    const char *q = strstr(pg_base, "/postgres?");
    if (!q) return -1;
    snprintf(dst[i], 1024, "%.*s/%s%s", (int)(q - pg_base), pg_base, name, q + 9);
  }
  char err[512];
  if (!(f->db = srv_db_open(f->target, EMPTY_MODS, 1, 4, err, sizeof err))) {
    fprintf(stderr, "%s\n", err);
    return -1;
  }
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  srv_db_close(f->db);
  if (strncmp(f->target, "postgresql://", 13) == 0) {
    for (int i = 0; i < 2; i++) {
      const char *t = i ? f->target2 : f->target;
      const char *q = strchr(t, '?'), *s = q;
      while (s > t && s[-1] != '/') s--;
      char sql[256];
      snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS \"%.*s\" WITH (FORCE)",
               (int)(q - s), s);
      pg_admin(pg_base, sql);
    }
  } else {
    unlink(f->target);
    unlink(f->target2);
    char p[1100];
    const char *sfx[] = {"-wal", "-shm"};
    for (int i = 0; i < 2; i++) {
      snprintf(p, sizeof p, "%s%s", f->target, sfx[i]);
      unlink(p);
      snprintf(p, sizeof p, "%s%s", f->target2, sfx[i]);
      unlink(p);
    }
    rmdir(tmpdir);
  }
  free(f);
  return 0;
}

/* ---- helpers ---------------------------------------------------------------------------- */

static void exec_ok(srv_db *db, const char *sql) {
  srv_dbc *c = srv_db_get(db);
  assert_non_null(c);
  assert_int_equal(srv_db_exec(c, sql, NULL, 0, NULL), 0);
  srv_db_put(c);
}

static int row_count(void *arg, const srv_db_row *r) {
  *(int64_t *)arg = srv_db_row_int(r, 0);
  return 0;
}

static int64_t count(srv_db *db, const char *sql) {
  int64_t n = -1;
  srv_dbc *c = srv_db_get(db);
  assert_non_null(c);
  assert_int_equal(srv_db_query_one(c, sql, NULL, 0, row_count, &n), 0);
  srv_db_put(c);
  return n;
}

static int is_pg(const fixture *f) { return srv_db_dialect_of(f->db) == SRV_DB_POSTGRES; }

/* ---- values ----------------------------------------------------------------------------- */

typedef struct got {
  int64_t big, small;
  char *text;
  unsigned char blob[16];
  size_t bloblen;
  int null_is_null, same;
} got;

static int read_values(void *arg, const srv_db_row *r) {
  got *g = arg;
  g->big = srv_db_row_int(r, 0);
  g->small = srv_db_row_int(r, 1);
  g->text = srv_db_row_strdup(r, 2);
  size_t n = 0;
  const void *b = srv_db_row_blob(r, 3, &n);
  if (b && n <= sizeof g->blob) memcpy(g->blob, b, n);
  g->bloblen = n;
  g->null_is_null = srv_db_row_isnull(r, 4) && srv_db_row_text(r, 4) == NULL;
  g->same = (int)srv_db_row_int(r, 5);
  return 0;
}

static void values_come_back_as_they_were_bound(void **state) {
  fixture *f = *state;
  const char *create = is_pg(f) ? "CREATE TABLE vals (big BIGINT, small BIGINT, t TEXT, b BYTEA, n TEXT)"
                                : "CREATE TABLE vals (big INTEGER, small INTEGER, t TEXT, b BLOB, n TEXT)";
  exec_ok(f->db, create);
  static const unsigned char blob[] = {0, 1, 0xff, 0, '\\', 'x', 0x27};
  const char *tricky = "it's \"quoted\"; DROP TABLE vals; -- \\x00 \xc3\xa9";
  srv_db_param p[] = {SRV_DB_INT(INT64_MAX), SRV_DB_INT(INT64_MIN), SRV_DB_TEXT(tricky),
                      SRV_DB_BLOB(blob, sizeof blob), SRV_DB_TEXT(NULL)};
  srv_dbc *c = srv_db_get(f->db);
  assert_non_null(c);
  int64_t changed = 0;
  assert_int_equal(srv_db_exec(c, "INSERT INTO vals VALUES ($1, $2, $3, $4, $5)", p, 5, &changed), 0);
  assert_int_equal(changed, 1);
  got g = {0};
  /* $1 used twice: bound once, by name on SQLite */
  srv_db_param q[] = {SRV_DB_INT(INT64_MAX)};
  assert_int_equal(srv_db_query_one(c, "SELECT big, small, t, b, n, CASE WHEN big = $1 THEN 1"
                                       " ELSE 0 END FROM vals WHERE big = $1", q, 1,
                                    read_values, &g), 0);
  srv_db_put(c);
  assert_true(g.big == INT64_MAX);
  assert_true(g.small == INT64_MIN);
  assert_string_equal(g.text, tricky);
  assert_int_equal(g.bloblen, sizeof blob);
  assert_memory_equal(g.blob, blob, sizeof blob);
  assert_true(g.null_is_null);
  assert_int_equal(g.same, 1);
  assert_int_equal(count(f->db, "SELECT COUNT(*) FROM vals"), 1);
  free(g.text);
}

static void a_missing_row_is_notfound(void **state) {
  fixture *f = *state;
  exec_ok(f->db, "CREATE TABLE empty_t (id TEXT PRIMARY KEY)");
  srv_dbc *c = srv_db_get(f->db);
  srv_db_param p[] = {SRV_DB_TEXT("nope")};
  assert_int_equal(srv_db_query_one(c, "SELECT id FROM empty_t WHERE id = $1", p, 1, NULL, NULL),
                   SRV_NOTFOUND);
  /* a query without rows is not an error */
  assert_int_equal(srv_db_query(c, "SELECT id FROM empty_t WHERE id = $1", p, 1, NULL, NULL), 0);
  srv_db_put(c);
}

static void constraint_violations_are_conflicts(void **state) {
  fixture *f = *state;
  exec_ok(f->db, "CREATE TABLE parent (id TEXT PRIMARY KEY)");
  exec_ok(f->db, "CREATE TABLE child (id TEXT PRIMARY KEY, parent TEXT NOT NULL REFERENCES parent(id))");
  srv_dbc *c = srv_db_get(f->db);
  srv_db_param p[] = {SRV_DB_TEXT("a")};
  assert_int_equal(srv_db_exec(c, "INSERT INTO parent VALUES ($1)", p, 1, NULL), 0);
  assert_int_equal(srv_db_exec(c, "INSERT INTO parent VALUES ($1)", p, 1, NULL), SRV_CONFLICT);
  srv_db_param q[] = {SRV_DB_TEXT("c"), SRV_DB_TEXT("missing")};
  assert_int_equal(srv_db_exec(c, "INSERT INTO child VALUES ($1, $2)", q, 2, NULL), SRV_CONFLICT);
  srv_db_param n[] = {SRV_DB_TEXT("c"), SRV_DB_TEXT(NULL)};
  assert_int_equal(srv_db_exec(c, "INSERT INTO child VALUES ($1, $2)", n, 2, NULL), SRV_CONFLICT);
  srv_db_put(c);
}

static void bad_sql_and_wrong_placeholders_are_store_errors(void **state) {
  fixture *f = *state;
  srv_dbc *c = srv_db_get(f->db);
  assert_int_equal(srv_db_exec(c, "INSERT INTO no_such_table VALUES (1)", NULL, 0, NULL),
                   SRV_STOREERR);
  srv_db_param p[] = {SRV_DB_INT(1), SRV_DB_INT(2)};
  /* more parameters than placeholders */
  assert_int_equal(srv_db_query(c, "SELECT $1", p, 2, NULL, NULL), SRV_STOREERR);
  srv_db_put(c);
}

/* ---- transactions ----------------------------------------------------------------------- */

static void a_rolled_back_transaction_leaves_nothing(void **state) {
  fixture *f = *state;
  exec_ok(f->db, "CREATE TABLE tx (id BIGINT PRIMARY KEY)");
  assert_int_equal(srv_db_begin(f->db), 0);
  assert_true(srv_db_in_transaction(f->db));
  srv_dbc *c = srv_db_get(f->db); /* the transaction's connection */
  srv_db_param p[] = {SRV_DB_INT(1)};
  assert_int_equal(srv_db_exec(c, "INSERT INTO tx VALUES ($1)", p, 1, NULL), 0);
  srv_db_put(c);
  srv_db_rollback(f->db);
  assert_false(srv_db_in_transaction(f->db));
  assert_int_equal(count(f->db, "SELECT COUNT(*) FROM tx"), 0);

  assert_int_equal(srv_db_begin(f->db), 0);
  c = srv_db_get(f->db);
  assert_int_equal(srv_db_exec(c, "INSERT INTO tx VALUES ($1)", p, 1, NULL), 0);
  srv_db_put(c);
  assert_int_equal(srv_db_commit(f->db), 0);
  assert_int_equal(count(f->db, "SELECT COUNT(*) FROM tx"), 1);
}

static void a_transaction_cannot_be_nested(void **state) {
  fixture *f = *state;
  assert_int_equal(srv_db_begin(f->db), 0);
  assert_int_equal(srv_db_begin(f->db), SRV_STOREERR);
  assert_true(srv_db_in_transaction(f->db));
  srv_db_rollback(f->db);
  assert_int_equal(srv_db_commit(f->db), SRV_STOREERR); /* none open */
}

/* ---- concurrency ------------------------------------------------------------------------ */

typedef struct reader {
  srv_db *db;
  int64_t seen;
} reader;

static void *read_count(void *arg) {
  reader *r = arg;
  r->seen = -1;
  srv_dbc *c = srv_db_get(r->db);
  if (c) {
    srv_db_query_one(c, "SELECT COUNT(*) FROM rw", NULL, 0, row_count, &r->seen);
    srv_db_put(c);
  }
  return NULL;
}

static void readers_do_not_wait_for_an_open_write_transaction(void **state) {
  fixture *f = *state;
  exec_ok(f->db, "CREATE TABLE rw (id BIGINT PRIMARY KEY)");
  exec_ok(f->db, "INSERT INTO rw VALUES (1)");
  assert_int_equal(srv_db_begin(f->db), 0);
  srv_dbc *c = srv_db_get(f->db);
  assert_int_equal(srv_db_exec(c, "INSERT INTO rw VALUES (2)", NULL, 0, NULL), 0);
  srv_db_put(c);
  /* another thread reads while this one's transaction is open: it gets the committed state
   * on its own connection instead of waiting (a single lock would hang here) */
  reader r = {f->db, 0};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, read_count, &r), 0);
  pthread_join(t, NULL);
  assert_int_equal(r.seen, 1);
  assert_int_equal(srv_db_commit(f->db), 0);
  read_count(&r);
  assert_int_equal(r.seen, 2);
}

#define WRITERS 6
#define ROUNDS 40

static void *write_rounds(void *arg) {
  srv_db *db = arg;
  for (int i = 0; i < ROUNDS; i++) {
    if (srv_db_begin(db)) return (void *)1;
    srv_dbc *c = srv_db_get(db);
    int rc = srv_db_exec(c, "UPDATE counter SET n = n + 1", NULL, 0, NULL);
    if (!rc) rc = srv_db_exec(c, "INSERT INTO counter_log(at) VALUES (1)", NULL, 0, NULL);
    srv_db_put(c);
    if (rc) {
      srv_db_rollback(db);
      return (void *)1;
    }
    if (srv_db_commit(db)) return (void *)1;
  }
  return NULL;
}

static void concurrent_writers_lose_no_update(void **state) {
  fixture *f = *state;
  exec_ok(f->db, "CREATE TABLE counter (n BIGINT NOT NULL)");
  exec_ok(f->db, "INSERT INTO counter VALUES (0)");
  exec_ok(f->db, "CREATE TABLE counter_log (at BIGINT)");
  pthread_t t[WRITERS];
  /* more threads than the pool's 4 connections: the rest wait for one */
  for (int i = 0; i < WRITERS; i++) assert_int_equal(pthread_create(&t[i], NULL, write_rounds, f->db), 0);
  int failed = 0;
  for (int i = 0; i < WRITERS; i++) {
    void *r;
    pthread_join(t[i], &r);
    failed += r != NULL;
  }
  assert_int_equal(failed, 0);
  assert_int_equal(count(f->db, "SELECT n FROM counter"), WRITERS * ROUNDS);
  assert_int_equal(count(f->db, "SELECT COUNT(*) FROM counter_log"), WRITERS * ROUNDS);
}

#define JOBS 60
#define CLAIMERS 4

typedef struct claimer {
  srv_db *db;
  int id, claimed, failed;
} claimer;

static void *claim_until_empty(void *arg) {
  claimer *w = arg;
  for (;;) {
    if (srv_db_begin(w->db)) {
      w->failed++;
      return NULL;
    }
    srv_dbc *c = srv_db_get(w->db);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT id FROM queue WHERE worker IS NULL ORDER BY id LIMIT 1%s",
             srv_db_skip_locked(c));
    int64_t id = -1;
    int rc = srv_db_query_one(c, sql, NULL, 0, row_count, &id);
    int64_t changed = 0;
    if (!rc) {
      srv_db_param p[] = {SRV_DB_INT(id), SRV_DB_INT(w->id)};
      rc = srv_db_exec(c, "UPDATE queue SET worker = $2, claims = claims + 1 WHERE id = $1"
                          " AND worker IS NULL", p, 2, &changed);
    }
    srv_db_put(c);
    if (rc == SRV_NOTFOUND) {
      srv_db_rollback(w->db);
      return NULL; /* the queue is empty */
    }
    if (rc || changed != 1) {
      srv_db_rollback(w->db);
      w->failed++;
      return NULL;
    }
    if (srv_db_commit(w->db)) {
      w->failed++;
      return NULL;
    }
    w->claimed++;
  }
}

static void queue_claims_give_each_job_to_one_worker(void **state) {
  fixture *f = *state;
  exec_ok(f->db, "CREATE TABLE queue (id BIGINT PRIMARY KEY, worker BIGINT, claims BIGINT NOT NULL DEFAULT 0)");
  srv_dbc *c = srv_db_get(f->db);
  for (int i = 1; i <= JOBS; i++) {
    srv_db_param p[] = {SRV_DB_INT(i)};
    assert_int_equal(srv_db_exec(c, "INSERT INTO queue(id) VALUES ($1)", p, 1, NULL), 0);
  }
  srv_db_put(c);
  claimer w[CLAIMERS];
  pthread_t t[CLAIMERS];
  for (int i = 0; i < CLAIMERS; i++) {
    w[i] = (claimer){f->db, i + 1, 0, 0};
    assert_int_equal(pthread_create(&t[i], NULL, claim_until_empty, &w[i]), 0);
  }
  int total = 0;
  for (int i = 0; i < CLAIMERS; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(w[i].failed, 0);
    total += w[i].claimed;
  }
  assert_int_equal(total, JOBS);
  assert_int_equal(count(f->db, "SELECT COUNT(*) FROM queue WHERE worker IS NULL OR claims <> 1"), 0);
}

/* ---- migrations ------------------------------------------------------------------------- */

static const srv_db_migration ALPHA_V2[] = {
    {.sql = "CREATE TABLE alpha (id TEXT PRIMARY KEY)"},
    {.sqlite = "CREATE TABLE alpha_blob (b BLOB); CREATE TABLE made_by_sqlite (x TEXT)",
     .pg = "CREATE TABLE alpha_blob (b BYTEA); CREATE TABLE made_by_pg (x TEXT)"},
};
static const srv_db_migration BETA[] = {
    {.sql = "CREATE TABLE beta (id TEXT PRIMARY KEY, alpha TEXT REFERENCES alpha(id))"},
};
static const srv_db_migration BROKEN[] = {{.sql = "CREATE TABLE"}};

static void migrations_run_once_per_module_in_order(void **state) {
  fixture *f = *state;
  char err[512];
  srv_db_module alpha1 = {"alpha", ALPHA_V2, 1}, alpha2 = {"alpha", ALPHA_V2, 2},
                beta = {"beta", BETA, 1};
  const srv_db_module *m1[] = {&alpha1};
  srv_db *db = srv_db_open(f->target2, m1, 1, 2, err, sizeof err);
  assert_non_null(db);
  assert_int_equal(srv_db_module_version(db, "alpha"), 1);
  srv_db_close(db);
  /* reopening applies only what is new: alpha's version 1 would fail if run again */
  const srv_db_module *m2[] = {&alpha2, &beta};
  db = srv_db_open(f->target2, m2, 2, 2, err, sizeof err);
  assert_non_null(db);
  assert_int_equal(srv_db_module_version(db, "alpha"), 2);
  assert_int_equal(srv_db_module_version(db, "beta"), 1);
  assert_int_equal(srv_db_module_version(db, "never"), 0);
  /* the dialect's own text ran */
  assert_int_equal(count(db, is_pg(f) ? "SELECT COUNT(*) FROM made_by_pg"
                                      : "SELECT COUNT(*) FROM made_by_sqlite"), 0);
  srv_db_close(db);
}

static void a_database_newer_than_the_binary_is_refused(void **state) {
  fixture *f = *state;
  char err[512];
  srv_db_module alpha1 = {"alpha", ALPHA_V2, 1};
  const srv_db_module *m[] = {&alpha1};
  /* the previous test left alpha at version 2 */
  srv_db *db = srv_db_open(f->target2, m, 1, 2, err, sizeof err);
  assert_null(db);
  assert_non_null(strstr(err, "newer than this escrowd"));
}

static void a_failing_migration_is_reported_and_not_recorded(void **state) {
  fixture *f = *state;
  char err[512];
  srv_db_module broken = {"broken", BROKEN, 1};
  const srv_db_module *m[] = {&broken};
  assert_null(srv_db_open(f->target2, m, 1, 2, err, sizeof err));
  assert_non_null(strstr(err, "broken 1 failed"));
  srv_db *db = srv_db_open(f->target2, EMPTY_MODS, 1, 2, err, sizeof err);
  assert_non_null(db);
  assert_int_equal(srv_db_module_version(db, "broken"), 0);
  srv_db_close(db);
}

static void an_unreachable_postgresql_is_a_clear_error(void **state) {
  (void)state;
  char err[512];
  srv_db *db = srv_db_open("postgresql:///nodb?host=/nonexistent-escrowd-dir&password=s3cret",
                           EMPTY_MODS, 1, 2, err, sizeof err);
  assert_null(db);
  assert_non_null(strstr(err, "cannot connect to PostgreSQL"));
  assert_null(strstr(err, "s3cret"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(values_come_back_as_they_were_bound),
      cmocka_unit_test(a_missing_row_is_notfound),
      cmocka_unit_test(constraint_violations_are_conflicts),
      cmocka_unit_test(bad_sql_and_wrong_placeholders_are_store_errors),
      cmocka_unit_test(a_rolled_back_transaction_leaves_nothing),
      cmocka_unit_test(a_transaction_cannot_be_nested),
      cmocka_unit_test(readers_do_not_wait_for_an_open_write_transaction),
      cmocka_unit_test(concurrent_writers_lose_no_update),
      cmocka_unit_test(queue_claims_give_each_job_to_one_worker),
      cmocka_unit_test(migrations_run_once_per_module_in_order),
      cmocka_unit_test(a_database_newer_than_the_binary_is_refused),
      cmocka_unit_test(a_failing_migration_is_reported_and_not_recorded),
  };
  const struct CMUnitTest misc[] = {
      cmocka_unit_test(an_unreachable_postgresql_is_a_clear_error),
  };
  const char *pg = getenv("ESCROWD_PG");
  if (!pg || strcmp(pg, "1") != 0) {
    int r = cmocka_run_group_tests_name("sqlite", tests, setup_sqlite, teardown);
    return r | cmocka_run_group_tests_name("errors", misc, NULL, NULL);
  }
  /* PostgreSQL: the cluster of tools/pg-test-cluster.sh */
  const char *script = getenv("ESCROWD_PG_CLUSTER");
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "'%s' url 2>/dev/null", script ? script : "tools/pg-test-cluster.sh");
  FILE *p = popen(cmd, "r");
  int have = p && fgets(pg_base, sizeof pg_base, p) != NULL;
  if (p) pclose(p);
  pg_base[strcspn(pg_base, "\n")] = 0;
  if (!have || !*pg_base) {
    const char *req = getenv("ESCROWD_PG_REQUIRED");
    fprintf(stderr, "%s: no PostgreSQL test cluster is running (tools/pg-test-cluster.sh start)\n",
            req && !strcmp(req, "1") ? "FAIL" : "SKIP");
    return req && !strcmp(req, "1") ? 1 : 77;
  }
  return cmocka_run_group_tests_name("postgresql", tests, setup_pg, teardown);
}
