/*
 * escrow blob ls|get|put (DESIGN §11, manual §13.6.2.3.1 "Dataset Upload"): a data steward's
 * dataset storage through a container SAS URL (or a file:// folder), over libescrow's
 * escrow_blob_* client.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOB_COMMON_OPTS                                                                       \
  {"allow-loopback-http", 0, CLI_FLAG, NULL,                                                   \
   "allow an http:// URL on a loopback host (a local emulator such as Azurite)"},              \
      {"path-style", 0, CLI_FLAG, NULL,                                                        \
       "the account is the first path segment on any host (emulators)"},                       \
      {"ca-file", 0, CLI_VALUE, "PEM", "trust these certificates instead of the system's"},   \
      {"retries", 0, CLI_VALUE, "N", "attempts after the first for one request (default 8)"}, \
      {"retry-base-ms", 0, CLI_VALUE, "MS", "first backoff delay (default 250, doubling)"}


static int open_client(const cli_args *a, const char *url_in, escrow_blob_client **c) {
  escrow_blob_options o = ESCROW_BLOB_OPTIONS_INIT;
  if (cli_flag(a, "allow-loopback-http"))
    o.flags |= ESCROW_BLOB_ALLOW_LOOPBACK_HTTP;
  if (cli_flag(a, "path-style"))
    o.flags |= ESCROW_BLOB_PATH_STYLE;
  o.ca_file = cli_get(a, "ca-file");
  const char *v;
  if ((v = cli_get(a, "parallel")) != NULL) {
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < 1 || n > 16)
      return cli_usage_error(a->cmd, "--parallel must be 1..16");
    o.parallel = (unsigned)n;
  }
  if ((v = cli_get(a, "block-size-mib")) != NULL) {
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < 1 || n > 4000)
      return cli_usage_error(a->cmd, "--block-size-mib must be 1..4000");
    o.block_size = (size_t)n << 20;
    o.single_put_max = o.block_size < ((size_t)256 << 20) ? o.block_size : (size_t)256 << 20;
  }
  if ((v = cli_get(a, "retries")) != NULL) {
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < 1 || n > 100)
      return cli_usage_error(a->cmd, "--retries must be 1..100");
    o.max_retries = (unsigned)n;
  }
  if ((v = cli_get(a, "retry-base-ms")) != NULL) {
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < 1 || n > 60000)
      return cli_usage_error(a->cmd, "--retry-base-ms must be 1..60000");
    o.retry_base_ms = (unsigned)n;
  }
  char *ubuf;
  const char *url = cli_url_arg(url_in, &ubuf);
  if (url == NULL)
    return cli_error(CLI_EXIT_ERROR, "no URL on standard input");
  int rc = escrow_blob_open(c, url, &o);
  free(ubuf);
  if (rc != 0)
    return cli_fail(rc, "cannot use the storage URL");
  return 0;
}

static void print_stats(const escrow_blob_client *c, cli_json *j) {
  escrow_blob_stats st;
  escrow_blob_get_stats(c, &st);
  cli_json_key(j, "transfer");
  cli_json_open(j);
  cli_json_kv_u64(j, "requests", st.requests);
  cli_json_kv_u64(j, "retries", st.retries);
  cli_json_kv_u64(j, "bytes_down", st.bytes_down);
  cli_json_kv_u64(j, "bytes_up", st.bytes_up);
  cli_json_close(j);
}

/* ---- ls ------------------------------------------------------------------------------------ */

static const cli_opt ls_opts[] = {
    {"prefix", 0, CLI_VALUE, "P", "only blobs whose names start with P"},
    BLOB_COMMON_OPTS,
    {0, 0, 0, 0, 0}};

typedef struct ls_state {
  cli_json *j;
  uint64_t count, bytes;
} ls_state;

static int ls_item(void *payload, const escrow_blob_item *it) {
  ls_state *s = payload;
  cli_json_open(s->j);
  cli_json_kv_string(s->j, "name", it->name);
  cli_json_kv_u64(s->j, "size", it->size);
  cli_json_kv_string(s->j, "content_md5", it->content_md5);
  cli_json_close(s->j);
  s->count++;
  s->bytes += it->size;
  return 0;
}

static int run_ls(const cli_args *a) {
  escrow_blob_client *c;
  int st = open_client(a, a->pos[0], &c);
  if (st)
    return st;
  cli_json j;
  if (cli_json_init(&j) != CLI_EXIT_OK) {
    escrow_blob_close(c);
    return CLI_EXIT_ERROR;
  }
  ls_state s = {&j, 0, 0};
  cli_json_open(&j);
  cli_json_key(&j, "blobs");
  cli_json_array_open(&j);
  int rc = escrow_blob_list(c, cli_get(a, "prefix"), ls_item, &s);
  cli_json_array_close(&j);
  cli_json_kv_u64(&j, "count", s.count);
  cli_json_kv_u64(&j, "bytes", s.bytes);
  print_stats(c, &j);
  cli_json_close(&j);
  escrow_blob_close(c);
  if (rc != 0) {
    cli_json_free(&j);
    return cli_fail(rc, "cannot list the blobs");
  }
  return cli_json_print(&j);
}

const cli_command cli_cmd_blob_ls = {
    "blob", "ls", "blob ls URL [--prefix P] [--allow-loopback-http]",
    "List the blobs of a container (SAS URL with list permission) or a file:// folder.",
    "Prints {\"blobs\": [{\"name\", \"size\", \"content_md5\"}], \"count\", \"bytes\", "
    "\"transfer\"}. Pages are followed to the end. URL - reads the URL from standard input "
    "(keeps the SAS token out of the process list), for every blob command.",
    ls_opts, 1, 1, run_ls};

/* ---- get ------------------------------------------------------------------------------------ */

static const cli_opt get_opts[] = {
    {"output", 'o', CLI_VALUE, "OUT", "output file, or an existing folder"},
    {"cek", 0, CLI_VALUE, "CEK", "decrypt while downloading (BKENC v1 or legacy v0)"},
    {"expect-path", 0, CLI_VALUE, "P", "with --cek: refuse a v1 blob whose header path is not P"},
    {"offset", 0, CLI_VALUE, "N", "without --cek: start at byte N"},
    {"length", 0, CLI_VALUE, "N", "without --cek: at most N bytes (stops at the blob's end)"},
    BLOB_COMMON_OPTS,
    {0, 0, 0, 0, 0}};

typedef struct range_out {
  FILE *f;
} range_out;

static int range_write(void *payload, const uint8_t *d, size_t n) {
  range_out *r = payload;
  return fwrite(d, 1, n, r->f) == n ? 0 : ESCROW_E_IO;
}

static int parse_u64(const char *v, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long x = strtoull(v, &end, 10);
  if (errno || end == v || *end || v[0] == '-')
    return -1;
  *out = x;
  return 0;
}

/* Bytes [offset, offset + length) of a blob to out, through a temporary file renamed on success. */
static int get_range(escrow_blob_client *c, const char *name, uint64_t offset, uint64_t length,
                     const char *out) {
  size_t n = strlen(out) + 16;
  char *tmp = malloc(n);
  if (tmp == NULL)
    return cli_error(CLI_EXIT_ERROR, "out of memory");
  snprintf(tmp, n, "%s.part-XXXXXX", out);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    int e = errno;
    free(tmp);
    return cli_error(CLI_EXIT_ERROR, "cannot create a file beside '%s': %s", out, strerror(e));
  }
  range_out r = {fdopen(fd, "wb")};
  int rc = r.f ? escrow_blob_get(c, name, offset, length, range_write, &r, NULL, NULL)
               : ESCROW_E_IO;
  int st = 0;
  if (r.f && (fflush(r.f) != 0 || fsync(fileno(r.f)) != 0) && rc == 0)
    st = cli_error(CLI_EXIT_ERROR, "cannot write '%s': %s", tmp, strerror(errno));
  if (r.f)
    fclose(r.f);
  else
    close(fd);
  if (rc != 0)
    st = cli_fail(rc, "cannot download '%s'", name);
  if (st == 0 && rename(tmp, out) != 0)
    st = cli_error(CLI_EXIT_ERROR, "cannot rename to '%s': %s", out, strerror(errno));
  if (st != 0)
    unlink(tmp);
  free(tmp);
  return st;
}

static int run_get(const cli_args *a) {
  const char *url = a->pos[0], *name = a->pos[1];
  const char *outopt = cli_require(a, "output");
  if (outopt == NULL)
    return CLI_EXIT_ERROR;
  const char *cek_path = cli_get(a, "cek");
  if (cli_get(a, "expect-path") && !cek_path)
    return cli_usage_error(a->cmd, "--expect-path needs --cek");
  uint64_t offset = 0, length = ESCROW_BLOB_TO_END;
  int ranged = cli_get(a, "offset") || cli_get(a, "length");
  if (ranged && cek_path)
    return cli_usage_error(a->cmd, "--offset and --length download raw bytes: not with --cek");
  if ((cli_get(a, "offset") && parse_u64(cli_get(a, "offset"), &offset)) ||
      (cli_get(a, "length") && parse_u64(cli_get(a, "length"), &length)))
    return cli_usage_error(a->cmd, "--offset and --length take a number of bytes");
  char *out;
  const char *base = cli_basename(name);
  if (cek_path) { /* "x.csv.bkenc" -> "x.csv" */
    size_t bl = strlen(base);
    if (bl > 6 && strcmp(base + bl - 6, ".bkenc") == 0) {
      static char stripped[1100];
      snprintf(stripped, sizeof stripped, "%.*s", (int)(bl - 6), base);
      base = stripped;
    }
  }
  if (cli_output_path(outopt, base, &out) != CLI_EXIT_OK)
    return CLI_EXIT_ERROR;
  escrow_cek *cek = NULL;
  int st = cek_path ? cli_load_cek(&cek, cek_path) : 0;
  escrow_blob_client *c = NULL;
  if (st == 0)
    st = open_client(a, url, &c);
  if (st) {
    escrow_cek_free(cek);
    free(out);
    return st;
  }
  cli_progress p;
  cli_progress_init(&p, cek ? "downloading and decrypting" : "downloading", 0,
                    CLI_PROGRESS_MIN_BYTES, 0);
  int rc;
  if (ranged) {
    cli_progress_end(&p);
    int rst = get_range(c, name, offset, length, out);
    if (rst != 0) {
      escrow_blob_close(c);
      free(out);
      return rst;
    }
    rc = 0;
  } else if (cek) {
    escrow_decrypt_options d = ESCROW_DECRYPT_OPTIONS_INIT;
    d.expect_path = cli_get(a, "expect-path");
    rc = escrow_blob_get_decrypt_file(c, name, cek, &d, out, cli_progress_cb, &p);
  } else {
    rc = escrow_blob_get_file(c, name, out, cli_progress_cb, &p);
  }
  cli_progress_end(&p);
  escrow_cek_free(cek);
  if (rc != 0) {
    escrow_blob_close(c);
    free(out);
    return cli_fail(rc, "cannot download '%s'", name);
  }
  cli_json j;
  st = cli_json_init(&j);
  if (st == CLI_EXIT_OK) {
    escrow_blob_stats s;
    escrow_blob_get_stats(c, &s);
    cli_json_open(&j);
    cli_json_kv_string(&j, "name", name);
    cli_json_kv_string(&j, "output", out);
    cli_json_kv_bool(&j, "decrypted", cek_path != NULL);
    cli_json_kv_u64(&j, "bytes", s.bytes_down);
    print_stats(c, &j);
    cli_json_close(&j);
    st = cli_json_print(&j);
  }
  escrow_blob_close(c);
  free(out);
  return st;
}

const cli_command cli_cmd_blob_get = {
    "blob", "get", "blob get URL NAME -o OUT [--cek CEK] [--allow-loopback-http]",
    "Download one blob (resuming after failures); with --cek, decrypt it while it arrives.",
    "The output is written under a temporary name and renamed on success: after a failure no "
    "output file exists. With --cek a BKENC v1 blob is decrypted chunk by chunk as it "
    "downloads; a legacy v0 blob (one tag at its end) is staged encrypted, verified, then "
    "decrypted. Prints {\"name\", \"output\", \"decrypted\", \"bytes\", \"transfer\"}.",
    get_opts, 2, 2, run_get};

/* ---- put ------------------------------------------------------------------------------------ */

static const cli_opt put_opts[] = {
    {"prefix", 0, CLI_VALUE, "P", "put the files under this blob name prefix (e.g. v2/)"},
    {"allow-plaintext", 0, CLI_FLAG, NULL, "upload files that are not encrypted too"},
    {"parallel", 0, CLI_VALUE, "N", "blocks uploaded at once (default 4)"},
    {"block-size-mib", 0, CLI_VALUE, "N", "block size for large files (default 4)"},
    BLOB_COMMON_OPTS,
    {0, 0, 0, 0, 0}};

typedef struct put_state {
  const cli_args *a;
  escrow_blob_client *c;
  cli_json *j;
  const char *prefix;
  int check_only;
  int allow_plain;
  uint64_t files, uploaded, skipped, bytes, total_files;
  char bad[1100];
} put_state;

static int is_encrypted(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  uint8_t head[8];
  ssize_t n = read(fd, head, sizeof head);
  close(fd);
  if (n < 0)
    return -EIO;
  return escrow_detect_format(head, (size_t)n) != ESCROW_FORMAT_UNKNOWN;
}

static int put_one(void *payload, const char *rel, const char *full, const struct stat *st) {
  put_state *s = payload;
  (void)st;
  if (s->check_only) {
    s->total_files++;
    int e = is_encrypted(full);
    if (e < 0)
      return e;
    if (!e && !s->allow_plain) {
      snprintf(s->bad, sizeof s->bad, "%s", rel);
      return 1;
    }
    return 0;
  }
  char name[2048];
  if ((size_t)snprintf(name, sizeof name, "%s%s", s->prefix ? s->prefix : "", rel) >= sizeof name)
    return -ENAMETOOLONG;
  int skipped = 0;
  int rc = escrow_blob_put_file(s->c, name, full, ESCROW_BLOB_PUT_SKIP_SAME, &skipped, NULL, NULL);
  if (rc != 0) {
    cli_fail(rc, "cannot upload '%s'", rel);
    return 2;
  }
  s->files++;
  if (skipped)
    s->skipped++;
  else
    s->uploaded++;
  s->bytes += (uint64_t)st->st_size;
  cli_json_open(s->j);
  cli_json_kv_string(s->j, "name", name);
  cli_json_kv_u64(s->j, "size", (uint64_t)st->st_size);
  cli_json_kv_bool(s->j, "skipped", skipped);
  cli_json_close(s->j);
  if (isatty(STDERR_FILENO))
    fprintf(stderr, "\rescrow: uploading: %" PRIu64 " of %" PRIu64 " files (%" PRIu64
                    " skipped, already there) ",
            s->files, s->total_files, s->skipped);
  return 0;
}

static int run_put(const cli_args *a) {
  const char *dir = a->pos[0], *url = a->pos[1];
  if (!cli_is_dir(dir))
    return cli_error(CLI_EXIT_ERROR, "'%s' is not a folder", dir);
  put_state s = {0};
  s.a = a;
  s.prefix = cli_get(a, "prefix");
  s.allow_plain = cli_flag(a, "allow-plaintext");
  s.check_only = 1;
  int w = cli_walk(dir, put_one, &s);
  if (w < 0)
    return cli_error(CLI_EXIT_ERROR, "cannot read '%s': %s", dir, strerror(-w));
  if (w == 1)
    return cli_error(CLI_EXIT_NEGATIVE, "'%s' is not encrypted (neither BKENC v1 nor v0): "
                     "nothing was uploaded. Encrypt the dataset first (escrow encrypt), or pass "
                     "--allow-plaintext", s.bad);
  int st = open_client(a, url, &s.c);
  if (st)
    return st;
  cli_json j;
  if (cli_json_init(&j) != CLI_EXIT_OK) {
    escrow_blob_close(s.c);
    return CLI_EXIT_ERROR;
  }
  s.j = &j;
  s.check_only = 0;
  cli_json_open(&j);
  cli_json_key(&j, "files");
  cli_json_array_open(&j);
  w = cli_walk(dir, put_one, &s);
  if (isatty(STDERR_FILENO) && s.files)
    fputc('\n', stderr);
  cli_json_array_close(&j);
  cli_json_kv_u64(&j, "uploaded", s.uploaded);
  cli_json_kv_u64(&j, "skipped", s.skipped);
  cli_json_kv_u64(&j, "bytes", s.bytes);
  print_stats(s.c, &j);
  cli_json_close(&j);
  escrow_blob_close(s.c);
  if (w != 0) {
    cli_json_free(&j);
    if (w == 2)
      return cli_exit_for(escrow_error_last_code());
    return cli_error(CLI_EXIT_ERROR, "cannot read '%s': %s", dir, strerror(-w));
  }
  return cli_json_print(&j);
}

const cli_command cli_cmd_blob_put = {
    "blob", "put", "blob put DIR URL [--prefix P] [--allow-loopback-http]",
    "Upload an encrypted dataset folder to a container (the manual's \"Dataset Upload\").",
    "Every file under DIR becomes the blob [P]<relative path>. Files already in the container "
    "with the same size and MD5 are skipped, so an interrupted upload can simply be run "
    "again. Small files go up in one Put Blob, large ones in blocks sent in parallel, each "
    "retried on failure. Files that are not encrypted are refused (nothing is uploaded) unless "
    "--allow-plaintext. The SAS needs write (and create) permission. Prints {\"files\": "
    "[{\"name\", \"size\", \"skipped\"}], \"uploaded\", \"skipped\", \"bytes\", \"transfer\"}.",
    put_opts, 2, 2, run_put};
