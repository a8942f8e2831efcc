/*
 * escrowd: the store. The domain layer talks only to this: a table of the persistent
 * operations it needs, written once (store.c) on the database layer (db.h), so the same code
 * runs on SQLite and PostgreSQL. Other modules add their own operations as plain functions in
 * their own store_<area>.c on top of db.h (using s->db) and their tables as their own
 * srv_db_module (see docs/SERVER.md, "Adding tables and store operations").
 * All strings returned in records are malloc'd and freed with the record's _clear function.
 * Every call returns 0, SRV_NOTFOUND, SRV_CONFLICT (a constraint) or SRV_STOREERR.
 * The store is thread-safe: each call runs on the calling thread's database connection;
 * begin .. commit/rollback is a transaction of the calling thread.
 */
#ifndef ESCROWD_STORE_H
#define ESCROWD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"

typedef struct srv_user {
  char *id, *org_id, *email, *public_key_pem;
  int is_operator;
} srv_user;

typedef struct srv_project {
  char *id, *name, *description, *tee, *state;
  int training;
  int64_t created_at;
} srv_project;

typedef struct srv_member {
  char *org_id;
  char role[3]; /* "ao" or "ds" */
} srv_member;

typedef struct srv_kek {
  char *public_pem, *file_name;
  unsigned char *sealed; /* the private half, sealed by the vault */
  size_t sealed_len;
} srv_kek;

typedef struct srv_artifact {
  char *id, *project_id, *kind, *org_id, *name, *description, *version_tag,
      *version_description, *sha256, *file_name, *meta_json, *created_by;
  int64_t system_version, created_at;
  /* input to artifact_insert only (borrowed, not freed by srv_artifact_clear): a secret the
   * version carries, already sealed by the vault; NULL for none */
  const unsigned char *sealed_secret;
  size_t sealed_secret_len;
} srv_artifact;

typedef struct srv_store srv_store;
struct srv_store {
  srv_db *db; /* the database, for other modules' store_<area>.c */
  int (*begin)(srv_store *s);
  int (*commit)(srv_store *s);
  void (*rollback)(srv_store *s);
  void (*close)(srv_store *s);
  int (*org_create)(srv_store *s, const char *id, const char *name);
  int (*org_find)(srv_store *s, const char *name, char **id_out);
  int (*user_create)(srv_store *s, const srv_user *u);
  int (*user_find_email)(srv_store *s, const char *email, srv_user *out);
  int (*project_create)(srv_store *s, const srv_project *p);
  int (*project_get)(srv_store *s, const char *id, srv_project *out);
  int (*project_add_org)(srv_store *s, const char *project_id, const char *org_id,
                         const char *role);
  int (*project_add_user)(srv_store *s, const char *project_id, const char *user_id);
  /* The caller's party in the project: the role of the user's organisation, if the user is a
   * member. SRV_NOTFOUND when not a member. */
  int (*member_get)(srv_store *s, const char *project_id, const char *user_id, srv_member *out);
  int (*kek_put)(srv_store *s, const char *project_id, const char *org_id, const char *role,
                 const srv_kek *k);
  int (*kek_get)(srv_store *s, const char *project_id, const char *org_id, srv_kek *out);
  /* Insert a version; assigns system_version = 1 + the highest of (project, kind, org, name).
   * SRV_CONFLICT when the tag exists for that artifact. */
  int (*artifact_insert)(srv_store *s, srv_artifact *a);
  /* The version with this tag of the party's artifact of this kind (any name; org_id NULL:
   * any party's). */
  int (*artifact_find_tag)(srv_store *s, const char *project_id, const char *kind,
                           const char *org_id, const char *tag, srv_artifact *out);
  /* The newest version of this kind for the party. */
  int (*artifact_latest)(srv_store *s, const char *project_id, const char *kind,
                         const char *org_id, srv_artifact *out);
  /* Delete every version of this kind for the party but the one with keep_id. */
  int (*artifact_prune)(srv_store *s, const char *project_id, const char *kind,
                        const char *org_id, const char *keep_id);
  int (*audit_append)(srv_store *s, const char *actor, const char *action,
                      const char *project_id, const char *object, const char *before_sha256,
                      const char *after_sha256);
  /* Call fn for each version of the project visible to org_id: the AO's (shared with every
   * party) and org_id's own, and when is_ao every party's but their WCEKs; oldest first; kind
   * NULL for every kind. fn returns non-zero to stop (that value is returned). */
  int (*artifact_each_visible)(srv_store *s, const char *project_id, const char *org_id,
                               int is_ao, const char *kind, int (*fn)(void *arg, const srv_artifact *a),
                               void *arg);
  /* A data steward organisation accepts a criteria version (SRV_CONFLICT when it already
   * has); *at receives the time. */
  int (*acceptance_add)(srv_store *s, const char *artifact_id, const char *org_id,
                        const char *user_id, int64_t *at);
  /* 0 when org_id has accepted artifact_id, else SRV_NOTFOUND. */
  int (*acceptance_has)(srv_store *s, const char *artifact_id, const char *org_id);
};

/* Open (creating and migrating) the store: target is a SQLite file path or a postgresql://
 * URL (see srv_db_open); pool_size the most database connections (0: 16). NULL on error
 * (message in err). */
srv_store *srv_store_open(const char *target, unsigned pool_size, char *err, size_t errsz);

/* The membership rule as SQL: " FROM ... WHERE ..." naming po, the party (project_org row)
 * through which the user USER is a member of the project PROJECT: the user is in project_user
 * and the user's organisation is a party of the project. USER and PROJECT are SQL expressions
 * (a parameter such as "$1", or a column of the enclosing statement); the fragment uses the
 * aliases pu, u and po. For a SELECT of po's columns, or EXISTS (SELECT 1 ...). */
#define SRV_SQL_PARTY_OF(user, project)                                                        \
  " FROM project_user pu JOIN \"user\" u ON u.id = pu.user_id JOIN project_org po"              \
  " ON po.project_id = pu.project_id AND po.org_id = u.org_id"                                 \
  " WHERE pu.project_id = " project " AND pu.user_id = " user

/* Everything an API request's authentication needs, in one read: the user with this e-mail
 * (case-insensitive) and, when the user is a member of project_id, the project and the user's
 * party in it (*in_project 1; else 0 with p and m empty). SRV_NOTFOUND when there is no such
 * user. The caller must not act on p or m before the token's signature has been checked. */
int srv_store_caller_get(srv_store *s, const char *email, const char *project_id, srv_user *u,
                         srv_project *p, srv_member *m, int *in_project);

/* Inside a transaction: the project's state (malloc'd, into *state), its row locked until the
 * transaction ends, so a state change waits for it and an upload that saw "Active" commits
 * before the project can be paused (SQLite's write transaction serialises them the same way).
 * SRV_NOTFOUND when there is no such project. */
int srv_store_project_state_locked(srv_store *s, const char *project_id, char **state);

/* The core module's migrations (the tables of this file's operations). */
extern const srv_db_module srv_store_core_module;

/* The schema version the core module's migrations reach. */
int srv_store_schema_version(void);

void srv_user_clear(srv_user *u);
void srv_project_clear(srv_project *p);
void srv_member_clear(srv_member *m);
void srv_kek_clear(srv_kek *k);
void srv_artifact_clear(srv_artifact *a);

#endif
