/*
 * escrowd: accounts, web sessions, project states and metadata search (manual §7.1, §8,
 * §10.2, §10.4). The domain rules live in accounts.c; the rows they need in store_accounts.c.
 *
 * Web sessions: POST /api/v1/login/ checks an Argon2id password (libsodium crypto_pwhash_str)
 * and issues a random 256-bit session token (the escrow_session cookie). Only its SHA-256 is
 * stored. The CSRF token is HMAC-SHA256(session token, "escrowd-csrf-v1"), so it is bound to
 * the session and needs no storage; unsafe requests made with the cookie must echo it in
 * X-CSRF-Token (compared in constant time).
 */
#ifndef ESCROWD_ACCOUNTS_H
#define ESCROWD_ACCOUNTS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "domain.h"

#define SRV_SESSION_TOKEN_LEN 43 /* base64url of 32 random bytes, no padding */
#define SRV_CSRF_TOKEN_LEN 43
#define SRV_PASSWORD_MIN 12
#define SRV_PASSWORD_MAX 1024

/* ---- the rows (store_accounts.c); each returns 0, SRV_NOTFOUND, SRV_CONFLICT or
 * SRV_STOREERR like store.h ---------------------------------------------------------- */

typedef struct acc_db acc_db;

/* Open the accounts tables in the SQLite database at path (created when missing). */
acc_db *acc_db_open(const char *path, char *err, size_t errsz);
void acc_db_close(acc_db *db);

/* The user with this e-mail address and its password hash (*hash malloc'd; NULL when the
 * user has no password). */
int acc_user_password(acc_db *db, const char *email, srv_user *u, char **hash);
int acc_user_set_password(acc_db *db, const char *user_id, const char *hash);
int acc_user_set_key(acc_db *db, const char *user_id, const char *public_key_pem);
int acc_user_get(acc_db *db, const char *user_id, srv_user *u);

/* Sessions, by the hex SHA-256 of their token. session_user: SRV_NOTFOUND when unknown or
 * expired at now. session_put also removes sessions expired at now. */
int acc_session_put(acc_db *db, const char *token_sha256, const char *user_id, int64_t now,
                    int64_t expires);
int acc_session_user(acc_db *db, const char *token_sha256, int64_t now, srv_user *u);
int acc_session_delete(acc_db *db, const char *token_sha256);

int acc_project_set_state(acc_db *db, const char *project_id, const char *state);

/* Iterators: fn returns non-zero to stop (that value is returned). */
typedef int (*acc_project_fn)(void *arg, const srv_project *p);
/* Projects the user is a member of, newest first (user_id NULL: every project). */
int acc_projects_each(acc_db *db, const char *user_id, acc_project_fn fn, void *arg);
typedef int (*acc_party_fn)(void *arg, const char *org_id, const char *org_name,
                            const char *role);
int acc_parties_each(acc_db *db, const char *project_id, acc_party_fn fn, void *arg);
typedef int (*acc_user_fn)(void *arg, const srv_user *u);
/* The project's members (project_id NULL: every user). */
int acc_users_each(acc_db *db, const char *project_id, acc_user_fn fn, void *arg);
typedef int (*acc_org_fn)(void *arg, const char *id, const char *name, int64_t created_at);
int acc_orgs_each(acc_db *db, acc_org_fn fn, void *arg);
int acc_org_name(acc_db *db, const char *org_id, char **name);

typedef struct acc_hit {
  const char *project_id, *project_name, *kind, *org_id, *name, *description, *version_tag,
      *version_description;
  int64_t system_version, created_at;
} acc_hit;
typedef int (*acc_hit_fn)(void *arg, const acc_hit *h);
/* Projects and artifact versions of the user's projects whose searchable text contains q
 * (case-insensitive for ASCII; q is matched literally, % and _ included). At most limit. */
int acc_search(acc_db *db, const char *user_id, const char *q, size_t limit, acc_hit_fn fn,
               void *arg);

/* ---- the rules (accounts.c) ------------------------------------------------------------ */

typedef struct srv_login_limits {
  unsigned max_failures; /* per account per window; an address gets 4 times this */
  int64_t window;        /* seconds */
} srv_login_limits;

/* Hash a password with Argon2id (interactive limits) into out (crypto_pwhash_STRBYTES).
 * SRV_E_BADREQ when it is shorter than SRV_PASSWORD_MIN or longer than SRV_PASSWORD_MAX. */
int dom_password_hash(const char *password, char *out, size_t outsz, srv_err *err);

/* escrowd admin set-password: give an existing user a password. */
int dom_set_password(srv_ctx *ctx, const char *email, const char *password, srv_err *err);
/* The same with a hash made by dom_password_hash (so the slow part runs outside the lock). */
int dom_set_password_hash(srv_ctx *ctx, const char *email, const char *hash, srv_err *err);

/* Log in. On success: 0, token (the cookie value, SRV_SESSION_TOKEN_LEN + 1 bytes), and out
 * {"csrf_token", "user":{...}}. Any failure of the e-mail or password is SRV_E_UNAUTH with
 * one generic message; too many failures for the account or the address (addr, may be NULL)
 * within the window is SRV_E_RATELIMIT. The Argon2id check runs outside ctx->lock; the
 * caller must not hold it. */
int dom_login(srv_ctx *ctx, const char *email, const char *password, const char *addr,
              char token[SRV_SESSION_TOKEN_LEN + 1], srv_buf *out, srv_err *err);
int dom_logout(srv_ctx *ctx, const char *token, srv_err *err);

/* The user of a session token (the cookie value); SRV_E_UNAUTH when unknown or expired. */
int dom_session_user(srv_ctx *ctx, const char *token, srv_user *u, srv_err *err);
/* The CSRF token of a session token. */
void dom_csrf_token(const char *token, char out[SRV_CSRF_TOKEN_LEN + 1]);
/* 1 when the header value equals the session's CSRF token (constant time), else 0. */
int dom_csrf_ok(const char *token, const char *header);

/* The caller of a project-scoped request made by a session user: project_id must name a
 * project the user is a member of (400 when missing, 403 otherwise, also for a project that
 * does not exist). Takes ownership of *u (cleared). */
int dom_session_caller(srv_ctx *ctx, srv_user *u, const char *project_id, srv_caller *c,
                       srv_err *err);

/* GET /me/: the user and their projects (each with the caller's role, the collaborator
 * organisations and roles, and the members' initials). */
int dom_me(srv_ctx *ctx, const srv_user *u, srv_buf *out, srv_err *err);

/* GET /search/?q=: projects and artifact versions matching q in the caller's projects
 * (operator: every project). q: 1–200 printable characters. */
int dom_search(srv_ctx *ctx, const srv_user *u, const char *q, srv_buf *out, srv_err *err);

/* POST /api-key/: the caller registers (replaces) their own RSA public key for API tokens. */
int dom_register_api_key(srv_ctx *ctx, const srv_user *u, const char *pem, srv_buf *out,
                         srv_err *err);

/* POST /project-state/: Active, Paused or Deactivated. Only the platform operator changes a
 * project's state; Deactivated is final (409 to leave it); setting the current state is 409. */
int dom_project_set_state(srv_ctx *ctx, const srv_user *u, const char *project_id,
                          const char *state, srv_buf *out, srv_err *err);

/* Operator listing and project membership. Non-operators get 403. */
int dom_require_operator(const srv_user *u, srv_err *err);
int dom_list_orgs(srv_ctx *ctx, const srv_user *u, srv_buf *out, srv_err *err);
int dom_list_users(srv_ctx *ctx, const srv_user *u, srv_buf *out, srv_err *err);
/* Projects: the operator sees every project, others their own. */
int dom_list_projects(srv_ctx *ctx, const srv_user *u, srv_buf *out, srv_err *err);
/* One project: members and operator (404 for anyone else, as for a missing project). */
int dom_get_project(srv_ctx *ctx, const srv_user *u, const char *project_id, srv_buf *out,
                    srv_err *err);
int dom_project_add_user(srv_ctx *ctx, const srv_user *u, const char *project_id,
                         const char *email, srv_buf *out, srv_err *err);

#endif
