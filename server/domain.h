/*
 * escrowd: the domain layer. Workflow rules live here (who may upload what, the prerequisites
 * of each upload, versions), on top of the store and the vault; handlers only parse and call.
 * Each operation returns 0 and a JSON document in out, or an SRV_E_* kind with a message for
 * the user in err->msg (never secret material).
 */
#ifndef ESCROWD_DOMAIN_H
#define ESCROWD_DOMAIN_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "keycache.h"
#include "store.h"
#include "vault.h"

enum {
  SRV_E_BADREQ = 1,   /* 400: malformed or missing input */
  SRV_E_UNAUTH = 2,   /* 401: no or bad credentials */
  SRV_E_FORBIDDEN = 3, /* 403: authenticated, not allowed */
  SRV_E_NOTFOUND = 4, /* 404 */
  SRV_E_CONFLICT = 5, /* 409: exists already, or a prerequisite is missing */
  SRV_E_UNPROCESSABLE = 6, /* 422: well-formed but refused by a content rule */
  SRV_E_INTERNAL = 7,  /* 500 */
  SRV_E_RATELIMIT = 8  /* 429: too many attempts */
};

typedef struct srv_err {
  int kind;
  char msg[512];
  const char *detail_key; /* the member holding the JSON detail of a refusal (default
                             "schema_errors"); static */
} srv_err;

typedef struct srv_config {
  const char *data_dir;
  const char *database;         /* a postgresql:// URL; NULL: SQLite escrowd.db in data_dir */
  unsigned db_connections;      /* the most database connections (0: 16) */
  const char *const *audiences; /* accepted JWT audiences */
  size_t naudiences;
  int64_t clock_skew;           /* seconds */
  int64_t max_token_lifetime;   /* seconds a token's exp may lie ahead (default 3600) */
  unsigned sas_flags;           /* ESCROW_SAS_ALLOW_LOOPBACK_HTTP with --allow-loopback-http */
  unsigned kek_bits;            /* 4096 */
  int64_t session_ttl;          /* seconds a web session lives (default 28800) */
  unsigned login_max_failures;  /* failed logins per account per window (default 5) */
  int64_t login_window;         /* seconds (default 900) */
} srv_config;

typedef struct srv_ctx {
  srv_config cfg;
  srv_store *store;
  srv_vault *vault; /* the store and the vault are thread-safe: requests run in parallel */
  srv_keycache *keys; /* users' parsed API keys */
  struct srv_runs *runs; /* the runs module (runs.h); NULL until srv_runs_open */
} srv_ctx;

/* Open the data folder (creates it, the database and the master key). 0 or -1 (err). */
int srv_ctx_open(srv_ctx *ctx, const srv_config *cfg, char *err, size_t errsz);
void srv_ctx_close(srv_ctx *ctx);

/* The authenticated caller of an API request. */
typedef struct srv_caller {
  srv_user user;
  srv_member member; /* the caller's party in project */
  srv_project project;
} srv_caller;
void srv_caller_clear(srv_caller *c);

/* Common artifact version fields (API names). */
typedef struct srv_version_in {
  const char *name, *description, *version_tag, *version_description;
} srv_version_in;

/* admin */
int dom_create_org(srv_ctx *ctx, const char *name, srv_buf *out, srv_err *err);
int dom_create_user(srv_ctx *ctx, const char *org, const char *email, const char *public_key_pem,
                    int is_operator, srv_buf *out, srv_err *err);
int dom_create_project(srv_ctx *ctx, const char *name, const char *description,
                       const char *ao_org, const char *const *ds_orgs, size_t nds, int training,
                       const char *tee, const char *const *users, size_t nusers, srv_buf *out,
                       srv_err *err);

/* API */
int dom_authenticate(srv_ctx *ctx, const char *authorization, srv_caller *caller, srv_err *err);
int dom_kek_download(srv_ctx *ctx, const srv_caller *c, srv_buf *out, srv_err *err);
int dom_upload_wcek(srv_ctx *ctx, const srv_caller *c, const srv_version_in *v,
                    const char *file_name, const unsigned char *data, size_t len, srv_buf *out,
                    srv_err *err);
int dom_upload_criteria(srv_ctx *ctx, const srv_caller *c, const srv_version_in *v,
                        const char *file_name, const unsigned char *data, size_t len,
                        srv_buf *out, srv_err *err);
/* kind: "data_specification" (.pdf/.doc/.docx) or "data_attestation" (.pdf) */
int dom_upload_document(srv_ctx *ctx, const srv_caller *c, const char *kind,
                        const srv_version_in *v, const char *file_name,
                        const unsigned char *data, size_t len, srv_buf *out, srv_err *err);
int dom_upload_dataset(srv_ctx *ctx, const srv_caller *c, const srv_version_in *v,
                       const char *dataset_uri, const char *spec_tag, const char *attestation_tag,
                       const char *tags, srv_buf *out, srv_err *err);

/* A data steward accepts the validation criteria version with this tag (DESIGN §8: required
 * before a run is initiated). */
int dom_accept_criteria(srv_ctx *ctx, const srv_caller *c, const char *tag, srv_buf *out,
                        srv_err *err);

/* The project and the artifact versions the caller may see: the AO's (shared) and the
 * caller's party's; kind NULL for all. Metadata only: never file content, never keys. */
int dom_list_versions(srv_ctx *ctx, const srv_caller *c, const char *kind, srv_buf *out,
                      srv_err *err);

/* The algorithm upload (AO): algorithm_type "validation" or "training"; the version tags of
 * the validation criteria (validation only) and of a data attestation report. Needs the AO's
 * WCEK. Runs the manual's "Validating files" stage (§14.5.5.1) on the zip; a failed check is
 * refused with the checks as detail ("checks"). */
typedef struct srv_algorithm_in {
  const char *algorithm_type, *criteria_tag, *attestation_tag, *upload_type, *upload_file_name;
} srv_algorithm_in;
int dom_upload_algorithm(srv_ctx *ctx, const srv_caller *c, const srv_version_in *v,
                         const srv_algorithm_in *alg, const char *file_name,
                         const unsigned char *data, size_t len, srv_buf *out, srv_err *err);
/* The same for a zip a streamed upload wrote to tmp (a finished temporary file in the blob
 * folder, SHA-256 hex; http.c): checked from there, never held in memory, and adopted into
 * the blob folder only when the version is recorded. */
int dom_upload_algorithm_stored(srv_ctx *ctx, const srv_caller *c, const srv_version_in *v,
                                const srv_algorithm_in *alg, const char *file_name,
                                const char *tmp, const char *hex, srv_buf *out, srv_err *err);

/* An RSA public key of at least 2048 bits in PEM (SPKI); SRV_E_BADREQ otherwise. */
int srv_check_public_key(const char *pem, srv_err *err);

/* Checks shared with the handlers' tests. */
int srv_valid_file_name(const char *name);
int srv_valid_text(const char *s, size_t max);

#endif
