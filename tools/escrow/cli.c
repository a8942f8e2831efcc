/*
 * escrow command: shared plumbing (see cli.h).
 */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- commands and options ---------------------------------------------------------------- */

const char *cli_command_name(const cli_command *cmd) {
  static char buf[128];
  if (cmd->group)
    snprintf(buf, sizeof buf, "escrow %s %s", cmd->group, cmd->name);
  else
    snprintf(buf, sizeof buf, "escrow %s", cmd->name);
  return buf;
}

static size_t opt_count(const cli_command *cmd) {
  size_t n = 0;
  while (cmd->opts && cmd->opts[n].name) n++;
  return n;
}

static int find_long(const cli_command *cmd, const char *name, size_t len) {
  size_t n = opt_count(cmd);
  for (size_t i = 0; i < n; i++)
    if (strlen(cmd->opts[i].name) == len && memcmp(cmd->opts[i].name, name, len) == 0)
      return (int)i;
  return -1;
}

static int find_short(const cli_command *cmd, char c) {
  size_t n = opt_count(cmd);
  for (size_t i = 0; i < n; i++)
    if (cmd->opts[i].short_name == c) return (int)i;
  return -1;
}

static const char *opt_label(const cli_opt *o) {
  static char buf[80];
  snprintf(buf, sizeof buf, "--%s", o->name);
  return buf;
}

void cli_args_free(cli_args *a) {
  for (size_t i = 0; i < CLI_MAX_OPTS; i++) {
    free((void *)a->list[i]);
    a->list[i] = NULL;
    a->list_n[i] = 0;
  }
}

int cli_args_parse(cli_args *a, const cli_command *cmd, int argc, char **argv, int *help) {
  memset(a, 0, sizeof *a);
  a->cmd = cmd;
  *help = 0;
  int only_pos = 0;
  for (int i = 0; i < argc; i++) {
    const char *arg = argv[i];
    int idx = -1;
    const char *inline_val = NULL;
    if (!only_pos && strcmp(arg, "--") == 0) {
      only_pos = 1;
      continue;
    }
    if (!only_pos && (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)) {
      *help = 1;
      return 0;
    }
    if (!only_pos && arg[0] == '-' && arg[1] == '-') {
      const char *name = arg + 2;
      const char *eq = strchr(name, '=');
      size_t len = eq ? (size_t)(eq - name) : strlen(name);
      idx = find_long(cmd, name, len);
      if (idx < 0)
        return cli_usage_error(cmd, "unknown option '--%.*s'", (int)len, name);
      if (eq) inline_val = eq + 1;
    } else if (!only_pos && arg[0] == '-' && arg[1] != '\0') {
      if (arg[2] != '\0' || (idx = find_short(cmd, arg[1])) < 0)
        return cli_usage_error(cmd, "unknown option '%s'", arg);
    } else {
      if (a->npos >= cmd->max_pos || a->npos >= CLI_MAX_POS)
        return cli_usage_error(cmd, "unexpected argument '%s'", arg);
      a->pos[a->npos++] = arg;
      continue;
    }

    const cli_opt *o = &cmd->opts[idx];
    if (o->kind == CLI_FLAG) {
      if (inline_val) return cli_usage_error(cmd, "%s takes no value", opt_label(o));
      a->value[idx] = "1";
      continue;
    }
    if (o->kind == CLI_VALUE) {
      if (a->value[idx]) return cli_usage_error(cmd, "%s given twice", opt_label(o));
      if (!inline_val) {
        if (i + 1 >= argc) return cli_usage_error(cmd, "%s needs a value", opt_label(o));
        inline_val = argv[++i];
      }
      a->value[idx] = inline_val;
      continue;
    }
    /* CLI_LIST: the inline value and/or every following non-option argument. */
    if (!a->list[idx]) {
      a->list[idx] = calloc((size_t)argc + 1, sizeof(char *));
      if (!a->list[idx]) return cli_error(CLI_EXIT_ERROR, "out of memory");
    }
    size_t before = a->list_n[idx];
    if (inline_val) a->list[idx][a->list_n[idx]++] = inline_val;
    while (i + 1 < argc && (argv[i + 1][0] != '-' || argv[i + 1][1] == '\0'))
      a->list[idx][a->list_n[idx]++] = argv[++i];
    if (a->list_n[idx] == before)
      return cli_usage_error(cmd, "%s needs at least one value", opt_label(o));
    for (size_t k = before; k < a->list_n[idx]; k++)
      if (a->list[idx][k][0] == '\0')
        return cli_usage_error(cmd, "%s: empty value", opt_label(o));
  }
  if (a->npos < cmd->min_pos) {
    if (cmd->min_pos == 1) return cli_usage_error(cmd, "missing argument");
    return cli_usage_error(cmd, "missing arguments (%u needed)", cmd->min_pos);
  }
  for (size_t i = 0; i < CLI_MAX_OPTS; i++)
    if (a->value[i] && a->value[i][0] == '\0')
      return cli_usage_error(cmd, "%s: empty value", opt_label(&cmd->opts[i]));
  return 0;
}

const char *cli_get(const cli_args *a, const char *name) {
  int i = find_long(a->cmd, name, strlen(name));
  return i < 0 ? NULL : a->value[i];
}

int cli_flag(const cli_args *a, const char *name) { return cli_get(a, name) != NULL; }

const char *const *cli_list(const cli_args *a, const char *name, size_t *n) {
  int i = find_long(a->cmd, name, strlen(name));
  if (i < 0) {
    *n = 0;
    return NULL;
  }
  *n = a->list_n[i];
  return a->list[i];
}

const char *cli_require(const cli_args *a, const char *name) {
  const char *v = cli_get(a, name);
  if (!v) cli_usage_error(a->cmd, "--%s is required", name);
  return v;
}

int cli_usage_error(const cli_command *cmd, const char *fmt, ...) {
  va_list ap;
  fputs("escrow: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nusage: escrow %s\n", cmd->synopsis);
  fprintf(stderr, "Try '%s --help' for more information.\n", cli_command_name(cmd));
  return CLI_EXIT_ERROR;
}

void cli_print_help(const cli_command *cmd) {
  printf("usage: escrow %s\n\n%s\n", cmd->synopsis, cmd->summary);
  if (cmd->details) printf("\n%s\n", cmd->details);
  size_t n = opt_count(cmd);
  printf("\noptions:\n");
  for (size_t i = 0; i < n; i++) {
    const cli_opt *o = &cmd->opts[i];
    char left[64];
    if (o->short_name)
      snprintf(left, sizeof left, "-%c, --%s%s%s", o->short_name, o->name, o->metavar ? " " : "",
               o->metavar ? o->metavar : "");
    else
      snprintf(left, sizeof left, "    --%s%s%s%s", o->name, o->metavar ? " " : "",
               o->metavar ? o->metavar : "", o->kind == CLI_LIST ? "..." : "");
    printf("  %-30s %s\n", left, o->help);
  }
  printf("  %-30s %s\n", "-h, --help", "show this help");
  printf("\nexit status: 0 success, 1 a negative answer (authentication, format or check "
         "failed),\n2 usage or runtime error. The answer is one JSON document on stdout.\n");
}

/* ---- errors ------------------------------------------------------------------------------- */

int cli_exit_for(int code) {
  switch (code) {
  case ESCROW_OK:
    return CLI_EXIT_OK;
  case ESCROW_E_AUTH:
  case ESCROW_E_FORMAT:
  case ESCROW_E_MISMATCH:
  case ESCROW_E_TRUNCATED:
  case ESCROW_E_UNSUPPORTED:
  case ESCROW_E_KEY:
  case ESCROW_E_LIMIT:
  case ESCROW_E_CHECK:
    return CLI_EXIT_NEGATIVE;
  default:
    return CLI_EXIT_ERROR;
  }
}

static const char *hint_for(int code) {
  switch (code) {
  case ESCROW_E_AUTH:
    return "check that the key is the one the data was encrypted or wrapped with; if it is, "
           "the data was altered or damaged: fetch it again";
  case ESCROW_E_MISMATCH:
    return "a file is authentic but not where it belongs (swapped, renamed, added, removed "
           "or an older version): fetch the whole set again";
  case ESCROW_E_TRUNCATED:
    return "the input ends early: copy or download it again";
  case ESCROW_E_FORMAT:
    return "the input is not in the expected format: check that you passed the right file";
  case ESCROW_E_UNSUPPORTED:
    return "the input uses a version or feature this build cannot read: update escrow";
  case ESCROW_E_KEY:
    return "check the key file (a CEK is 32 raw bytes or their base64; a KEK is an RSA key "
           "of at least 3072 bits)";
  case ESCROW_E_LIMIT:
    return "the input exceeds a size or count limit";
  case ESCROW_E_NOTFOUND:
    return "check the path";
  case ESCROW_E_EXISTS:
    return "choose another output path, or remove the existing one first";
  case ESCROW_E_IO:
    return "check the paths, permissions and free space";
  case ESCROW_E_NOMEM:
    return "the system ran out of memory";
  case ESCROW_E_INVALID:
    return "check the arguments (see --help)";
  default:
    return NULL;
  }
}

int cli_fail(int code, const char *fmt, ...) {
  const char *detail = escrow_error_last();
  if (!detail || !*detail) detail = escrow_strerror(code);
  va_list ap;
  fputs("escrow: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, ": %s\n", detail);
  const char *hint = hint_for(code);
  if (hint) fprintf(stderr, "escrow: %s\n", hint);
  return cli_exit_for(code);
}

int cli_error(int status, const char *fmt, ...) {
  va_list ap;
  fputs("escrow: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return status;
}

void cli_warn(const char *fmt, ...) {
  va_list ap;
  fputs("escrow: warning: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

int cli_load_cek(escrow_cek **out, const char *path) {
  int rc = escrow_cek_load(out, path);
  if (rc != 0) return cli_fail(rc, "cannot read the CEK '%s'", path);
  return CLI_EXIT_OK;
}

int cli_parse_format(const cli_args *a, escrow_file_format *out) {
  const char *f = cli_get(a, "format");
  if (!f || strcmp(f, "v1") == 0) {
    *out = ESCROW_FORMAT_V1;
    return CLI_EXIT_OK;
  }
  if (strcmp(f, "v0") == 0) {
    *out = ESCROW_FORMAT_V0;
    cli_warn("v0 is the legacy format, kept only for BeeKeeperAI's hosted service: it has no "
             "chunking, no header and no path binding; use v1 (the default) for anything else");
    return CLI_EXIT_OK;
  }
  return cli_usage_error(a->cmd, "--format must be v1 or v0, not '%s'", f);
}

void cli_context_from_args(const cli_args *a, escrow_context *ctx) {
  ctx->project_id = cli_get(a, "project");
  ctx->role = cli_get(a, "role");
  ctx->asset = cli_get(a, "asset");
  ctx->key_id = cli_get(a, "key-id");
}

/* ---- JSON ----------------------------------------------------------------------------------- */

int cli_json_init(cli_json *j) {
  j->failed = 0;
  j->g = yajl_gen_alloc(NULL);
  if (!j->g) return cli_error(CLI_EXIT_ERROR, "out of memory");
  yajl_gen_config(j->g, yajl_gen_validate_utf8, 1);
  return CLI_EXIT_OK;
}

void cli_json_free(cli_json *j) {
  if (j->g) yajl_gen_free(j->g);
  j->g = NULL;
}

#define JCHECK(j, call)                                                                        \
  do {                                                                                         \
    if (!(j)->failed && (call) != yajl_gen_status_ok) (j)->failed = 1;                         \
  } while (0)

void cli_json_open(cli_json *j) { JCHECK(j, yajl_gen_map_open(j->g)); }
void cli_json_close(cli_json *j) { JCHECK(j, yajl_gen_map_close(j->g)); }
void cli_json_array_open(cli_json *j) { JCHECK(j, yajl_gen_array_open(j->g)); }
void cli_json_array_close(cli_json *j) { JCHECK(j, yajl_gen_array_close(j->g)); }

void cli_json_string(cli_json *j, const char *value) {
  if (!value)
    JCHECK(j, yajl_gen_null(j->g));
  else
    JCHECK(j, yajl_gen_string(j->g, (const unsigned char *)value, strlen(value)));
}

void cli_json_key(cli_json *j, const char *key) { cli_json_string(j, key); }

void cli_json_u64(cli_json *j, uint64_t value) {
  char buf[24];
  int n = snprintf(buf, sizeof buf, "%" PRIu64, value);
  JCHECK(j, yajl_gen_number(j->g, buf, (size_t)n));
}

void cli_json_bool(cli_json *j, int value) { JCHECK(j, yajl_gen_bool(j->g, value != 0)); }
void cli_json_null(cli_json *j) { JCHECK(j, yajl_gen_null(j->g)); }

void cli_json_hex(cli_json *j, const uint8_t *data, size_t len) {
  static const char digits[] = "0123456789abcdef";
  char buf[2 * 64 + 1];
  if (len > 64) {
    j->failed = 1;
    return;
  }
  for (size_t i = 0; i < len; i++) {
    buf[2 * i] = digits[data[i] >> 4];
    buf[2 * i + 1] = digits[data[i] & 15];
  }
  buf[2 * len] = '\0';
  cli_json_string(j, buf);
}

void cli_json_kv_string(cli_json *j, const char *key, const char *value) {
  cli_json_key(j, key);
  cli_json_string(j, value);
}

void cli_json_kv_u64(cli_json *j, const char *key, uint64_t value) {
  cli_json_key(j, key);
  cli_json_u64(j, value);
}

void cli_json_kv_bool(cli_json *j, const char *key, int value) {
  cli_json_key(j, key);
  cli_json_bool(j, value);
}

int cli_json_print(cli_json *j) {
  const unsigned char *buf = NULL;
  size_t len = 0;
  int status = CLI_EXIT_OK;
  if (j->failed || yajl_gen_get_buf(j->g, &buf, &len) != yajl_gen_status_ok) {
    status = cli_error(CLI_EXIT_ERROR, "cannot build the JSON answer (a value is not valid "
                                       "UTF-8, or out of memory)");
  } else if (fwrite(buf, 1, len, stdout) != len || fputc('\n', stdout) == EOF ||
             fflush(stdout) != 0) {
    status = cli_error(CLI_EXIT_ERROR, "cannot write the answer to stdout: %s", strerror(errno));
  }
  cli_json_free(j);
  return status;
}

/* ---- progress ------------------------------------------------------------------------------- */

void cli_progress_init(cli_progress *p, const char *label, int files, uint64_t size,
                       int is_folder) {
  p->label = label;
  p->files = files;
  p->last_permille = -1;
  p->printed = 0;
  p->enabled = isatty(STDERR_FILENO) && (is_folder || size >= CLI_PROGRESS_MIN_BYTES);
}

void cli_progress_cb(void *payload, uint64_t done, uint64_t total) {
  cli_progress *p = payload;
  if (!p || !p->enabled) return;
  int permille = total ? (int)(done * 1000 / total) : -1;
  if (total && permille == p->last_permille) return;
  p->last_permille = permille;
  if (p->files) {
    if (total)
      fprintf(stderr, "\rescrow: %s: %" PRIu64 " of %" PRIu64 " files ", p->label, done, total);
    else
      fprintf(stderr, "\rescrow: %s: %" PRIu64 " files ", p->label, done);
  } else {
    double mib = (double)done / (1024.0 * 1024.0);
    if (total)
      fprintf(stderr, "\rescrow: %s: %.1f of %.1f MiB (%d.%d%%) ", p->label, mib,
              (double)total / (1024.0 * 1024.0), permille / 10, permille % 10);
    else
      fprintf(stderr, "\rescrow: %s: %.1f MiB ", p->label, mib);
  }
  p->printed = 1;
}

void cli_progress_end(cli_progress *p) {
  if (p->printed) fputc('\n', stderr);
  p->printed = 0;
}

/* ---- files ---------------------------------------------------------------------------------- */

int cli_is_dir(const char *path) {
  struct stat st;
  return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *cli_basename(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

int cli_output_path(const char *opt, const char *name, char **out) {
  size_t n;
  if (!opt) {
    n = strlen(name) + 1;
    *out = malloc(n);
    if (!*out) return cli_error(CLI_EXIT_ERROR, "out of memory");
    memcpy(*out, name, n);
    return CLI_EXIT_OK;
  }
  if (cli_is_dir(opt)) {
    size_t ol = strlen(opt);
    int slash = ol > 0 && opt[ol - 1] == '/';
    n = ol + strlen(name) + 2;
    *out = malloc(n);
    if (!*out) return cli_error(CLI_EXIT_ERROR, "out of memory");
    snprintf(*out, n, "%s%s%s", opt, slash ? "" : "/", name);
    return CLI_EXIT_OK;
  }
  n = strlen(opt) + 1;
  *out = malloc(n);
  if (!*out) return cli_error(CLI_EXIT_ERROR, "out of memory");
  memcpy(*out, opt, n);
  return CLI_EXIT_OK;
}

static int write_all_fd(int fd, const uint8_t *data, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, data, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    data += w;
    len -= (size_t)w;
  }
  return 0;
}

int cli_write_file_atomic(const char *path, const uint8_t *data, size_t len, mode_t mode) {
  size_t n = strlen(path) + 16;
  char *tmp = malloc(n);
  if (!tmp) return -ENOMEM;
  snprintf(tmp, n, "%s.tmp.XXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    int e = -errno;
    free(tmp);
    return e;
  }
  int rc = 0;
  if (fchmod(fd, mode) != 0) rc = -errno;
  if (rc == 0) rc = write_all_fd(fd, data, len);
  if (rc == 0 && fsync(fd) != 0) rc = -errno;
  if (close(fd) != 0 && rc == 0) rc = -errno;
  if (rc == 0) {
    /* link() never replaces an existing file; fall back to an exclusive check + rename on
     * file systems without hard links. */
    if (link(tmp, path) != 0) {
      rc = -errno;
      if (rc == -EPERM || rc == -ENOTSUP || rc == -EOPNOTSUPP || rc == -EMLINK) {
        struct stat st;
        if (lstat(path, &st) == 0)
          rc = -EEXIST;
        else
          rc = rename(tmp, path) == 0 ? 0 : -errno;
      }
    }
  }
  unlink(tmp); /* after a successful rename this fails harmlessly */
  free(tmp);
  return rc;
}

int cli_read_small_file(const char *path, size_t max, uint8_t **out, size_t *out_len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = -errno;
    close(fd);
    return e;
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return -EISDIR;
  }
  if ((uint64_t)st.st_size > max) {
    close(fd);
    return -EFBIG;
  }
  uint8_t *buf = malloc((size_t)st.st_size + 1);
  if (!buf) {
    close(fd);
    return -ENOMEM;
  }
  size_t got = 0;
  while (got <= max) {
    ssize_t r = read(fd, buf + got, (size_t)st.st_size + 1 - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = -errno;
      free(buf);
      close(fd);
      return e;
    }
    if (r == 0) break;
    got += (size_t)r;
    if (got > (size_t)st.st_size) { /* grew while reading */
      free(buf);
      close(fd);
      return -EFBIG;
    }
  }
  close(fd);
  *out = buf;
  *out_len = got;
  return 0;
}

static int cmp_names(const void *x, const void *y) {
  return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static int walk_rec(const char *root, const char *rel, cli_walk_fn fn, void *payload,
                    unsigned depth) {
  if (depth > 64) return -ELOOP;
  size_t n = strlen(root) + strlen(rel) + 2;
  char *dirpath = malloc(n);
  if (!dirpath) return -ENOMEM;
  snprintf(dirpath, n, "%s%s%s", root, *rel ? "/" : "", rel);
  DIR *d = opendir(dirpath);
  if (!d) {
    int e = -errno;
    free(dirpath);
    return e;
  }
  char **names = NULL;
  size_t count = 0, cap = 0;
  int rc = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    if (count == cap) {
      size_t nc = cap ? 2 * cap : 16;
      char **nn = realloc(names, nc * sizeof *nn);
      if (!nn) {
        rc = -ENOMEM;
        break;
      }
      names = nn;
      cap = nc;
    }
    names[count] = strdup(de->d_name);
    if (!names[count]) {
      rc = -ENOMEM;
      break;
    }
    count++;
  }
  closedir(d);
  if (rc == 0 && count > 1) qsort(names, count, sizeof *names, cmp_names);
  for (size_t i = 0; rc == 0 && i < count; i++) {
    size_t rn = strlen(rel) + strlen(names[i]) + 2;
    size_t fn_len = strlen(dirpath) + strlen(names[i]) + 2;
    char *child_rel = malloc(rn);
    char *child_full = malloc(fn_len);
    if (!child_rel || !child_full) {
      free(child_rel);
      free(child_full);
      rc = -ENOMEM;
      break;
    }
    snprintf(child_rel, rn, "%s%s%s", rel, *rel ? "/" : "", names[i]);
    snprintf(child_full, fn_len, "%s/%s", dirpath, names[i]);
    struct stat st;
    if (lstat(child_full, &st) != 0)
      rc = -errno;
    else if (S_ISDIR(st.st_mode))
      rc = walk_rec(root, child_rel, fn, payload, depth + 1);
    else if (S_ISREG(st.st_mode))
      rc = fn(payload, child_rel, child_full, &st);
    free(child_rel);
    free(child_full);
  }
  for (size_t i = 0; i < count; i++) free(names[i]);
  free(names);
  free(dirpath);
  return rc;
}

int cli_walk(const char *dir, cli_walk_fn fn, void *payload) {
  return walk_rec(dir, "", fn, payload, 0);
}

/* A URL argument, or "-" to read it from the first line of standard input (keeps the SAS token,
 * a bearer secret, out of the process list). *buf receives what to free. NULL if stdin was
 * empty. */
const char *cli_url_arg(const char *arg, char **buf) {
  *buf = NULL;
  if (strcmp(arg, "-") != 0)
    return arg;
  size_t cap = 0;
  ssize_t n = getline(buf, &cap, stdin);
  if (n <= 0) {
    free(*buf);
    *buf = NULL;
    return NULL;
  }
  while (n > 0 && ((*buf)[n - 1] == '\n' || (*buf)[n - 1] == '\r'))
    (*buf)[--n] = '\0';
  return *buf;
}
