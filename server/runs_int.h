/* escrowd: runs internals shared by runs.c, runs_http.c, runner.c and store_runs.c. */
#ifndef ESCROWD_RUNS_INT_H
#define ESCROWD_RUNS_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdint.h>

#include <escrow/attest.h>

#include <string.h>
#include <yajl/yajl_tree.h>

#include "db.h"
#include "form.h"
#include "runs.h"

struct srv_runs {
  srv_ctx *ctx;
  srv_db *db; /* the store's database (thread-safe pool) */
  char enclave[PATH_MAX];
  char runner_name[96];
  int allow_simulated_tee;
  pthread_t *threads;
  unsigned nthreads;
  pthread_mutex_t mu; /* guards stopping and wakes (the queue itself is in the database) */
  pthread_cond_t cv;
  int stopping;
  char smtp_url[512], smtp_from[256]; /* e-mail for notifications (empty: none) */
  char base_url[160]; /* where the enclave reaches this escrowd (set once listening; mu) */
  /* attested key release (DESIGN §9): the SIMULATED attestation issuer whose key the sandbox
   * enclave signs its evidence with, the platform's release-signing key, the trust store */
  escrow_attest_signer *issuer, *release;
  escrow_attest_trust *trust;
  char issuer_url[200];
  unsigned char *issuer_pem; /* secret memory (escrow_secret_free) */
  size_t issuer_pem_len;
  char *release_pub_pem;
};

/* ---- store_runs.c ------------------------------------------------------------------------- */
extern const srv_db_module srv_store_runs_module;

/* A query's rows copied into memory (columns as text and integer; blob columns by mask). */
typedef struct rq_cell {
  char *s;
  size_t len;
  int64_t i;
  int null;
} rq_cell;
typedef struct rq {
  size_t nrow, ncol;
  rq_cell *c;
} rq;
int rq_run(srv_db *db, const char *sql, const srv_db_param *p, size_t np, int ncol,
           unsigned blob_mask, rq *out);
void rq_free(rq *q);
const char *rq_s(const rq *q, size_t row, int col); /* NULL for SQL NULL */
int64_t rq_i(const rq *q, size_t row, int col);
char *rq_dup(const rq *q, size_t row, int col);
/* A statement without rows on the calling thread's connection (joins its transaction). */
int rx(srv_db *db, const char *sql, const srv_db_param *p, size_t np, int64_t *changes);

int runs_db_log(srv_db *db, const char *run_id, const char *line);
int runs_db_notify(srv_db *db, const char *project_id, const char *org_id, const char *kind,
                   const char *message, const char *run_id);
/* Claim the oldest initiated, unclaimed run for runner (*run_id malloc'd): 0, SRV_NOTFOUND
 * (nothing queued) or SRV_STOREERR. FOR UPDATE SKIP LOCKED on PostgreSQL. */
int runs_db_claim(srv_db *db, const char *runner, char **run_id);
/* Fail every In Progress run claimed by runner (a previous process of the same name) and any
 * whose heartbeat is older than stale_s seconds; returns how many, or -1. */
int runs_db_recover(srv_db *db, const char *runner, int64_t stale_s);
int64_t runs_now(void);

/* ---- runner.c ------------------------------------------------------------------------------ */
int runs_runner_start(srv_runs *r, unsigned n, char *err, size_t errsz);
void runs_runner_stop(srv_runs *r);
void runs_runner_wake(srv_runs *r);

/* yajl_tree_parse for the runs module: NULL for text nested deeper than max_depth (yajl builds
 * and frees its tree recursively, so deep nesting would exhaust the stack). For texts from
 * the store and the enclave (SRV_RUNS_STORED_JSON_DEPTH); request texts are checked against
 * SRV_JSON_MAX_DEPTH where they are read, with their own answer. */
#define SRV_RUNS_STORED_JSON_DEPTH 512
static inline yajl_val srv_runs_json_parse(const char *text, unsigned max_depth, char *ebuf,
                                           size_t ebufsz) {
  if (!text || !srv_json_depth_ok(text, strlen(text), max_depth)) {
    if (ebuf && ebufsz) {
      strncpy(ebuf, "nested too deep", ebufsz - 1);
      ebuf[ebufsz - 1] = '\0';
    }
    return NULL;
  }
  return yajl_tree_parse(text, ebuf, ebufsz);
}

#endif
