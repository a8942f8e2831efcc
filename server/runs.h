/*
 * escrowd: runs (DESIGN §9, manual §13.9-§14.10). Run configurations (a unique algorithm
 * version x dataset version), run requests, the data steward's review (initiate, reject with a
 * reason, cancel), the durable queue and the runner threads that launch escrow-enclave with the
 * sandbox backend (a SIMULATED TEE), results with per-role visibility, notifications and chat.
 *
 * The run tables live in the same database as the rest of escrowd (their own numbered
 * migrations, table runs_schema_migrations); each user of them (the request handlers, each
 * runner thread) holds its own connection, so a runner never waits for the request mutex while
 * it writes log lines.
 */
#ifndef ESCROWD_RUNS_H
#define ESCROWD_RUNS_H

#include <stddef.h>
#include <stdint.h>

#include "domain.h"

typedef struct srv_runs srv_runs;

typedef struct srv_runs_config {
  const char *enclave_bin;   /* escrow-enclave; NULL: found beside escrowd or on PATH */
  unsigned runners;          /* runner threads (0: no runner: runs stay queued) */
  int allow_simulated_tee;   /* --allow-simulated-tee: without it the sandbox does not run */
  const char *runner_name;   /* this process's runner id (default "escrowd-embedded") */
  const char *smtp_url;      /* smtp://host:port or smtps://...: e-mail notifications; NULL: none */
  const char *smtp_from;     /* the sender address (required with smtp_url) */
} srv_runs_config;

/* Open the run tables (migrating them) and start the runner threads. Runs a previous process
 * left In Progress under this runner name are failed with a reason first (none stays stuck).
 * 0, or -1 with a message in err. */
int srv_runs_start(srv_ctx *ctx, const srv_runs_config *cfg, char *err, size_t errsz);
/* Stop the runners (a run in flight is cancelled and recorded as Failed with the reason) and
 * close. Safe when start failed or was never called. */
void srv_runs_stop(srv_ctx *ctx);

/* Tell the runners where the enclave reaches this escrowd (called once it listens). */
void srv_runs_set_listen(srv_ctx *ctx, const char *host, unsigned port, int tls);

/* The enclave side of a run (authenticated by the run's bearer token, not a user):
 * key release: verify the attestation evidence (format "sim" today), evaluate the release
 * policy (package digest, project, run, role), check the single-use nonce and freshness, and
 * answer the role's KEK private key wrapped to the evidence's ephemeral key in a
 * Key-Vault-shaped JWS ({"value": JWS}); never a private key unwrapped. */
int runs_key_release(srv_ctx *ctx, const char *authorization, const char *run_id,
                     const char *role, const char *format, const char *evidence, srv_buf *out,
                     srv_err *err);
/* The role's WCEK for the run's enclave: {"wcek": base64}. */
int runs_enclave_wcek(srv_ctx *ctx, const char *authorization, const char *run_id,
                      const char *role, srv_buf *out, srv_err *err);

/* Open only the tables (admin commands, tests): no runner. */
int srv_runs_open(srv_ctx *ctx, char *err, size_t errsz);

/* The project's run permissions (the API sample's "permission for algorithm owner to initiate
 * runs"; whether data stewards see the report and model). */
int srv_runs_set_permissions(srv_ctx *ctx, const char *project_id, int ao_may_initiate,
                             int ds_sees_results, srv_buf *out, srv_err *err);

/* ---- operations behind the API (the caller is authenticated; JSON in out) ---------------- */
typedef struct srv_run_ref {
  const char *config_id;         /* run_configuration (id), or: */
  const char *algorithm_version; /* tag or id */
  const char *dataset_version;   /* tag or id */
  const char *run_number;        /* decimal; NULL: the newest run */
} srv_run_ref;

typedef struct srv_run_config_in {
  const char *name, *description, *run_type;
} srv_run_config_in;

typedef struct srv_run_request_in {
  const char *machine_type;     /* cpu-standard-<n> */
  const char *cpus, *memory;    /* algo_container_cpus, algo_container_memory (GiB) */
  const char *parameters;       /* JSON object of runtime parameters {"name":"value"} */
  const char *timeout;          /* run_timeout, minutes */
} srv_run_request_in;

int runs_create_config(srv_ctx *ctx, const srv_caller *c, const srv_run_ref *r,
                       const srv_run_config_in *in, srv_buf *out, srv_err *err);
int runs_list_configs(srv_ctx *ctx, const srv_caller *c, srv_buf *out, srv_err *err);
int runs_request(srv_ctx *ctx, const srv_caller *c, const srv_run_ref *r,
                 const srv_run_request_in *in, srv_buf *out, srv_err *err);
int runs_initiate(srv_ctx *ctx, const srv_caller *c, const srv_run_ref *r, srv_buf *out,
                  srv_err *err);
int runs_reject(srv_ctx *ctx, const srv_caller *c, const srv_run_ref *r, const char *reason,
                srv_buf *out, srv_err *err);
int runs_cancel(srv_ctx *ctx, const srv_caller *c, const srv_run_ref *r, srv_buf *out,
                srv_err *err);
int runs_status(srv_ctx *ctx, const srv_caller *c, const srv_run_ref *r, srv_buf *out,
                srv_err *err);
/* format "json" (default) or "csv" */
int runs_report(srv_ctx *ctx, const srv_caller *c, const srv_run_ref *r, const char *format,
                srv_buf *out, srv_err *err);
/* The AO's per-site view of one algorithm version: each dataset's newest completed report. */
int runs_reports_by_site(srv_ctx *ctx, const srv_caller *c, const char *algorithm_version,
                         srv_buf *out, srv_err *err);
int runs_logs(srv_ctx *ctx, const srv_caller *c, const srv_run_ref *r, srv_buf *out,
              srv_err *err);
int runs_model(srv_ctx *ctx, const srv_caller *c, const srv_run_ref *r, srv_buf *out,
               srv_err *err);
int runs_notifications(srv_ctx *ctx, const srv_caller *c, int mark_read, srv_buf *out,
                       srv_err *err);
int runs_chat_post(srv_ctx *ctx, const srv_caller *c, const char *message, srv_buf *out,
                   srv_err *err);
int runs_chat_list(srv_ctx *ctx, const srv_caller *c, srv_buf *out, srv_err *err);

/* The routes of this module (handlers in runs_http.c). */
#include "router.h"
extern const srv_route srv_runs_routes[];
extern const size_t srv_runs_nroutes;

#endif
