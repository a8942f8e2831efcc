/*
 * escrow criteria check|validate|validate --jsonl|audit (DESIGN §11): validation criteria with
 * Cerberus 1.3 semantics, over libescrow's escrow_criteria_* calls.
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CRITERIA_MAX_FILE ((size_t)256 << 20)

static int read_input(const char *path, uint8_t **buf, size_t *len) {
  int rc = cli_read_small_file(path, CRITERIA_MAX_FILE, buf, len);
  if (rc == -EFBIG) return cli_error(CLI_EXIT_ERROR, "'%s' is larger than 256 MiB", path);
  if (rc != 0) return cli_error(CLI_EXIT_ERROR, "cannot read '%s': %s", path, strerror(-rc));
  return 0;
}

static int print_text(const char *text) {
  size_t len = strlen(text);
  if (fwrite(text, 1, len, stdout) != len || fputc('\n', stdout) == EOF || fflush(stdout) != 0)
    return cli_error(CLI_EXIT_ERROR, "cannot write to stdout: %s", strerror(errno));
  return CLI_EXIT_OK;
}

/* Compile; on a schema error print {"valid":false,"schema_errors":...} and return 1. */
static int compile_file(const char *path, escrow_criteria **out, int print_errors,
                        const escrow_criteria_options *opts) {
  uint8_t *buf = NULL;
  size_t len = 0;
  int st = read_input(path, &buf, &len);
  if (st) return st;
  char *errs = NULL;
  int rc = escrow_criteria_compile(out, (const char *)buf, len, opts, &errs);
  free(buf);
  if (rc == 0) return CLI_EXIT_OK;
  if (rc == ESCROW_E_FORMAT && print_errors) {
    fprintf(stderr, "escrow: the criteria '%s' are refused: %s\n", path, escrow_error_last());
    printf("{\"valid\":false,\"schema_errors\":%s,\"message\":", errs ? errs : "null");
    /* the message as a JSON string */
    const char *m = escrow_error_last();
    putchar('"');
    for (const char *p = m; *p; p++) {
      unsigned char c = (unsigned char)*p;
      if (c == '"' || c == '\\') printf("\\%c", c);
      else if (c < 0x20) printf("\\u%04x", c);
      else putchar(c);
    }
    printf("\"}\n");
    fflush(stdout);
    escrow_free(errs);
    return CLI_EXIT_NEGATIVE;
  }
  escrow_free(errs);
  return cli_fail(rc, "cannot compile the criteria '%s'", path);
}

static int run_check(const cli_args *a) {
  escrow_criteria *c = NULL;
  int st = compile_file(a->pos[0], &c, 1, NULL);
  if (st) return st;
  escrow_criteria_free(c);
  return print_text("{\"valid\":true,\"schema_errors\":{}}");
}

static int run_jsonl(void) {
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int status = CLI_EXIT_OK;
  while ((n = getline(&line, &cap, stdin)) > 0) {
    size_t len = (size_t)n;
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
    if (!len) continue;
    char *res = NULL;
    int rc = escrow_criteria_check_pair(line, len, &res);
    if (rc != 0) {
      const char *m = escrow_error_last();
      printf("{\"valid\":null,\"exception\":\"JSONDecodeError\",\"message\":\"");
      for (const char *p = m; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '"' || ch == '\\') printf("\\%c", ch);
        else if (ch < 0x20) printf("\\u%04x", ch);
        else putchar(ch);
      }
      printf("\"}\n");
      continue;
    }
    fputs(res, stdout);
    fputc('\n', stdout);
    escrow_free(res);
  }
  free(line);
  if (fflush(stdout) != 0)
    status = cli_error(CLI_EXIT_ERROR, "cannot write to stdout: %s", strerror(errno));
  return status;
}

static int run_validate(const cli_args *a) {
  if (cli_flag(a, "jsonl")) {
    if (a->npos != 0) return cli_usage_error(a->cmd, "--jsonl reads stdin: no files");
    return run_jsonl();
  }
  if (a->npos != 2) return cli_usage_error(a->cmd, "expected CRITERIA.json and DOC.json");
  escrow_criteria *c = NULL;
  escrow_criteria_options opts = ESCROW_CRITERIA_OPTIONS_INIT;
  opts.redact_values = cli_flag(a, "redact-values");
  int st = compile_file(a->pos[0], &c, 0, &opts);
  if (st) return st;
  uint8_t *buf = NULL;
  size_t len = 0;
  st = read_input(a->pos[1], &buf, &len);
  if (st) {
    escrow_criteria_free(c);
    return st;
  }
  int valid = 0;
  char *answer = NULL;
  int rc = escrow_criteria_validate_report(c, (const char *)buf, len, &valid, &answer);
  free(buf);
  escrow_criteria_free(c);
  if (rc != 0) return cli_fail(rc, "cannot validate '%s'", a->pos[1]);
  st = print_text(answer);
  escrow_free(answer);
  if (st) return st;
  return valid ? CLI_EXIT_OK : CLI_EXIT_NEGATIVE;
}

static int run_audit(const cli_args *a) {
  escrow_criteria *c = NULL;
  int st = compile_file(a->pos[0], &c, 1, NULL);
  if (st) return st;
  char *json = NULL;
  int rc = escrow_criteria_audit(c, &json);
  escrow_criteria_free(c);
  if (rc != 0) return cli_fail(rc, "cannot audit '%s'", a->pos[0]);
  st = print_text(json);
  escrow_free(json);
  return st;
}

static const cli_opt no_opts[] = {{0}};
static const cli_opt validate_opts[] = {
    {"jsonl", 0, CLI_FLAG, NULL,
     "read {\"schema\",\"document\",\"options\"?} lines on stdin, write {\"valid\",\"errors\"} lines"},
    {"redact-values", 0, CLI_FLAG, NULL,
     "say <redacted> where a message would quote the report's values (what the enclave sends)"},
    {0}};

const cli_command cli_cmd_criteria_check = {
    "criteria", "check", "criteria check CRITERIA.json",
    "Check validation criteria (a Cerberus 1.3 schema) as the platform does at upload.",
    "Prints {\"valid\": true, \"schema_errors\": {}} or, exit 1, the SchemaError tree Cerberus "
    "would give.",
    no_opts, 1, 1, run_check};

const cli_command cli_cmd_criteria_validate = {
    "criteria", "validate", "criteria validate CRITERIA.json DOC.json [--redact-values] | --jsonl",
    "Validate a report against criteria with Cerberus 1.3 semantics.",
    "DOC.json is the report's json_data: a JSON object, a JSON string holding JSON, or base64 "
    "of JSON. Prints {\"status\": \"successful\"|\"failed\", \"message\": <errors>}; exit 1 when "
    "it failed. With --jsonl, reads the differential-test protocol on stdin.",
    validate_opts, 0, 2, run_validate};

const cli_command cli_cmd_criteria_audit = {
    "criteria", "audit", "criteria audit CRITERIA.json",
    "List the channels through which a conforming report can carry free-form information.",
    "Prints {\"channels\": [{\"path\", \"kind\", \"bits\", \"reason\"}], \"bounded\", "
    "\"total_bits\"}; docs/CRITERIA.md explains the method.",
    no_opts, 1, 1, run_audit};
