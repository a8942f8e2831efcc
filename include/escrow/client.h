/*
 * libescrow client: typed clients for the two HTTP APIs of an EscrowAI deployment.
 *
 * - The Platform API (DESIGN §8, docs/openapi.yaml): what an algorithm owner's or a data
 *   steward's scripts call, as BeeKeeperAI's published API sample does. The client makes the
 *   sample's bearer tokens itself: RS256 JWTs signed with the user's private key, claims
 *   iss "EscrowAI-API", aud (the configured audience), sub (the project id), user (the login
 *   e-mail) and a short exp. Bodies are multipart/form-data with the file in the field
 *   "file_name"; paths end with a slash.
 * - The Enclave API (DESIGN §7): what an algorithm inside the TEE calls at ENCLAVE_URL (list
 *   the dataset's files, stream one decrypted, post progress lines, validate and post reports,
 *   post an artifact).
 *
 * Transport: libcurl. https:// everywhere, TLS verification always on (a CA file can replace
 * the system's store); http:// only to a loopback host (127.0.0.0/8, [::1], localhost: a local
 * escrowd behind no proxy, or tests). No proxy from the environment is used for loopback hosts.
 * Redirects are not followed.
 *
 * Errors: every call returns 0 or a negative ESCROW_E_* code; escrow_error_last() then says
 * what failed: for an answer other than 2xx, "<METHOD> <path>: HTTP <status>: <the server's
 * error message>". The HTTP status maps to the code: 400 ESCROW_E_INVALID, 401 and 403
 * ESCROW_E_AUTH, 404 ESCROW_E_NOTFOUND, 409 ESCROW_E_STATE, 413 ESCROW_E_LIMIT, 422
 * ESCROW_E_CHECK, anything else (5xx, a network failure, a timeout) ESCROW_E_IO. An answer that
 * is not the JSON document the endpoint documents is ESCROW_E_FORMAT. The last answer's status
 * and body stay readable on the handle (escrow_client_last_status, escrow_client_last_body).
 * Messages never hold a token, a private key, a SAS token or a file's content.
 *
 * Threading: a handle is used by one thread at a time; separate handles work concurrently.
 *
 * Results: each call that returns data fills a result struct the caller frees with its
 * *_free function (NULL is a no-op). Every string in a result is owned by the result,
 * NUL-terminated UTF-8, and NULL when the answer did not carry the field. Each result also
 * keeps the whole answer as JSON text (`json`), for fields this version does not type.
 */
#ifndef ESCROW_CLIENT_H
#define ESCROW_CLIENT_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- options ------------------------------------------------------------------------------- */

#define ESCROW_CLIENT_OPTIONS_VERSION 1
typedef struct escrow_client_options {
  unsigned int version;           /* ESCROW_CLIENT_OPTIONS_VERSION */
  const char *ca_file;            /* a PEM bundle to trust instead of the system's, or NULL */
  const char *audience;           /* JWT aud; NULL means "frontoffice.beekeeperai" */
  unsigned int token_lifetime_s;  /* JWT exp - now; 0 means 300 (the sample's 5 minutes) */
  unsigned int connect_timeout_s; /* 0 means 30 */
  unsigned int timeout_s;         /* whole-request limit for calls that carry no file; 0 means
                                     120 */
  unsigned int stall_timeout_s;   /* abort a transfer (file upload or download) that moves no
                                     byte for this long; 0 means 60 */
  const char *user_agent;         /* NULL means "libescrow/<version>" */
} escrow_client_options;
#define ESCROW_CLIENT_OPTIONS_INIT {ESCROW_CLIENT_OPTIONS_VERSION, NULL, NULL, 0, 0, 0, 0, NULL}

/* ================================================================================================
 * Platform API
 * ============================================================================================== */

typedef struct escrow_client escrow_client;

/*
 * Open a Platform API client.
 * base_url: the API root as the sample's BASE_URL, e.g. "https://host/api/v1" (a URL with no
 *   path gets "/api/v1"); https://, or http:// to a loopback host.
 * key_pem/key_len: the user's RSA private key (PEM: PKCS#8 or PKCS#1, unencrypted; or base64 of
 *   that PEM, as EscrowAICI's PROJECT_PRIVATE_KEY holds it), 2048 bits or more. The key is
 *   parsed into the handle; the caller's buffer is not kept.
 * email: the user's login e-mail (the JWT's user claim). project_id: the project (sub).
 * opts may be NULL. Errors: ESCROW_E_INVALID (a NULL or empty argument, a URL that is not
 * https:// or loopback http://), ESCROW_E_KEY (not an RSA private key, under 2048 bits),
 * ESCROW_E_NOMEM, ESCROW_E_IO (libcurl could not start).
 */
ESCROW_EXTERN int escrow_client_open(escrow_client **out, const char *base_url,
                                     const char *key_pem, size_t key_len, const char *email,
                                     const char *project_id,
                                     const escrow_client_options *opts) ESCROW_WARN_UNUSED;

/* Free a client (NULL is a no-op); the private key is wiped. */
ESCROW_EXTERN void escrow_client_close(escrow_client *c);

/* The HTTP status of the client's last answer (0 if none arrived: a network failure). */
ESCROW_EXTERN long escrow_client_last_status(const escrow_client *c);

/* The body of the client's last answer other than 2xx (the server's JSON error document, e.g.
 * with "schema_errors"), or "" if none. Owned by the handle; valid until its next call. */
ESCROW_EXTERN const char *escrow_client_last_body(const escrow_client *c);

/* Make a bearer token as the client sends it (for scripts that call other endpoints
 * themselves). *out is freed with escrow_free. Errors: ESCROW_E_CRYPTO, ESCROW_E_NOMEM. */
ESCROW_EXTERN int escrow_client_token(escrow_client *c, char **out) ESCROW_WARN_UNUSED;

/* ---- results --------------------------------------------------------------------------------- */

/* GET /key-encryption-key-download/: the caller's party's KEK public key. */
typedef struct escrow_api_kek {
  char *key_content; /* the public key as the platform stores it (PEM text; "key content") */
  char *file_name;   /* the name to save it under ("<project><random>-ao.der") */
  char *role;        /* "ao" or "ds" */
  char *project_id;
  char *json;
} escrow_api_kek;
ESCROW_EXTERN void escrow_api_kek_free(escrow_api_kek *k);

/* One artifact version (WCEK, criteria, specification, attestation, dataset, algorithm). */
typedef struct escrow_api_artifact {
  char *id;
  char *project_id;
  char *artifact_type; /* "wcek", "validation_criteria", "data_specification",
                          "data_attestation", "dataset", "algorithm" */
  char *role;          /* the uploading party's role: "ao" or "ds" */
  char *name;
  char *description;
  char *version_tag;
  char *version_description;
  char *sha256;        /* of the uploaded file (hex), or NULL (dataset) */
  char *file_name;
  int64_t system_version; /* the platform's own version counter, or -1 */
  int64_t created_at;     /* Unix seconds, or -1 */
  char *details;       /* the type's details as JSON text (e.g. the upload stages), or NULL */
  char *json;          /* this version as JSON text */
} escrow_api_artifact;
ESCROW_EXTERN void escrow_api_artifact_free(escrow_api_artifact *a);

/* The project's artifact versions the caller may see (GET /artifact/). */
typedef struct escrow_api_versions {
  char *project_id;
  char *project_name;
  char *project_state;
  char *role;             /* the caller's role in the project */
  int simulated_tee;      /* 1 when the project's TEE is the simulated sandbox, 0 not, -1 unknown */
  size_t count;
  escrow_api_artifact *items; /* count items; owned by the list */
  char *json;
} escrow_api_versions;
ESCROW_EXTERN void escrow_api_versions_free(escrow_api_versions *v);

/* A run's state as the run endpoints answer (run-request, initiate-run, run-reject,
 * run-cancel, run-status). */
typedef struct escrow_api_run {
  char *status;          /* "Pending", "Run Requested", "In Progress", "Completed", "Failed",
                            "Rejected", "Cancelled" */
  char *stage;           /* "Run Initiated", "Runtime Build", "Workload Launch", "Run", or NULL */
  int64_t run_number;    /* or -1 */
  int simulated_tee;     /* 1 when the run's TEE is simulated, 0 not, -1 not said */
  char *reason;          /* a rejection or failure reason, or NULL */
  char *json;
} escrow_api_run;
ESCROW_EXTERN void escrow_api_run_free(escrow_api_run *r);

/* Any other JSON answer (criteria acceptance, run configuration, notifications, ...). */
typedef struct escrow_api_answer {
  long http_status;
  char *json;
} escrow_api_answer;
ESCROW_EXTERN void escrow_api_answer_free(escrow_api_answer *a);

/* GET /report-download/. */
typedef struct escrow_api_report {
  char *report_content; /* the report as the platform returns it ("report content") */
  size_t report_len;
  char *json;
} escrow_api_report;
ESCROW_EXTERN void escrow_api_report_free(escrow_api_report *r);

/* ---- requests -------------------------------------------------------------------------------- */

/* The version fields every artifact upload carries (name and version_tag required). */
typedef struct escrow_api_version_fields {
  const char *name;
  const char *description;         /* NULL: "" */
  const char *version_tag;
  const char *version_description; /* NULL: "" */
} escrow_api_version_fields;

/* Which document POST carries a file. */
typedef enum escrow_api_upload_kind {
  ESCROW_API_WCEK = 1,                /* /wrapped-content-encryption-key/ */
  ESCROW_API_VALIDATION_CRITERIA = 2, /* /validation-criteria/ */
  ESCROW_API_DATA_SPECIFICATION = 3,  /* /data-specification/ */
  ESCROW_API_DATA_ATTESTATION = 4,    /* /data-attestation/ */
  ESCROW_API_ALGORITHM = 5            /* /algorithm/ (use escrow_client_upload_algorithm) */
} escrow_api_upload_kind;

/* The algorithm upload's own fields. */
typedef struct escrow_api_algorithm_fields {
  const char *algorithm_type;              /* "validation" or "training" */
  const char *validation_criteria_version; /* tag; required for validation */
  const char *data_attestation_version;    /* tag */
  const char *upload_type;                 /* NULL: "Upload Zip" */
  const char *upload_file_name;            /* NULL: the file's base name */
} escrow_api_algorithm_fields;

/* The dataset registration's fields (no file: the data stays in the DS's storage). */
typedef struct escrow_api_dataset_fields {
  const char *dataset_uri;                /* the container SAS URL (a bearer secret: never
                                             reported in a message) */
  const char *data_specification_version; /* tag */
  const char *data_attestation_version;   /* tag */
  const char *tags;                       /* or NULL */
} escrow_api_dataset_fields;

/* A run named as the API names it: by the two versions' tags (+ the run's number). */
typedef struct escrow_api_run_ref {
  const char *algorithm_version;
  const char *dataset_version;
  int64_t run_number; /* 0 or less: the latest run (not sent) */
} escrow_api_run_ref;

/* GET /key-encryption-key-download/ (query project_id). */
ESCROW_EXTERN int escrow_client_kek_download(escrow_client *c,
                                             escrow_api_kek **out) ESCROW_WARN_UNUSED;

/* POST a document (kind) read from path, streamed from the file (bounded memory) in the field
 * file_name under the file's base name. progress (may be NULL) gets bytes sent and the total.
 * Errors: ESCROW_E_NOTFOUND/ESCROW_E_IO (the file), ESCROW_E_INVALID (kind, missing fields),
 * the HTTP family above. *out (may be NULL if not wanted) gets the new version. */
ESCROW_EXTERN int escrow_client_upload(escrow_client *c, escrow_api_upload_kind kind,
                                       const escrow_api_version_fields *v, const char *path,
                                       escrow_progress_cb progress, void *progress_payload,
                                       escrow_api_artifact **out) ESCROW_WARN_UNUSED;

/* POST /algorithm/: the encrypted algorithm zip at path, streamed, with progress. */
ESCROW_EXTERN int escrow_client_upload_algorithm(escrow_client *c,
                                                 const escrow_api_version_fields *v,
                                                 const escrow_api_algorithm_fields *a,
                                                 const char *path, escrow_progress_cb progress,
                                                 void *progress_payload,
                                                 escrow_api_artifact **out) ESCROW_WARN_UNUSED;

/* POST /dataset/. */
ESCROW_EXTERN int escrow_client_dataset(escrow_client *c, const escrow_api_version_fields *v,
                                        const escrow_api_dataset_fields *d,
                                        escrow_api_artifact **out) ESCROW_WARN_UNUSED;

/* POST /validation-criteria-accept/ (a DS accepts a criteria version by tag). */
ESCROW_EXTERN int escrow_client_accept_criteria(escrow_client *c, const char *version_tag,
                                                escrow_api_answer **out) ESCROW_WARN_UNUSED;

/* GET /artifact/ (artifact_type: one of the kinds' names above, or NULL for all). */
ESCROW_EXTERN int escrow_client_versions(escrow_client *c, const char *artifact_type,
                                         escrow_api_versions **out) ESCROW_WARN_UNUSED;

/* POST /run-configuration/: name, the two tags, description (may be NULL), run_type (may be
 * NULL: "validation"). */
ESCROW_EXTERN int escrow_client_run_configuration(escrow_client *c, const char *name,
                                                  const escrow_api_run_ref *run,
                                                  const char *description,
                                                  const char *run_type,
                                                  escrow_api_answer **out) ESCROW_WARN_UNUSED;

/* POST /run-request/: machine_type ("cpu-standard-<vCPUs>"); params: n_params "NAME=VALUE"
 * runtime parameters (sent as the JSON object runtime_parameters), may be NULL. */
ESCROW_EXTERN int escrow_client_run_request(escrow_client *c, const escrow_api_run_ref *run,
                                            const char *machine_type,
                                            const char *const *params, size_t n_params,
                                            escrow_api_run **out) ESCROW_WARN_UNUSED;

/* GET /initiate-run/ (the sample's state-changing GET, query parameters). */
ESCROW_EXTERN int escrow_client_initiate_run(escrow_client *c, const escrow_api_run_ref *run,
                                             escrow_api_run **out) ESCROW_WARN_UNUSED;

/* POST /run-reject/ with reason (required). */
ESCROW_EXTERN int escrow_client_run_reject(escrow_client *c, const escrow_api_run_ref *run,
                                           const char *reason,
                                           escrow_api_run **out) ESCROW_WARN_UNUSED;

/* POST /run-cancel/. */
ESCROW_EXTERN int escrow_client_run_cancel(escrow_client *c, const escrow_api_run_ref *run,
                                           escrow_api_run **out) ESCROW_WARN_UNUSED;

/* GET /run-status/. */
ESCROW_EXTERN int escrow_client_run_status(escrow_client *c, const escrow_api_run_ref *run,
                                           escrow_api_run **out) ESCROW_WARN_UNUSED;

/* GET /report-download/. */
ESCROW_EXTERN int escrow_client_report_download(escrow_client *c, const escrow_api_run_ref *run,
                                                escrow_api_report **out) ESCROW_WARN_UNUSED;

/* Which run output escrow_client_download fetches. */
typedef enum escrow_api_output {
  ESCROW_API_REPORT = 1, /* /report-download/: the "report content" text */
  ESCROW_API_MODEL = 2,  /* /model-download/: the model (training; BKENC, encrypted to the AO's
                            CEK), decoded from the answer's base64 "model content" */
  ESCROW_API_LOG = 3     /* /log-download/: the JSON answer as sent */
} escrow_api_output;

/* GET a run output and write its content to out_path atomically (a temporary file renamed on
 * success; nothing left on failure), with download progress. An answer that is not a JSON
 * object is written as sent. The answer is held in memory (at most 64 MiB). */
ESCROW_EXTERN int escrow_client_download(escrow_client *c, escrow_api_output which,
                                         const escrow_api_run_ref *run, const char *out_path,
                                         escrow_progress_cb progress,
                                         void *progress_payload) ESCROW_WARN_UNUSED;

/* GET /notifications/ (the caller's, as JSON). */
ESCROW_EXTERN int escrow_client_notifications(escrow_client *c,
                                              escrow_api_answer **out) ESCROW_WARN_UNUSED;

/* Any other endpoint in the same style: method "GET" or "POST", path relative to the base
 * ("chat/"), fields: n_fields name/value pairs (names[i], values[i]) sent as the query (GET)
 * or a multipart body (POST); project_id is added. The answer must be JSON. */
ESCROW_EXTERN int escrow_client_call(escrow_client *c, const char *method, const char *path,
                                     const char *const *names, const char *const *values,
                                     size_t n_fields,
                                     escrow_api_answer **out) ESCROW_WARN_UNUSED;

/* ================================================================================================
 * Enclave API
 * ============================================================================================== */

typedef struct escrow_enclave escrow_enclave;

/*
 * Open an Enclave API client. base_url NULL means the environment's ENCLAVE_URL, else
 * ESCROW_RUNTIME_LOCATION, else "https://localhost:5000". opts may be NULL; with no ca_file the
 * environment's SSL_CERT_FILE or CURL_CA_BUNDLE is trusted if set (the runtime sets them to its
 * per-run CA), else the system's store. Errors: ESCROW_E_INVALID, ESCROW_E_NOMEM, ESCROW_E_IO.
 */
ESCROW_EXTERN int escrow_enclave_open(escrow_enclave **out, const char *base_url,
                                      const escrow_client_options *opts) ESCROW_WARN_UNUSED;
ESCROW_EXTERN void escrow_enclave_close(escrow_enclave *e);
/* As escrow_client_last_status / escrow_client_last_body. */
ESCROW_EXTERN long escrow_enclave_last_status(const escrow_enclave *e);
ESCROW_EXTERN const char *escrow_enclave_last_body(const escrow_enclave *e);

typedef struct escrow_enclave_file {
  char *id;
  char *name;        /* the blob name as stored ('/'-separated, ".bkenc" kept) */
  int64_t size;      /* or -1 */
  char *upload_date; /* as the service sent it, or NULL */
} escrow_enclave_file;

typedef struct escrow_enclave_files {
  size_t count;
  escrow_enclave_file *items;
  int64_t total_files; /* the answer's totalFiles, or -1 */
  char *json;
} escrow_enclave_files;
ESCROW_EXTERN void escrow_enclave_files_free(escrow_enclave_files *f);

/* GET /api/v1/data/files; sas_url (may be NULL) is sent base64-encoded as SASUrl. */
ESCROW_EXTERN int escrow_enclave_list(escrow_enclave *e, const char *sas_url,
                                      escrow_enclave_files **out) ESCROW_WARN_UNUSED;

/* Receives a file's bytes in order. Return 0, or a negative ESCROW_E_* code to stop (the get
 * returns it). */
typedef int (*escrow_enclave_write_fn)(void *payload, const uint8_t *data, size_t len);

/* GET /api/v1/data/file?filepath=NAME from offset (0: the whole file; more: a Range request)
 * to write, streamed (memory: one receive buffer). progress (may be NULL) gets bytes done and
 * the total when the answer says it. A transfer the server cuts short is ESCROW_E_TRUNCATED
 * (the receiver must discard what it got, or resume from offset + the bytes it has).
 * With an offset, only a 206 answer whose Content-Range starts at offset is passed on:
 * ESCROW_E_UNSUPPORTED when the server ignored the Range (any other status), ESCROW_E_MISMATCH
 * when its partial answer starts elsewhere or does not say where.
 * Errors: ESCROW_E_NOTFOUND (404: no such file), the HTTP family, write's code. */
ESCROW_EXTERN int escrow_enclave_get(escrow_enclave *e, const char *name, uint64_t offset,
                                     escrow_enclave_write_fn write, void *payload,
                                     escrow_progress_cb progress,
                                     void *progress_payload) ESCROW_WARN_UNUSED;

/* Download a file to out_path atomically (nothing left on failure). */
ESCROW_EXTERN int escrow_enclave_get_file(escrow_enclave *e, const char *name,
                                          const char *out_path, escrow_progress_cb progress,
                                          void *progress_payload) ESCROW_WARN_UNUSED;

/* POST /api/v1/log {message, status} (status may be NULL: "Progress"). */
ESCROW_EXTERN int escrow_enclave_log(escrow_enclave *e, const char *message,
                                     const char *status) ESCROW_WARN_UNUSED;

/* A report for /api/v1/validate and /api/v1/report. */
typedef struct escrow_enclave_report_in {
  const char *name;              /* required */
  const char *status;            /* required: "Completed", "Failed", ... */
  const char *json_data;         /* the report document as JSON text (sent as a JSON value) */
  const char *project;           /* optional fields, NULL: not sent */
  const char *run;
  const char *run_configuration;
} escrow_enclave_report_in;

/* The criteria's verdict: {"status":"successful"|"failed","message":{...}}. */
typedef struct escrow_enclave_verdict {
  int valid;          /* 1 when status is "successful" */
  char *status;
  char *message;      /* the message (Cerberus errors) as JSON text */
  long http_status;   /* 200 or 400 */
  char *json;
} escrow_enclave_verdict;
ESCROW_EXTERN void escrow_enclave_verdict_free(escrow_enclave_verdict *v);

/* POST /api/v1/validate (dry run) or /api/v1/report (the final report: only one that passes
 * the approved criteria leaves the TEE). A refusal by the criteria is an answer, not an error:
 * the call returns 0 with valid = 0. json_data must be a JSON document (ESCROW_E_FORMAT if not).
 */
ESCROW_EXTERN int escrow_enclave_validate(escrow_enclave *e, const escrow_enclave_report_in *r,
                                          escrow_enclave_verdict **out) ESCROW_WARN_UNUSED;
ESCROW_EXTERN int escrow_enclave_report(escrow_enclave *e, const escrow_enclave_report_in *r,
                                        escrow_enclave_verdict **out) ESCROW_WARN_UNUSED;

/* POST /api/v1/report/artifact: the file at path in the multipart field artifact_file, under
 * file_name (NULL: its base name), streamed. out (may be NULL) gets the JSON answer. */
ESCROW_EXTERN int escrow_enclave_artifact(escrow_enclave *e, const char *path,
                                          const char *file_name, escrow_progress_cb progress,
                                          void *progress_payload,
                                          escrow_api_answer **out) ESCROW_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif
