/* escrow-enclave: the in-TEE agent. `run` is the standalone pre-flight mode of DESIGN §11:
 * the package and the dataset are decrypted with local CEKs, the entry point of the Dockerfile
 * runs in the sandbox backend (a SIMULATED TEE), the Enclave API serves the dataset, and only
 * what the egress rules allow reaches OUTDIR. */
#define _GNU_SOURCE
#include "enclave.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define SANDBOX_UID 65534

static void usage(FILE *f) {
  fputs("usage: escrow-enclave run --package ALG.zip|DIR --dataset URL|DIR [--criteria CRITERIA.json]\n"
        "         [--ao-cek CEK] [--ds-cek CEK] [--type validation|training] [--param NAME=VALUE]...\n"
        "         [--vcpus N] [--memory-mib M] [--timeout S] [--sdk-dir DIR] -o OUTDIR\n"
        "       escrow-enclave verify-certificate CERT [--outdir OUTDIR]\n"
        "The sandbox backend is a SIMULATED TEE (bubblewrap, cgroup v1 limits, seccomp).\n",
        f);
}

static int usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("escrow-enclave: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  usage(stderr);
  return 2;
}

/* ---- file helpers ----------------------------------------------------------------------------- */

static int write_file(const char *path, const char *data, size_t len, mode_t mode) {
  char tmp[4096];
  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return -1;
  size_t o = 0;
  while (o < len) {
    ssize_t w = write(fd, data + o, len - o);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) { close(fd); unlink(tmp); return -1; }
    o += (size_t)w;
  }
  if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) { unlink(tmp); return -1; }
  return 0;
}

static char *read_all(const char *path, size_t max, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  size_t cap = 4096, n = 0;
  char *b = malloc(cap + 1);
  while (b) {
    if (n == cap) {
      if (cap >= max) { free(b); b = NULL; break; }
      cap *= 2;
      char *nb = realloc(b, cap + 1);
      if (!nb) { free(b); b = NULL; break; }
      b = nb;
    }
    ssize_t r = read(fd, b + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) { free(b); b = NULL; break; }
    if (r == 0) break;
    n += (size_t)r;
  }
  close(fd);
  if (b) { b[n] = 0; if (len) *len = n; }
  return b;
}

static int sha256_file(const char *path, char hex[65]) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  unsigned char buf[65536], md[32];
  unsigned mdl = 0;
  int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
  ssize_t r;
  while (ok && (r = read(fd, buf, sizeof(buf))) > 0) ok = EVP_DigestUpdate(ctx, buf, (size_t)r);
  ok = ok && EVP_DigestFinal_ex(ctx, md, &mdl);
  EVP_MD_CTX_free(ctx);
  close(fd);
  if (!ok) return -1;
  for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
  return 0;
}

static void sha256_hex(const void *data, size_t len, char hex[65]) {
  unsigned char md[32];
  unsigned mdl = 0;
  if (EVP_Digest(data, len, md, &mdl, EVP_sha256(), NULL) != 1) {
    hex[0] = 0; /* the certificate then says null, or an empty hash */
    return;
  }
  for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f) {
  (void)st;
  (void)f;
  return flag == FTW_DP ? rmdir(p) : unlink(p);
}
static void rmtree(const char *dir) { nftw(dir, rm_cb, 32, FTW_DEPTH | FTW_PHYS); }

static uid_t g_chown_uid;
static int chown_cb(const char *p, const struct stat *st, int flag, struct FTW *f) {
  (void)st;
  (void)flag;
  (void)f;
  return lchown(p, g_chown_uid, g_chown_uid);
}

/* copy a folder tree (regular files and folders only; links refused) */
static int copy_tree(const char *src, const char *dst, int depth) {
  if (depth > 32) return -1;
  if (mkdir(dst, 0700) != 0) return -1;
  DIR *d = opendir(src);
  if (!d) return -1;
  struct dirent *e;
  int rc = 0;
  while (rc == 0 && (e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char s[4096], t[4096];
    struct stat st;
    if ((size_t)snprintf(s, sizeof(s), "%s/%s", src, e->d_name) >= sizeof(s) ||
        (size_t)snprintf(t, sizeof(t), "%s/%s", dst, e->d_name) >= sizeof(t) ||
        lstat(s, &st) != 0) { rc = -1; break; }
    if (S_ISDIR(st.st_mode)) {
      rc = copy_tree(s, t, depth + 1);
    } else if (S_ISREG(st.st_mode)) {
      int in = open(s, O_RDONLY | O_CLOEXEC);
      int out = open(t, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st.st_mode & 0700 ? 0700 : 0600);
      char buf[65536];
      ssize_t r = 0;
      while (in >= 0 && out >= 0 && (r = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)r) != r) { r = -1; break; }
      if (in < 0 || out < 0 || r < 0) rc = -1;
      if (in >= 0) close(in);
      if (out >= 0 && close(out) != 0) rc = -1;
    } else {
      rc = -1; /* links and special files are not part of a package */
    }
  }
  closedir(d);
  return rc;
}

/* ---- the run ---------------------------------------------------------------------------------- */

typedef struct run_opts {
  const char *package, *dataset, *criteria, *ao_cek, *ds_cek, *type, *out, *sdk_dir;
  char **params;
  size_t n_params;
  unsigned vcpus, memory_mib, timeout_s;
} run_opts;

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out) {
  char *e;
  errno = 0;
  unsigned long v = strtoul(s, &e, 10);
  if (errno || *e || e == s || v < lo || v > hi) return -1;
  *out = (unsigned)v;
  return 0;
}

static char *jstr(const char *s) {
  /* a JSON string literal (ASCII-safe escaping; bytes >= 0x80 copied as they are) */
  size_t n = strlen(s);
  char *o = malloc(n * 6 + 3), *p = o;
  if (!o) return NULL;
  *p++ = '"';
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    if (*c == '"' || *c == '\\') { *p++ = '\\'; *p++ = (char)*c; }
    else if (*c < 0x20) p += sprintf(p, "\\u%04x", *c);
    else *p++ = (char)*c;
  }
  *p++ = '"';
  *p = 0;
  return o;
}

static void iso_now(char out[32]) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

typedef struct outcome {
  int completed;
  char reason[4096];
  int exit_code;
} outcome;

static int fail_at(outcome *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail_at(outcome *o, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(o->reason, sizeof(o->reason), fmt, ap);
  va_end(ap);
  o->completed = 0;
  return -1;
}

/* the sandbox's listening socket has arrived: serve the Enclave API on it */
static int start_api_on(void *arg, int listen_fd) {
  enc_api *api = arg;
  if (enc_api_start(api, listen_fd) != 0) {
    close(listen_fd);
    return -1;
  }
  return 0;
}

/* the output folder and the artifacts of a training run: half the memory, at most 1024 MiB
 * (like the scratch /tmp; tmpfs pages count against the memory limit) */
static unsigned output_cap_mib(unsigned memory_mib) {
  return memory_mib / 2 < 1024 ? memory_mib / 2 : 1024;
}

/* SHA-256 of the dataset listing as the algorithm sees it: "name\tsize\n" per blob, sorted */
typedef struct listing { char **lines; size_t n, cap; int failed; } listing;
static int listing_cb(void *p, const escrow_blob_item *it) {
  listing *l = p;
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 256;
    char **nl = realloc(l->lines, nc * sizeof(*nl));
    if (!nl) { l->failed = 1; return -1; }
    l->lines = nl;
    l->cap = nc;
  }
  if (asprintf(&l->lines[l->n], "%s\t%llu\n", it->name, (unsigned long long)it->size) < 0) {
    l->failed = 1;
    return -1;
  }
  l->n++;
  return 0;
}
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static int listing_hash(escrow_blob_client *blob, char hex[65]) {
  listing l = {0};
  int rc = escrow_blob_list(blob, NULL, listing_cb, &l);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  unsigned char md[32];
  unsigned mdl = 0;
  int ok = rc == 0 && !l.failed && ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
  if (ok) qsort(l.lines, l.n, sizeof(*l.lines), cmp_str);
  for (size_t i = 0; ok && i < l.n; i++) ok = EVP_DigestUpdate(ctx, l.lines[i], strlen(l.lines[i]));
  ok = ok && EVP_DigestFinal_ex(ctx, md, &mdl);
  EVP_MD_CTX_free(ctx);
  for (size_t i = 0; i < l.n; i++) free(l.lines[i]);
  free(l.lines);
  if (!ok) return -1;
  for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
  return 0;
}

/* SHA-256 of a folder: of the sorted lines "<relative path>\t<SHA-256 of the file>\n" */
static listing g_tree;
static size_t g_tree_root;
static int tree_cb(const char *path, const struct stat *st, int flag, struct FTW *f) {
  (void)f;
  char h[65];
  if (flag != FTW_F || !S_ISREG(st->st_mode)) return 0;
  if (sha256_file(path, h) != 0) return -1;
  if (g_tree.n == g_tree.cap) {
    size_t nc = g_tree.cap ? g_tree.cap * 2 : 64;
    char **nl = realloc(g_tree.lines, nc * sizeof(*nl));
    if (!nl) return -1;
    g_tree.lines = nl;
    g_tree.cap = nc;
  }
  if (asprintf(&g_tree.lines[g_tree.n], "%s\t%s\n", path + g_tree_root, h) < 0) return -1;
  g_tree.n++;
  return 0;
}
static int tree_hash(const char *dir, char hex[65]) {
  memset(&g_tree, 0, sizeof(g_tree));
  g_tree_root = strlen(dir) + 1;
  int rc = nftw(dir, tree_cb, 16, FTW_PHYS);
  if (rc == 0) {
    qsort(g_tree.lines, g_tree.n, sizeof(char *), cmp_str);
    size_t total = 0;
    for (size_t i = 0; i < g_tree.n; i++) total += strlen(g_tree.lines[i]);
    char *all = malloc(total + 1), *q = all;
    if (all) {
      for (size_t i = 0; i < g_tree.n; i++) q = stpcpy(q, g_tree.lines[i]);
      sha256_hex(all, total, hex);
      free(all);
    } else {
      rc = -1;
    }
  }
  for (size_t i = 0; i < g_tree.n; i++) free(g_tree.lines[i]);
  free(g_tree.lines);
  memset(&g_tree, 0, sizeof(g_tree));
  if (rc != 0) hex[0] = 0;
  return rc;
}

static int cmd_verify(int argc, char **argv) {
  const char *cert = NULL, *outdir = NULL;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--outdir") && i + 1 < argc) outdir = argv[++i];
    else if (!cert && argv[i][0] != '-') cert = argv[i];
    else return usage_error("bad argument: %s", argv[i]);
  }
  if (!cert) return usage_error("verify-certificate CERT [--outdir OUTDIR]");
  size_t len = 0;
  char *text = read_all(cert, 1u << 20, &len);
  if (!text) {
    fprintf(stderr, "escrow-enclave: %s: %s\n", cert, strerror(errno));
    return 2;
  }
  char *answer = NULL;
  int rc = enc_cert_verify(text, outdir, &answer);
  free(text);
  if (!answer) return 2;
  fputs(answer, stdout);
  if (rc != 0) fprintf(stderr, "escrow-enclave: the certificate does not verify\n");
  free(answer);
  return rc;
}

/* The run pipeline (DESIGN §7, §11): package, dataset, Enclave API, sandbox, egress, outputs,
 * certificate, teardown. Inputs are loaded by the caller (the pre-flight command, or a platform
 * mode that fetches them); OUTDIR receives what the egress rules let out. Returns 0 when the
 * run completed, 1 when it failed, 2 when an output could not be written. */
int enc_run(const enc_run_config *cfg) {
  struct {
    const char *package, *type, *out;
    size_t n_params;
    unsigned vcpus, memory_mib, timeout_s;
  } o = {cfg->package, cfg->training ? "training" : "validation", cfg->out, cfg->n_params,
         cfg->vcpus, cfg->memory_mib, cfg->timeout_s};
  char *const *params = cfg->params;
  const escrow_cek *ao = cfg->ao_cek, *ds = cfg->ds_cek;
  escrow_criteria *crit = cfg->criteria;
  const char *crit_text = cfg->criteria_text;
  const char *url = cfg->dataset_url;
  int pkg_is_dir = cfg->package_is_dir;
  int training = cfg->training;
  /* the run */
  outcome oc = {0};
  char run_id[40], started[32], ended[32], p[8192];
  if (cfg->run_id) { /* it names cgroups and folders: a short token */
    size_t n = strlen(cfg->run_id);
    int ok = n > 0 && n < sizeof(run_id);
    for (size_t i = 0; ok && i < n; i++) {
      char ch = cfg->run_id[i];
      ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-';
    }
    if (!ok) {
      fprintf(stderr, "escrow-enclave: a run id is 1 to 39 letters, digits and '-'\n");
      return 2;
    }
    snprintf(run_id, sizeof(run_id), "%s", cfg->run_id);
  } else {
    unsigned char rnd[16];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
      fprintf(stderr, "escrow-enclave: no randomness for the run id\n");
      return 2;
    }
    for (int i = 0; i < 16; i++) snprintf(run_id + 2 * i, 3, "%02x", rnd[i]);
  }
  const char *project_id = cfg->project_id ? cfg->project_id : "preflight";
  const char *run_config_id = cfg->run_config_id ? cfg->run_config_id : "preflight";
  iso_now(started);
  enc_log log = {PTHREAD_MUTEX_INITIALIZER, -1, 0, 0};
  snprintf(p, sizeof(p), "%s/logs.jsonl", o.out);
  log.fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  enc_log_platform(&log, "Run Initiated",
                   "%s run %s: the TEE is SIMULATED (sandbox backend: bubblewrap, cgroups, "
                   "seccomp); the host's root can read its memory",
                   cfg->project_id ? "platform" : "pre-flight", run_id);
  /* reports of an earlier run in OUTDIR must not be mistaken for this one's */
  static const char *const outs[] = {"report.json", "result.json", "certificate.json",
                                     "model.zip.bkenc", NULL};
  for (size_t i = 0; outs[i]; i++) {
    snprintf(p, sizeof(p), "%s/%s", o.out, outs[i]);
    unlink(p);
  }

  const char *tmpd = getenv("TMPDIR");
  char run_dir[1024], code[1100];
  if (!tmpd || !*tmpd || strlen(tmpd) > 900) tmpd = "/tmp";
  snprintf(run_dir, sizeof(run_dir), "%.900s/escrow-enclave-XXXXXX", tmpd);
  enc_image img = {0};
  char **entry = NULL;
  size_t n_entry = 0;
  char **env = NULL;
  size_t n_env = 0;
  escrow_blob_client *blob = NULL;
  escrow_manifest *man = NULL;
  enc_api api = {0};
  pthread_mutex_init(&api.mu, NULL);
  int api_started = 0, have_run_dir = 0;
  char *tls_ca = NULL, *tls_cert = NULL, *tls_key = NULL;
  enc_sandbox sb = {0};
  sb.output_fd = -1;
  int ran = 0;
  char dataset_listing[65] = "", manifest_hash[65] = "", artifact_dir[1100] = "";
  size_t model_files = 0;
  enc_run_key rkey = {0};
  if (enc_run_key_new(&rkey) != 0) { fail_at(&oc, "the run key could not be made"); goto done; }

  if (!mkdtemp(run_dir)) { fail_at(&oc, "cannot create the run folder: %s", strerror(errno)); goto done; }
  have_run_dir = 1;
  chmod(run_dir, 0711);
  if (geteuid() == 0) {
    /* the sandbox user must be able to reach the run folder: every parent needs o+x */
    char up[1024];
    snprintf(up, sizeof(up), "%s", run_dir);
    for (char *sl = strrchr(up, '/'); sl && sl != up; sl = strrchr(up, '/')) {
      *sl = 0;
      struct stat ps;
      if (stat(up, &ps) != 0 || !(ps.st_mode & S_IXOTH)) {
        fail_at(&oc, "the sandbox user cannot reach %s (mode %o): set TMPDIR to a folder others "
                "can traverse", up, stat(up, &ps) == 0 ? (unsigned)(ps.st_mode & 07777) : 0u);
        goto done;
      }
    }
  }
  snprintf(code, sizeof(code), "%s/code", run_dir);

  /* 1. the package */
  enc_log_platform(&log, "Runtime Build", "preparing the algorithm package");
  if (pkg_is_dir) {
    if (copy_tree(o.package, code, 0) != 0) { fail_at(&oc, "the package folder could not be copied (links and special files are refused)"); goto done; }
  } else {
    escrow_algorithm *alg = NULL;
    if (escrow_algorithm_open(&alg, o.package, NULL) != 0) { fail_at(&oc, "the package could not be opened: %s", escrow_error_last()); goto done; }
    const escrow_cek *k = ao;
    escrow_cek *tmpk = NULL;
    if (!k && escrow_algorithm_secret_count(alg) > 0) {
      escrow_algorithm_free(alg);
      fail_at(&oc, "the package has encrypted files: --ao-cek is required");
      goto done;
    }
    if (!k && escrow_cek_generate(&tmpk) != 0) { escrow_algorithm_free(alg); fail_at(&oc, "internal error"); goto done; }
    int xr = escrow_algorithm_extract(alg, k ? k : tmpk, code);
    escrow_cek_free(tmpk);
    escrow_algorithm_free(alg);
    if (xr != 0) { fail_at(&oc, "the package could not be decrypted: %s", escrow_error_last()); goto done; }
  }
  snprintf(p, sizeof(p), "%s/Dockerfile", code);
  size_t dl = 0;
  char *df = read_all(p, 1u << 20, &dl);
  if (!df) { fail_at(&oc, "the package has no Dockerfile"); goto done; }
  char err[256];
  int pr = enc_dockerfile_parse(df, dl, &img, err, sizeof(err));
  free(df);
  if (pr != 0) { fail_at(&oc, "the Dockerfile could not be read: %s", err); goto done; }
  if (enc_image_argv(&img, &entry, &n_entry) != 0) { fail_at(&oc, "the Dockerfile has no ENTRYPOINT or CMD"); goto done; }
  enc_log_platform(&log, "Runtime Build",
                   "Dockerfile: base image %s is simulated by the host's /usr; %zu RUN line(s) NOT "
                   "executed by the sandbox backend; WORKDIR %s", img.from ? img.from : "(none)",
                   img.run_lines, img.workdir);
  const char *dest = img.copy_dest ? img.copy_dest : img.workdir;
  if (!strcmp(dest, "/")) dest = "/app";
  if (geteuid() == 0) {
    g_chown_uid = SANDBOX_UID;
    if (nftw(code, chown_cb, 32, FTW_PHYS) != 0) { fail_at(&oc, "cannot hand the code to the sandbox user"); goto done; }
  }

  /* 2. sandbox files: etc, the relay binary, the API socket */
  snprintf(p, sizeof(p), "%s/etc", run_dir);
  mkdir(p, 0755);
  static const struct { const char *name, *text; } etc[] = {
      {"hosts", "127.0.0.1\tlocalhost enclave\n"},
      {"passwd", "root:x:0:0:root:/root:/usr/sbin/nologin\nalgo:x:1000:1000:algorithm:/tmp:/bin/sh\n"},
      {"group", "root:x:0:\nalgo:x:1000:\n"},
      {"nsswitch.conf", "passwd: files\ngroup: files\nhosts: files\n"}};
  for (size_t i = 0; i < sizeof(etc) / sizeof(etc[0]); i++) {
    snprintf(p, sizeof(p), "%s/etc/%s", run_dir, etc[i].name);
    if (write_file(p, etc[i].text, strlen(etc[i].text), 0644) != 0) { fail_at(&oc, "cannot write the sandbox's /etc"); goto done; }
  }
  snprintf(p, sizeof(p), "%s/bin", run_dir);
  mkdir(p, 0755);
  {
    size_t bl = 0;
    char *bin = read_all("/proc/self/exe", 1u << 30, &bl);
    snprintf(p, sizeof(p), "%s/bin/escrow-enclave", run_dir);
    int wr = bin ? write_file(p, bin, bl, 0755) : -1;
    free(bin);
    if (wr != 0) { fail_at(&oc, "cannot place the relay in the sandbox"); goto done; }
  }
  snprintf(p, sizeof(p), "%s/api", run_dir);
  mkdir(p, 0755);
  snprintf(p, sizeof(p), "%s/plain", run_dir);
  mkdir(p, 0700);
  char plain_dir[1100];
  snprintf(plain_dir, sizeof(plain_dir), "%s/plain", run_dir);
  char sdk_dst[1100];
  snprintf(sdk_dst, sizeof(sdk_dst), "%s/sdk", run_dir);
  {
    /* EnclaveSDK (sdk.c): what `RUN pip install EnclaveSDK` would have put in the image */
    const char *sdk_src = cfg->sdk_dir ? cfg->sdk_dir : enc_sdk_default_dir();
    char why[512];
    size_t n_sdk = 0;
    if (enc_sdk_stage(sdk_src, sdk_dst, &n_sdk, why, sizeof(why)) == 0) {
      sb.sdk_dir = sdk_dst;
      enc_log_platform(&log, "Runtime Build", "EnclaveSDK provided: %zu file(s) from %s at %s, "
                       "last on PYTHONPATH (a copy in the package wins)", n_sdk, sdk_src, ENC_SDK_MOUNT);
    } else {
      enc_log_platform(&log, "Runtime Build", "EnclaveSDK was NOT provided (%s): `import EnclaveSDK` "
                       "works only if the package ships it", why);
      fprintf(stderr, "escrow-enclave: warning: EnclaveSDK not provided: %s\n", why);
    }
  }

  /* 3. the dataset */
  escrow_blob_options bo = ESCROW_BLOB_OPTIONS_INIT;
  bo.flags = ESCROW_BLOB_ALLOW_LOOPBACK_HTTP; /* emulators (Azurite) on 127.0.0.1 only */
  if (escrow_blob_open(&blob, url, &bo) != 0) { fail_at(&oc, "the dataset could not be opened: %s", escrow_error_last()); goto done; }
  {
    uint64_t msz = 0;
    int sr = escrow_blob_stat(blob, ESCROW_MANIFEST_FILE, &msz, NULL);
    if (sr == 0) {
      snprintf(p, sizeof(p), "%s/manifest", plain_dir);
      size_t ml = 0;
      char *mb = NULL;
      if (!ds) { fail_at(&oc, "the dataset is encrypted: --ds-cek is required"); goto done; }
      if (msz > (64u << 20) || escrow_blob_get_file(blob, ESCROW_MANIFEST_FILE, p, NULL, NULL) != 0 ||
          !(mb = read_all(p, 64u << 20, &ml))) {
        unlink(p);
        fail_at(&oc, "the dataset manifest could not be read");
        goto done;
      }
      unlink(p);
      sha256_hex(mb, ml, manifest_hash);
      int mr = escrow_manifest_decode(&man, ds, (const uint8_t *)mb, ml);
      free(mb);
      if (mr != 0) { fail_at(&oc, "the dataset manifest does not verify with the DS CEK: %s", escrow_error_last()); goto done; }
      enc_log_platform(&log, "Runtime Build", "dataset manifest verified: %zu file(s)", escrow_manifest_count(man));
    } else {
      enc_log_platform(&log, "Runtime Build", "the dataset has no manifest: files are checked one by one (path context only)");
    }
  }

  if (listing_hash(blob, dataset_listing) != 0) {
    fail_at(&oc, "the dataset could not be listed: %s", escrow_error_last());
    goto done;
  }

  /* 4. the Enclave API */
  api.blob = blob;
  api.dataset_url = url;
  api.ds_cek = ds;
  api.criteria = crit;
  api.criteria_json = crit_text;
  api.manifest = man;
  api.plain_dir = plain_dir;
  api.log = &log;
  api.training = training;
  if (training) {
    snprintf(artifact_dir, sizeof(artifact_dir), "%s/artifacts", run_dir);
    if (mkdir(artifact_dir, 0700) != 0) { fail_at(&oc, "cannot create the artifact folder"); goto done; }
    api.artifact_dir = artifact_dir;
    api.artifact_cap = (uint64_t)output_cap_mib(o.memory_mib) << 20;
  }
  if (enc_tls_make(&tls_ca, &tls_cert, &tls_key) != 0) { fail_at(&oc, "the per-run CA could not be made"); goto done; }
  snprintf(p, sizeof(p), "%s/api/ca.pem", run_dir);
  if (write_file(p, tls_ca, strlen(tls_ca), 0644) != 0) { fail_at(&oc, "cannot write the per-run CA"); goto done; }
  api.tls_cert_pem = tls_cert;
  api.tls_key_pem = tls_key;
  /* the API starts once sandbox-init hands over its listening socket (enc_sandbox.on_listen) */
  api_started = 1;
  enc_log_platform(&log, "Workload Launch", "Enclave API at https://localhost:5000 (TLS with a "
                   "per-run CA, served by the host on a socket of the sandbox's loopback)");

  /* 5. environment */
  {
    char *fixed[16];
    size_t nf = 0;
    int bad = 0;
#define ADD(...) do { if (asprintf(&fixed[nf], __VA_ARGS__) < 0) bad = 1; else nf++; } while (0)
    ADD("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    ADD("HOME=/tmp");
    ADD("TMPDIR=/tmp");
    ADD("LANG=C.UTF-8");
    ADD("PYTHONDONTWRITEBYTECODE=1");
#undef ADD
    env = calloc(nf + img.n_env + o.n_params + 16, sizeof(char *));
    if (!env || bad) { for (size_t i = 0; i < nf; i++) free(fixed[i]); fail_at(&oc, "out of memory"); goto done; }
    for (size_t i = 0; i < nf; i++) env[n_env++] = fixed[i];
    for (size_t i = 0; i < img.n_env; i++) {
      const char *e = img.env[i];
      /* the image may not override what the runtime sets for the API */
      if (!strncmp(e, "ENCLAVE_URL=", 12) || !strncmp(e, "ESCROW_", 7) || !strncmp(e, "LD_", 3)) continue;
      env[n_env++] = strdup(e);
    }
    for (size_t i = 0; i < o.n_params; i++) env[n_env++] = strdup(params[i]);
    if (asprintf(&env[n_env], "ENCLAVE_URL=https://localhost:5000") >= 0) n_env++;
    if (asprintf(&env[n_env], "ESCROW_RUNTIME_LOCATION=https://localhost:5000") >= 0) n_env++;
    if (asprintf(&env[n_env], "SSL_CERT_FILE=/run/enclave/ca.pem") >= 0) n_env++;
    if (asprintf(&env[n_env], "REQUESTS_CA_BUNDLE=/run/enclave/ca.pem") >= 0) n_env++;
    if (asprintf(&env[n_env], "CURL_CA_BUNDLE=/run/enclave/ca.pem") >= 0) n_env++;
    if (asprintf(&env[n_env], "ESCROW_PROJECT_ID=%s", project_id) >= 0) n_env++;
    if (asprintf(&env[n_env], "ESCROW_RUN_ID=%s", run_id) >= 0) n_env++;
    if (asprintf(&env[n_env], "ESCROW_RUN_CONFIG_ID=%s", run_config_id) >= 0) n_env++;
    if (asprintf(&env[n_env], "ESCROW_SIMULATED_TEE=1") >= 0) n_env++;
    if (asprintf(&env[n_env], "MLFLOW_TRACKING_URI=https://localhost:5000") >= 0) n_env++;
    if (training && asprintf(&env[n_env], "ESCROW_OUTPUT_DIR=" ENC_OUTPUT_DIR) >= 0) n_env++;
    if (sb.sdk_dir && enc_sdk_pythonpath(env, &n_env) != 0) { fail_at(&oc, "out of memory"); goto done; }
    for (size_t i = 0; i < n_env; i++)
      if (!env[i]) { fail_at(&oc, "out of memory"); goto done; }
  }

  /* 6. the sandbox */
  sb.run_dir = run_dir;
  sb.code_dir = code;
  sb.code_dest = dest;
  sb.workdir = img.workdir;
  sb.argv = entry;
  sb.env = env;
  sb.n_env = n_env;
  sb.vcpus = o.vcpus;
  sb.memory_mib = o.memory_mib;
  sb.scratch_mib = o.memory_mib / 2 < 1024 ? o.memory_mib / 2 : 1024;
  sb.pids_max = 256;
  sb.timeout_s = o.timeout_s;
  sb.run_id = run_id;
  sb.log = &log;
  sb.output_mib = training ? output_cap_mib(o.memory_mib) : 0;
  sb.on_listen = start_api_on;
  sb.on_listen_arg = &api;
  if (training)
    enc_log_platform(&log, "Run", "training run: the model leaves only as model.zip.bkenc, encrypted to "
                     "the AO's CEK: files in ESCROW_OUTPUT_DIR (%s, capped at %u MiB) and artifacts "
                     "posted to /api/v1/report/artifact (capped at %u MiB together)",
                     ENC_OUTPUT_DIR, sb.output_mib, sb.output_mib);
  enc_log_platform(&log, "Run", "the algorithm starts (vCPU %u, memory %u MiB, scratch /tmp %u MiB, "
                   "timeout %u s)", o.vcpus, o.memory_mib, sb.scratch_mib, o.timeout_s);
  if (enc_sandbox_run(&sb) != 0) { fail_at(&oc, "the sandbox could not start"); goto done; }
  ran = 1;
  oc.exit_code = sb.exit_code;
  enc_api_stop(&api);
  api_started = 0;
  enc_log_platform(&log, "Run", "the algorithm ended: exit status %d%s; %zu Enclave API request(s); "
                   "peak memory %llu MiB", sb.exit_code, sb.timed_out ? " (timeout)" : "",
                   api.requests, (unsigned long long)(sb.memory_peak >> 20));
  if (api.first_request_ms > 0)
    enc_log_platform(&log, "Run", "first Enclave API request %.1f ms after the sandbox started",
                     api.first_request_ms - sb.started_ms);
  if (sb.cancelled) fail_at(&oc, "cancelled: escrow-enclave was asked to stop");
  else if (sb.timed_out) fail_at(&oc, "timeout: the algorithm ran longer than %u s", o.timeout_s);
  else if (sb.oom_killed) fail_at(&oc, "out of memory: the algorithm exceeded its limit of %u MiB", o.memory_mib);
  else if (!api.report_json && api.reports_refused)
    fail_at(&oc, "the report failed the criteria: %s%s", api.refused_errors ? api.refused_errors : "{}",
            sb.exit_code ? " (the algorithm then exited with a non-zero status)" : "");
  else if (sb.exit_code == 125 || sb.exit_code == 127) fail_at(&oc, "the sandbox or the entry point could not start (exit status %d)", sb.exit_code);
  else if (sb.exit_code > 128) fail_at(&oc, "the algorithm was killed by signal %d", sb.exit_code - 128);
  else if (sb.exit_code != 0) fail_at(&oc, "the algorithm exited with code %d", sb.exit_code);
  else if (!training && !api.report_json) fail_at(&oc, "the algorithm posted no Completed report");
  else oc.completed = 1;
  if (api.mlflow_lines || api.mlflow_dropped)
    enc_log_platform(&log, "Run", "MLflow: %zu line(s) relayed, %zu dropped over the cap of %d",
                     api.mlflow_lines, api.mlflow_dropped, ENC_MLFLOW_MAX_LINES);
  if (training && oc.completed) {
    char why[1024] = "";
    snprintf(p, sizeof(p), "%s/model.zip.bkenc", o.out);
    char stage[1200];
    snprintf(stage, sizeof(stage), "%s/model-stage", plain_dir);
    if (enc_model_package(sb.output_fd, artifact_dir, stage, ao, p, &model_files, why, sizeof(why)) != 0)
      fail_at(&oc, "the model could not be packaged: %s", why);
    else if (model_files == 0)
      fail_at(&oc, "the training run produced no model: nothing in ESCROW_OUTPUT_DIR and no artifact posted");
    else
      enc_log_platform(&log, "Run", "model.zip.bkenc: %zu file(s), encrypted to the AO's CEK", model_files);
  }
  if (sb.output_fd >= 0) close(sb.output_fd); /* the output tmpfs goes with its last reference */
  sb.output_fd = -1;

done:
  if (api_started) enc_api_stop(&api);
  iso_now(ended);
  /* outputs */
  char report_hash[65] = "", pkg_hash[65] = "", crit_hash[65] = "", par_hash[65];
  if (oc.completed && api.report_json) {
    snprintf(p, sizeof(p), "%s/report.json", o.out);
    if (write_file(p, api.report_json, strlen(api.report_json), 0600) != 0) {
      fail_at(&oc, "report.json could not be written: %s", strerror(errno));
    } else {
      sha256_hex(api.report_json, strlen(api.report_json), report_hash);
    }
  }
  if (!pkg_is_dir) sha256_file(o.package, pkg_hash);
  else if (have_run_dir) tree_hash(code, pkg_hash); /* the folder as it was copied and run */
  if (crit_text) sha256_hex(crit_text, strlen(crit_text), crit_hash);
  {
    /* of the lines NAME=VALUE\n, whatever their length */
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    unsigned char md[32];
    unsigned mdl = 0;
    int ok = mc && EVP_DigestInit_ex(mc, EVP_sha256(), NULL) == 1;
    for (size_t i = 0; ok && i < o.n_params; i++)
      ok = EVP_DigestUpdate(mc, params[i], strlen(params[i])) == 1 && EVP_DigestUpdate(mc, "\n", 1) == 1;
    ok = ok && EVP_DigestFinal_ex(mc, md, &mdl) == 1;
    EVP_MD_CTX_free(mc);
    par_hash[0] = 0;
    for (int i = 0; ok && i < 32; i++) snprintf(par_hash + 2 * i, 3, "%02x", md[i]);
  }
  if (!oc.completed) { /* a failed run releases no model */
    snprintf(p, sizeof(p), "%s/model.zip.bkenc", o.out);
    unlink(p);
  }
  char *reason = jstr(oc.completed ? "" : oc.reason);
  char *res = NULL, *cert = NULL;
  if (asprintf(&res,
               "{\"status\":\"%s\",\"reason\":%s,\"simulated_tee\":true,\"run_id\":\"%s\","
               "\"type\":\"%s\",\"exit_code\":%d,\"started\":\"%s\",\"ended\":\"%s\","
               "\"criteria_checked\":%s,\"limits\":{\"vcpus\":%u,\"memory_mib\":%u,\"timeout_s\":%u,"
               "\"pids\":%u,\"cgroups\":%s,\"seccomp\":%s}}\n",
               oc.completed ? "Completed" : "Failed", oc.completed ? "null" : (reason ? reason : "\"\""),
               run_id, o.type, oc.exit_code, started, ended, crit ? "true" : "false", o.vcpus,
               o.memory_mib, o.timeout_s, sb.pids_max, sb.cgroups_applied ? "true" : "false",
               sb.seccomp_applied ? "true" : "false") < 0)
    res = NULL;
  enc_log_platform(&log, "Run", "run %s: %s%s%s (simulated TEE)", run_id,
                   oc.completed ? "Completed" : "Failed", oc.completed ? "" : ": ",
                   oc.completed ? "" : oc.reason);
  int werr = 0;
  snprintf(p, sizeof(p), "%s/result.json", o.out);
  if (!res || write_file(p, res, strlen(res), 0600) != 0) werr = 1;
  if (log.fd >= 0) { fsync(log.fd); close(log.fd); log.fd = -1; }
  /* the signed certificate covers every output, logs and result included, so it comes last */
  {
    char uh[65], pk64[64];
    sha256_hex(url, strlen(url), uh);
    enc_run_key_public_b64(&rkey, pk64);
    char outputs[1024] = "";
    static const char *const names[] = {"report.json", "model.zip.bkenc", "result.json", "logs.jsonl", NULL};
    for (size_t i = 0; names[i]; i++) {
      char h[65];
      snprintf(p, sizeof(p), "%s/%s", o.out, names[i]);
      if (sha256_file(p, h) != 0) continue;
      size_t ol = strlen(outputs);
      snprintf(outputs + ol, sizeof(outputs) - ol, "%s\"%s\":\"%s\"", ol ? "," : "", names[i], h);
    }
#define HASH_OR_NULL(h) *(h) ? "\"" : "", *(h) ? (h) : "null", *(h) ? "\"" : ""
    char *body = NULL;
    if (asprintf(&body,
                 "{\"format\":\"" ENC_CERT_FORMAT "\",\"simulated_tee\":true,\"run_id\":\"%s\","
                 "\"type\":\"%s\",\"status\":\"%s\",\"exit_code\":%d,\"started\":\"%s\",\"ended\":\"%s\","
                 "\"package_sha256\":%s%s%s,\"criteria_sha256\":%s%s%s,\"dataset\":{\"url_sha256\":"
                 "\"%s\",\"listing_sha256\":%s%s%s,\"manifest_sha256\":%s%s%s},"
                 "\"parameters_sha256\":\"%s\",\"outputs\":{%s},\"run_public_key\":\"%s\","
                 "\"signature_alg\":\"ed25519\"}",
                 run_id, o.type, oc.completed ? "Completed" : "Failed", oc.exit_code, started, ended,
                 HASH_OR_NULL(pkg_hash), HASH_OR_NULL(crit_hash), uh, HASH_OR_NULL(dataset_listing),
                 HASH_OR_NULL(manifest_hash), par_hash, outputs, pk64) < 0)
      body = NULL;
#undef HASH_OR_NULL
    if (!body || !rkey.sk || enc_cert_sign(&rkey, body, &cert) != 0) cert = NULL;
    free(body);
  }
  snprintf(p, sizeof(p), "%s/certificate.json", o.out);
  if (!cert || write_file(p, cert, strlen(cert), 0600) != 0) werr = 1;
  if (res) fputs(res, stdout);
  if (!oc.completed) fprintf(stderr, "escrow-enclave: run failed: %s\n", oc.reason);
  free(res);
  free(cert);
  free(reason);
  enc_run_key_free(&rkey);
  for (size_t i = 0; i < api.mlflow_n_experiments; i++) free(api.mlflow_experiments[i]);
  free(api.mlflow_run_ids);

  /* teardown: whatever happened */
  enc_strv_free(env, n_env);
  enc_strv_free(entry, n_entry);
  enc_image_free(&img);
  escrow_manifest_free(man);
  escrow_blob_close(blob);
  free(api.report_json);
  free(api.refused_errors);
  free(tls_ca);
  free(tls_cert);
  if (tls_key) {
    OPENSSL_cleanse(tls_key, strlen(tls_key));
    free(tls_key);
  }
  pthread_mutex_destroy(&api.mu);
  if (have_run_dir) rmtree(run_dir);
  (void)ran;
  if (werr) return 2;
  return oc.completed ? 0 : 1;
}

static int cmd_run(int argc, char **argv) {
  run_opts o = {0};
  o.vcpus = 1;
  o.memory_mib = 2048;
  o.timeout_s = 3600;
  o.type = "validation";
  char **params = calloc((size_t)argc, sizeof(char *));
  if (!params) return 2;
  o.params = params;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name, field) \
  if (!strcmp(a, name)) { if (!v) { free(params); return usage_error("%s needs a value", name); } field = v; i++; continue; }
    OPT("--package", o.package)
    OPT("--dataset", o.dataset)
    OPT("--criteria", o.criteria)
    OPT("--ao-cek", o.ao_cek)
    OPT("--ds-cek", o.ds_cek)
    OPT("--type", o.type)
    OPT("-o", o.out)
    OPT("--out", o.out)
    OPT("--sdk-dir", o.sdk_dir)
#undef OPT
    if (!strcmp(a, "--param") && v) { params[o.n_params++] = argv[++i]; continue; }
    if (!strcmp(a, "--vcpus") && v && parse_uint(v, 1, 64, &o.vcpus) == 0) { i++; continue; }
    if (!strcmp(a, "--memory-mib") && v && parse_uint(v, 16, 1u << 20, &o.memory_mib) == 0) { i++; continue; }
    if (!strcmp(a, "--timeout") && v && parse_uint(v, 1, 7 * 86400, &o.timeout_s) == 0) { i++; continue; }
    free(params);
    return usage_error("bad argument: %s", a);
  }
  if (!o.package || !o.dataset || !o.out) {
    free(params);
    return usage_error("--package, --dataset and -o are required");
  }
  if (strcmp(o.type, "validation") != 0 && strcmp(o.type, "training") != 0) {
    free(params);
    return usage_error("--type is validation or training");
  }
  for (size_t i = 0; i < o.n_params; i++) {
    const char *eq = strchr(params[i], '=');
    char name[256];
    if (!eq || (size_t)(eq - params[i]) >= sizeof(name)) { free(params); return usage_error("--param NAME=VALUE"); }
    memcpy(name, params[i], (size_t)(eq - params[i]));
    name[eq - params[i]] = 0;
    if (!escrow_runtime_param_name_ok(name)) {
      free(params);
      return usage_error("runtime parameter name refused (manual 14.7.5 rules, or a name the runtime sets): %s", name);
    }
  }
  /* inputs that are usage errors when missing or unreadable */
  escrow_cek *ao = NULL, *ds = NULL;
  escrow_criteria *crit = NULL;
  char *crit_text = NULL;
  int rc2 = 0;
  int training = !strcmp(o.type, "training");
  if (training && !o.ao_cek)
    rc2 = usage_error("--type training needs --ao-cek: the model leaves encrypted to the AO's CEK");
  if (!rc2 && o.ao_cek && escrow_cek_load(&ao, o.ao_cek) != 0) rc2 = usage_error("--ao-cek: %s", escrow_error_last());
  if (!rc2 && o.ds_cek && escrow_cek_load(&ds, o.ds_cek) != 0) rc2 = usage_error("--ds-cek: %s", escrow_error_last());
  if (!rc2 && o.criteria) {
    size_t cl = 0;
    char *ct = read_all(o.criteria, 1u << 20, &cl);
    escrow_criteria_options copts = ESCROW_CRITERIA_OPTIONS_INIT;
    copts.redact_values = 1;
    char *serr = NULL;
    if (!ct) rc2 = usage_error("--criteria %s: %s", o.criteria, strerror(errno));
    else if (escrow_criteria_compile(&crit, ct, cl, &copts, &serr) != 0)
      rc2 = usage_error("--criteria: %s %s", escrow_error_last(), serr ? serr : "");
    escrow_free(serr);
    crit_text = ct;
  }
  struct stat st;
  if (!rc2 && stat(o.package, &st) != 0) rc2 = usage_error("--package %s: %s", o.package, strerror(errno));
  int pkg_is_dir = !rc2 && S_ISDIR(st.st_mode);
  if (!rc2 && mkdir(o.out, 0700) != 0 && errno != EEXIST) rc2 = usage_error("-o %s: %s", o.out, strerror(errno));
  char url[4200] = "";
  if (!rc2) {
    if (strstr(o.dataset, "://")) {
      snprintf(url, sizeof(url), "%s", o.dataset);
    } else {
      char *rp = realpath(o.dataset, NULL);
      if (!rp) rc2 = usage_error("--dataset %s: %s", o.dataset, strerror(errno));
      else snprintf(url, sizeof(url), "file://%s", rp);
      free(rp);
    }
  }
  if (rc2) {
    escrow_cek_free(ao);
    escrow_cek_free(ds);
    escrow_criteria_free(crit);
    free(crit_text);
    free(params);
    return rc2;
  }

  enc_run_config cfg = {0};
  cfg.package = o.package;
  cfg.package_is_dir = pkg_is_dir;
  cfg.dataset_url = url;
  cfg.ao_cek = ao;
  cfg.ds_cek = ds;
  cfg.criteria = crit;
  cfg.criteria_text = crit_text;
  cfg.training = training;
  cfg.params = params;
  cfg.n_params = o.n_params;
  cfg.vcpus = o.vcpus;
  cfg.memory_mib = o.memory_mib;
  cfg.timeout_s = o.timeout_s;
  cfg.out = o.out;
  cfg.sdk_dir = o.sdk_dir;
  int rc = enc_run(&cfg);
  escrow_cek_free(ao);
  escrow_cek_free(ds);
  escrow_criteria_free(crit);
  free(crit_text);
  free(params);
  return rc;
}

static void on_cancel(int sig) {
  (void)sig;
  enc_cancel_requested = 1;
}

int main(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "sandbox-init")) return enc_sandbox_init_main(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_cancel;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    usage(stdout);
    return 0;
  }
  if (argc < 2 || (strcmp(argv[1], "run") != 0 && strcmp(argv[1], "verify-certificate") != 0 &&
                    strcmp(argv[1], "platform") != 0))
    return usage_error("unknown command");
  if (escrow_init() != 0) {
    fprintf(stderr, "escrow-enclave: %s\n", escrow_error_last());
    return 2;
  }
  if (!strcmp(argv[1], "platform")) return enc_platform_main(argc, argv); /* platform.c */
  if (!strcmp(argv[1], "verify-certificate")) return cmd_verify(argc, argv);
  return cmd_run(argc, argv);
}
