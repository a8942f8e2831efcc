/*
 * escrow command: algorithm packages (algorithm pack, algorithm check).
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

/* A WCEK is as long as the KEK's modulus: 384 bytes (RSA-3072) to 1024 (RSA-8192), or the
 * base64 of that (with a newline). Anything outside this range cannot be a WCEK. */
#define WCEK_MIN_FILE 384
#define WCEK_MAX_FILE 1400

/* ---- algorithm pack ------------------------------------------------------------------------ */

static int run_algorithm_pack(const cli_args *a) {
  const char *dir = a->pos[0];
  const char *cek_path = cli_require(a, "cek");
  if (!cek_path) return CLI_EXIT_ERROR;
  const char *out = cli_require(a, "output");
  if (!out) return CLI_EXIT_ERROR;
  escrow_file_format format;
  int status = cli_parse_format(a, &format);
  if (status != CLI_EXIT_OK) return status;
  if (!cli_is_dir(dir))
    return cli_error(CLI_EXIT_ERROR, "'%s' is not a folder: pass the algorithm's folder", dir);
  size_t n_secrets = 0;
  const char *const *secrets = cli_list(a, "encrypt", &n_secrets);

  escrow_cek *cek = NULL;
  if ((status = cli_load_cek(&cek, cek_path)) != CLI_EXIT_OK) return status;
  escrow_pack_options opts = ESCROW_PACK_OPTIONS_INIT;
  opts.format = format;
  cli_context_from_args(a, &opts.context);
  cli_progress prog;
  cli_progress_init(&prog, "packing", 1, 0, 1);
  opts.progress = cli_progress_cb;
  opts.progress_payload = &prog;
  int rc = escrow_algorithm_pack(dir, cek, secrets, n_secrets, &opts, out);
  cli_progress_end(&prog);
  escrow_cek_free(cek);
  if (rc != 0) return cli_fail(rc, "cannot pack '%s'", dir);

  /* Report what the package holds, as a reader sees it. */
  escrow_algorithm *alg = NULL;
  rc = escrow_algorithm_open(&alg, out, NULL);
  if (rc != 0) return cli_fail(rc, "the package '%s' was written but cannot be read back", out);
  cli_json j;
  status = cli_json_init(&j);
  if (status == CLI_EXIT_OK) {
    cli_json_open(&j);
    cli_json_kv_string(&j, "zip", out);
    cli_json_kv_string(&j, "format", format == ESCROW_FORMAT_V0 ? "v0" : "v1");
    cli_json_key(&j, "secrets");
    cli_json_array_open(&j);
    size_t n = escrow_algorithm_secret_count(alg);
    for (size_t i = 0; i < n; i++) {
      const char *enc = NULL, *orig = NULL;
      if (escrow_algorithm_secret(alg, i, &enc, &orig) != 0) continue;
      cli_json_array_open(&j);
      cli_json_string(&j, enc);
      cli_json_string(&j, orig);
      cli_json_array_close(&j);
    }
    cli_json_array_close(&j);
    cli_json_close(&j);
    status = cli_json_print(&j);
  }
  escrow_algorithm_free(alg);
  return status;
}

static const cli_opt algorithm_pack_opts[] = {
    {"cek", 0, CLI_VALUE, "CEK", "the CEK file"},
    {"encrypt", 0, CLI_LIST, "PATH",
     "files or folders (relative to DIR) to encrypt; default: DIR/secrets.yaml's list"},
    {"output", 'o', CLI_VALUE, "ALG.zip", "the package to write"},
    {"format", 0, CLI_VALUE, "v1|v0", "v1 (default) or legacy v0 (BeeKeeperAI's hosted service)"},
    CLI_CONTEXT_OPTS,
    {0, 0, 0, 0, 0}};

const cli_command cli_cmd_algorithm_pack = {
    "algorithm", "pack",
    "algorithm pack DIR --cek CEK [--encrypt PATH...] [--format v1|v0] [--project ID] "
    "[--role ao|ds] [--asset ID@TAG] [--key-id ID] -o ALG.zip",
    "Package an algorithm folder: the Dockerfile, entry point and other files as they are, the "
    "secret files encrypted to <path>.bkenc, and a generated secrets.yaml.",
    "--encrypt takes every following argument up to the next option, so put DIR before it. "
    "Prints {\"zip\": PATH, \"format\": \"v1\", \"secrets\": [[\"model/weights.json.bkenc\", "
    "\"model/weights.json\"], ...]}. Upload the WCEK of the CEK separately.",
    algorithm_pack_opts, 1, 1, run_algorithm_pack};

/* ---- algorithm check ----------------------------------------------------------------------- */

/* 1 if path is a readable file of a plausible WCEK size, 0 if not (with a note why). */
static int wcek_present(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    cli_warn("the WCEK '%s' cannot be read: %s", path, strerror(errno));
    return 0;
  }
  if (!S_ISREG(st.st_mode)) {
    cli_warn("the WCEK '%s' is not a file", path);
    return 0;
  }
  if (st.st_size < WCEK_MIN_FILE || st.st_size > WCEK_MAX_FILE) {
    cli_warn("'%s' (%lld bytes) cannot be a WCEK: a WCEK is as long as the KEK's modulus "
             "(512 bytes for RSA-4096)",
             path, (long long)st.st_size);
    return 0;
  }
  FILE *f = fopen(path, "rb");
  if (!f) {
    cli_warn("the WCEK '%s' cannot be read: %s", path, strerror(errno));
    return 0;
  }
  fclose(f);
  return 1;
}

static int run_algorithm_check(const cli_args *a) {
  const char *zip = a->pos[0];
  const char *wcek = cli_get(a, "wcek");
  int present = wcek ? wcek_present(wcek) : -1;

  escrow_algorithm *alg = NULL;
  int rc = escrow_algorithm_open(&alg, zip, NULL);
  if (rc != 0) return cli_fail(rc, "cannot open the package '%s'", zip);
  char *json = NULL;
  rc = escrow_algorithm_check(alg, present, &json);
  escrow_algorithm_free(alg);
  if (rc != 0) return cli_fail(rc, "cannot check the package '%s'", zip);

  /* The library says whether every check passed; the exit status follows it. */
  char err[128];
  yajl_val root = yajl_tree_parse(json, err, sizeof err);
  const char *key[] = {"passed", NULL};
  yajl_val passed = root ? yajl_tree_get(root, key, yajl_t_any) : NULL;
  int ok = passed && YAJL_IS_TRUE(passed);
  int valid = root && passed && (YAJL_IS_TRUE(passed) || YAJL_IS_FALSE(passed));
  if (root) yajl_tree_free(root);
  if (!valid) {
    escrow_free(json);
    return cli_error(CLI_EXIT_ERROR, "internal error: the check result is not the expected JSON");
  }
  int status = CLI_EXIT_OK;
  size_t len = strlen(json);
  if (fwrite(json, 1, len, stdout) != len || (len && json[len - 1] != '\n' && fputc('\n', stdout) == EOF) ||
      fflush(stdout) != 0)
    status = cli_error(CLI_EXIT_ERROR, "cannot write the answer to stdout: %s", strerror(errno));
  escrow_free(json);
  if (status != CLI_EXIT_OK) return status;
  if (!ok) {
    fprintf(stderr, "escrow: '%s' fails the upload checks (see \"checks\" in the answer)\n", zip);
    return CLI_EXIT_NEGATIVE;
  }
  if (present < 0)
    fprintf(stderr, "escrow: note: the WCEK was not checked (pass --wcek FILE)\n");
  return CLI_EXIT_OK;
}

static const cli_opt algorithm_check_opts[] = {
    {"wcek", 0, CLI_VALUE, "F", "the WCEK file that goes with the package"},
    {0, 0, 0, 0, 0}};

const cli_command cli_cmd_algorithm_check = {
    "algorithm", "check", "algorithm check ALG.zip [--wcek F]",
    "Run the platform's upload checks on an algorithm package (manual 14.5.5).",
    "Prints {\"passed\": bool, \"checks\": [{\"name\", \"status\", \"detail\"}, ...]}. Exit 0 "
    "when no check failed (the WCEK check is \"not checked\" without --wcek), 1 otherwise.",
    algorithm_check_opts, 1, 1, run_algorithm_check};
