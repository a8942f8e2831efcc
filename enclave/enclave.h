/*
 * escrow-enclave internals: the Dockerfile reader, the Enclave API server, the sandbox.
 * The program is the in-TEE agent; its "sandbox" backend is a SIMULATED TEE (bubblewrap,
 * cgroup v1 limits, a seccomp filter) and every output says so.
 */
#ifndef ESCROW_ENCLAVE_H
#define ESCROW_ENCLAVE_H
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <signal.h>
#include <escrow/escrow.h>

/* ---- Dockerfile (the last stage's WORKDIR, ENV, ENTRYPOINT/CMD, COPY destination) ---------- */
typedef struct enc_image {
  char *from;        /* base image as written, or NULL */
  char *workdir;     /* absolute; "/" when never set */
  char *copy_dest;   /* destination of the last `COPY . DEST` (absolute), or NULL */
  char **env;        /* "NAME=VALUE" */
  size_t n_env;
  char **entrypoint; /* exec form, or {"/bin/sh","-c",text} for the shell form */
  size_t n_entrypoint;
  int entrypoint_shell;
  char **cmd;
  size_t n_cmd;
  size_t run_lines;  /* RUN instructions (not executed by the sandbox backend) */
} enc_image;

/* Parse Dockerfile text. Returns 0, or -1 with a message in err (a line number and why). */
int enc_dockerfile_parse(const char *text, size_t len, enc_image *out, char *err, size_t errlen);
void enc_image_free(enc_image *img);
/* The argv Docker would run (ENTRYPOINT + CMD rules), NULL-terminated, in *argv (free with
 * enc_strv_free); -1 when the image runs nothing. */
int enc_image_argv(const enc_image *img, char ***argv, size_t *n);
void enc_strv_free(char **v, size_t n);

/* Runtime parameter names (manual 14.7.5): a letter, letters and digits, segments joined by
 * '_', '-' or '.'; names the runtime sets itself (PATH, ESCROW_*, LD_*, ...) are refused. */
int enc_param_name_ok(const char *name);

/* ---- logs.jsonl ------------------------------------------------------------------------------ */
typedef struct enc_log {
  pthread_mutex_t mu;
  int fd;
  size_t progress_lines;  /* algorithm progress lines accepted */
  size_t progress_dropped;
} enc_log;
#define ENC_PROGRESS_MAX_LINES 1000
#define ENC_PROGRESS_MAX_BYTES 1024
/* A platform line: {"time","source":"platform","stage","message","simulated_tee":true}. */
void enc_log_platform(enc_log *l, const char *stage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A progress line from the algorithm (capped in size and count). Returns 1 kept, 0 dropped. */
int enc_log_progress(enc_log *l, const char *message, size_t len, const char *status);

/* ---- the Enclave API ------------------------------------------------------------------------- */
typedef struct enc_api {
  /* configuration */
  escrow_blob_client *blob;  /* the run's dataset */
  const char *dataset_url;
  const escrow_cek *ds_cek;  /* may be NULL (plaintext dataset) */
  escrow_criteria *criteria; /* may be NULL: reports are not checked (pre-flight only) */
  const char *criteria_json; /* its text (field names of refused reports are checked on it) */
  escrow_manifest *manifest; /* may be NULL (a dataset without a manifest) */
  const char *plain_dir;     /* host-only folder for files being served */
  enc_log *log;
  /* state */
  pthread_mutex_t mu;
  char *report_json;          /* the last passing Completed report, as report.json */
  char *refused_errors;       /* the redacted errors of the last refused report */
  size_t reports_refused;
  size_t requests;
  unsigned long file_counter;
  double first_request_ms;    /* CLOCK_MONOTONIC time of the first request, in ms (0: none) */
  struct MHD_Daemon *daemon;
  const char *tls_cert_pem;   /* with tls_key_pem: serve HTTPS (NULL: plain HTTP) */
  const char *tls_key_pem;
} enc_api;

/* A per-run CA (P-256; its key is discarded after it signed one certificate) and a server
 * certificate for localhost/127.0.0.1 with its key, all PEM, malloc'd (wipe the key). 0 or -1. */
int enc_tls_make(char **ca_pem, char **cert_pem, char **key_pem);

/* Start serving on the listening unix socket fd (taken over). */
int enc_api_start(enc_api *api, int listen_fd);
void enc_api_stop(enc_api *api);

/* The errors of a refused report with every field name that the criteria do not contain (the
 * document's own keys, e.g. of an "unknown field") replaced by "<redacted field N>"; list
 * indexes are kept. malloc'd, or NULL. Exposed for tests. */
char *enc_redact_error_fields(const char *errors_json, const char *criteria_json);
#define ENC_REPORT_NAME_MAX 256

/* Decode json_data as the API receives it (an object, a JSON string, or base64 of JSON) into
 * the JSON text of the document (malloc'd). Returns 0 or -1. Exposed for tests. */
int enc_json_data_decode(const char *json_value, size_t len, char **doc);

/* ---- the sandbox ----------------------------------------------------------------------------- */
typedef struct enc_sandbox {
  const char *run_dir;     /* host folder holding etc/, api/, bin/ */
  const char *code_dir;    /* the extracted package */
  const char *code_dest;   /* where the code appears inside (e.g. /app) */
  const char *workdir;
  char **argv;             /* the entry point */
  char **env;              /* NAME=VALUE */
  size_t n_env;
  unsigned vcpus;
  unsigned memory_mib;
  unsigned scratch_mib;
  unsigned pids_max;
  unsigned timeout_s;
  const char *run_id;
  enc_log *log;
  /* results */
  int exit_code;           /* as a shell reports it (128+signal) */
  int timed_out;
  int cancelled;           /* SIGINT/SIGTERM/SIGHUP reached escrow-enclave */
  int oom_killed;
  uint64_t memory_peak;
  int cgroups_applied;
  int seccomp_applied;
  double started_ms;       /* CLOCK_MONOTONIC time bubblewrap was started, in ms */
} enc_sandbox;

int enc_sandbox_run(enc_sandbox *sb);
double enc_now_ms(void); /* CLOCK_MONOTONIC in ms */
/* Set by the signal handler of SIGINT, SIGTERM and SIGHUP: the run is cancelled. */
extern volatile sig_atomic_t enc_cancel_requested;

/* The in-sandbox side: relay 127.0.0.1:port to the unix socket, run argv, exit with its status.*/
int enc_sandbox_init_main(int argc, char **argv);

#endif
