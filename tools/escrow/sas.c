/*
 * escrow sas check|sign|verify (DESIGN §6, §11): judge a dataset SAS URL as the EscrowAI UI
 * does, sign service and account SAS with an account key, verify a signature.
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* --key K: the Base64 key itself, or @PATH to read it from a file (keeps it out of `ps`).
 * *out is secret memory (escrow_secret_free... here sodium_free via cli_key_free). */
static int load_key(const char *arg, char **out) {
  *out = NULL;
  if (arg == NULL)
    return cli_error(CLI_EXIT_ERROR, "--key is required");
  if (arg[0] != '@') {
    size_t n = strlen(arg);
    *out = sodium_malloc(n + 1);
    if (*out == NULL)
      return cli_error(CLI_EXIT_ERROR, "out of memory");
    memcpy(*out, arg, n + 1);
    return 0;
  }
  uint8_t *buf = NULL;
  size_t len = 0;
  int rc = cli_read_small_file(arg + 1, 4096, &buf, &len);
  if (rc == -EFBIG)
    return cli_error(CLI_EXIT_ERROR, "the key file '%s' is larger than 4 KiB", arg + 1);
  if (rc != 0)
    return cli_error(CLI_EXIT_ERROR, "cannot read the key file '%s': %s", arg + 1, strerror(-rc));
  while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
    len--;
  *out = sodium_malloc(len + 1);
  if (*out != NULL) {
    memcpy(*out, buf, len);
    (*out)[len] = '\0';
  }
  sodium_memzero(buf, len);
  free(buf);
  return *out ? 0 : cli_error(CLI_EXIT_ERROR, "out of memory");
}

static void key_free(char *k) {
  if (k)
    sodium_free(k);
}

/* A time option: an Azure date (escrow_time_parse), or "+N" followed by m, h or d (from now). */
static int time_arg(const char *name, const char *v, char buf[21], const char **out) {
  *out = NULL;
  if (v == NULL)
    return 0;
  if (v[0] == '+') {
    char *end;
    errno = 0;
    long long n = strtoll(v + 1, &end, 10);
    long long unit = *end == 'm' ? 60 : *end == 'h' ? 3600 : *end == 'd' ? 86400 : 0;
    if (errno || end == v + 1 || unit == 0 || end[1] != '\0' || n < 0 || n > 100000)
      return cli_error(CLI_EXIT_ERROR, "--%s '%s': use an ISO 8601 UTC time or +N[m|h|d]", name,
                       v);
    escrow_time t = escrow_time_now();
    t.sec += n * unit;
    escrow_time_format(buf, t);
    *out = buf;
    return 0;
  }
  escrow_time t;
  if (escrow_time_parse(&t, v, 0) != 0)
    return cli_error(CLI_EXIT_ERROR, "--%s: %s", name, escrow_error_last());
  *out = v;
  return 0;
}


/* ---- check ------------------------------------------------------------------------------- */

static const cli_opt check_opts[] = {
    {"now", 0, CLI_VALUE, "RFC3339", "judge at this time instead of the clock (offsets allowed)"},
    {"allow-loopback-http", 0, CLI_FLAG, NULL,
     "let http:// loopback URLs and spr=https,http pass (a local emulator such as Azurite)"},
    {0, 0, 0, 0, 0}};

static int run_check(const cli_args *a) {
  escrow_time now, *pnow = NULL;
  const char *nv = cli_get(a, "now");
  if (nv) {
    if (escrow_time_parse(&now, nv, 1) != 0)
      return cli_usage_error(a->cmd, "--now: %s", escrow_error_last());
    pnow = &now;
  }
  unsigned flags = cli_flag(a, "allow-loopback-http") ? ESCROW_SAS_ALLOW_LOOPBACK_HTTP : 0;
  escrow_sas_result r;
  char *ubuf;
  const char *url = cli_url_arg(a->pos[0], &ubuf);
  if (url == NULL)
    return cli_error(CLI_EXIT_ERROR, "no URL on standard input");
  int rc = escrow_sas_check(&r, url, pnow, flags);
  free(ubuf);
  if (rc != 0)
    return cli_fail(rc, "cannot check the SAS URL");
  cli_json j;
  if (cli_json_init(&j) != CLI_EXIT_OK)
    return CLI_EXIT_ERROR;
  cli_json_open(&j);
  cli_json_kv_string(&j, "status", r.status_name);
  cli_json_kv_string(&j, "message", r.message);
  cli_json_kv_string(&j, "reason", r.reason);
  cli_json_close(&j);
  int st = cli_json_print(&j);
  if (st != CLI_EXIT_OK)
    return st;
  if (r.status != ESCROW_SAS_VALID)
    fprintf(stderr, "escrow: the SAS URL is %s: %s\n", r.status_name, r.reason);
  return r.status == ESCROW_SAS_VALID ? CLI_EXIT_OK : CLI_EXIT_NEGATIVE;
}

const cli_command cli_cmd_sas_check = {
    "sas", "check", "sas check URL|- [--now RFC3339] [--allow-loopback-http]",
    "Judge a dataset SAS URL as EscrowAI does (valid, invalid, expiring, expired, not yet valid).",
    "Prints {\"status\", \"message\", \"reason\"}: status is \"valid\", \"invalid\", \"expiring\" "
    "(expires within 24 hours: treated as expired), \"expired\" or \"not yet valid\"; message is "
    "the UI's text and reason the rule that decided. Exit 0 only when valid. No key is needed "
    "and nothing is sent over the network. URL - reads it from standard input (keeps the "
    "token out of the process list).",
    check_opts, 1, 1, run_check};

/* ---- sign -------------------------------------------------------------------------------- */

static const cli_opt sign_opts[] = {
    {"account", 0, CLI_VALUE, "A", "storage account name"},
    {"key", 0, CLI_VALUE, "K", "account key (Base64), or @FILE to read it from a file"},
    {"container", 0, CLI_VALUE, "C", "container (a service SAS); leave out for an account SAS"},
    {"blob", 0, CLI_VALUE, "B", "blob name: a blob SAS (sr=b) instead of a container SAS"},
    {"permissions", 0, CLI_VALUE, "P", "permission letters, e.g. rl (written in canonical order)"},
    {"expiry", 0, CLI_VALUE, "T", "expiry: ISO 8601 UTC (2025-01-31T00:00:00Z) or +N[m|h|d]"},
    {"start", 0, CLI_VALUE, "T", "start, same forms (default: none, valid at once)"},
    {"version", 0, CLI_VALUE, "V", "service version sv, 2015-04-05..2025-11-05 (default "
                                   ESCROW_SAS_VERSION_DEFAULT ")"},
    {"https-only", 0, CLI_FLAG, NULL, "spr=https (what EscrowAI requires)"},
    {"protocol", 0, CLI_VALUE, "https|https,http", "spr explicitly"},
    {"ip", 0, CLI_VALUE, "A[-B]", "allowed client IP address or range (sip)"},
    {"identifier", 0, CLI_VALUE, "ID", "stored access policy (si)"},
    {"encryption-scope", 0, CLI_VALUE, "S", "encryption scope (ses, sv >= 2020-12-06)"},
    {"services", 0, CLI_VALUE, "btqf", "account SAS: services (ss)"},
    {"resource-types", 0, CLI_VALUE, "sco", "account SAS: resource types (srt)"},
    {"endpoint", 0, CLI_VALUE, "URL",
     "blob endpoint (default https://<account>.blob.core.windows.net; Azurite: "
     "http://127.0.0.1:10000/devstoreaccount1)"},
    {"string-to-sign", 0, CLI_FLAG, NULL, "print the string-to-sign (as JSON) instead"},
    {0, 0, 0, 0, 0}};

static int run_sign(const cli_args *a) {
  escrow_sas_sign_options o = ESCROW_SAS_SIGN_OPTIONS_INIT;
  o.account = cli_require(a, "account");
  if (o.account == NULL)
    return CLI_EXIT_ERROR;
  o.container = cli_get(a, "container");
  o.blob = cli_get(a, "blob");
  o.services = cli_get(a, "services");
  o.resource_types = cli_get(a, "resource-types");
  o.kind = o.container == NULL && (o.services || o.resource_types) ? ESCROW_SAS_ACCOUNT
                                                                   : ESCROW_SAS_SERVICE;
  if (o.kind == ESCROW_SAS_SERVICE && o.container == NULL)
    return cli_usage_error(a->cmd, "give --container (a service SAS) or --services and "
                                   "--resource-types (an account SAS)");
  o.permissions = cli_get(a, "permissions");
  o.identifier = cli_get(a, "identifier");
  char eb[21], sb[21];
  if (time_arg("expiry", cli_get(a, "expiry"), eb, &o.expiry) ||
      time_arg("start", cli_get(a, "start"), sb, &o.start))
    return CLI_EXIT_ERROR;
  o.service_version = cli_get(a, "version");
  o.protocol = cli_get(a, "protocol");
  if (cli_flag(a, "https-only")) {
    if (o.protocol && strcmp(o.protocol, "https") != 0)
      return cli_usage_error(a->cmd, "--https-only and --protocol %s disagree", o.protocol);
    o.protocol = "https";
  }
  o.ip = cli_get(a, "ip");
  o.encryption_scope = cli_get(a, "encryption-scope");
  if (cli_flag(a, "string-to-sign")) {
    char *sts;
    int rc = escrow_sas_string_to_sign(&sts, &o);
    if (rc != 0)
      return cli_fail(rc, "cannot build the string-to-sign");
    cli_json j;
    if (cli_json_init(&j) != CLI_EXIT_OK) {
      escrow_free(sts);
      return CLI_EXIT_ERROR;
    }
    cli_json_open(&j);
    cli_json_kv_string(&j, "string_to_sign", sts);
    cli_json_close(&j);
    escrow_free(sts);
    return cli_json_print(&j);
  }
  char *key;
  int st = load_key(cli_get(a, "key"), &key);
  if (st)
    return st;
  char *url;
  int rc = escrow_sas_sign_url(&url, cli_get(a, "endpoint"), &o, key);
  key_free(key);
  if (rc != 0)
    return cli_fail(rc, "cannot sign the SAS");
  printf("%s\n", url);
  escrow_free(url);
  if (fflush(stdout) != 0)
    return cli_error(CLI_EXIT_ERROR, "cannot write to stdout: %s", strerror(errno));
  return CLI_EXIT_OK;
}

const cli_command cli_cmd_sas_sign = {
    "sas", "sign",
    "sas sign --account A --key K --container C [--blob B] --permissions P --expiry T "
    "[--start T] [--version V] [--https-only] [--endpoint URL]",
    "Sign a service SAS (container or blob) or an account SAS with a storage account key.",
    "Prints the SAS URL. The string-to-sign follows the layout of the service version "
    "(2015-04-05 to 2025-11-05). For an account SAS give --services and --resource-types "
    "instead of --container. For the dataset URL EscrowAI wants: --permissions rl "
    "--https-only and an expiry more than 24 hours away.",
    sign_opts, 0, 0, run_sign};

/* ---- verify ------------------------------------------------------------------------------- */

static const cli_opt verify_opts[] = {
    {"key", 0, CLI_VALUE, "K", "account key (Base64), or @FILE"},
    {"path-style", 0, CLI_FLAG, NULL, "the account is the first path segment (emulators)"},
    {0, 0, 0, 0, 0}};

static int run_verify(const cli_args *a) {
  char *key;
  int st = load_key(cli_get(a, "key"), &key);
  if (st)
    return st;
  escrow_sas *s;
  char *ubuf;
  const char *url = cli_url_arg(a->pos[0], &ubuf);
  if (url == NULL) {
    key_free(key);
    return cli_error(CLI_EXIT_ERROR, "no URL on standard input");
  }
  int rc = escrow_sas_parse(&s, url, cli_flag(a, "path-style") ? ESCROW_SAS_PATH_STYLE : 0);
  free(ubuf);
  if (rc != 0) {
    key_free(key);
    return cli_fail(rc, "cannot read the SAS URL");
  }
  rc = escrow_sas_verify(s, key);
  key_free(key);
  if (rc != 0 && rc != ESCROW_E_AUTH) {
    escrow_sas_free(s);
    return cli_fail(rc, "cannot verify the SAS URL");
  }
  static const char *const kinds[] = {"", "service", "account", "user-delegation"};
  cli_json j;
  if (cli_json_init(&j) != CLI_EXIT_OK) {
    escrow_sas_free(s);
    return CLI_EXIT_ERROR;
  }
  cli_json_open(&j);
  cli_json_kv_bool(&j, "valid", rc == 0);
  cli_json_kv_string(&j, "kind", kinds[escrow_sas_get_kind(s)]);
  cli_json_kv_string(&j, "account", escrow_sas_account(s));
  cli_json_kv_string(&j, "container", escrow_sas_container(s));
  cli_json_kv_string(&j, "version", escrow_sas_param(s, "sv"));
  cli_json_kv_string(&j, "message", rc == 0 ? "the signature matches the account key"
                                            : escrow_error_last());
  cli_json_close(&j);
  escrow_sas_free(s);
  st = cli_json_print(&j);
  if (st != CLI_EXIT_OK)
    return st;
  if (rc != 0)
    fprintf(stderr, "escrow: the SAS signature does not match this account key (or the URL was "
                    "changed after signing)\n");
  return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_NEGATIVE;
}

const cli_command cli_cmd_sas_verify = {
    "sas", "verify", "sas verify URL --key K",
    "Check a SAS URL's signature with the storage account key.",
    "Prints {\"valid\", \"kind\", \"account\", \"container\", \"version\", \"message\"}; exit 0 "
    "when the signature matches, 1 when it does not. Only the signature is judged (use 'sas "
    "check' for times and permissions). A user-delegation SAS cannot be verified with an "
    "account key (exit 1).",
    verify_opts, 1, 1, run_verify};
