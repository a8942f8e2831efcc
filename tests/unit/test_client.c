/* The Platform and Enclave API clients.
 *
 * Platform API: against a real escrowd built in the same tree (server/escrowd, started on a
 * free loopback port with `escrowd admin` fixtures), driving the API sample's sequence: KEK
 * download, WCEK, criteria, specification, attestation, criteria acceptance, dataset, algorithm
 * upload, the versions listing, and the refusals with the server's status and message.
 * Enclave API: against a small HTTP/1.1 server in this test speaking the DESIGN §7 contract
 * (listing, streamed files with Range, log, validate/report verdicts, artifacts), which also
 * serves the broken answers (cut short, not JSON, nested too deep) a client must refuse.
 * All traffic stays on 127.0.0.1. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include <openssl/pem.h>
#include <sodium.h>

#include "client_internal.h"

/* ================================================================================================
 * A live escrowd
 * ============================================================================================== */

typedef struct server {
  char *dir;
  char data[4200];
  char bin[4200];
  char base[128];
  char project[64];
  pid_t pid;
} server;

static server srv;
static int have_server;

/* Run argv, capture stdout (up to cap bytes); returns the exit status (or -1). */
static int run_capture(char *const argv[], char *out, size_t cap) {
  int p[2];
  if (pipe(p) != 0)
    return -1;
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    dup2(p[1], 1);
    close(p[0]);
    close(p[1]);
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0)
      dup2(devnull, 2);
    execv(argv[0], argv);
    _exit(127);
  }
  close(p[1]);
  size_t n = 0;
  ssize_t r;
  while ((r = read(p[0], out + n, cap - 1 - n)) > 0 && n + 1 < cap)
    n += (size_t)r;
  out[n] = 0;
  close(p[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int admin(const char *a1, const char *a2, const char *a3, const char *a4, const char *a5,
                 const char *a6, char *out, size_t cap) {
  char *argv[32];
  int i = 0;
  argv[i++] = srv.bin;
  argv[i++] = "admin";
  argv[i++] = "--data";
  argv[i++] = srv.data;
  const char *a[] = {a1, a2, a3, a4, a5, a6};
  for (int k = 0; k < 6 && a[k]; k++)
    argv[i++] = (char *)a[k];
  argv[i] = NULL;
  char tmp[4096];
  return run_capture(argv, out ? out : tmp, out ? cap : sizeof tmp);
}

static int server_setup(void **state) {
  (void)state;
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0)
    return 0;
  exe[n] = 0;
  char *slash = strrchr(exe, '/');
  *slash = 0;
  snprintf(srv.bin, sizeof srv.bin, "%s/../server/escrowd", exe);
  if (access(srv.bin, X_OK) != 0) {
    fprintf(stderr, "test_client: %s not built: the live Platform API tests are skipped\n",
            srv.bin);
    return 0;
  }
  srv.dir = tu_tmpdir("client");
  snprintf(srv.data, sizeof srv.data, "%s/data", srv.dir);
  char out[8192];
  if (admin("create-org", "--name", "AO", NULL, NULL, NULL, NULL, 0) ||
      admin("create-org", "--name", "DS", NULL, NULL, NULL, NULL, 0))
    return -1;
  char k1[4200], k2[4200];
  snprintf(k1, sizeof k1, "%s", tu_vector("keys/kek3072.pub.pem"));
  snprintf(k2, sizeof k2, "%s", tu_vector("keys/kek4096.pub.pem"));
  char *u1[] = {srv.bin, "admin", "--data", srv.data, "create-user", "--org", "AO", "--email",
                "ao@x.test", "--public-key", k1, NULL};
  char *u2[] = {srv.bin, "admin", "--data", srv.data, "create-user", "--org", "DS", "--email",
                "ds@x.test", "--public-key", k2, NULL};
  if (run_capture(u1, out, sizeof out) || run_capture(u2, out, sizeof out))
    return -1;
  char *pr[] = {srv.bin, "admin", "--data", srv.data, "create-project", "--name", "Client Test",
                "--ao-org", "AO", "--ds-org", "DS", "--kek-bits", "3072", "--ao-user",
                "ao@x.test", "--ds-user", "ds@x.test", NULL};
  if (run_capture(pr, out, sizeof out))
    return -1;
  yajl_val v;
  if (escrow__cjson_parse(out, strlen(out), "create-project", &v))
    return -1;
  yajl_val id = escrow__cjson_get(v, "id");
  snprintf(srv.project, sizeof srv.project, "%s", YAJL_IS_STRING(id) ? id->u.string : "");
  yajl_tree_free(v);

  int p[2];
  if (pipe(p) != 0)
    return -1;
  srv.pid = fork();
  if (srv.pid == 0) {
    dup2(p[1], 1);
    close(p[0]);
    close(p[1]);
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0)
      dup2(devnull, 2);
    execl(srv.bin, srv.bin, "serve", "--data", srv.data, "--listen", "127.0.0.1:0", "--runners", "0",
          "--allow-simulated-tee",
          (char *)NULL);
    _exit(127);
  }
  close(p[1]);
  char line[512];
  size_t got = 0;
  struct pollfd pf = {p[0], POLLIN, 0};
  while (got < sizeof line - 1 && !memchr(line, '\n', got) && poll(&pf, 1, 30000) > 0) {
    ssize_t r = read(p[0], line + got, sizeof line - 1 - got);
    if (r <= 0)
      break;
    got += (size_t)r;
  }
  line[got] = 0;
  close(p[0]);
  char *l = strstr(line, "\"listening\":\"");
  if (!l)
    return -1;
  l += 13;
  char *e = strchr(l, '"');
  if (!e)
    return -1;
  *e = 0;
  snprintf(srv.base, sizeof srv.base, "http://%s/api/v1", l);
  have_server = 1;
  return 0;
}

static int server_teardown(void **state) {
  (void)state;
  if (srv.pid > 0) {
    kill(srv.pid, SIGTERM);
    waitpid(srv.pid, NULL, 0);
  }
  if (srv.dir) {
    escrow__rmtree(srv.dir);
    free(srv.dir);
  }
  return 0;
}

#define NEED_SERVER()                                                                         \
  do {                                                                                        \
    if (!have_server)                                                                         \
      skip();                                                                                 \
  } while (0)

static escrow_client *open_as(const char *who) {
  int ao = strcmp(who, "ao") == 0;
  size_t len;
  uint8_t *pem = tu_read(tu_vector(ao ? "keys/kek3072.key.pem" : "keys/kek4096.key.pem"), &len);
  escrow_client *c = NULL;
  int rc = escrow_client_open(&c, srv.base, (const char *)pem, len,
                              ao ? "ao@x.test" : "ds@x.test", srv.project, NULL);
  free(pem);
  assert_int_equal(rc, 0);
  return c;
}

static char *write_tmp(const char *name, const void *data, size_t len) {
  char *p = malloc(4200);
  assert_non_null(p);
  snprintf(p, 4200, "%s/%s", srv.dir, name);
  tu_write(p, data, len);
  return p;
}

typedef struct progress_seen {
  uint64_t last_done, last_total;
  unsigned calls;
} progress_seen;

static void on_progress(void *ud, uint64_t done, uint64_t total) {
  progress_seen *p = ud;
  p->calls++;
  p->last_done = done;
  p->last_total = total;
}

static const char PDF[] = "%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n";

static void upload_wcek(escrow_client *c, const char *tag) {
  escrow_api_kek *k = NULL;
  assert_int_equal(escrow_client_kek_download(c, &k), 0);
  escrow_kek *kek = NULL;
  assert_int_equal(escrow_kek_public_from_bytes(&kek, (const uint8_t *)k->key_content,
                                                strlen(k->key_content)), 0);
  escrow_cek *cek = tu_cek();
  uint8_t *w = NULL;
  size_t wl = 0;
  assert_int_equal(escrow_wcek_wrap(kek, cek, ESCROW_OAEP_SHA256, &w, &wl), 0);
  char *path = write_tmp("wcek_test.key.bkenc", w, wl);
  escrow_api_version_fields v = {"WCEK", "d", tag, "first"};
  escrow_api_artifact *a = NULL;
  assert_int_equal(escrow_client_upload(c, ESCROW_API_WCEK, &v, path, NULL, NULL, &a), 0);
  assert_string_equal(a->artifact_type, "wcek");
  assert_string_equal(a->version_tag, tag);
  escrow_api_artifact_free(a);
  free(path);
  escrow_free(w);
  escrow_cek_free(cek);
  escrow_kek_free(kek);
  escrow_api_kek_free(k);
}

/* The AO downloads its KEK: the public key as PEM, its file name and role. */
static void test_kek_download_gives_the_parties_public_key(void **state) {
  (void)state;
  NEED_SERVER();
  escrow_client *c = open_as("ao");
  escrow_api_kek *k = NULL;
  assert_int_equal(escrow_client_kek_download(c, &k), 0);
  assert_non_null(strstr(k->key_content, "-----BEGIN PUBLIC KEY-----"));
  assert_string_equal(k->role, "ao");
  assert_string_equal(k->project_id, srv.project);
  assert_non_null(strstr(k->file_name, "-ao.der"));
  assert_non_null(strstr(k->json, "\"key content\""));
  assert_int_equal(escrow_client_last_status(c), 200);
  escrow_kek *kek = NULL;
  assert_int_equal(escrow_kek_public_from_bytes(&kek, (const uint8_t *)k->key_content,
                                                strlen(k->key_content)), 0);
  assert_int_equal(escrow_kek_bits(kek), 3072);
  escrow_kek_free(kek);
  escrow_api_kek_free(k);
  escrow_client_close(c);
}

/* The whole upload path of the sample, as the AO and the DS, with typed answers. */
static void test_sample_upload_sequence_returns_typed_versions(void **state) {
  (void)state;
  NEED_SERVER();
  escrow_client *ao = open_as("ao"), *ds = open_as("ds");
  upload_wcek(ao, "w1");
  upload_wcek(ds, "w1");

  /* criteria, streamed with progress */
  const char crit[] = "{\"accuracy\": {\"type\": \"float\", \"min\": 0, \"max\": 1}}";
  char *cp = write_tmp("criteria.json", crit, sizeof crit - 1);
  escrow_api_version_fields v = {"Criteria", NULL, "v1", NULL};
  progress_seen ps = {0};
  escrow_api_artifact *a = NULL;
  assert_int_equal(escrow_client_upload(ao, ESCROW_API_VALIDATION_CRITERIA, &v, cp, on_progress,
                                        &ps, &a), 0);
  assert_string_equal(a->artifact_type, "validation_criteria");
  assert_string_equal(a->name, "Criteria");
  assert_string_equal(a->file_name, "criteria.json");
  assert_int_equal(strlen(a->sha256), 64);
  assert_true(a->system_version >= 1);
  assert_true(ps.calls > 0);
  assert_true(ps.last_total > sizeof crit - 1); /* the multipart body around the file */
  assert_int_equal(ps.last_done, ps.last_total);
  escrow_api_artifact_free(a);

  /* specification (AO), attestation (DS) */
  char *pdf = write_tmp("spec.pdf", PDF, sizeof PDF - 1);
  escrow_api_version_fields sv = {"Spec", "the columns", "s1", NULL};
  assert_int_equal(escrow_client_upload(ao, ESCROW_API_DATA_SPECIFICATION, &sv, pdf, NULL, NULL,
                                        NULL), 0);
  escrow_api_version_fields av = {"Attestation", NULL, "a1", NULL};
  assert_int_equal(escrow_client_upload(ds, ESCROW_API_DATA_ATTESTATION, &av, pdf, NULL, NULL,
                                        &a), 0);
  assert_string_equal(a->artifact_type, "data_attestation");
  assert_string_equal(a->role, "ds");
  escrow_api_artifact_free(a);

  /* the DS accepts the criteria */
  escrow_api_answer *ans = NULL;
  assert_int_equal(escrow_client_accept_criteria(ds, "v1", &ans), 0);
  assert_int_equal(ans->http_status, 201);
  assert_non_null(strstr(ans->json, "\"validation_criteria_version\":\"v1\""));
  escrow_api_answer_free(ans);

  /* the dataset: the answer shows its location without the SAS token */
  char se[32], url[512];
  time_t t = time(NULL) + 7 * 86400;
  strftime(se, sizeof se, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
  snprintf(url, sizeof url,
           "https://acct.blob.core.windows.net/data?sv=2022-11-02&sr=c&sp=rl&spr=https&se=%s"
           "&sig=AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE%%3D", se);
  escrow_api_version_fields dv = {"X-rays", "d", "d1", NULL};
  escrow_api_dataset_fields df = {url, "s1", "a1", "xray"};
  assert_int_equal(escrow_client_dataset(ds, &dv, &df, &a), 0);
  assert_string_equal(a->artifact_type, "dataset");
  assert_non_null(strstr(a->details, "\"sas_status\":\"valid\""));
  assert_null(strstr(a->json, "sig="));
  escrow_api_artifact_free(a);

  /* the algorithm zip (the shared package vector), streamed with progress */
  escrow_api_version_fields alv = {"Model", NULL, "alg1", NULL};
  escrow_api_algorithm_fields af = {"validation", "v1", "a1", NULL, NULL};
  memset(&ps, 0, sizeof ps);
  assert_int_equal(escrow_client_upload_algorithm(ao, &alv, &af, tu_vector("packages/ours-v1.zip"),
                                                  on_progress, &ps, &a), 0);
  assert_string_equal(a->artifact_type, "algorithm");
  assert_string_equal(a->file_name, "ours-v1.zip");
  assert_non_null(strstr(a->details, "File Validation Succeeded"));
  assert_int_equal(ps.last_done, ps.last_total);
  escrow_api_artifact_free(a);

  /* the listing: the AO sees all six kinds; filtered by type */
  escrow_api_versions *l = NULL;
  assert_int_equal(escrow_client_versions(ao, NULL, &l), 0);
  assert_string_equal(l->role, "ao");
  assert_string_equal(l->project_id, srv.project);
  assert_int_equal(l->simulated_tee, 1);
  assert_true(l->count >= 6);
  int kinds = 0;
  const char *names[] = {"wcek", "validation_criteria", "data_specification",
                         "data_attestation", "dataset", "algorithm"};
  for (size_t i = 0; i < l->count; i++)
    for (int k = 0; k < 6; k++)
      if (strcmp(l->items[i].artifact_type, names[k]) == 0)
        kinds |= 1 << k;
  assert_int_equal(kinds, 0x3f);
  escrow_api_versions_free(l);
  assert_int_equal(escrow_client_versions(ds, "validation_criteria", &l), 0);
  assert_int_equal(l->count, 1);
  assert_string_equal(l->items[0].version_tag, "v1");
  escrow_api_versions_free(l);

  free(cp);
  free(pdf);
  escrow_client_close(ao);
  escrow_client_close(ds);
}

/* A malformed schema is 422: ESCROW_E_CHECK, the server's message, the schema errors in the
 * last body. */
static void test_refused_criteria_report_status_message_and_schema_errors(void **state) {
  (void)state;
  NEED_SERVER();
  escrow_client *ao = open_as("ao");
  const char bad[] = "{\"accuracy\": {\"type\": \"flaot\"}}";
  char *p = write_tmp("bad.json", bad, sizeof bad - 1);
  escrow_api_version_fields v = {"Criteria", NULL, "bad1", NULL};
  escrow_api_artifact *a = NULL;
  int rc = escrow_client_upload(ao, ESCROW_API_VALIDATION_CRITERIA, &v, p, NULL, NULL, &a);
  assert_int_equal(rc, ESCROW_E_CHECK);
  assert_null(a);
  assert_int_equal(escrow_client_last_status(ao), 422);
  assert_non_null(strstr(escrow_error_last(), "POST /validation-criteria/: HTTP 422"));
  assert_non_null(strstr(escrow_client_last_body(ao), "flaot"));
  free(p);
  escrow_client_close(ao);
}

/* Role and state refusals map to their codes. */
static void test_wrong_role_is_auth_and_unknown_tag_is_state(void **state) {
  (void)state;
  NEED_SERVER();
  escrow_client *ds = open_as("ds"), *ao = open_as("ao");
  char *pdf = write_tmp("spec2.pdf", PDF, sizeof PDF - 1);
  escrow_api_version_fields v = {"Spec", NULL, "s9", NULL};
  assert_int_equal(escrow_client_upload(ds, ESCROW_API_DATA_SPECIFICATION, &v, pdf, NULL, NULL,
                                        NULL), ESCROW_E_AUTH);
  assert_int_equal(escrow_client_last_status(ds), 403);
  assert_int_equal(escrow_client_accept_criteria(ds, "never", NULL), ESCROW_E_NOTFOUND);
  escrow_api_version_fields alv = {"Model", NULL, "alg9", NULL};
  escrow_api_algorithm_fields af = {"validation", "no-such-tag", "a1", NULL, NULL};
  assert_int_equal(escrow_client_upload_algorithm(ao, &alv, &af,
                                                  tu_vector("packages/ours-v1.zip"), NULL, NULL,
                                                  NULL), ESCROW_E_STATE);
  assert_non_null(strstr(escrow_error_last(), "no-such-tag"));
  free(pdf);
  escrow_client_close(ds);
  escrow_client_close(ao);
}

/* A key the platform does not know for this user is refused (401), and so is a user of
 * another project; the token never shows in the message. */
static void test_token_signed_with_another_key_is_refused(void **state) {
  (void)state;
  NEED_SERVER();
  size_t len;
  uint8_t *pem = tu_read(tu_vector("keys/kek4096.key.pem"), &len); /* the DS's key */
  escrow_client *c = NULL;
  assert_int_equal(escrow_client_open(&c, srv.base, (const char *)pem, len, "ao@x.test",
                                      srv.project, NULL), 0);
  free(pem);
  escrow_api_kek *k = NULL;
  assert_int_equal(escrow_client_kek_download(c, &k), ESCROW_E_AUTH);
  assert_int_equal(escrow_client_last_status(c), 401);
  assert_null(strstr(escrow_error_last(), "eyJ"));
  char *tok = NULL;
  assert_int_equal(escrow_client_token(c, &tok), 0);
  assert_int_equal(strncmp(tok, "eyJ", 3), 0);
  escrow_free(tok);
  escrow_client_close(c);
}

/* The run endpoints, live: configuration, request (with runtime parameters), status, the
 * DS's rejection with a reason, the AO's notification, and no report for a rejected run. */
static void test_run_request_status_reject_and_notifications(void **state) {
  (void)state;
  NEED_SERVER();
  escrow_client *ao = open_as("ao"), *ds = open_as("ds");
  escrow_api_run_ref r = {"alg1", "d1", 0};
  escrow_api_answer *ans = NULL;
  assert_int_equal(escrow_client_run_configuration(ao, "first config", &r, NULL, NULL, &ans), 0);
  assert_non_null(strstr(ans->json, "\"algorithm_version\":\"alg1\""));
  escrow_api_answer_free(ans);
  escrow_api_run *run = NULL;
  const char *params[] = {"EPOCHS=3", "MODE=fast"};
  assert_int_equal(escrow_client_run_request(ao, &r, "cpu-standard-2", params, 2, &run), 0);
  assert_string_equal(run->status, "Run Requested");
  assert_int_equal(run->simulated_tee, 1);
  assert_non_null(strstr(run->json, "\"EPOCHS\":\"3\""));
  int64_t number = run->run_number;
  assert_true(number >= 1);
  escrow_api_run_free(run);
  assert_int_equal(escrow_client_run_status(ds, &r, &run), 0);
  assert_string_equal(run->status, "Run Requested");
  assert_int_equal(run->run_number, number);
  escrow_api_run_free(run);
  assert_int_equal(escrow_client_run_reject(ds, &r, "not this quarter", &run), 0);
  assert_string_equal(run->status, "Rejected");
  assert_string_equal(run->reason, "not this quarter");
  escrow_api_run_free(run);
  /* a rejected run has no report: a refusal naming the endpoint, nothing written */
  escrow_api_report *rep = NULL;
  int rc = escrow_client_report_download(ao, &r, &rep);
  assert_true(rc == ESCROW_E_NOTFOUND || rc == ESCROW_E_STATE);
  assert_null(rep);
  assert_non_null(strstr(escrow_error_last(), "GET /report-download/"));
  char out[4200];
  snprintf(out, sizeof out, "%s/report.json", srv.dir);
  assert_int_not_equal(escrow_client_download(ao, ESCROW_API_REPORT, &r, out, NULL, NULL), 0);
  assert_false(tu_exists(out));
  assert_int_equal(escrow_client_notifications(ao, &ans), 0);
  assert_non_null(strstr(ans->json, "not this quarter"));
  escrow_api_answer_free(ans);
  /* the DS may not request runs */
  assert_int_equal(escrow_client_run_request(ds, &r, "cpu-standard-2", NULL, 0, NULL),
                   ESCROW_E_AUTH);
  /* a second request: the DS initiates it (the sample's state-changing GET), then cancels it
   * (this escrowd has no runners, so it waits in the queue) */
  assert_int_equal(escrow_client_run_request(ao, &r, "cpu-standard-2", NULL, 0, &run), 0);
  assert_true(run->run_number > number);
  escrow_api_run_free(run);
  assert_int_equal(escrow_client_initiate_run(ds, &r, &run), 0);
  assert_string_equal(run->status, "In Progress");
  assert_int_equal(run->simulated_tee, 1);
  escrow_api_run_free(run);
  assert_int_equal(escrow_client_run_cancel(ds, &r, &run), 0);
  assert_non_null(run->json);
  escrow_api_run_free(run);
  assert_int_equal(escrow_client_run_status(ao, &r, &run), 0);
  assert_true(strcmp(run->status, "Cancelled") == 0 || strstr(run->json, "\"cancel_requested\":true"));
  escrow_api_run_free(run);
  escrow_client_close(ao);
  escrow_client_close(ds);
}

/* Inputs refused before any traffic. */
static void test_open_refuses_bad_urls_keys_and_arguments(void **state) {
  (void)state;
  size_t len;
  uint8_t *pem = tu_read(tu_vector("keys/kek3072.key.pem"), &len);
  escrow_client *c = NULL;
  const char *bad_urls[] = {"ftp://h/api/v1", "http://example.com/api/v1",
                            "https://h/api/v1?x=1", "https://user@h/api/v1", "https:///x",
                            "https://h/a b"};
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(bad_urls); i++) {
    assert_int_equal(escrow_client_open(&c, bad_urls[i], (const char *)pem, len, "a@b", "p",
                                        NULL), ESCROW_E_INVALID);
    assert_null(c);
  }
  assert_int_equal(escrow_client_open(&c, "https://h", (const char *)pem, len, "", "p", NULL),
                   ESCROW_E_INVALID);
  assert_int_equal(escrow_client_open(&c, "https://h", (const char *)pem, len, "a@b", NULL,
                                      NULL), ESCROW_E_INVALID);
  /* public key, EC key, weak key, garbage */
  const char *bad_keys[] = {"keys/kek3072.pub.pem", "keys/ec256.key.pem"};
  for (size_t i = 0; i < 2; i++) {
    size_t kl;
    uint8_t *k = tu_read(tu_vector(bad_keys[i]), &kl);
    assert_int_equal(escrow_client_open(&c, "https://h", (const char *)k, kl, "a@b", "p", NULL),
                     ESCROW_E_KEY);
    free(k);
  }
  assert_int_equal(escrow_client_open(&c, "https://h", "not a key!", 10, "a@b", "p", NULL),
                   ESCROW_E_KEY);
  /* an encrypted key is refused, never prompted for */
  size_t el;
  uint8_t *enc = tu_read(tu_vector("keys/kek3072.enc.pem"), &el);
  assert_int_equal(escrow_client_open(&c, "https://h", (const char *)enc, el, "a@b", "p", NULL),
                   ESCROW_E_KEY);
  free(enc);
  /* base64 of the PEM (EscrowAICI's PROJECT_PRIVATE_KEY) works; a URL with no path gets
   * /api/v1; http:// to loopback is allowed */
  char *b64 = malloc(len * 2 + 8);
  sodium_bin2base64(b64, len * 2 + 8, pem, len, sodium_base64_VARIANT_ORIGINAL);
  assert_int_equal(escrow_client_open(&c, "http://127.0.0.1:9", b64, strlen(b64), "a@b", "p",
                                      NULL), 0);
  assert_string_equal(((escrow__http *)c)->base, "http://127.0.0.1:9/api/v1");
  /* nothing listens on port 9: a network failure is ESCROW_E_IO with status 0 */
  escrow_api_kek *k = NULL;
  assert_int_equal(escrow_client_kek_download(c, &k), ESCROW_E_IO);
  assert_int_equal(escrow_client_last_status(c), 0);
  escrow_api_version_fields v = {"n", NULL, "t", NULL};
  assert_int_equal(escrow_client_upload(c, ESCROW_API_WCEK, &v, "/nonexistent/file", NULL, NULL,
                                        NULL), ESCROW_E_NOTFOUND);
  escrow_api_version_fields nov = {"n", NULL, NULL, NULL};
  assert_int_equal(escrow_client_upload(c, ESCROW_API_WCEK, &nov, "/etc/hostname", NULL, NULL,
                                        NULL), ESCROW_E_INVALID);
  escrow_api_run_ref r = {"a", NULL, 0};
  assert_int_equal(escrow_client_run_status(c, &r, NULL), ESCROW_E_INVALID);
  escrow_api_run_ref r2 = {"a", "d", 0};
  assert_int_equal(escrow_client_run_reject(c, &r2, "", NULL), ESCROW_E_INVALID);
  const char *params[] = {"NOEQUALS"};
  assert_int_equal(escrow_client_run_request(c, &r2, "cpu-standard-2", params, 1, NULL),
                   ESCROW_E_INVALID);
  assert_int_equal(escrow_client_call(c, "GET", "../etc", NULL, NULL, 0, NULL),
                   ESCROW_E_INVALID);
  escrow_client_close(c);
  free(b64);
  free(pem);
}

/* The token carries the sample's claims and verifies with the user's public key. */
static void test_token_has_the_samples_claims_and_verifies(void **state) {
  (void)state;
  size_t len;
  uint8_t *pem = tu_read(tu_vector("keys/kek3072.key.pem"), &len);
  escrow_client_options o = ESCROW_CLIENT_OPTIONS_INIT;
  o.audience = "staging.api.beekeeperai";
  o.token_lifetime_s = 60;
  escrow_client *c = NULL;
  assert_int_equal(escrow_client_open(&c, "https://h.example", (const char *)pem, len,
                                      "me@x.test", "proj-1", &o), 0);
  free(pem);
  char *tok = NULL;
  assert_int_equal(escrow_client_token(c, &tok), 0);
  char *d1 = strchr(tok, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
  assert_non_null(d2);
  uint8_t claims[1024];
  size_t cl = 0;
  assert_int_equal(sodium_base642bin(claims, sizeof claims - 1, d1 + 1, (size_t)(d2 - d1 - 1),
                                     NULL, &cl, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING), 0);
  claims[cl] = 0;
  yajl_val v;
  assert_int_equal(escrow__cjson_parse((char *)claims, cl, "claims", &v), 0);
  assert_string_equal(escrow__cjson_get(v, "iss")->u.string, "EscrowAI-API");
  assert_string_equal(escrow__cjson_get(v, "aud")->u.string, "staging.api.beekeeperai");
  assert_string_equal(escrow__cjson_get(v, "sub")->u.string, "proj-1");
  assert_string_equal(escrow__cjson_get(v, "user")->u.string, "me@x.test");
  long long exp = escrow__cjson_get(v, "exp")->u.number.i;
  assert_true(exp > (long long)time(NULL) && exp <= (long long)time(NULL) + 61);
  yajl_tree_free(v);
  /* RS256 over "header.claims" with the public half */
  uint8_t sig[1024];
  size_t sl = 0;
  assert_int_equal(sodium_base642bin(sig, sizeof sig, d2 + 1, strlen(d2 + 1), NULL, &sl, NULL,
                                     sodium_base64_VARIANT_URLSAFE_NO_PADDING), 0);
  size_t pl;
  uint8_t *pub = tu_read(tu_vector("keys/kek3072.pub.pem"), &pl);
  BIO *bio = BIO_new_mem_buf(pub, (int)pl);
  EVP_PKEY *pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
  BIO_free(bio);
  free(pub);
  assert_non_null(pk);
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk), 1);
  assert_int_equal(EVP_DigestVerify(md, sig, sl, (uint8_t *)tok, (size_t)(d2 - tok)), 1);
  tok[5] ^= 1; /* any change breaks it */
  assert_int_not_equal(EVP_DigestVerify(md, sig, sl, (uint8_t *)tok, (size_t)(d2 - tok)), 1);
  EVP_MD_CTX_free(md);
  EVP_PKEY_free(pk);
  escrow_free(tok);
  escrow_client_close(c);
}

/* ================================================================================================
 * A small Enclave API server (DESIGN §7) for the Enclave API client
 * ============================================================================================== */

enum {
  MODE_NORMAL,
  MODE_CUT,
  MODE_CUT_CHUNKED,
  MODE_NOT_JSON,
  MODE_DEEP,
  MODE_IGNORE_RANGE,
  MODE_WRONG_RANGE,
  MODE_NO_RANGE_HEADER,
  MODE_500,
  MODE_STALL
};

typedef struct mini {
  int lfd;
  int port;
  pthread_t th;
  volatile int mode;
  char last_log[1024];
  char last_sas[1024];
  char last_report[4096];
  char artifact_name[256];
  size_t artifact_len;
  volatile int stop;
} mini;

static mini ms;
#define FILE_SIZE 300000u

static void file_bytes(uint8_t *b, size_t n) { tu_fill(b, n, 7); }

static void send_all(int fd, const void *d, size_t n) {
  const char *p = d;
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0)
      return;
    p += w;
    n -= (size_t)w;
  }
}

static void respond(int fd, int status, const char *ctype, const void *body, size_t len) {
  char h[512];
  int n = snprintf(h, sizeof h,
                   "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                   "Connection: close\r\n\r\n", status, ctype, len);
  send_all(fd, h, (size_t)n);
  send_all(fd, body, len);
}

static void respond_json(int fd, int status, const char *json) {
  respond(fd, status, "application/json", json, strlen(json));
}

static void handle(int fd) {
  static char req[1 << 20];
  size_t n = 0;
  char *end = NULL;
  while (n < sizeof req - 1) {
    ssize_t r = recv(fd, req + n, sizeof req - 1 - n, 0);
    if (r <= 0)
      return;
    n += (size_t)r;
    req[n] = 0;
    if ((end = strstr(req, "\r\n\r\n")))
      break;
  }
  if (!end)
    return;
  size_t head = (size_t)(end - req) + 4;
  size_t clen = 0;
  char *cl = strcasestr(req, "\r\nContent-Length:");
  if (cl && cl < end)
    clen = strtoul(cl + 17, NULL, 10);
  while (n < head + clen && n < sizeof req - 1) {
    ssize_t r = recv(fd, req + n, sizeof req - 1 - n, 0);
    if (r <= 0)
      break;
    n += (size_t)r;
  }
  req[n] = 0;
  const char *body = req + head;
  char method[8] = "", target[2048] = "";
  sscanf(req, "%7s %2047s", method, target);
  if (ms.mode == MODE_STALL) { /* answer nothing until the client gives up */
    char sink[256];
    while (recv(fd, sink, sizeof sink, 0) > 0) {
    }
    return;
  }
  if (ms.mode == MODE_500) {
    respond_json(fd, 500, "{\"error\":\"internal trouble\"}");
    return;
  }
  if (strncmp(target, "/api/v1/data/files", 18) == 0 && !strcmp(method, "GET")) {
    char *q = strstr(target, "SASUrl=");
    snprintf(ms.last_sas, sizeof ms.last_sas, "%s", q ? q + 7 : "");
    if (ms.mode == MODE_NOT_JSON)
      respond(fd, 200, "text/html", "<html>", 6);
    else if (ms.mode == MODE_DEEP) {
      static char deep[400];
      memset(deep, '[', 200);
      memset(deep + 200, ']', 200);
      respond(fd, 200, "application/json", deep, 400);
    } else {
      char j[512];
      snprintf(j, sizeof j,
               "{\"files\":[{\"id\":\"1\",\"name\":\"site/a.csv.bkenc\",\"size\":%u,"
               "\"uploadDate\":\"2025-01-02T03:04:05Z\"},{\"id\":2,\"name\":\"b.csv\",\"size\":3}],"
               "\"totalFiles\":2}", FILE_SIZE);
      respond_json(fd, 200, j);
    }
    return;
  }
  if (strncmp(target, "/api/v1/data/file?", 18) == 0 && !strcmp(method, "GET")) {
    if (!strstr(target, "filepath=site%2Fa.csv.bkenc")) {
      respond_json(fd, 404, "{\"error\":\"no such file\"}");
      return;
    }
    static uint8_t data[FILE_SIZE];
    file_bytes(data, sizeof data);
    char *rg = strcasestr(req, "\r\nRange: bytes=");
    size_t off = rg && rg < end && ms.mode != MODE_IGNORE_RANGE ? strtoul(rg + 15, NULL, 10) : 0;
    if (ms.mode == MODE_CUT_CHUNKED) { /* chunked, closed before the last (empty) chunk */
      const char *h = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                      "Connection: close\r\n\r\n";
      send_all(fd, h, strlen(h));
      char ch[32];
      int cn = snprintf(ch, sizeof ch, "%x\r\n", FILE_SIZE / 2);
      send_all(fd, ch, (size_t)cn);
      send_all(fd, data, FILE_SIZE / 2);
      send_all(fd, "\r\n", 2);
      return;
    }
    if (ms.mode == MODE_CUT) {
      char h[256];
      int hn = snprintf(h, sizeof h, "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n"
                        "Connection: close\r\n\r\n", FILE_SIZE);
      send_all(fd, h, (size_t)hn);
      send_all(fd, data, FILE_SIZE / 2);
      return;
    }
    if (off && ms.mode == MODE_NO_RANGE_HEADER) { /* 206 that does not say which bytes */
      char h[256];
      int hn = snprintf(h, sizeof h, "HTTP/1.1 206 Partial\r\nContent-Length: %zu\r\n"
                        "Connection: close\r\n\r\n", FILE_SIZE - off);
      send_all(fd, h, (size_t)hn);
      send_all(fd, data + off, FILE_SIZE - off);
      return;
    }
    if (off && ms.mode == MODE_WRONG_RANGE)
      off = off / 2; /* a 206 that starts elsewhere than asked (and says so) */
    if (off) {
      char h[256];
      int hn = snprintf(h, sizeof h, "HTTP/1.1 206 Partial\r\nContent-Length: %zu\r\n"
                        "Content-Range: bytes %zu-%u/%u\r\nConnection: close\r\n\r\n",
                        FILE_SIZE - off, off, FILE_SIZE - 1, FILE_SIZE);
      send_all(fd, h, (size_t)hn);
      send_all(fd, data + off, FILE_SIZE - off);
      return;
    }
    respond(fd, 200, "application/octet-stream", data, sizeof data);
    return;
  }
  if (!strcmp(target, "/api/v1/log") && !strcmp(method, "POST")) {
    snprintf(ms.last_log, sizeof ms.last_log, "%s", body);
    respond_json(fd, 200, "{\"status\":\"ok\"}");
    return;
  }
  if ((!strcmp(target, "/api/v1/validate") || !strcmp(target, "/api/v1/report")) &&
      !strcmp(method, "POST")) {
    snprintf(ms.last_report, sizeof ms.last_report, "%s", body);
    if (!strstr(body, "\"name\""))
      respond_json(fd, 400, "{\"error\":\"name is required\"}");
    else if (strstr(body, "\"accuracy\":2"))
      respond_json(fd, 400, "{\"status\":\"failed\",\"message\":{\"accuracy\":[\"max value is 1\"]}}");
    else
      respond_json(fd, 200, "{\"status\":\"successful\",\"message\":{}}");
    return;
  }
  if (!strcmp(target, "/api/v1/report/artifact") && !strcmp(method, "POST")) {
    char *d = strstr(body, "name=\"artifact_file\"; filename=\"");
    ms.artifact_name[0] = 0;
    if (d)
      sscanf(d + 32, "%255[^\"]", ms.artifact_name);
    ms.artifact_len = clen;
    respond_json(fd, d ? 200 : 400, d ? "{\"status\":\"stored\"}" : "{\"error\":\"no file\"}");
    return;
  }
  respond_json(fd, 404, "{\"error\":\"unknown path\"}");
}

static void *mini_run(void *arg) {
  (void)arg;
  while (!ms.stop) {
    int fd = accept(ms.lfd, NULL, NULL);
    if (fd < 0)
      continue;
    if (!ms.stop)
      handle(fd);
    close(fd);
  }
  return NULL;
}

static int mini_setup(void **state) {
  (void)state;
  memset(&ms, 0, sizeof ms);
  ms.lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  if (ms.lfd < 0 || bind(ms.lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(ms.lfd, 8) != 0 ||
      getsockname(ms.lfd, (struct sockaddr *)&a, &al) != 0)
    return -1;
  ms.port = ntohs(a.sin_port);
  return pthread_create(&ms.th, NULL, mini_run, NULL);
}

static int mini_teardown(void **state) {
  (void)state;
  ms.stop = 1;
  int fd = socket(AF_INET, SOCK_STREAM, 0); /* wake accept() */
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)ms.port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    /* already gone */
  }
  close(fd);
  pthread_join(ms.th, NULL);
  close(ms.lfd);
  return 0;
}

static escrow_enclave *enclave(void) {
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", ms.port);
  escrow_enclave *e = NULL;
  assert_int_equal(escrow_enclave_open(&e, url, NULL), 0);
  ms.mode = MODE_NORMAL;
  return e;
}

typedef struct collected {
  uint8_t *buf;
  size_t len, cap;
  int fail_after; /* return ESCROW_E_IO once this many bytes arrived (0: never) */
} collected;

static int collect_bytes(void *ud, const uint8_t *d, size_t n) {
  collected *c = ud;
  if (c->len + n > c->cap)
    return ESCROW_E_LIMIT;
  memcpy(c->buf + c->len, d, n);
  c->len += n;
  if (c->fail_after && c->len >= (size_t)c->fail_after)
    return escrow__err(ESCROW_E_IO, "the receiver stops");
  return 0;
}

static void test_enclave_lists_files_with_sas_url_base64(void **state) {
  (void)state;
  escrow_enclave *e = enclave();
  escrow_enclave_files *f = NULL;
  assert_int_equal(escrow_enclave_list(e, NULL, &f), 0);
  assert_int_equal(f->count, 2);
  assert_int_equal(f->total_files, 2);
  assert_string_equal(f->items[0].name, "site/a.csv.bkenc");
  assert_int_equal(f->items[0].size, FILE_SIZE);
  assert_string_equal(f->items[0].upload_date, "2025-01-02T03:04:05Z");
  assert_string_equal(f->items[1].id, "2"); /* a numeric id is kept as its text */
  assert_null(f->items[1].upload_date);
  assert_string_equal(ms.last_sas, "");
  escrow_enclave_files_free(f);
  assert_int_equal(escrow_enclave_list(e, "https://a.blob.core.windows.net/c?sig=x", &f), 0);
  /* base64 "aHR0cHM6Ly9hLmJsb2IuY29yZS53aW5kb3dzLm5ldC9jP3NpZz14" %-encoded */
  assert_string_equal(ms.last_sas, "aHR0cHM6Ly9hLmJsb2IuY29yZS53aW5kb3dzLm5ldC9jP3NpZz14");
  escrow_enclave_files_free(f);
  escrow_enclave_close(e);
}

static void test_enclave_streams_a_file_and_resumes_with_range(void **state) {
  (void)state;
  escrow_enclave *e = enclave();
  static uint8_t want[FILE_SIZE], got[FILE_SIZE];
  file_bytes(want, sizeof want);
  collected c = {got, 0, sizeof got, 0};
  progress_seen ps = {0};
  assert_int_equal(escrow_enclave_get(e, "site/a.csv.bkenc", 0, collect_bytes, &c, on_progress,
                                      &ps), 0);
  assert_int_equal(c.len, FILE_SIZE);
  assert_memory_equal(got, want, FILE_SIZE);
  assert_int_equal(ps.last_done, FILE_SIZE);
  assert_int_equal(ps.last_total, FILE_SIZE);
  /* resume from byte 1000 */
  c.len = 0;
  memset(&ps, 0, sizeof ps);
  assert_int_equal(escrow_enclave_get(e, "site/a.csv.bkenc", 1000, collect_bytes, &c,
                                      on_progress, &ps), 0);
  assert_int_equal(c.len, FILE_SIZE - 1000);
  assert_memory_equal(got, want + 1000, FILE_SIZE - 1000);
  assert_int_equal(ps.last_done, FILE_SIZE);
  assert_int_equal(ps.last_total, FILE_SIZE);
  /* a server that ignores Range: no byte reaches the receiver */
  ms.mode = MODE_IGNORE_RANGE;
  c.len = 0;
  assert_int_equal(escrow_enclave_get(e, "site/a.csv.bkenc", 1000, collect_bytes, &c, NULL, NULL),
                   ESCROW_E_UNSUPPORTED);
  assert_int_equal(c.len, 0);
  escrow_enclave_close(e);
}

static void test_enclave_resume_refuses_a_partial_answer_from_another_offset(void **state) {
  (void)state;
  escrow_enclave *e = enclave();
  static uint8_t got[FILE_SIZE];
  collected c = {got, 0, sizeof got, 0};
  /* 206 "bytes 500-..." to a request for bytes 1000-: appending it would corrupt the file */
  ms.mode = MODE_WRONG_RANGE;
  assert_int_equal(escrow_enclave_get(e, "site/a.csv.bkenc", 1000, collect_bytes, &c, NULL, NULL),
                   ESCROW_E_MISMATCH);
  assert_non_null(strstr(escrow_error_last(), "1000"));
  assert_int_equal(c.len, 0);
  /* a 206 without Content-Range cannot be placed either */
  ms.mode = MODE_NO_RANGE_HEADER;
  c.len = 0;
  assert_int_equal(escrow_enclave_get(e, "site/a.csv.bkenc", 1000, collect_bytes, &c, NULL, NULL),
                   ESCROW_E_MISMATCH);
  assert_int_equal(c.len, 0);
  escrow_enclave_close(e);
}

static void test_enclave_file_cut_short_is_truncated_and_leaves_no_file(void **state) {
  (void)state;
  escrow_enclave *e = enclave();
  char *dir = tu_tmpdir("enclave-get");
  char out[4200];
  snprintf(out, sizeof out, "%s/a.csv", dir);
  ms.mode = MODE_CUT;
  assert_int_equal(escrow_enclave_get_file(e, "site/a.csv.bkenc", out, NULL, NULL),
                   ESCROW_E_TRUNCATED);
  assert_false(tu_exists(out));
  ms.mode = MODE_CUT_CHUNKED;
  assert_int_equal(escrow_enclave_get_file(e, "site/a.csv.bkenc", out, NULL, NULL),
                   ESCROW_E_TRUNCATED);
  assert_false(tu_exists(out));
  ms.mode = MODE_NORMAL;
  assert_int_equal(escrow_enclave_get_file(e, "site/a.csv.bkenc", out, NULL, NULL), 0);
  size_t len;
  uint8_t *d = tu_read(out, &len);
  assert_int_equal(len, FILE_SIZE);
  free(d);
  /* unknown name: 404 with the server's message; nothing written */
  char out2[4200];
  snprintf(out2, sizeof out2, "%s/b.csv", dir);
  assert_int_equal(escrow_enclave_get_file(e, "nope.csv", out2, NULL, NULL), ESCROW_E_NOTFOUND);
  assert_non_null(strstr(escrow_error_last(), "no such file"));
  assert_false(tu_exists(out2));
  /* the receiver's own error stops the transfer and is returned */
  static uint8_t buf[FILE_SIZE];
  collected c = {buf, 0, sizeof buf, 5000};
  assert_int_equal(escrow_enclave_get(e, "site/a.csv.bkenc", 0, collect_bytes, &c, NULL, NULL),
                   ESCROW_E_IO);
  assert_string_equal(escrow_error_last(), "the receiver stops");
  escrow__rmtree(dir);
  free(dir);
  escrow_enclave_close(e);
}

static void test_enclave_refuses_answers_that_are_not_the_contracts_json(void **state) {
  (void)state;
  escrow_enclave *e = enclave();
  escrow_enclave_files *f = NULL;
  ms.mode = MODE_NOT_JSON;
  assert_int_equal(escrow_enclave_list(e, NULL, &f), ESCROW_E_FORMAT);
  assert_null(f);
  ms.mode = MODE_DEEP;
  assert_int_equal(escrow_enclave_list(e, NULL, &f), ESCROW_E_FORMAT);
  assert_non_null(strstr(escrow_error_last(), "deeper"));
  ms.mode = MODE_500;
  assert_int_equal(escrow_enclave_list(e, NULL, &f), ESCROW_E_IO);
  assert_int_equal(escrow_enclave_last_status(e), 500);
  assert_non_null(strstr(escrow_error_last(), "internal trouble"));
  assert_non_null(strstr(escrow_enclave_last_body(e), "internal trouble"));
  escrow_enclave_close(e);
}

static void test_enclave_log_posts_message_and_status(void **state) {
  (void)state;
  escrow_enclave *e = enclave();
  assert_int_equal(escrow_enclave_log(e, "epoch 1 \"done\"\n", NULL), 0);
  assert_string_equal(ms.last_log, "{\"message\":\"epoch 1 \\\"done\\\"\\u000a\",\"status\":"
                                   "\"Progress\"}");
  assert_int_equal(escrow_enclave_log(e, "x", "Info"), 0);
  assert_non_null(strstr(ms.last_log, "\"status\":\"Info\""));
  escrow_enclave_close(e);
}

static void test_enclave_report_verdicts_pass_and_refusal(void **state) {
  (void)state;
  escrow_enclave *e = enclave();
  escrow_enclave_report_in r = {"final", "Completed", "{\"accuracy\": 0.9}", NULL, "run-1", NULL};
  escrow_enclave_verdict *v = NULL;
  assert_int_equal(escrow_enclave_report(e, &r, &v), 0);
  assert_int_equal(v->valid, 1);
  assert_int_equal(v->http_status, 200);
  assert_string_equal(v->message, "{}");
  assert_string_equal(ms.last_report, "{\"name\":\"final\",\"status\":\"Completed\","
                                      "\"json_data\":{\"accuracy\":0.9},\"run\":\"run-1\"}");
  escrow_enclave_verdict_free(v);
  /* the criteria refuse: an answer, not an error */
  r.json_data = "{\"accuracy\":2}";
  assert_int_equal(escrow_enclave_validate(e, &r, &v), 0);
  assert_int_equal(v->valid, 0);
  assert_int_equal(v->http_status, 400);
  assert_string_equal(v->status, "failed");
  assert_string_equal(v->message, "{\"accuracy\":[\"max value is 1\"]}");
  escrow_enclave_verdict_free(v);
  /* json_data that is not JSON never leaves */
  r.json_data = "{accuracy: 1";
  ms.last_report[0] = 0;
  assert_int_equal(escrow_enclave_report(e, &r, &v), ESCROW_E_FORMAT);
  assert_null(v);
  assert_string_equal(ms.last_report, "");
  r.json_data = "{}";
  r.name = NULL;
  assert_int_equal(escrow_enclave_report(e, &r, &v), ESCROW_E_INVALID);
  escrow_enclave_close(e);
}

static void test_enclave_artifact_is_sent_as_artifact_file(void **state) {
  (void)state;
  escrow_enclave *e = enclave();
  char *dir = tu_tmpdir("artifact");
  char p[4200];
  snprintf(p, sizeof p, "%s/chart.png", dir);
  uint8_t data[20000];
  tu_fill(data, sizeof data, 3);
  tu_write(p, data, sizeof data);
  escrow_api_answer *a = NULL;
  progress_seen ps = {0};
  assert_int_equal(escrow_enclave_artifact(e, p, NULL, on_progress, &ps, &a), 0);
  assert_string_equal(ms.artifact_name, "chart.png");
  assert_true(ms.artifact_len > sizeof data);
  assert_int_equal(ps.last_done, ms.artifact_len);
  assert_string_equal(a->json, "{\"status\":\"stored\"}");
  escrow_api_answer_free(a);
  assert_int_equal(escrow_enclave_artifact(e, p, "renamed.png", NULL, NULL, NULL), 0);
  assert_string_equal(ms.artifact_name, "renamed.png");
  assert_int_equal(escrow_enclave_artifact(e, dir, NULL, NULL, NULL, NULL), ESCROW_E_INVALID);
  escrow__rmtree(dir);
  free(dir);
  escrow_enclave_close(e);
}

/* A server that never answers: the request's time limit ends the call with ESCROW_E_IO. */
static void test_enclave_silent_server_times_out(void **state) {
  (void)state;
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", ms.port);
  escrow_client_options o = ESCROW_CLIENT_OPTIONS_INIT;
  o.timeout_s = 1;
  escrow_enclave *e = NULL;
  assert_int_equal(escrow_enclave_open(&e, url, &o), 0);
  ms.mode = MODE_STALL;
  escrow_enclave_files *f = NULL;
  assert_int_equal(escrow_enclave_list(e, NULL, &f), ESCROW_E_IO);
  assert_null(f);
  assert_non_null(strstr(escrow_error_last(), "timed out"));
  assert_int_equal(escrow_enclave_last_status(e), 0);
  ms.mode = MODE_NORMAL;
  escrow_enclave_close(e);
}

static void test_enclave_url_comes_from_the_environment(void **state) {
  (void)state;
  escrow_enclave *e = NULL;
  setenv("ENCLAVE_URL", "http://127.0.0.1:5999/", 1);
  assert_int_equal(escrow_enclave_open(&e, NULL, NULL), 0);
  assert_string_equal(((escrow__http *)e)->base, "http://127.0.0.1:5999");
  escrow_enclave_close(e);
  unsetenv("ENCLAVE_URL");
  setenv("ESCROW_RUNTIME_LOCATION", "https://localhost:5001", 1);
  assert_int_equal(escrow_enclave_open(&e, NULL, NULL), 0);
  assert_string_equal(((escrow__http *)e)->base, "https://localhost:5001");
  escrow_enclave_close(e);
  unsetenv("ESCROW_RUNTIME_LOCATION");
  assert_int_equal(escrow_enclave_open(&e, NULL, NULL), 0);
  assert_string_equal(((escrow__http *)e)->base, "https://localhost:5000");
  escrow_enclave_close(e);
  assert_int_equal(escrow_enclave_open(&e, "http://10.0.0.1:5000", NULL), ESCROW_E_INVALID);
}

/* ================================================================================================
 * Parsers (sans I/O)
 * ============================================================================================== */

static void test_parsers_refuse_wrong_types_and_keep_the_last_duplicate(void **state) {
  (void)state;
  escrow_api_kek *k = NULL;
  const char *j1 = "{\"key content\": 5}";
  assert_int_equal(escrow__parse_kek(j1, strlen(j1), &k), ESCROW_E_FORMAT);
  assert_non_null(strstr(escrow_error_last(), "key content"));
  const char *j2 = "{\"key content\":\"a\",\"key content\":\"b\"}";
  assert_int_equal(escrow__parse_kek(j2, strlen(j2), &k), 0);
  assert_string_equal(k->key_content, "b");
  escrow_api_kek_free(k);
  escrow_api_run *r = NULL;
  const char *j3 = "{\"run\":{\"status\":\"In Progress\",\"stage\":\"Run\",\"run_number\":\"3\"},"
                   "\"simulated_tee\":true}";
  assert_int_equal(escrow__parse_run(j3, strlen(j3), &r), 0);
  assert_string_equal(r->status, "In Progress");
  assert_int_equal(r->run_number, 3);
  assert_int_equal(r->simulated_tee, 1);
  assert_null(r->reason);
  escrow_api_run_free(r);
  const char *j4 = "{\"status\":1}";
  assert_int_equal(escrow__parse_run(j4, strlen(j4), &r), ESCROW_E_FORMAT);
  escrow_api_report *rep = NULL;
  const char *j5 = "{\"report content\":{\"accuracy\":0.5}}";
  assert_int_equal(escrow__parse_report(j5, strlen(j5), &rep), 0);
  assert_string_equal(rep->report_content, "{\"accuracy\":0.5}");
  escrow_api_report_free(rep);
  const char *j6 = "[1,2]";
  assert_int_equal(escrow__parse_report(j6, strlen(j6), &rep), ESCROW_E_FORMAT);
  escrow_api_versions *v = NULL;
  const char *j7 = "{\"versions\":[{\"id\":\"a\"},7]}";
  assert_int_equal(escrow__parse_versions(j7, strlen(j7), &v), ESCROW_E_FORMAT);
  const char nul[] = "{\"a\":1}\0junk";
  escrow_api_answer *a = NULL;
  assert_int_equal(escrow__parse_answer(nul, sizeof nul - 1, 200, &a), ESCROW_E_FORMAT);
  escrow_enclave_verdict *d = NULL;
  const char *j8 = "{\"status\":\"maybe\"}";
  assert_int_equal(escrow__parse_verdict(j8, strlen(j8), 200, &d), ESCROW_E_FORMAT);
}

typedef struct alloc_ctx {
  const char *text;
  escrow_api_versions *v;
} alloc_ctx;

static int parse_versions_once(void *ud) {
  alloc_ctx *c = ud;
  return escrow__parse_versions(c->text, strlen(c->text), &c->v);
}

static void free_versions(void *ud) {
  alloc_ctx *c = ud;
  escrow_api_versions_free(c->v);
  c->v = NULL;
}

static void test_parsers_survive_every_allocation_failure(void **state) {
  (void)state;
  alloc_ctx c = {"{\"project\":{\"id\":\"p\",\"name\":\"n\",\"simulated_tee\":true},\"role\":\"ao\","
                 "\"versions\":[{\"id\":\"a\",\"details\":{\"x\":[1,2]},\"created_at\":5},"
                 "{\"id\":\"b\",\"sha256\":\"00\"}]}",
                 NULL};
  unsigned long sites = tu_alloc_failures(parse_versions_once, free_versions, &c, 0);
  assert_true(sites > 5);
}

int main(void) {
  const struct CMUnitTest live[] = {
      cmocka_unit_test(test_kek_download_gives_the_parties_public_key),
      cmocka_unit_test(test_sample_upload_sequence_returns_typed_versions),
      cmocka_unit_test(test_refused_criteria_report_status_message_and_schema_errors),
      cmocka_unit_test(test_wrong_role_is_auth_and_unknown_tag_is_state),
      cmocka_unit_test(test_token_signed_with_another_key_is_refused),
      cmocka_unit_test(test_run_request_status_reject_and_notifications),
  };
  const struct CMUnitTest offline[] = {
      cmocka_unit_test(test_open_refuses_bad_urls_keys_and_arguments),
      cmocka_unit_test(test_token_has_the_samples_claims_and_verifies),
      cmocka_unit_test(test_parsers_refuse_wrong_types_and_keep_the_last_duplicate),
      cmocka_unit_test(test_parsers_survive_every_allocation_failure),
  };
  const struct CMUnitTest enclave_api[] = {
      cmocka_unit_test(test_enclave_lists_files_with_sas_url_base64),
      cmocka_unit_test(test_enclave_streams_a_file_and_resumes_with_range),
      cmocka_unit_test(test_enclave_resume_refuses_a_partial_answer_from_another_offset),
      cmocka_unit_test(test_enclave_file_cut_short_is_truncated_and_leaves_no_file),
      cmocka_unit_test(test_enclave_refuses_answers_that_are_not_the_contracts_json),
      cmocka_unit_test(test_enclave_log_posts_message_and_status),
      cmocka_unit_test(test_enclave_report_verdicts_pass_and_refusal),
      cmocka_unit_test(test_enclave_artifact_is_sent_as_artifact_file),
      cmocka_unit_test(test_enclave_silent_server_times_out),
      cmocka_unit_test(test_enclave_url_comes_from_the_environment),
  };
  int failed = cmocka_run_group_tests_name("client_offline", offline, NULL, NULL);
  failed += cmocka_run_group_tests_name("enclave_api", enclave_api, mini_setup, mini_teardown);
  failed += cmocka_run_group_tests_name("platform_api_live", live, server_setup, server_teardown);
  return failed;
}
