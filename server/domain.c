/* escrowd: the domain layer (see domain.h). */
#include "domain.h"

#include <errno.h>
#include <limits.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <escrow/criteria.h>
#include <escrow/error.h>
#include <escrow/keys.h>
#include <escrow/package.h>
#include <escrow/sas.h>

#include "accounts.h"
#include "blobs.h"
#include "jwt.h"

__attribute__((format(printf, 3, 4)))
static int err_set(srv_err *e, int kind, const char *fmt, ...) {
  e->kind = kind;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  return kind;
}

static int store_err(srv_err *e, int rc, const char *what) {
  if (rc == SRV_NOTFOUND) return err_set(e, SRV_E_NOTFOUND, "%s was not found", what);
  if (rc == SRV_CONFLICT) return err_set(e, SRV_E_CONFLICT, "%s already exists", what);
  return err_set(e, SRV_E_INTERNAL, "the database failed while handling %s", what);
}

static void uuid4(char out[37]) {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) abort(); /* no safe way on without randomness */
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
  snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
           b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
           b[14], b[15]);
}

int srv_valid_text(const char *s, size_t max) {
  if (!s) return 0;
  size_t n = strlen(s);
  if (n == 0 || n > max) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f) return 0;
  }
  return 1;
}

int srv_valid_file_name(const char *name) {
  if (!srv_valid_text(name, 255)) return 0;
  if (strchr(name, '/') || strchr(name, '\\') || strcmp(name, ".") == 0 ||
      strcmp(name, "..") == 0 || name[0] == '.' )
    return 0;
  return 1;
}

static const char *ext_of(const char *name) {
  const char *d = name ? strrchr(name, '.') : NULL;
  return d ? d + 1 : "";
}

int srv_ctx_open(srv_ctx *ctx, const srv_config *cfg, char *err, size_t errsz) {
  memset(ctx, 0, sizeof *ctx);
  ctx->cfg = *cfg;
  char path[PATH_MAX];
  if (mkdir(cfg->data_dir, 0700) && errno != EEXIST) {
    snprintf(err, errsz, "cannot create the data folder %s: %s", cfg->data_dir, strerror(errno));
    return -1;
  }
  if (escrow_init() != 0) {
    snprintf(err, errsz, "libescrow failed to initialise");
    return -1;
  }
  if (snprintf(path, sizeof path, "%s/master.key", cfg->data_dir) >= (int)sizeof path) {
    snprintf(err, errsz, "the data folder's path is too long");
    return -1;
  }
  if (!(ctx->vault = srv_vault_file_open(path, err, errsz))) return -1;
  (void)snprintf(path, sizeof path, "%s/escrowd.db", cfg->data_dir); /* shorter than above */
  if (!(ctx->store = srv_store_open(cfg->database ? cfg->database : path, cfg->db_connections,
                                    err, errsz))) {
    ctx->vault->close(ctx->vault);
    return -1;
  }
  if (!(ctx->keys = srv_keycache_new(0))) {
    snprintf(err, errsz, "out of memory");
    ctx->store->close(ctx->store);
    ctx->vault->close(ctx->vault);
    return -1;
  }
  if (!ctx->cfg.session_ttl) ctx->cfg.session_ttl = 28800;
  if (!ctx->cfg.login_max_failures) ctx->cfg.login_max_failures = 5;
  if (!ctx->cfg.login_window) ctx->cfg.login_window = 900;
  return 0;
}

void srv_ctx_close(srv_ctx *ctx) {
  if (ctx->store) ctx->store->close(ctx->store);
  if (ctx->vault) ctx->vault->close(ctx->vault);
  srv_keycache_free(ctx->keys);
  memset(ctx, 0, sizeof *ctx);
}

void srv_caller_clear(srv_caller *c) {
  srv_user_clear(&c->user);
  srv_member_clear(&c->member);
  srv_project_clear(&c->project);
}

/* ---- admin --------------------------------------------------------------------------- */

int dom_create_org(srv_ctx *ctx, const char *name, srv_buf *out, srv_err *err) {
  if (!srv_valid_text(name, 200)) return err_set(err, SRV_E_BADREQ, "--name must be 1 to 200 printable characters");
  char id[37];
  uuid4(id);
  srv_store *s = ctx->store;
  if (s->begin(s)) return store_err(err, SRV_STOREERR, "the organisation");
  int rc = s->org_create(s, id, name);
  if (!rc) rc = s->audit_append(s, "operator", "org.create", NULL, id, NULL, NULL);
  if (rc || s->commit(s)) {
    s->rollback(s);
    return store_err(err, rc ? rc : SRV_STOREERR, "an organisation with this name");
  }
  srv_buf_puts(out, "{");
  srv_buf_json_kv(out, 1, "id", id);
  srv_buf_json_kv(out, 0, "name", name);
  srv_buf_puts(out, "}");
  return 0;
}

int srv_check_public_key(const char *pem, srv_err *err) {
  BIO *b = BIO_new_mem_buf(pem, -1);
  EVP_PKEY *k = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
  BIO_free(b);
  int ok = k && EVP_PKEY_is_a(k, "RSA") && EVP_PKEY_get_bits(k) >= 2048;
  EVP_PKEY_free(k);
  if (!ok)
    return err_set(err, SRV_E_BADREQ,
                   "the public key must be an RSA public key of at least 2048 bits in PEM "
                   "(-----BEGIN PUBLIC KEY-----)");
  return 0;
}

int dom_create_user(srv_ctx *ctx, const char *org, const char *email, const char *pem,
                    int is_operator, srv_buf *out, srv_err *err) {
  if (!srv_valid_text(email, 254) || !strchr(email, '@') || strchr(email, ' '))
    return err_set(err, SRV_E_BADREQ, "--email must be an e-mail address");
  if (pem && srv_check_public_key(pem, err)) return err->kind;
  srv_store *s = ctx->store;
  char *org_id = NULL;
  int rc = s->org_find(s, org, &org_id);
  if (rc) return store_err(err, rc, "the organisation");
  char id[37];
  uuid4(id);
  srv_user u = {.id = id, .org_id = org_id, .email = (char *)email,
                .public_key_pem = (char *)pem, .is_operator = is_operator};
  if (s->begin(s)) {
    free(org_id);
    return store_err(err, SRV_STOREERR, "the user");
  }
  rc = s->user_create(s, &u);
  if (!rc) rc = s->audit_append(s, "operator", "user.create", NULL, id, NULL, NULL);
  if (rc || s->commit(s)) {
    s->rollback(s);
    free(org_id);
    return store_err(err, rc ? rc : SRV_STOREERR, "a user with this e-mail address");
  }
  srv_buf_puts(out, "{");
  srv_buf_json_kv(out, 1, "id", id);
  srv_buf_json_kv(out, 0, "email", email);
  srv_buf_json_kv(out, 0, "org_id", org_id);
  srv_buf_printf(out, ",\"operator\":%s,\"api_key\":%s}", is_operator ? "true" : "false",
                 pem ? "true" : "false");
  free(org_id);
  return 0;
}

/* Generate a party's KEK: public PEM + sealed private PKCS#8 DER. */
static int make_kek(srv_ctx *ctx, const char *project_name, const char *project_id,
                    const char *org_id, const char *role, srv_kek *out, srv_err *err) {
  memset(out, 0, sizeof *out);
  escrow_kek *k = NULL;
  uint8_t *pub = NULL, *priv = NULL;
  size_t publen = 0, privlen = 0;
  int r = SRV_E_INTERNAL;
  if (escrow_kek_generate(&k, ctx->cfg.kek_bits) ||
      escrow_kek_public_export(k, ESCROW_KEY_PEM, &pub, &publen) ||
      escrow_kek_private_export(k, ESCROW_KEY_DER, &priv, &privlen)) {
    err_set(err, SRV_E_INTERNAL, "key generation failed: %s", escrow_error_last());
    goto done;
  }
  char context[128];
  snprintf(context, sizeof context, "escrowd-kek/%s/%s", project_id, org_id);
  if (ctx->vault->seal(ctx->vault, context, priv, privlen, &out->sealed, &out->sealed_len)) {
    err_set(err, SRV_E_INTERNAL, "the vault could not seal the key");
    goto done;
  }
  size_t fnsz = strlen(project_name) + 32;
  char *pubname = malloc(fnsz), *privname = malloc(fnsz);
  if (!pubname || !privname || escrow_kek_filenames(project_name, role, pubname, fnsz, privname, fnsz)) {
    free(pubname);
    free(privname);
    err_set(err, SRV_E_INTERNAL, "cannot name the key file");
    goto done;
  }
  free(privname);
  out->file_name = pubname;
  out->public_pem = malloc(publen + 1);
  if (!out->public_pem) {
    err_set(err, SRV_E_INTERNAL, "out of memory");
    goto done;
  }
  memcpy(out->public_pem, pub, publen);
  out->public_pem[publen] = 0;
  r = 0;
done:
  escrow_free(pub);
  escrow_secret_free(priv);
  escrow_kek_free(k);
  if (r) srv_kek_clear(out);
  return r;
}

int dom_create_project(srv_ctx *ctx, const char *name, const char *description,
                       const char *ao_org, const char *const *ds_orgs, size_t nds, int training,
                       const char *tee, const char *const *users, size_t nusers, srv_buf *out,
                       srv_err *err) {
  if (!srv_valid_text(name, 200)) return err_set(err, SRV_E_BADREQ, "--name must be 1 to 200 printable characters");
  if (description && *description && !srv_valid_text(description, 4000))
    return err_set(err, SRV_E_BADREQ, "--description has control characters or is too long");
  if (nds == 0) return err_set(err, SRV_E_BADREQ, "a project needs at least one data steward organisation (--ds-org)");
  if (strcmp(tee, "sandbox") != 0)
    return err_set(err, SRV_E_BADREQ, "--tee: this build knows only \"sandbox\" (a simulated TEE)");
  srv_store *s = ctx->store;
  char pid[37];
  uuid4(pid);
  size_t nparties = 1 + nds;
  char **org_ids = calloc(nparties, sizeof *org_ids);
  srv_kek *keks = calloc(nparties, sizeof *keks);
  int r = 0, rc;
  if (!org_ids || !keks) {
    r = err_set(err, SRV_E_INTERNAL, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < nparties; i++) {
    const char *o = i == 0 ? ao_org : ds_orgs[i - 1];
    if ((rc = s->org_find(s, o, &org_ids[i]))) {
      r = err_set(err, rc == SRV_NOTFOUND ? SRV_E_NOTFOUND : SRV_E_INTERNAL,
                  "the organisation \"%s\" was not found", o);
      goto done;
    }
    for (size_t j = 0; j < i; j++)
      if (strcmp(org_ids[j], org_ids[i]) == 0) {
        r = err_set(err, SRV_E_BADREQ, "an organisation can hold only one role in a project");
        goto done;
      }
  }
  /* keys first (slow), outside the transaction */
  for (size_t i = 0; i < nparties; i++)
    if ((r = make_kek(ctx, name, pid, org_ids[i], i == 0 ? "ao" : "ds", &keks[i], err))) goto done;
  if (s->begin(s)) {
    r = store_err(err, SRV_STOREERR, "the project");
    goto done;
  }
  srv_project p = {.id = pid, .name = (char *)name, .description = (char *)(description ? description : ""),
                   .tee = (char *)tee, .state = "Active", .training = training};
  rc = s->project_create(s, &p);
  for (size_t i = 0; !rc && i < nparties; i++) {
    const char *role = i == 0 ? "ao" : "ds";
    rc = s->project_add_org(s, pid, org_ids[i], role);
    if (!rc) rc = s->kek_put(s, pid, org_ids[i], role, &keks[i]);
  }
  for (size_t i = 0; !rc && i < nusers; i++) {
    srv_user u;
    rc = s->user_find_email(s, users[i], &u);
    if (rc == SRV_NOTFOUND) {
      s->rollback(s);
      r = err_set(err, SRV_E_NOTFOUND, "the user \"%s\" was not found", users[i]);
      goto done;
    }
    if (rc) break;
    int in_party = 0;
    for (size_t j = 0; j < nparties; j++) in_party |= strcmp(u.org_id, org_ids[j]) == 0;
    if (in_party) rc = s->project_add_user(s, pid, u.id);
    srv_user_clear(&u);
    if (!in_party) {
      s->rollback(s);
      r = err_set(err, SRV_E_BADREQ,
                  "the user \"%s\" belongs to none of the project's organisations", users[i]);
      goto done;
    }
  }
  if (!rc) rc = s->audit_append(s, "operator", "project.create", pid, pid, NULL, NULL);
  if (rc || s->commit(s)) {
    s->rollback(s);
    r = store_err(err, rc ? rc : SRV_STOREERR, "the project or one of its members");
    goto done;
  }
  srv_buf_puts(out, "{");
  srv_buf_json_kv(out, 1, "id", pid);
  srv_buf_json_kv(out, 0, "name", name);
  srv_buf_json_kv(out, 0, "tee", tee);
  srv_buf_printf(out, ",\"training\":%s,\"state\":\"Active\",\"parties\":[",
                 training ? "true" : "false");
  for (size_t i = 0; i < nparties; i++) {
    srv_buf_puts(out, i ? ",{" : "{");
    srv_buf_json_kv(out, 1, "org_id", org_ids[i]);
    srv_buf_json_kv(out, 0, "role", i == 0 ? "ao" : "ds");
    srv_buf_json_kv(out, 0, "kek_file_name", keks[i].file_name);
    srv_buf_puts(out, "}");
  }
  srv_buf_puts(out, "]}");
done:
  for (size_t i = 0; org_ids && i < nparties; i++) free(org_ids[i]);
  for (size_t i = 0; keks && i < nparties; i++) srv_kek_clear(&keks[i]);
  free(org_ids);
  free(keks);
  return r;
}

/* ---- API ------------------------------------------------------------------------------ */

int dom_authenticate(srv_ctx *ctx, const char *authz, srv_caller *c, srv_err *err) {
  memset(c, 0, sizeof *c);
  if (!authz || strncasecmp(authz, "Bearer ", 7) != 0)
    return err_set(err, SRV_E_UNAUTH, "send Authorization: Bearer <JWT signed with your registered key>");
  const char *tok = authz + 7;
  while (*tok == ' ') tok++;
  srv_jwt *j = NULL;
  char why[256];
  if (srv_jwt_parse(&j, tok, strlen(tok), why, sizeof why))
    return err_set(err, SRV_E_UNAUTH, "invalid token: %s", why);
  int r = 0;
  if (!j->user || !j->sub) {
    r = err_set(err, SRV_E_UNAUTH, "invalid token: it must name the user (user) and project (sub)");
    goto done;
  }
  /* one read for the user, the project and the membership; acted on only once the signature
   * and the claims are checked */
  int in_project = 0;
  int rc = srv_store_caller_get(ctx->store, j->user, j->sub, &c->user, &c->project, &c->member,
                                &in_project);
  if (rc || !c->user.public_key_pem) {
    r = rc && rc != SRV_NOTFOUND
            ? err_set(err, SRV_E_INTERNAL, "the database failed while checking the token")
            /* the same answer as a wrong key's: it must not tell which users exist */
            : err_set(err, SRV_E_UNAUTH, "invalid token: the token's signature does not verify");
    goto done;
  }
  if (srv_keycache_verify(ctx->keys, c->user.id, c->user.public_key_pem, j, why, sizeof why) ||
      srv_jwt_check_claims(j, (int64_t)time(NULL), ctx->cfg.clock_skew,
                           ctx->cfg.max_token_lifetime, "EscrowAI-API",
                           ctx->cfg.audiences, ctx->cfg.naudiences, why, sizeof why)) {
    r = err_set(err, SRV_E_UNAUTH, "invalid token: %s", why);
    goto done;
  }
  if (!in_project) {
    r = err_set(err, SRV_E_FORBIDDEN, "you are not a member of the project the token names");
    goto done;
  }
done:
  srv_jwt_free(j);
  if (r) srv_caller_clear(c);
  return r;
}

int dom_kek_download(srv_ctx *ctx, const srv_caller *c, srv_buf *out, srv_err *err) {
  srv_kek k;
  int rc = ctx->store->kek_get(ctx->store, c->project.id, c->member.org_id, &k);
  if (rc) return store_err(err, rc, "your party's key encryption key");
  srv_buf_puts(out, "{");
  srv_buf_json_kv(out, 1, "key content", k.public_pem);
  srv_buf_json_kv(out, 0, "file_name", k.file_name);
  srv_buf_json_kv(out, 0, "role", c->member.role);
  srv_buf_json_kv(out, 0, "project_id", c->project.id);
  srv_buf_puts(out, "}");
  srv_kek_clear(&k);
  return 0;
}

static int check_version_in(const srv_version_in *v, srv_err *err) {
  if (!srv_valid_text(v->name, 200))
    return err_set(err, SRV_E_BADREQ, "name is required (1 to 200 printable characters)");
  if (!srv_valid_text(v->version_tag, 100))
    return err_set(err, SRV_E_BADREQ, "version_tag is required (1 to 100 printable characters)");
  if (v->description && *v->description && !srv_valid_text(v->description, 4000))
    return err_set(err, SRV_E_BADREQ, "description has control characters or is too long");
  if (v->version_description && *v->version_description &&
      !srv_valid_text(v->version_description, 4000))
    return err_set(err, SRV_E_BADREQ, "version_description has control characters or is too long");
  return 0;
}

static int require_active(const srv_caller *c, srv_err *err) {
  if (strcmp(c->project.state, "Active") != 0)
    return err_set(err, SRV_E_CONFLICT, "the project is %s: uploads need an Active project",
                   c->project.state);
  return 0;
}

static void version_json(srv_buf *out, const srv_artifact *a, const char *role) {
  srv_buf_puts(out, "{");
  srv_buf_json_kv(out, 1, "id", a->id);
  srv_buf_json_kv(out, 0, "project_id", a->project_id);
  srv_buf_json_kv(out, 0, "artifact_type", a->kind);
  srv_buf_json_kv(out, 0, "role", role);
  srv_buf_json_kv(out, 0, "name", a->name);
  srv_buf_json_kv(out, 0, "description", a->description);
  srv_buf_json_kv(out, 0, "version_tag", a->version_tag);
  srv_buf_json_kv(out, 0, "version_description", a->version_description);
  srv_buf_printf(out, ",\"system_version\":%lld,\"created_at\":%lld", (long long)a->system_version,
                 (long long)a->created_at);
  if (a->sha256) srv_buf_json_kv(out, 0, "sha256", a->sha256);
  if (a->file_name) srv_buf_json_kv(out, 0, "file_name", a->file_name);
  srv_buf_puts(out, ",\"details\":");
  srv_buf_puts(out, a->meta_json ? a->meta_json : "{}");
  srv_buf_puts(out, "}");
}

/* Store the file (if any) and the version row; prune older versions when only_latest. */
static int save_version_sealed(srv_ctx *ctx, const srv_caller *c, const char *kind,
                               const srv_version_in *v, const char *file_name,
                               const unsigned char *data, size_t len, const char *hex_in,
                               const char *meta_json, int only_latest,
                               const unsigned char *sealed, size_t sealed_len, srv_buf *out,
                               srv_err *err) {
  char hex[65] = "", id[37];
  char why[256];
  if (data && srv_blob_put(ctx->cfg.data_dir, data, len, hex, why, sizeof why))
    return err_set(err, SRV_E_INTERNAL, "%s", why);
  if (!data && hex_in) { /* a file already in the blob folder */
    snprintf(hex, sizeof hex, "%s", hex_in);
    data = (const unsigned char *)"";
  }
  uuid4(id);
  srv_artifact a = {.id = id, .project_id = c->project.id, .kind = (char *)kind,
                    .org_id = c->member.org_id, .name = (char *)v->name,
                    .description = (char *)(v->description ? v->description : ""),
                    .version_tag = (char *)v->version_tag,
                    .version_description = (char *)(v->version_description ? v->version_description : ""),
                    .sha256 = data ? hex : NULL, .file_name = (char *)file_name,
                    .meta_json = (char *)meta_json, .created_by = c->user.id,
                    .sealed_secret = sealed, .sealed_secret_len = sealed_len};
  srv_store *s = ctx->store;
  if (s->begin(s)) return store_err(err, SRV_STOREERR, "the upload");
  /* the state again, now that a change of it waits for this transaction: the one read when
   * the request was authenticated may have changed while the file was received */
  char *state = NULL;
  int rc = srv_store_project_state_locked(s, c->project.id, &state);
  if (!rc && strcmp(state, "Active") != 0) {
    s->rollback(s);
    err_set(err, SRV_E_CONFLICT, "the project is %s: uploads need an Active project", state);
    free(state);
    return err->kind;
  }
  free(state);
  if (!rc) rc = s->artifact_insert(s, &a);
  if (!rc && only_latest) rc = s->artifact_prune(s, c->project.id, kind, c->member.org_id, id);
  char action[64];
  snprintf(action, sizeof action, "%s.upload", kind);
  if (!rc) rc = s->audit_append(s, c->user.email, action, c->project.id, id, NULL, data ? hex : NULL);
  if (rc || s->commit(s)) {
    s->rollback(s);
    if (rc == SRV_CONFLICT)
      return err_set(err, SRV_E_CONFLICT, "version_tag \"%s\" is already used for this %s",
                     v->version_tag, kind);
    return store_err(err, SRV_STOREERR, "the upload");
  }
  version_json(out, &a, c->member.role);
  return 0;
}

static int save_version(srv_ctx *ctx, const srv_caller *c, const char *kind,
                        const srv_version_in *v, const char *file_name,
                        const unsigned char *data, size_t len, const char *meta_json,
                        int only_latest, srv_buf *out, srv_err *err) {
  return save_version_sealed(ctx, c, kind, v, file_name, data, len, NULL, meta_json, only_latest,
                             NULL, 0, out, err);
}

int dom_upload_wcek(srv_ctx *ctx, const srv_caller *c, const srv_version_in *v,
                    const char *file_name, const unsigned char *data, size_t len, srv_buf *out,
                    srv_err *err) {
  if (require_active(c, err) || check_version_in(v, err)) return err->kind;
  if (!data) return err_set(err, SRV_E_BADREQ, "file_name: the WCEK file is required");
  srv_kek k;
  int rc = ctx->store->kek_get(ctx->store, c->project.id, c->member.org_id, &k);
  if (rc) return store_err(err, rc, "your party's key encryption key");
  /* The WCEK must unwrap with this party's KEK: catches a CEK wrapped with another
   * project's or the other role's key before any run depends on it. */
  char context[128];
  snprintf(context, sizeof context, "escrowd-kek/%s/%s", c->project.id, c->member.org_id);
  unsigned char *priv = NULL;
  size_t privlen = 0;
  escrow_kek *kek = NULL;
  escrow_cek *cek = NULL;
  int r = 0;
  if (ctx->vault->unseal(ctx->vault, context, k.sealed, k.sealed_len, &priv, &privlen) ||
      escrow_kek_private_from_bytes(&kek, priv, privlen)) {
    r = err_set(err, SRV_E_INTERNAL, "the vault could not open your party's key");
    goto done;
  }
  if (len != escrow_kek_bits(kek) / 8) {
    r = err_set(err, SRV_E_UNPROCESSABLE,
                "the WCEK must be %u bytes (an RSA-OAEP wrap with this project's %s KEK); got %zu",
                escrow_kek_bits(kek) / 8, c->member.role, len);
    goto done;
  }
  if (escrow_wcek_unwrap(&cek, kek, data, len, ESCROW_OAEP_AUTO, NULL)) {
    r = err_set(err, SRV_E_UNPROCESSABLE,
                "the WCEK does not unwrap with this project's %s key encryption key: wrap "
                "your CEK with the KEK downloaded from this project",
                c->member.role);
    goto done;
  }
  r = save_version(ctx, c, "wcek", v, file_name, data, len, "{}", 1, out, err);
done:
  escrow_cek_free(cek);
  escrow_kek_free(kek);
  srv_vault_secret_free(priv, privlen);
  srv_kek_clear(&k);
  return r;
}

int dom_upload_criteria(srv_ctx *ctx, const srv_caller *c, const srv_version_in *v,
                        const char *file_name, const unsigned char *data, size_t len,
                        srv_buf *out, srv_err *err) {
  if (strcmp(c->member.role, "ao") != 0)
    return err_set(err, SRV_E_FORBIDDEN, "validation criteria are uploaded by the algorithm owner");
  if (require_active(c, err) || check_version_in(v, err)) return err->kind;
  if (!data) return err_set(err, SRV_E_BADREQ, "file_name: the criteria JSON file is required");
  escrow_criteria *crit = NULL;
  char *schema_errors = NULL;
  int rc = escrow_criteria_compile(&crit, (const char *)data, len, NULL, &schema_errors);
  if (rc) {
    int kind = rc == ESCROW_E_NOMEM ? SRV_E_INTERNAL : SRV_E_UNPROCESSABLE;
    err_set(err, kind, "the validation criteria are not a valid schema: %s", escrow_error_last());
    if (schema_errors) {
      srv_buf_puts(out, schema_errors);
      escrow_free(schema_errors);
    }
    return kind;
  }
  escrow_criteria_free(crit);
  return save_version(ctx, c, "validation_criteria", v, file_name, data, len,
                      "{\"accepted_by\":[]}", 0, out, err);
}

static int doc_type_ok(const char *kind, const char *file_name, const unsigned char *d,
                       size_t len) {
  const char *e = ext_of(file_name);
  int pdf = len >= 5 && memcmp(d, "%PDF-", 5) == 0;
  int zip = len >= 4 && memcmp(d, "PK\x03\x04", 4) == 0;
  int ole = len >= 8 && memcmp(d, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8) == 0;
  if (strcasecmp(e, "pdf") == 0) return pdf;
  if (strcmp(kind, "data_attestation") == 0) return 0;
  if (strcasecmp(e, "docx") == 0) return zip;
  if (strcasecmp(e, "doc") == 0) return ole;
  return 0;
}

int dom_upload_document(srv_ctx *ctx, const srv_caller *c, const char *kind,
                        const srv_version_in *v, const char *file_name,
                        const unsigned char *data, size_t len, srv_buf *out, srv_err *err) {
  int spec = strcmp(kind, "data_specification") == 0;
  if (spec && strcmp(c->member.role, "ao") != 0)
    return err_set(err, SRV_E_FORBIDDEN, "the data specification is uploaded by the algorithm owner");
  if (!spec && strcmp(c->member.role, "ds") != 0)
    return err_set(err, SRV_E_FORBIDDEN, "data attestation reports are uploaded by a data steward");
  if (require_active(c, err) || check_version_in(v, err)) return err->kind;
  if (!data || !file_name) return err_set(err, SRV_E_BADREQ, "file_name: the document is required");
  if (!doc_type_ok(kind, file_name, data, len))
    return err_set(err, SRV_E_UNPROCESSABLE,
                   spec ? "the data specification must be a PDF, .doc or .docx file"
                        : "the data attestation report must be a PDF file");
  return save_version(ctx, c, kind, v, file_name, data, len, "{}", 0, out, err);
}

int dom_upload_dataset(srv_ctx *ctx, const srv_caller *c, const srv_version_in *v,
                       const char *uri, const char *spec_tag, const char *att_tag,
                       const char *tags, srv_buf *out, srv_err *err) {
  if (strcmp(c->member.role, "ds") != 0)
    return err_set(err, SRV_E_FORBIDDEN, "datasets are added by a data steward");
  if (require_active(c, err) || check_version_in(v, err)) return err->kind;
  if (!srv_valid_text(uri, 4096)) return err_set(err, SRV_E_BADREQ, "dataset_uri is required");
  if (!srv_valid_text(spec_tag, 100))
    return err_set(err, SRV_E_BADREQ, "data_specification_version (a version tag) is required");
  if (!srv_valid_text(att_tag, 100))
    return err_set(err, SRV_E_BADREQ, "data_attestation_version (a version tag) is required");
  if (tags && *tags && !srv_valid_text(tags, 1000))
    return err_set(err, SRV_E_BADREQ, "tags has control characters or is too long");
  srv_store *s = ctx->store;
  srv_artifact w, sp, at;
  int rc = s->artifact_latest(s, c->project.id, "wcek", c->member.org_id, &w);
  if (rc)
    return rc == SRV_NOTFOUND
               ? err_set(err, SRV_E_CONFLICT, "upload your party's WCEK before adding a dataset")
               : store_err(err, rc, "the WCEK");
  srv_artifact_clear(&w);
  if ((rc = s->artifact_find_tag(s, c->project.id, "data_specification", NULL, spec_tag, &sp)))
    return rc == SRV_NOTFOUND ? err_set(err, SRV_E_CONFLICT, "no data specification has version_tag \"%s\"", spec_tag)
                              : store_err(err, rc, "the data specification");
  if ((rc = s->artifact_find_tag(s, c->project.id, "data_attestation", c->member.org_id, att_tag,
                                 &at))) {
    srv_artifact_clear(&sp);
    return rc == SRV_NOTFOUND ? err_set(err, SRV_E_CONFLICT, "your party has no data attestation report with version_tag \"%s\"", att_tag)
                              : store_err(err, rc, "the data attestation report");
  }
  escrow_sas_result sr;
  int r;
  /* a local folder (file:///...) for the embedded default, behind --allow-loopback-http */
  int local = (ctx->cfg.sas_flags & ESCROW_SAS_ALLOW_LOOPBACK_HTTP) &&
              strncmp(uri, "file:///", 8) == 0 && !strchr(uri, '?') && !strstr(uri, "/../");
  if (local) {
    memset(&sr, 0, sizeof sr);
    sr.status = ESCROW_SAS_VALID;
    sr.status_name = "local folder";
  } else if (escrow_sas_check(&sr, uri, NULL, ctx->cfg.sas_flags)) {
    r = err_set(err, SRV_E_INTERNAL, "the SAS URL could not be checked");
    goto done;
  }
  if (sr.status != ESCROW_SAS_VALID) {
    /* the reason names the rule, never the signature */
    r = err_set(err, SRV_E_UNPROCESSABLE, "dataset_uri: %s (%s): %s", sr.message, sr.status_name,
                sr.reason);
    goto done;
  }
  escrow_sas *sas = NULL;
  const char *se = NULL;
  if (!local && escrow_sas_parse(&sas, uri, ctx->cfg.sas_flags) == 0) se = escrow_sas_param(sas, "se");
  srv_buf meta = {0};
  srv_buf_puts(&meta, "{");
  /* The SAS token is a bearer credential: only the URL without its query is kept in clear;
   * the whole URL is sealed by the vault and never returned. */
  const char *q = strchr(uri, '?');
  size_t loclen = q ? (size_t)(q - uri) : strlen(uri);
  char *location = malloc(loclen + 1);
  if (!location) {
    escrow_sas_free(sas);
    srv_buf_free(&meta);
    r = err_set(err, SRV_E_INTERNAL, "out of memory");
    goto done;
  }
  memcpy(location, uri, loclen);
  location[loclen] = 0;
  srv_buf_json_kv(&meta, 1, "dataset_location", location);
  free(location);
  srv_buf_json_kv(&meta, 0, "sas_status", sr.status_name);
  srv_buf_json_kv(&meta, 0, "sas_expiry", se);
  srv_buf_json_kv(&meta, 0, "data_specification_version", sp.version_tag);
  srv_buf_json_kv(&meta, 0, "data_specification_id", sp.id);
  srv_buf_json_kv(&meta, 0, "data_attestation_version", at.version_tag);
  srv_buf_json_kv(&meta, 0, "data_attestation_id", at.id);
  srv_buf_json_kv(&meta, 0, "tags", tags ? tags : "");
  srv_buf_puts(&meta, "}");
  escrow_sas_free(sas);
  char context[128];
  snprintf(context, sizeof context, "escrowd-sas/%s/%s", c->project.id, c->member.org_id);
  unsigned char *sealed = NULL;
  size_t sealed_len = 0;
  if (meta.oom)
    r = err_set(err, SRV_E_INTERNAL, "out of memory");
  else if (ctx->vault->seal(ctx->vault, context, (const unsigned char *)uri, strlen(uri), &sealed,
                            &sealed_len))
    r = err_set(err, SRV_E_INTERNAL, "the vault could not seal the SAS URL");
  else
    r = save_version_sealed(ctx, c, "dataset", v, NULL, NULL, 0, NULL, meta.p, 0, sealed, sealed_len,
                            out, err);
  free(sealed);
  srv_buf_free(&meta);
done:
  srv_artifact_clear(&sp);
  srv_artifact_clear(&at);
  return r;
}

int dom_accept_criteria(srv_ctx *ctx, const srv_caller *c, const char *tag, srv_buf *out,
                        srv_err *err) {
  if (strcmp(c->member.role, "ds") != 0)
    return err_set(err, SRV_E_FORBIDDEN, "validation criteria are accepted by a data steward");
  if (require_active(c, err)) return err->kind;
  if (!srv_valid_text(tag, 100))
    return err_set(err, SRV_E_BADREQ, "validation_criteria_version (a version tag) is required");
  srv_store *s = ctx->store;
  srv_artifact a;
  int rc = s->artifact_find_tag(s, c->project.id, "validation_criteria", NULL, tag, &a);
  if (rc)
    return rc == SRV_NOTFOUND
               ? err_set(err, SRV_E_NOTFOUND, "no validation criteria have version_tag \"%s\"", tag)
               : store_err(err, rc, "the validation criteria");
  int64_t at = 0;
  int r = 0;
  if (s->begin(s)) {
    r = store_err(err, SRV_STOREERR, "the acceptance");
    goto done;
  }
  rc = s->acceptance_add(s, a.id, c->member.org_id, c->user.id, &at);
  if (!rc) rc = s->audit_append(s, c->user.email, "validation_criteria.accept", c->project.id, a.id, NULL, a.sha256);
  if (rc || s->commit(s)) {
    s->rollback(s);
    r = rc == SRV_CONFLICT
            ? err_set(err, SRV_E_CONFLICT, "your organisation has already accepted version \"%s\"", tag)
            : store_err(err, SRV_STOREERR, "the acceptance");
    goto done;
  }
  srv_buf_puts(out, "{");
  srv_buf_json_kv(out, 1, "project_id", c->project.id);
  srv_buf_json_kv(out, 0, "validation_criteria_id", a.id);
  srv_buf_json_kv(out, 0, "validation_criteria_version", a.version_tag);
  srv_buf_json_kv(out, 0, "accepted_by_org", c->member.org_id);
  srv_buf_json_kv(out, 0, "accepted_by", c->user.email);
  srv_buf_printf(out, ",\"accepted_at\":%lld}", (long long)at);
done:
  srv_artifact_clear(&a);
  return r;
}

typedef struct list_state {
  srv_buf *out;
  const srv_caller *c;
  const char *ao_org;
  int n;
} list_state;

static int list_one(void *arg, const srv_artifact *a) {
  list_state *ls = arg;
  if (ls->n++) srv_buf_puts(ls->out, ",");
  /* the AO's org is the only one whose versions a DS sees besides its own; the AO sees DS
   * versions, all of them "ds" */
  const char *role = strcmp(a->org_id, ls->c->member.org_id) == 0 ? ls->c->member.role
                     : strcmp(ls->c->member.role, "ao") == 0       ? "ds"
                                                                   : "ao";
  version_json(ls->out, a, role);
  return ls->out->oom ? SRV_STOREERR : 0;
}

static const char *const KINDS[] = {"wcek", "validation_criteria", "data_specification",
                                    "data_attestation", "dataset", "algorithm"};

int dom_list_versions(srv_ctx *ctx, const srv_caller *c, const char *kind, srv_buf *out,
                      srv_err *err) {
  if (kind && *kind) {
    int known = 0;
    for (size_t i = 0; i < sizeof KINDS / sizeof KINDS[0]; i++) known |= strcmp(kind, KINDS[i]) == 0;
    if (!known)
      return err_set(err, SRV_E_BADREQ,
                     "artifact_type must be one of wcek, validation_criteria, data_specification, "
                     "data_attestation, dataset, algorithm");
  } else {
    kind = NULL;
  }
  srv_buf_puts(out, "{\"project\":{");
  srv_buf_json_kv(out, 1, "id", c->project.id);
  srv_buf_json_kv(out, 0, "name", c->project.name);
  srv_buf_json_kv(out, 0, "description", c->project.description);
  srv_buf_json_kv(out, 0, "tee", c->project.tee);
  srv_buf_json_kv(out, 0, "state", c->project.state);
  srv_buf_printf(out, ",\"training\":%s,\"simulated_tee\":%s},",
                 c->project.training ? "true" : "false",
                 strcmp(c->project.tee, "sandbox") == 0 ? "true" : "false");
  srv_buf_json_kv(out, 1, "role", c->member.role);
  srv_buf_puts(out, ",\"versions\":[");
  list_state ls = {out, c, NULL, 0};
  int rc = ctx->store->artifact_each_visible(ctx->store, c->project.id, c->member.org_id,
                                             strcmp(c->member.role, "ao") == 0, kind, list_one, &ls);
  if (rc) return store_err(err, SRV_STOREERR, "the artifact list");
  srv_buf_puts(out, "]}");
  return 0;
}

static int upload_algorithm(srv_ctx *ctx, const srv_caller *c, const srv_version_in *v,
                            const srv_algorithm_in *alg, const char *file_name,
                            const unsigned char *data, size_t len, const char *hex_in,
                            const char *tmp_in, srv_buf *out, srv_err *err);

int dom_upload_algorithm(srv_ctx *ctx, const srv_caller *c, const srv_version_in *v,
                         const srv_algorithm_in *alg, const char *file_name,
                         const unsigned char *data, size_t len, srv_buf *out, srv_err *err) {
  return upload_algorithm(ctx, c, v, alg, file_name, data, len, NULL, NULL, out, err);
}

int dom_upload_algorithm_stored(srv_ctx *ctx, const srv_caller *c, const srv_version_in *v,
                                const srv_algorithm_in *alg, const char *file_name,
                                const char *tmp, const char *hex, srv_buf *out, srv_err *err) {
  unsigned char head[4] = {0};
  FILE *f = tmp && hex ? fopen(tmp, "rb") : NULL;
  if (!f) return err_set(err, SRV_E_INTERNAL, "the streamed upload cannot be read");
  size_t n = fread(head, 1, sizeof head, f);
  fclose(f);
  return upload_algorithm(ctx, c, v, alg, file_name, head, n, hex, tmp, out, err);
}

static int upload_algorithm(srv_ctx *ctx, const srv_caller *c, const srv_version_in *v,
                            const srv_algorithm_in *alg, const char *file_name,
                            const unsigned char *data, size_t len, const char *hex_in,
                            const char *tmp_in, srv_buf *out, srv_err *err) {
  if (strcmp(c->member.role, "ao") != 0)
    return err_set(err, SRV_E_FORBIDDEN, "algorithms are uploaded by the algorithm owner");
  if (require_active(c, err) || check_version_in(v, err)) return err->kind;
  const char *type = alg->algorithm_type;
  if (!type || (strcmp(type, "validation") != 0 && strcmp(type, "training") != 0))
    return err_set(err, SRV_E_BADREQ, "algorithm_type must be \"validation\" or \"training\"");
  int validation = strcmp(type, "validation") == 0;
  if (!validation && !c->project.training)
    return err_set(err, SRV_E_CONFLICT, "this project is for validation only: training algorithms are not accepted");
  if (alg->upload_type && *alg->upload_type && strcmp(alg->upload_type, "Upload Zip") != 0)
    return err_set(err, SRV_E_BADREQ, "upload_type must be \"Upload Zip\"");
  if (!srv_valid_text(alg->attestation_tag, 100))
    return err_set(err, SRV_E_BADREQ, "data_attestation_version (a version tag) is required");
  if (validation && !srv_valid_text(alg->criteria_tag, 100))
    return err_set(err, SRV_E_BADREQ,
                   "validation_criteria_version (a version tag) is required for a validation algorithm");
  if (!data || !file_name) return err_set(err, SRV_E_BADREQ, "file_name: the algorithm zip is required");
  const char *e = ext_of(file_name);
  if (strcasecmp(e, "zip") != 0 || len < 4 || memcmp(data, "PK", 2) != 0)
    return err_set(err, SRV_E_UNPROCESSABLE, "the algorithm must be a .zip package");
  srv_store *s = ctx->store;
  srv_artifact w, at, cr = {0};
  int rc = s->artifact_latest(s, c->project.id, "wcek", c->member.org_id, &w);
  if (rc)
    return rc == SRV_NOTFOUND
               ? err_set(err, SRV_E_CONFLICT, "upload the algorithm owner's WCEK before the algorithm")
               : store_err(err, rc, "the WCEK");
  int r = 0;
  if ((rc = s->artifact_find_tag(s, c->project.id, "data_attestation", NULL, alg->attestation_tag, &at))) {
    srv_artifact_clear(&w);
    return rc == SRV_NOTFOUND ? err_set(err, SRV_E_CONFLICT, "no data attestation report has version_tag \"%s\"", alg->attestation_tag)
                              : store_err(err, rc, "the data attestation report");
  }
  if (validation &&
      (rc = s->artifact_find_tag(s, c->project.id, "validation_criteria", c->member.org_id, alg->criteria_tag, &cr))) {
    r = rc == SRV_NOTFOUND ? err_set(err, SRV_E_CONFLICT, "no validation criteria have version_tag \"%s\"", alg->criteria_tag)
                           : store_err(err, rc, "the validation criteria");
    goto done;
  }
  /* stage 1 of the upload pipeline: Validating files (manual §14.5.5.1) */
  char hex[65], path[4096], why[256];
  if (tmp_in) /* a streamed upload: checked where it was written */
    snprintf(hex, sizeof hex, "%s", hex_in);
  else if (srv_blob_put(ctx->cfg.data_dir, data, len, hex, why, sizeof why))
    hex[0] = 0;
  if (!hex[0] || (tmp_in ? snprintf(path, sizeof path, "%s", tmp_in) >= (int)sizeof path
                         : srv_blob_path(ctx->cfg.data_dir, hex, path, sizeof path) != 0)) {
    r = err_set(err, SRV_E_INTERNAL, "cannot store the upload");
    goto done;
  }
  escrow_algorithm *pkg = NULL;
  char *checks = NULL;
  rc = escrow_algorithm_open(&pkg, path, NULL);
  if (rc) {
    r = err_set(err, rc == ESCROW_E_NOMEM ? SRV_E_INTERNAL : SRV_E_UNPROCESSABLE,
                "the algorithm zip cannot be read: %s", escrow_error_last());
    goto done;
  }
  rc = escrow_algorithm_check(pkg, 1, &checks);
  escrow_algorithm_free(pkg);
  if (rc || !checks) {
    r = err_set(err, SRV_E_INTERNAL, "the upload checks failed to run");
    goto done;
  }
  int passed = strstr(checks, "\"passed\":true") != NULL;
  if (!passed) {
    err_set(err, SRV_E_UNPROCESSABLE, "the algorithm package failed the upload checks (Validating files)");
    err->detail_key = "checks";
    srv_buf_puts(out, checks);
    escrow_free(checks);
    r = SRV_E_UNPROCESSABLE;
    goto done;
  }
  srv_buf meta = {0};
  srv_buf_puts(&meta, "{");
  srv_buf_json_kv(&meta, 1, "algorithm_type", type);
  srv_buf_json_kv(&meta, 0, "upload_type", "Upload Zip");
  srv_buf_json_kv(&meta, 0, "upload_file_name", alg->upload_file_name ? alg->upload_file_name : file_name);
  srv_buf_json_kv(&meta, 0, "data_attestation_version", at.version_tag);
  srv_buf_json_kv(&meta, 0, "data_attestation_id", at.id);
  srv_buf_json_kv(&meta, 0, "validation_criteria_version", validation ? cr.version_tag : NULL);
  srv_buf_json_kv(&meta, 0, "validation_criteria_id", validation ? cr.id : NULL);
  srv_buf_json_kv(&meta, 0, "wcek_id", w.id);
  srv_buf_puts(&meta, ",\"upload_status\":[{\"stage\":\"Validating files\",\"status\":"
                      "\"File Validation Succeeded\",\"checks\":");
  srv_buf_puts(&meta, checks);
  srv_buf_puts(&meta, "},{\"stage\":\"Building algorithm container\",\"status\":\"Not started\"}]}");
  escrow_free(checks);
  if (meta.oom)
    r = err_set(err, SRV_E_INTERNAL, "out of memory");
  else if (tmp_in && srv_blob_adopt(ctx->cfg.data_dir, tmp_in, hex_in))
    r = err_set(err, SRV_E_INTERNAL, "cannot store the upload");
  else if (tmp_in) /* data holds only the zip's first bytes: the file is adopted now */
    r = save_version_sealed(ctx, c, "algorithm", v, file_name, NULL, 0, hex_in, meta.p, 0, NULL,
                            0, out, err);
  else
    r = save_version(ctx, c, "algorithm", v, file_name, data, len, meta.p, 0, out, err);
  srv_buf_free(&meta);
done:
  srv_artifact_clear(&w);
  srv_artifact_clear(&at);
  srv_artifact_clear(&cr);
  return r;
}
