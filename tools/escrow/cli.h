/*
 * escrow command: shared plumbing for the command handlers (option parsing, JSON output,
 * error reporting and exit codes, progress, small file helpers).
 *
 * A command is a row of the dispatch table in main.c: a group ("cek", "wcek", ...) or NULL for
 * a top-level command ("encrypt"), a name, an option table and a handler. Handlers are thin:
 * they read their arguments, call libescrow and print one JSON document on stdout; human
 * messages go to stderr. They return the process exit status (CLI_EXIT_*).
 */
#ifndef ESCROW_CLI_H
#define ESCROW_CLI_H

#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <yajl/yajl_gen.h>

#include <escrow/escrow.h>

/* Exit statuses (DESIGN §11). */
#define CLI_EXIT_OK 0
#define CLI_EXIT_NEGATIVE 1 /* a negative answer: invalid, failed check, failed authentication */
#define CLI_EXIT_ERROR 2    /* usage or runtime error: bad arguments, missing file, I/O, memory */

#if defined(__GNUC__)
#define CLI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CLI_PRINTF(f, a)
#endif

/* ---- commands and options ---------------------------------------------------------------- */

typedef enum cli_opt_kind {
  CLI_FLAG,  /* --name */
  CLI_VALUE, /* --name V, --name=V (or -x V for a short name); at most once */
  CLI_LIST   /* --name V... : every following argument up to the next option; repeatable */
} cli_opt_kind;

typedef struct cli_opt {
  const char *name; /* long name without "--" */
  char short_name;  /* 0 if none */
  cli_opt_kind kind;
  const char *metavar; /* shown in help, NULL for flags */
  const char *help;
} cli_opt;

#define CLI_MAX_OPTS 24
#define CLI_MAX_POS 8

struct cli_args;

typedef struct cli_command {
  const char *group;    /* "cek", "kek", "wcek", "algorithm", ... or NULL */
  const char *name;     /* "generate", "encrypt", ... */
  const char *synopsis; /* the usage line after "escrow " */
  const char *summary;  /* one line */
  const char *details;  /* a paragraph for --help (may be NULL) */
  const cli_opt *opts;  /* terminated by a zero row */
  unsigned min_pos, max_pos;
  int (*run)(const struct cli_args *a);
} cli_command;

typedef struct cli_args {
  const cli_command *cmd;
  const char *value[CLI_MAX_OPTS]; /* CLI_VALUE: the value; CLI_FLAG: "1" when given */
  const char **list[CLI_MAX_OPTS]; /* CLI_LIST: the values (allocated) */
  size_t list_n[CLI_MAX_OPTS];
  const char *pos[CLI_MAX_POS];
  size_t npos;
} cli_args;

/* Parse argv (the words after the command name) against cmd->opts. Returns 0, or prints a
 * usage error and returns CLI_EXIT_ERROR; *help is set to 1 (and 0 returned) for -h/--help.
 * Free with cli_args_free. */
int cli_args_parse(cli_args *a, const cli_command *cmd, int argc, char **argv, int *help);
void cli_args_free(cli_args *a);

/* The value of an option, or NULL if it was not given. */
const char *cli_get(const cli_args *a, const char *name);
/* 1 if a flag was given. */
int cli_flag(const cli_args *a, const char *name);
/* The values of a CLI_LIST option (NULL and 0 if not given). */
const char *const *cli_list(const cli_args *a, const char *name, size_t *n);

/* Print a usage error for cmd ("escrow: <message>", then its usage line and a pointer to
 * --help) on stderr. Returns CLI_EXIT_ERROR. */
int cli_usage_error(const cli_command *cmd, const char *fmt, ...) CLI_PRINTF(2, 3);
/* Print the full help of a command on stdout. */
void cli_print_help(const cli_command *cmd);
/* "escrow <group> <name>" (static buffer). */
const char *cli_command_name(const cli_command *cmd);

/* A required option: returns its value, or NULL after printing a usage error. */
const char *cli_require(const cli_args *a, const char *name);

/* ---- errors ------------------------------------------------------------------------------- */

/* Map a libescrow error code to an exit status: authentication, format, mismatch, truncation,
 * unsupported, key, limit and check failures are negative answers (1); everything else
 * (invalid arguments, missing files, I/O, memory, crypto backend) is an error (2). */
int cli_exit_for(int code);

/* Print "escrow: <what>: <escrow_error_last()>" and a hint saying what to do on stderr, and
 * return cli_exit_for(code). */
int cli_fail(int code, const char *fmt, ...) CLI_PRINTF(2, 3);

/* Print "escrow: <message>" on stderr (for errors outside the library) and return status. */
int cli_error(int status, const char *fmt, ...) CLI_PRINTF(2, 3);

/* Print "escrow: warning: <message>" on stderr. */
void cli_warn(const char *fmt, ...) CLI_PRINTF(1, 2);

/* Load a CEK file with the library; on failure prints why and returns the exit status. */
int cli_load_cek(escrow_cek **out, const char *path);

/* Parse "v1"/"v0" (NULL = v1); prints a usage error and returns CLI_EXIT_ERROR when invalid.
 * Warns on stderr that v0 is legacy. */
int cli_parse_format(const cli_args *a, escrow_file_format *out);

/* The option rows of the v1 header context, shared by encrypt and algorithm pack. */
#define CLI_CONTEXT_OPTS                                                                      \
  {"project", 0, CLI_VALUE, "ID", "project id written in v1 headers (context 0x01)"},          \
      {"role", 0, CLI_VALUE, "ao|ds", "role written in v1 headers (context 0x02)"},             \
      {"asset", 0, CLI_VALUE, "ID@TAG", "asset id and version tag (context 0x03)"},            \
      {"key-id", 0, CLI_VALUE, "ID", "WCEK version tag or sha256:<hex> of the KEK (0x05)"}

/* Fill a context from --project, --role, --asset, --key-id (validation is the library's). */
void cli_context_from_args(const cli_args *a, escrow_context *ctx);

/* ---- JSON on stdout ---------------------------------------------------------------------- */

typedef struct cli_json {
  yajl_gen g;
  int failed;
} cli_json;

int cli_json_init(cli_json *j); /* CLI_EXIT_OK or CLI_EXIT_ERROR (out of memory) */
void cli_json_free(cli_json *j);
void cli_json_open(cli_json *j);  /* { */
void cli_json_close(cli_json *j); /* } */
void cli_json_array_open(cli_json *j);
void cli_json_array_close(cli_json *j);
void cli_json_key(cli_json *j, const char *key);
void cli_json_string(cli_json *j, const char *value); /* NULL writes null */
void cli_json_u64(cli_json *j, uint64_t value);
void cli_json_bool(cli_json *j, int value);
void cli_json_null(cli_json *j);
void cli_json_hex(cli_json *j, const uint8_t *data, size_t len);
/* key + value shorthands */
void cli_json_kv_string(cli_json *j, const char *key, const char *value);
void cli_json_kv_u64(cli_json *j, const char *key, uint64_t value);
void cli_json_kv_bool(cli_json *j, const char *key, int value);
/* Print the document and a newline on stdout, flush, free. Returns CLI_EXIT_OK or
 * CLI_EXIT_ERROR (generation or write failure, reported on stderr). */
int cli_json_print(cli_json *j);

/* ---- progress ---------------------------------------------------------------------------- */

#define CLI_PROGRESS_MIN_BYTES (UINT64_C(64) << 20)

typedef struct cli_progress {
  const char *label;
  int enabled;
  int files; /* counts files rather than bytes */
  int last_permille;
  int printed;
} cli_progress;

/* Progress shows only when stderr is a terminal and the work is large (size >= 64 MiB, or a
 * folder). Pass cli_progress_cb with the struct as payload to the library. */
void cli_progress_init(cli_progress *p, const char *label, int files, uint64_t size,
                       int is_folder);
void cli_progress_cb(void *payload, uint64_t done, uint64_t total);
void cli_progress_end(cli_progress *p);

/* ---- files ------------------------------------------------------------------------------- */

int cli_is_dir(const char *path);
/* An output path: if opt is NULL, name (in the current folder); if opt is an existing folder,
 * opt/name; else opt. *out is allocated (free()). Returns 0 or CLI_EXIT_ERROR. */
int cli_output_path(const char *opt, const char *name, char **out);
/* The last component of a path (borrowed pointer into path, trailing '/' not handled). */
const char *cli_basename(const char *path);

/* Write data to path atomically: a temporary file in the same folder, fsync, then linked to
 * path without replacing an existing file (EEXIST). On failure nothing is left. Returns 0 or
 * -errno. */
int cli_write_file_atomic(const char *path, const uint8_t *data, size_t len, mode_t mode);

/* Read a whole small file (at most max bytes; -EFBIG beyond). Returns 0 or -errno. */
int cli_read_small_file(const char *path, size_t max, uint8_t **out, size_t *out_len);

/* Call fn for every regular file under dir (recursively, sorted by name, symbolic links not
 * followed) with its path relative to dir. fn returns nonzero to stop. Returns 0, fn's value,
 * or -errno. */
typedef int (*cli_walk_fn)(void *payload, const char *relpath, const char *fullpath,
                           const struct stat *st);
int cli_walk(const char *dir, cli_walk_fn fn, void *payload);

/* ---- the commands ------------------------------------------------------------------------ */

extern const cli_command cli_cmd_cek_generate;
extern const cli_command cli_cmd_kek_generate;
extern const cli_command cli_cmd_wcek_wrap;
extern const cli_command cli_cmd_wcek_unwrap;
extern const cli_command cli_cmd_encrypt;
extern const cli_command cli_cmd_decrypt;
extern const cli_command cli_cmd_inspect;
extern const cli_command cli_cmd_algorithm_pack;
extern const cli_command cli_cmd_algorithm_check;
extern const cli_command cli_cmd_criteria_check;
extern const cli_command cli_cmd_criteria_validate;
extern const cli_command cli_cmd_criteria_audit;
extern const cli_command cli_cmd_sas_check, cli_cmd_sas_sign, cli_cmd_sas_verify, cli_cmd_blob_ls, cli_cmd_blob_get, cli_cmd_blob_put;
extern const cli_command cli_cmd_attest_sim_issuer, cli_cmd_attest_runtime_data, cli_cmd_attest_sim_token, cli_cmd_attest_verify_token, cli_cmd_attest_policy_eval;

/* A URL argument, or "-" to read it from the first line of standard input (keeps a SAS token,
 * a bearer secret, out of the process list). *buf receives what to free; NULL if stdin was
 * empty. */
const char *cli_url_arg(const char *arg, char **buf);

#endif
