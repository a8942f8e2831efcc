/* escrowd: accounts, web sessions, project states and metadata search (see accounts.h). */
#include "accounts.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "blobs.h"

__attribute__((format(printf, 3, 4)))
static int fail(srv_err *e, int kind, const char *fmt, ...) {
  e->kind = kind;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  return kind;
}

static int db_fail(srv_err *e, int rc, const char *what) {
  if (rc == SRV_NOTFOUND) return fail(e, SRV_E_NOTFOUND, "%s was not found", what);
  if (rc == SRV_CONFLICT) return fail(e, SRV_E_CONFLICT, "%s already exists", what);
  return fail(e, SRV_E_INTERNAL, "the database failed while handling %s", what);
}

static const char LOGIN_FAILED[] = "the e-mail address or the password is wrong";

/* ---- password hashing: at most PWHASH_LANES at once ------------------------------------ */

/* Each Argon2id hash or check holds crypto_pwhash_MEMLIMIT_INTERACTIVE (64 MiB): without a
 * bound, logins sent at once on many connections would exhaust the server's memory. */
#define PWHASH_LANES SRV_PASSWORD_LANES
static pthread_mutex_t pw_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pw_cond = PTHREAD_COND_INITIALIZER;
static unsigned pw_busy;

static void pw_enter(void) {
  pthread_mutex_lock(&pw_lock);
  while (pw_busy >= PWHASH_LANES) pthread_cond_wait(&pw_cond, &pw_lock);
  pw_busy++;
  pthread_mutex_unlock(&pw_lock);
}

static void pw_leave(void) {
  pthread_mutex_lock(&pw_lock);
  pw_busy--;
  pthread_cond_signal(&pw_cond);
  pthread_mutex_unlock(&pw_lock);
}

/* ---- passwords ------------------------------------------------------------------------- */

int dom_password_hash(const char *pw, char *out, size_t outsz, srv_err *err) {
  size_t n = pw ? strlen(pw) : 0;
  if (n < SRV_PASSWORD_MIN || n > SRV_PASSWORD_MAX)
    return fail(err, SRV_E_BADREQ, "a password must have %d to %d characters", SRV_PASSWORD_MIN,
                SRV_PASSWORD_MAX);
  if (outsz < crypto_pwhash_STRBYTES)
    return fail(err, SRV_E_INTERNAL, "hashing the password failed (no room for the hash)");
  pw_enter();
  int r = crypto_pwhash_str(out, pw, n, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                            crypto_pwhash_MEMLIMIT_INTERACTIVE);
  pw_leave();
  if (r != 0) return fail(err, SRV_E_INTERNAL, "hashing the password failed (out of memory)");
  return 0;
}

int dom_set_password(srv_ctx *ctx, const char *email, const char *password, srv_err *err) {
  char hash[crypto_pwhash_STRBYTES];
  if (dom_password_hash(password, hash, sizeof hash, err)) return err->kind;
  int r = dom_set_password_hash(ctx, email, hash, err);
  sodium_memzero(hash, sizeof hash);
  return r;
}

int dom_set_password_hash(srv_ctx *ctx, const char *email, const char *hash, srv_err *err) {
  srv_user u;
  int rc = ctx->store->user_find_email(ctx->store, email, &u);
  if (rc) return db_fail(err, rc, "the user");
  srv_store *s = ctx->store;
  if (s->begin(s)) {
    srv_user_clear(&u);
    return db_fail(err, SRV_STOREERR, "the user");
  }
  rc = acc_user_set_password(s, u.id, hash);
  if (!rc) rc = s->audit_append(s, "operator", "user.password", NULL, u.id, NULL, NULL);
  if (rc || s->commit(s)) {
    s->rollback(s);
    if (!rc) rc = SRV_STOREERR;
  }
  srv_user_clear(&u);
  return rc ? db_fail(err, rc, "the user") : 0;
}

/* ---- login rate limit: failures per account and per address in a window, in memory ---- */

#define RL_SLOTS 1024
typedef struct rl_slot {
  unsigned char key[32]; /* SHA-256 of "a:" email or "i:" address */
  int64_t start;
  unsigned failures;
  int used;
} rl_slot;
static rl_slot rl_table[RL_SLOTS];
static pthread_mutex_t rl_lock = PTHREAD_MUTEX_INITIALIZER;

static void rl_key(unsigned char key[32], char kind, const char *v) {
  unsigned char buf[300];
  size_t n = strlen(v);
  if (n > sizeof buf - 2) n = sizeof buf - 2;
  buf[0] = (unsigned char)kind;
  buf[1] = ':';
  for (size_t i = 0; i < n; i++) buf[2 + i] = (unsigned char)tolower((unsigned char)v[i]);
  unsigned int len = 32;
  EVP_Digest(buf, n + 2, key, &len, EVP_sha256(), NULL);
}

/* The slot for key (a fresh one, reusing an expired or the oldest slot, when create). */
static rl_slot *rl_find(const unsigned char key[32], int64_t now, int64_t window, int create) {
  rl_slot *oldest = NULL;
  for (size_t i = 0; i < RL_SLOTS; i++) {
    rl_slot *s = &rl_table[i];
    if (s->used && now - s->start >= window) s->used = 0;
    if (s->used && memcmp(s->key, key, 32) == 0) return s;
    if (!oldest || !s->used || (oldest->used && s->start < oldest->start)) oldest = s;
  }
  if (!create) return NULL;
  memset(oldest, 0, sizeof *oldest);
  memcpy(oldest->key, key, 32);
  oldest->start = now;
  oldest->used = 1;
  return oldest;
}

/* Take one attempt for the account and the address: 0, or 1 when either has used its
 * failures in the window. The attempt counts as a failure from here on (rl_success takes it
 * back), so logins sent at once cannot all pass the check before the first is counted. */
static int rl_begin(const srv_config *cfg, const char *email, const char *addr, int64_t now) {
  unsigned char ka[32], ki[32];
  int blocked = 0;
  rl_key(ka, 'a', email);
  if (addr) rl_key(ki, 'i', addr);
  pthread_mutex_lock(&rl_lock);
  rl_slot *s = rl_find(ka, now, cfg->login_window, 0);
  if (s && s->failures >= cfg->login_max_failures) blocked = 1;
  if (addr) {
    s = rl_find(ki, now, cfg->login_window, 0);
    if (s && s->failures >= 4 * cfg->login_max_failures) blocked = 1;
  }
  if (!blocked) {
    rl_find(ka, now, cfg->login_window, 1)->failures++;
    if (addr) rl_find(ki, now, cfg->login_window, 1)->failures++;
  }
  pthread_mutex_unlock(&rl_lock);
  return blocked;
}

/* A login that rl_begin let through succeeded: the account's count is cleared, the address's
 * loses the attempt. */
static void rl_success(const srv_config *cfg, const char *email, const char *addr, int64_t now) {
  unsigned char k[32];
  pthread_mutex_lock(&rl_lock);
  rl_key(k, 'a', email);
  rl_slot *s = rl_find(k, now, cfg->login_window, 0);
  if (s) s->used = 0;
  if (addr) {
    rl_key(k, 'i', addr);
    s = rl_find(k, now, cfg->login_window, 0);
    if (s && s->failures) s->failures--;
  }
  pthread_mutex_unlock(&rl_lock);
}

/* ---- sessions -------------------------------------------------------------------------- */

static void token_sha256(const char *token, char hex[65]) {
  srv_sha256_hex((const unsigned char *)token, strlen(token), hex);
}

static int token_well_formed(const char *t) {
  if (!t || strlen(t) != SRV_SESSION_TOKEN_LEN) return 0;
  for (const char *p = t; *p; p++)
    if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_') return 0;
  return 1;
}

void dom_csrf_token(const char *token, char out[SRV_CSRF_TOKEN_LEN + 1]) {
  unsigned char mac[32];
  unsigned int n = sizeof mac;
  static const char label[] = "escrowd-csrf-v1";
  if (!HMAC(EVP_sha256(), token, (int)strlen(token), (const unsigned char *)label,
            sizeof label - 1, mac, &n))
    abort(); /* HMAC-SHA256 over memory cannot fail but for a broken OpenSSL */
  sodium_bin2base64(out, SRV_CSRF_TOKEN_LEN + 1, mac, sizeof mac,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int dom_csrf_ok(const char *token, const char *header) {
  if (!token || !header || strlen(header) != SRV_CSRF_TOKEN_LEN) return 0;
  char want[SRV_CSRF_TOKEN_LEN + 1];
  dom_csrf_token(token, want);
  int ok = sodium_memcmp(want, header, SRV_CSRF_TOKEN_LEN) == 0;
  sodium_memzero(want, sizeof want);
  return ok;
}

static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static char dummy_hash[crypto_pwhash_STRBYTES];
static void make_dummy(void) {
  /* verified against when the account does not exist, so both answers cost the same */
  if (crypto_pwhash_str(dummy_hash, "escrowd-no-such-user", 20, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
    dummy_hash[0] = 0;
}

static void user_json(srv_ctx *ctx, srv_buf *out, const srv_user *u) {
  char *org = NULL;
  (void)acc_org_name(ctx->store, u->org_id, &org);
  srv_buf_puts(out, "{");
  srv_buf_json_kv(out, 1, "email", u->email);
  srv_buf_json_kv(out, 0, "org", org);
  srv_buf_json_kv(out, 0, "org_id", u->org_id);
  srv_buf_printf(out, ",\"operator\":%s,\"api_key\":%s}", u->is_operator ? "true" : "false",
                 u->public_key_pem ? "true" : "false");
  free(org);
}

int dom_login(srv_ctx *ctx, const char *email, const char *password, const char *addr,
              char token[SRV_SESSION_TOKEN_LEN + 1], srv_buf *out, srv_err *err) {
  token[0] = 0;
  if (!email || !*email || !password || !*password)
    return fail(err, SRV_E_BADREQ, "send email and password");
  int64_t now = (int64_t)time(NULL);
  if (strlen(email) > 254 || strlen(password) > SRV_PASSWORD_MAX)
    return fail(err, SRV_E_UNAUTH, "%s", LOGIN_FAILED);
  if (rl_begin(&ctx->cfg, email, addr, now))
    return fail(err, SRV_E_RATELIMIT,
                "too many failed logins for this account or address; try again later");
  srv_user u = {0};
  char *hash = NULL;
  int rc = acc_user_password(ctx->store, email, &u, &hash);
  if (rc && rc != SRV_NOTFOUND) return db_fail(err, rc, "the login"); /* counted as a failure */
  pw_enter();
  pthread_once(&dummy_once, make_dummy);
  const char *h = hash ? hash : dummy_hash;
  int ok = *h && crypto_pwhash_str_verify(h, password, strlen(password)) == 0 && hash != NULL;
  pw_leave();
  free(hash);
  if (!ok) {
    srv_user_clear(&u);
    return fail(err, SRV_E_UNAUTH, "%s", LOGIN_FAILED);
  }
  rl_success(&ctx->cfg, email, addr, now);
  unsigned char raw[32];
  randombytes_buf(raw, sizeof raw);
  sodium_bin2base64(token, SRV_SESSION_TOKEN_LEN + 1, raw, sizeof raw,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero(raw, sizeof raw);
  char hex[65];
  token_sha256(token, hex);
  rc = acc_session_put(ctx->store, hex, u.id, now, now + ctx->cfg.session_ttl);
  if (!rc) rc = ctx->store->audit_append(ctx->store, u.email, "session.login", NULL, u.id, NULL, NULL);
  if (!rc) {
    char csrf[SRV_CSRF_TOKEN_LEN + 1];
    dom_csrf_token(token, csrf);
    srv_buf_puts(out, "{");
    srv_buf_json_kv(out, 1, "csrf_token", csrf);
    srv_buf_printf(out, ",\"expires_in\":%lld,\"user\":", (long long)ctx->cfg.session_ttl);
    user_json(ctx, out, &u);
    srv_buf_puts(out, "}");
    sodium_memzero(csrf, sizeof csrf);
  }
  srv_user_clear(&u);
  if (rc) {
    sodium_memzero(token, SRV_SESSION_TOKEN_LEN + 1);
    return db_fail(err, rc, "the session");
  }
  return 0;
}

int dom_session_user(srv_ctx *ctx, const char *token, srv_user *u, srv_err *err) {
  memset(u, 0, sizeof *u);
  if (!token_well_formed(token))
    return fail(err, SRV_E_UNAUTH, "your session is not valid; log in again");
  char hex[65];
  token_sha256(token, hex);
  int rc = acc_session_user(ctx->store, hex, (int64_t)time(NULL), u);
  if (rc == SRV_NOTFOUND)
    return fail(err, SRV_E_UNAUTH, "your session has expired or was ended; log in again");
  return rc ? db_fail(err, rc, "the session") : 0;
}

int dom_logout(srv_ctx *ctx, const char *token, srv_err *err) {
  srv_user u;
  if (dom_session_user(ctx, token, &u, err)) return err->kind;
  char hex[65];
  token_sha256(token, hex);
  int rc = acc_session_delete(ctx->store, hex);
  if (!rc) rc = ctx->store->audit_append(ctx->store, u.email, "session.logout", NULL, u.id, NULL, NULL);
  srv_user_clear(&u);
  return rc ? db_fail(err, rc, "the session") : 0;
}

int dom_session_caller(srv_ctx *ctx, srv_user *u, const char *project_id, srv_caller *c,
                       srv_err *err) {
  memset(c, 0, sizeof *c);
  c->user = *u;
  memset(u, 0, sizeof *u);
  if (!project_id || !*project_id) {
    srv_caller_clear(c);
    return fail(err, SRV_E_BADREQ, "project_id is required: name the project this request is for");
  }
  int rc = ctx->store->project_get(ctx->store, project_id, &c->project);
  if (!rc) rc = ctx->store->member_get(ctx->store, project_id, c->user.id, &c->member);
  if (rc) {
    srv_caller_clear(c);
    if (rc == SRV_NOTFOUND)
      return fail(err, SRV_E_FORBIDDEN, "you are not a member of the project project_id names");
    return db_fail(err, rc, "the project");
  }
  return 0;
}

/* ---- projects as JSON ------------------------------------------------------------------ */

static void initials(const char *email, char out[3]) {
  size_t k = 0;
  int start = 1;
  for (const char *p = email; *p && *p != '@' && k < 2; p++) {
    if (*p == '.' || *p == '_' || *p == '-' || *p == '+') {
      start = 1;
    } else if (start && isalnum((unsigned char)*p)) {
      out[k++] = (char)toupper((unsigned char)*p);
      start = 0;
    }
  }
  out[k] = 0;
}

typedef struct pj {
  srv_ctx *ctx;
  srv_buf *out;
  const srv_user *viewer;
  const char *role; /* the viewer's organisation's role, set by party_cb */
  int n;
  int members; /* members written by page_member_cb */
} pj;

static int party_cb(void *arg, const char *org_id, const char *org_name, const char *role) {
  pj *s = arg;
  srv_buf_puts(s->out, s->n++ ? ",{" : "{");
  srv_buf_json_kv(s->out, 1, "org_id", org_id);
  srv_buf_json_kv(s->out, 0, "org", org_name);
  srv_buf_json_kv(s->out, 0, "role", role);
  srv_buf_puts(s->out, "}");
  if (s->viewer && s->viewer->org_id && org_id && strcmp(s->viewer->org_id, org_id) == 0)
    s->role = strcmp(role, "ao") == 0 ? "ao" : "ds";
  return 0;
}

static int member_cb(void *arg, const srv_user *u) {
  pj *s = arg;
  char ini[3];
  initials(u->email, ini);
  srv_buf_puts(s->out, s->n++ ? ",{" : "{");
  srv_buf_json_kv(s->out, 1, "email", u->email);
  srv_buf_json_kv(s->out, 0, "org_id", u->org_id);
  srv_buf_json_kv(s->out, 0, "initials", ini);
  srv_buf_puts(s->out, "}");
  return 0;
}

/* A project's fields, up to its parties' list (opened). */
static void project_json_head(pj *s, const srv_project *p) {
  srv_buf *out = s->out;
  srv_buf_puts(out, "{");
  srv_buf_json_kv(out, 1, "id", p->id);
  srv_buf_json_kv(out, 0, "name", p->name);
  srv_buf_json_kv(out, 0, "description", p->description);
  srv_buf_printf(out, ",\"created\":%lld", (long long)p->created_at);
  srv_buf_json_kv(out, 0, "state", p->state);
  srv_buf_printf(out, ",\"training\":%s", p->training ? "true" : "false");
  srv_buf_json_kv(out, 0, "tee", p->tee);
  srv_buf_printf(out, ",\"simulated_tee\":%s,\"collaborators\":[",
                 strcmp(p->tee, "sandbox") == 0 ? "true" : "false");
  s->role = NULL;
  s->n = 0;
}

/* After the members (members_open: their list is open already). */
static void project_json_tail(pj *s, int members_open) {
  if (!members_open) srv_buf_puts(s->out, "],\"members\":[");
  srv_buf_puts(s->out, "],");
  srv_buf_json_kv(s->out, 1, "role", s->role); /* null for the operator outside the project */
  srv_buf_puts(s->out, "}");
}

static int project_json(pj *s, const srv_project *p) {
  project_json_head(s, p);
  int rc = acc_parties_each(s->ctx->store, p->id, party_cb, s);
  srv_buf_puts(s->out, "],\"members\":[");
  s->n = 0;
  if (!rc) rc = acc_users_each(s->ctx->store, p->id, member_cb, s);
  project_json_tail(s, 1);
  return rc;
}

typedef struct plist {
  pj pj;
  int n;
} plist;

static int plist_cb(void *arg, const srv_project *p) {
  plist *l = arg;
  if (l->n++) srv_buf_puts(l->pj.out, ",");
  return project_json(&l->pj, p);
}

static int projects_json(srv_ctx *ctx, const srv_user *u, int all, srv_buf *out) {
  plist l = {{ctx, out, u, NULL, 0, 0}, 0};
  srv_buf_puts(out, "[");
  int rc = acc_projects_each(ctx->store, all ? NULL : u->id, plist_cb, &l);
  srv_buf_puts(out, "]");
  return rc;
}

int dom_me(srv_ctx *ctx, const srv_user *u, srv_buf *out, srv_err *err) {
  char ini[3];
  initials(u->email, ini);
  srv_buf_puts(out, "{\"user\":");
  user_json(ctx, out, u);
  srv_buf_puts(out, ",");
  srv_buf_json_kv(out, 1, "initials", ini);
  srv_buf_puts(out, ",\"projects\":");
  int rc = projects_json(ctx, u, 0, out);
  srv_buf_puts(out, "}");
  return rc ? db_fail(err, rc, "your projects") : 0;
}

int dom_require_operator(const srv_user *u, srv_err *err) {
  if (!u->is_operator)
    return fail(err, SRV_E_FORBIDDEN, "only the platform operator may do this");
  return 0;
}

int dom_list_projects(srv_ctx *ctx, const srv_user *u, srv_buf *out, srv_err *err) {
  srv_buf_puts(out, "{\"projects\":");
  int rc = projects_json(ctx, u, u->is_operator, out);
  srv_buf_puts(out, "}");
  return rc ? db_fail(err, rc, "the projects") : 0;
}

/* The project when u may see it: a member, or the operator. SRV_E_NOTFOUND otherwise. */
static int visible_project(srv_ctx *ctx, const srv_user *u, const char *project_id,
                           srv_project *p, srv_err *err) {
  memset(p, 0, sizeof *p);
  if (!project_id || !*project_id) return fail(err, SRV_E_BADREQ, "project_id is required");
  int rc = ctx->store->project_get(ctx->store, project_id, p);
  if (!rc && !u->is_operator) {
    srv_member m = {0};
    rc = ctx->store->member_get(ctx->store, project_id, u->id, &m);
    srv_member_clear(&m);
  }
  if (rc) {
    srv_project_clear(p);
    return rc == SRV_NOTFOUND ? fail(err, SRV_E_NOTFOUND, "no project with this id among yours")
                              : db_fail(err, rc, "the project");
  }
  return 0;
}

/* project_json's parts, for the project page read in one statement (acc_project_page) */
static int page_project_cb(void *arg, const srv_project *p) {
  pj *s = arg;
  project_json_head(s, p);
  return 0;
}

static int page_member_cb(void *arg, const srv_user *u) {
  pj *s = arg;
  if (!s->members++) { /* the first member: the parties are done */
    srv_buf_puts(s->out, "],\"members\":[");
    s->n = 0;
  }
  return member_cb(s, u);
}

int dom_get_project(srv_ctx *ctx, const srv_user *u, const char *project_id, srv_buf *out,
                    srv_err *err) {
  if (!project_id || !*project_id) return fail(err, SRV_E_BADREQ, "project_id is required");
  pj s = {ctx, out, u, NULL, 0, 0};
  int rc = acc_project_page(ctx->store, project_id, u->is_operator ? NULL : u->id,
                            page_project_cb, party_cb, page_member_cb, &s);
  if (rc) {
    srv_buf_free(out); /* no part of the page goes out with the error */
    return rc == SRV_NOTFOUND ? fail(err, SRV_E_NOTFOUND, "no project with this id among yours")
                              : db_fail(err, rc, "the project");
  }
  project_json_tail(&s, s.members > 0);
  return 0;
}

static int org_cb(void *arg, const char *id, const char *name, int64_t at) {
  pj *s = arg;
  srv_buf_puts(s->out, s->n++ ? ",{" : "{");
  srv_buf_json_kv(s->out, 1, "id", id);
  srv_buf_json_kv(s->out, 0, "name", name);
  srv_buf_printf(s->out, ",\"created\":%lld}", (long long)at);
  return 0;
}

int dom_list_orgs(srv_ctx *ctx, const srv_user *u, srv_buf *out, srv_err *err) {
  if (dom_require_operator(u, err)) return err->kind;
  pj s = {ctx, out, u, NULL, 0, 0};
  srv_buf_puts(out, "{\"organisations\":[");
  int rc = acc_orgs_each(ctx->store, org_cb, &s);
  srv_buf_puts(out, "]}");
  return rc ? db_fail(err, rc, "the organisations") : 0;
}

static int user_cb(void *arg, const srv_user *u) {
  pj *s = arg;
  if (s->n++) srv_buf_puts(s->out, ",");
  srv_buf_puts(s->out, "{");
  srv_buf_json_kv(s->out, 1, "id", u->id);
  srv_buf_json_kv(s->out, 0, "email", u->email);
  srv_buf_json_kv(s->out, 0, "org_id", u->org_id);
  srv_buf_printf(s->out, ",\"operator\":%s,\"api_key\":%s}", u->is_operator ? "true" : "false",
                 u->public_key_pem ? "true" : "false");
  return 0;
}

int dom_list_users(srv_ctx *ctx, const srv_user *u, srv_buf *out, srv_err *err) {
  if (dom_require_operator(u, err)) return err->kind;
  pj s = {ctx, out, u, NULL, 0, 0};
  srv_buf_puts(out, "{\"users\":[");
  int rc = acc_users_each(ctx->store, NULL, user_cb, &s);
  srv_buf_puts(out, "]}");
  return rc ? db_fail(err, rc, "the users") : 0;
}

int dom_project_add_user(srv_ctx *ctx, const srv_user *u, const char *project_id,
                         const char *email, srv_buf *out, srv_err *err) {
  if (dom_require_operator(u, err)) return err->kind;
  if (!email || !*email) return fail(err, SRV_E_BADREQ, "email is required");
  srv_project p;
  if (visible_project(ctx, u, project_id, &p, err)) return err->kind;
  srv_store *s = ctx->store;
  srv_user nu;
  int rc = s->user_find_email(s, email, &nu);
  if (rc) {
    srv_project_clear(&p);
    return rc == SRV_NOTFOUND ? fail(err, SRV_E_NOTFOUND, "no user with this e-mail address")
                              : db_fail(err, rc, "the user");
  }
  /* the user's organisation must be a party of the project */
  pj chk = {ctx, &(srv_buf){0}, &nu, NULL, 0, 0};
  rc = acc_parties_each(ctx->store, p.id, party_cb, &chk);
  srv_buf_free(chk.out);
  int r = 0;
  if (rc) {
    r = db_fail(err, rc, "the project");
  } else if (!chk.role) {
    r = fail(err, SRV_E_CONFLICT, "the user's organisation is not a party of this project");
  } else if (s->begin(s)) {
    r = db_fail(err, SRV_STOREERR, "the membership");
  } else {
    rc = s->project_add_user(s, p.id, nu.id);
    if (!rc) rc = s->audit_append(s, u->email, "project.add_user", p.id, nu.id, NULL, NULL);
    if (rc || s->commit(s)) {
      s->rollback(s);
      r = rc == SRV_CONFLICT ? fail(err, SRV_E_CONFLICT, "the user is a member already")
                             : db_fail(err, rc ? rc : SRV_STOREERR, "the membership");
    } else {
      srv_buf_puts(out, "{");
      srv_buf_json_kv(out, 1, "project_id", p.id);
      srv_buf_json_kv(out, 0, "email", nu.email);
      srv_buf_json_kv(out, 0, "role", chk.role);
      srv_buf_puts(out, "}");
    }
  }
  srv_user_clear(&nu);
  srv_project_clear(&p);
  return r;
}

/* ---- states ------------------------------------------------------------------------------ */

int dom_project_set_state(srv_ctx *ctx, const srv_user *u, const char *project_id,
                          const char *state, srv_buf *out, srv_err *err) {
  if (dom_require_operator(u, err)) return err->kind;
  if (!state || (strcmp(state, "Active") && strcmp(state, "Paused") && strcmp(state, "Deactivated")))
    return fail(err, SRV_E_BADREQ, "state must be Active, Paused or Deactivated");
  srv_project p;
  if (visible_project(ctx, u, project_id, &p, err)) return err->kind;
  int r = 0;
  if (strcmp(p.state, "Deactivated") == 0) {
    r = fail(err, SRV_E_CONFLICT, "the project is Deactivated (retired); its state is final");
  } else if (strcmp(p.state, state) == 0) {
    r = fail(err, SRV_E_CONFLICT, "the project is %s already", state);
  } else {
    srv_store *s = ctx->store;
    char action[64];
    snprintf(action, sizeof action, "project.state.%s", state);
    int rc = s->begin(s) ? SRV_STOREERR : 0;
    if (!rc) {
      rc = acc_project_set_state(s, p.id, p.state, state);
      if (!rc) rc = s->audit_append(s, u->email, action, p.id, p.id, NULL, NULL);
      if (rc || s->commit(s)) {
        s->rollback(s);
        if (!rc) rc = SRV_STOREERR;
      }
    }
    if (rc == SRV_NOTFOUND) {
      r = fail(err, SRV_E_CONFLICT,
               "the project's state changed while this request was handled; read it and try again");
    } else if (rc) {
      r = db_fail(err, rc, "the project");
    } else {
      srv_buf_puts(out, "{");
      srv_buf_json_kv(out, 1, "project_id", p.id);
      srv_buf_json_kv(out, 0, "previous_state", p.state);
      srv_buf_json_kv(out, 0, "state", state);
      srv_buf_puts(out, "}");
    }
  }
  srv_project_clear(&p);
  return r;
}

/* ---- API keys ---------------------------------------------------------------------------- */

int dom_register_api_key(srv_ctx *ctx, const srv_user *u, const char *pem, srv_buf *out,
                         srv_err *err) {
  if (!pem || !*pem) return fail(err, SRV_E_BADREQ, "public_key (PEM) is required");
  if (srv_check_public_key(pem, err)) return err->kind;
  int rc = acc_user_set_key(ctx->store, u->id, pem);
  if (!rc) rc = ctx->store->audit_append(ctx->store, u->email, "user.api_key", NULL, u->id, NULL, NULL);
  if (rc) return db_fail(err, rc, "the user");
  char fp[65];
  srv_sha256_hex((const unsigned char *)pem, strlen(pem), fp);
  srv_buf_puts(out, "{");
  srv_buf_json_kv(out, 1, "email", u->email);
  srv_buf_json_kv(out, 0, "public_key_sha256", fp);
  srv_buf_puts(out, ",\"api_key\":true}");
  return 0;
}

/* ---- search ------------------------------------------------------------------------------ */

#define SEARCH_LIMIT 100
typedef struct search_state {
  srv_buf *out;
  int n;
} search_state;

static int hit_cb(void *arg, const acc_hit *h) {
  search_state *s = arg;
  srv_buf *out = s->out;
  srv_buf_puts(out, s->n++ ? ",{" : "{");
  srv_buf_json_kv(out, 1, "project_id", h->project_id);
  srv_buf_json_kv(out, 0, "project_name", h->project_name);
  srv_buf_json_kv(out, 0, "type", h->kind);
  srv_buf_json_kv(out, 0, "name", h->name);
  srv_buf_json_kv(out, 0, "description", h->description);
  if (strcmp(h->kind, "project") != 0 && strcmp(h->kind, "run_configuration") != 0) {
    srv_buf_json_kv(out, 0, "version_tag", h->version_tag);
    srv_buf_json_kv(out, 0, "version_description", h->version_description);
    srv_buf_printf(out, ",\"system_version\":%lld", (long long)h->system_version);
  }
  srv_buf_printf(out, ",\"created\":%lld}", (long long)h->created_at);
  return 0;
}

int dom_search(srv_ctx *ctx, const srv_user *u, const char *q, srv_buf *out, srv_err *err) {
  if (!srv_valid_text(q, 200))
    return fail(err, SRV_E_BADREQ, "q must be 1 to 200 printable characters");
  search_state s = {.out = out};
  srv_buf_puts(out, "{");
  srv_buf_json_kv(out, 1, "query", q);
  srv_buf_puts(out, ",\"results\":[");
  int rc = acc_search(ctx->store, u->is_operator ? NULL : u->id, q, SEARCH_LIMIT, hit_cb, &s);
  srv_buf_puts(out, "]}");
  return rc ? db_fail(err, rc, "the search") : 0;
}
