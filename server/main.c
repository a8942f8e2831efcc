/*
 * escrowd: the platform server. DESIGN §11:
 *   escrowd serve --data DIR [--listen 127.0.0.1:8080] [--audience AUD]... [--clock-skew S]
 *                 [--max-token-lifetime S] [--max-upload-mib N] [--allow-loopback-http]
 *   escrowd admin --data DIR create-org --name NAME
 *                 [--web DIR] [--tls-cert PEM --tls-key PEM] [--session-ttl S]
 *                 [--login-max-failures N] [--kek-bits N]
 *   escrowd admin --data DIR create-user --org ORG --email EMAIL [--public-key PEMFILE]
 *                 [--password-file FILE] [--operator]
 *   escrowd admin --data DIR set-password --email EMAIL --password-file FILE
 *   escrowd admin --data DIR create-project --name NAME --ao-org ORG --ds-org ORG...
 *                 [--training] [--tee sandbox] [--description TEXT] [--kek-bits N]
 *                 --ao-user EMAIL... --ds-user EMAIL...
 * Both commands take --database URL (right after --data DIR, or among their options) to keep
 * the tables in PostgreSQL instead of SQLite in the data folder; serve takes
 * --db-connections N (the pool's size, default 16), --http-threads N (threads polling the
 * connections, default 1) and --workers N (threads handling the requests read, in
 * arrival order; default 0: twice the cores, at least 4).
 * Exit status: 0 success, 1 refused (exists, not found, invalid input), 2 usage or runtime error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <escrow/sas.h>

#include "accounts.h"
#include "blobs.h"
#include "domain.h"
#include "http.h"
#include "runs.h"

#define MAXLIST 32

/* --database: a postgresql:// URL, NULL for SQLite in the data folder */
static const char *g_database;

static const char *const DEFAULT_AUDIENCES[] = {"frontoffice.beekeeperai",
                                                "staging.api.beekeeperai"};

static int usage(void) {
  fputs("usage: escrowd serve --data DIR [--database URL] [--listen HOST:PORT] [--audience AUD]...\n"
        "                     [--clock-skew SECONDS] [--max-token-lifetime SECONDS]\n"
        "                     [--max-upload-mib N] [--allow-loopback-http] [--db-connections N]\n"
        "                     [--http-threads N] [--workers N]\n"
        "                     [--web DIR] [--tls-cert PEM --tls-key PEM] [--session-ttl SECONDS]\n"
        "                     [--login-max-failures N] [--kek-bits N]\n"
        "                     [--allow-simulated-tee] [--runners N] [--enclave PATH]"
        " [--runner-name NAME]\n"
        "                     [--smtp-url smtp://HOST:PORT --smtp-from ADDRESS]\n"
        "       escrowd admin --data DIR [--database URL] create-org --name NAME\n"
        "       escrowd admin --data DIR create-user --org ORG --email EMAIL [--public-key PEMFILE]"
        " [--password-file FILE] [--operator]\n"
        "       escrowd admin --data DIR set-password --email EMAIL --password-file FILE\n"
        "       escrowd admin --data DIR create-project --name NAME --ao-org ORG --ds-org ORG...\n"
        "                     [--training] [--tee sandbox] [--description TEXT] [--kek-bits N]\n"
        "                     --ao-user EMAIL... --ds-user EMAIL...\n",
        stderr);
  return 2;
}

static char *read_text_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *b = malloc(65537);
  size_t n = b ? fread(b, 1, 65536, f) : 0;
  int more = b && fgetc(f) != EOF;
  fclose(f);
  if (!b || more) {
    free(b);
    return NULL;
  }
  b[n] = 0;
  return b;
}

/* A secret file (password, TLS key) into guarded memory, NUL-terminated, without one trailing
 * newline. NULL when unreadable or larger than max. Free with sodium_free. */
static char *read_secret_file(const char *path, size_t max) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *b = sodium_malloc(max + 1);
  size_t n = b ? fread(b, 1, max, f) : 0;
  int more = b && fgetc(f) != EOF;
  int bad = ferror(f);
  fclose(f);
  if (!b || more || bad) {
    if (b) sodium_free(b);
    return NULL;
  }
  b[n] = 0;
  if (n && b[n - 1] == '\n') b[--n] = 0;
  if (n && b[n - 1] == '\r') b[--n] = 0;
  return b;
}

static int finish_admin(srv_ctx *ctx, int rc, srv_err *err, srv_buf *out) {
  int status = 0;
  if (rc) {
    fprintf(stderr, "escrowd: %s\n", err->msg);
    status = err->kind == SRV_E_INTERNAL ? 2 : 1;
  } else if (out->oom) {
    fprintf(stderr, "escrowd: out of memory\n");
    status = 2;
  } else {
    printf("%s\n", out->p);
  }
  srv_buf_free(out);
  srv_ctx_close(ctx);
  return status;
}

static int admin(const char *data, int argc, char **argv) {
  if (argc < 1) return usage();
  const char *cmd = argv[0];
  const char *name = NULL, *org = NULL, *email = NULL, *pkfile = NULL, *ao_org = NULL,
             *pwfile = NULL,
             *tee = "sandbox", *description = "";
  const char *ds_orgs[MAXLIST], *users[2 * MAXLIST];
  const char *project = NULL, *ao_may = NULL, *ds_sees = NULL;
  size_t nds = 0, nusers = 0;
  int op = 0, training = 0;
  unsigned kek_bits = 4096;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int has = i + 1 < argc;
    if (!strcmp(a, "--name") && has) name = argv[++i];
    else if (!strcmp(a, "--org") && has) org = argv[++i];
    else if (!strcmp(a, "--email") && has) email = argv[++i];
    else if (!strcmp(a, "--public-key") && has) pkfile = argv[++i];
    else if (!strcmp(a, "--operator")) op = 1;
    else if (!strcmp(a, "--training")) training = 1;
    else if (!strcmp(a, "--tee") && has) tee = argv[++i];
    else if (!strcmp(a, "--description") && has) description = argv[++i];
    else if (!strcmp(a, "--ao-org") && has) ao_org = argv[++i];
    else if (!strcmp(a, "--project") && has) project = argv[++i];
    else if (!strcmp(a, "--ao-may-initiate") && has) ao_may = argv[++i];
    else if (!strcmp(a, "--ds-sees-results") && has) ds_sees = argv[++i];
    else if (!strcmp(a, "--kek-bits") && has) kek_bits = (unsigned)strtoul(argv[++i], NULL, 10);
    else if (!strcmp(a, "--database") && has) g_database = argv[++i];
    else if (!strcmp(a, "--ds-org") && has) {
      while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
        if (nds == MAXLIST) return usage();
        ds_orgs[nds++] = argv[++i];
      }
    } else if ((!strcmp(a, "--ao-user") || !strcmp(a, "--ds-user")) && has) {
      while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
        if (nusers == 2 * MAXLIST) return usage();
        users[nusers++] = argv[++i];
      }
    } else if (!strcmp(a, "--password-file") && has) {
      pwfile = argv[++i];
    } else {
      fprintf(stderr, "escrowd: unknown or incomplete option %s\n", a);
      return usage();
    }
  }
  if (kek_bits < 3072 || kek_bits > 8192) {
    fprintf(stderr, "escrowd: --kek-bits must be between 3072 and 8192\n");
    return 2;
  }
  srv_config cfg = {.data_dir = data, .database = g_database,
                    .audiences = DEFAULT_AUDIENCES, .naudiences = 2,
                    .clock_skew = 60, .max_token_lifetime = 3600, .kek_bits = kek_bits};
  srv_ctx ctx;
  char e[512];
  srv_buf out = {0};
  srv_err err = {0};
  int rc;
  char *password = NULL;
  if (pwfile && !(password = read_secret_file(pwfile, SRV_PASSWORD_MAX))) {
    fprintf(stderr, "escrowd: cannot read the password file %s (at most %d bytes)\n", pwfile,
            SRV_PASSWORD_MAX);
    return 2;
  }
  if (!strcmp(cmd, "set-password")) {
    if (!email || !password) {
      if (password) sodium_free(password);
      return usage();
    }
    if (srv_ctx_open(&ctx, &cfg, e, sizeof e)) {
      sodium_free(password);
      goto open_fail;
    }
    rc = dom_set_password(&ctx, email, password, &err);
    sodium_free(password);
    if (!rc) {
      srv_buf_free(&out);
      srv_buf_puts(&out, "{");
      srv_buf_json_kv(&out, 1, "email", email);
      srv_buf_puts(&out, ",\"password\":true}");
    }
    return finish_admin(&ctx, rc, &err, &out);
  }
  if (password && strcmp(cmd, "create-user") != 0) {
    sodium_free(password);
    fprintf(stderr, "escrowd: --password-file goes with create-user or set-password\n");
    return usage();
  }
  if (!strcmp(cmd, "create-org")) {
    if (!name) return usage();
    if (srv_ctx_open(&ctx, &cfg, e, sizeof e)) goto open_fail;
    rc = dom_create_org(&ctx, name, &out, &err);
  } else if (!strcmp(cmd, "create-user")) {
    char *pem = NULL;
    char hash[crypto_pwhash_STRBYTES] = "";
    if (!org || !email || (pkfile && !(pem = read_text_file(pkfile)))) {
      if (password) sodium_free(password);
      if (!org || !email) return usage();
      fprintf(stderr, "escrowd: cannot read the public key file %s (at most 64 KiB)\n", pkfile);
      return 2;
    }
    if (password) {
      rc = dom_password_hash(password, hash, sizeof hash, &err);
      sodium_free(password);
      if (rc) {
        free(pem);
        fprintf(stderr, "escrowd: %s\n", err.msg);
        return err.kind == SRV_E_INTERNAL ? 2 : 1;
      }
    }
    if (srv_ctx_open(&ctx, &cfg, e, sizeof e)) {
      free(pem);
      goto open_fail;
    }
    rc = dom_create_user(&ctx, org, email, pem, op, &out, &err);
    if (!rc && hash[0]) {
      rc = dom_set_password_hash(&ctx, email, hash, &err);
      if (!rc && out.len && out.p[out.len - 1] == '}') {
        out.len--;
        srv_buf_puts(&out, ",\"password\":true}");
      }
    }
    sodium_memzero(hash, sizeof hash);
    free(pem);
  } else if (!strcmp(cmd, "create-project")) {
    if (!name || !ao_org || nds == 0) return usage();
    if (srv_ctx_open(&ctx, &cfg, e, sizeof e)) goto open_fail;
    rc = dom_create_project(&ctx, name, description, ao_org, ds_orgs, nds, training, tee, users,
                            nusers, &out, &err);
  } else if (!strcmp(cmd, "run-permissions")) {
    int am = !ao_may ? -1 : !strcmp(ao_may, "yes") ? 1 : !strcmp(ao_may, "no") ? 0 : -2;
    int ds = !ds_sees ? -1 : !strcmp(ds_sees, "yes") ? 1 : !strcmp(ds_sees, "no") ? 0 : -2;
    if (!project || am == -2 || ds == -2) return usage();
    if (srv_ctx_open(&ctx, &cfg, e, sizeof e)) goto open_fail;
    rc = srv_runs_set_permissions(&ctx, project, am, ds, &out, &err);
  } else {
    fprintf(stderr, "escrowd: unknown admin command %s\n", cmd);
    return usage();
  }
  return finish_admin(&ctx, rc, &err, &out);
open_fail:
  fprintf(stderr, "escrowd: %s\n", e);
  return 2;
}

static int serve(const char *data, int argc, char **argv) {
  const char *listen = "127.0.0.1:8080";
  const char *auds[MAXLIST];
  size_t naud = 0;
  long skew = 60, max_mib = 64, lifetime = 3600, db_conns = 16;
  long http_threads = 1, workers = 0;
  unsigned sas_flags = 0;
  const char *web = NULL, *tls_cert = NULL, *tls_key = NULL;
  long session_ttl = 28800, max_failures = 5, kek_bits = 4096;
  srv_runs_config rcfg = {.runners = 2};
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    int has = i + 1 < argc;
    if (!strcmp(a, "--listen") && has) listen = argv[++i];
    else if (!strcmp(a, "--audience") && has) {
      if (naud == MAXLIST) return usage();
      auds[naud++] = argv[++i];
    } else if (!strcmp(a, "--clock-skew") && has) skew = strtol(argv[++i], NULL, 10);
    else if (!strcmp(a, "--max-token-lifetime") && has) lifetime = strtol(argv[++i], NULL, 10);
    else if (!strcmp(a, "--max-upload-mib") && has) max_mib = strtol(argv[++i], NULL, 10);
    else if (!strcmp(a, "--allow-loopback-http")) sas_flags |= ESCROW_SAS_ALLOW_LOOPBACK_HTTP;
    else if (!strcmp(a, "--web") && has) web = argv[++i];
    else if (!strcmp(a, "--tls-cert") && has) tls_cert = argv[++i];
    else if (!strcmp(a, "--tls-key") && has) tls_key = argv[++i];
    else if (!strcmp(a, "--session-ttl") && has) session_ttl = strtol(argv[++i], NULL, 10);
    else if (!strcmp(a, "--login-max-failures") && has) max_failures = strtol(argv[++i], NULL, 10);
    else if (!strcmp(a, "--kek-bits") && has) kek_bits = strtol(argv[++i], NULL, 10);
    else if (!strcmp(a, "--allow-simulated-tee")) rcfg.allow_simulated_tee = 1;
    else if (!strcmp(a, "--runners") && has) {
      char *end = NULL;
      long n = strtol(argv[++i], &end, 10);
      if (!end || *end || n < 0 || n > 64) {
        fprintf(stderr, "escrowd: --runners takes 0 to 64\n");
        return 2;
      }
      rcfg.runners = (unsigned)n;
    } else if (!strcmp(a, "--enclave") && has) rcfg.enclave_bin = argv[++i];
    else if (!strcmp(a, "--runner-name") && has) rcfg.runner_name = argv[++i];
    else if (!strcmp(a, "--smtp-url") && has) rcfg.smtp_url = argv[++i];
    else if (!strcmp(a, "--smtp-from") && has) rcfg.smtp_from = argv[++i];
    else if (!strcmp(a, "--database") && has) g_database = argv[++i];
    else if (!strcmp(a, "--db-connections") && has) db_conns = strtol(argv[++i], NULL, 10);
    else if (!strcmp(a, "--http-threads") && has) http_threads = strtol(argv[++i], NULL, 10);
    else if (!strcmp(a, "--workers") && has) workers = strtol(argv[++i], NULL, 10);
    else {
      fprintf(stderr, "escrowd: unknown or incomplete option %s\n", a);
      return usage();
    }
  }
  if (db_conns < 1 || db_conns > 1000 || http_threads < 1 || http_threads > 64 || workers < 0 ||
      workers > 1024) {
    fprintf(stderr, "escrowd: --db-connections 1..1000, --http-threads 1..64, --workers 0..1024\n");
    return 2;
  }
  if (skew < 0 || skew > 3600 || max_mib < 1 || max_mib > 65536 || lifetime < 60 ||
      lifetime > 86400) {
    fprintf(stderr, "escrowd: --clock-skew 0..3600, --max-upload-mib 1..65536, "
                    "--max-token-lifetime 60..86400\n");
    return 2;
  }
  if (session_ttl < 1 || session_ttl > 30 * 86400 || max_failures < 1 || max_failures > 1000 ||
      kek_bits < 3072 || kek_bits > 8192) {
    fprintf(stderr, "escrowd: --session-ttl 1..2592000, --login-max-failures 1..1000, "
                    "--kek-bits 3072..8192\n");
    return 2;
  }
  if (!tls_cert != !tls_key) {
    fprintf(stderr, "escrowd: --tls-cert and --tls-key go together\n");
    return 2;
  }
  struct stat wst;
#ifdef ESCROWD_DEFAULT_WEB_DIR
  if (!web && stat(ESCROWD_DEFAULT_WEB_DIR "/index.html", &wst) == 0) web = ESCROWD_DEFAULT_WEB_DIR;
#endif
  if (web && (stat(web, &wst) || !S_ISDIR(wst.st_mode))) {
    fprintf(stderr, "escrowd: --web %s is not a folder\n", web);
    return 2;
  }
  char *cert_pem = NULL, *key_pem = NULL;
  if (tls_cert && (!(cert_pem = read_secret_file(tls_cert, 1 << 20)) ||
                   !(key_pem = read_secret_file(tls_key, 1 << 16)))) {
    fprintf(stderr, "escrowd: cannot read --tls-cert %s or --tls-key %s (PEM)\n", tls_cert, tls_key);
    if (cert_pem) sodium_free(cert_pem);
    return 2;
  }
  char host[64];
  const char *colon = strrchr(listen, ':');
  char *end = NULL;
  unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;
  if (!colon || (size_t)(colon - listen) >= sizeof host || !end || *end || port > 65535) {
    fprintf(stderr, "escrowd: --listen HOST:PORT, e.g. 127.0.0.1:8080 (port 0: any free port)\n");
    return 2;
  }
  memcpy(host, listen, (size_t)(colon - listen));
  host[colon - listen] = 0;
  srv_config cfg = {.data_dir = data,
                    .database = g_database,
                    .db_connections = (unsigned)db_conns,
                    .audiences = naud ? auds : DEFAULT_AUDIENCES,
                    .naudiences = naud ? naud : 2,
                    .clock_skew = skew,
                    .max_token_lifetime = lifetime,
                    .sas_flags = sas_flags,
                    .kek_bits = (unsigned)kek_bits,
                    .session_ttl = session_ttl,
                    .login_max_failures = (unsigned)max_failures,
                    .login_window = 900};
  srv_ctx ctx;
  char e[512];
  if (srv_ctx_open(&ctx, &cfg, e, sizeof e)) {
    fprintf(stderr, "escrowd: %s\n", e);
    if (cert_pem) sodium_free(cert_pem);
    if (key_pem) sodium_free(key_pem);
    return 2;
  }
  int swept = srv_blob_sweep(data);
  if (swept > 0) fprintf(stderr, "escrowd: removed %d unfinished upload(s) left by a crash\n", swept);
  if (srv_runs_start(&ctx, &rcfg, e, sizeof e)) {
    fprintf(stderr, "escrowd: %s\n", e);
    srv_runs_stop(&ctx);
    srv_ctx_close(&ctx);
    if (cert_pem) sodium_free(cert_pem);
    if (key_pem) sodium_free(key_pem);
    return 2;
  }
  srv_http_options o = {.host = host, .port = (unsigned)port,
                        .max_body = (size_t)max_mib * 1024 * 1024, .web_dir = web,
                        .tls_cert = cert_pem, .tls_key = key_pem,
                        .threads = (unsigned)http_threads, .workers = (unsigned)workers};
  if (web) fprintf(stderr, "escrowd: serving the dashboard from %s\n", web);
  int rc = srv_http_serve(&ctx, &o);
  if (cert_pem) sodium_free(cert_pem);
  if (key_pem) sodium_free(key_pem); /* sodium_free wipes */
  srv_runs_stop(&ctx);
  srv_ctx_close(&ctx);
  return rc ? 2 : 0;
}

int main(int argc, char **argv) {
  if (argc < 2) return usage();
  umask(077); /* the database, master key and uploads are the operator's alone */
  if (sodium_init() < 0) {
    fprintf(stderr, "escrowd: libsodium failed to initialise\n");
    return 2;
  }
  const char *data = NULL;
  int i = 2;
  if (argc >= 4 && !strcmp(argv[2], "--data")) {
    data = argv[3];
    i = 4;
    if (argc >= 6 && !strcmp(argv[4], "--database")) {
      g_database = argv[5];
      i = 6;
    }
  }
  if (!data) {
    fprintf(stderr, "escrowd: --data DIR is required (right after the command)\n");
    return usage();
  }
  if (!strcmp(argv[1], "serve")) return serve(data, argc - i, argv + i);
  if (!strcmp(argv[1], "admin")) return admin(data, argc - i, argv + i);
  return usage();
}
