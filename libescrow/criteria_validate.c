/*
 * Validation criteria: the validator, a port of cerberus.Validator 1.3.2 (validation domain)
 * and of its SchemaValidator (schema mode), with BasicErrorHandler's error tree.
 *
 * Errors are kept the way Cerberus keeps them (document path, schema path, code, children for
 * group and logic errors), sorted with the same comparison after every insertion, and turned
 * into the tree at the end with the same path rewriting, so nesting and order come out as
 * Cerberus prints them.
 */
#include <stddef.h>
#include <string.h>

#include "criteria_internal.h"

/* ---- paths and errors -------------------------------------------------------------------- */

typedef struct pel {
  const char *s; /* NULL: integer element */
  int64_t i;
  uint32_t n;
} pel;

typedef struct path {
  pel *e;
  uint32_t n;
} path;

typedef struct perr perr;
struct perr {
  path dp, sp;
  int code;
  const char *rule;
  char *msg;
  perr **kids;
  size_t nkids;
};

typedef struct elist {
  perr **e;
  size_t n, cap;
  bool dirty; /* appended past the exact-sort size: sort before use */
} elist;

enum {
  E_CUSTOM = 0x00, E_REQUIRED = 0x02, E_UNKNOWN = 0x03, E_DEP_FIELD = 0x04,
  E_DEP_VALUE = 0x05, E_EXCLUDES = 0x06, E_EMPTY = 0x22, E_NULL = 0x23, E_TYPE = 0x24,
  E_TYPE_SCHEMA = 0x25, E_ITEMS_LEN = 0x26, E_MINLEN = 0x27, E_MAXLEN = 0x28, E_REGEX = 0x41,
  E_MIN = 0x42, E_MAX = 0x43, E_ALLOWED = 0x44, E_ALLOWED_N = 0x45, E_FORBIDDEN = 0x46,
  E_FORBIDDEN_N = 0x47, E_MISSING = 0x48, E_READONLY = 0x63, E_MAPPING = 0x81,
  E_SEQUENCE = 0x82, E_KEYSRULES = 0x83, E_VALUESRULES = 0x84, E_ITEMS = 0x8F, E_NONEOF = 0x91,
  E_ONEOF = 0x92, E_ANYOF = 0x93, E_ALLOF = 0x94
};

static bool is_group(int code) { return (code & 0x80) != 0; }
static bool is_logic(int code) { return (code & 0x10) != 0 && is_group(code); }

typedef struct vglobal {
  const cr_vopts *o;
  cr_arena *arena;
  const cv *root_doc;
  const cv *root_allow_unknown; /* schema mode */
  pcre2_match_data *md;
  int depth;
  int rc;
  size_t nerrors;
  uint64_t work;
  /* schema mode: registry names already reported (known_schema_refs, known_rules_set_refs) */
  const cv *refs[2][16];
  size_t nrefs[2];
  /* schema mode: sub-schemas found valid (Cerberus's _valid_schemas cache): kind 0 = a rules
   * set ({'turing': rules}), 1 = a fields schema */
  struct {
    int kind;
    const cv *v;
  } valid[64];
  size_t nvalid;
} vglobal;

/* Equality of mapping_to_frozenset() images (the cache compares their hashes): any sequence,
 * strings included, is a tuple of its items; numbers compare as Python (0 == False == 0.0). */
static bool fs_eq(const cv *a, const cv *b) {
  bool sa = a->kind == CV_LIST || a->kind == CV_STR, sb = b->kind == CV_LIST || b->kind == CV_STR;
  if (sa && sb) {
    if (a->kind == CV_STR && b->kind == CV_STR)
      return a->n == b->n && !memcmp(a->u.s, b->u.s, a->n);
    const cv *l = a->kind == CV_LIST ? a : b, *t = a->kind == CV_LIST ? b : a;
    if (t->kind == CV_LIST) {
      if (l->n != t->n)
        return false;
      for (uint32_t i = 0; i < l->n; i++)
        if (!fs_eq(&l->u.items[i], &t->u.items[i]))
          return false;
      return true;
    }
    /* a list against a str: the str's characters */
    uint32_t i = 0, k = 0;
    while (i < t->n) {
      uint32_t s0 = i++;
      while (i < t->n && ((uint8_t)t->u.s[i] & 0xC0) == 0x80)
        i++;
      if (k >= l->n || l->u.items[k].kind != CV_STR || l->u.items[k].n != i - s0 ||
          memcmp(l->u.items[k].u.s, t->u.s + s0, i - s0))
        return false;
      k++;
    }
    return k == l->n;
  }
  if (a->kind == CV_DICT && b->kind == CV_DICT) {
    if (a->n != b->n)
      return false;
    for (uint32_t i = 0; i < a->n; i++) {
      const cv *o = cr_dict_get(b, a->u.members[i].key, a->u.members[i].klen);
      if (!o || !fs_eq(&a->u.members[i].val, o))
        return false;
    }
    return true;
  }
  return cr_py_eq(a, b);
}

static bool cache_has(vglobal *g, int kind, const cv *v) {
  for (size_t i = 0; i < g->nvalid; i++)
    if (g->valid[i].kind == kind && fs_eq(g->valid[i].v, v))
      return true;
  return false;
}

static void cache_add(vglobal *g, int kind, const cv *v) {
  if (g->nvalid < sizeof(g->valid) / sizeof(g->valid[0])) {
    g->valid[g->nvalid].kind = kind;
    g->valid[g->nvalid++].v = v;
  }
}

/* True when name was seen before in list k; remembers it otherwise. */
static bool ref_seen(vglobal *g, int k, const cv *name) {
  for (size_t i = 0; i < g->nrefs[k]; i++)
    if (g->refs[k][i]->n == name->n && !memcmp(g->refs[k][i]->u.s, name->u.s, name->n))
      return true;
  if (g->nrefs[k] < 16)
    g->refs[k][g->nrefs[k]++] = name;
  return false;
}

static const cv cv_true = {.kind = CV_BOOL, .u = {.i = 1}};
static const cv cv_false = {.kind = CV_BOOL, .u = {.i = 0}};
static const cv cv_null = {.kind = CV_NULL};

static int g_fail(vglobal *g, int rc) {
  if (!g->rc)
    g->rc = rc;
  return rc;
}

static pel pel_str(const char *s, size_t n) {
  pel p = {s, 0, (uint32_t)n};
  return p;
}
static pel pel_cstr(const char *s) { return pel_str(s, strlen(s)); }
static pel pel_int(int64_t i) {
  pel p = {NULL, i, 0};
  return p;
}

static bool pel_eq(const pel *a, const pel *b) {
  if (!a->s != !b->s)
    return false;
  if (!a->s)
    return a->i == b->i;
  return a->n == b->n && memcmp(a->s, b->s, a->n) == 0;
}

static path path_ext(vglobal *g, path base, const pel *add, uint32_t nadd) {
  path p = {NULL, base.n + nadd};
  if (p.n) {
    p.e = cr_alloc(g->arena, p.n * sizeof(pel));
    if (!p.e) {
      g_fail(g, ESCROW_E_NOMEM);
      p.n = 0;
      return p;
    }
    if (base.n)
      memcpy(p.e, base.e, base.n * sizeof(pel));
    if (nadd)
      memcpy(p.e + base.n, add, nadd * sizeof(pel));
  }
  return p;
}

/* A path under construction: a chain of nodes on the C stack, one per child validator, turned
 * into an arena path only when an error needs it. NULL is the empty path. */
typedef struct lpath lpath;
struct lpath {
  const lpath *parent;
  pel e[3];
  uint32_t n, total;
};

static uint32_t lp_len(const lpath *lp) { return lp ? lp->total : 0; }

static void lp_set(lpath *node, const lpath *parent, const pel *add, uint32_t n) {
  node->parent = parent;
  node->n = n;
  for (uint32_t i = 0; i < n; i++)
    node->e[i] = add[i];
  node->total = lp_len(parent) + n;
}

/* lp + add, materialized in the arena. */
static path lp_ext(vglobal *g, const lpath *lp, const pel *add, uint32_t nadd) {
  path p = {NULL, lp_len(lp) + nadd};
  if (!p.n)
    return p;
  p.e = cr_alloc(g->arena, p.n * sizeof(pel));
  if (!p.e) {
    g_fail(g, ESCROW_E_NOMEM);
    p.n = 0;
    return p;
  }
  uint32_t at = p.n - nadd;
  for (uint32_t i = 0; i < nadd; i++)
    p.e[at + i] = add[i];
  for (const lpath *n = lp; n; n = n->parent) {
    at -= n->n;
    for (uint32_t i = 0; i < n->n; i++)
      p.e[at + i] = n->e[i];
  }
  return p;
}

static bool path_eq(path a, path b) {
  if (a.n != b.n)
    return false;
  for (uint32_t i = 0; i < a.n; i++)
    if (!pel_eq(&a.e[i], &b.e[i]))
      return false;
  return true;
}

/* cerberus.utils.compare_paths_lt */
static bool paths_lt(path x, path y) {
  uint32_t m = x.n < y.n ? x.n : y.n;
  uint32_t i;
  for (i = 0; i < m; i++)
    if (!pel_eq(&x.e[i], &y.e[i]))
      break;
  if (i == m)
    return x.n == m;
  const pel *a = &x.e[i], *b = &y.e[i];
  if (!a->s && b->s)
    return true;
  if (a->s && !b->s)
    return true;
  if (!a->s)
    return a->i < b->i;
  size_t k = a->n < b->n ? a->n : b->n;
  int c = k ? memcmp(a->s, b->s, k) : 0;
  if (c)
    return c < 0;
  return a->n < b->n;
}

/* ValidationError.__lt__ */
static bool err_lt(const perr *a, const perr *b) {
  if (!path_eq(a->dp, b->dp))
    return paths_lt(a->dp, b->dp);
  return paths_lt(a->sp, b->sp);
}

/* list.sort() as CPython runs it on fewer than 64 elements: count_run, then binary
 * insertion; this reproduces the order Cerberus gives to errors that compare as ties. */
static void py_small_sort(perr **a, size_t n) {
  if (n < 2)
    return;
  size_t run = 2;
  if (err_lt(a[1], a[0])) {
    while (run < n && err_lt(a[run], a[run - 1]))
      run++;
    for (size_t i = 0, j = run - 1; i < j; i++, j--) {
      perr *t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
  } else {
    while (run < n && !err_lt(a[run], a[run - 1]))
      run++;
  }
  for (size_t s = run; s < n; s++) {
    perr *pivot = a[s];
    size_t l = 0, r = s;
    while (l < r) {
      size_t p = l + ((r - l) >> 1);
      if (err_lt(pivot, a[p]))
        r = p;
      else
        l = p + 1;
    }
    memmove(&a[l + 1], &a[l], (s - l) * sizeof(*a));
    a[l] = pivot;
  }
}

static void merge_sort(perr **a, perr **tmp, size_t n) {
  if (n < 2)
    return;
  size_t h = n / 2;
  merge_sort(a, tmp, h);
  merge_sort(a + h, tmp, n - h);
  size_t i = 0, j = h, k = 0;
  while (i < h && j < n) {
    if (err_lt(a[j], a[i]))
      tmp[k++] = a[j++];
    else
      tmp[k++] = a[i++];
  }
  while (i < h)
    tmp[k++] = a[i++];
  while (j < n)
    tmp[k++] = a[j++];
  memcpy(a, tmp, n * sizeof(*a));
}

static void el_sort(vglobal *g, elist *l) {
  if (!l->dirty)
    return;
  l->dirty = false;
  if (l->n < 64) {
    py_small_sort(l->e, l->n);
    return;
  }
  perr **tmp = escrow__malloc(l->n * sizeof(*tmp));
  if (!tmp) {
    g_fail(g, escrow__err_nomem());
    return;
  }
  merge_sort(l->e, tmp, l->n);
  escrow__free(tmp);
}

static void el_add(vglobal *g, elist *l, perr **errs, size_t n) {
  if (!n)
    return;
  if (l->cap - l->n < n) {
    size_t cap = l->cap ? l->cap * 2 : 8;
    while (cap - l->n < n)
      cap *= 2;
    perr **e = escrow__realloc(l->e, cap * sizeof(*e));
    if (!e) {
      g_fail(g, escrow__err_nomem());
      return;
    }
    l->e = e;
    l->cap = cap;
  }
  memcpy(l->e + l->n, errs, n * sizeof(*errs)); /* n > 0 checked above */
  l->n += n;
  l->dirty = true;
  if (l->n < 64)
    el_sort(g, l);
}

static void el_free(elist *l) {
  escrow__free(l->e);
  memset(l, 0, sizeof(*l));
}

/* ---- views of documents and schemas --------------------------------------------------------- */

enum { DV_DICT, DV_LIST, DV_KEYS, DV_SINGLE };
typedef struct dview {
  int kind;
  const cv *v;     /* DICT, LIST, KEYS: the container */
  const cv *keys;  /* KEYS: one string value per key */
  pel skey;        /* SINGLE */
  const cv *sval;  /* SINGLE */
} dview;

static uint32_t dv_count(const dview *d) { return d->kind == DV_SINGLE ? 1 : d->v->n; }

static pel dv_key(const dview *d, uint32_t i) {
  switch (d->kind) {
  case DV_DICT:
  case DV_KEYS: return pel_str(d->v->u.members[i].key, d->v->u.members[i].klen);
  case DV_LIST: return pel_int(i);
  default: return d->skey;
  }
}

static const cv *dv_val(const dview *d, uint32_t i) {
  switch (d->kind) {
  case DV_DICT: return &d->v->u.members[i].val;
  case DV_KEYS: return &d->keys[i];
  case DV_LIST: return &d->v->u.items[i];
  default: return d->sval;
  }
}

static const cv *dv_get(const dview *d, const pel *k) {
  if (d->kind == DV_SINGLE)
    return pel_eq(&d->skey, k) ? d->sval : NULL;
  if (d->kind == DV_LIST) {
    if (k->s || k->i < 0 || k->i >= d->v->n)
      return NULL;
    return &d->v->u.items[k->i];
  }
  if (!k->s)
    return NULL;
  for (uint32_t i = 0; i < d->v->n; i++)
    if (d->v->u.members[i].klen == k->n && memcmp(d->v->u.members[i].key, k->s, k->n) == 0)
      return dv_val(d, i);
  return NULL;
}

enum { SV_FIELDS, SV_UNIFORM, SV_ITEMS, SV_SINGLE };
typedef struct sview {
  int kind;
  const cv *v; /* FIELDS: dict of rules; UNIFORM: rules; ITEMS: list of rules; SINGLE: rules */
  pel skey;
} sview;

static const cv *sv_get(const sview *s, const pel *k) {
  switch (s->kind) {
  case SV_FIELDS: return k->s ? cr_dict_get(s->v, k->s, k->n) : NULL;
  case SV_UNIFORM: return s->v;
  case SV_ITEMS:
    if (k->s || k->i < 0 || k->i >= s->v->n)
      return NULL;
    return &s->v->u.items[k->i];
  default: return pel_eq(&s->skey, k) ? s->v : NULL;
  }
}

/* ---- the validator --------------------------------------------------------------------------- */

enum {
  R_NONE, R_NULLABLE, R_READONLY, R_TYPE, R_EMPTY, R_ALLOWED, R_FORBIDDEN, R_CONTAINS, R_MIN,
  R_MAX, R_MINLENGTH, R_MAXLENGTH, R_REGEX, R_SCHEMA, R_ITEMS, R_KEYSRULES, R_VALUESRULES,
  R_ANYOF, R_ALLOF, R_ONEOF, R_NONEOF, R_DEPENDENCIES, R_EXCLUDES, R_CHECK_WITH, R_LOGICAL,
  R_SKIP,  /* allow_unknown, require_all, meta, required and the normalization rules */
  R_OTHER  /* no handler */
};

static int rule_id(const char *k, uint32_t n) {
  static const struct {
    const char *name;
    uint8_t len, id;
  } t[] = {{"nullable", 8, R_NULLABLE},       {"readonly", 8, R_READONLY},
           {"type", 4, R_TYPE},               {"empty", 5, R_EMPTY},
           {"allowed", 7, R_ALLOWED},         {"forbidden", 9, R_FORBIDDEN},
           {"contains", 8, R_CONTAINS},       {"min", 3, R_MIN},
           {"max", 3, R_MAX},                 {"minlength", 9, R_MINLENGTH},
           {"maxlength", 9, R_MAXLENGTH},     {"regex", 5, R_REGEX},
           {"schema", 6, R_SCHEMA},           {"items", 5, R_ITEMS},
           {"keysrules", 9, R_KEYSRULES},     {"valuesrules", 11, R_VALUESRULES},
           {"anyof", 5, R_ANYOF},             {"allof", 5, R_ALLOF},
           {"oneof", 5, R_ONEOF},             {"noneof", 6, R_NONEOF},
           {"dependencies", 12, R_DEPENDENCIES}, {"excludes", 8, R_EXCLUDES},
           {"check_with", 10, R_CHECK_WITH},  {"logical", 7, R_LOGICAL},
           {"allow_unknown", 13, R_SKIP},     {"require_all", 11, R_SKIP},
           {"meta", 4, R_SKIP},               {"required", 8, R_SKIP},
           {"coerce", 6, R_SKIP},             {"default", 7, R_SKIP},
           {"default_setter", 14, R_SKIP},    {"purge_unknown", 13, R_SKIP},
           {"rename", 6, R_SKIP},             {"rename_handler", 14, R_SKIP}};
  if (n < 3 || n > 14)
    return R_OTHER;
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
    if (t[i].len == n && t[i].name[0] == k[0] && !memcmp(t[i].name, k, n))
      return t[i].id;
  return R_OTHER;
}

#define RBIT(r) (1u << (r))

#define MAXQ 48
typedef struct val {
  vglobal *g;
  dview doc;
  sview schema;
  const cv *allow_unknown; /* a bool, or rules (dict) */
  bool require_all;
  bool is_child;
  bool update;
  bool is_normalized;
  const lpath *dp, *sp;
  elist errs;
  /* the field being validated */
  pel field;
  const cv *rules;
  const cv *value;
  struct {
    uint8_t id;
    const cv *c;
  } queue[MAXQ];
  int nq, qpos;
  pel *unreq;
  size_t nunreq, capunreq;
} val;

static bool truthy(const cv *c) {
  if (!c)
    return false;
  switch (c->kind) {
  case CV_NULL: return false;
  case CV_BOOL: return c->u.i != 0;
  case CV_INT: return (c->flags & CVF_BIGINT) || c->u.i != 0;
  case CV_FLOAT: return c->u.d != 0;
  default: return c->n != 0;
  }
}

static const cv *rule_get(const cv *rules, const char *name) {
  return rules && rules->kind == CV_DICT ? cr_dict_gets(rules, name) : NULL;
}

static void child_init(val *c, val *parent) {
  /* everything but the rule queue, which validate_definitions fills before use */
  memset(c, 0, offsetof(val, queue));
  memset((char *)c + offsetof(val, nq), 0, sizeof(*c) - offsetof(val, nq));
  c->g = parent->g;
  c->allow_unknown = parent->allow_unknown;
  c->require_all = parent->require_all;
  c->is_child = true;
  c->update = parent->update;
  c->is_normalized = parent->is_normalized;
  c->dp = parent->dp;
  c->sp = parent->sp;
}

static void val_free(val *v) {
  el_free(&v->errs);
  escrow__free(v->unreq);
}

/* Messages are counted strings (a value quoted in a message may hold NUL): the length sits
 * in the 8 bytes before the text. */
static char *mk_msg(vglobal *g, const char *text, size_t n) {
  char *m = cr_alloc(g->arena, n + 1 + sizeof(size_t));
  if (!m) {
    g_fail(g, ESCROW_E_NOMEM);
    return NULL;
  }
  memcpy(m, &n, sizeof(size_t));
  if (n)
    memcpy(m + sizeof(size_t), text, n);
  m[sizeof(size_t) + n] = 0;
  return m + sizeof(size_t);
}

static size_t msg_len(const char *m) {
  size_t n;
  memcpy(&n, m - sizeof(size_t), sizeof(size_t));
  return n;
}

static char *msg_finish(vglobal *g, cr_buf *b) {
  if (b->failed) {
    escrow__free(b->p);
    g_fail(g, escrow__err_nomem());
    return NULL;
  }
  char *m = mk_msg(g, b->p ? b->p : "", b->len);
  escrow__free(b->p);
  return m;
}

/* _error(field, code, ...) with a preformatted message (NULL for groups). */
static perr *v_error_at(val *v, pel field, int code, const char *rule, char *msg, perr **kids,
                        size_t nkids, bool sp_require_all) {
  vglobal *g = v->g;
  if (!msg && !is_group(code)) { /* the message could not be allocated */
    g_fail(g, ESCROW_E_NOMEM);
    return NULL;
  }
  if (g->o->max_errors && ++g->nerrors > g->o->max_errors) {
    g_fail(g, escrow__err(ESCROW_E_LIMIT, "more than %zu errors: validation stopped",
                          g->o->max_errors));
    return NULL;
  }
  perr *e = cr_alloc(g->arena, sizeof(*e));
  if (!e) {
    g_fail(g, ESCROW_E_NOMEM);
    return NULL;
  }
  memset(e, 0, sizeof(*e));
  e->dp = lp_ext(g, v->dp, &field, 1);
  if (sp_require_all) {
    /* Cerberus sets schema_path to the *string* "__require_all__"; dropping path nodes and
     * indexing it then work on its characters (which is how "oneof definition q" appears in
     * its error trees), so it is kept as a path of one-character elements */
    static const char RA[] = "__require_all__";
    pel chars[sizeof(RA) - 1];
    for (size_t i = 0; i < sizeof(RA) - 1; i++)
      chars[i] = pel_str(RA + i, 1);
    path empty = {NULL, 0};
    e->sp = path_ext(g, empty, chars, (uint32_t)(sizeof(RA) - 1));
  } else if (code != E_UNKNOWN && rule) {
    pel add[2] = {field, pel_cstr(rule)};
    e->sp = lp_ext(g, v->sp, add, 2);
  } else {
    e->sp = lp_ext(g, v->sp, NULL, 0);
  }
  e->code = code;
  e->rule = rule;
  e->msg = msg;
  if (nkids) {
    e->kids = cr_alloc(g->arena, nkids * sizeof(perr *));
    if (!e->kids) {
      g_fail(g, ESCROW_E_NOMEM);
      return NULL;
    }
    memcpy(e->kids, kids, nkids * sizeof(perr *));
    e->nkids = nkids;
  }
  el_add(g, &v->errs, &e, 1);
  return e;
}

static void v_err(val *v, int code, const char *rule, const char *fixed) {
  char *m = fixed ? mk_msg(v->g, fixed, strlen(fixed)) : NULL;
  if (fixed && !m) {
    g_fail(v->g, ESCROW_E_NOMEM);
    return;
  }
  v_error_at(v, v->field, code, rule, m, NULL, 0, false);
}

static void v_err_buf(val *v, int code, const char *rule, cr_buf *b) {
  char *m = msg_finish(v->g, b);
  if (m)
    v_error_at(v, v->field, code, rule, m, NULL, 0, false);
}

/* _drop_nodes_from_errorpaths(errors, [], sp_items) relative to v's paths. */
static void drop_sp_nodes(val *v, perr **errs, size_t n, const int *items, int nitems) {
  uint32_t base = lp_len(v->sp);
  for (size_t k = 0; k < n; k++) {
    perr *e = errs[k];
    for (int j = nitems - 1; j >= 0; j--) {
      uint32_t idx = base + (uint32_t)items[j];
      if (idx < e->sp.n) {
        path np = path_ext(v->g, e->sp, NULL, 0);
        if (!np.e)
          return;
        memmove(np.e + idx, np.e + idx + 1, (np.n - idx - 1) * sizeof(pel));
        np.n--;
        e->sp = np;
      }
    }
    if (e->nkids)
      drop_sp_nodes(v, e->kids, e->nkids, items, nitems);
  }
}

static void drop_rules(val *v, uint32_t mask) {
  for (int i = v->qpos; i < v->nq; i++)
    if (mask & RBIT(v->queue[i].id))
      v->queue[i].id = R_NONE;
}
static void drop_all(val *v) { v->qpos = v->nq; }

static int run_validator(val *v);

/* ---- types ----------------------------------------------------------------------------------- */

static int type_match(val *v, const char *t, size_t tn, const cv *x) {
#define T(name) (tn == sizeof(name) - 1 && memcmp(t, name, tn) == 0)
  int k = x->kind;
  if (T("boolean"))
    return k == CV_BOOL;
  if (T("integer"))
    return k == CV_INT || k == CV_BOOL;
  if (T("float"))
    return k == CV_INT || k == CV_BOOL || k == CV_FLOAT;
  if (T("number"))
    return k == CV_INT || k == CV_FLOAT;
  if (T("string"))
    return k == CV_STR;
  if (T("dict"))
    return k == CV_DICT;
  if (T("list"))
    return k == CV_LIST;
  if (T("container"))
    return k == CV_LIST || k == CV_DICT;
  if (v->g->o->schema_mode && T("hashable"))
    return k != CV_LIST && k != CV_DICT;
  return 0; /* set, binary, date, datetime, callable: nothing in JSON */
#undef T
}

static void r_type(val *v, const cv *c) {
  if (!truthy(c))
    return;
  if (c->kind == CV_STR) {
    if (type_match(v, c->u.s, c->n, v->value))
      return;
  } else if (c->kind == CV_LIST) {
    for (uint32_t i = 0; i < c->n; i++)
      if (c->u.items[i].kind == CV_STR &&
          type_match(v, c->u.items[i].u.s, c->u.items[i].n, v->value))
        return;
  } else {
    return;
  }
  cr_buf b = {0};
  cr_buf_puts(&b, "must be of ");
  cr_py_str(&b, c);
  cr_buf_puts(&b, " type");
  v_err_buf(v, E_TYPE, "type", &b);
  drop_all(v);
}

/* ---- simple rules ------------------------------------------------------------------------------ */

#define NULLABLE_DROPS                                                                        \
  (RBIT(R_ALLOWED) | RBIT(R_EMPTY) | RBIT(R_FORBIDDEN) | RBIT(R_ITEMS) | RBIT(R_KEYSRULES) |    \
   RBIT(R_MIN) | RBIT(R_MAX) | RBIT(R_MINLENGTH) | RBIT(R_MAXLENGTH) | RBIT(R_REGEX) |          \
   RBIT(R_SCHEMA) | RBIT(R_TYPE) | RBIT(R_VALUESRULES))
#define EMPTY_DROPS                                                                           \
  (RBIT(R_ALLOWED) | RBIT(R_FORBIDDEN) | RBIT(R_ITEMS) | RBIT(R_MINLENGTH) | RBIT(R_MAXLENGTH) | \
   RBIT(R_REGEX) | RBIT(R_CHECK_WITH))

static void r_nullable(val *v, const cv *c) {
  if (v->value->kind != CV_NULL)
    return;
  if (!truthy(c))
    v_err(v, E_NULL, "nullable", "null value not allowed");
  drop_rules(v, NULLABLE_DROPS);
}

static bool sized(const cv *x) { return x->kind == CV_STR || x->kind == CV_LIST || x->kind == CV_DICT; }

static size_t py_len(const cv *x) {
  return x->kind == CV_STR ? cr_utf8_len(x->u.s, x->n) : x->n;
}

static void r_empty(val *v, const cv *c) {
  if (!sized(v->value) || v->value->n != 0)
    return;
  drop_rules(v, EMPTY_DROPS);
  if (!truthy(c))
    v_err(v, E_EMPTY, "empty", "empty values not allowed");
}

static void r_readonly(val *v, const cv *c) {
  if (truthy(c)) {
    if (!v->is_normalized)
      v_err(v, E_READONLY, "readonly", "field is read-only");
  }
  if (v->is_normalized && !v->is_child) {
    path want = lp_ext(v->g, v->dp, &v->field, 1);
    for (size_t i = 0; i < v->errs.n; i++)
      if (v->errs.e[i]->code == E_READONLY && path_eq(v->errs.e[i]->dp, want)) {
        drop_all(v);
        return;
      }
  }
}

static void r_minmax(val *v, const cv *c, bool is_min) {
  int r = cr_py_cmp(v->value, c);
  if (is_min ? r == -1 : r == 1) {
    cr_buf b = {0};
    cr_buf_puts(&b, is_min ? "min value is " : "max value is ");
    cr_py_str(&b, c);
    v_err_buf(v, is_min ? E_MIN : E_MAX, is_min ? "min" : "max", &b);
  }
}

static void r_length(val *v, const cv *c, bool is_min) {
  if (!sized(v->value))
    return;
  cv len = {.kind = CV_INT};
  len.u.i = (int64_t)py_len(v->value);
  int r = cr_py_cmp(&len, c);
  if (is_min ? r == -1 : r == 1) {
    cr_buf b = {0};
    cr_buf_puts(&b, is_min ? "min length is " : "max length is ");
    cr_py_str(&b, c);
    v_err_buf(v, is_min ? E_MINLEN : E_MAXLEN, is_min ? "minlength" : "maxlength", &b);
  }
}

/* `x in container` for a constraint container (a list, or a dict's keys). */
static bool py_in(const cv *x, const cv *container) {
  if (container->kind == CV_LIST) {
    for (uint32_t i = 0; i < container->n; i++)
      if (cr_py_eq(&container->u.items[i], x))
        return true;
    return false;
  }
  if (container->kind == CV_DICT) {
    if (x->kind != CV_STR)
      return false;
    return cr_dict_get(container, x->u.s, x->n) != NULL;
  }
  if (container->kind == CV_STR && x->kind == CV_STR) { /* substring, as Python */
    if (x->n == 0)
      return true;
    for (uint32_t i = 0; i + x->n <= container->n; i++)
      if (memcmp(container->u.s + i, x->u.s, x->n) == 0)
        return true;
  }
  return false;
}

/* Elements of an iterable as Python's set() sees them (dict -> keys, str -> characters).
 * Returns a temporary array of values (arena) and its count, deduplicated by ==. */
static cv *py_set(vglobal *g, const cv *x, size_t *n) {
  size_t cap = x->kind == CV_STR ? x->n : x->n;
  cv *out = cr_alloc(g->arena, (cap ? cap : 1) * sizeof(cv));
  if (!out) {
    g_fail(g, ESCROW_E_NOMEM);
    *n = 0;
    return NULL;
  }
  size_t k = 0;
  for (uint32_t i = 0; i < x->n;) {
    cv e;
    if (x->kind == CV_LIST) {
      e = x->u.items[i++];
    } else if (x->kind == CV_DICT) {
      e.kind = CV_STR;
      e.flags = 0;
      e.u.s = x->u.members[i].key;
      e.n = x->u.members[i].klen;
      i++;
    } else { /* string: one code point */
      uint32_t s = i;
      i++;
      while (i < x->n && ((uint8_t)x->u.s[i] & 0xC0) == 0x80)
        i++;
      e.kind = CV_STR;
      e.flags = 0;
      e.u.s = x->u.s + s;
      e.n = i - s;
    }
    bool dup = false;
    for (size_t j = 0; j < k && !dup; j++)
      dup = cr_py_eq(&out[j], &e);
    if (!dup)
      out[k++] = e;
  }
  *n = k;
  return out;
}

static bool set_has(const cv *set, size_t n, const cv *x) {
  for (size_t i = 0; i < n; i++)
    if (cr_py_eq(&set[i], x))
      return true;
  return false;
}

static void put_list_repr(cr_buf *b, const cv *items, size_t n, char open, char close) {
  cr_buf_putc(b, open);
  for (size_t i = 0; i < n; i++) {
    if (i)
      cr_buf_puts(b, ", ");
    cr_py_repr(b, &items[i]);
  }
  cr_buf_putc(b, close);
}

static void r_allowed(val *v, const cv *c) {
  const cv *x = v->value;
  if (x->kind == CV_LIST || x->kind == CV_DICT) {
    size_t nv, na = 0;
    cv *sv = py_set(v->g, x, &nv);
    cv *sa = (c->kind == CV_LIST || c->kind == CV_DICT) ? py_set(v->g, c, &na) : NULL;
    if (!sv)
      return;
    size_t k = 0;
    for (size_t i = 0; i < nv; i++)
      if (!set_has(sa, na, &sv[i]))
        sv[k++] = sv[i];
    if (k) {
      cr_buf b = {0};
      cr_buf_puts(&b, "unallowed values ");
      if (v->g->o->redact_values)
        cr_buf_puts(&b, "<redacted>");
      else
        put_list_repr(&b, sv, k, '[', ']');
      v_err_buf(v, E_ALLOWED_N, "allowed", &b);
    }
  } else if (!py_in(x, c)) {
    cr_buf b = {0};
    cr_buf_puts(&b, "unallowed value ");
    if (v->g->o->redact_values)
      cr_buf_puts(&b, "<redacted>");
    else
      cr_py_str(&b, x);
    v_err_buf(v, E_ALLOWED, "allowed", &b);
  }
}

static void r_forbidden(val *v, const cv *c) {
  const cv *x = v->value;
  if (x->kind == CV_LIST) {
    size_t nv, nf = 0;
    cv *sv = py_set(v->g, x, &nv);
    cv *sf = (c->kind == CV_LIST || c->kind == CV_DICT) ? py_set(v->g, c, &nf) : NULL;
    if (!sv)
      return;
    size_t k = 0;
    if (sf && nf <= nv) { /* CPython iterates the smaller set (the argument on a tie) */
      for (size_t i = 0; i < nf; i++)
        if (set_has(sv, nv, &sf[i]))
          sf[k++] = sf[i];
      sv = sf;
    } else {
      for (size_t i = 0; i < nv; i++)
        if (set_has(sf, nf, &sv[i]))
          sv[k++] = sv[i];
    }
    if (k) {
      cr_buf b = {0};
      cr_buf_puts(&b, "unallowed values ");
      if (v->g->o->redact_values)
        cr_buf_puts(&b, "<redacted>");
      else
        put_list_repr(&b, sv, k, '[', ']');
      v_err_buf(v, E_FORBIDDEN_N, "forbidden", &b);
    }
  } else if (py_in(x, c)) {
    cr_buf b = {0};
    cr_buf_puts(&b, "unallowed value ");
    if (v->g->o->redact_values)
      cr_buf_puts(&b, "<redacted>");
    else
      cr_py_str(&b, x);
    v_err_buf(v, E_FORBIDDEN, "forbidden", &b);
  }
}

static void r_contains(val *v, const cv *c) {
  const cv *x = v->value;
  if (!sized(x))
    return;
  size_t ne = 0, nx = 0;
  cv *se;
  if (c->kind == CV_LIST || c->kind == CV_DICT) {
    se = py_set(v->g, c, &ne);
  } else {
    se = cr_alloc(v->g->arena, sizeof(cv));
    if (se) {
      se[0] = *c;
      ne = 1;
    }
  }
  cv *sx = py_set(v->g, x, &nx);
  if (!se || !sx)
    return;
  size_t k = 0;
  for (size_t i = 0; i < ne; i++)
    if (!set_has(sx, nx, &se[i]))
      se[k++] = se[i];
  if (k) {
    cr_buf b = {0};
    cr_buf_puts(&b, "missing members ");
    put_list_repr(&b, se, k, '{', '}');
    v_err_buf(v, E_MISSING, "contains", &b);
  }
}

static void r_regex(val *v, const cv *c) {
  if (v->value->kind != CV_STR || c->kind != CV_STR)
    return;
  vglobal *g = v->g;
  const pcre2_code *code = g->o->crit ? cr_regex_find(g->o->crit, c) : NULL;
  pcre2_code *tmp = NULL;
  if (!code) {
    cr_buf pb = {0};
    cr_buf_put(&pb, c->u.s, c->n);
    if (c->n == 0 || c->u.s[c->n - 1] != '$')
      cr_buf_putc(&pb, '$');
    if (pb.failed) {
      escrow__free(pb.p);
      g_fail(g, escrow__err_nomem());
      return;
    }
    int ec;
    PCRE2_SIZE eo;
    tmp = pcre2_compile((PCRE2_SPTR)pb.p, pb.len, PCRE2_UTF | PCRE2_UCP | PCRE2_ALT_BSUX, &ec,
                        &eo, NULL);
    escrow__free(pb.p);
    if (!tmp) {
      g_fail(g, escrow__err(ESCROW_E_FORMAT, "the regex of a rule cannot be compiled"));
      return;
    }
    code = tmp;
  }
  if (!g->md) {
    g->md = pcre2_match_data_create(1, NULL);
    if (!g->md) {
      pcre2_code_free(tmp);
      g_fail(g, escrow__err_nomem());
      return;
    }
  }
  int r = pcre2_match(code, (PCRE2_SPTR)v->value->u.s, v->value->n, 0, PCRE2_ANCHORED, g->md,
                      g->o->mctx);
  pcre2_code_free(tmp);
  if (r == PCRE2_ERROR_NOMATCH) {
    cr_buf b = {0};
    cr_buf_puts(&b, "value does not match regex '");
    cr_buf_put(&b, c->u.s, c->n);
    cr_buf_putc(&b, '\'');
    v_err_buf(v, E_REGEX, "regex", &b);
  } else if (r == PCRE2_ERROR_MATCHLIMIT || r == PCRE2_ERROR_DEPTHLIMIT ||
             r == PCRE2_ERROR_HEAPLIMIT) {
    g_fail(g, escrow__err(ESCROW_E_LIMIT,
                          "a regex rule exceeded its backtracking limit on a %u-byte value",
                          v->value->n));
  } else if (r < 0 && r != PCRE2_ERROR_NOMATCH) {
    g_fail(g, escrow__err(ESCROW_E_FORMAT, "regex matching failed (PCRE2 error %d)", r));
  }
}

/* ---- dependencies and excludes --------------------------------------------------------------- */

static const cv *doc_lookup_str(const dview *d, const char *s, size_t n) {
  pel k = pel_str(s, n);
  return dv_get(d, &k);
}

/* _lookup_field: the value at a dotted path, or NULL when absent. */
static const cv *lookup_field(val *v, const char *p, size_t n) {
  dview ctx = v->doc;
  dview root = {.kind = DV_DICT, .v = v->g->root_doc};
  if (n && p[0] == '^') {
    p++;
    n--;
    if (!(n && p[0] == '^'))
      ctx = root;
  }
  const cv *cur = NULL;
  size_t start = 0;
  for (size_t i = 0; i <= n; i++) {
    if (i < n && p[i] != '.')
      continue;
    const cv *next;
    if (!cur)
      next = doc_lookup_str(&ctx, p + start, i - start);
    else if (cur->kind == CV_DICT)
      next = cr_dict_get(cur, p + start, i - start);
    else
      next = NULL;
    if (!next)
      return NULL;
    cur = next;
    start = i + 1;
  }
  return cur;
}

static void r_dependencies(val *v, const cv *c) {
  if (c->kind == CV_DICT) {
    size_t ok = 0;
    for (uint32_t i = 0; i < c->n; i++) {
      const cv_member *m = &c->u.members[i];
      const cv *want = lookup_field(v, m->key, m->klen);
      if (!want)
        want = &cv_null;
      bool in;
      if (m->val.kind == CV_LIST)
        in = py_in(want, &m->val);
      else
        in = cr_py_eq(want, &m->val);
      if (in)
        ok++;
    }
    if (ok != c->n) {
      cr_buf b = {0};
      cr_buf_puts(&b, "depends on these values: ");
      cr_py_str(&b, c);
      v_err_buf(v, E_DEP_VALUE, "dependencies", &b);
    }
    return;
  }
  const cv *items = c;
  uint32_t n = 1;
  if (c->kind == CV_LIST) {
    items = c->u.items;
    n = c->n;
  }
  for (uint32_t i = 0; i < n; i++) {
    const cv *d = &items[i];
    bool found = d->kind == CV_STR && lookup_field(v, d->u.s, d->n) != NULL;
    if (!found) {
      cr_buf b = {0};
      cr_buf_puts(&b, "field '");
      cr_py_str(&b, d);
      cr_buf_puts(&b, "' is required");
      v_err_buf(v, E_DEP_FIELD, "dependencies", &b);
    }
  }
}

static void unreq_add(val *v, pel k) {
  for (size_t i = 0; i < v->nunreq; i++)
    if (pel_eq(&v->unreq[i], &k))
      return;
  if (v->nunreq == v->capunreq) {
    size_t cap = v->capunreq ? v->capunreq * 2 : 4;
    pel *p = escrow__realloc(v->unreq, cap * sizeof(pel));
    if (!p) {
      g_fail(v->g, escrow__err_nomem());
      return;
    }
    v->unreq = p;
    v->capunreq = cap;
  }
  v->unreq[v->nunreq++] = k;
}

static bool field_required(val *v, const cv *rules) {
  const cv *r = rule_get(rules, "required");
  if (r)
    return truthy(r);
  return v->require_all;
}

static void r_excludes(val *v, const cv *c) {
  const cv *items = c;
  uint32_t n = 1;
  if (c->kind == CV_LIST) {
    items = c->u.items;
    n = c->n;
  }
  bool req = field_required(v, v->rules);
  if (req)
    unreq_add(v, v->field);
  bool any = false;
  for (uint32_t i = 0; i < n; i++) {
    if (items[i].kind != CV_STR)
      continue;
    pel k = pel_str(items[i].u.s, items[i].n);
    bool in_schema = v->schema.kind == SV_UNIFORM ? dv_get(&v->doc, &k) != NULL
                                                  : sv_get(&v->schema, &k) != NULL;
    if (req && in_schema)
      unreq_add(v, k);
    if (dv_get(&v->doc, &k))
      any = true;
  }
  if (any) {
    cr_buf b = {0};
    for (uint32_t i = 0; i < n; i++) {
      if (i)
        cr_buf_puts(&b, ", ");
      cr_buf_putc(&b, '\'');
      cr_py_str(&b, &items[i]);
      cr_buf_putc(&b, '\'');
    }
    v_err_buf(v, E_EXCLUDES, "excludes", &b); /* " must not be present with '{field}'" is
                                                  added when the tree is built */
  }
}

/* ---- rules with child validators ------------------------------------------------------------- */

static bool enter(vglobal *g) {
  if (++g->depth > 256) { /* about 2 KB of stack per level */
    g_fail(g, escrow__err(ESCROW_E_LIMIT, "criteria and document nest too deeply to validate"));
    g->depth--;
    return false;
  }
  return true;
}

static void leave(vglobal *g) { g->depth--; }

static bool is_rule_name(const char *k, size_t n);

static void group_error(val *v, int code, const char *rule, val *child) {
  el_sort(v->g, &child->errs);
  v_error_at(v, v->field, code, rule, NULL, child->errs.e, child->errs.n, false);
}

static void r_schema(val *v, const cv *c) {
  const cv *x = v->value;
  vglobal *g = v->g;
  if (x->kind == CV_LIST) {
    if (c->kind != CV_DICT || x->n == 0)
      return;
    for (uint32_t i = 0; i < c->n; i++)
      if (!is_rule_name(c->u.members[i].key, c->u.members[i].klen)) {
        v_err(v, E_TYPE_SCHEMA, "schema", "must be of dict type");
        drop_all(v);
        return;
      }
    if (!enter(g))
      return;
    val ch;
    child_init(&ch, v);
    pel crumb[2] = {v->field, pel_cstr("schema")};
    lpath dpn1;
    lp_set(&dpn1, v->dp, &v->field, 1);
    ch.dp = &dpn1;
    lpath spn2;
    lp_set(&spn2, v->sp, crumb, 2);
    ch.sp = &spn2;
    ch.doc.kind = DV_LIST;
    ch.doc.v = x;
    ch.schema.kind = SV_UNIFORM;
    ch.schema.v = c;
    run_validator(&ch);
    if (ch.errs.n) {
      static const int drop[] = {2};
      drop_sp_nodes(v, ch.errs.e, ch.errs.n, drop, 1);
      group_error(v, E_SEQUENCE, "schema", &ch);
    }
    val_free(&ch);
    leave(g);
  } else if (x->kind == CV_DICT) {
    if (c->kind != CV_DICT)
      return;
    for (uint32_t i = 0; i < c->n; i++)
      if (c->u.members[i].val.kind != CV_DICT) {
        v_err(v, E_TYPE_SCHEMA, "schema", "must be of dict type");
        drop_all(v);
        return;
      }
    if (!enter(g))
      return;
    val ch;
    child_init(&ch, v);
    pel crumb[2] = {v->field, pel_cstr("schema")};
    lpath dpn3;
    lp_set(&dpn3, v->dp, &v->field, 1);
    ch.dp = &dpn3;
    lpath spn4;
    lp_set(&spn4, v->sp, crumb, 2);
    ch.sp = &spn4;
    const cv *au = rule_get(v->rules, "allow_unknown");
    if (au)
      ch.allow_unknown = au;
    const cv *ra = rule_get(v->rules, "require_all");
    if (ra)
      ch.require_all = truthy(ra);
    ch.doc.kind = DV_DICT;
    ch.doc.v = x;
    ch.schema.kind = SV_FIELDS;
    ch.schema.v = c;
    run_validator(&ch);
    if (ch.errs.n)
      group_error(v, E_MAPPING, "schema", &ch);
    val_free(&ch);
    leave(g);
  }
}

static void r_items(val *v, const cv *c) {
  const cv *x = v->value;
  if (c->kind != CV_LIST || !sized(x))
    return;
  size_t len = py_len(x);
  if (len != c->n) {
    cr_buf b = {0};
    cr_buf_printf(&b, "length of list should be %u, it is %zu", c->n, len);
    v_err_buf(v, E_ITEMS_LEN, "items", &b);
    return;
  }
  vglobal *g = v->g;
  const cv *list = x;
  cv tmp;
  if (x->kind != CV_LIST) { /* enumerate(dict) gives the keys, enumerate(str) the characters */
    size_t n = 0;
    cv *arr = py_set(g, x, &n); /* distinct already: dict keys; strings: recount below */
    if (!arr)
      return;
    if (x->kind == CV_STR) {
      arr = cr_alloc(g->arena, (len ? len : 1) * sizeof(cv));
      if (!arr) {
        g_fail(g, ESCROW_E_NOMEM);
        return;
      }
      size_t k = 0;
      for (uint32_t i = 0; i < x->n;) {
        uint32_t s0 = i++;
        while (i < x->n && ((uint8_t)x->u.s[i] & 0xC0) == 0x80)
          i++;
        arr[k].kind = CV_STR;
        arr[k].flags = 0;
        arr[k].u.s = x->u.s + s0;
        arr[k].n = i - s0;
        k++;
      }
      n = k;
    }
    tmp.kind = CV_LIST;
    tmp.flags = 0;
    tmp.n = (uint32_t)n;
    tmp.u.items = arr;
    list = &tmp;
  }
  x = list;
  if (!enter(g))
    return;
  val ch;
  child_init(&ch, v);
  pel crumb[2] = {v->field, pel_cstr("items")};
  lpath dpn5;
  lp_set(&dpn5, v->dp, &v->field, 1);
  ch.dp = &dpn5;
  lpath spn6;
  lp_set(&spn6, v->sp, crumb, 2);
  ch.sp = &spn6;
  ch.doc.kind = DV_LIST;
  ch.doc.v = x;
  ch.schema.kind = SV_ITEMS;
  ch.schema.v = c;
  run_validator(&ch);
  if (ch.errs.n)
    group_error(v, E_ITEMS, "items", &ch);
  val_free(&ch);
  leave(g);
}

static void r_keys_values(val *v, const cv *c, bool keys) {
  const cv *x = v->value;
  if (x->kind != CV_DICT)
    return;
  vglobal *g = v->g;
  if (!enter(g))
    return;
  val ch;
  child_init(&ch, v);
  pel crumb[2] = {v->field, pel_cstr(keys ? "keysrules" : "valuesrules")};
  lpath dpn7;
  lp_set(&dpn7, v->dp, &v->field, 1);
  ch.dp = &dpn7;
  lpath spn8;
  lp_set(&spn8, v->sp, crumb, 2);
  ch.sp = &spn8;
  ch.schema.kind = SV_UNIFORM;
  ch.schema.v = c;
  if (keys) {
    cv *kv = cr_alloc(g->arena, (x->n ? x->n : 1) * sizeof(cv));
    if (!kv) {
      g_fail(g, ESCROW_E_NOMEM);
      val_free(&ch);
      leave(g);
      return;
    }
    for (uint32_t i = 0; i < x->n; i++) {
      kv[i].kind = CV_STR;
      kv[i].flags = 0;
      kv[i].u.s = x->u.members[i].key;
      kv[i].n = x->u.members[i].klen;
    }
    ch.doc.kind = DV_KEYS;
    ch.doc.keys = kv;
    ch.update = false;
  } else {
    ch.doc.kind = DV_DICT;
  }
  ch.doc.v = x;
  run_validator(&ch);
  if (ch.errs.n) {
    static const int dk[] = {2, 4}, dv[] = {2};
    if (keys)
      drop_sp_nodes(v, ch.errs.e, ch.errs.n, dk, 2);
    else
      drop_sp_nodes(v, ch.errs.e, ch.errs.n, dv, 1);
    group_error(v, keys ? E_KEYSRULES : E_VALUESRULES, keys ? "keysrules" : "valuesrules", &ch);
  }
  val_free(&ch);
  leave(g);
}

/* A copy of a rules dict with extra members appended (arena). */
static const cv *rules_with(vglobal *g, const cv *def, const char *const *names,
                            const cv *const *vals, size_t n) {
  cv *d = cr_alloc(g->arena, sizeof(cv));
  cv_member *m = cr_alloc(g->arena, (def->n + n + 1) * sizeof(cv_member));
  if (!d || !m) {
    g_fail(g, ESCROW_E_NOMEM);
    return def;
  }
  if (def->n)
    memcpy(m, def->u.members, def->n * sizeof(cv_member));
  for (size_t i = 0; i < n; i++) {
    m[def->n + i].key = names[i];
    m[def->n + i].klen = (uint32_t)strlen(names[i]);
    m[def->n + i].val = *vals[i];
  }
  *d = *def;
  d->n = def->n + (uint32_t)n;
  d->u.members = m;
  return d;
}

static void r_of(val *v, const cv *c, const char *op, int code) {
  if (c->kind != CV_LIST)
    return;
  vglobal *g = v->g;
  if (!enter(g))
    return;
  size_t valid = 0;
  elist all = {0};
  for (uint32_t i = 0; i < c->n && !g->rc; i++) {
    const cv *def = &c->u.items[i];
    if (def->kind != CV_DICT)
      continue;
    const char *names[2];
    const cv *vals[2];
    size_t na = 0;
    const cv *ft = rule_get(v->rules, "type");
    const cv *fau = rule_get(v->rules, "allow_unknown");
    bool has_au = rule_get(def, "allow_unknown") != NULL;
    if (!has_au) {
      names[na] = "allow_unknown";
      vals[na++] = fau ? fau : v->allow_unknown;
    }
    if (!rule_get(def, "type") && ft) {
      names[na] = "type";
      vals[na++] = ft;
    }
    const cv *rules = na ? rules_with(g, def, names, vals, na) : def;
    val ch;
    child_init(&ch, v);
    pel crumb[3] = {v->field, pel_cstr(op), pel_int(i)};
    lpath spn9;
    lp_set(&spn9, v->sp, crumb, 3);
    ch.sp = &spn9;
    ch.allow_unknown = &cv_true;
    ch.doc = v->doc;
    ch.schema.kind = SV_SINGLE;
    ch.schema.skey = v->field;
    ch.schema.v = rules;
    run_validator(&ch);
    if (ch.errs.n == 0) {
      valid++;
    } else {
      static const int drop[] = {3};
      drop_sp_nodes(v, ch.errs.e, ch.errs.n, drop, 1);
      /* extend, without sorting (ErrorList.extend) */
      for (size_t k = 0; k < ch.errs.n; k++) {
        if (all.n == all.cap) {
          size_t cap = all.cap ? all.cap * 2 : 8;
          perr **e = escrow__realloc(all.e, cap * sizeof(*e));
          if (!e) {
            g_fail(g, escrow__err_nomem());
            break;
          }
          all.e = e;
          all.cap = cap;
        }
        all.e[all.n++] = ch.errs.e[k];
      }
    }
    val_free(&ch);
  }
  bool fail = false;
  const char *msg = NULL;
  switch (code) {
  case E_ANYOF: fail = valid < 1; msg = "no definitions validate"; break;
  case E_ALLOF: fail = valid < c->n; msg = "one or more definitions don't validate"; break;
  case E_NONEOF: fail = valid > 0; msg = "one or more definitions validate"; break;
  default: fail = valid != 1; msg = "none or more than one rule validate"; break;
  }
  if (fail && !g->rc) {
    char *m = mk_msg(g, msg, strlen(msg));
    if (m)
      v_error_at(v, v->field, code, op, m, all.e, all.n, false);
  }
  el_free(&all);
  leave(g);
}

/* ---- schema mode: check_with handlers and the logical rule ----------------------------------- */

static const char *const USER_TYPES[] = {"binary", "boolean", "container", "date", "datetime",
                                         "dict", "float", "integer", "list", "number", "set",
                                         "string"};

static void sm_bulk_schema(val *v, const cv *value, pel *crumb, uint32_t ncrumb,
                           bool field_level_error) {
  vglobal *g = v->g;
  if (value->kind == CV_STR) { /* a rules-set registry name: none exist for JSON criteria */
    (void)field_level_error;
    if (ref_seen(g, 1, value))
      return;
    cr_buf b = {0};
    cr_buf_puts(&b, "Rules set definition ");
    cr_buf_put(&b, value->u.s, value->n);
    cr_buf_puts(&b, " not found.");
    char *m = msg_finish(g, &b);
    if (m)
      v_error_at(v, v->field, E_CUSTOM, NULL, m, NULL, 0, false);
    return;
  }
  if (value->kind == CV_NULL) { /* nullable does not drop check_with: validator(None) */
    g_fail(g, escrow__err(ESCROW_E_FORMAT, "document is missing"));
    return;
  }
  if (value->kind != CV_DICT) { /* validator(value) raises DocumentError */
    cr_buf b = {0};
    cr_py_str(&b, value);
    g_fail(g, escrow__err(ESCROW_E_FORMAT, "'%.200s' is not a document, must be a dict",
                          b.p ? b.p : ""));
    escrow__free(b.p);
    return;
  }
  if (cache_has(g, 0, value))
    return;
  if (!enter(g))
    return;
  val ch;
  child_init(&ch, v);
  lpath dpn10;
  lp_set(&dpn10, v->dp, crumb, ncrumb);
  ch.dp = &dpn10;
  ch.allow_unknown = &cv_false;
  ch.doc.kind = DV_DICT;
  ch.doc.v = value;
  ch.schema.kind = SV_FIELDS;
  ch.schema.v = cr_meta_rules();
  run_validator(&ch);
  if (ch.errs.n == 0 && !g->rc)
    cache_add(g, 0, value);
  el_sort(g, &ch.errs);
  el_add(g, &v->errs, ch.errs.e, ch.errs.n);
  val_free(&ch);
  leave(g);
}

static void sm_check_with(val *v, const cv *c) {
  if (c->kind != CV_STR)
    return;
  vglobal *g = v->g;
  const cv *x = v->value;
#define IS(name) (c->n == sizeof(name) - 1 && memcmp(c->u.s, name, c->n) == 0)
  if (IS("type")) {
    const cv *items = x;
    uint32_t n = 1;
    if (x->kind == CV_LIST) {
      items = x->u.items;
      n = x->n;
    }
    cr_buf b = {0};
    bool any = false;
    for (uint32_t i = 0; i < n; i++) {
      bool ok = false;
      if (items[i].kind == CV_STR)
        for (size_t k = 0; k < ESCROW__ARRAY_LEN(USER_TYPES) && !ok; k++)
          ok = strlen(USER_TYPES[k]) == items[i].n &&
               memcmp(USER_TYPES[k], items[i].u.s, items[i].n) == 0;
      if (ok)
        continue;
      bool dup = false;
      for (uint32_t j = 0; j < i && !dup; j++)
        dup = cr_py_eq(&items[j], &items[i]);
      if (dup)
        continue;
      cr_buf_puts(&b, any ? ", " : "Unsupported types: ");
      cr_py_str(&b, &items[i]);
      any = true;
    }
    if (any) {
      char *m = msg_finish(g, &b);
      if (m)
        v_error_at(v, v->field, E_CUSTOM, NULL, m, NULL, 0, false);
    } else {
      escrow__free(b.p);
    }
  } else if (IS("bulk_schema")) {
    sm_bulk_schema(v, x, &v->field, 1, true);
  } else if (IS("items")) {
    if (x->kind != CV_LIST)
      return;
    for (uint32_t i = 0; i < x->n; i++) {
      pel crumb[2] = {v->field, pel_int(i)};
      sm_bulk_schema(v, &x->u.items[i], crumb, 2, false);
    }
  } else if (IS("schema")) {
    if (x->kind == CV_STR) { /* a schema registry name: none exist for JSON criteria */
      if (ref_seen(g, 0, x))
        return;
      cr_buf b = {0};
      cr_buf_puts(&b, "Schema definition ");
      cr_buf_put(&b, x->u.s, x->n);
      cr_buf_puts(&b, " not found.");
      char *m = msg_finish(g, &b);
      if (m)
        v_error_at(v, v->field, E_CUSTOM, NULL, m, NULL, 0, false);
      return;
    }
    if (x->kind != CV_DICT || cache_has(g, 1, x))
      return;
    if (!enter(g))
      return;
    /* registry references in the fields become None (_expand_rules_set_refs) */
    cv *copy = cr_alloc(g->arena, sizeof(cv));
    cv_member *m = cr_alloc(g->arena, (x->n ? x->n : 1) * sizeof(cv_member));
    if (!copy || !m) {
      g_fail(g, ESCROW_E_NOMEM);
      leave(g);
      return;
    }
    if (x->n)
      memcpy(m, x->u.members, x->n * sizeof(cv_member));
    for (uint32_t i = 0; i < x->n; i++)
      if (m[i].val.kind == CV_STR)
        m[i].val = cv_null;
    *copy = *x;
    copy->u.members = m;
    val ch;
    child_init(&ch, v);
    lpath dpn11;
    lp_set(&dpn11, v->dp, &v->field, 1);
    ch.dp = &dpn11;
    ch.allow_unknown = g->root_allow_unknown;
    ch.doc.kind = DV_DICT;
    ch.doc.v = copy;
    ch.schema.kind = SV_FIELDS;
    ch.schema.v = NULL; /* schema None: every field is unknown */
    run_validator(&ch);
    if (ch.errs.n == 0 && !g->rc)
      cache_add(g, 1, x);
    el_sort(g, &ch.errs);
    el_add(g, &v->errs, ch.errs.e, ch.errs.n);
    val_free(&ch);
    leave(g);
  } else if (IS("dependencies")) {
    if (x->kind == CV_DICT) {
      const cv *lt = cr_dict_gets(x, "valuesrules");
      if (lt && lt->kind != CV_LIST && lt->kind != CV_NULL) {
        pel k[2] = {v->field, pel_cstr("valuesrules")};
        perr *e = cr_alloc(g->arena, sizeof(*e));
        char *msg = mk_msg(g, "must be of list type", 20);
        if (!e || !msg) {
          g_fail(g, ESCROW_E_NOMEM);
          return;
        }
        memset(e, 0, sizeof(*e));
        e->dp = lp_ext(g, v->dp, k, 2);
        pel s[2] = {pel_cstr("valuesrules"), pel_cstr("type")};
        e->sp = lp_ext(g, v->sp, s, 2);
        e->code = E_TYPE;
        e->rule = "type";
        e->msg = msg;
        el_add(g, &v->errs, &e, 1);
      } else if (lt && lt->kind == CV_NULL) {
        pel k[2] = {v->field, pel_cstr("valuesrules")};
        perr *e = cr_alloc(g->arena, sizeof(*e));
        char *msg = mk_msg(g, "null value not allowed", 22);
        if (!e || !msg) {
          g_fail(g, ESCROW_E_NOMEM);
          return;
        }
        memset(e, 0, sizeof(*e));
        e->dp = lp_ext(g, v->dp, k, 2);
        pel s[2] = {pel_cstr("valuesrules"), pel_cstr("nullable")};
        e->sp = lp_ext(g, v->sp, s, 2);
        e->code = E_NULL;
        e->rule = "nullable";
        e->msg = msg;
        el_add(g, &v->errs, &e, 1);
      }
    } else if (x->kind == CV_LIST) {
      for (uint32_t i = 0; i < x->n; i++)
        if (!cr_hashable(&x->u.items[i])) {
          v_err(v, E_CUSTOM, NULL, "All dependencies must be a hashable type.");
          break;
        }
    }
  }
#undef IS
}

static void sm_logical(val *v, const cv *c) {
  const cv *x = v->value;
  vglobal *g = v->g;
  if (c->kind != CV_STR)
    return;
  if (x->kind != CV_LIST && x->kind != CV_STR) { /* reached by null: nullable keeps it */
    const cv *t = rule_get(v->rules, "type");
    cr_buf b = {0};
    cr_buf_puts(&b, "must be of ");
    if (t)
      cr_py_str(&b, t);
    else
      cr_buf_puts(&b, "None");
    cr_buf_puts(&b, " type");
    v_err_buf(v, E_TYPE, "type", &b);
    return;
  }
  if (x->kind == CV_STR) { /* iterating a str: validator('<first char>') raises */
    if (x->n)
      g_fail(g, escrow__err(ESCROW_E_FORMAT, "'%.*s' is not a document, must be a dict",
                            (int)(((uint8_t)x->u.s[0] & 0x80) ? 1 : 1), x->u.s));
    return;
  }
  if (!enter(g))
    return;
  for (uint32_t i = 0; i < x->n && !g->rc; i++) {
    const cv *def = &x->u.items[i];
    if (def->kind != CV_DICT) { /* Cerberus raises DocumentError here */
      cr_buf b = {0};
      cr_py_str(&b, def);
      g_fail(g, escrow__err(ESCROW_E_FORMAT, "'%.200s' is not a document, must be a dict",
                            b.p ? b.p : ""));
      escrow__free(b.p);
      break;
    }
    if (cache_has(g, 0, def))
      continue;
    val ch;
    child_init(&ch, v);
    pel crumb = pel_str(c->u.s, c->n);
    lpath dpn12;
    lp_set(&dpn12, v->dp, &crumb, 1);
    ch.dp = &dpn12;
    ch.allow_unknown = &cv_false;
    ch.doc.kind = DV_DICT;
    ch.doc.v = def;
    ch.schema.kind = SV_FIELDS;
    ch.schema.v = cr_meta_validation_rules();
    run_validator(&ch);
    if (ch.errs.n == 0 && !g->rc)
      cache_add(g, 0, def);
    el_sort(g, &ch.errs);
    el_add(g, &v->errs, ch.errs.e, ch.errs.n);
    val_free(&ch);
  }
  leave(g);
}

/* ---- field loop -------------------------------------------------------------------------------- */



static bool is_rule_name(const char *k, size_t n) {
  static const char *const names[] = {
      "allof", "allow_unknown", "allowed", "anyof", "check_with", "contains", "dependencies",
      "empty", "excludes", "forbidden", "items", "keysrules", "max", "maxlength", "meta", "min",
      "minlength", "noneof", "nullable", "oneof", "readonly", "regex", "require_all",
      "required", "schema", "type", "valuesrules", "coerce", "default", "default_setter",
      "purge_unknown", "rename", "rename_handler"};
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(names); i++)
    if (strlen(names[i]) == n && memcmp(names[i], k, n) == 0)
      return true;
  return false;
}


static void run_rule(val *v, int id, const cv *c) {
  if (!c)
    c = &cv_null; /* definitions.get(rule, None) */
  switch (id) {
  case R_NULLABLE: r_nullable(v, c); break;
  case R_READONLY: r_readonly(v, c); break;
  case R_TYPE: r_type(v, c); break;
  case R_EMPTY: r_empty(v, c); break;
  case R_ALLOWED: r_allowed(v, c); break;
  case R_FORBIDDEN: r_forbidden(v, c); break;
  case R_CONTAINS: r_contains(v, c); break;
  case R_MIN: r_minmax(v, c, true); break;
  case R_MAX: r_minmax(v, c, false); break;
  case R_MINLENGTH: r_length(v, c, true); break;
  case R_MAXLENGTH: r_length(v, c, false); break;
  case R_REGEX: r_regex(v, c); break;
  case R_SCHEMA: r_schema(v, c); break;
  case R_ITEMS: r_items(v, c); break;
  case R_KEYSRULES: r_keys_values(v, c, true); break;
  case R_VALUESRULES: r_keys_values(v, c, false); break;
  case R_ANYOF: r_of(v, c, "anyof", E_ANYOF); break;
  case R_ALLOF: r_of(v, c, "allof", E_ALLOF); break;
  case R_ONEOF: r_of(v, c, "oneof", E_ONEOF); break;
  case R_NONEOF: r_of(v, c, "noneof", E_NONEOF); break;
  case R_DEPENDENCIES: r_dependencies(v, c); break;
  case R_EXCLUDES: r_excludes(v, c); break;
  case R_CHECK_WITH:
    if (v->g->o->schema_mode)
      sm_check_with(v, c);
    break;
  case R_LOGICAL:
    if (v->g->o->schema_mode)
      sm_logical(v, c);
    break;
  default: break;
  }
}

static void validate_definitions(val *v, pel field, const cv *rules, const cv *value) {
  v->field = field;
  v->rules = rules;
  v->value = value;
  v->nq = 0;
  v->qpos = 0;
  /* nullable (always), readonly, type, empty; then the other rules in schema order */
  const cv *prio[5] = {NULL, NULL, NULL, NULL, NULL};
  uint8_t ids[MAXQ];
  uint32_t n = rules->kind == CV_DICT ? rules->n : 0;
  if (n > MAXQ)
    n = MAXQ; /* a rules dict holds distinct known rules: fewer than MAXQ */
  for (uint32_t i = 0; i < n; i++) {
    const cv_member *m = &rules->u.members[i];
    ids[i] = (uint8_t)rule_id(m->key, m->klen);
    if (ids[i] >= R_NULLABLE && ids[i] <= R_EMPTY)
      prio[ids[i]] = &m->val;
  }
  for (int r = R_NULLABLE; r <= R_EMPTY; r++)
    if (r == R_NULLABLE || prio[r]) {
      v->queue[v->nq].id = (uint8_t)r;
      v->queue[v->nq++].c = prio[r];
    }
  for (uint32_t i = 0; i < n && v->nq < MAXQ; i++) {
    if (ids[i] <= R_EMPTY || ids[i] == R_SKIP)
      continue;
    v->queue[v->nq].id = ids[i];
    v->queue[v->nq++].c = &rules->u.members[i].val;
  }
  while (v->qpos < v->nq && !v->g->rc) {
    int id = v->queue[v->qpos].id;
    const cv *c = v->queue[v->qpos].c;
    v->qpos++;
    if (id == R_NONE)
      continue;
    if (v->g->o->max_work && ++v->g->work > v->g->o->max_work) {
      g_fail(v->g, escrow__err(ESCROW_E_LIMIT,
                               "validation needs more than %llu rule evaluations: the criteria "
                               "nest *of rules too deeply for this document",
                               (unsigned long long)v->g->o->max_work));
      break;
    }
    run_rule(v, id, c);
  }
}

static void validate_unknown(val *v, pel field, const cv *value) {
  const cv *au = v->allow_unknown;
  if (truthy(au)) {
    if (au->kind == CV_DICT || au->kind == CV_STR) {
      vglobal *g = v->g;
      if (au->kind == CV_STR)
        return; /* a registry name: not reachable from JSON criteria */
      if (!enter(g))
        return;
      val ch;
      child_init(&ch, v);
      pel crumb = pel_cstr(v->is_child ? "allow_unknown" : "__allow_unknown__");
      lpath spn13;
      lp_set(&spn13, v->sp, &crumb, 1);
      ch.sp = &spn13;
      ch.doc.kind = DV_SINGLE;
      ch.doc.skey = field;
      ch.doc.sval = value;
      ch.schema.kind = SV_SINGLE;
      ch.schema.skey = field;
      ch.schema.v = au;
      run_validator(&ch);
      el_sort(g, &ch.errs);
      el_add(g, &v->errs, ch.errs.e, ch.errs.n);
      val_free(&ch);
      leave(g);
    }
    return;
  }
  v->field = field;
  v->rules = NULL;
  v->value = value;
  v_error_at(v, field, E_UNKNOWN, NULL,
             mk_msg(v->g, v->g->o->schema_mode ? "unknown rule" : "unknown field",
                    v->g->o->schema_mode ? 12 : 13),
             NULL, 0, false);
}

static void required_error(val *v, pel field, const cv *rules) {
  bool in_rules = rule_get(rules, "required") != NULL;
  char *m = mk_msg(v->g, "required field", 14);
  if (m)
    v_error_at(v, field, E_REQUIRED, "required", m, NULL, 0, !in_rules);
}

static void validate_required(val *v) {
  const cv *s = v->schema.kind == SV_FIELDS ? v->schema.v : NULL;
  /* other schemas name only fields of the document: none can be missing */
  for (uint32_t i = 0; s && i < s->n && !v->g->rc; i++) {
    const cv_member *m = &s->u.members[i];
    if (m->val.kind != CV_DICT)
      continue;
    const cv *r = cr_dict_gets(&m->val, "required");
    bool req = r ? (r->kind == CV_BOOL && r->u.i) : v->require_all;
    if (!req)
      continue;
    pel k = pel_str(m->key, m->klen);
    bool unreq = false;
    for (size_t j = 0; j < v->nunreq && !unreq; j++)
      unreq = pel_eq(&v->unreq[j], &k);
    if (unreq || dv_get(&v->doc, &k))
      continue;
    required_error(v, k, &m->val);
  }
  if (v->nunreq) {
    bool disjoint = true;
    for (size_t j = 0; j < v->nunreq && disjoint; j++) {
      const cv *x = dv_get(&v->doc, &v->unreq[j]);
      if (x && x->kind != CV_NULL)
        disjoint = false;
    }
    if (disjoint)
      for (size_t j = 0; j < v->nunreq; j++) {
        const cv *x = dv_get(&v->doc, &v->unreq[j]);
        if (x && x->kind != CV_NULL)
          continue;
        required_error(v, v->unreq[j], sv_get(&v->schema, &v->unreq[j]));
      }
  }
}

static int run_validator(val *v) {
  vglobal *g = v->g;
  bool only_schema_fields = v->schema.kind == SV_SINGLE && v->allow_unknown->kind == CV_BOOL &&
                            v->allow_unknown->u.i && v->doc.kind != DV_SINGLE;
  if (only_schema_fields) {
    /* every other field is unknown and allowed: only the schema's field matters */
    const cv *x = dv_get(&v->doc, &v->schema.skey);
    if (x)
      validate_definitions(v, v->schema.skey, v->schema.v, x);
  } else {
    uint32_t n = dv_count(&v->doc);
    for (uint32_t i = 0; i < n && !g->rc; i++) {
      pel k = dv_key(&v->doc, i);
      const cv *x = dv_val(&v->doc, i);
      const cv *rules = v->schema.v ? sv_get(&v->schema, &k) : NULL;
      if (rules && rules->kind != CV_NULL)
        validate_definitions(v, k, rules, x);
      else
        validate_unknown(v, k, x);
    }
  }
  if (!v->update && !g->rc)
    validate_required(v);
  el_sort(g, &v->errs);
  return g->rc;
}

/* ---- the normalization pass: readonly fields ----------------------------------------------- */

static void normalize_readonly(val *v);

static void norm_child(val *v, pel field, const cv *rules, const cv *x, int kind) {
  /* kind: 0 mapping per schema, 1 sequence per schema, 2 keysrules, 3 valuesrules, 4 items */
  vglobal *g = v->g;
  static const char *const crumbs[] = {"schema", "schema", "keysrules", "valuesrules", "items"};
  if (!enter(g))
    return;
  val ch;
  child_init(&ch, v);
  ch.is_normalized = false;
  pel crumb[2] = {field, pel_cstr(crumbs[kind])};
  lpath dpn14;
  lp_set(&dpn14, v->dp, &field, 1);
  ch.dp = &dpn14;
  lpath spn15;
  lp_set(&spn15, v->sp, crumb, 2);
  ch.sp = &spn15;
  cv *kv = NULL;
  switch (kind) {
  case 0: {
    const cv *sc = rule_get(rules, "schema");
    ch.schema.kind = SV_FIELDS;
    ch.schema.v = (sc && sc->kind == CV_DICT) ? sc : NULL;
    const cv *au = rule_get(rules, "allow_unknown");
    if (au)
      ch.allow_unknown = au;
    ch.doc.kind = DV_DICT;
    ch.doc.v = x;
    break;
  }
  case 1:
    ch.schema.kind = SV_UNIFORM;
    ch.schema.v = rule_get(rules, "schema");
    ch.doc.kind = DV_LIST;
    ch.doc.v = x;
    break;
  case 2:
    kv = cr_alloc(g->arena, (x->n ? x->n : 1) * sizeof(cv));
    if (!kv) {
      g_fail(g, ESCROW_E_NOMEM);
      val_free(&ch);
      leave(g);
      return;
    }
    for (uint32_t i = 0; i < x->n; i++) {
      kv[i].kind = CV_STR;
      kv[i].flags = 0;
      kv[i].u.s = x->u.members[i].key;
      kv[i].n = x->u.members[i].klen;
    }
    ch.schema.kind = SV_UNIFORM;
    ch.schema.v = rule_get(rules, "keysrules");
    ch.doc.kind = DV_KEYS;
    ch.doc.keys = kv;
    ch.doc.v = x;
    break;
  case 3:
    ch.schema.kind = SV_UNIFORM;
    ch.schema.v = rule_get(rules, "valuesrules");
    ch.doc.kind = DV_DICT;
    ch.doc.v = x;
    break;
  default:
    ch.schema.kind = SV_ITEMS;
    ch.schema.v = rule_get(rules, "items");
    ch.doc.kind = DV_LIST;
    ch.doc.v = x;
    break;
  }
  if (ch.schema.v && (ch.schema.kind == SV_FIELDS || ch.schema.v->kind == CV_DICT ||
                      ch.schema.v->kind == CV_LIST))
    normalize_readonly(&ch);
  if (ch.errs.n) {
    static const int d2[] = {2}, d24[] = {2, 4};
    if (kind == 2)
      drop_sp_nodes(v, ch.errs.e, ch.errs.n, d24, 2);
    else if (kind != 0)
      drop_sp_nodes(v, ch.errs.e, ch.errs.n, d2, 1);
    el_sort(g, &ch.errs);
    el_add(g, &v->errs, ch.errs.e, ch.errs.n);
  }
  val_free(&ch);
  leave(g);
}

/* __validate_readonly_fields and __normalize_containers of Validator.__normalize_mapping. */
static void normalize_readonly(val *v) {
  vglobal *g = v->g;
  if (v->schema.kind == SV_FIELDS && v->schema.v) {
    const cv *s = v->schema.v;
    for (uint32_t i = 0; i < s->n; i++) {
      const cv_member *m = &s->u.members[i];
      pel k = pel_str(m->key, m->klen);
      const cv *x = dv_get(&v->doc, &k);
      if (x && truthy(rule_get(&m->val, "readonly"))) {
        v->field = k;
        v->rules = &m->val;
        v->value = x;
        v_err(v, E_READONLY, "readonly", "field is read-only");
      }
    }
  } else {
    uint32_t n = dv_count(&v->doc);
    for (uint32_t i = 0; i < n; i++) {
      pel k = dv_key(&v->doc, i);
      const cv *rules = sv_get(&v->schema, &k);
      if (rules && truthy(rule_get(rules, "readonly"))) {
        v->field = k;
        v->rules = rules;
        v->value = dv_val(&v->doc, i);
        v_err(v, E_READONLY, "readonly", "field is read-only");
      }
    }
  }
  uint32_t n = dv_count(&v->doc);
  for (uint32_t i = 0; i < n && !g->rc; i++) {
    pel k = dv_key(&v->doc, i);
    const cv *x = dv_val(&v->doc, i);
    const cv *rules = v->schema.v ? sv_get(&v->schema, &k) : NULL;
    if (rules && rules->kind != CV_DICT)
      rules = NULL;
    if (x->kind == CV_DICT) {
      if (rule_get(rules, "keysrules"))
        norm_child(v, k, rules, x, 2);
      if (rule_get(rules, "valuesrules"))
        norm_child(v, k, rules, x, 3);
      bool per_schema = rule_get(rules, "allow_unknown") || rule_get(rules, "purge_unknown") ||
                        rule_get(rules, "schema") || v->allow_unknown->kind == CV_DICT;
      if (per_schema) {
        const cv *r = rules;
        if ((!r || r->n == 0) && v->allow_unknown->kind == CV_DICT)
          r = v->allow_unknown;
        const cv *sc = rule_get(r, "schema");
        bool fields_ok = true;
        if (sc && sc->kind == CV_DICT)
          for (uint32_t j = 0; j < sc->n; j++)
            if (sc->u.members[j].val.kind != CV_DICT)
              fields_ok = false;
        if (r && fields_ok)
          norm_child(v, k, r, x, 0);
      }
    } else if (x->kind == CV_LIST) {
      const cv *sc = rule_get(rules, "schema");
      const cv *it = rule_get(rules, "items");
      if (sc && sc->kind == CV_DICT)
        norm_child(v, k, rules, x, 1);
      else if (!sc && it && it->kind == CV_LIST && it->n == x->n)
        norm_child(v, k, rules, x, 4);
    }
  }
}

/* ---- BasicErrorHandler ----------------------------------------------------------------------- */

typedef struct tnode tnode;
typedef struct tentry {
  pel key;
  char **msgs;
  size_t nmsgs, cap;
  tnode *sub;
} tentry;
struct tnode {
  tentry *e;
  size_t n, cap;
};

static tentry *t_find(vglobal *g, tnode *t, const pel *k, bool create) {
  if (t->n && pel_eq(&t->e[t->n - 1].key, k))
    return &t->e[t->n - 1];
  for (size_t i = 0; i < t->n; i++)
    if (pel_eq(&t->e[i].key, k))
      return &t->e[i];
  if (!create)
    return NULL;
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 4;
    tentry *e = cr_alloc(g->arena, cap * sizeof(*e));
    if (!e) {
      g_fail(g, ESCROW_E_NOMEM);
      return NULL;
    }
    if (t->n)
      memcpy(e, t->e, t->n * sizeof(*e));
    t->e = e;
    t->cap = cap;
  }
  tentry *e = &t->e[t->n++];
  memset(e, 0, sizeof(*e));
  e->key = *k;
  return e;
}

static void t_insert(vglobal *g, tnode *t, path p, uint32_t at, char *msg) {
  if (at >= p.n || !msg)
    return;
  tentry *e = t_find(g, t, &p.e[at], true);
  if (!e)
    return;
  if (at + 1 == p.n) {
    if (e->nmsgs == e->cap) {
      size_t cap = e->cap ? e->cap * 2 : 2;
      char **m = cr_alloc(g->arena, cap * sizeof(char *));
      if (!m) {
        g_fail(g, ESCROW_E_NOMEM);
        return;
      }
      if (e->nmsgs)
        memcpy(m, e->msgs, e->nmsgs * sizeof(char *));
      e->msgs = m;
      e->cap = cap;
    }
    e->msgs[e->nmsgs++] = msg;
    return;
  }
  if (!e->sub) {
    e->sub = cr_alloc(g->arena, sizeof(tnode));
    if (!e->sub) {
      g_fail(g, ESCROW_E_NOMEM);
      return;
    }
    memset(e->sub, 0, sizeof(tnode));
  }
  t_insert(g, e->sub, p, at + 1, msg);
}

static void rewrite(vglobal *g, perr *e, uint32_t offset);

static void rewrite_group(vglobal *g, perr *e, uint32_t offset) {
  uint32_t start = e->dp.n - offset;
  for (size_t i = 0; i < e->nkids; i++) {
    perr *k = e->kids[i];
    path rel = {k->dp.n > start ? k->dp.e + start : NULL, k->dp.n > start ? k->dp.n - start : 0};
    k->dp = path_ext(g, e->dp, rel.e, rel.n);
    rewrite(g, k, offset);
  }
}

static pel def_index(const perr *logic, const perr *kid) {
  uint32_t at = logic->sp.n;
  if (at < kid->sp.n)
    return kid->sp.e[at];
  return pel_cstr("None");
}

static void rewrite_logic(vglobal *g, perr *e, uint32_t offset) {
  uint32_t start = e->dp.n - offset;
  for (size_t i = 0; i < e->nkids; i++) {
    perr *k = e->kids[i];
    cr_buf b = {0};
    pel d = def_index(e, k);
    if (d.s)
      cr_buf_printf(&b, "%s definition %.*s", e->rule, (int)d.n, d.s);
    else
      cr_buf_printf(&b, "%s definition %lld", e->rule, (long long)d.i);
    char *name = msg_finish(g, &b);
    if (!name)
      return;
    pel node = pel_cstr(name);
    path base = path_ext(g, e->dp, &node, 1);
    path rel = {k->dp.n > start ? k->dp.e + start : NULL, k->dp.n > start ? k->dp.n - start : 0};
    k->dp = path_ext(g, base, rel.e, rel.n);
    rewrite(g, k, offset + 1);
  }
}

static void rewrite(vglobal *g, perr *e, uint32_t offset) {
  if (is_logic(e->code))
    rewrite_logic(g, e, offset);
  else if (is_group(e->code))
    rewrite_group(g, e, offset);
}

static void insert_any(vglobal *g, tnode *t, perr *e, const pel *field);

/* The message with {field} filled in (only EXCLUDES_FIELD uses it). */
static char *format_msg(vglobal *g, perr *e, const pel *field) {
  if (e->code != E_EXCLUDES || !e->msg)
    return e->msg;
  cr_buf b = {0};
  cr_buf_put(&b, e->msg, msg_len(e->msg));
  cr_buf_puts(&b, " must not be present with '");
  if (field && field->s)
    cr_buf_put(&b, field->s, field->n);
  else if (field)
    cr_buf_printf(&b, "%lld", (long long)field->i);
  cr_buf_putc(&b, '\'');
  return msg_finish(g, &b);
}

static const pel *last_of(const perr *e) { return e->dp.n ? &e->dp.e[e->dp.n - 1] : NULL; }

static void insert_logic(vglobal *g, tnode *t, perr *e) {
  t_insert(g, t, e->dp, 0, e->msg);
  /* definitions_errors groups children by definition index, in first-seen order */
  bool *done = e->nkids ? cr_alloc(g->arena, e->nkids) : NULL;
  if (e->nkids && !done) {
    g_fail(g, ESCROW_E_NOMEM);
    return;
  }
  if (done)
    memset(done, 0, e->nkids);
  for (size_t i = 0; i < e->nkids; i++) {
    if (done[i])
      continue;
    pel d = def_index(e, e->kids[i]);
    for (size_t j = i; j < e->nkids; j++) {
      pel dj = def_index(e, e->kids[j]);
      if (done[j] || !pel_eq(&dj, &d))
        continue;
      done[j] = true;
      insert_any(g, t, e->kids[j], last_of(e));
    }
  }
}

/* field: the {field} of a plain error (the logic error's for its definitions' errors, else
 * the error's own). */
static void insert_any(vglobal *g, tnode *t, perr *e, const pel *field) {
  if (is_logic(e->code)) {
    insert_logic(g, t, e);
  } else if (is_group(e->code)) {
    for (size_t i = 0; i < e->nkids; i++)
      insert_any(g, t, e->kids[i], last_of(e->kids[i]));
  } else {
    t_insert(g, t, e->dp, 0, format_msg(g, e, field ? field : last_of(e)));
  }
}

static bool t_nonempty(const tnode *t) {
  if (!t)
    return false;
  for (size_t i = 0; i < t->n; i++)
    if (t->e[i].nmsgs || t_nonempty(t->e[i].sub))
      return true;
  return false;
}

static void t_write(cr_buf *b, const tnode *t) {
  cr_buf_putc(b, '{');
  bool first = true;
  for (size_t i = 0; i < t->n; i++) {
    const tentry *e = &t->e[i];
    bool sub = t_nonempty(e->sub);
    if (!first)
      cr_buf_putc(b, ',');
    first = false;
    if (e->key.s) {
      cr_buf_json_str(b, e->key.s, e->key.n);
    } else {
      cr_buf_printf(b, "\"%lld\"", (long long)e->key.i);
    }
    cr_buf_puts(b, ":[");
    for (size_t k = 0; k < e->nmsgs; k++) {
      if (k)
        cr_buf_putc(b, ',');
      cr_buf_json_str(b, e->msgs[k], msg_len(e->msgs[k]));
    }
    if (sub) {
      if (e->nmsgs)
        cr_buf_putc(b, ',');
      t_write(b, e->sub);
    }
    cr_buf_putc(b, ']');
  }
  cr_buf_putc(b, '}');
}

/* ---- entry point --------------------------------------------------------------------------- */

int cr_validate(const cr_vopts *o, const cv *schema, const cv *allow_unknown_rules,
                const cv *document, bool *valid, char **errors_json) {
  if (errors_json)
    *errors_json = NULL;
  cr_arena arena;
  cr_arena_init(&arena);
  vglobal g;
  memset(&g, 0, sizeof(g));
  g.o = o;
  g.arena = &arena;
  g.root_doc = document;
  g.root_allow_unknown = allow_unknown_rules;
  val v;
  memset(&v, 0, sizeof(v));
  v.g = &g;
  v.allow_unknown = allow_unknown_rules ? allow_unknown_rules
                                        : (o->allow_unknown ? &cv_true : &cv_false);
  v.require_all = o->require_all;
  v.doc.kind = DV_DICT;
  v.doc.v = document;
  v.schema.kind = SV_FIELDS;
  v.schema.v = schema;
  if (o->normalize && !o->schema_mode) {
    normalize_readonly(&v);
    v.is_normalized = true;
  }
  if (!g.rc)
    run_validator(&v);
  int rc = g.rc;
  if (!rc) {
    *valid = v.errs.n == 0;
    if (errors_json) {
      tnode root = {0};
      for (size_t i = 0; i < v.errs.n && !g.rc; i++) {
        rewrite(&g, v.errs.e[i], 0);
        insert_any(&g, &root, v.errs.e[i], last_of(v.errs.e[i]));
      }
      rc = g.rc;
      if (!rc) {
        cr_buf b = {0};
        t_write(&b, &root);
        *errors_json = cr_buf_finish(&b);
        if (!*errors_json)
          rc = ESCROW_E_NOMEM;
      }
    }
  }
  val_free(&v);
  if (g.md)
    pcre2_match_data_free(g.md);
  cr_arena_free(&arena);
  return rc;
}
