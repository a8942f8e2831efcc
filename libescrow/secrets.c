/*
 * secrets.yaml reader (libyaml events, plus the unquoted-list fallback) and writer.
 * See secrets_internal.h for the rules.
 */
#include <stdio.h>
#include <string.h>

#include <yaml.h>

#include "internal.h"
#include "secrets_internal.h"

void escrow__secrets_clear(escrow__secrets *s) {
  if (s == NULL)
    return;
  for (size_t i = 0; i < s->n; i++) {
    escrow__free(s->pairs[i].encrypted);
    escrow__free(s->pairs[i].original);
  }
  escrow__free(s->pairs);
  s->pairs = NULL;
  s->n = 0;
  s->used_fallback = 0;
}

static int add_n(escrow__secrets *s, const char *e, size_t el, const char *o, size_t ol) {
  if (s->n >= ESCROW__SECRETS_MAX_PAIRS)
    return escrow__err(ESCROW_E_LIMIT, "secrets.yaml lists more than %u files",
                       ESCROW__SECRETS_MAX_PAIRS);
  escrow__secret_pair *np = escrow__realloc(s->pairs, (s->n + 1) * sizeof *np);
  if (np == NULL)
    return escrow__err_nomem();
  s->pairs = np;
  char *ec = escrow__strndup(e, el);
  char *oc = escrow__strndup(o, ol);
  if (ec == NULL || oc == NULL) {
    escrow__free(ec);
    escrow__free(oc);
    return escrow__err_nomem();
  }
  s->pairs[s->n].encrypted = ec;
  s->pairs[s->n].original = oc;
  s->n++;
  return 0;
}

int escrow__secrets_add(escrow__secrets *s, const char *encrypted, const char *original) {
  return add_n(s, encrypted, strlen(encrypted), original, strlen(original));
}

/* ---- YAML (event API) -------------------------------------------------------------------- */

/* Outcome of the structured reading. */
enum { Y_OK = 0, Y_SHAPE = 1 /* parsed, but not pairs of plain strings */, Y_SYNTAX = 2 };

typedef struct yctx {
  yaml_parser_t parser;
  yaml_event_t ev;
  int have_ev;
  char msg[200];
} yctx;

static int ynext(yctx *y) {
  if (y->have_ev)
    yaml_event_delete(&y->ev);
  y->have_ev = 0;
  if (!yaml_parser_parse(&y->parser, &y->ev)) {
    if (y->parser.error == YAML_MEMORY_ERROR)
      return escrow__err_nomem();
    snprintf(y->msg, sizeof y->msg, "%s at line %lu",
             y->parser.problem != NULL ? y->parser.problem : "syntax error",
             (unsigned long)y->parser.problem_mark.line + 1);
    return 1; /* syntax */
  }
  y->have_ev = 1;
  return 0;
}

/* Skip the node whose start event is current. */
static int yskip(yctx *y) {
  int depth = 0;
  for (;;) {
    yaml_event_type_t t = y->ev.type;
    if (t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT)
      depth++;
    else if (t == YAML_SEQUENCE_END_EVENT || t == YAML_MAPPING_END_EVENT)
      depth--;
    if (depth <= 0)
      return 0;
    int rc = ynext(y);
    if (rc != 0)
      return rc;
  }
}

static int plain_scalar(const yaml_event_t *ev) {
  return ev->type == YAML_SCALAR_EVENT && ev->data.scalar.anchor == NULL &&
         ev->data.scalar.tag == NULL;
}

/* Returns <0 error code, or Y_OK / Y_SHAPE / Y_SYNTAX. */
static int yaml_read(escrow__secrets *out, const uint8_t *data, size_t len, char *msg,
                     size_t msgsz) {
  yctx y;
  memset(&y, 0, sizeof y);
  if (!yaml_parser_initialize(&y.parser))
    return escrow__err_nomem();
  yaml_parser_set_input_string(&y.parser, data, len);
  int rc = 0, res = Y_OK, found = 0;
  char *e = NULL; /* first name of the pair being read; freed at done on every path */
#define NEXT()                                                                                 \
  do {                                                                                         \
    rc = ynext(&y);                                                                            \
    if (rc != 0)                                                                               \
      goto done;                                                                               \
  } while (0)
#define SHAPE(m)                                                                               \
  do {                                                                                         \
    snprintf(y.msg, sizeof y.msg, "%s", m);                                                    \
    res = Y_SHAPE;                                                                             \
    goto done;                                                                                 \
  } while (0)
  NEXT(); /* stream start */
  NEXT();
  if (y.ev.type != YAML_DOCUMENT_START_EVENT)
    SHAPE("secrets.yaml is empty");
  NEXT();
  if (y.ev.type != YAML_MAPPING_START_EVENT)
    SHAPE("secrets.yaml is not a mapping with a secretFiles list");
  for (;;) {
    NEXT();
    if (y.ev.type == YAML_MAPPING_END_EVENT)
      break;
    if (y.ev.type != YAML_SCALAR_EVENT) {
      rc = yskip(&y); /* complex key: skip it and its value */
      if (rc != 0)
        goto done;
      NEXT();
      rc = yskip(&y);
      if (rc != 0)
        goto done;
      continue;
    }
    int is_sf = y.ev.data.scalar.length == 11 &&
                memcmp(y.ev.data.scalar.value, "secretFiles", 11) == 0;
    NEXT();
    if (!is_sf) {
      rc = yskip(&y);
      if (rc != 0)
        goto done;
      continue;
    }
    if (found) {
      rc = escrow__err(ESCROW_E_FORMAT, "secrets.yaml has secretFiles twice");
      goto done;
    }
    found = 1;
    if (y.ev.type == YAML_SCALAR_EVENT && y.ev.data.scalar.length == 0 &&
        y.ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
      continue; /* "secretFiles:" with nothing: an empty list */
    if (y.ev.type != YAML_SEQUENCE_START_EVENT)
      SHAPE("secretFiles is not a list");
    for (;;) {
      NEXT();
      if (y.ev.type == YAML_SEQUENCE_END_EVENT)
        break;
      if (y.ev.type != YAML_SEQUENCE_START_EVENT)
        SHAPE("a secretFiles item is not an [encrypted, original] pair");
      size_t el = 0;
      int items = 0;
      for (;;) {
        NEXT();
        if (y.ev.type == YAML_SEQUENCE_END_EVENT)
          break;
        if (!plain_scalar(&y.ev) || ++items > 2) {
          SHAPE("a secretFiles item is not an [encrypted, original] pair of names");
        }
        const char *v = (const char *)y.ev.data.scalar.value;
        size_t vl = y.ev.data.scalar.length;
        if (memchr(v, '\0', vl) != NULL) {
          rc = escrow__err(ESCROW_E_FORMAT, "secrets.yaml holds a name with a NUL character");
          goto done;
        }
        if (items == 1) {
          e = escrow__strndup(v, vl);
          el = vl;
          if (e == NULL) {
            rc = escrow__err_nomem();
            goto done;
          }
        } else {
          rc = add_n(out, e, el, v, vl);
          escrow__free(e);
          e = NULL;
          if (rc != 0)
            goto done;
        }
      }
      escrow__free(e);
      e = NULL;
      if (items != 2)
        SHAPE("a secretFiles item is not an [encrypted, original] pair");
    }
  }
  if (!found)
    SHAPE("secrets.yaml has no secretFiles list");
done:
  escrow__free(e);
  if (rc == 1) { /* syntax error from ynext */
    res = Y_SYNTAX;
    rc = 0;
  }
  snprintf(msg, msgsz, "%s", y.msg);
  if (y.have_ev)
    yaml_event_delete(&y.ev);
  yaml_parser_delete(&y.parser);
#undef NEXT
#undef SHAPE
  return rc < 0 ? rc : res;
}

/* ---- the escrowai-encrypt 0.0.4 line form ------------------------------------------------- */

static int is_blank(const char *s, size_t l) {
  for (size_t i = 0; i < l; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
      return 0;
  return 1;
}

/* Returns <0 error, 0 parsed, 1 the text does not have the line form. */
static int lines_read(escrow__secrets *out, const char *text, size_t len) {
  if (memchr(text, '\0', len) != NULL)
    return 1;
  const char *p = text, *end = text + len;
  int header = 0;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl != NULL ? nl : end;
    size_t l = (size_t)(le - p);
    while (l > 0 && (p[l - 1] == '\r' || p[l - 1] == ' ' || p[l - 1] == '\t'))
      l--;
    const char *line = p;
    p = nl != NULL ? nl + 1 : end;
    if (is_blank(line, l))
      continue;
    if (!header) {
      if (l == 12 && memcmp(line, "secretFiles:", 12) == 0) {
        header = 1;
        continue;
      }
      if (line[0] == '#')
        continue;
      return 1;
    }
    size_t i = 0;
    while (i < l && (line[i] == ' ' || line[i] == '\t'))
      i++;
    if (l - i < 4 || line[i] != '-' || line[i + 1] != ' ')
      return 1;
    i += 2;
    while (i < l && line[i] == ' ')
      i++;
    if (i >= l || line[i] != '[' || line[l - 1] != ']')
      return 1;
    const char *c = line + i + 1;
    size_t cl = l - i - 2;
    /* Split at ", ": prefer the one position where enc == orig + ".bkenc". */
    size_t first = SIZE_MAX, match = SIZE_MAX;
    int matches = 0;
    for (size_t k = 0; k + 1 < cl; k++) {
      if (c[k] != ',' || c[k + 1] != ' ')
        continue;
      if (first == SIZE_MAX)
        first = k;
      size_t el = k, ol = cl - k - 2;
      if (el == ol + 6 && memcmp(c, c + k + 2, ol) == 0 && memcmp(c + ol, ".bkenc", 6) == 0) {
        match = k;
        matches++;
      }
    }
    size_t at = matches == 1 ? match : first;
    if (at == SIZE_MAX)
      return 1;
    int rc = add_n(out, c, at, c + at + 2, cl - at - 2);
    if (rc != 0)
      return rc;
  }
  return header ? 0 : 1;
}

/* ---- validation ------------------------------------------------------------------------------ */

static void strip_dot_slash(char *s) {
  size_t k = 0;
  while (s[k] == '.' && s[k + 1] == '/')
    k += 2;
  if (k > 0)
    memmove(s, s + k, strlen(s + k) + 1);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int validate(escrow__secrets *s) {
  for (size_t i = 0; i < s->n; i++) {
    char *f[2] = {s->pairs[i].encrypted, s->pairs[i].original};
    for (int k = 0; k < 2; k++) {
      strip_dot_slash(f[k]);
      if (!escrow__path_is_clean(f[k]))
        return escrow__err(ESCROW_E_FORMAT,
                           "secrets.yaml item %zu: the %s path is not a clean relative path "
                           "('/'-separated, no '..', no empty component, no backslash)",
                           i + 1, k == 0 ? "encrypted" : "original");
    }
    if (strcmp(f[0], f[1]) == 0)
      return escrow__err(ESCROW_E_FORMAT,
                         "secrets.yaml item %zu: the encrypted and original paths are the same",
                         i + 1);
  }
  if (s->n < 2)
    return 0;
  const char **v = escrow__calloc(2 * s->n, sizeof *v);
  if (v == NULL)
    return escrow__err_nomem();
  for (size_t i = 0; i < s->n; i++) {
    v[2 * i] = s->pairs[i].encrypted;
    v[2 * i + 1] = s->pairs[i].original;
  }
  qsort(v, 2 * s->n, sizeof *v, cmp_str);
  int rc = 0;
  for (size_t i = 0; i + 1 < 2 * s->n; i++)
    if (strcmp(v[i], v[i + 1]) == 0) {
      rc = escrow__err(ESCROW_E_FORMAT, "secrets.yaml names a path more than once");
      break;
    }
  escrow__free(v);
  return rc;
}

int escrow__secrets_parse(escrow__secrets *out, const uint8_t *data, size_t len) {
  memset(out, 0, sizeof *out);
  if (data == NULL && len > 0)
    return escrow__err(ESCROW_E_INVALID, "secrets.yaml: NULL data");
  if (len > ESCROW__SECRETS_MAX_BYTES)
    return escrow__err(ESCROW_E_LIMIT, "secrets.yaml is larger than %u bytes",
                       ESCROW__SECRETS_MAX_BYTES);
  if (len == 0)
    return escrow__err(ESCROW_E_FORMAT, "secrets.yaml is empty");
  char msg[200] = "";
  int rc = yaml_read(out, data, len, msg, sizeof msg);
  if (rc < 0)
    return rc;
  if (rc != Y_OK) {
    escrow__secrets_clear(out);
    int lr = lines_read(out, (const char *)data, len);
    if (lr < 0)
      return lr;
    if (lr == 1) {
      escrow__secrets_clear(out);
      return escrow__err(ESCROW_E_FORMAT, "cannot read secrets.yaml: %s", msg);
    }
    out->used_fallback = 1;
  }
  return validate(out);
}

/* ---- writer ---------------------------------------------------------------------------------- */

typedef struct sbuf {
  char *p;
  size_t len, cap;
  int err;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t l) {
  if (b->err)
    return;
  if (l + 1 > b->cap - b->len) {
    size_t nc = b->cap * 2 + l + 64;
    char *np = escrow__realloc(b->p, nc);
    if (np == NULL) {
      b->err = 1;
      return;
    }
    b->p = np;
    b->cap = nc;
  }
  memcpy(b->p + b->len, s, l);
  b->len += l;
  b->p[b->len] = '\0';
}

/* Double-quoted YAML scalar. Code points YAML does not allow raw in a stream (C0 and C1
 * controls, DEL, U+FFFE/U+FFFF) or would read as line breaks or a byte-order mark (NEL, LS, PS,
 * U+FEFF) are escaped; other UTF-8 passes through (names are valid UTF-8 already). */
static void sb_quoted(sbuf *b, const char *s) {
  sb_put(b, "\"", 1);
  const unsigned char *u = (const unsigned char *)s;
  for (size_t i = 0; u[i] != '\0';) {
    char esc[12];
    unsigned c = u[i];
    size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    for (size_t k = 1; k < n; k++)
      if (u[i + k] == '\0')
        n = k; /* not reached for valid UTF-8 */
    uint32_t cp = c;
    if (n == 2)
      cp = ((c & 0x1Fu) << 6) | (u[i + 1] & 0x3Fu);
    else if (n == 3)
      cp = ((c & 0x0Fu) << 12) | ((u[i + 1] & 0x3Fu) << 6) | (u[i + 2] & 0x3Fu);
    if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)c;
      sb_put(b, esc, 2);
    } else if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 ||
               cp == 0xFEFF || cp == 0xFFFE || cp == 0xFFFF) {
      snprintf(esc, sizeof esc, "\\u%04x", (unsigned)cp);
      sb_put(b, esc, 6);
    } else {
      sb_put(b, (const char *)&u[i], n);
    }
    i += n;
  }
  sb_put(b, "\"", 1);
}

int escrow__secrets_write(const escrow__secrets *s, char **out, size_t *len) {
  *out = NULL;
  *len = 0;
  sbuf b = {0};
  static const char head[] = "# Files of this package that are encrypted: [encrypted, original]\n";
  static const char empty[] = "secretFiles: []\n";
  static const char list[] = "secretFiles:\n";
  sb_put(&b, head, sizeof head - 1);
  if (s->n == 0) {
    sb_put(&b, empty, sizeof empty - 1);
  } else {
    sb_put(&b, list, sizeof list - 1);
    for (size_t i = 0; i < s->n; i++) {
      sb_put(&b, "  - [", 5);
      sb_quoted(&b, s->pairs[i].encrypted);
      sb_put(&b, ", ", 2);
      sb_quoted(&b, s->pairs[i].original);
      sb_put(&b, "]\n", 2);
    }
  }
  if (b.err) {
    escrow__free(b.p);
    return escrow__err_nomem();
  }
  *out = b.p;
  *len = b.len;
  return 0;
}
