/*
 * escrowd: accounts, web sessions, project states and metadata search (manual §7.1, §8,
 * §10.2, §10.4). The domain rules live in accounts.c; the rows they need in store_accounts.h.
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
#include "store_accounts.h"

#define SRV_SESSION_TOKEN_LEN 43 /* base64url of 32 random bytes, no padding */
#define SRV_CSRF_TOKEN_LEN 43
#define SRV_PASSWORD_MIN 12
#define SRV_PASSWORD_MAX 1024
/* At most this many Argon2id hashes or checks at once (64 MiB each); escrowd serves the
 * requests that check a password from this many workers of their own, so a crowd of logins
 * never occupies the workers that serve everything else. */
#define SRV_PASSWORD_LANES 4

/* ---- the rules (accounts.c) ------------------------------------------------------------ */

typedef struct srv_login_limits {
  unsigned max_failures; /* per account per window; an address gets 4 times this */
  int64_t window;        /* seconds */
} srv_login_limits;

/* Hash a password with Argon2id (interactive limits) into out (crypto_pwhash_STRBYTES).
 * SRV_E_BADREQ when it is shorter than SRV_PASSWORD_MIN or longer than SRV_PASSWORD_MAX. */
int dom_password_hash(const char *password, char *out, size_t outsz, srv_err *err);

/* escrowd admin set-password: give an existing user a password (ending the user's web
 * sessions). */
int dom_set_password(srv_ctx *ctx, const char *email, const char *password, srv_err *err);
/* The same with a hash made by dom_password_hash (outside a transaction: it is slow). */
int dom_set_password_hash(srv_ctx *ctx, const char *email, const char *hash, srv_err *err);

/* Log in. On success: 0, token (the cookie value, SRV_SESSION_TOKEN_LEN + 1 bytes), and out
 * {"csrf_token", "user":{...}}. Any failure of the e-mail or password is SRV_E_UNAUTH with
 * one generic message; too many failures for the account or the address (addr, may be NULL)
 * within the window is SRV_E_RATELIMIT. */
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
