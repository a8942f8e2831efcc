/*
 * libescrow sas: Azure Blob Storage shared access signature (SAS) URLs (DESIGN §6,
 * docs/STORAGE.md).
 *
 * - escrow_sas_parse: a strict parser. The URL's scheme, host and path are split (virtual-host
 *   style "https://<account>.blob.core.windows.net/<container>[/<blob>]", or path style
 *   "http://127.0.0.1:10000/<account>/<container>[/<blob>]" for loopback hosts and IP literals,
 *   as Azurite serves them); the query is split on '&' and each pair on its first '='; values
 *   are percent-decoded once (%XX only). A duplicated parameter, a bad %-escape, a control
 *   character or invalid UTF-8 in a value, or a malformed st/se/sv date is refused.
 * - escrow_sas_check: judges a URL the way the EscrowAI UI does (manual §13.7, DESIGN §6) at a
 *   given time: "valid", "invalid", "expiring", "expired" or "not yet valid", with the UI's
 *   message and a specific reason.
 * - escrow_sas_sign / escrow_sas_sign_url: service SAS (container, blob, snapshot, version) and
 *   account SAS signed with a storage account key, for every service version from 2015-04-05 to
 *   2025-11-05, with the string-to-sign layout of that version.
 * - escrow_sas_verify: checks a parsed URL's signature with the account key (service and
 *   account SAS; a user-delegation SAS needs a key this library cannot have).
 *
 * Account keys are secrets: they are decoded into guarded memory, wiped after use and never
 * appear in an error message. Times are UTC.
 */
#ifndef ESCROW_SAS_H
#define ESCROW_SAS_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A point in time: seconds since 1970-01-01T00:00:00Z and nanoseconds (0..999999999). */
typedef struct escrow_time {
  int64_t sec;
  uint32_t nsec;
} escrow_time;

/* Parse a date as Azure accepts it in st/se: "YYYY-MM-DD", "YYYY-MM-DDThh:mmZ",
 * "YYYY-MM-DDThh:mm:ssZ" or "YYYY-MM-DDThh:mm:ss.fffffffZ" (1 to 7 fraction digits). With
 * allow_offset (for --now), RFC 3339 offsets "+hh:mm"/"-hh:mm" and up to 9 fraction digits are
 * accepted too. Years 1000..9999. Returns 0, or ESCROW_E_FORMAT with the reason recorded. */
ESCROW_EXTERN int escrow_time_parse(escrow_time *out, const char *text, int allow_offset);

/* The current time from the system clock. */
ESCROW_EXTERN escrow_time escrow_time_now(void);

/* Format t as "YYYY-MM-DDThh:mm:ssZ" (fractions dropped) into out (at least 21 bytes). */
ESCROW_EXTERN void escrow_time_format(char out[21], escrow_time t);

/* ---- parsing -------------------------------------------------------------------------------- */

typedef enum escrow_sas_kind {
  ESCROW_SAS_SERVICE = 1,        /* sr=..., signed with the account key */
  ESCROW_SAS_ACCOUNT = 2,        /* ss=... and srt=... */
  ESCROW_SAS_USER_DELEGATION = 3 /* sr=... plus skoid=... (an Entra ID user-delegation key) */
} escrow_sas_kind;

/* Parse flags. */
#define ESCROW_SAS_PATH_STYLE 0x1u /* the account is the first path segment on any host
                                      (emulators started with --disableProductStyleUrl) */

typedef struct escrow_sas escrow_sas;

/* Parse a SAS URL ("https://..." or "http://..."). The URL must have an account and a query;
 * the container (first path segment after any account) is NULL for an account-level URL.
 * A raw space is tolerated only in sig (and noted, see escrow_sas_check). *out is freed with
 * escrow_sas_free. Errors: ESCROW_E_FORMAT (with the reason: not a URL, no query, bad
 * %-escape, duplicated parameter, empty parameter name, parameter without '=', control
 * character, non-ASCII byte, invalid UTF-8, malformed st/se/sv, both sr and ss/srt), ESCROW_E_LIMIT (URL over
 * 64 KiB or over 256 parameters), ESCROW_E_INVALID (NULL argument), ESCROW_E_NOMEM. */
ESCROW_EXTERN int escrow_sas_parse(escrow_sas **out, const char *url, unsigned flags);

ESCROW_EXTERN void escrow_sas_free(escrow_sas *sas);

/* Parts of a parsed URL. Borrowed, valid until escrow_sas_free. */
ESCROW_EXTERN const char *escrow_sas_scheme(const escrow_sas *sas);    /* "https" or "http" */
ESCROW_EXTERN const char *escrow_sas_host(const escrow_sas *sas);      /* lowercase, no port */
ESCROW_EXTERN int escrow_sas_port(const escrow_sas *sas);              /* -1 when absent */
ESCROW_EXTERN int escrow_sas_path_style(const escrow_sas *sas);        /* 1 for path style */
ESCROW_EXTERN const char *escrow_sas_account(const escrow_sas *sas);
ESCROW_EXTERN const char *escrow_sas_container(const escrow_sas *sas); /* decoded */
/* The blob path after the container (decoded), or NULL for a container URL. */
ESCROW_EXTERN const char *escrow_sas_blob(const escrow_sas *sas);
ESCROW_EXTERN escrow_sas_kind escrow_sas_get_kind(const escrow_sas *sas);
/* The decoded value of a query parameter (names are case-sensitive), or NULL if absent. */
ESCROW_EXTERN const char *escrow_sas_param(const escrow_sas *sas, const char *name);
/* The endpoint: "<scheme>://<host>[:port]" plus "/<account>" in path style. Borrowed. */
ESCROW_EXTERN const char *escrow_sas_endpoint(const escrow_sas *sas);
/* The SAS query as it appeared in the URL (without '?'), minus any "restype", "comp" and
 * other operation parameters (only SAS parameters are kept, in their original spelling and
 * order). Borrowed. This is what a client appends to requests it builds. */
ESCROW_EXTERN const char *escrow_sas_token(const escrow_sas *sas);

/* ---- judging a URL (DESIGN §6) --------------------------------------------------------------- */

typedef enum escrow_sas_status {
  ESCROW_SAS_VALID = 0,
  ESCROW_SAS_INVALID = 1,
  ESCROW_SAS_EXPIRING = 2, /* expires within 24 hours: treated as expired */
  ESCROW_SAS_EXPIRED = 3,
  ESCROW_SAS_NOT_YET_VALID = 4
} escrow_sas_status;

/* Check flags. */
#define ESCROW_SAS_ALLOW_LOOPBACK_HTTP 0x100u /* http:// on a loopback host (127.0.0.0/8, ::1,
                                                 localhost), path style, and spr=https,http
                                                 pass: for a local emulator (Azurite) */

#define ESCROW_SAS_REASON_MAX 320

typedef struct escrow_sas_result {
  escrow_sas_status status;
  const char *status_name; /* static: "valid", "invalid", "expiring", "expired", "not yet valid" */
  const char *message;     /* static: the UI's message for the status (see below) */
  char reason[ESCROW_SAS_REASON_MAX]; /* the specific reason, in words (never a signature) */
} escrow_sas_result;

/* Judge url at time now (NULL: the system clock), deciding in this order (DESIGN §6):
 *   invalid: not an https URL of an Azure Blob host (<account>.blob.<cloud suffix>) with a
 *            container path and nothing after it; a malformed query (see escrow_sas_parse); sig,
 *            se or sv missing; not container-scoped (sr must be c; a user-delegation container
 *            SAS is fine, an account SAS is not); sp lacking r or l, or holding a letter that is
 *            no permission; not HTTPS-only (spr=https); a raw '+' or a space in sig; sig not
 *            the Base64 of 32 bytes; sv older than 2015-04-05.
 *   expired: se <= now;  not yet valid: st > now;  expiring: se - now <= 24 hours;
 *   otherwise valid.
 * Messages: invalid "SAS Token Not Provided Or Invalid URI"; expiring and expired "provided sas
 * token will expire in less than 24 hours"; not yet valid "SAS token is not yet valid";
 * valid "Valid dataset URL link.". The reason says exactly what rule decided.
 * flags: ESCROW_SAS_ALLOW_LOOPBACK_HTTP, ESCROW_SAS_PATH_STYLE.
 * Returns 0 with *result filled (whatever the status), or ESCROW_E_INVALID (NULL argument) or
 * ESCROW_E_NOMEM. */
ESCROW_EXTERN int escrow_sas_check(escrow_sas_result *result, const char *url,
                                   const escrow_time *now, unsigned flags);

/* ---- signing and verifying -------------------------------------------------------------------- */

#define ESCROW_SAS_VERSION_DEFAULT "2025-11-05"
#define ESCROW_SAS_VERSION_MIN "2015-04-05"
#define ESCROW_SAS_VERSION_MAX_SIGN "2025-11-05"

#define ESCROW_SAS_SIGN_OPTIONS_VERSION 1
typedef struct escrow_sas_sign_options {
  unsigned int version;    /* ESCROW_SAS_SIGN_OPTIONS_VERSION */
  escrow_sas_kind kind;    /* ESCROW_SAS_SERVICE (default when 0) or ESCROW_SAS_ACCOUNT */
  const char *account;     /* storage account name (required) */
  /* service SAS */
  const char *container;   /* required for a service SAS */
  const char *blob;        /* NULL: a container SAS (sr=c); else the blob name (UTF-8) */
  const char *resource;    /* NULL: "c" or "b" from blob; or "bs" (snapshot), "bv" (version) */
  const char *snapshot;    /* the snapshot time (sr=bs) or version id (sr=bv) */
  const char *identifier;  /* si: a stored access policy id, or NULL */
  const char *cache_control, *content_disposition, *content_encoding, *content_language,
      *content_type;       /* rscc, rscd, rsce, rscl, rsct, or NULL */
  /* account SAS */
  const char *services;       /* ss: letters of b q t f (e.g. "b") */
  const char *resource_types; /* srt: letters of s c o (e.g. "sco") */
  /* both */
  const char *permissions;    /* sp letters, in any order; written in the SDKs' canonical order */
  const char *start;          /* st, NULL for none; any escrow_time_parse form without offset */
  const char *expiry;         /* se (required unless identifier is set) */
  const char *ip;             /* sip: "a.b.c.d" or "a.b.c.d-e.f.g.h", or NULL */
  const char *protocol;       /* spr: "https" or "https,http", or NULL (not restricted) */
  const char *service_version;  /* sv: NULL for ESCROW_SAS_VERSION_DEFAULT */
  const char *encryption_scope; /* ses (sv >= 2020-12-06), or NULL */
} escrow_sas_sign_options;
#define ESCROW_SAS_SIGN_OPTIONS_INIT                                                        \
  {ESCROW_SAS_SIGN_OPTIONS_VERSION, ESCROW_SAS_SERVICE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, \
   0, 0, 0, 0, 0, 0, 0}

/* The string-to-sign of opts (the exact bytes the signature covers; '\n'-separated). For tests
 * and for diagnosing a "Signature did not match" answer. *out is freed with escrow_free.
 * Errors as escrow_sas_sign, less the key errors. */
ESCROW_EXTERN int escrow_sas_string_to_sign(char **out, const escrow_sas_sign_options *opts);

/* Sign: *query receives the SAS token "sv=...&...&sig=..." (values percent-encoded like the
 * JS SDK: everything but A-Z a-z 0-9 - _ . ~), freed with escrow_free. account_key is the
 * account key in Base64 (Azure keys decode to 64 bytes). Errors: ESCROW_E_INVALID (missing or
 * conflicting options, a permission letter not valid for the resource or newer than sv, a
 * malformed date, spr or sip, a control character in a value), ESCROW_E_UNSUPPORTED (sv before
 * 2015-04-05 or after 2025-11-05, or a feature newer than sv), ESCROW_E_KEY (the key is not
 * Base64 or is empty), ESCROW_E_NOMEM, ESCROW_E_CRYPTO. */
ESCROW_EXTERN int escrow_sas_sign(char **query, const escrow_sas_sign_options *opts,
                                  const char *account_key);

/* Sign and build the whole URL: endpoint (NULL: "https://<account>.blob.core.windows.net";
 * for Azurite "http://127.0.0.1:10000/devstoreaccount1") + "/" + container [+ "/" + blob with
 * each segment percent-encoded] + "?" + the token. An account SAS URL is endpoint + "/?" +
 * token. *url is freed with escrow_free. Errors as escrow_sas_sign. */
ESCROW_EXTERN int escrow_sas_sign_url(char **url, const char *endpoint,
                                      const escrow_sas_sign_options *opts,
                                      const char *account_key);

/* Verify a parsed URL's signature with the account key: recomputes the string-to-sign of its
 * sv from its decoded parameters and its canonical resource (/blob/<account>/<container>
 * [/<blob> for sr=b, bs, bv]) and compares in constant time. Only the signature is judged (no
 * times, no permissions). Returns 0 if it matches, else ESCROW_E_AUTH ("the signature does not
 * match"); ESCROW_E_FORMAT (sig missing or not Base64 of 32 bytes; sr/ss missing),
 * ESCROW_E_UNSUPPORTED (a user-delegation SAS, or sv before 2015-04-05), ESCROW_E_KEY,
 * ESCROW_E_NOMEM, ESCROW_E_CRYPTO. */
ESCROW_EXTERN int escrow_sas_verify(const escrow_sas *sas,
                                    const char *account_key) ESCROW_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif
