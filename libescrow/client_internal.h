/* libescrow client internals: the HTTP transport shared by the Platform and Enclave API
 * clients, and the JSON answer parsers (fuzzed by tests/fuzz/fuzz_client_json.c). */
#ifndef ESCROW_CLIENT_INTERNAL_H
#define ESCROW_CLIENT_INTERNAL_H

#include <stdbool.h>

#include <curl/curl.h>
#include <yajl/yajl_tree.h>

#include "escrow/client.h"
#include "internal.h"
#include "sas_internal.h"

#define ESCROW__CLIENT_JSON_MAX (64u << 20) /* bytes of a JSON answer kept in memory */
#define ESCROW__CLIENT_ERR_BODY_MAX (64u << 10)
#define ESCROW__CLIENT_JSON_DEPTH 64

/* One HTTP endpoint root with its libcurl handle and the last answer's status and body. */
typedef struct escrow__http {
  CURL *easy;
  char *base;        /* scheme://host[:port][/path], no trailing slash */
  char *ca_file;
  char *user_agent;
  long connect_timeout_s, timeout_s, stall_timeout_s;
  bool loopback;
  long last_status;
  escrow__sb last_body; /* the last non-2xx answer's body (capped) */
} escrow__http;

/* Writes received bytes; a negative return stops the transfer with that code. */
typedef int (*escrow__http_sink)(void *ud, const uint8_t *d, size_t n);

typedef struct escrow__http_req {
  const char *method;   /* "GET" or "POST" */
  const char *path;     /* appended to the base; also what messages name */
  const char *query;    /* encoded "a=b&c=d" or NULL */
  curl_mime *mime;      /* a multipart body, or NULL */
  const char *body;     /* a JSON body (Content-Type application/json), or NULL */
  size_t body_len;
  const char *bearer;   /* Authorization: Bearer ..., or NULL */
  const char *range;    /* "N-" for a Range request, or NULL */
  bool transfer;        /* a file moves: no whole-request timeout, the stall limit only */
  escrow__http_sink sink; /* the 2xx body goes here; NULL: collected (JSON_MAX) into *out */
  void *sink_ud;
  escrow_progress_cb progress;
  void *progress_ud;
  uint64_t progress_base; /* added to done and total (a resumed download's offset) */
  long ok_extra;        /* a non-2xx status whose body is an answer too (400 for validate), 0 */
} escrow__http_req;

/* base_url is checked (https://, or http:// to a loopback host); default_path is appended
 * when the URL has no path (may be NULL). */
int escrow__http_init(escrow__http *h, const char *base_url, const char *default_path,
                      const escrow_client_options *opts, const char *ca_env_fallback);
void escrow__http_free(escrow__http *h);

/* Perform one request. A 2xx answer (or ok_extra) returns 0 with the body in *out (NUL-
 * terminated, escrow__free; *out_len its length) unless req->sink took it. Otherwise the
 * code and message described in client.h. */
int escrow__http_do(escrow__http *h, const escrow__http_req *req, char **out, size_t *out_len);

/* Append name=value %-encoded to a query ("&" between pairs). Skips a NULL value. */
void escrow__query_add(escrow__sb *q, const char *name, const char *value);

/* ---- JSON -------------------------------------------------------------------------------------- */

/* Parse a JSON answer (len bytes, NUL-terminated at len) with bounded nesting. Returns 0 or
 * ESCROW_E_FORMAT naming what. *out is freed with yajl_tree_free. */
int escrow__cjson_parse(const char *text, size_t len, const char *what, yajl_val *out);
/* The member key of object v (NULL if v is not an object or has no such member). */
yajl_val escrow__cjson_get(yajl_val v, const char *key);
/* Serialise v back to compact JSON text (escrow__free), or NULL on NOMEM. */
char *escrow__cjson_dump(yajl_val v);
/* Append s as a JSON string literal. */
void escrow__cjson_str(escrow__sb *b, const char *s);

/* The answer parsers (each takes the answer text; 0, ESCROW_E_FORMAT or ESCROW_E_NOMEM). */
int escrow__parse_kek(const char *text, size_t len, escrow_api_kek **out);
int escrow__parse_artifact(const char *text, size_t len, escrow_api_artifact **out);
int escrow__parse_versions(const char *text, size_t len, escrow_api_versions **out);
int escrow__parse_run(const char *text, size_t len, escrow_api_run **out);
int escrow__parse_report(const char *text, size_t len, escrow_api_report **out);
int escrow__parse_answer(const char *text, size_t len, long status, escrow_api_answer **out);
int escrow__parse_files(const char *text, size_t len, escrow_enclave_files **out);
int escrow__parse_verdict(const char *text, size_t len, long status, escrow_enclave_verdict **out);

#endif
