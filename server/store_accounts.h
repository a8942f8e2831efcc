/*
 * escrowd: the accounts module's rows on the database layer (db.h), SQLite and PostgreSQL
 * alike: its table web_session (module "accounts", srv_store_accounts_module) and the reads
 * and writes of accounts.c over the core tables. Each call returns 0, SRV_NOTFOUND,
 * SRV_CONFLICT or SRV_STOREERR like store.h; records are freed with their _clear functions.
 */
#ifndef ESCROWD_STORE_ACCOUNTS_H
#define ESCROWD_STORE_ACCOUNTS_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

extern const srv_db_module srv_store_accounts_module;

/* The user with this e-mail address and its password hash (*hash malloc'd; NULL when the
 * user has no password). */
int acc_user_password(srv_store *s, const char *email, srv_user *u, char **hash);
/* Set the user's password hash and end every web session of the user (call in a
 * transaction). */
int acc_user_set_password(srv_store *s, const char *user_id, const char *hash);
int acc_user_set_key(srv_store *s, const char *user_id, const char *public_key_pem);

/* Sessions, by the hex SHA-256 of their token. session_user: SRV_NOTFOUND when unknown or
 * expired at now. session_put also removes sessions expired at now. */
int acc_session_put(srv_store *s, const char *token_sha256, const char *user_id, int64_t now,
                    int64_t expires);
int acc_session_user(srv_store *s, const char *token_sha256, int64_t now, srv_user *u);
int acc_session_delete(srv_store *s, const char *token_sha256);

/* Change the project's state from `from` to `state`: SRV_NOTFOUND when the project is not
 * in `from` (any more), so two changes read from the same state cannot both apply. */
int acc_project_set_state(srv_store *s, const char *project_id, const char *from,
                          const char *state);

/* Iterators: fn returns non-zero to stop (that value is returned). */
typedef int (*acc_project_fn)(void *arg, const srv_project *p);
/* Projects the user is a member of, newest first (user_id NULL: every project). */
int acc_projects_each(srv_store *s, const char *user_id, acc_project_fn fn, void *arg);
typedef int (*acc_party_fn)(void *arg, const char *org_id, const char *org_name,
                            const char *role);
int acc_parties_each(srv_store *s, const char *project_id, acc_party_fn fn, void *arg);
typedef int (*acc_user_fn)(void *arg, const srv_user *u);
/* The project's members (project_id NULL: every user). */
int acc_users_each(srv_store *s, const char *project_id, acc_user_fn fn, void *arg);
/* A project's page in one statement: pfn with the project, then ofn for each party (in
 * acc_parties_each's order), then ufn for each member (in acc_users_each's order; without
 * public_key_pem, which the page does not show). viewer_id:
 * the project must have that user as a member (member_get's rule), NULL: any project (the
 * operator). SRV_NOTFOUND, with no callback called, when there is no such project or the
 * viewer is not a member. */
int acc_project_page(srv_store *s, const char *project_id, const char *viewer_id,
                     acc_project_fn pfn, acc_party_fn ofn, acc_user_fn ufn, void *arg);
typedef int (*acc_org_fn)(void *arg, const char *id, const char *name, int64_t created_at);
int acc_orgs_each(srv_store *s, acc_org_fn fn, void *arg);
int acc_org_name(srv_store *s, const char *org_id, char **name);

typedef struct acc_hit {
  const char *project_id, *project_name, *kind, *org_id, *name, *description, *version_tag,
      *version_description;
  int64_t system_version, created_at;
} acc_hit;
typedef int (*acc_hit_fn)(void *arg, const acc_hit *h);
/* Projects, artifact versions and run configurations (the runs module's table; org_id is the
 * configuration's data steward) whose searchable text contains q (case-insensitive for ASCII;
 * q is matched literally, % and _ included), the newest first, at most limit: those the user
 * may see (user_id NULL: the operator, every one). A user sees the projects they are a member
 * of; there, as in the artifact listing, the AO's versions and their own party's (the AO
 * every party's), never a WCEK, and the run configurations of their own party (the AO all). */
int acc_search(srv_store *s, const char *user_id, const char *q, size_t limit, acc_hit_fn fn,
               void *arg);

#endif
