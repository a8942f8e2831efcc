/* The parts of a Dockerfile the sandbox backend honours: the last stage's WORKDIR, ENV,
 * ENTRYPOINT/CMD and `COPY . DEST`. RUN lines are counted, never executed. */
#define _GNU_SOURCE
#include "enclave.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yajl/yajl_tree.h>

void enc_strv_free(char **v, size_t n) {
  if (!v) return;
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

void enc_image_free(enc_image *img) {
  if (!img) return;
  free(img->from);
  free(img->workdir);
  free(img->copy_dest);
  enc_strv_free(img->env, img->n_env);
  enc_strv_free(img->entrypoint, img->n_entrypoint);
  enc_strv_free(img->cmd, img->n_cmd);
  memset(img, 0, sizeof(*img));
}

static int seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int seterr(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return -1;
}

static int strv_push(char ***v, size_t *n, const char *s, size_t len) {
  char **nv = realloc(*v, (*n + 2) * sizeof(char *));
  if (!nv) return -1;
  *v = nv;
  if (!(nv[*n] = strndup(s, len))) return -1;
  (*n)++;
  nv[*n] = NULL;
  return 0;
}

/* Exec form ["a", "b"] (JSON), else the shell form /bin/sh -c TEXT. */
static int parse_command(const char *arg, char ***v, size_t *n, int *shell) {
  enc_strv_free(*v, *n);
  *v = NULL;
  *n = 0;
  *shell = 0;
  if (arg[0] == '[') {
    char ebuf[128];
    yajl_val t = yajl_tree_parse(arg, ebuf, sizeof(ebuf));
    if (t && YAJL_IS_ARRAY(t)) {
      int ok = 1;
      for (size_t i = 0; i < t->u.array.len && ok; i++) {
        yajl_val s = t->u.array.values[i];
        if (!YAJL_IS_STRING(s) || strv_push(v, n, s->u.string, strlen(s->u.string)) < 0) ok = 0;
      }
      yajl_tree_free(t);
      if (ok) return 0;
      enc_strv_free(*v, *n);
      *v = NULL;
      *n = 0;
    } else if (t) {
      yajl_tree_free(t);
    }
    /* Docker falls back to the shell form when the JSON is not an array of strings */
  }
  *shell = 1;
  if (strv_push(v, n, "/bin/sh", 7) < 0 || strv_push(v, n, "-c", 2) < 0 ||
      strv_push(v, n, arg, strlen(arg)) < 0)
    return -1;
  return 0;
}

static char *join_path(const char *base, const char *p) {
  char *out = NULL;
  if (p[0] == '/') return strdup(p);
  if (asprintf(&out, "%s%s%s", base, base[strlen(base) - 1] == '/' ? "" : "/", p) < 0) return NULL;
  return out;
}

/* ENV NAME=VALUE [NAME=VALUE...] (values may be double-quoted) or ENV NAME VALUE. */
static int parse_env(enc_image *img, const char *arg, char *err, size_t errlen, int line) {
  const char *sp = arg + strcspn(arg, " \t=");
  if (*sp != '=') { /* legacy form */
    size_t nl = (size_t)(sp - arg);
    while (*sp == ' ' || *sp == '\t') sp++;
    char *kv = NULL;
    if (asprintf(&kv, "%.*s=%s", (int)nl, arg, sp) < 0) return -1;
    int rc = strv_push(&img->env, &img->n_env, kv, strlen(kv));
    free(kv);
    return rc;
  }
  const char *p = arg;
  while (*p) {
    while (*p == ' ' || *p == '\t') p++;
    if (!*p) break;
    const char *eq = strchr(p, '=');
    if (!eq || eq == p) return seterr(err, errlen, "line %d: ENV expects NAME=VALUE", line);
    size_t cap = strlen(eq) + (size_t)(eq - p) + 2, o = 0;
    char *kv = malloc(cap);
    if (!kv) return -1;
    memcpy(kv, p, (size_t)(eq - p) + 1);
    o = (size_t)(eq - p) + 1;
    p = eq + 1;
    char q = 0;
    while (*p && (q || (*p != ' ' && *p != '\t'))) {
      if (!q && (*p == '"' || *p == '\'')) { q = *p++; continue; }
      if (q && *p == q) { q = 0; p++; continue; }
      if (*p == '\\' && p[1] && q != '\'') p++;
      kv[o++] = *p++;
    }
    kv[o] = 0;
    int rc = strv_push(&img->env, &img->n_env, kv, o);
    free(kv);
    if (rc < 0) return -1;
  }
  return 0;
}

int enc_dockerfile_parse(const char *text, size_t len, enc_image *img, char *err, size_t errlen) {
  memset(img, 0, sizeof(*img));
  if (errlen) err[0] = 0;
  if (!(img->workdir = strdup("/"))) return seterr(err, errlen, "out of memory");
  size_t pos = 0;
  int line = 0, seen_from = 0;
  char *logical = NULL;
  size_t llen = 0;
  while (pos < len) {
    /* gather one logical line (backslash continuations, comment lines inside skipped) */
    free(logical);
    logical = NULL;
    llen = 0;
    int start_line = line + 1;
    for (;;) {
      size_t e = pos;
      while (e < len && text[e] != '\n') e++;
      line++;
      const char *s = text + pos;
      size_t n = e - pos;
      pos = e < len ? e + 1 : e;
      if (n && s[n - 1] == '\r') n--;
      size_t k = 0;
      while (k < n && isspace((unsigned char)s[k])) k++;
      if (k < n && s[k] == '#') {
        if (llen == 0) break; /* a comment line */
        if (pos >= len) break;
        continue;
      }
      int cont = n > 0 && s[n - 1] == '\\';
      if (cont) n--;
      char *nl = realloc(logical, llen + n + 2);
      if (!nl) { free(logical); enc_image_free(img); return seterr(err, errlen, "out of memory"); }
      logical = nl;
      memcpy(logical + llen, s, n);
      llen += n;
      logical[llen] = 0;
      if (!cont || pos >= len) break;
      logical[llen++] = ' ';
      logical[llen] = 0;
    }
    if (!logical) continue;
    char *p = logical;
    while (isspace((unsigned char)*p)) p++;
    if (!*p) continue;
    char *kw = p;
    while (*p && !isspace((unsigned char)*p)) p++;
    size_t kwlen = (size_t)(p - kw);
    while (isspace((unsigned char)*p)) p++;
    char *arg = p;
    size_t al = strlen(arg);
    while (al && isspace((unsigned char)arg[al - 1])) arg[--al] = 0;
#define KW(s) (kwlen == sizeof(s) - 1 && strncasecmp(kw, s, kwlen) == 0)
    int rc = 0;
    if (KW("FROM")) {
      /* a new stage: only the last one runs */
      enc_image_free(img);
      if (!(img->workdir = strdup("/"))) rc = -1;
      size_t fl = strcspn(arg, " \t");
      if (!rc && !(img->from = strndup(arg, fl))) rc = -1;
      seen_from = 1;
    } else if (KW("WORKDIR")) {
      if (!*arg) { rc = seterr(err, errlen, "line %d: WORKDIR needs a path", start_line); break; }
      char *w = join_path(img->workdir, arg);
      if (!w) rc = -1; else { free(img->workdir); img->workdir = w; }
    } else if (KW("ENV")) {
      if (parse_env(img, arg, err, errlen, start_line) < 0) { rc = -2; break; }
    } else if (KW("ENTRYPOINT")) {
      rc = parse_command(arg, &img->entrypoint, &img->n_entrypoint, &img->entrypoint_shell);
    } else if (KW("CMD")) {
      int shell;
      rc = parse_command(arg, &img->cmd, &img->n_cmd, &shell);
    } else if (KW("COPY") || KW("ADD")) {
      /* COPY [--flags] SRC... DEST: remember DEST when a source is the whole context */
      char *toks[64];
      size_t nt = 0;
      for (char *t = strtok(arg, " \t"); t && nt < 64; t = strtok(NULL, " \t"))
        if (strncmp(t, "--", 2) != 0) toks[nt++] = t;
      if (nt >= 2) {
        int whole = 0;
        for (size_t i = 0; i + 1 < nt; i++)
          if (!strcmp(toks[i], ".") || !strcmp(toks[i], "./")) whole = 1;
        if (whole) {
          char *d = join_path(img->workdir, toks[nt - 1]);
          if (!d) rc = -1; else { free(img->copy_dest); img->copy_dest = d; }
        }
      }
    } else if (KW("RUN")) {
      img->run_lines++;
    }
#undef KW
    if (rc == -1) { free(logical); enc_image_free(img); return seterr(err, errlen, "out of memory"); }
    if (rc < 0) break;
    (void)seen_from;
  }
  free(logical);
  if (err[0]) { enc_image_free(img); return -1; }
  return 0;
}

int enc_image_argv(const enc_image *img, char ***argv, size_t *n) {
  *argv = NULL;
  *n = 0;
  if (img->n_entrypoint) {
    for (size_t i = 0; i < img->n_entrypoint; i++)
      if (strv_push(argv, n, img->entrypoint[i], strlen(img->entrypoint[i])) < 0) goto nomem;
    if (!img->entrypoint_shell)
      for (size_t i = 0; i < img->n_cmd; i++)
        if (strv_push(argv, n, img->cmd[i], strlen(img->cmd[i])) < 0) goto nomem;
  } else {
    for (size_t i = 0; i < img->n_cmd; i++)
      if (strv_push(argv, n, img->cmd[i], strlen(img->cmd[i])) < 0) goto nomem;
  }
  return *n ? 0 : -1;
nomem:
  enc_strv_free(*argv, *n);
  *argv = NULL;
  *n = 0;
  return -1;
}

