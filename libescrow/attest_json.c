/*
 * attest: a small JSON tree for tokens, claims, policies and release documents.
 *
 * yajl does the lexing (and UTF-8 validation); the tree is ours so that every node comes from
 * escrow__malloc (allocation-failure tests), duplicate members are refused (a token with two
 * "iss" members must not mean one thing to us and another to someone else), depth and width
 * are bounded, and numbers keep their source text for the policy's canonical comparisons.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "attest_internal.h"
#include "internal.h"

/* ---- construction ------------------------------------------------------------------------ */

escrow__json *escrow__json_new(escrow__jtype type) {
  escrow__json *j = escrow__calloc(1, sizeof *j);
  if (j == NULL) {
    escrow__err_nomem();
    return NULL;
  }
  j->type = type;
  return j;
}

escrow__json *escrow__json_strn(const char *s, size_t len) {
  escrow__json *j = escrow__json_new(ESCROW__J_STRING);
  if (j == NULL)
    return NULL;
  j->s = escrow__strndup(s, len);
  if (j->s == NULL) {
    escrow__free(j);
    escrow__err_nomem();
    return NULL;
  }
  j->len = strlen(j->s);
  return j;
}

escrow__json *escrow__json_str(const char *s) { return escrow__json_strn(s, strlen(s)); }

escrow__json *escrow__json_int(int64_t v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%" PRId64, v);
  escrow__json *j = escrow__json_strn(buf, strlen(buf));
  if (j != NULL)
    j->type = ESCROW__J_NUMBER;
  return j;
}

escrow__json *escrow__json_bool(bool b) {
  escrow__json *j = escrow__json_new(ESCROW__J_BOOL);
  if (j != NULL)
    j->b = b;
  return j;
}

void escrow__json_free(escrow__json *j) {
  if (j == NULL)
    return;
  for (size_t i = 0; i < j->n; i++) {
    if (j->keys != NULL)
      escrow__free(j->keys[i]);
    escrow__json_free(j->items[i]);
  }
  escrow__free(j->keys);
  escrow__free(j->items);
  escrow__free(j->s);
  escrow__free(j);
}

static int grow(escrow__json *c) {
  if (c->n < c->cap)
    return 0;
  size_t cap = c->cap == 0 ? 4 : c->cap * 2;
  escrow__json **items = escrow__realloc(c->items, cap * sizeof *items);
  if (items == NULL)
    return escrow__err_nomem();
  c->items = items;
  if (c->type == ESCROW__J_OBJECT) {
    char **keys = escrow__realloc(c->keys, cap * sizeof *keys);
    if (keys == NULL)
      return escrow__err_nomem();
    c->keys = keys;
  }
  c->cap = cap;
  return 0;
}

int escrow__json_push(escrow__json *arr, escrow__json *v) {
  if (v == NULL)
    return ESCROW_E_NOMEM;
  int rc = grow(arr);
  if (rc != 0) {
    escrow__json_free(v);
    return rc;
  }
  arr->items[arr->n++] = v;
  return 0;
}

static ssize_t find_key(const escrow__json *obj, const char *key) {
  for (size_t i = 0; i < obj->n; i++)
    if (strcmp(obj->keys[i], key) == 0)
      return (ssize_t)i;
  return -1;
}

int escrow__json_set(escrow__json *obj, const char *key, escrow__json *v) {
  if (v == NULL)
    return ESCROW_E_NOMEM;
  ssize_t at = find_key(obj, key);
  if (at >= 0) {
    escrow__json_free(obj->items[at]);
    obj->items[at] = v;
    return 0;
  }
  char *k = escrow__strdup(key);
  int rc = k == NULL ? escrow__err_nomem() : grow(obj);
  if (rc != 0) {
    escrow__free(k);
    escrow__json_free(v);
    return rc;
  }
  obj->keys[obj->n] = k;
  obj->items[obj->n++] = v;
  return 0;
}

void escrow__json_del(escrow__json *obj, const char *key) {
  if (obj == NULL || obj->type != ESCROW__J_OBJECT)
    return;
  ssize_t at = find_key(obj, key);
  if (at < 0)
    return;
  escrow__free(obj->keys[at]);
  escrow__json_free(obj->items[at]);
  for (size_t i = (size_t)at + 1; i < obj->n; i++) {
    obj->keys[i - 1] = obj->keys[i];
    obj->items[i - 1] = obj->items[i];
  }
  obj->n--;
}

escrow__json *escrow__json_copy(const escrow__json *j) {
  escrow__json *c = escrow__json_new(j->type);
  if (c == NULL)
    return NULL;
  c->b = j->b;
  if (j->s != NULL) {
    c->s = escrow__strndup(j->s, j->len);
    if (c->s == NULL) {
      escrow__free(c);
      escrow__err_nomem();
      return NULL;
    }
    c->len = j->len;
  }
  for (size_t i = 0; i < j->n; i++) {
    escrow__json *item = escrow__json_copy(j->items[i]);
    int rc = j->type == ESCROW__J_OBJECT ? escrow__json_set(c, j->keys[i], item)
                                         : escrow__json_push(c, item);
    if (rc != 0) {
      escrow__json_free(c);
      return NULL;
    }
  }
  return c;
}

/* ---- lookups ----------------------------------------------------------------------------- */

const escrow__json *escrow__json_get(const escrow__json *obj, const char *key) {
  if (obj == NULL || obj->type != ESCROW__J_OBJECT)
    return NULL;
  ssize_t at = find_key(obj, key);
  return at < 0 ? NULL : obj->items[at];
}

const escrow__json *escrow__json_path(const escrow__json *obj, const char *path) {
  const escrow__json *cur = obj;
  const char *p = path;
  char seg[256];
  for (;;) {
    const char *dot = strchr(p, '.');
    size_t l = dot != NULL ? (size_t)(dot - p) : strlen(p);
    if (l == 0 || l >= sizeof seg)
      return NULL;
    memcpy(seg, p, l);
    seg[l] = '\0';
    cur = escrow__json_get(cur, seg);
    if (cur == NULL || dot == NULL)
      return cur;
    p = dot + 1;
  }
}

const char *escrow__json_get_str(const escrow__json *obj, const char *key) {
  const escrow__json *v = escrow__json_get(obj, key);
  return v != NULL && v->type == ESCROW__J_STRING ? v->s : NULL;
}

int escrow__json_get_int(const escrow__json *obj, const char *key, int64_t *v, const char *what) {
  const escrow__json *j = escrow__json_get(obj, key);
  if (j == NULL)
    return ESCROW_E_NOTFOUND;
  if (j->type != ESCROW__J_NUMBER || strpbrk(j->s, ".eE") != NULL)
    return escrow__err(ESCROW_E_FORMAT, "%s: '%s' is not an integer", what, key);
  errno = 0;
  char *end = NULL;
  long long x = strtoll(j->s, &end, 10);
  if (errno != 0 || end == j->s || *end != '\0')
    return escrow__err(ESCROW_E_FORMAT, "%s: '%s' is out of range", what, key);
  *v = (int64_t)x;
  return 0;
}

/* ---- parsing ----------------------------------------------------------------------------- */

typedef struct jparser {
  escrow__json *stack[ESCROW__JSON_MAX_DEPTH];
  size_t depth;
  escrow__json *root;
  char *key; /* pending object member name */
  int rc;
  const char *what;
} jparser;

static int add_value(jparser *p, escrow__json *v) {
  if (v == NULL) {
    p->rc = ESCROW_E_NOMEM;
    return 0;
  }
  if (p->depth == 0) {
    p->root = v;
    return 1;
  }
  escrow__json *parent = p->stack[p->depth - 1];
  if (parent->n >= ESCROW__JSON_MAX_MEMBERS) {
    escrow__json_free(v);
    p->rc = escrow__err(ESCROW_E_LIMIT, "%s: more than %d members in one object or array",
                        p->what, ESCROW__JSON_MAX_MEMBERS);
    return 0;
  }
  if (parent->type == ESCROW__J_ARRAY) {
    int rc = escrow__json_push(parent, v);
    if (rc != 0) {
      p->rc = rc;
      return 0;
    }
    return 1;
  }
  int rc = grow(parent);
  if (rc != 0) {
    escrow__json_free(v);
    p->rc = rc;
    return 0;
  }
  parent->keys[parent->n] = p->key;
  parent->items[parent->n++] = v;
  p->key = NULL;
  return 1;
}

static int cb_null(void *ctx) { return add_value(ctx, escrow__json_new(ESCROW__J_NULL)); }

static int cb_bool(void *ctx, int b) { return add_value(ctx, escrow__json_bool(b != 0)); }

static int cb_number(void *ctx, const char *s, size_t len) {
  escrow__json *j = escrow__json_strn(s, len);
  if (j != NULL)
    j->type = ESCROW__J_NUMBER;
  return add_value(ctx, j);
}

static int no_nul(jparser *p, const unsigned char *s, size_t len) {
  if (memchr(s, 0, len) != NULL) {
    p->rc = escrow__err(ESCROW_E_FORMAT, "%s: a string contains a NUL character", p->what);
    return 0;
  }
  return 1;
}

static int cb_string(void *ctx, const unsigned char *s, size_t len) {
  if (!no_nul(ctx, s, len))
    return 0;
  return add_value(ctx, escrow__json_strn((const char *)s, len));
}

static int open_container(jparser *p, escrow__jtype type) {
  if (p->depth >= ESCROW__JSON_MAX_DEPTH) {
    p->rc = escrow__err(ESCROW_E_LIMIT, "%s: nested more than %d levels deep", p->what,
                        ESCROW__JSON_MAX_DEPTH);
    return 0;
  }
  escrow__json *c = escrow__json_new(type);
  if (!add_value(p, c))
    return 0;
  p->stack[p->depth++] = c;
  return 1;
}

static int cb_start_map(void *ctx) { return open_container(ctx, ESCROW__J_OBJECT); }
static int cb_start_array(void *ctx) { return open_container(ctx, ESCROW__J_ARRAY); }

static int cb_end(void *ctx) {
  jparser *p = ctx;
  p->depth--;
  return 1;
}

static int cb_map_key(void *ctx, const unsigned char *s, size_t len) {
  jparser *p = ctx;
  if (!no_nul(p, s, len))
    return 0;
  escrow__json *obj = p->stack[p->depth - 1];
  for (size_t i = 0; i < obj->n; i++) {
    if (strlen(obj->keys[i]) == len && memcmp(obj->keys[i], s, len) == 0) {
      p->rc = escrow__err(ESCROW_E_FORMAT, "%s: member '%.*s' appears twice", p->what,
                          (int)(len > 64 ? 64 : len), (const char *)s);
      return 0;
    }
  }
  p->key = escrow__strndup((const char *)s, len);
  if (p->key == NULL) {
    p->rc = escrow__err_nomem();
    return 0;
  }
  return 1;
}

static const yajl_callbacks jcb = {cb_null,      cb_bool,    NULL,           NULL,
                                   cb_number,    cb_string,  cb_start_map,   cb_map_key,
                                   cb_end,       cb_start_array, cb_end};

int escrow__json_parse(escrow__json **out, const uint8_t *text, size_t len, const char *what) {
  *out = NULL;
  if (len > ESCROW_ATTEST_MAX_INPUT)
    return escrow__err(ESCROW_E_LIMIT, "%s is larger than %u bytes", what,
                       ESCROW_ATTEST_MAX_INPUT);
  jparser p;
  memset(&p, 0, sizeof p);
  p.what = what;
  yajl_handle h = yajl_alloc(&jcb, NULL, &p);
  if (h == NULL)
    return escrow__err_nomem();
  yajl_status s = yajl_parse(h, text != NULL ? text : (const uint8_t *)"", len);
  if (s == yajl_status_ok)
    s = yajl_complete_parse(h);
  int rc = 0;
  if (s != yajl_status_ok || p.rc != 0 || p.root == NULL) {
    if (p.rc != 0) {
      rc = p.rc;
    } else {
      unsigned char *em = yajl_get_error(h, 0, text, len);
      size_t l = em != NULL ? strlen((const char *)em) : 0;
      while (l > 0 && (em[l - 1] == '\n' || em[l - 1] == ' '))
        l--;
      rc = escrow__err(ESCROW_E_FORMAT, "%s is not valid JSON: %.*s", what, (int)l,
                       em != NULL ? (const char *)em : "no value");
      if (em != NULL)
        yajl_free_error(h, em);
    }
  }
  yajl_free(h);
  escrow__free(p.key);
  if (rc != 0) {
    escrow__json_free(p.root);
    return rc;
  }
  *out = p.root;
  return 0;
}

/* ---- canonical output -------------------------------------------------------------------- */

typedef struct sbuf {
  char *p;
  size_t len, cap;
  int rc;
} sbuf;

static void put(sbuf *b, const char *s, size_t n) {
  if (b->rc != 0)
    return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap == 0 ? 256 : b->cap;
    while (cap < b->len + n + 1)
      cap *= 2;
    char *p = escrow__realloc(b->p, cap);
    if (p == NULL) {
      b->rc = escrow__err_nomem();
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void put_string(sbuf *b, const char *s, size_t len) {
  put(b, "\"", 1);
  size_t run = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    const char *esc = NULL;
    char u[8];
    if (c == '"')
      esc = "\\\"";
    else if (c == '\\')
      esc = "\\\\";
    else if (c == '\b')
      esc = "\\b";
    else if (c == '\f')
      esc = "\\f";
    else if (c == '\n')
      esc = "\\n";
    else if (c == '\r')
      esc = "\\r";
    else if (c == '\t')
      esc = "\\t";
    else if (c < 0x20) {
      snprintf(u, sizeof u, "\\u%04x", c);
      esc = u;
    }
    if (esc != NULL) {
      put(b, s + run, i - run);
      put(b, esc, strlen(esc));
      run = i + 1;
    }
  }
  put(b, s + run, len - run);
  put(b, "\"", 1);
}

static void put_value(sbuf *b, const escrow__json *j) {
  switch (j->type) {
  case ESCROW__J_NULL:
    put(b, "null", 4);
    break;
  case ESCROW__J_BOOL:
    put(b, j->b ? "true" : "false", j->b ? 4 : 5);
    break;
  case ESCROW__J_NUMBER:
    put(b, j->s, j->len);
    break;
  case ESCROW__J_STRING:
    put_string(b, j->s, j->len);
    break;
  case ESCROW__J_ARRAY:
    put(b, "[", 1);
    for (size_t i = 0; i < j->n; i++) {
      if (i > 0)
        put(b, ",", 1);
      put_value(b, j->items[i]);
    }
    put(b, "]", 1);
    break;
  case ESCROW__J_OBJECT: {
    size_t *idx = j->n > 0 ? escrow__malloc(j->n * sizeof *idx) : NULL;
    if (j->n > 0 && idx == NULL) {
      if (b->rc == 0)
        b->rc = escrow__err_nomem();
      return;
    }
    for (size_t i = 0; i < j->n; i++) {
      size_t k = i;
      while (k > 0 && strcmp(j->keys[idx[k - 1]], j->keys[i]) > 0) {
        idx[k] = idx[k - 1];
        k--;
      }
      idx[k] = i;
    }
    put(b, "{", 1);
    for (size_t i = 0; i < j->n; i++) {
      if (i > 0)
        put(b, ",", 1);
      put_string(b, j->keys[idx[i]], strlen(j->keys[idx[i]]));
      put(b, ":", 1);
      put_value(b, j->items[idx[i]]);
    }
    put(b, "}", 1);
    escrow__free(idx);
    break;
  }
  }
}

int escrow__json_canonical(const escrow__json *j, char **out, size_t *out_len) {
  sbuf b = {NULL, 0, 0, 0};
  put_value(&b, j);
  put(&b, "", 0);
  if (b.rc != 0) {
    escrow__free(b.p);
    *out = NULL;
    return b.rc;
  }
  *out = b.p;
  if (out_len != NULL)
    *out_len = b.len;
  return 0;
}
