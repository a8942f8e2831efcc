/*
 * escrow command: key commands (cek generate, kek generate, wcek wrap, wcek unwrap).
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Largest WCEK file read: an RSA-8192 wrap is 1 KiB; anything far larger is not a WCEK. */
#define WCEK_MAX_FILE 16384

static const char *oaep_name(escrow_oaep_hash h) {
  return h == ESCROW_OAEP_SHA1 ? "sha1" : "sha256";
}

static int parse_oaep(const cli_args *a, int allow_auto, escrow_oaep_hash *out) {
  const char *v = cli_get(a, "oaep");
  if (!v) {
    *out = allow_auto ? ESCROW_OAEP_AUTO : ESCROW_OAEP_SHA256;
    return CLI_EXIT_OK;
  }
  if (strcmp(v, "sha256") == 0)
    *out = ESCROW_OAEP_SHA256;
  else if (strcmp(v, "sha1") == 0)
    *out = ESCROW_OAEP_SHA1;
  else if (allow_auto && strcmp(v, "auto") == 0)
    *out = ESCROW_OAEP_AUTO;
  else
    return cli_usage_error(a->cmd, "--oaep must be %s, not '%s'",
                           allow_auto ? "auto, sha256 or sha1" : "sha256 or sha1", v);
  return CLI_EXIT_OK;
}

/* Save a CEK to the output path (-o PATH: a folder gets cek_<uuid>.key) and print
 * {"cek": path[, "oaep": oaep]}. */
static int save_cek_and_answer(const cli_args *a, const escrow_cek *cek, const char *oaep) {
  char name[ESCROW_CEK_FILENAME_SIZE];
  int rc = escrow_cek_filename(name, sizeof name);
  if (rc != 0) return cli_fail(rc, "cannot make a CEK file name");
  char *path = NULL;
  int status = cli_output_path(cli_get(a, "output"), name, &path);
  if (status != CLI_EXIT_OK) return status;
  rc = escrow_cek_save(cek, path, cli_flag(a, "base64") ? ESCROW_CEK_BASE64 : ESCROW_CEK_RAW);
  if (rc != 0) {
    status = cli_fail(rc, "cannot write the CEK to '%s'", path);
    free(path);
    return status;
  }
  cli_json j;
  status = cli_json_init(&j);
  if (status == CLI_EXIT_OK) {
    cli_json_open(&j);
    cli_json_kv_string(&j, "cek", path);
    if (oaep) cli_json_kv_string(&j, "oaep", oaep);
    cli_json_close(&j);
    status = cli_json_print(&j);
  }
  free(path);
  return status;
}

/* ---- cek generate -------------------------------------------------------------------------- */

static int run_cek_generate(const cli_args *a) {
  escrow_cek *cek = NULL;
  int rc = escrow_cek_generate(&cek);
  if (rc != 0) return cli_fail(rc, "cannot generate a CEK");
  int status = save_cek_and_answer(a, cek, NULL);
  escrow_cek_free(cek);
  return status;
}

static const cli_opt cek_generate_opts[] = {
    {"output", 'o', CLI_VALUE, "PATH",
     "output file, or a folder to put cek_<uuid>.key in (default: the current folder)"},
    {"base64", 0, CLI_FLAG, NULL, "write base64 and a newline instead of 32 raw bytes"},
    {0, 0, 0, 0, 0}};

const cli_command cli_cmd_cek_generate = {
    "cek", "generate", "cek generate [-o PATH] [--base64]",
    "Generate a content encryption key (CEK): 32 random bytes, file mode 0600.",
    "Prints {\"cek\": PATH}. An existing file is never replaced.", cek_generate_opts, 0, 0,
    run_cek_generate};

/* ---- kek generate -------------------------------------------------------------------------- */

static int run_kek_generate(const cli_args *a) {
  const char *project = cli_require(a, "project");
  if (!project) return CLI_EXIT_ERROR;
  const char *role = cli_require(a, "role");
  if (!role) return CLI_EXIT_ERROR;
  if (strcmp(role, "ao") != 0 && strcmp(role, "ds") != 0)
    return cli_usage_error(a->cmd, "--role must be ao or ds, not '%s'", role);
  unsigned bits = 0;
  const char *bits_s = cli_get(a, "bits");
  if (bits_s) {
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(bits_s, &end, 10);
    if (errno || !end || *end || bits_s[0] == '-' || v == 0 || v > 16384)
      return cli_usage_error(a->cmd, "--bits must be a number of bits such as 4096, not '%s'",
                             bits_s);
    bits = (unsigned)v;
  }
  const char *dir = cli_get(a, "output");
  if (dir && !cli_is_dir(dir))
    return cli_error(CLI_EXIT_ERROR,
                     "-o must name an existing folder: '%s' is not one (create it first)", dir);

  size_t nsize = strlen(project) + 32;
  char *pub_name = malloc(nsize), *priv_name = malloc(nsize);
  char *pub_path = NULL, *priv_path = NULL;
  escrow_kek *kek = NULL;
  int status = CLI_EXIT_ERROR, rc;
  if (!pub_name || !priv_name) {
    status = cli_error(CLI_EXIT_ERROR, "out of memory");
    goto out;
  }
  rc = escrow_kek_filenames(project, role, pub_name, nsize, priv_name, nsize);
  if (rc != 0) {
    status = cli_fail(rc, "cannot make the KEK file names");
    goto out;
  }
  if ((status = cli_output_path(dir, pub_name, &pub_path)) != CLI_EXIT_OK ||
      (status = cli_output_path(dir, priv_name, &priv_path)) != CLI_EXIT_OK)
    goto out;
  if (isatty(STDERR_FILENO))
    fprintf(stderr, "escrow: generating an RSA-%u key pair...\n",
            bits ? bits : ESCROW_KEK_DEFAULT_BITS);
  rc = escrow_kek_generate(&kek, bits);
  if (rc != 0) {
    status = cli_fail(rc, "cannot generate the KEK");
    goto out;
  }
  rc = escrow_kek_public_save(kek, pub_path, ESCROW_KEY_DER);
  if (rc != 0) {
    status = cli_fail(rc, "cannot write the public KEK to '%s'", pub_path);
    goto out;
  }
  rc = escrow_kek_private_save(kek, priv_path);
  if (rc != 0) {
    status = cli_fail(rc, "cannot write the private KEK to '%s'", priv_path);
    unlink(pub_path); /* no half-made pair is left behind */
    goto out;
  }
  char key_id[ESCROW_KEY_ID_SIZE];
  rc = escrow_kek_key_id(kek, key_id, sizeof key_id);
  if (rc != 0) {
    status = cli_fail(rc, "cannot compute the key id");
    unlink(pub_path);
    unlink(priv_path);
    goto out;
  }
  cli_json j;
  status = cli_json_init(&j);
  if (status == CLI_EXIT_OK) {
    cli_json_open(&j);
    cli_json_kv_string(&j, "public", pub_path);
    cli_json_kv_string(&j, "private", priv_path);
    cli_json_kv_string(&j, "key_id", key_id);
    cli_json_close(&j);
    status = cli_json_print(&j);
  }
out:
  escrow_kek_free(kek);
  free(pub_name);
  free(priv_name);
  free(pub_path);
  free(priv_path);
  return status;
}

static const cli_opt kek_generate_opts[] = {
    {"project", 0, CLI_VALUE, "NAME", "project name (used in the file names)"},
    {"role", 0, CLI_VALUE, "ao|ds", "the party: algorithm owner or data steward"},
    {"output", 'o', CLI_VALUE, "DIR", "existing folder for the two files (default: current folder)"},
    {"bits", 0, CLI_VALUE, "N", "RSA modulus size (default 4096; under 3072 is refused)"},
    {0, 0, 0, 0, 0}};

const cli_command cli_cmd_kek_generate = {
    "kek", "generate", "kek generate --project NAME --role ao|ds [-o DIR] [--bits N]",
    "Generate a key encryption key (KEK) pair: <name><rand>-<role>.der (public, DER SPKI) and "
    "<name><rand>-<role>.key.pem (PKCS#8, mode 0600).",
    "In a real project the platform's vault generates KEKs; this command is for tests and "
    "self-hosting. Prints {\"public\": PATH, \"private\": PATH, \"key_id\": \"sha256:...\"}.",
    kek_generate_opts, 0, 0, run_kek_generate};

/* ---- wcek wrap ----------------------------------------------------------------------------- */

static int run_wcek_wrap(const cli_args *a) {
  const char *kek_path = cli_require(a, "kek");
  if (!kek_path) return CLI_EXIT_ERROR;
  const char *cek_path = cli_require(a, "cek");
  if (!cek_path) return CLI_EXIT_ERROR;
  escrow_oaep_hash hash;
  int status = parse_oaep(a, 0, &hash);
  if (status != CLI_EXIT_OK) return status;

  escrow_kek *kek = NULL;
  escrow_cek *cek = NULL;
  uint8_t *wcek = NULL;
  size_t wcek_len = 0;
  char *path = NULL;
  char key_id[ESCROW_KEY_ID_SIZE];
  int rc = escrow_kek_public_load(&kek, kek_path);
  if (rc != 0) {
    status = cli_fail(rc, "cannot read the public KEK '%s'", kek_path);
    goto out;
  }
  if ((status = cli_load_cek(&cek, cek_path)) != CLI_EXIT_OK) goto out;
  rc = escrow_wcek_wrap(kek, cek, hash, &wcek, &wcek_len);
  if (rc == 0) rc = escrow_kek_key_id(kek, key_id, sizeof key_id);
  if (rc != 0) {
    status = cli_fail(rc, "cannot wrap the CEK");
    goto out;
  }
  char name[ESCROW_WCEK_FILENAME_SIZE];
  rc = escrow_wcek_filename(name, sizeof name);
  if (rc != 0) {
    status = cli_fail(rc, "cannot make a WCEK file name");
    goto out;
  }
  if ((status = cli_output_path(cli_get(a, "output"), name, &path)) != CLI_EXIT_OK) goto out;
  int e = cli_write_file_atomic(path, wcek, wcek_len, 0644);
  if (e != 0) {
    status = cli_error(CLI_EXIT_ERROR, "cannot write the WCEK to '%s': %s%s", path, strerror(-e),
                       e == -EEXIST ? " (choose another path, or remove the file first)" : "");
    goto out;
  }
  cli_json j;
  status = cli_json_init(&j);
  if (status == CLI_EXIT_OK) {
    cli_json_open(&j);
    cli_json_kv_string(&j, "wcek", path);
    cli_json_kv_string(&j, "oaep", oaep_name(hash));
    cli_json_kv_string(&j, "kek_key_id", key_id);
    cli_json_close(&j);
    status = cli_json_print(&j);
  }
out:
  escrow_free(wcek);
  escrow_kek_free(kek);
  escrow_cek_free(cek);
  free(path);
  return status;
}

static const cli_opt wcek_wrap_opts[] = {
    {"kek", 0, CLI_VALUE, "KEK", "the public KEK (DER, PEM or base64 of the DER)"},
    {"cek", 0, CLI_VALUE, "CEK", "the CEK file to wrap"},
    {"oaep", 0, CLI_VALUE, "sha256|sha1",
     "RSA-OAEP hash (default sha256; sha1 is what BeeKeeperAI's published tool writes)"},
    {"output", 'o', CLI_VALUE, "PATH",
     "output file, or a folder for wcek_<uuid>.key.bkenc (default: the current folder)"},
    {0, 0, 0, 0, 0}};

const cli_command cli_cmd_wcek_wrap = {
    "wcek", "wrap", "wcek wrap --kek KEK --cek CEK [--oaep sha256|sha1] [-o PATH]",
    "Wrap a CEK with a project's public KEK (RSA-OAEP): the WCEK uploaded to the platform.",
    "Prints {\"wcek\": PATH, \"oaep\": \"sha256\", \"kek_key_id\": \"sha256:...\"}.",
    wcek_wrap_opts, 0, 0, run_wcek_wrap};

/* ---- wcek unwrap --------------------------------------------------------------------------- */

static int run_wcek_unwrap(const cli_args *a) {
  const char *key_path = cli_require(a, "private-key");
  if (!key_path) return CLI_EXIT_ERROR;
  const char *wcek_path = cli_require(a, "wcek");
  if (!wcek_path) return CLI_EXIT_ERROR;
  escrow_oaep_hash hash, used = ESCROW_OAEP_SHA256;
  int status = parse_oaep(a, 1, &hash);
  if (status != CLI_EXIT_OK) return status;

  escrow_kek *kek = NULL;
  escrow_cek *cek = NULL;
  uint8_t *wcek = NULL;
  size_t wcek_len = 0;
  int e = cli_read_small_file(wcek_path, WCEK_MAX_FILE, &wcek, &wcek_len);
  if (e != 0) {
    if (e == -EFBIG)
      return cli_error(CLI_EXIT_NEGATIVE,
                       "'%s' is not a WCEK: it is larger than %d bytes (a WCEK is as long as "
                       "the KEK's modulus, 512 bytes for RSA-4096)",
                       wcek_path, WCEK_MAX_FILE);
    return cli_error(CLI_EXIT_ERROR, "cannot read the WCEK '%s': %s", wcek_path, strerror(-e));
  }
  int rc = escrow_kek_private_load(&kek, key_path);
  if (rc != 0) {
    status = cli_fail(rc, "cannot read the private KEK '%s'", key_path);
    goto out;
  }
  rc = escrow_wcek_unwrap(&cek, kek, wcek, wcek_len, hash, &used);
  if (rc != 0) {
    status = cli_fail(rc, "cannot unwrap '%s'", wcek_path);
    if (rc == ESCROW_E_AUTH)
      fprintf(stderr, "escrow: check that the private key belongs to the KEK the CEK was "
                      "wrapped with%s\n",
              hash == ESCROW_OAEP_AUTO ? "" : ", or try --oaep auto");
    goto out;
  }
  status = save_cek_and_answer(a, cek, oaep_name(used));
out:
  escrow_cek_free(cek);
  escrow_kek_free(kek);
  free(wcek);
  return status;
}

static const cli_opt wcek_unwrap_opts[] = {
    {"private-key", 0, CLI_VALUE, "KEY", "the private KEK (PKCS#8 PEM or DER)"},
    {"wcek", 0, CLI_VALUE, "WCEK", "the wrapped CEK file"},
    {"oaep", 0, CLI_VALUE, "auto|sha256|sha1",
     "RSA-OAEP hash (default auto: SHA-256, then SHA-1)"},
    {"output", 'o', CLI_VALUE, "PATH",
     "output CEK file, or a folder for cek_<uuid>.key (default: the current folder)"},
    {"base64", 0, CLI_FLAG, NULL, "write the CEK as base64 and a newline instead of raw bytes"},
    {0, 0, 0, 0, 0}};

const cli_command cli_cmd_wcek_unwrap = {
    "wcek", "unwrap",
    "wcek unwrap --private-key KEY --wcek WCEK [--oaep auto|sha256|sha1] [-o PATH] [--base64]",
    "Unwrap a WCEK with the private KEK and write the CEK (mode 0600).",
    "Prints {\"cek\": PATH, \"oaep\": \"sha256\"|\"sha1\"} (the hash that worked).",
    wcek_unwrap_opts, 0, 0, run_wcek_unwrap};
