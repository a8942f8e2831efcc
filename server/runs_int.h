/* escrowd: runs internals shared by runs.c, runs_http.c, runner.c and store_runs.c. */
#ifndef ESCROWD_RUNS_INT_H
#define ESCROWD_RUNS_INT_H

#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>

#include "runs.h"

struct srv_runs {
  srv_ctx *ctx;
  sqlite3 *db; /* the handlers' connection: used under ctx->lock only */
  char db_path[PATH_MAX];
  char enclave[PATH_MAX];
  char runner_name[96];
  int allow_simulated_tee;
  pthread_t *threads;
  unsigned nthreads;
  pthread_mutex_t mu; /* guards stopping and wakes (the queue itself is in the database) */
  pthread_cond_t cv;
  int stopping;
  int have_sync;
};

/* ---- store_runs.c ----------------------------------------------------------------------- */
/* Open a connection to the data folder's database (WAL, busy timeout, foreign keys) and bring
 * the run tables to the newest migration. NULL on error (message in err). */
sqlite3 *runs_db_open(const char *path, char *err, size_t errsz);
int runs_db_exec(sqlite3 *db, const char *sql);
sqlite3_stmt *runs_db_prep(sqlite3 *db, const char *sql);
/* Bind each of the n texts (NULL binds null) from parameter 1 on. */
void runs_db_bind(sqlite3_stmt *st, int n, const char *const *texts);
/* malloc'd copy of column i (NULL when null or out of memory). */
char *runs_db_col(sqlite3_stmt *st, int i);
int runs_db_begin(sqlite3 *db);
int runs_db_commit(sqlite3 *db);
void runs_db_rollback(sqlite3 *db);
/* Append a log line to a run (next sequence number). */
int runs_db_log(sqlite3 *db, const char *run_id, const char *line);
/* Post a notification to an organisation's users in a project. */
int runs_db_notify(sqlite3 *db, const char *project_id, const char *org_id, const char *kind,
                   const char *message, const char *run_id);
/* Queue: claim the oldest initiated, unclaimed run for runner (id in *run_id, malloc'd).
 * 0 claimed, SRV_NOTFOUND nothing queued, SRV_STOREERR. */
int runs_db_claim(sqlite3 *db, const char *runner, char **run_id);
/* Fail every In Progress run claimed by runner (a previous process of the same name), and any
 * whose heartbeat is older than stale_s seconds; returns how many, or -1. */
int runs_db_recover(sqlite3 *db, const char *runner, int64_t stale_s);
int64_t runs_now(void);

/* ---- runner.c ---------------------------------------------------------------------------- */
int runs_runner_start(srv_runs *r, unsigned n, char *err, size_t errsz);
void runs_runner_stop(srv_runs *r);
void runs_runner_wake(srv_runs *r);

#endif
