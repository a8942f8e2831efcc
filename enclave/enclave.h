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

/* ---- the MLflow relay ------------------------------------------------------------------------- */
#define ENC_MLFLOW_MAX_LINES 10000     /* metric/param/tag lines relayed per run */
#define ENC_MLFLOW_MAX_KEY 250         /* bytes of a metric, param or tag key (MLflow's own limit) */
#define ENC_MLFLOW_MAX_VALUE 500       /* bytes of a param or tag value */
#define ENC_MLFLOW_MAX_EXPERIMENTS 100
#define ENC_MLFLOW_MAX_RUNS 1000
#define ENC_MLFLOW_MAX_BATCH 1000      /* metrics + params + tags in one log-batch */
/* An MLflow key: 1..250 bytes of letters, digits, '_', '-', '.', ' ', '/'. 1 ok, 0 not. */
int enc_mlflow_key_ok(const char *key);
/* A line {"time","source":"mlflow","stage":"Run","kind",...,"simulated_tee":true} with the
 * given JSON members (already encoded, starting with ','). Capped at ENC_MLFLOW_MAX_LINES per
 * run. 1 kept, 0 dropped. */
int enc_log_mlflow(enc_log *l, size_t *lines, size_t *dropped, const char *kind, const char *members);
struct MHD_Connection;
struct enc_api;
/* Answer an MLflow REST call (url under /api/2.0/mlflow/). Returns the MHD result (an int). */
int enc_mlflow_handle(struct enc_api *api, struct MHD_Connection *c, const char *url,
                      const char *method, const char *body);

/* helpers shared by api.c and mlflow.c */
char *enc_json_str(const char *s, size_t n);                          /* a JSON string, malloc'd */
int enc_reply(struct MHD_Connection *c, unsigned code, const char *json); /* an MHD result */

/* ---- the Enclave API ------------------------------------------------------------------------- */
typedef struct enc_api enc_api;
struct enc_api {
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
  /* training runs: POST /api/v1/report/artifact (multipart field artifact_file) */
  int training;               /* 0: the artifact endpoint refuses (validation runs) */
  const char *artifact_dir;   /* host-only folder receiving the artifacts */
  uint64_t artifact_cap;      /* bytes received over the run, all artifacts together */
  uint64_t artifact_bytes;
  unsigned long artifacts;    /* artifacts stored */
  /* the MLflow relay (/api/2.0/mlflow/...): lines relayed to logs.jsonl, experiments known */
  size_t mlflow_lines;
  size_t mlflow_dropped;
  char *mlflow_experiments[ENC_MLFLOW_MAX_EXPERIMENTS];
  size_t mlflow_n_experiments;
  char (*mlflow_run_ids)[33]; /* runs created (ENC_MLFLOW_MAX_RUNS at most) */
  size_t mlflow_runs;
};

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

/* Decode json_data as the API receives it into the JSON text of the document (malloc'd): a
 * JSON object; or a JSON string holding the JSON text of an object (it starts with '{'); or a
 * JSON string holding base64 (standard or URL-safe, padding optional) of the JSON text of an
 * object or of a string (the manual's 7.3.1.2.1 example: a string document, which only a run
 * without criteria accepts). Returns 0, or -1 for anything else. Exposed for tests. */
int enc_json_data_decode(const char *json_value, size_t len, char **doc);

/* The uploadDate of a listed file, ISO 8601 as the manual shows it (2023-12-08T21:30:58.830Z):
 * from a blob's Last-Modified (RFC 1123: "Fri, 08 Dec 2023 21:30:58 GMT"), or, when that is
 * NULL, from the modification time of the file at path. 0, or -1 (not RFC 1123, no such file,
 * outlen too small). Exposed for tests. */
int enc_upload_date(const char *last_modified, const char *path, char *out, size_t outlen);

/* The name an uploaded artifact gets in model.zip (under artifacts/): the upload's base name,
 * bytes other than letters, digits, '.', '_' and '-' replaced by '_', leading dots dropped, at
 * most 128 bytes; "artifact" when nothing is left. Exposed for tests. */
void enc_artifact_name(const char *filename, char *out, size_t outlen);

/* ---- training output ------------------------------------------------------------------------- */
/* Zip the regular files under output_fd (a directory descriptor, or -1) as output/<path> and
 * those of artifact_dir (or NULL) as artifacts/<name>, staging plaintext in stage_dir (created,
 * and removed whatever happens), and encrypt the zip (BKENC v1, context role "ao", path
 * "model.zip") to ao_cek at out_path. Links, devices and FIFOs are left out. *n_files: the
 * files packed (0: nothing was written). 0, or -1 with a reason in why. */
int enc_model_package(int output_fd, const char *artifact_dir, const char *stage_dir,
                      const escrow_cek *ao_cek, const char *out_path, size_t *n_files, char *why,
                      size_t whylen);

/* ---- the run certificate ----------------------------------------------------------------------- */
#define ENC_CERT_FORMAT "escrow-run-certificate/1"
typedef struct enc_run_key {
  unsigned char *sk;     /* Ed25519 private key, libsodium secure memory */
  unsigned char pk[32];
} enc_run_key;
int enc_run_key_new(enc_run_key *k);   /* 0 or -1 */
void enc_run_key_free(enc_run_key *k); /* wipes the private key */
void enc_run_key_public_b64(const enc_run_key *k, char out[64]);
/* The canonical serialisation (docs/ENCLAVE.md): members sorted by key bytes, no whitespace,
 * integers only, strings as yajl writes them. malloc'd, or NULL (not JSON, a duplicate member,
 * a non-integer number). */
char *enc_canonical_json(const char *json);
/* Sign body (a JSON object without "signature"): *out is its canonical text with
 * "signature":"<base64 Ed25519 of that canonical text>" as last member and a newline. 0 or -1. */
int enc_cert_sign(const enc_run_key *k, const char *body, char **out);
/* Verify a certificate, and with outdir the SHA-256 of each output it names (and that every
 * output a run writes, present in outdir, is named). *answer: {"valid","signature",
 * "outputs_checked","errors":[...]} (malloc'd). Returns 0 valid, 1 not. */
int enc_cert_verify(const char *cert_json, const char *outdir, char **answer);

/* ---- a run ------------------------------------------------------------------------------------ */
/* Everything a run needs, loaded by the caller (borrowed for the call). */
typedef struct enc_run_config {
  const char *package;        /* an algorithm zip, or a plaintext folder (package_is_dir) */
  int package_is_dir;
  const char *dataset_url;    /* file://, a SAS URL, or http:// on a loopback host */
  const escrow_cek *ao_cek;   /* decrypts the package's secrets; encrypts a training model */
  const escrow_cek *ds_cek;   /* the dataset's CEK, or NULL for a plaintext dataset */
  escrow_criteria *criteria;  /* NULL: reports are not checked (pre-flight only) */
  const char *criteria_text;  /* its JSON text (hashed in the certificate), or NULL */
  int training;               /* --type training (needs ao_cek) */
  char *const *params;        /* NAME=VALUE, names already checked with escrow_runtime_param_name_ok */
  size_t n_params;
  unsigned vcpus, memory_mib, timeout_s;
  const char *out;            /* OUTDIR, existing */
  const char *project_id;     /* ESCROW_PROJECT_ID; NULL: "preflight" */
  const char *run_config_id;  /* ESCROW_RUN_CONFIG_ID; NULL: "preflight" */
  const char *run_id;         /* 1-39 of [A-Za-z0-9-]; NULL: 32 random hex digits */
  const char *sdk_dir;        /* the EnclaveSDK package folder; NULL: enc_sdk_default_dir() */
} enc_run_config;
/* Run the pipeline: package, dataset, Enclave API, sandbox, egress, outputs and the signed
 * certificate in cfg->out, then teardown. 0 completed, 1 failed, 2 an output not written. */
int enc_run(const enc_run_config *cfg);

/* `escrow-enclave platform --bundle FILE`: the run as escrowd's runner launches it, with the
 * CEKs obtained by attested key release (platform.c). Exit status as `run`. */
int enc_platform_main(int argc, char **argv);

/* ---- EnclaveSDK shipped into the run (sdk.c) ---------------------------------------------------- */
#define ENC_SDK_MOUNT "/run/escrow-sdk" /* holds EnclaveSDK/; appended to PYTHONPATH */
/* The SDK folder a run uses without --sdk-dir: the source tree's bindings/python/src/EnclaveSDK
 * for a binary running from its build tree, else the installed copy (DATADIR/escrow/EnclaveSDK). */
const char *enc_sdk_default_dir(void);
/* Copy the *.py files of the EnclaveSDK package folder sdk_dir (it must hold __init__.py;
 * __pycache__, hidden entries and links are left out; at most 256 files, 16 MiB) to
 * dst/EnclaveSDK, dst being created. *n_files: the files copied. 0, or -1 with why. */
int enc_sdk_stage(const char *sdk_dir, const char *dst, size_t *n_files, char *why, size_t whylen);
/* Append ENC_SDK_MOUNT to the PYTHONPATH=... entry of env (the image's), or add one at
 * env[*n_env] (the array must have room for it). 0, or -1 out of memory. */
int enc_sdk_pythonpath(char **env, size_t *n_env);

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
  unsigned output_mib;     /* > 0: a writable tmpfs of this size at ENC_OUTPUT_DIR (training) */
  const char *sdk_dir;     /* or NULL: a folder holding EnclaveSDK/, bound read-only at ENC_SDK_MOUNT */
  /* called with the Enclave API's listening socket (in the sandbox's network namespace) once
   * sandbox-init hands it over; takes the descriptor; 0 or -1 */
  int (*on_listen)(void *arg, int listen_fd);
  void *on_listen_arg;
  /* results */
  int output_fd;           /* with output_mib: a directory fd on that tmpfs after the run, or -1 */
  int exit_code;           /* as a shell reports it (128+signal) */
  int timed_out;
  int cancelled;           /* SIGINT/SIGTERM/SIGHUP reached escrow-enclave */
  int oom_killed;
  uint64_t memory_peak;
  int cgroups_applied;
  int seccomp_applied;
  double started_ms;       /* CLOCK_MONOTONIC time bubblewrap was started, in ms */
} enc_sandbox;

#define ENC_OUTPUT_DIR "/output" /* ESCROW_OUTPUT_DIR inside the sandbox (training runs) */
/* Run the entry point in the sandbox; fills the results. 0, or -1 when it could not start. */
int enc_sandbox_run(enc_sandbox *sb);
double enc_now_ms(void); /* CLOCK_MONOTONIC in ms */
/* Set by the signal handler of SIGINT, SIGTERM and SIGHUP: the run is cancelled. */
extern volatile sig_atomic_t enc_cancel_requested;

/* The in-sandbox side: listen on 127.0.0.1:port, hand that socket (and the output folder) to the
 * host over the control socket, then exec argv. */
int enc_sandbox_init_main(int argc, char **argv);

#endif
