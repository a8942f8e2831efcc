/*
 * escrow api ...: the Platform API client (include/escrow/client.h) from the command line.
 * Every subcommand takes --base-url, --key, --email and --project (or the environment's
 * ESCROW_API_URL, ESCROW_API_KEY_FILE, ESCROW_API_EMAIL, ESCROW_PROJECT_ID), prints the
 * platform's JSON answer on stdout and exits 0; a refusal by the platform (HTTP 4xx) prints the
 * platform's error document on stdout, the message on stderr and exits 1; a network, server
 * (5xx) or usage error exits 2.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "cli.h"

#define CONN_OPTS                                                                             \
  {"base-url", 0, CLI_VALUE, "URL", "the API root, e.g. https://host/api/v1 ($ESCROW_API_URL)"}, \
      {"key", 0, CLI_VALUE, "PEM", "your RSA private key file (PEM, or base64 of PEM) "        \
                                   "($ESCROW_API_KEY_FILE)"},                                 \
      {"email", 0, CLI_VALUE, "EMAIL", "your login e-mail ($ESCROW_API_EMAIL)"},               \
      {"project", 0, CLI_VALUE, "ID", "the project id ($ESCROW_PROJECT_ID)"},                  \
      {"ca-file", 0, CLI_VALUE, "PEM", "trust this CA bundle instead of the system's"},        \
      {"audience", 0, CLI_VALUE, "AUD", "the token's aud (default frontoffice.beekeeperai)"}

#define RUN_OPTS                                                                              \
  {"algorithm-version", 0, CLI_VALUE, "TAG", "the algorithm version's tag"},                  \
      {"dataset-version", 0, CLI_VALUE, "TAG", "the dataset version's tag"}

static const char *opt_or_env(const cli_args *a, const char *opt, const char *env) {
  const char *v = cli_get(a, opt);
  if (!v) {
    v = getenv(env);
    if (v && !*v)
      v = NULL;
  }
  return v;
}

/* Open the client from the connection options; on failure prints why and returns the exit
 * status. */
static int connect_client(const cli_args *a, escrow_client **out) {
  *out = NULL;
  const char *url = opt_or_env(a, "base-url", "ESCROW_API_URL");
  const char *key = opt_or_env(a, "key", "ESCROW_API_KEY_FILE");
  const char *email = opt_or_env(a, "email", "ESCROW_API_EMAIL");
  const char *project = opt_or_env(a, "project", "ESCROW_PROJECT_ID");
  if (!url || !key || !email || !project)
    return cli_usage_error(a->cmd, "--base-url, --key, --email and --project are required (or "
                                   "ESCROW_API_URL, ESCROW_API_KEY_FILE, ESCROW_API_EMAIL, "
                                   "ESCROW_PROJECT_ID)");
  uint8_t *pem = NULL;
  size_t len = 0;
  int e = cli_read_small_file(key, 64 << 10, &pem, &len);
  if (e)
    return cli_error(CLI_EXIT_ERROR, "cannot read the key file '%s': %s", key, strerror(-e));
  escrow_client_options o = ESCROW_CLIENT_OPTIONS_INIT;
  o.ca_file = cli_get(a, "ca-file");
  o.audience = cli_get(a, "audience");
  int rc = escrow_client_open(out, url, (const char *)pem, len, email, project, &o);
  sodium_memzero(pem, len); /* a plain memset before free() may be optimised away */
  free(pem);
  if (rc)
    return cli_fail(rc, "cannot open the API client");
  return CLI_EXIT_OK;
}

/* Print a JSON answer (one line) on stdout. */
static int print_json(const char *json) {
  if (printf("%s\n", json) < 0 || fflush(stdout) != 0)
    return cli_error(CLI_EXIT_ERROR, "cannot write to standard output");
  return CLI_EXIT_OK;
}

/* A failed call: the platform's refusal (4xx) exits 1 with its error document on stdout. */
static int api_fail(escrow_client *c, int rc, const char *what) {
  long s = escrow_client_last_status(c);
  if (s >= 400 && s < 500) {
    const char *body = escrow_client_last_body(c);
    if (*body == '{')
      print_json(body);
    fprintf(stderr, "escrow: %s: %s\n", what, escrow_error_last());
    return CLI_EXIT_NEGATIVE;
  }
  if (rc == ESCROW_E_FORMAT || rc == ESCROW_E_TRUNCATED || rc == ESCROW_E_LIMIT)
    return cli_error(CLI_EXIT_ERROR, "%s: %s", what, escrow_error_last());
  return cli_fail(rc, "%s", what);
}

/* ---- kek-download ------------------------------------------------------------------------- */

static const cli_opt kek_opts[] = {
    CONN_OPTS,
    {"output", 'o', CLI_VALUE, "PATH", "also save the public key (a folder: under the "
                                       "platform's file name)"},
    {0, 0, 0, 0, 0}};

static int run_kek(const cli_args *a) {
  escrow_client *c;
  int st = connect_client(a, &c);
  if (st)
    return st;
  escrow_api_kek *k = NULL;
  int rc = escrow_client_kek_download(c, &k);
  if (rc) {
    st = api_fail(c, rc, "KEK download");
    escrow_client_close(c);
    return st;
  }
  const char *o = cli_get(a, "output");
  if (o) {
    char *path = NULL;
    st = cli_output_path(o, k->file_name && *k->file_name ? cli_basename(k->file_name) : "kek.der",
                         &path);
    if (!st) {
      int e = cli_write_file_atomic(path, (const uint8_t *)k->key_content,
                                    strlen(k->key_content), 0644);
      if (e)
        st = cli_error(CLI_EXIT_ERROR, "cannot write '%s': %s", path, strerror(-e));
    }
    free(path);
  }
  if (!st)
    st = print_json(k->json);
  escrow_api_kek_free(k);
  escrow_client_close(c);
  return st;
}

const cli_command cli_cmd_api_kek_download = {
    "api", "kek-download", "api kek-download [-o PATH] --base-url URL --key PEM --email E --project ID",
    "Download your party's KEK public key for the project.",
    "Prints the platform's answer ({\"key content\", \"file_name\", \"role\", \"project_id\"}). "
    "With -o the key is also saved (never replacing a file).",
    kek_opts, 0, 0, run_kek};

/* ---- upload KIND FILE --------------------------------------------------------------------- */

static const cli_opt upload_opts[] = {
    CONN_OPTS,
    {"name", 0, CLI_VALUE, "NAME", "the artifact's name"},
    {"version-tag", 0, CLI_VALUE, "TAG", "the new version's tag"},
    {"description", 0, CLI_VALUE, "TEXT", "the artifact's description"},
    {"version-description", 0, CLI_VALUE, "TEXT", "the version's description"},
    {"algorithm-type", 0, CLI_VALUE, "validation|training", "algorithm: its type"},
    {"criteria-version", 0, CLI_VALUE, "TAG", "algorithm: the validation criteria version"},
    {"attestation-version", 0, CLI_VALUE, "TAG", "algorithm: the data attestation version"},
    {0, 0, 0, 0, 0}};

static int run_upload(const cli_args *a) {
  static const struct {
    const char *word;
    escrow_api_upload_kind kind;
  } kinds[] = {{"wcek", ESCROW_API_WCEK},
               {"validation-criteria", ESCROW_API_VALIDATION_CRITERIA},
               {"data-specification", ESCROW_API_DATA_SPECIFICATION},
               {"data-attestation", ESCROW_API_DATA_ATTESTATION},
               {"algorithm", ESCROW_API_ALGORITHM}};
  escrow_api_upload_kind kind = 0;
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if (strcmp(a->pos[0], kinds[i].word) == 0)
      kind = kinds[i].kind;
  if (!kind)
    return cli_usage_error(a->cmd, "unknown kind '%s': wcek, validation-criteria, "
                                   "data-specification, data-attestation or algorithm",
                           a->pos[0]);
  const char *name = cli_require(a, "name");
  if (!name)
    return CLI_EXIT_ERROR;
  const char *tag = cli_require(a, "version-tag");
  if (!tag)
    return CLI_EXIT_ERROR;
  const char *type = cli_get(a, "algorithm-type");
  if (kind == ESCROW_API_ALGORITHM && !type)
    return cli_usage_error(a->cmd, "an algorithm upload needs --algorithm-type");
  if (kind != ESCROW_API_ALGORITHM &&
      (type || cli_get(a, "criteria-version") || cli_get(a, "attestation-version")))
    return cli_usage_error(a->cmd, "--algorithm-type, --criteria-version and "
                                   "--attestation-version are for an algorithm upload");
  escrow_client *c;
  int st = connect_client(a, &c);
  if (st)
    return st;
  escrow_api_version_fields v = {name, cli_get(a, "description"), tag,
                                 cli_get(a, "version-description")};
  struct stat sb;
  uint64_t size = stat(a->pos[1], &sb) == 0 ? (uint64_t)sb.st_size : 0;
  cli_progress p;
  cli_progress_init(&p, "uploading", 0, size, 0);
  escrow_api_artifact *out = NULL;
  int rc;
  if (kind == ESCROW_API_ALGORITHM) {
    escrow_api_algorithm_fields af = {type, cli_get(a, "criteria-version"),
                                      cli_get(a, "attestation-version"), NULL, NULL};
    rc = escrow_client_upload_algorithm(c, &v, &af, a->pos[1], cli_progress_cb, &p, &out);
  } else {
    rc = escrow_client_upload(c, kind, &v, a->pos[1], cli_progress_cb, &p, &out);
  }
  cli_progress_end(&p);
  if (rc) {
    long s = escrow_client_last_status(c);
    st = s ? api_fail(c, rc, "upload") : cli_fail(rc, "cannot upload '%s'", a->pos[1]);
  } else {
    st = print_json(out->json);
  }
  escrow_api_artifact_free(out);
  escrow_client_close(c);
  return st;
}

const cli_command cli_cmd_api_upload = {
    "api", "upload", "api upload KIND FILE --name NAME --version-tag TAG [...] --base-url URL ...",
    "Upload a WCEK, criteria, specification, attestation or algorithm version.",
    "KIND is wcek, validation-criteria, data-specification, data-attestation or algorithm. The "
    "file is streamed in the field file_name. An algorithm needs --algorithm-type and the "
    "--criteria-version (validation) and --attestation-version tags. Prints the new version.",
    upload_opts, 2, 2, run_upload};

/* ---- dataset ------------------------------------------------------------------------------ */

static const cli_opt dataset_opts[] = {
    CONN_OPTS,
    {"name", 0, CLI_VALUE, "NAME", "the dataset's name"},
    {"version-tag", 0, CLI_VALUE, "TAG", "the new version's tag"},
    {"description", 0, CLI_VALUE, "TEXT", "the dataset's description"},
    {"version-description", 0, CLI_VALUE, "TEXT", "the version's description"},
    {"specification-version", 0, CLI_VALUE, "TAG", "the data specification version"},
    {"attestation-version", 0, CLI_VALUE, "TAG", "the data attestation version"},
    {"tags", 0, CLI_VALUE, "TEXT", "tags"},
    {0, 0, 0, 0, 0}};

static int run_dataset(const cli_args *a) {
  const char *name = cli_require(a, "name");
  const char *tag = name ? cli_require(a, "version-tag") : NULL;
  if (!tag)
    return CLI_EXIT_ERROR;
  char *ubuf;
  const char *url = cli_url_arg(a->pos[0], &ubuf);
  if (!url)
    return cli_error(CLI_EXIT_ERROR, "no URL on standard input");
  escrow_client *c;
  int st = connect_client(a, &c);
  if (st) {
    if (ubuf)
      sodium_memzero(ubuf, strlen(ubuf));
    free(ubuf);
    return st;
  }
  escrow_api_version_fields v = {name, cli_get(a, "description"), tag,
                                 cli_get(a, "version-description")};
  escrow_api_dataset_fields d = {url, cli_get(a, "specification-version"),
                                 cli_get(a, "attestation-version"), cli_get(a, "tags")};
  escrow_api_artifact *out = NULL;
  int rc = escrow_client_dataset(c, &v, &d, &out);
  if (ubuf) {
    sodium_memzero(ubuf, strlen(ubuf));
    free(ubuf);
  }
  st = rc ? api_fail(c, rc, "dataset") : print_json(out->json);
  escrow_api_artifact_free(out);
  escrow_client_close(c);
  return st;
}

const cli_command cli_cmd_api_dataset = {
    "api", "dataset", "api dataset SAS-URL|- --name NAME --version-tag TAG [...] --base-url URL ...",
    "Register a dataset version by its container SAS URL.",
    "Give the SAS URL as '-' to read it from standard input (keeps the token out of the process "
    "list). The answer shows the dataset's location without its token.",
    dataset_opts, 1, 1, run_dataset};

/* ---- accept-criteria, versions, notifications ---------------------------------------------- */

static const cli_opt conn_only[] = {CONN_OPTS, {0, 0, 0, 0, 0}};

static int finish_answer(escrow_client *c, int rc, escrow_api_answer *ans, const char *what) {
  int st = rc ? api_fail(c, rc, what) : print_json(ans->json);
  escrow_api_answer_free(ans);
  escrow_client_close(c);
  return st;
}

static int run_accept(const cli_args *a) {
  escrow_client *c;
  int st = connect_client(a, &c);
  if (st)
    return st;
  escrow_api_answer *ans = NULL;
  int rc = escrow_client_accept_criteria(c, a->pos[0], &ans);
  return finish_answer(c, rc, ans, "criteria acceptance");
}

const cli_command cli_cmd_api_accept_criteria = {
    "api", "accept-criteria", "api accept-criteria TAG --base-url URL ...",
    "Accept a validation criteria version (data steward).", NULL, conn_only, 1, 1, run_accept};

static const cli_opt versions_opts[] = {
    CONN_OPTS,
    {"type", 0, CLI_VALUE, "TYPE", "only this artifact type (wcek, validation_criteria, ...)"},
    {0, 0, 0, 0, 0}};

static int run_versions(const cli_args *a) {
  escrow_client *c;
  int st = connect_client(a, &c);
  if (st)
    return st;
  escrow_api_versions *v = NULL;
  int rc = escrow_client_versions(c, cli_get(a, "type"), &v);
  st = rc ? api_fail(c, rc, "versions") : print_json(v->json);
  escrow_api_versions_free(v);
  escrow_client_close(c);
  return st;
}

const cli_command cli_cmd_api_versions = {
    "api", "versions", "api versions [--type TYPE] --base-url URL ...",
    "List the project's artifact versions you may see.", NULL, versions_opts, 0, 0,
    run_versions};

static int run_notifications(const cli_args *a) {
  escrow_client *c;
  int st = connect_client(a, &c);
  if (st)
    return st;
  escrow_api_answer *ans = NULL;
  int rc = escrow_client_notifications(c, &ans);
  return finish_answer(c, rc, ans, "notifications");
}

const cli_command cli_cmd_api_notifications = {
    "api", "notifications", "api notifications --base-url URL ...",
    "Your notifications for the project.", NULL, conn_only, 0, 0, run_notifications};

/* ---- runs --------------------------------------------------------------------------------- */

static const cli_opt run_opts[] = {
    CONN_OPTS,
    RUN_OPTS,
    {"run-number", 0, CLI_VALUE, "N", "the run (default: the latest)"},
    {"machine-type", 0, CLI_VALUE, "TYPE", "run-request: cpu-standard-<vCPUs>"},
    {"param", 0, CLI_LIST, "NAME=VALUE", "run-request: runtime parameters"},
    {"reason", 0, CLI_VALUE, "TEXT", "run-reject: the reason"},
    {"name", 0, CLI_VALUE, "NAME", "run-configuration: its name"},
    {"description", 0, CLI_VALUE, "TEXT", "run-configuration: its description"},
    {"run-type", 0, CLI_VALUE, "TYPE", "run-configuration: validation (default) or training"},
    {"output", 'o', CLI_VALUE, "PATH", "report-download: also save the report content; "
                                       "model-download, log-download: where to save"},
    {0, 0, 0, 0, 0}};

static int run_ref(const cli_args *a, escrow_api_run_ref *r) {
  r->algorithm_version = cli_require(a, "algorithm-version");
  if (!r->algorithm_version)
    return CLI_EXIT_ERROR;
  r->dataset_version = cli_require(a, "dataset-version");
  if (!r->dataset_version)
    return CLI_EXIT_ERROR;
  r->run_number = 0;
  const char *n = cli_get(a, "run-number");
  if (n) {
    char *end;
    long long v = strtoll(n, &end, 10);
    if (*end || v <= 0)
      return cli_usage_error(a->cmd, "--run-number must be a positive number");
    r->run_number = v;
  }
  return CLI_EXIT_OK;
}

static int run_runs(const cli_args *a) {
  escrow_api_run_ref r;
  int st = run_ref(a, &r);
  if (st)
    return st;
  const char *name = a->cmd->name;
  if (strcmp(name, "run-request") == 0 && !cli_require(a, "machine-type"))
    return CLI_EXIT_ERROR;
  if (strcmp(name, "run-reject") == 0 && !cli_require(a, "reason"))
    return CLI_EXIT_ERROR;
  if (strcmp(name, "run-configuration") == 0 && !cli_require(a, "name"))
    return CLI_EXIT_ERROR;
  escrow_client *c;
  if ((st = connect_client(a, &c)))
    return st;
  int rc;
  if (strcmp(name, "report-download") == 0) {
    escrow_api_report *rep = NULL;
    rc = escrow_client_report_download(c, &r, &rep);
    if (rc) {
      st = api_fail(c, rc, "report download");
    } else {
      const char *o = cli_get(a, "output");
      if (o) {
        int e = cli_write_file_atomic(o, (const uint8_t *)rep->report_content, rep->report_len,
                                      0600);
        if (e)
          st = cli_error(CLI_EXIT_ERROR, "cannot write '%s': %s", o, strerror(-e));
      }
      if (!st)
        st = print_json(rep->json);
    }
    escrow_api_report_free(rep);
    escrow_client_close(c);
    return st;
  }
  if (strcmp(name, "run-configuration") == 0) {
    escrow_api_answer *ans = NULL;
    rc = escrow_client_run_configuration(c, cli_get(a, "name"), &r, cli_get(a, "description"),
                                         cli_get(a, "run-type"), &ans);
    return finish_answer(c, rc, ans, name);
  }
  if (strcmp(name, "model-download") == 0 || strcmp(name, "log-download") == 0) {
    const char *o = cli_get(a, "output");
    if (!o) {
      escrow_client_close(c);
      return cli_usage_error(a->cmd, "-o PATH is required");
    }
    struct stat sb;
    if (stat(o, &sb) == 0) {
      escrow_client_close(c);
      return cli_error(CLI_EXIT_ERROR, "'%s' exists: it is not replaced", o);
    }
    cli_progress p;
    cli_progress_init(&p, "downloading", 0, CLI_PROGRESS_MIN_BYTES, 0);
    rc = escrow_client_download(c, name[0] == 'm' ? ESCROW_API_MODEL : ESCROW_API_LOG, &r, o,
                                cli_progress_cb, &p);
    cli_progress_end(&p);
    if (rc) {
      st = api_fail(c, rc, name);
    } else {
      cli_json j;
      if ((st = cli_json_init(&j)) == CLI_EXIT_OK) {
        cli_json_open(&j);
        cli_json_kv_string(&j, "saved", o);
        cli_json_kv_u64(&j, "size", stat(o, &sb) == 0 ? (uint64_t)sb.st_size : 0);
        cli_json_close(&j);
        st = cli_json_print(&j);
      }
    }
    escrow_client_close(c);
    return st;
  }
  escrow_api_run *run = NULL;
  if (strcmp(name, "run-status") == 0) {
    rc = escrow_client_run_status(c, &r, &run);
  } else if (strcmp(name, "run-request") == 0) {
    size_t np = 0;
    const char *const *params = cli_list(a, "param", &np);
    rc = escrow_client_run_request(c, &r, cli_get(a, "machine-type"), params, np, &run);
  } else if (strcmp(name, "initiate-run") == 0) {
    rc = escrow_client_initiate_run(c, &r, &run);
  } else if (strcmp(name, "run-reject") == 0) {
    rc = escrow_client_run_reject(c, &r, cli_get(a, "reason"), &run);
  } else {
    rc = escrow_client_run_cancel(c, &r, &run);
  }
  st = rc ? api_fail(c, rc, name) : print_json(run->json);
  escrow_api_run_free(run);
  escrow_client_close(c);
  return st;
}

#define RUN_CMD(var, word, extra, summary)                                                    \
  const cli_command var = {"api", word,                                                      \
                           "api " word " --algorithm-version TAG --dataset-version TAG" extra \
                           " --base-url URL ...",                                            \
                           summary, NULL, run_opts, 0, 0, run_runs}

RUN_CMD(cli_cmd_api_run_configuration, "run-configuration", " --name NAME [--run-type T]",
        "Create a run configuration: an algorithm version with a dataset version (AO).");
RUN_CMD(cli_cmd_api_run_status, "run-status", " [--run-number N]",
        "A run's status, stage and number (and whether its TEE is simulated).");
RUN_CMD(cli_cmd_api_run_request, "run-request", " --machine-type T [--param N=V...]",
        "Request a run of a configuration (algorithm owner).");
RUN_CMD(cli_cmd_api_initiate_run, "initiate-run", "", "Initiate a requested run.");
RUN_CMD(cli_cmd_api_run_reject, "run-reject", " --reason TEXT",
        "Reject a requested run (data steward).");
RUN_CMD(cli_cmd_api_run_cancel, "run-cancel", " [--run-number N]", "Cancel a run.");
RUN_CMD(cli_cmd_api_model_download, "model-download", " [--run-number N] -o PATH",
        "Save a training run's model (encrypted to the algorithm owner's CEK).");
RUN_CMD(cli_cmd_api_log_download, "log-download", " [--run-number N] -o PATH",
        "Save a run's platform log lines (JSON).");
RUN_CMD(cli_cmd_api_report_download, "report-download", " [--run-number N] [-o PATH]",
        "Download a run's validation report.");
