/*
 * Algorithm packages (DESIGN §4, beekeeper-clients.md §1): pack, open, upload checks, extract.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <yajl/yajl_gen.h>

#include "internal.h"
#include "legacy_internal.h"
#include "package_internal.h"
#include "secrets_internal.h"
#include "zip_internal.h"

#define DOCKERFILE "Dockerfile"
#define DOCKERFILE_MAX (1u << 20)

struct escrow_algorithm {
  escrow__zip *z;
  escrow__secrets sec;
  int has_secrets_file;
};

/* ---- open ---------------------------------------------------------------------------------- */

static int alg_finish_open(escrow_algorithm **out, escrow__zip *z) {
  escrow_algorithm *a = escrow__calloc(1, sizeof *a);
  if (a == NULL) {
    escrow__zip_free(z);
    return escrow__err_nomem();
  }
  a->z = z;
  size_t si;
  if (escrow__zip_find(z, ESCROW_SECRETS_FILE, &si) == 0) {
    a->has_secrets_file = 1;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = escrow__zip_read(z, si, ESCROW__SECRETS_MAX_BYTES, &buf, &len);
    if (rc == 0) {
      rc = escrow__secrets_parse(&a->sec, buf, len);
      escrow__free(buf);
    }
    if (rc != 0) {
      escrow_algorithm_free(a);
      return rc;
    }
  }
  *out = a;
  return 0;
}

int escrow_algorithm_open(escrow_algorithm **out, const char *zip_path,
                          const escrow_zip_limits *limits) {
  if (out == NULL || zip_path == NULL)
    return escrow__err(ESCROW_E_INVALID, "algorithm open: NULL argument");
  *out = NULL;
  escrow__zip *z = NULL;
  int rc = escrow__zip_open_file(&z, zip_path, limits);
  if (rc != 0)
    return rc;
  return alg_finish_open(out, z);
}

int escrow__algorithm_open_mem(escrow_algorithm **out, const uint8_t *data, size_t len,
                               const escrow_zip_limits *limits) {
  if (out == NULL)
    return escrow__err(ESCROW_E_INVALID, "algorithm open: NULL argument");
  *out = NULL;
  escrow__zip *z = NULL;
  int rc = escrow__zip_open_mem(&z, data, len, limits);
  if (rc != 0)
    return rc;
  return alg_finish_open(out, z);
}

void escrow_algorithm_free(escrow_algorithm *a) {
  if (a == NULL)
    return;
  escrow__zip_free(a->z);
  escrow__secrets_clear(&a->sec);
  escrow__free(a);
}

size_t escrow_algorithm_entry_count(const escrow_algorithm *a) {
  return a == NULL ? 0 : escrow__zip_count(a->z);
}

const char *escrow_algorithm_entry_name(const escrow_algorithm *a, size_t i) {
  return a == NULL ? NULL : escrow__zip_name(a->z, i);
}

size_t escrow_algorithm_secret_count(const escrow_algorithm *a) {
  return a == NULL ? 0 : a->sec.n;
}

int escrow_algorithm_secret(const escrow_algorithm *a, size_t i, const char **encrypted,
                            const char **original) {
  if (a == NULL || i >= a->sec.n)
    return escrow__err(ESCROW_E_INVALID, "algorithm: no secret %zu", i);
  if (encrypted != NULL)
    *encrypted = a->sec.pairs[i].encrypted;
  if (original != NULL)
    *original = a->sec.pairs[i].original;
  return 0;
}

/* ---- Dockerfile entry point ------------------------------------------------------------------ */

typedef struct strv {
  char **v;
  size_t n;
} strv;

static void strv_free(strv *s) {
  for (size_t i = 0; i < s->n; i++)
    escrow__free(s->v[i]);
  escrow__free(s->v);
  s->v = NULL;
  s->n = 0;
}

static int strv_push(strv *s, const char *p, size_t l) {
  char **nv = escrow__realloc(s->v, (s->n + 1) * sizeof *nv);
  if (nv == NULL)
    return ESCROW_E_NOMEM;
  s->v = nv;
  char *c = escrow__strndup(p, l);
  if (c == NULL)
    return ESCROW_E_NOMEM;
  s->v[s->n++] = c;
  return 0;
}

/* Exec form: a JSON array of strings. Returns 0, 1 (not exec form), or ESCROW_E_NOMEM. */
static int parse_exec_form(const char *s, strv *out) {
  const char *p = s;
  while (*p == ' ' || *p == '\t')
    p++;
  if (*p != '[')
    return 1;
  p++;
  for (;;) {
    while (*p == ' ' || *p == '\t')
      p++;
    if (*p == ']' && out->n == 0) {
      p++;
      break;
    }
    if (*p != '"')
      goto notexec;
    p++;
    char *buf = escrow__malloc(strlen(p) + 1);
    if (buf == NULL) {
      strv_free(out);
      return ESCROW_E_NOMEM;
    }
    size_t bl = 0;
    while (*p != '"') {
      if (*p == '\0') {
        escrow__free(buf);
        goto notexec;
      }
      if (*p == '\\') {
        p++;
        char c = *p;
        if (c == 'n')
          c = '\n';
        else if (c == 't')
          c = '\t';
        else if (c == '\0') {
          escrow__free(buf);
          goto notexec;
        }
        buf[bl++] = c;
        p++;
      } else {
        buf[bl++] = *p++;
      }
    }
    p++;
    int rc = strv_push(out, buf, bl);
    escrow__free(buf);
    if (rc != 0) {
      strv_free(out);
      return rc;
    }
    while (*p == ' ' || *p == '\t')
      p++;
    if (*p == ',') {
      p++;
      continue;
    }
    if (*p == ']') {
      p++;
      break;
    }
    goto notexec;
  }
  while (*p == ' ' || *p == '\t')
    p++;
  if (*p == '\0')
    return 0;
notexec:
  strv_free(out);
  return 1;
}

/* Split a shell command into words (quotes removed), stopping at ; & | operators. */
static int shell_words(const char *s, strv *out) {
  const char *p = s;
  char *buf = escrow__malloc(strlen(s) + 1);
  if (buf == NULL)
    return ESCROW_E_NOMEM;
  int rc = 0;
  for (;;) {
    while (*p == ' ' || *p == '\t' || *p == '\n')
      p++;
    if (*p == '\0' || *p == ';' || *p == '&' || *p == '|')
      break;
    size_t bl = 0;
    char q = 0;
    while (*p != '\0') {
      if (q != 0) {
        if (*p == q)
          q = 0;
        else
          buf[bl++] = *p;
        p++;
        continue;
      }
      if (*p == ' ' || *p == '\t' || *p == '\n' || *p == ';' || *p == '&' || *p == '|')
        break;
      if (*p == '\'' || *p == '"')
        q = *p;
      else if (*p == '\\' && p[1] != '\0')
        buf[bl++] = *++p;
      else
        buf[bl++] = *p;
      p++;
    }
    rc = strv_push(out, buf, bl);
    if (rc != 0)
      break;
  }
  escrow__free(buf);
  return rc;
}

static const char *base_name(const char *p) {
  const char *s = strrchr(p, '/');
  return s != NULL ? s + 1 : p;
}

static int is_shell(const char *b) {
  static const char *sh[] = {"sh", "bash", "dash", "ash", "zsh", "ksh"};
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(sh); i++)
    if (strcmp(b, sh[i]) == 0)
      return 1;
  return 0;
}

static int is_interpreter(const char *b) {
  static const char *in[] = {"python", "python2", "python3", "Rscript", "R", "node", "ipython",
                             "ipython3", "perl", "ruby", "julia", "java", "deno", "bun"};
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(in); i++)
    if (strcmp(b, in[i]) == 0)
      return 1;
  return strncmp(b, "python3.", 8) == 0 || strncmp(b, "python2.", 8) == 0;
}

/* resolve_arg's answer for an argument that names no package file. */
static char not_a_file;
#define NOT_A_FILE (&not_a_file)

/* Map an argument to a package-relative path (escrow__malloc), NOT_A_FILE (outside the
 * package / not a path), or NULL (out of memory). */
static char *resolve_arg(const char *arg, const char *workdir) {
  const char *r = arg;
  if (arg[0] == '/') {
    size_t wl = strlen(workdir);
    while (wl > 1 && workdir[wl - 1] == '/')
      wl--;
    if (wl == 0 || strncmp(arg, workdir, wl) != 0 || arg[wl] != '/')
      return NOT_A_FILE;
    r = arg + wl + 1;
  }
  while (r[0] == '.' && r[1] == '/')
    r += 2;
  if (!escrow__path_is_clean(r))
    return NOT_A_FILE;
  return escrow__strdup(r);
}


static int find_script(const strv *argv, const char *workdir, int depth, char **script,
                       const char **why) {
  size_t i = 0;
  /* Leading wrappers: exec, env VAR=... */
  while (i < argv->n && (strcmp(argv->v[i], "exec") == 0 || strcmp(base_name(argv->v[i]), "env") == 0 ||
                         (strchr(argv->v[i], '=') != NULL && argv->v[i][0] != '-' &&
                          argv->v[i][0] != '/')))
    i++;
  if (i >= argv->n) {
    *why = "the entry point runs no command";
    return 0;
  }
  const char *cmd = argv->v[i];
  const char *b = base_name(cmd);
  char *r = NOT_A_FILE;
  if (is_shell(b) || is_interpreter(b)) {
    int shell = is_shell(b);
    for (i++; i < argv->n; i++) {
      const char *a = argv->v[i];
      if (shell && strcmp(a, "-c") == 0) {
        if (i + 1 >= argv->n || depth > 2) {
          *why = "the entry point's shell command names no package file";
          return 0;
        }
        strv w = {0};
        int rc = shell_words(argv->v[i + 1], &w);
        if (rc == 0)
          rc = find_script(&w, workdir, depth + 1, script, why);
        strv_free(&w);
        return rc;
      }
      if (!shell && (strcmp(a, "-m") == 0 || strcmp(a, "-c") == 0 || strcmp(a, "-e") == 0)) {
        *why = "the entry point runs a module or inline code, not a package file";
        return 0;
      }
      if (a[0] == '-')
        continue;
      r = resolve_arg(a, workdir);
      break;
    }
  } else if (strchr(cmd, '/') != NULL || (strlen(cmd) > 3 && strcmp(cmd + strlen(cmd) - 3, ".sh") == 0)) {
    r = resolve_arg(cmd, workdir);
  }
  if (r == NULL)
    return ESCROW_E_NOMEM;
  if (r == NOT_A_FILE) {
    *why = "the entry point runs a program outside the package";
    return 0;
  }
  *script = r;
  return 0;
}

int escrow__dockerfile_entry_script(const char *text, size_t len, char **script,
                                    const char **why) {
  *script = NULL;
  *why = NULL;
  char *work = escrow__strdup("");
  char *ep = NULL, *cmd = NULL;
  char *line = escrow__malloc(len + 1);
  int rc = 0;
  if (work == NULL || line == NULL) {
    rc = ESCROW_E_NOMEM;
    goto out;
  }
  size_t i = 0;
  while (i < len) {
    /* Gather one logical line, joining "\" continuations and dropping comment lines. */
    size_t ll = 0;
    int first = 1;
    for (;;) {
      size_t s = i;
      while (i < len && text[i] != '\n')
        i++;
      size_t e = i;
      if (i < len)
        i++;
      while (e > s && (text[e - 1] == '\r' || text[e - 1] == ' ' || text[e - 1] == '\t'))
        e--;
      size_t t = s;
      while (t < e && (text[t] == ' ' || text[t] == '\t'))
        t++;
      if (t < e && text[t] == '#' && (first || ll > 0)) {
        if (first)
          break;
        continue; /* comment inside a continuation */
      }
      first = 0;
      int cont = e > t && text[e - 1] == '\\';
      if (cont)
        e--;
      memcpy(line + ll, text + t, e - t);
      ll += e - t;
      if (cont && i < len) {
        line[ll++] = ' ';
        continue;
      }
      break;
    }
    line[ll] = '\0';
    if (ll == 0)
      continue;
    size_t k = 0;
    while (k < ll && line[k] != ' ' && line[k] != '\t')
      k++;
    const char *arg = line + k;
    while (*arg == ' ' || *arg == '\t')
      arg++;
    char **slot = NULL;
    if (k == 4 && strncasecmp(line, "FROM", 4) == 0) {
      escrow__free(ep);
      escrow__free(cmd);
      ep = cmd = NULL;
      work[0] = '\0';
      continue;
    }
    if (k == 7 && strncasecmp(line, "WORKDIR", 7) == 0) {
      char *nw;
      if (arg[0] == '/' || work[0] == '\0')
        nw = escrow__strdup(arg);
      else
        nw = escrow__path_join(work, arg);
      if (nw == NULL) {
        rc = ESCROW_E_NOMEM;
        goto out;
      }
      escrow__free(work);
      work = nw;
      continue;
    }
    if (k == 10 && strncasecmp(line, "ENTRYPOINT", 10) == 0)
      slot = &ep;
    else if (k == 3 && strncasecmp(line, "CMD", 3) == 0)
      slot = &cmd;
    if (slot == NULL)
      continue;
    escrow__free(*slot);
    *slot = escrow__strdup(arg);
    if (*slot == NULL) {
      rc = ESCROW_E_NOMEM;
      goto out;
    }
  }
  if (ep == NULL && cmd == NULL) {
    *why = "the Dockerfile has no ENTRYPOINT or CMD (the base image's is used)";
    goto out;
  }
  strv argv = {0};
  const char *forms[2] = {ep, cmd};
  for (int f = 0; f < 2 && rc == 0; f++) {
    if (forms[f] == NULL)
      continue;
    if (f == 1 && ep != NULL && argv.n > 0 && strcmp(argv.v[0], "/bin/sh") == 0 && argv.n == 3 &&
        strcmp(argv.v[1], "-c") == 0)
      break; /* shell-form ENTRYPOINT ignores CMD */
    strv one = {0};
    int pr = parse_exec_form(forms[f], &one);
    if (pr == ESCROW_E_NOMEM) {
      rc = pr;
      break;
    }
    if (pr == 1) {
      if (strv_push(&one, "/bin/sh", 7) != 0 || strv_push(&one, "-c", 2) != 0 ||
          strv_push(&one, forms[f], strlen(forms[f])) != 0) {
        strv_free(&one);
        rc = ESCROW_E_NOMEM;
        break;
      }
    }
    for (size_t j = 0; j < one.n && rc == 0; j++)
      rc = strv_push(&argv, one.v[j], strlen(one.v[j]));
    strv_free(&one);
  }
  if (rc == 0)
    rc = find_script(&argv, work, 0, script, why);
  strv_free(&argv);
out:
  escrow__free(work);
  escrow__free(ep);
  escrow__free(cmd);
  escrow__free(line);
  if (rc != 0) {
    escrow__free(*script);
    *script = NULL;
    return escrow__err_nomem();
  }
  return 0;
}

/* ---- upload checks ------------------------------------------------------------------------- */

typedef struct check {
  const char *name;
  const char *status;
  char detail[512];
} check;

static int is_secret_original(const escrow_algorithm *a, const char *p) {
  for (size_t i = 0; i < a->sec.n; i++)
    if (strcmp(a->sec.pairs[i].original, p) == 0)
      return 1;
  return 0;
}

/* "Secret files are present". Returns 0 or ESCROW_E_NOMEM. */
static int check_secrets(const escrow_algorithm *a, check *c) {
  escrow__zip *z = a->z;
  if (!a->has_secrets_file) {
    c->status = "not checked";
    snprintf(c->detail, sizeof c->detail, "there is no secrets.yaml");
    return 0;
  }
  for (size_t i = 0; i < a->sec.n; i++) {
    const char *e = a->sec.pairs[i].encrypted, *o = a->sec.pairs[i].original;
    size_t idx;
    if (escrow__zip_find(z, o, NULL) == 0) {
      c->status = "failed";
      snprintf(c->detail, sizeof c->detail,
               "'%s' is in the package in plaintext although secrets.yaml lists it as a secret "
               "(a leak: remove it and keep only '%s')",
               o, e);
      return 0;
    }
    if (escrow__zip_find(z, e, &idx) != 0) {
      c->status = "failed";
      snprintf(c->detail, sizeof c->detail, "'%s', listed in secrets.yaml, is not in the package",
               e);
      return 0;
    }
    uint8_t magic[8];
    size_t got = 0;
    int rc = escrow__zip_peek(z, idx, magic, sizeof magic, &got);
    if (rc == ESCROW_E_NOMEM)
      return rc;
    if (rc != 0 || escrow_detect_format(magic, got) == ESCROW_FORMAT_UNKNOWN) {
      c->status = "failed";
      snprintf(c->detail, sizeof c->detail,
               rc != 0 ? "'%s' cannot be read from the package"
                       : "'%s' is not an encrypted file (neither BKENC v1 nor Salted__ v0)",
               e);
      return 0;
    }
  }
  c->status = "passed";
  snprintf(c->detail, sizeof c->detail, "%zu secret file%s, all encrypted", a->sec.n,
           a->sec.n == 1 ? "" : "s");
  return 0;
}

static int check_entry(const escrow_algorithm *a, check *c) {
  size_t di;
  if (escrow__zip_find(a->z, DOCKERFILE, &di) != 0) {
    c->status = "not checked";
    snprintf(c->detail, sizeof c->detail, "there is no Dockerfile");
    return 0;
  }
  uint8_t *df = NULL;
  size_t dl = 0;
  int rc = escrow__zip_read(a->z, di, DOCKERFILE_MAX, &df, &dl);
  if (rc == ESCROW_E_NOMEM)
    return rc;
  if (rc != 0) {
    c->status = "failed";
    snprintf(c->detail, sizeof c->detail, "the Dockerfile cannot be read: %s",
             escrow_error_last());
    return 0;
  }
  char *script = NULL;
  const char *why = NULL;
  rc = escrow__dockerfile_entry_script((const char *)df, dl, &script, &why);
  escrow__free(df);
  if (rc != 0)
    return rc;
  if (script == NULL) {
    c->status = "not checked";
    snprintf(c->detail, sizeof c->detail, "%s", why);
  } else if (is_secret_original(a, script)) {
    c->status = "failed";
    snprintf(c->detail, sizeof c->detail,
             "the entry point '%s' is encrypted; the platform must read it in plaintext (run a "
             "secret program from a plaintext script such as run.sh)",
             script);
  } else if (escrow__zip_find(a->z, script, NULL) != 0) {
    c->status = "failed";
    snprintf(c->detail, sizeof c->detail,
             "the Dockerfile's entry point runs '%s', which is not in the package", script);
  } else {
    c->status = "passed";
    snprintf(c->detail, sizeof c->detail, "'%s'", script);
  }
  escrow__free(script);
  return 0;
}

int escrow_algorithm_check(const escrow_algorithm *a, int wcek_present, char **json) {
  if (json == NULL)
    return escrow__err(ESCROW_E_INVALID, "algorithm check: NULL argument");
  *json = NULL;
  if (a == NULL)
    return escrow__err(ESCROW_E_INVALID, "algorithm check: NULL argument");
  check c[5];
  memset(c, 0, sizeof c);
  c[0].name = "Dockerfile is present";
  int has_df = escrow__zip_find(a->z, DOCKERFILE, NULL) == 0;
  c[0].status = has_df ? "passed" : "failed";
  snprintf(c[0].detail, sizeof c[0].detail, "%s",
           has_df ? "Dockerfile" : "there is no Dockerfile at the package root");
  c[1].name = "Secrets file is present";
  c[1].status = a->has_secrets_file ? "passed" : "failed";
  snprintf(c[1].detail, sizeof c[1].detail, "%s",
           a->has_secrets_file ? ESCROW_SECRETS_FILE
                               : "there is no secrets.yaml at the package root");
  c[2].name = "WCEK file is present";
  c[2].status = wcek_present > 0 ? "passed" : wcek_present == 0 ? "failed" : "not checked";
  snprintf(c[2].detail, sizeof c[2].detail, "%s",
           wcek_present > 0    ? "the project's AO WCEK is present"
           : wcek_present == 0 ? "no WCEK has been uploaded to the project's AO keys"
                               : "the WCEK is uploaded separately, not in the zip");
  c[3].name = "Secret files are present";
  int rc = check_secrets(a, &c[3]);
  c[4].name = "Entry point is present";
  if (rc == 0)
    rc = check_entry(a, &c[4]);
  if (rc != 0)
    return escrow__err_nomem();
  int passed = 1;
  for (size_t i = 0; i < 5; i++)
    if (strcmp(c[i].status, "failed") == 0)
      passed = 0;
  yajl_gen g = yajl_gen_alloc(NULL);
  if (g == NULL)
    return escrow__err_nomem();
  yajl_gen_config(g, yajl_gen_validate_utf8, 1);
#define S(s) yajl_gen_string(g, (const unsigned char *)(s), strlen(s))
  int bad = yajl_gen_map_open(g) != yajl_gen_status_ok;
  bad |= S("passed") != yajl_gen_status_ok;
  bad |= yajl_gen_bool(g, passed) != yajl_gen_status_ok;
  bad |= S("checks") != yajl_gen_status_ok;
  bad |= yajl_gen_array_open(g) != yajl_gen_status_ok;
  for (size_t i = 0; i < 5; i++) {
    bad |= yajl_gen_map_open(g) != yajl_gen_status_ok;
    bad |= S("name") != yajl_gen_status_ok;
    bad |= S(c[i].name) != yajl_gen_status_ok;
    bad |= S("status") != yajl_gen_status_ok;
    bad |= S(c[i].status) != yajl_gen_status_ok;
    bad |= S("detail") != yajl_gen_status_ok;
    if (S(c[i].detail) != yajl_gen_status_ok) {
      /* A detail truncated inside a UTF-8 sequence: drop it rather than fail. */
      bad |= S("") != yajl_gen_status_ok;
    }
    bad |= yajl_gen_map_close(g) != yajl_gen_status_ok;
  }
  bad |= yajl_gen_array_close(g) != yajl_gen_status_ok;
  bad |= yajl_gen_map_close(g) != yajl_gen_status_ok;
#undef S
  const unsigned char *buf;
  size_t bl;
  rc = 0;
  if (bad || yajl_gen_get_buf(g, &buf, &bl) != yajl_gen_status_ok) {
    rc = escrow__err_nomem();
  } else {
    char *o = escrow__malloc(bl + 1);
    if (o == NULL) {
      rc = escrow__err_nomem();
    } else {
      memcpy(o, buf, bl);
      o[bl] = '\0';
      *json = o;
    }
  }
  yajl_gen_free(g);
  return rc;
}

/* ---- extract ------------------------------------------------------------------------------- */

typedef struct fdsink {
  int fd;
  const char *path;
} fdsink;

static int fd_sink(void *payload, const uint8_t *buf, size_t len) {
  fdsink *s = payload;
  return escrow__write_all(s->fd, buf, len, s->path);
}

/* out_dir/rel, creating parent folders 0700. */
static int out_path(const char *out_dir, const char *rel, char **path) {
  *path = escrow__path_join(out_dir, rel);
  if (*path == NULL)
    return escrow__err_nomem();
  char *slash = strrchr(*path, '/');
  if (slash != NULL && (size_t)(slash - *path) > strlen(out_dir)) {
    *slash = '\0';
    int rc = escrow__mkdirs(*path, 0700);
    *slash = '/';
    if (rc != 0) {
      escrow__free(*path);
      *path = NULL;
      return rc;
    }
  }
  return 0;
}

static int extract_plain(escrow__zip *z, size_t i, const char *out_dir) {
  char *path = NULL;
  int rc = out_path(out_dir, escrow__zip_name(z, i), &path);
  if (rc != 0)
    return rc;
  escrow__atomic at;
  rc = escrow__atomic_open(&at, path, 0600, true);
  if (rc == 0) {
    fdsink s = {at.fd, path};
    rc = escrow__zip_stream(z, i, fd_sink, &s);
    if (rc == 0)
      rc = escrow__atomic_commit(&at);
    else
      escrow__atomic_abort(&at);
  }
  escrow__free(path);
  return rc;
}

/* Write a secret-memory plaintext atomically. */
static int write_plain_file(const char *path, const uint8_t *data, size_t len) {
  escrow__atomic at;
  int rc = escrow__atomic_open(&at, path, 0600, true);
  if (rc != 0)
    return rc;
  rc = escrow__write_all(at.fd, data, len, path);
  if (rc == 0)
    return escrow__atomic_commit(&at);
  escrow__atomic_abort(&at);
  return rc;
}

/* EscrowAICI's chained keys (beekeeper-clients.md §1.4): the password of secret i (0-based, in
 * secretFiles order) is k_i, with k_0 = CEK and k_i = PBKDF2(k_{i-1}, salt_{i-1})[0:32]. The
 * chain is only computed when the CEK fails, from the salts of the secrets before. */
typedef struct chain {
  uint8_t *key;  /* secure: k_j */
  uint8_t *next; /* secure scratch */
  size_t j;      /* links applied */
  uint8_t (*salts)[ESCROW__LEGACY_SALT_BYTES];
  size_t nsalts;
  int valid; /* every secret so far was v0 */
} chain;

static int chain_key_for(chain *ch, size_t i) {
  while (ch->j < i) {
    int rc = escrow__legacy_derive_key(ch->key, ch->salts[ch->j], ch->next);
    if (rc != 0)
      return rc;
    memcpy(ch->key, ch->next, ESCROW__LEGACY_KEY_BYTES);
    ch->j++;
  }
  return 0;
}

static int extract_secret(const escrow_algorithm *a, const escrow_cek *cek, size_t si,
                          const char *out_dir, const char *tmp, chain *ch) {
  const char *enc = a->sec.pairs[si].encrypted, *orig = a->sec.pairs[si].original;
  size_t idx;
  if (escrow__zip_find(a->z, enc, &idx) != 0)
    return escrow__err(ESCROW_E_FORMAT, "'%s', listed in secrets.yaml, is not in the package", enc);
  /* Copy the ciphertext out of the zip (it is not secret), then decrypt it atomically. */
  escrow__atomic at;
  int rc = escrow__atomic_open(&at, tmp, 0600, false);
  if (rc != 0)
    return rc;
  fdsink s = {at.fd, tmp};
  rc = escrow__zip_stream(a->z, idx, fd_sink, &s);
  if (rc == 0)
    rc = escrow__atomic_commit(&at);
  else
    escrow__atomic_abort(&at);
  if (rc != 0)
    return rc;
  uint8_t head[16];
  size_t got = 0;
  int fd = open(tmp, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    rc = escrow__err_errno("cannot open", tmp);
    unlink(tmp);
    return rc;
  }
  rc = escrow__read_full(fd, head, sizeof head, &got, tmp);
  close(fd);
  escrow_file_format fmt = rc == 0 ? escrow_detect_format(head, got) : ESCROW_FORMAT_UNKNOWN;
  char *path = NULL;
  if (rc == 0)
    rc = out_path(out_dir, orig, &path);
  if (rc == 0 && fmt == ESCROW_FORMAT_UNKNOWN)
    rc = escrow__err(ESCROW_E_FORMAT, "secret '%s' is not an encrypted file", enc);
  if (rc == 0 && fmt == ESCROW_FORMAT_V1) {
    ch->valid = 0; /* EscrowAICI's chain only runs through v0 secrets */
    escrow_decrypt_options o = ESCROW_DECRYPT_OPTIONS_INIT;
    o.expect_path = orig;
    rc = escrow_decrypt_file(cek, &o, tmp, path, NULL, NULL);
    if (rc == ESCROW_E_MISMATCH)
      rc = escrow__err(ESCROW_E_MISMATCH,
                       "secret '%s' was encrypted for another path than '%s' (files swapped?)",
                       enc, orig);
  } else if (rc == 0) {
    rc = escrow_decrypt_file(cek, NULL, tmp, path, NULL, NULL);
    uint8_t salt[ESCROW__LEGACY_SALT_BYTES];
    memcpy(salt, head + 8, sizeof salt);
    if (rc == ESCROW_E_AUTH && ch->valid && si > 0) {
      /* EscrowAICI chained keys: the password is the previous secret's AES key. */
      uint8_t *ct = NULL, *pt = NULL;
      size_t ctl = 0, ptl = 0;
      int r2 = chain_key_for(ch, si);
      if (r2 == 0)
        r2 = escrow__read_file(tmp, SIZE_MAX - 2, false, &ct, &ctl);
      if (r2 == 0)
        r2 = escrow__legacy_decrypt_mem_raw(ch->key, ct, ctl, &pt, &ptl);
      escrow__free(ct);
      if (r2 == 0) {
        r2 = write_plain_file(path, pt, ptl);
        escrow__secure_free(pt);
      }
      if (r2 == 0 || r2 != ESCROW_E_AUTH)
        rc = r2;
      if (rc == ESCROW_E_AUTH)
        rc = escrow__err(ESCROW_E_AUTH,
                         "secret '%s' does not decrypt with this CEK (wrong key or altered file)",
                         enc);
    } else if (rc == ESCROW_E_AUTH) {
      rc = escrow__err(ESCROW_E_AUTH,
                       "secret '%s' does not decrypt with this CEK (wrong key or altered file)",
                       enc);
    }
    if (rc == 0 && ch->valid && ch->nsalts == si)
      memcpy(ch->salts[ch->nsalts++], salt, sizeof salt);
  }
  escrow__free(path);
  unlink(tmp);
  return rc;
}

int escrow_algorithm_extract(const escrow_algorithm *a, const escrow_cek *cek,
                             const char *out_dir) {
  if (a == NULL || cek == NULL || out_dir == NULL)
    return escrow__err(ESCROW_E_INVALID, "algorithm extract: NULL argument");
  /* Refuse before touching anything: a plaintext entry that is also a secret's output. */
  for (size_t i = 0; i < a->sec.n; i++)
    if (escrow__zip_find(a->z, a->sec.pairs[i].original, NULL) == 0)
      return escrow__err(ESCROW_E_FORMAT,
                         "'%s' is in the package both in plaintext and as a secret",
                         a->sec.pairs[i].original);
  if (mkdir(out_dir, 0700) != 0)
    return escrow__err_errno("cannot create folder", out_dir);
  int rc = 0;
  char *tmp = NULL;
  chain ch = {escrow__secure_malloc(ESCROW__LEGACY_KEY_BYTES), NULL, 0, NULL, 0, 1};
  if (ch.key != NULL)
    ch.next = escrow__secure_malloc(ESCROW__LEGACY_KEY_BYTES);
  if (ch.next != NULL && a->sec.n > 0)
    ch.salts = escrow__calloc(a->sec.n, sizeof *ch.salts);
  if (ch.key == NULL || ch.next == NULL || (a->sec.n > 0 && ch.salts == NULL)) {
    rc = escrow__err_nomem();
    goto out;
  }
  memcpy(ch.key, cek->bytes, ESCROW__LEGACY_KEY_BYTES);
  char rnd[13];
  uint8_t r[6];
  randombytes_buf(r, sizeof r);
  escrow__hex(rnd, r, sizeof r);
  char name[40];
  snprintf(name, sizeof name, ".escrow-extract-%s", rnd);
  tmp = escrow__path_join(out_dir, name);
  if (tmp == NULL) {
    rc = escrow__err_nomem();
    goto out;
  }
  size_t n = escrow__zip_count(a->z);
  for (size_t i = 0; i < n && rc == 0; i++) {
    const char *nm = escrow__zip_name(a->z, i);
    int is_enc = 0;
    for (size_t k = 0; k < a->sec.n && !is_enc; k++)
      is_enc = strcmp(a->sec.pairs[k].encrypted, nm) == 0;
    if (!is_enc)
      rc = extract_plain(a->z, i, out_dir);
  }
  for (size_t k = 0; k < a->sec.n && rc == 0; k++)
    rc = extract_secret(a, cek, k, out_dir, tmp, &ch);
out:
  escrow__secure_free(ch.key);
  escrow__secure_free(ch.next);
  escrow__free(ch.salts);
  escrow__free(tmp);
  if (rc != 0) {
    int code = rc;
    escrow__rmtree(out_dir);
    return code;
  }
  return 0;
}

/* ---- pack ------------------------------------------------------------------------------------ */

typedef struct pentry {
  char *name;     /* zip entry name */
  char *src;      /* file to read, or NULL for mem */
  uint8_t *mem;
  size_t mem_len;
  int deflate;
  uint32_t mode;
} pentry;

static int cmp_pentry(const void *x, const void *y) {
  return strcmp(((const pentry *)x)->name, ((const pentry *)y)->name);
}

static int bsearch_str(char **v, size_t n, const char *s) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(v[mid], s);
    if (c == 0)
      return (int)1;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return 0;
}

static char *normalise_arg(const char *p) {
  while (p[0] == '.' && p[1] == '/')
    p += 2;
  size_t l = strlen(p);
  while (l > 0 && p[l - 1] == '/')
    l--;
  return escrow__strndup(p, l);
}

/* Build the pairs from the secrets arguments (or the folder's secrets.yaml). */
static int pack_pairs(const char *dir, char **files, size_t nfiles, const char *const *secrets,
                      size_t n_secrets, escrow__secrets *pairs) {
  int rc = 0;
  if (n_secrets == 0) {
    char *sy = escrow__path_join(dir, ESCROW_SECRETS_FILE);
    if (sy == NULL)
      return escrow__err_nomem();
    uint8_t *buf = NULL;
    size_t len = 0;
    rc = escrow__read_file(sy, ESCROW__SECRETS_MAX_BYTES, false, &buf, &len);
    if (rc == ESCROW_E_NOTFOUND)
      rc = escrow__err(ESCROW_E_NOTFOUND,
                       "no files to encrypt were named and '%s' does not exist", sy);
    escrow__free(sy);
    if (rc == 0) {
      rc = escrow__secrets_parse(pairs, buf, len);
      escrow__free(buf);
    }
    for (size_t i = 0; rc == 0 && i < pairs->n; i++)
      if (!bsearch_str(files, nfiles, pairs->pairs[i].original))
        rc = escrow__err(ESCROW_E_NOTFOUND, "secrets.yaml names '%s', which is not in '%s'",
                         pairs->pairs[i].original, dir);
    return rc;
  }
  for (size_t s = 0; s < n_secrets && rc == 0; s++) {
    if (secrets[s] == NULL)
      return escrow__err(ESCROW_E_INVALID, "algorithm pack: NULL secret path");
    char *p = normalise_arg(secrets[s]);
    if (p == NULL)
      return escrow__err_nomem();
    if (!escrow__path_is_clean(p)) {
      rc = escrow__err(ESCROW_E_INVALID,
                       "secret '%s' is not a clean path inside the algorithm folder", secrets[s]);
      escrow__free(p);
      break;
    }
    size_t pl = strlen(p);
    int found = 0;
    for (size_t i = 0; i < nfiles && rc == 0; i++) {
      const char *f = files[i];
      if (strcmp(f, p) == 0 || (strncmp(f, p, pl) == 0 && f[pl] == '/')) {
        found = 1;
        int dup = 0;
        for (size_t k = 0; k < pairs->n && !dup; k++)
          dup = strcmp(pairs->pairs[k].original, f) == 0;
        if (dup)
          continue;
        size_t fl = strlen(f);
        char *e = escrow__malloc(fl + 7);
        if (e == NULL) {
          rc = escrow__err_nomem();
          break;
        }
        memcpy(e, f, fl);
        memcpy(e + fl, ".bkenc", 7);
        rc = escrow__secrets_add(pairs, e, f);
        escrow__free(e);
      }
    }
    if (rc == 0 && !found) {
      /* Tell a link (refused by the walk already) from a missing path. */
      rc = escrow__err(ESCROW_E_NOTFOUND, "secret '%s' is not a file or folder in '%s'", p, dir);
    }
    escrow__free(p);
  }
  return rc;
}

static int read_dockerfile_script(const char *dir, char **script) {
  *script = NULL;
  char *dp = escrow__path_join(dir, DOCKERFILE);
  if (dp == NULL)
    return escrow__err_nomem();
  uint8_t *buf = NULL;
  size_t len = 0;
  int rc = escrow__read_file(dp, DOCKERFILE_MAX, false, &buf, &len);
  escrow__free(dp);
  if (rc == ESCROW_E_NOTFOUND) {
    escrow_error_clear();
    return 0;
  }
  if (rc != 0)
    return rc;
  const char *why;
  rc = escrow__dockerfile_entry_script((const char *)buf, len, script, &why);
  escrow__free(buf);
  return rc;
}

int escrow_algorithm_pack(const char *dir, const escrow_cek *cek, const char *const *secrets,
                          size_t n_secrets, const escrow_pack_options *opts,
                          const char *out_zip) {
  if (dir == NULL || cek == NULL || out_zip == NULL || (secrets == NULL && n_secrets > 0))
    return escrow__err(ESCROW_E_INVALID, "algorithm pack: NULL argument");
  escrow_pack_options def = ESCROW_PACK_OPTIONS_INIT;
  if (opts == NULL)
    opts = &def;
  escrow_file_format fmt = opts->format == 0 ? ESCROW_FORMAT_V1 : opts->format;
  if (fmt != ESCROW_FORMAT_V1 && fmt != ESCROW_FORMAT_V0)
    return escrow__err(ESCROW_E_INVALID, "algorithm pack: unknown format %d", (int)opts->format);
  char **files = NULL;
  size_t nfiles = 0;
  int rc = escrow__walk_files(dir, &files, &nfiles);
  if (rc != 0)
    return rc;
  escrow__secrets pairs;
  memset(&pairs, 0, sizeof pairs);
  pentry *ents = NULL;
  size_t nents = 0;
  char *tmpdir = NULL, *script = NULL, *yaml = NULL;
  escrow__zipw *w = NULL;
  rc = pack_pairs(dir, files, nfiles, secrets, n_secrets, &pairs);
  if (rc == 0)
    rc = read_dockerfile_script(dir, &script);
  for (size_t i = 0; i < pairs.n && rc == 0; i++) {
    const char *o = pairs.pairs[i].original, *e = pairs.pairs[i].encrypted;
    if (strcmp(o, DOCKERFILE) == 0)
      rc = escrow__err(ESCROW_E_INVALID,
                       "the Dockerfile cannot be a secret: the platform builds the image from it "
                       "and must read it in plaintext");
    else if (script != NULL && strcmp(o, script) == 0)
      rc = escrow__err(ESCROW_E_INVALID,
                       "'%s' is the Dockerfile's entry point and cannot be a secret: the platform "
                       "must read it in plaintext (run secret code from a plaintext run.sh)",
                       o);
    else if (strcmp(o, ESCROW_SECRETS_FILE) == 0)
      rc = escrow__err(ESCROW_E_INVALID, "secrets.yaml cannot be a secret: it must stay readable");
    else if (bsearch_str(files, nfiles, e) || strcmp(e, ESCROW_SECRETS_FILE) == 0)
      rc = escrow__err(ESCROW_E_INVALID, "'%s' already exists in '%s'; cannot write the secret "
                       "'%s' there", e, dir, o);
  }
  if (rc != 0)
    goto out;
  ents = escrow__calloc(nfiles + pairs.n + 1, sizeof *ents);
  tmpdir = escrow__malloc(strlen(out_zip) + 32);
  if (ents == NULL || tmpdir == NULL) {
    rc = escrow__err_nomem();
    goto out;
  }
  {
    uint8_t r[6];
    char hx[13];
    randombytes_buf(r, sizeof r);
    escrow__hex(hx, r, sizeof r);
    snprintf(tmpdir, strlen(out_zip) + 32, "%s.enc-%s", out_zip, hx);
    if (mkdir(tmpdir, 0700) != 0) {
      rc = escrow__err_errno("cannot create folder", tmpdir);
      escrow__free(tmpdir);
      tmpdir = NULL;
      goto out;
    }
  }
  /* Plaintext files: everything but the secrets' originals and secrets.yaml. */
  for (size_t i = 0; i < nfiles; i++) {
    const char *f = files[i];
    if (strcmp(f, ESCROW_SECRETS_FILE) == 0)
      continue;
    int secret = 0;
    for (size_t k = 0; k < pairs.n && !secret; k++)
      secret = strcmp(pairs.pairs[k].original, f) == 0;
    if (secret)
      continue;
    pentry *pe = &ents[nents++];
    pe->name = escrow__strdup(f);
    pe->src = escrow__path_join(dir, f);
    pe->deflate = 1;
    if (pe->name == NULL || pe->src == NULL) {
      rc = escrow__err_nomem();
      goto out;
    }
    struct stat st;
    pe->mode = stat(pe->src, &st) == 0 ? (uint32_t)(st.st_mode & 0777) : 0644;
  }
  for (size_t k = 0; k < pairs.n; k++) {
    char nm[32];
    snprintf(nm, sizeof nm, "%zu.bkenc", k);
    char *in = escrow__path_join(dir, pairs.pairs[k].original);
    char *outp = escrow__path_join(tmpdir, nm);
    pentry *pe = &ents[nents++];
    pe->name = escrow__strdup(pairs.pairs[k].encrypted);
    pe->src = outp;
    pe->deflate = 0;
    pe->mode = 0644;
    if (in == NULL || outp == NULL || pe->name == NULL) {
      escrow__free(in);
      rc = escrow__err_nomem();
      goto out;
    }
    escrow_encrypt_options eo = ESCROW_ENCRYPT_OPTIONS_INIT;
    eo.context = opts->context;
    eo.context.path = pairs.pairs[k].original;
    rc = escrow_encrypt_file(cek, fmt == ESCROW_FORMAT_V1 ? &eo : NULL, fmt, in, outp, NULL, NULL,
                             NULL);
    escrow__free(in);
    if (rc != 0)
      goto out;
    if (opts->progress != NULL)
      opts->progress(opts->progress_payload, k + 1, pairs.n);
  }
  {
    size_t yl = 0;
    rc = escrow__secrets_write(&pairs, &yaml, &yl);
    if (rc != 0)
      goto out;
    pentry *pe = &ents[nents++];
    pe->name = escrow__strdup(ESCROW_SECRETS_FILE);
    pe->mem = (uint8_t *)yaml;
    pe->mem_len = yl;
    pe->deflate = 1;
    pe->mode = 0644;
    if (pe->name == NULL) {
      rc = escrow__err_nomem();
      goto out;
    }
  }
  qsort(ents, nents, sizeof *ents, cmp_pentry);
  rc = escrow__zipw_open(&w, out_zip);
  for (size_t i = 0; i < nents && rc == 0; i++) {
    if (ents[i].src != NULL)
      rc = escrow__zipw_add_file(w, ents[i].name, ents[i].src, ents[i].deflate, ents[i].mode);
    else
      rc = escrow__zipw_add_mem(w, ents[i].name, ents[i].mem, ents[i].mem_len, ents[i].deflate,
                                ents[i].mode);
  }
  if (rc == 0) {
    rc = escrow__zipw_commit(w);
    w = NULL;
  }
out:
  escrow__zipw_abort(w);
  if (tmpdir != NULL)
    escrow__rmtree(tmpdir);
  escrow__free(tmpdir);
  for (size_t i = 0; i < nents; i++) {
    escrow__free(ents[i].name);
    escrow__free(ents[i].src);
  }
  escrow__free(ents);
  escrow__free(yaml);
  escrow__free(script);
  escrow__secrets_clear(&pairs);
  escrow__free_strv(files, nfiles);
  return rc;
}
