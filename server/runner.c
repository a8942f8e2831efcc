/* escrowd: the runner threads. Each claims an initiated run from the queue in the database,
 * gathers the bundle (algorithm zip, approved criteria, dataset URL, parameters, limits),
 * launches `escrow-enclave run` with the sandbox backend (a SIMULATED TEE), copies its log lines
 * into the run as they appear (stages Runtime Build, Workload Launch, Run), and stores the
 * outputs the egress rules let out: the report that passed the criteria, the model encrypted to
 * the AO, the certificate.
 *
 * Keys: the CEKs are unwrapped here, with the KEK private halves the vault unseals, and handed
 * to the enclave over pipes (never on disk, never on a command line). Attested key release
 * (DESIGN §9) moves that unwrap inside the enclave; see docs/SERVER.md "Runs". */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#include <escrow/attest.h>
#include <escrow/keys.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "blobs.h"
#include "runs_int.h"

typedef struct bundle {
  char *run_id, *project_id, *config_id, *run_type, *params_json, *alg_sha, *crit_sha,
      *ds_org, *ao_org, *ao_wcek_sha, *ds_wcek_sha;
  unsigned char *ds_sealed;
  size_t ds_sealed_len;
  unsigned char *ao_kek_sealed, *ds_kek_sealed;
  size_t ao_kek_len, ds_kek_len;
  int64_t vcpus, memory_mib, timeout_s;
} bundle;

static void bundle_clear(bundle *b) {
  char **f[] = {&b->run_id, &b->project_id, &b->config_id, &b->run_type, &b->params_json,
                &b->alg_sha, &b->crit_sha, &b->ds_org, &b->ao_org, &b->ao_wcek_sha,
                &b->ds_wcek_sha};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) free(*f[i]);
  free(b->ds_sealed);
  free(b->ao_kek_sealed);
  free(b->ds_kek_sealed);
  memset(b, 0, sizeof *b);
}

static unsigned char *blob_copy(const rq *q, size_t row, int col, size_t *len) {
  const rq_cell *c = &q->c[row * q->ncol + (size_t)col];
  *len = 0;
  if (c->null || !c->len) return NULL;
  unsigned char *b = malloc(c->len);
  if (b) {
    memcpy(b, c->s, c->len);
    *len = c->len;
  }
  return b;
}

static char *json_str(const char *json, const char *key) {
  if (!json) return NULL;
  yajl_val v = srv_runs_json_parse(json, SRV_RUNS_STORED_JSON_DEPTH, NULL, 0);
  const char *path[] = {key, NULL};
  yajl_val s = v ? yajl_tree_get(v, path, yajl_t_string) : NULL;
  const char *t = s ? YAJL_GET_STRING(s) : NULL;
  char *r = t ? strdup(t) : NULL;
  yajl_tree_free(v);
  return r;
}

/* Everything the run needs. 0 or a message in why. */
static int load_bundle(srv_db *db, const char *run_id, bundle *b, char *why, size_t whysz) {
  memset(b, 0, sizeof *b);
  srv_db_param p[] = {SRV_DB_TEXT(run_id)};
  rq q;
  if (rq_run(db, "SELECT r.id, r.project_id, r.config_id, c.run_type, r.params_json, a.sha256, "
                 "a.meta_json, c.ds_org_id, (SELECT org_id FROM project_org WHERE project_id = "
                 "r.project_id AND role = 'ao'), d.sealed_secret, r.vcpus, r.memory_mib, "
                 "r.timeout_s FROM run r JOIN run_configuration c ON c.id = r.config_id JOIN "
                 "artifact_version a ON a.id = c.algorithm_id JOIN artifact_version d ON d.id = "
                 "c.dataset_id WHERE r.id = $1", p, 1, 13, 1u << 9, &q)) {
    snprintf(why, whysz, "the database could not be read");
    return -1;
  }
  char *alg_meta = NULL;
  if (q.nrow) {
    b->run_id = rq_dup(&q, 0, 0);
    b->project_id = rq_dup(&q, 0, 1);
    b->config_id = rq_dup(&q, 0, 2);
    b->run_type = rq_dup(&q, 0, 3);
    b->params_json = rq_dup(&q, 0, 4);
    b->alg_sha = rq_dup(&q, 0, 5);
    alg_meta = rq_dup(&q, 0, 6);
    b->ds_org = rq_dup(&q, 0, 7);
    b->ao_org = rq_dup(&q, 0, 8);
    b->ds_sealed = blob_copy(&q, 0, 9, &b->ds_sealed_len);
    b->vcpus = rq_i(&q, 0, 10);
    b->memory_mib = rq_i(&q, 0, 11);
    b->timeout_s = rq_i(&q, 0, 12);
  }
  rq_free(&q);
  if (!b->run_id || !b->alg_sha || !b->ao_org || !b->ds_org || !b->run_type) {
    free(alg_meta);
    snprintf(why, whysz, "the run's algorithm or parties could not be read");
    return -1;
  }
  if (!b->ds_sealed) {
    free(alg_meta);
    snprintf(why, whysz, "the dataset version has no URL on record");
    return -1;
  }
  char *crit_id = json_str(alg_meta, "validation_criteria_id");
  free(alg_meta);
  if (crit_id) {
    srv_db_param cp[] = {SRV_DB_TEXT(crit_id)};
    if (rq_run(db, "SELECT sha256 FROM artifact_version WHERE id = $1", cp, 1, 1, 0, &q) == 0) {
      if (q.nrow) b->crit_sha = rq_dup(&q, 0, 0);
      rq_free(&q);
    }
    free(crit_id);
    if (!b->crit_sha) {
      snprintf(why, whysz, "the algorithm's validation criteria could not be read");
      return -1;
    }
  } else if (strcmp(b->run_type, "validation") == 0) {
    snprintf(why, whysz, "a validation algorithm without validation criteria");
    return -1;
  } else {
    /* a training algorithm names no criteria: its report is checked against the newest
     * criteria version the dataset's data steward accepted (never left unchecked) */
    srv_db_param cp[] = {SRV_DB_TEXT(b->project_id), SRV_DB_TEXT(b->ds_org)};
    if (rq_run(db, "SELECT a.sha256 FROM artifact_version a JOIN criteria_acceptance x ON "
                   "x.artifact_id = a.id WHERE a.project_id = $1 AND a.kind = "
                   "'validation_criteria' AND x.org_id = $2 ORDER BY a.system_version DESC, "
                   "a.created_at DESC LIMIT 1", cp, 2, 1, 0, &q) == 0) {
      if (q.nrow) b->crit_sha = rq_dup(&q, 0, 0);
      rq_free(&q);
    }
    if (!b->crit_sha) {
      snprintf(why, whysz, "the data steward has accepted no validation criteria in this "
               "project: a training run's report needs criteria");
      return -1;
    }
  }
  const char *orgs[2] = {b->ao_org, b->ds_org};
  char **wsha[2] = {&b->ao_wcek_sha, &b->ds_wcek_sha};
  unsigned char **ks[2] = {&b->ao_kek_sealed, &b->ds_kek_sealed};
  size_t *kl[2] = {&b->ao_kek_len, &b->ds_kek_len};
  for (int i = 0; i < 2; i++) {
    srv_db_param op[] = {SRV_DB_TEXT(b->project_id), SRV_DB_TEXT(orgs[i])};
    if (rq_run(db, "SELECT sha256 FROM artifact_version WHERE project_id = $1 AND kind = 'wcek' "
                   "AND org_id = $2 ORDER BY system_version DESC LIMIT 1", op, 2, 1, 0, &q) == 0) {
      if (q.nrow) *wsha[i] = rq_dup(&q, 0, 0);
      rq_free(&q);
    }
    if (rq_run(db, "SELECT sealed_private FROM kek WHERE project_id = $1 AND org_id = $2", op, 2,
               1, 1u, &q) == 0) {
      if (q.nrow) *ks[i] = blob_copy(&q, 0, 0, kl[i]);
      rq_free(&q);
    }
    if (!*wsha[i] || !*ks[i]) {
      snprintf(why, whysz, "the %s's WCEK or key encryption key is missing",
               i ? "data steward" : "algorithm owner");
      return -1;
    }
  }
  return 0;
}

static int set_stage(srv_db *db, const char *run_id, const char *stage) {
  srv_db_param p[] = {SRV_DB_TEXT(stage), SRV_DB_TEXT(run_id)};
  return rx(db, "UPDATE run SET stage = $1 WHERE id = $2 AND status = 'In Progress'", p, 2, NULL);
}

static void plog(srv_db *db, const char *run_id, const char *stage, const char *msg) {
  char ts[32];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
  char *line = NULL;
  /* msg is our own text: no quotes or backslashes in it */
  if (asprintf(&line, "{\"time\":\"%s\",\"source\":\"platform\",\"stage\":\"%s\",\"message\":\"%s\","
                      "\"simulated_tee\":true}", ts, stage, msg) >= 0) {
    runs_db_log(db, run_id, line);
    free(line);
  }
}

static void finish(srv_db *db, const char *run_id, const char *status, const char *reason,
                   const char *report, const char *cert, const char *model_sha) {
  srv_db_param p[] = {SRV_DB_TEXT(status), SRV_DB_TEXT(reason), SRV_DB_TEXT(report),
                      SRV_DB_TEXT(cert), SRV_DB_TEXT(model_sha), SRV_DB_INT(runs_now()),
                      SRV_DB_TEXT(run_id)};
  if (rx(db, "UPDATE run SET status = $1, reason = $2, report_json = $3, certificate_json = $4, "
             "model_sha256 = $5, ended_at = $6, stage = 'Run' WHERE id = $7 AND status = "
             "'In Progress'", p, 7, NULL))
    fprintf(stderr, "escrowd: the outcome of a run could not be recorded (the recovery will "
                    "fail it)\n");
}

static char *slurp(const char *path, size_t max, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *b = malloc(max + 1);
  size_t n = b ? fread(b, 1, max + 1, f) : 0;
  fclose(f);
  if (!b || n > max) {
    free(b);
    return NULL;
  }
  b[n] = 0;
  if (len) *len = n;
  return b;
}

/* Copy new complete lines of logs.jsonl into the run; the stage follows the lines. */
static void pump_logs(srv_db *db, const char *run_id, const char *path, off_t *off) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char buf[65536];
  for (;;) {
    ssize_t n = pread(fd, buf, sizeof buf - 1, *off);
    if (n <= 0) break;
    buf[n] = 0;
    char *start = buf, *nl;
    while ((nl = strchr(start, '\n'))) {
      *nl = 0;
      if (*start) {
        runs_db_log(db, run_id, start);
        char *stage = json_str(start, "stage");
        if (stage) { /* stages only move forward */
          static const char *const order[] = {"Run Initiated", "Runtime Build", "Workload Launch", "Run"};
          int rank = 0;
          for (int i = 0; i < 4; i++)
            if (strcmp(stage, order[i]) == 0) rank = i + 1;
          srv_db_param p[] = {SRV_DB_TEXT(stage), SRV_DB_TEXT(run_id), SRV_DB_INT(rank)};
          if (rank)
            rx(db, "UPDATE run SET stage = $1 WHERE id = $2 AND status = 'In Progress' AND "
                   "COALESCE(CASE stage WHEN 'Run Initiated' THEN 1 WHEN 'Runtime Build' THEN 2 "
                   "WHEN 'Workload Launch' THEN 3 WHEN 'Run' THEN 4 END, 0) < $3", p, 3, NULL);
          free(stage);
        }
      }
      start = nl + 1;
    }
    off_t used = (off_t)(start - buf);
    if (used == 0) break; /* a partial line: wait for the rest */
    *off += used;
  }
  close(fd);
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f) {
  (void)st;
  (void)f;
  return flag == FTW_DP ? rmdir(p) : unlink(p);
}

static int run_flag(srv_db *db, const char *run_id) {
  srv_db_param p[] = {SRV_DB_TEXT(run_id)};
  rq q;
  int v = 0;
  if (rq_run(db, "SELECT cancel_requested FROM run WHERE id = $1", p, 1, 1, 0, &q) == 0) {
    if (q.nrow) v = (int)rq_i(&q, 0, 0);
    rq_free(&q);
  }
  return v;
}

static void execute(srv_runs *r, srv_db *db, const char *run_id) {
  bundle b;
  char why[512] = "";
  char work[PATH_MAX], out[PATH_MAX + 16], p[PATH_MAX + 64];
  char *url = NULL;
  unsigned char *urlbuf = NULL;
  size_t urllen = 0;
  pid_t pid = -1;
  int pa[2] = {-1, -1};
  char **argv = NULL;
  size_t argc = 0;
  int have_work = 0;
  plog(db, run_id, "Runtime Build", "claimed by a runner: gathering the run bundle (algorithm, "
       "approved criteria, dataset, parameters, limits)");
  set_stage(db, run_id, "Runtime Build");
  if (load_bundle(db, run_id, &b, why, sizeof why)) goto fail;
  snprintf(p, sizeof p, "escrowd-sas/%s/%s", b.project_id, b.ds_org);
  if (r->ctx->vault->unseal(r->ctx->vault, p, b.ds_sealed, b.ds_sealed_len, &urlbuf, &urllen) ||
      !(url = calloc(1, urllen + 1))) {
    snprintf(why, sizeof why, "the vault could not open the dataset URL");
    goto fail;
  }
  memcpy(url, urlbuf, urllen);
  /* DATA/runs/<runner name>/<run id>: processes sharing a data folder sweep only their own */
  snprintf(work, sizeof work, "%s/runs", r->ctx->cfg.data_dir);
  mkdir(work, 0700);
  snprintf(work, sizeof work, "%s/runs/%s", r->ctx->cfg.data_dir, r->runner_name);
  mkdir(work, 0700);
  if (snprintf(work, sizeof work, "%s/runs/%s/%s", r->ctx->cfg.data_dir, r->runner_name,
               run_id) >= (int)sizeof work ||
      (mkdir(work, 0700) && errno != EEXIST)) {
    snprintf(why, sizeof why, "cannot create the run folder");
    goto fail;
  }
  have_work = 1;
  snprintf(out, sizeof out, "%s/out", work);
  /* the bundle travels over a pipe (never on disk, never on a command line): the enclave
   * obtains the CEKs itself by attested key release with the nonces and token stored here */
  char nonce_ao[ESCROW_ATTEST_NONCE_SIZE], nonce_ds[ESCROW_ATTEST_NONCE_SIZE], token[65],
      tsha[65], base[160];
  unsigned char rnd[32], md[32];
  unsigned mdl = 0;
  pthread_mutex_lock(&r->mu);
  snprintf(base, sizeof base, "%s", r->base_url);
  pthread_mutex_unlock(&r->mu);
  if (!*base) {
    snprintf(why, sizeof why, "the server's address is not known yet");
    goto fail;
  }
  if (escrow_attest_nonce(nonce_ao, sizeof nonce_ao) || escrow_attest_nonce(nonce_ds, sizeof nonce_ds) ||
      RAND_bytes(rnd, sizeof rnd) != 1) {
    snprintf(why, sizeof why, "no randomness for the run's nonces");
    goto fail;
  }
  for (int i = 0; i < 32; i++) snprintf(token + 2 * i, 3, "%02x", rnd[i]);
  EVP_Digest(token, 64, md, &mdl, EVP_sha256(), NULL);
  for (int i = 0; i < 32; i++) snprintf(tsha + 2 * i, 3, "%02x", md[i]);
  OPENSSL_cleanse(rnd, sizeof rnd);
  {
    const char *na = nonce_ao, *nd = nonce_ds, *ts = tsha;
    srv_db_param np[] = {SRV_DB_TEXT(na), SRV_DB_TEXT(nd), SRV_DB_TEXT(ts), SRV_DB_TEXT(run_id)};
    if (rx(db, "UPDATE run SET attest_nonce_ao = $1, attest_nonce_ds = $2, "
               "enclave_token_sha256 = $3 WHERE id = $4", np, 4, NULL)) {
      snprintf(why, sizeof why, "the run's nonces could not be stored");
      goto fail;
    }
  }
  if (pipe2(pa, O_CLOEXEC)) {
    snprintf(why, sizeof why, "cannot make the bundle pipe");
    goto fail;
  }
  /* the bundle */
  char pkg[PATH_MAX], crit[PATH_MAX];
  srv_blob_path(r->ctx->cfg.data_dir, b.alg_sha, pkg, sizeof pkg);
  if (b.crit_sha) srv_blob_path(r->ctx->cfg.data_dir, b.crit_sha, crit, sizeof crit);
  srv_buf bj = {0};
  char digest[80];
  snprintf(digest, sizeof digest, "sha256:%s", b.alg_sha);
  srv_buf_puts(&bj, "{");
  srv_buf_json_kv(&bj, 1, "server", base);
  srv_buf_json_kv(&bj, 0, "run_id", b.run_id);
  srv_buf_json_kv(&bj, 0, "project_id", b.project_id);
  srv_buf_json_kv(&bj, 0, "token", token);
  srv_buf_json_kv(&bj, 0, "nonce_ao", nonce_ao);
  srv_buf_json_kv(&bj, 0, "nonce_ds", nonce_ds);
  srv_buf_json_kv(&bj, 0, "issuer", r->issuer_url);
  srv_buf_puts(&bj, ",\"issuer_key_pem\":");
  {
    char *ik = strndup((const char *)r->issuer_pem, r->issuer_pem_len);
    srv_buf_json_str(&bj, ik ? ik : "");
    if (ik) {
      OPENSSL_cleanse(ik, strlen(ik));
      free(ik);
    }
  }
  srv_buf_json_kv(&bj, 0, "release_key_pem", r->release_pub_pem);
  srv_buf_json_kv(&bj, 0, "package", pkg);
  srv_buf_json_kv(&bj, 0, "package_digest", digest);
  srv_buf_json_kv(&bj, 0, "criteria", b.crit_sha ? crit : NULL);
  srv_buf_json_kv(&bj, 0, "dataset_url", url);
  srv_buf_json_kv(&bj, 0, "type", b.run_type);
  srv_buf_json_kv(&bj, 0, "out", out);
  srv_buf_printf(&bj, ",\"vcpus\":%lld,\"memory_mib\":%lld,\"timeout_s\":%lld,\"params\":[",
                 (long long)b.vcpus, (long long)b.memory_mib, (long long)b.timeout_s);
  yajl_val params = srv_runs_json_parse(b.params_json ? b.params_json : "{}",
                                         SRV_RUNS_STORED_JSON_DEPTH, NULL, 0);
  size_t np = params && YAJL_IS_OBJECT(params) ? params->u.object.len : 0;
  for (size_t i = 0; i < np; i++) {
    yajl_val v = params->u.object.values[i];
    char *kv = NULL;
    if (asprintf(&kv, "%s=%s", params->u.object.keys[i],
                 YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : "") < 0)
      kv = NULL;
    if (i) srv_buf_puts(&bj, ",");
    srv_buf_json_str(&bj, kv ? kv : "");
    free(kv);
  }
  yajl_tree_free(params);
  srv_buf_puts(&bj, "]}");
  OPENSSL_cleanse(token, sizeof token);
  int wrote = !bj.oom && bj.len < 60000 && write(pa[1], bj.p, bj.len) == (ssize_t)bj.len;
  if (bj.p) OPENSSL_cleanse(bj.p, bj.len);
  srv_buf_free(&bj);
  close(pa[1]);
  pa[1] = -1;
  if (!wrote) {
    snprintf(why, sizeof why, "the run bundle could not be handed over");
    goto fail;
  }
  argv = calloc(8, sizeof *argv);
  if (!argv) {
    snprintf(why, sizeof why, "out of memory");
    goto fail;
  }
  argv[argc++] = strdup(r->enclave);
  argv[argc++] = strdup("platform");
  argv[argc++] = strdup("--bundle");
  argv[argc++] = strdup("/dev/fd/3");
  for (size_t i = 0; i < argc; i++)
    if (!argv[i]) {
      snprintf(why, sizeof why, "out of memory");
      goto fail;
    }
  snprintf(p, sizeof p, "%s/enclave.log", work);
  int logfd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  plog(db, run_id, "Runtime Build", "launching escrow-enclave with the sandbox backend (a "
       "SIMULATED TEE: bubblewrap, cgroups, seccomp)");
  pid = fork();
  if (pid == 0) {
    /* child: only async-signal-safe calls until exec */
    int a = dup(pa[0]);
    if (a < 0 || dup2(a, 3) < 0) _exit(125);
    if (logfd >= 0) {
      dup2(logfd, 1);
      dup2(logfd, 2);
    }
    int dn = open("/dev/null", O_RDONLY);
    if (dn >= 0) dup2(dn, 0);
    setpgid(0, 0);
    /* the run is cancelled (full teardown) if escrowd dies: no orphan keeps running */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == 1) _exit(125);
    /* escrowd runs with umask 077; the enclave sets the modes the sandbox user needs (its run
     * folder, the relay binary) expecting the usual umask */
    umask(022);
    execv(argv[0], argv);
    _exit(127);
  }
  if (logfd >= 0) close(logfd);
  close(pa[0]);
  pa[0] = -1;
  if (pid < 0) {
    snprintf(why, sizeof why, "cannot start escrow-enclave: %s", strerror(errno));
    goto fail;
  }
  /* watch */
  snprintf(p, sizeof p, "%s/logs.jsonl", out);
  off_t off = 0;
  int status = 0, cancelled = 0, stopped = 0;
  int64_t last_beat = runs_now();
  for (;;) {
    pid_t w = waitpid(pid, &status, WNOHANG);
    pump_logs(db, run_id, p, &off);
    if (w == pid) break;
    if (!cancelled && run_flag(db, run_id)) {
      cancelled = 1;
      kill(pid, SIGTERM);
    }
    pthread_mutex_lock(&r->mu);
    int stopping = r->stopping;
    pthread_mutex_unlock(&r->mu);
    if (stopping && !stopped) {
      stopped = 1;
      kill(pid, SIGTERM);
    }
    if (runs_now() - last_beat >= 5) {
      last_beat = runs_now();
      srv_db_param hp[] = {SRV_DB_INT(last_beat), SRV_DB_TEXT(run_id)};
      rx(db, "UPDATE run SET heartbeat = $1 WHERE id = $2", hp, 2, NULL);
    }
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  pump_logs(db, run_id, p, &off);
  /* results */
  snprintf(p, sizeof p, "%s/result.json", out);
  char *res = slurp(p, 1 << 20, NULL);
  char *st_s = json_str(res, "status"), *reason = json_str(res, "reason");
  snprintf(p, sizeof p, "%s/report.json", out);
  char *report = slurp(p, 16 << 20, NULL);
  snprintf(p, sizeof p, "%s/certificate.json", out);
  char *cert = slurp(p, 1 << 20, NULL);
  snprintf(p, sizeof p, "%s/model.zip.bkenc", out);
  size_t mlen = 0;
  char *model = slurp(p, 1u << 30, &mlen);
  char msha[65] = "";
  int completed = st_s && strcmp(st_s, "Completed") == 0 && WIFEXITED(status) &&
                  WEXITSTATUS(status) == 0;
  if (completed && model &&
      srv_blob_put(r->ctx->cfg.data_dir, (unsigned char *)model, mlen, msha, why, sizeof why))
    completed = 0;
  if (cancelled) {
    finish(db, run_id, "Cancelled", "cancelled by the data steward", NULL, cert, NULL);
    plog(db, run_id, "Run", "Run Cancelled by the data steward");
  } else if (stopped) {
    finish(db, run_id, "Failed", "escrowd stopped while the run was in progress: request the run again", NULL, cert, NULL);
  } else if (completed) {
    finish(db, run_id, "Completed", NULL, report, cert, *msha ? msha : NULL);
  } else {
    char rs[600], last[400] = "";
    if (!res) { /* it stopped before the run (key release): its own last message says why */
      snprintf(p, sizeof p, "%s/enclave.log", work);
      FILE *lf = fopen(p, "r");
      char line[400];
      while (lf && fgets(line, sizeof line, lf))
        if (strncmp(line, "escrow-enclave: ", 16) == 0) {
          line[strcspn(line, "\n")] = 0;
          snprintf(last, sizeof last, "%s", line + 16);
        }
      if (lf) fclose(lf);
    }
    snprintf(rs, sizeof rs, "%s", reason && *reason ? reason
                                  : res   ? "the enclave reported a failure"
                                  : *last ? last
                                          : "escrow-enclave ended without a result");
    finish(db, run_id, "Failed", rs, NULL, cert, NULL);
  }
  free(res);
  free(st_s);
  free(reason);
  free(report);
  free(cert);
  free(model);
  goto cleanup;
fail:
  finish(db, run_id, "Failed", why, NULL, NULL, NULL);
  {
    char m[700];
    snprintf(m, sizeof m, "Run Failed: %s", why);
    for (char *q = m; *q; q++)
      if (*q == '"' || *q == '\\') *q = '\'';
    plog(db, run_id, "Run", m);
  }
cleanup:
  for (size_t i = 0; argv && i < argc; i++) free(argv[i]);
  free(argv);
  for (int i = 0; i < 2; i++)
    if (pa[i] >= 0) close(pa[i]);
  if (url) {
    OPENSSL_cleanse(url, urllen);
    free(url);
  }
  if (urlbuf) srv_vault_secret_free(urlbuf, urllen);
  if (have_work) nftw(work, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
  bundle_clear(&b);
}

static void *runner_main(void *arg) {
  srv_runs *r = arg;
  srv_db *db = r->db;
  int64_t last_sweep = 0;
  for (;;) {
    pthread_mutex_lock(&r->mu);
    int stopping = r->stopping;
    pthread_mutex_unlock(&r->mu);
    if (stopping) break;
    if (runs_now() - last_sweep >= 30) {
      last_sweep = runs_now();
      runs_db_recover(db, "", 300); /* other runners that stopped reporting */
    }
    pthread_mutex_lock(&r->mu);
    int listening = r->base_url[0] != 0;
    pthread_mutex_unlock(&r->mu);
    char *id = NULL;
    int rc = listening ? runs_db_claim(db, r->runner_name, &id) : SRV_NOTFOUND;
    if (rc == 0) {
      execute(r, db, id);
      free(id);
      continue;
    }
    pthread_mutex_lock(&r->mu);
    if (!r->stopping) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_nsec += 500 * 1000 * 1000;
      if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
      }
      pthread_cond_timedwait(&r->cv, &r->mu, &ts);
    }
    pthread_mutex_unlock(&r->mu);
  }
  return NULL;
}

/* Remove run folders a stopped process left (their runs were failed by the recovery). */
static void sweep_run_folders(srv_runs *r) {
  char dir[PATH_MAX];
  if (snprintf(dir, sizeof dir, "%s/runs/%s", r->ctx->cfg.data_dir, r->runner_name) >=
      (int)sizeof dir)
    return;
  nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

int runs_runner_start(srv_runs *r, unsigned n, char *err, size_t errsz) {
  sweep_run_folders(r);
  r->threads = calloc(n, sizeof *r->threads);
  if (!r->threads) {
    snprintf(err, errsz, "out of memory");
    return -1;
  }
  for (unsigned i = 0; i < n; i++) {
    if (pthread_create(&r->threads[i], NULL, runner_main, r)) {
      snprintf(err, errsz, "cannot start a runner thread");
      runs_runner_stop(r);
      return -1;
    }
    r->nthreads++;
  }
  return 0;
}

void runs_runner_wake(srv_runs *r) {
  pthread_mutex_lock(&r->mu);
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
}

void runs_runner_stop(srv_runs *r) {
  pthread_mutex_lock(&r->mu);
  r->stopping = 1;
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
  for (unsigned i = 0; i < r->nthreads; i++) pthread_join(r->threads[i], NULL);
  if (r->nthreads) sweep_run_folders(r); /* nothing is in flight any more */
  free(r->threads);
  r->threads = NULL;
  r->nthreads = 0;
}
