/*
 * escrow command: encrypted files and folders (encrypt, decrypt, inspect).
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Totals of a folder walk. */
typedef struct tally {
  uint64_t files, bytes;
  unsigned v1, v0, other; /* formats of the *.bkenc files (decrypt) */
} tally;

static int tally_plain(void *payload, const char *rel, const char *full, const struct stat *st) {
  (void)rel;
  (void)full;
  tally *t = payload;
  t->files++;
  t->bytes += (uint64_t)st->st_size;
  return 0;
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* Count the formats of the encrypted files of a dataset folder (the manifest excluded). */
static int tally_formats(void *payload, const char *rel, const char *full, const struct stat *st) {
  (void)st;
  tally *t = payload;
  if (!ends_with(rel, ".bkenc") || strcmp(rel, ESCROW_MANIFEST_FILE) == 0) return 0;
  uint8_t magic[ESCROW_BKENC_MAGIC_BYTES];
  ssize_t got = -1;
  int fd = open(full, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    got = read(fd, magic, sizeof magic);
    close(fd);
  }
  escrow_file_format f =
      got > 0 ? escrow_detect_format(magic, (size_t)got) : ESCROW_FORMAT_UNKNOWN;
  if (f == ESCROW_FORMAT_V1)
    t->v1++;
  else if (f == ESCROW_FORMAT_V0)
    t->v0++;
  else
    t->other++;
  return 0;
}

static int print_result(const char *format, uint64_t files, uint64_t bytes, const char *out) {
  cli_json j;
  int status = cli_json_init(&j);
  if (status != CLI_EXIT_OK) return status;
  cli_json_open(&j);
  cli_json_kv_string(&j, "format", format);
  cli_json_kv_u64(&j, "files", files);
  cli_json_kv_u64(&j, "bytes", bytes);
  cli_json_kv_string(&j, "output", out);
  cli_json_close(&j);
  return cli_json_print(&j);
}

static int stat_input(const char *in, struct stat *st) {
  if (stat(in, st) != 0)
    return cli_error(CLI_EXIT_ERROR, "cannot read '%s': %s", in, strerror(errno));
  if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))
    return cli_error(CLI_EXIT_ERROR, "'%s' is neither a file nor a folder", in);
  return CLI_EXIT_OK;
}

/* ---- encrypt ------------------------------------------------------------------------------- */

static int parse_log2cs(const cli_args *a, unsigned *out) {
  const char *v = cli_get(a, "chunk-size-log2");
  *out = 0;
  if (!v) return CLI_EXIT_OK;
  char *end = NULL;
  errno = 0;
  unsigned long n = strtoul(v, &end, 10);
  if (errno || !end || *end || v[0] == '-' || n < ESCROW_BKENC_LOG2CS_MIN ||
      n > ESCROW_BKENC_LOG2CS_MAX)
    return cli_usage_error(a->cmd, "--chunk-size-log2 must be %d..%d, not '%s'",
                           ESCROW_BKENC_LOG2CS_MIN, ESCROW_BKENC_LOG2CS_MAX, v);
  *out = (unsigned)n;
  return CLI_EXIT_OK;
}

static int encrypt_to(const cli_args *a, const char *out) {
  const char *cek_path = cli_require(a, "cek");
  if (!cek_path) return CLI_EXIT_ERROR;
  const char *in = a->pos[0];
  escrow_file_format format;
  unsigned log2cs;
  int status = cli_parse_format(a, &format);
  if (status == CLI_EXIT_OK) status = parse_log2cs(a, &log2cs);
  if (status != CLI_EXIT_OK) return status;
  struct stat st;
  if ((status = stat_input(in, &st)) != CLI_EXIT_OK) return status;
  int is_dir = S_ISDIR(st.st_mode);
  if (is_dir && cli_get(a, "path"))
    return cli_usage_error(a->cmd, "--path applies to a single file (a folder's files get "
                                   "their relative paths)");
  if (!is_dir && cli_get(a, "dataset-version"))
    return cli_usage_error(a->cmd, "--dataset-version applies to a folder");
  if (format == ESCROW_FORMAT_V0 &&
      (log2cs || cli_get(a, "project") || cli_get(a, "role") || cli_get(a, "asset") ||
       cli_get(a, "key-id") || cli_get(a, "path") || cli_get(a, "dataset-version")))
    cli_warn("v0 has no header: --chunk-size-log2, context options and --dataset-version are "
             "ignored");

  escrow_cek *cek = NULL;
  if ((status = cli_load_cek(&cek, cek_path)) != CLI_EXIT_OK) return status;
  cli_progress prog;
  int rc;
  tally t = {0};
  if (!is_dir) {
    escrow_encrypt_options opts = ESCROW_ENCRYPT_OPTIONS_INIT;
    opts.log2cs = log2cs;
    cli_context_from_args(a, &opts.context);
    opts.context.path = cli_get(a, "path") ? cli_get(a, "path") : cli_basename(in);
    cli_progress_init(&prog, "encrypting", 0, (uint64_t)st.st_size, 0);
    rc = escrow_encrypt_file(cek, &opts, format, in, out, NULL, cli_progress_cb, &prog);
    cli_progress_end(&prog);
    t.files = 1;
    t.bytes = (uint64_t)st.st_size;
  } else {
    escrow_dataset_options opts = ESCROW_DATASET_OPTIONS_INIT;
    opts.format = format;
    cli_context_from_args(a, &opts.context);
    opts.dataset_version = cli_get(a, "dataset-version");
    cli_progress_init(&prog, "encrypting", 0, 0, 1);
    opts.progress = cli_progress_cb;
    opts.progress_payload = &prog;
    rc = escrow_dataset_encrypt(in, out, cek, &opts);
    cli_progress_end(&prog);
    if (rc == 0) {
      int e = cli_walk(in, tally_plain, &t);
      if (e != 0)
        cli_warn("cannot count the files of '%s': %s (the output is complete)", in,
                 strerror(-e));
    }
  }
  escrow_cek_free(cek);
  if (rc != 0) return cli_fail(rc, "cannot encrypt '%s'", in);
  return print_result(format == ESCROW_FORMAT_V0 ? "v0" : "v1", t.files, t.bytes, out);
}

/* A single file encrypted into an existing folder becomes <folder>/<name>.bkenc; decrypted, it
 * becomes <folder>/<name without .bkenc>. Returns 0 or an exit status; *alloc is freed by the
 * caller. */
static int file_output(const cli_args *a, const char *out, const char *suffix_add,
                       const char *suffix_strip, char **alloc) {
  const char *in = a->pos[0];
  *alloc = NULL;
  if (cli_is_dir(in) || !cli_is_dir(out)) return CLI_EXIT_OK;
  const char *base = cli_basename(in);
  size_t blen = strlen(base);
  if (suffix_strip) {
    size_t sl = strlen(suffix_strip);
    if (blen <= sl || strcmp(base + blen - sl, suffix_strip) != 0)
      return cli_usage_error(a->cmd, "'%s' is a folder and '%s' does not end in %s: name the "
                                     "output file",
                             out, base, suffix_strip);
    blen -= sl;
  }
  size_t ol = strlen(out);
  size_t n = ol + 1 + blen + (suffix_add ? strlen(suffix_add) : 0) + 1;
  *alloc = malloc(n);
  if (!*alloc) return cli_error(CLI_EXIT_ERROR, "out of memory");
  snprintf(*alloc, n, "%s%s%.*s%s", out, ol && out[ol - 1] == '/' ? "" : "/", (int)blen, base,
           suffix_add ? suffix_add : "");
  return CLI_EXIT_OK;
}

static int run_encrypt(const cli_args *a) {
  const char *out = cli_require(a, "output");
  if (!out) return CLI_EXIT_ERROR;
  char *alloc = NULL;
  int status = file_output(a, out, ".bkenc", NULL, &alloc);
  if (status == CLI_EXIT_OK) status = encrypt_to(a, alloc ? alloc : out);
  free(alloc);
  return status;
}

static const cli_opt encrypt_opts[] = {
    {"cek", 0, CLI_VALUE, "CEK", "the CEK file"},
    {"output", 'o', CLI_VALUE, "OUT",
     "output file, or an existing folder for IN's name + .bkenc (a file); new folder (a folder)"},
    {"format", 0, CLI_VALUE, "v1|v0", "v1 (default) or legacy v0 (BeeKeeperAI's hosted service)"},
    {"chunk-size-log2", 0, CLI_VALUE, "N", "v1 chunk size 2^N bytes, 14..24 (default 16)"},
    CLI_CONTEXT_OPTS,
    {"path", 0, CLI_VALUE, "P", "relative path written in the header (default: IN's name)"},
    {"dataset-version", 0, CLI_VALUE, "V", "dataset version written in a folder's manifest"},
    {0, 0, 0, 0, 0}};

const cli_command cli_cmd_encrypt = {
    NULL, "encrypt",
    "encrypt --cek CEK [--format v1|v0] [--chunk-size-log2 N] [--project ID] [--role ao|ds] "
    "[--asset ID@TAG] [--key-id ID] [--path P] [--dataset-version V] IN -o OUT",
    "Encrypt a file, or a folder file by file (each to <relpath>.bkenc, plus a MAC'd manifest "
    "in v1).",
    "The header of each v1 file carries the context given and the file's relative path (for a "
    "single file, its name unless --path is given). Prints {\"format\": \"v1\", \"files\": N, "
    "\"bytes\": N, \"output\": OUT}. After a failure no output is left.",
    encrypt_opts, 1, 1, run_encrypt};

/* ---- decrypt ------------------------------------------------------------------------------- */

static int decrypt_to(const cli_args *a, const char *out) {
  const char *cek_path = cli_require(a, "cek");
  if (!cek_path) return CLI_EXIT_ERROR;
  const char *in = a->pos[0];
  struct stat st;
  int status = stat_input(in, &st);
  if (status != CLI_EXIT_OK) return status;
  int is_dir = S_ISDIR(st.st_mode);
  if (is_dir && cli_get(a, "expect-path"))
    return cli_usage_error(a->cmd, "--expect-path applies to a single file (a folder's files "
                                   "are checked against where they are found)");
  if (!is_dir && cli_flag(a, "require-manifest"))
    return cli_usage_error(a->cmd, "--require-manifest applies to a folder");

  escrow_cek *cek = NULL;
  if ((status = cli_load_cek(&cek, cek_path)) != CLI_EXIT_OK) return status;
  cli_progress prog;
  int rc;
  const char *format = "v1";
  tally t = {0};
  if (!is_dir) {
    uint8_t magic[ESCROW_BKENC_MAGIC_BYTES];
    ssize_t got = -1;
    int fd = open(in, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      got = read(fd, magic, sizeof magic);
      close(fd);
    }
    if (got > 0 && escrow_detect_format(magic, (size_t)got) == ESCROW_FORMAT_V0) format = "v0";
    escrow_decrypt_options opts = ESCROW_DECRYPT_OPTIONS_INIT;
    opts.expect_path = cli_get(a, "expect-path");
    cli_progress_init(&prog, "decrypting", 0, (uint64_t)st.st_size, 0);
    rc = escrow_decrypt_file(cek, &opts, in, out, cli_progress_cb, &prog);
    cli_progress_end(&prog);
    if (rc == 0) {
      struct stat ost;
      t.files = 1;
      if (stat(out, &ost) == 0) t.bytes = (uint64_t)ost.st_size;
    }
  } else {
    escrow_dataset_options opts = ESCROW_DATASET_OPTIONS_INIT;
    opts.require_manifest = cli_flag(a, "require-manifest");
    cli_progress_init(&prog, "decrypting", 0, 0, 1);
    opts.progress = cli_progress_cb;
    opts.progress_payload = &prog;
    rc = escrow_dataset_decrypt(in, out, cek, &opts);
    cli_progress_end(&prog);
    if (rc == 0) {
      int e = cli_walk(out, tally_plain, &t);
      if (e == 0) e = cli_walk(in, tally_formats, &t);
      if (e != 0)
        cli_warn("cannot count the files of '%s': %s (the output is complete)", out,
                 strerror(-e));
      format = t.v0 && (t.v1 || t.other) ? "mixed" : t.v0 ? "v0" : "v1";
    }
  }
  escrow_cek_free(cek);
  if (rc != 0) return cli_fail(rc, "cannot decrypt '%s'", in);
  return print_result(format, t.files, t.bytes, out);
}

static int run_decrypt(const cli_args *a) {
  const char *out = cli_require(a, "output");
  if (!out) return CLI_EXIT_ERROR;
  char *alloc = NULL;
  int status = file_output(a, out, NULL, ".bkenc", &alloc);
  if (status == CLI_EXIT_OK) status = decrypt_to(a, alloc ? alloc : out);
  free(alloc);
  return status;
}

static const cli_opt decrypt_opts[] = {
    {"cek", 0, CLI_VALUE, "CEK", "the CEK file"},
    {"output", 'o', CLI_VALUE, "OUT",
     "output file, or an existing folder for IN's name without .bkenc (a file); new folder "
     "(a folder)"},
    {"require-manifest", 0, CLI_FLAG, NULL, "refuse a folder without a dataset manifest"},
    {"expect-path", 0, CLI_VALUE, "P", "refuse a v1 file whose header path is not P"},
    {0, 0, 0, 0, 0}};

const cli_command cli_cmd_decrypt = {
    NULL, "decrypt", "decrypt --cek CEK IN -o OUT [--require-manifest] [--expect-path P]",
    "Decrypt a file (v1 or v0, told by its magic) or a folder of .bkenc files.",
    "Plaintext is released only once verified: after any failure (wrong key, altered, "
    "truncated, swapped or missing file) no output is left. A folder with a manifest is "
    "checked against it. Prints {\"format\": \"v1\"|\"v0\", \"files\": N, \"bytes\": N, "
    "\"output\": OUT}.",
    decrypt_opts, 1, 1, run_decrypt};

/* ---- inspect ------------------------------------------------------------------------------- */

static int inspect_v1(const cli_args *a, const char *path, const uint8_t *buf, size_t len,
                      uint64_t file_size) {
  escrow_header *h = NULL;
  size_t needed = 0;
  int rc = escrow_header_parse(&h, buf, len, &needed);
  if (rc != 0) return cli_fail(rc, "'%s' is not a valid BKENC v1 file", path);

  int status = CLI_EXIT_OK;
  int verified = 0;
  const char *cek_path = cli_get(a, "cek");
  if (cek_path) {
    escrow_cek *cek = NULL;
    status = cli_load_cek(&cek, cek_path);
    if (status != CLI_EXIT_OK) {
      escrow_header_free(h);
      return status;
    }
    rc = escrow_header_verify(h, cek);
    escrow_cek_free(cek);
    if (rc == 0)
      verified = 1;
    else
      status = cli_fail(rc, "the header of '%s' does not verify with '%s'", path, cek_path);
  }

  unsigned log2cs = escrow_header_log2cs(h);
  size_t hlen = escrow_header_length(h);
  uint64_t pt = 0;
  int size_ok = escrow_bkenc_plaintext_size(&pt, file_size, log2cs, hlen) == 0;
  if (!size_ok && status == CLI_EXIT_OK)
    status = cli_fail(ESCROW_E_TRUNCATED,
                      "the size of '%s' matches no plaintext size (truncated or extended)",
                      path);
  uint64_t cs = UINT64_C(1) << log2cs;
  uint64_t chunks = pt == 0 ? 1 : (pt + cs - 1) / cs;

  static const char *const ctx_names[] = {NULL, "project_id", "role", "asset", "path", "key_id"};
  cli_json j;
  int js = cli_json_init(&j);
  if (js != CLI_EXIT_OK) {
    escrow_header_free(h);
    return js;
  }
  cli_json_open(&j);
  cli_json_kv_string(&j, "format", "v1");
  cli_json_kv_u64(&j, "version", ESCROW_BKENC_VERSION);
  cli_json_kv_string(&j, "suite", "AES-256-GCM/HKDF-SHA-256/HMAC-SHA-256");
  cli_json_kv_u64(&j, "chunk_size", cs);
  cli_json_kv_u64(&j, "log2cs", log2cs);
  cli_json_key(&j, "salt");
  cli_json_hex(&j, escrow_header_salt(h), ESCROW_BKENC_SALT_BYTES);
  cli_json_key(&j, "hdrtag");
  cli_json_hex(&j, escrow_header_hdrtag(h), ESCROW_BKENC_HDRTAG_BYTES);
  cli_json_kv_u64(&j, "header_length", hlen);
  cli_json_key(&j, "context");
  cli_json_open(&j);
  for (unsigned type = 1; type <= 5; type++)
    cli_json_kv_string(&j, ctx_names[type], escrow_header_context(h, type));
  cli_json_close(&j);
  cli_json_key(&j, "plaintext_size");
  if (size_ok)
    cli_json_u64(&j, pt);
  else
    cli_json_null(&j);
  cli_json_key(&j, "chunks");
  if (size_ok)
    cli_json_u64(&j, chunks);
  else
    cli_json_null(&j);
  cli_json_kv_bool(&j, "verified", verified);
  cli_json_close(&j);
  escrow_header_free(h);
  js = cli_json_print(&j);
  return status != CLI_EXIT_OK ? status : js;
}

static int inspect_v0(const cli_args *a, const char *path, const uint8_t *buf, size_t len,
                      uint64_t file_size) {
  if (len < ESCROW_LEGACY_OVERHEAD)
    return cli_error(CLI_EXIT_NEGATIVE,
                     "'%s' starts like a legacy v0 file but is too short to be one (%zu bytes, "
                     "at least %d needed)",
                     path, len, ESCROW_LEGACY_OVERHEAD);
  if (cli_get(a, "cek"))
    cli_warn("a v0 file has no header tag: --cek is not used (decrypt it to verify it)");
  cli_json j;
  int status = cli_json_init(&j);
  if (status != CLI_EXIT_OK) return status;
  cli_json_open(&j);
  cli_json_kv_string(&j, "format", "v0");
  cli_json_key(&j, "salt");
  cli_json_hex(&j, buf + 8, 8);
  cli_json_kv_u64(&j, "plaintext_size", file_size - ESCROW_LEGACY_OVERHEAD);
  cli_json_kv_bool(&j, "verified", 0);
  cli_json_close(&j);
  return cli_json_print(&j);
}

static int run_inspect(const cli_args *a) {
  const char *path = a->pos[0];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return cli_error(CLI_EXIT_ERROR, "cannot read '%s': %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return cli_error(CLI_EXIT_ERROR, "'%s' is not a regular file", path);
  }
  uint8_t *buf = malloc(ESCROW_BKENC_HEADER_MAX);
  if (!buf) {
    close(fd);
    return cli_error(CLI_EXIT_ERROR, "out of memory");
  }
  size_t len = 0;
  while (len < ESCROW_BKENC_HEADER_MAX) {
    ssize_t r = read(fd, buf + len, ESCROW_BKENC_HEADER_MAX - len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = errno;
      free(buf);
      close(fd);
      return cli_error(CLI_EXIT_ERROR, "cannot read '%s': %s", path, strerror(e));
    }
    if (r == 0) break;
    len += (size_t)r;
  }
  close(fd);
  int status;
  switch (escrow_detect_format(buf, len)) {
  case ESCROW_FORMAT_V1:
    status = inspect_v1(a, path, buf, len, (uint64_t)st.st_size);
    break;
  case ESCROW_FORMAT_V0:
    status = inspect_v0(a, path, buf, len, (uint64_t)st.st_size);
    break;
  default:
    status = cli_error(CLI_EXIT_NEGATIVE,
                       "'%s' is not an encrypted file: it starts with neither the BKENC v1 "
                       "magic nor the legacy \"Salted__\"",
                       path);
  }
  free(buf);
  return status;
}

static const cli_opt inspect_opts[] = {
    {"cek", 0, CLI_VALUE, "CEK", "verify the v1 header tag with this CEK (exit 1 if it fails)"},
    {0, 0, 0, 0, 0}};

const cli_command cli_cmd_inspect = {
    NULL, "inspect", "inspect FILE [--cek CEK]",
    "Show the header of an encrypted file as JSON (no key needed; --cek also verifies it).",
    "v1: {\"format\": \"v1\", \"version\", \"suite\", \"chunk_size\", \"log2cs\", \"salt\", "
    "\"hdrtag\", \"header_length\", \"context\": {...}, \"plaintext_size\", \"chunks\", "
    "\"verified\"}. v0: {\"format\": \"v0\", \"salt\", \"plaintext_size\", \"verified\": false}. "
    "Anything else: exit 1.",
    inspect_opts, 1, 1, run_inspect};
