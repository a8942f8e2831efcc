/*
 * Validation criteria: schema expansion (the *of_ typesavers, renamed rules), the check of a
 * schema against Cerberus's own schema of rules (SchemaError trees), compilation (regexes) and
 * the public API.
 */
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "criteria_internal.h"

/* cerberus.Validator().rules, as JSON (checked against Cerberus 1.3.2) */
static const char META_RULES_JSON[] =
    "{\"allof\":{\"type\":\"list\",\"logical\":\"allof\"},\"allow_unknown\":{\"oneof\":[{\"type\":\"boolean\"},{\""
    "type\":[\"dict\",\"string\"],\"check_with\":\"bulk_schema\"}]},\"allowed\":{\"type\":\"container\"},\"anyo"
    "f\":{\"type\":\"list\",\"logical\":\"anyof\"},\"check_with\":{\"oneof\":[{\"type\":\"callable\"},{\"type\":\"l"
    "ist\",\"schema\":{\"oneof\":[{\"type\":\"callable\"},{\"type\":\"string\",\"allowed\":[]}]}},{\"type\":\"str"
    "ing\",\"allowed\":[]}]},\"contains\":{\"empty\":false},\"dependencies\":{\"type\":[\"dict\",\"hashable\","
    "\"list\"],\"check_with\":\"dependencies\"},\"empty\":{\"type\":\"boolean\"},\"excludes\":{\"type\":[\"hasha"
    "ble\",\"list\"],\"schema\":{\"type\":\"hashable\"}},\"forbidden\":{\"type\":\"list\"},\"items\":{\"type\":\"li"
    "st\",\"check_with\":\"items\"},\"keysrules\":{\"type\":[\"dict\",\"string\"],\"check_with\":\"bulk_schema\""
    ",\"forbidden\":[\"rename\",\"rename_handler\"]},\"max\":{\"nullable\":false},\"maxlength\":{\"type\":\"in"
    "teger\"},\"meta\":{},\"min\":{\"nullable\":false},\"minlength\":{\"type\":\"integer\"},\"noneof\":{\"type\""
    ":\"list\",\"logical\":\"noneof\"},\"nullable\":{\"type\":\"boolean\"},\"oneof\":{\"type\":\"list\",\"logical\""
    ":\"oneof\"},\"readonly\":{\"type\":\"boolean\"},\"regex\":{\"type\":\"string\"},\"require_all\":{\"type\":\"b"
    "oolean\"},\"required\":{\"type\":\"boolean\"},\"schema\":{\"type\":[\"dict\",\"string\"],\"anyof\":[{\"check"
    "_with\":\"schema\"},{\"check_with\":\"bulk_schema\"}]},\"type\":{\"type\":[\"string\",\"list\"],\"check_wi"
    "th\":\"type\"},\"valuesrules\":{\"type\":[\"dict\",\"string\"],\"check_with\":\"bulk_schema\",\"forbidden\""
    ":[\"rename\",\"rename_handler\"]},\"coerce\":{\"oneof\":[{\"type\":\"callable\"},{\"type\":\"list\",\"schem"
    "a\":{\"oneof\":[{\"type\":\"callable\"},{\"type\":\"string\",\"allowed\":[]}]}},{\"type\":\"string\",\"allow"
    "ed\":[]}]},\"default\":{\"nullable\":true},\"default_setter\":{\"oneof\":[{\"type\":\"callable\"},{\"typ"
    "e\":\"string\",\"allowed\":[]}]},\"purge_unknown\":{\"type\":\"boolean\"},\"rename\":{\"type\":\"hashable\""
    "},\"rename_handler\":{\"oneof\":[{\"type\":\"callable\"},{\"type\":\"list\",\"schema\":{\"oneof\":[{\"type\""
    ":\"callable\"},{\"type\":\"string\",\"allowed\":[]}]}},{\"type\":\"string\",\"allowed\":[]}]}}";

/* ---- the schema of rules, parsed once ------------------------------------------------------ */

static pthread_mutex_t meta_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int meta_ready;
static cr_arena meta_arena;
static cv *meta_rules;            /* Validator.rules */
static cv meta_validation_rules;  /* Validator.validation_rules (no normalization rules) */
static cv meta_allow_unknown;     /* SchemaValidationSchema: {allow_unknown, schema, type} */
static int meta_rc = ESCROW_E_NOMEM;

static const char *const NORM_RULES[] = {"coerce", "default", "default_setter",
                                         "purge_unknown", "rename", "rename_handler"};

static bool is_norm_rule(const char *k, size_t n) {
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(NORM_RULES); i++)
    if (strlen(NORM_RULES[i]) == n && memcmp(NORM_RULES[i], k, n) == 0)
      return true;
  return false;
}

static cv_member mk_member(const char *k, cv v) {
  cv_member m;
  m.key = k;
  m.klen = (uint32_t)strlen(k);
  m.val = v;
  return m;
}

/* Parse the rules once per process (the arena is never freed). A failure (out of memory)
 * leaves nothing behind and the next call tries again. */
static void meta_init(void) {
  cr_parse_limits lim = {64, sizeof(META_RULES_JSON), 64};
  cr_arena_init(&meta_arena);
  if (cr_parse(&meta_arena, META_RULES_JSON, sizeof(META_RULES_JSON) - 1, &lim, "rules",
               &meta_rules) != 0) {
    cr_arena_free(&meta_arena);
    return;
  }
  cv_member *vm = cr_alloc(&meta_arena, meta_rules->n * sizeof(cv_member));
  cv_member *am = cr_alloc(&meta_arena, 3 * sizeof(cv_member));
  if (!vm || !am) {
    cr_arena_free(&meta_arena);
    return;
  }
  uint32_t n = 0;
  for (uint32_t i = 0; i < meta_rules->n; i++)
    if (!is_norm_rule(meta_rules->u.members[i].key, meta_rules->u.members[i].klen))
      vm[n++] = meta_rules->u.members[i];
  /* the type constraints of excludes and dependencies are tuples in Cerberus's docstrings,
   * and a message prints them so: "must be of ('hashable', 'list') type" */
  static const char *const tuple_types[] = {"excludes", "dependencies"};
  for (size_t i = 0; i < 2; i++) {
    cv *r = (cv *)cr_dict_gets(meta_rules, tuple_types[i]);
    cv *t = r ? (cv *)cr_dict_gets(r, "type") : NULL;
    if (t && t->kind == CV_LIST)
      t->flags |= CVF_TUPLE;
  }
  meta_validation_rules.kind = CV_DICT;
  meta_validation_rules.n = n;
  meta_validation_rules.u.members = vm;
  cv f = {.kind = CV_BOOL};
  cv t = {.kind = CV_STR, .n = 4};
  t.u.s = "dict";
  am[0] = mk_member("allow_unknown", f);
  am[1] = mk_member("schema", *meta_rules);
  am[2] = mk_member("type", t);
  meta_allow_unknown.kind = CV_DICT;
  meta_allow_unknown.n = 3;
  meta_allow_unknown.u.members = am;
  meta_rc = 0;
}

static int meta_get(void) {
  if (meta_ready)
    return 0;
  pthread_mutex_lock(&meta_lock);
  if (!meta_ready) {
    meta_init();
    if (meta_rc == 0)
      meta_ready = 1;
  }
  pthread_mutex_unlock(&meta_lock);
  if (!meta_ready)
    return escrow__err(ESCROW_E_NOMEM, "cannot set up the criteria rules: out of memory");
  return 0;
}

const cv *cr_meta_rules(void) { return meta_rules; }
const cv *cr_meta_validation_rules(void) { return &meta_validation_rules; }

/* ---- expansion (DefinitionSchema.expand) --------------------------------------------------- */

static cv_member *dict_find(cv *d, const char *k, size_t n) {
  for (uint32_t i = 0; i < d->n; i++)
    if (d->u.members[i].klen == n && memcmp(d->u.members[i].key, k, n) == 0)
      return &d->u.members[i];
  return NULL;
}

/* d[k] = v: replace in place, or append (a new member array). */
static int dict_set(cr_arena *a, cv *d, const char *k, size_t n, const cv *v) {
  cv_member *m = dict_find(d, k, n);
  if (m) {
    m->val = *v;
    return 0;
  }
  cv_member *nm = cr_alloc(a, (d->n + 1) * sizeof(cv_member));
  if (!nm)
    return ESCROW_E_NOMEM;
  if (d->n)
    memcpy(nm, d->u.members, d->n * sizeof(cv_member));
  nm[d->n].key = k;
  nm[d->n].klen = (uint32_t)n;
  nm[d->n].val = *v;
  d->u.members = nm;
  d->n++;
  return 0;
}

static void dict_del(cv *d, const char *k, size_t n) {
  cv_member *m = dict_find(d, k, n);
  if (!m)
    return;
  size_t i = (size_t)(m - d->u.members);
  memmove(m, m + 1, (d->n - i - 1) * sizeof(cv_member));
  d->n--;
}

static bool is_of_rule(const char *k, size_t n) {
  return (n > 6 && (!memcmp(k, "allof_", 6) || !memcmp(k, "anyof_", 6))) ||
         (n > 7 && (!memcmp(k, "noneof_", 7) || !memcmp(k, "oneof_", 6)));
}

/*
 * The expansion follows DefinitionSchema.expand exactly, including what happens when Python
 * raises half-way (criteria written by hand do reach these paths):
 *
 *   def expand(schema):
 *       try: _expand_logical_shortcuts(schema); _expand_subschemas(schema)
 *       except Exception: pass
 *       _rename_deprecated_rulenames(schema)      # may raise to the caller
 *
 * Each function returns 0, RAISED when Python raises, or a negative ESCROW_E_* code.
 */
#define RAISED 1
#define RAISED_BOTH_NAMES 2 /* RuntimeError: an old and a new rule name side by side */

/* Python's `name in x` for a rules value; RAISED for a TypeError (numbers, None). */
static int py_has(const cv *x, const char *name, bool *has) {
  size_t n = strlen(name);
  *has = false;
  switch (x->kind) {
  case CV_DICT: *has = cr_dict_get(x, name, n) != NULL; return 0;
  case CV_LIST:
    for (uint32_t i = 0; i < x->n; i++)
      if (x->u.items[i].kind == CV_STR && x->u.items[i].n == n &&
          !memcmp(x->u.items[i].u.s, name, n))
        *has = true;
    return 0;
  case CV_STR:
    for (uint32_t i = 0; i + n <= x->n; i++)
      if (!memcmp(x->u.s + i, name, n))
        *has = true;
    return 0;
  default: return RAISED;
  }
}

/* A string's characters as a list of one-character strings. */
static int str_to_chars(cr_arena *a, const cv *str, cv *out) {
  size_t cnt = cr_utf8_len(str->u.s, str->n), pos = 0;
  cv *items = cr_alloc(a, (cnt ? cnt : 1) * sizeof(cv));
  if (!items)
    return ESCROW_E_NOMEM;
  for (size_t i = 0; i < cnt; i++) {
    size_t s0 = pos++;
    while (pos < str->n && ((uint8_t)str->u.s[pos] & 0xC0) == 0x80)
      pos++;
    items[i].kind = CV_STR;
    items[i].flags = 0;
    items[i].n = (uint32_t)(pos - s0);
    items[i].u.s = cr_strndup(a, str->u.s + s0, pos - s0);
    if (!items[i].u.s)
      return ESCROW_E_NOMEM;
  }
  out->kind = CV_LIST;
  out->flags = 0;
  out->n = (uint32_t)cnt;
  out->u.items = items;
  return 0;
}

static int expand_logical_shortcuts(cr_arena *a, cv *rules) {
  if (rules->kind == CV_STR)
    return 0; /* iterating a str gives characters: no *of_ rule */
  if (rules->kind == CV_LIST) {
    for (uint32_t i = 0; i < rules->n; i++)
      if (rules->u.items[i].kind == CV_STR &&
          is_of_rule(rules->u.items[i].u.s, rules->u.items[i].n))
        return RAISED; /* list.update: AttributeError */
    return 0;
  }
  if (rules->kind != CV_DICT)
    return RAISED;
  for (;;) {
    cv_member *of = NULL;
    for (uint32_t i = 0; i < rules->n && !of; i++)
      if (is_of_rule(rules->u.members[i].key, rules->u.members[i].klen))
        of = &rules->u.members[i];
    if (!of)
      return 0;
    const char *key = of->key;
    size_t klen = of->klen;
    cv val = of->val;
    size_t us = (size_t)((const char *)memchr(key, '_', klen) - key);
    char *op = cr_strndup(a, key, us);
    char *rule = cr_strndup(a, key + us + 1, klen - us - 1);
    if (!op || !rule)
      return ESCROW_E_NOMEM;
    cv empty = {.kind = CV_LIST};
    if (dict_set(a, rules, op, us, &empty))
      return ESCROW_E_NOMEM;
    cv seq;
    if (val.kind == CV_LIST) {
      seq = val;
    } else if (val.kind == CV_DICT) { /* iterating a dict gives its keys */
      cv *items = cr_alloc(a, (val.n ? val.n : 1) * sizeof(cv));
      if (!items)
        return ESCROW_E_NOMEM;
      for (uint32_t i = 0; i < val.n; i++) {
        items[i].kind = CV_STR;
        items[i].flags = 0;
        items[i].u.s = val.u.members[i].key;
        items[i].n = val.u.members[i].klen;
      }
      seq.kind = CV_LIST;
      seq.n = val.n;
      seq.u.items = items;
    } else if (val.kind == CV_STR) {
      if (str_to_chars(a, &val, &seq))
        return ESCROW_E_NOMEM;
    } else {
      return RAISED; /* TypeError: not iterable (the operator is left as []) */
    }
    cv *items = cr_alloc(a, (seq.n ? seq.n : 1) * sizeof(cv));
    if (!items)
      return ESCROW_E_NOMEM;
    for (uint32_t i = 0; i < seq.n; i++) {
      cv_member *m = cr_alloc(a, sizeof(cv_member));
      if (!m)
        return ESCROW_E_NOMEM;
      m->key = rule;
      m->klen = (uint32_t)(klen - us - 1);
      m->val = seq.u.items[i];
      items[i].kind = CV_DICT;
      items[i].flags = 0;
      items[i].n = 1;
      items[i].u.members = m;
    }
    cv list = {.kind = CV_LIST, .n = seq.n};
    list.u.items = items;
    if (dict_set(a, rules, op, us, &list))
      return ESCROW_E_NOMEM;
    dict_del(rules, key, klen);
  }
}

static int expand_fields(cr_arena *a, cv *schema, int depth);

/* expand({0: rules})[0] */
static int expand_rules(cr_arena *a, cv *rules, int depth) {
  cv_member m = {"0", 1, *rules};
  cv wrap = {.kind = CV_DICT, .n = 1};
  wrap.u.members = &m;
  int rc = expand_fields(a, &wrap, depth);
  *rules = wrap.u.members[0].val;
  return rc;
}

static int expand_subschemas(cr_arena *a, cv *schema, int depth) {
  static const char *const single[] = {"keysrules", "valuesrules", "keyschema", "valueschema"};
  static const char *const lists[] = {"allof", "anyof", "items", "noneof", "oneof"};
  for (uint32_t f = 0; f < schema->n; f++) {
    cv *rules = &schema->u.members[f].val;
    cv_member *sm = rules->kind == CV_DICT ? dict_find(rules, "schema", 6) : NULL;
    if (sm) {
      if (sm->val.kind != CV_DICT)
        return RAISED; /* .values(): AttributeError */
      bool mapping = true;
      for (uint32_t i = 0; i < sm->val.n; i++)
        if (sm->val.u.members[i].val.kind != CV_DICT)
          mapping = false;
      int rc = mapping ? expand_fields(a, &sm->val, depth + 1)
                       : expand_rules(a, &sm->val, depth + 1);
      if (rc)
        return rc < 0 ? rc : RAISED;
    }
    for (size_t k = 0; k < 4; k++) {
      bool has;
      if (py_has(rules, single[k], &has))
        return RAISED;
      if (!has)
        continue;
      if (rules->kind != CV_DICT)
        return RAISED; /* str/list indices must be integers */
      cv_member *m = dict_find(rules, single[k], strlen(single[k]));
      int rc = expand_rules(a, &m->val, depth + 1);
      if (rc)
        return rc < 0 ? rc : RAISED;
    }
    for (size_t k = 0; k < 5; k++) {
      bool has;
      if (py_has(rules, lists[k], &has))
        return RAISED;
      if (!has)
        continue;
      if (rules->kind != CV_DICT)
        return RAISED;
      cv_member *m = dict_find(rules, lists[k], strlen(lists[k]));
      if (m->val.kind == CV_STR) { /* a str is a Sequence: it becomes its characters */
        if (str_to_chars(a, &m->val, &m->val))
          return ESCROW_E_NOMEM;
      }
      if (m->val.kind != CV_LIST)
        continue;
      for (uint32_t i = 0; i < m->val.n; i++) {
        int rc = expand_rules(a, &m->val.u.items[i], depth + 1);
        if (rc)
          return rc < 0 ? rc : RAISED;
      }
    }
  }
  return 0;
}

static int rename_deprecated(cr_arena *a, cv *schema) {
  static const char *const pairs[][2] = {
      {"keyschema", "keysrules"}, {"validator", "check_with"}, {"valueschema", "valuesrules"}};
  for (uint32_t f = 0; f < schema->n; f++) {
    cv *rules = &schema->u.members[f].val;
    if (rules->kind == CV_STR)
      continue;
    for (size_t k = 0; k < 3; k++) {
      bool has;
      if (py_has(rules, pairs[k][0], &has))
        return RAISED;
      if (!has)
        continue;
      bool both;
      py_has(rules, pairs[k][1], &both);
      if (both)
        return RAISED_BOTH_NAMES;
      if (rules->kind != CV_DICT)
        return RAISED;
      cv v = dict_find(rules, pairs[k][0], strlen(pairs[k][0]))->val;
      dict_del(rules, pairs[k][0], strlen(pairs[k][0]));
      if (dict_set(a, rules, pairs[k][1], strlen(pairs[k][1]), &v))
        return ESCROW_E_NOMEM;
    }
  }
  return 0;
}

static int expand_fields(cr_arena *a, cv *schema, int depth) {
  if (depth > 200)
    return escrow__err(ESCROW_E_LIMIT, "criteria nest too deeply");
  if (schema->kind != CV_DICT)
    return 0;
  int rc = 0;
  for (uint32_t f = 0; f < schema->n && rc == 0; f++)
    rc = expand_logical_shortcuts(a, &schema->u.members[f].val);
  if (rc == 0)
    rc = expand_subschemas(a, schema, depth);
  if (rc < 0)
    return rc == ESCROW_E_NOMEM ? escrow__err_nomem() : rc;
  return rename_deprecated(a, schema); /* RAISED reaches the caller's try */
}

/* ---- after the check: normalization rules and regexes --------------------------------------- */

typedef struct walk {
  escrow_criteria *c;
  cr_buf path; /* dotted path for messages */
  size_t cap;
  int rc;
  char *msg;
} walk;

static bool all_values_dicts(const cv *d) {
  for (uint32_t i = 0; i < d->n; i++)
    if (d->u.members[i].val.kind != CV_DICT)
      return false;
  return true;
}

static bool all_keys_rules(const cv *d) {
  static const char *const names[] = {
      "allof", "allow_unknown", "allowed", "anyof", "check_with", "contains", "dependencies",
      "empty", "excludes", "forbidden", "items", "keysrules", "max", "maxlength", "meta", "min",
      "minlength", "noneof", "nullable", "oneof", "readonly", "regex", "require_all",
      "required", "schema", "type", "valuesrules", "coerce", "default", "default_setter",
      "purge_unknown", "rename", "rename_handler"};
  for (uint32_t i = 0; i < d->n; i++) {
    bool ok = false;
    for (size_t k = 0; k < ESCROW__ARRAY_LEN(names) && !ok; k++)
      ok = strlen(names[k]) == d->u.members[i].klen &&
           !memcmp(names[k], d->u.members[i].key, d->u.members[i].klen);
    if (!ok)
      return false;
  }
  return true;
}

static void walk_fields(walk *w, const cv *fields, int depth);

static void walk_fail(walk *w, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void walk_fail(walk *w, int rc, const char *fmt, ...) {
  if (w->rc)
    return;
  w->rc = rc;
  cr_buf b = {0};
  char tmp[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(tmp, sizeof(tmp), fmt, ap);
  va_end(ap);
  cr_buf_puts(&b, tmp);
  w->msg = b.p;
  if (b.failed) {
    escrow__free(b.p);
    w->msg = NULL;
  }
}

static int regex_add(walk *w, const cv *node) {
  escrow_criteria *c = w->c;
  for (size_t i = 0; i < c->nregex; i++)
    if (c->regex[i].node == node)
      return 0;
  cr_buf pb = {0};
  cr_buf_put(&pb, node->u.s, node->n);
  if (node->n == 0 || node->u.s[node->n - 1] != '$')
    cr_buf_putc(&pb, '$');
  if (pb.failed) {
    escrow__free(pb.p);
    return escrow__err_nomem();
  }
  int ec;
  PCRE2_SIZE eo;
  pcre2_code *code = pcre2_compile((PCRE2_SPTR)pb.p, pb.len,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_ALT_BSUX, &ec, &eo, NULL);
  escrow__free(pb.p);
  if (!code) {
    PCRE2_UCHAR em[256];
    pcre2_get_error_message(ec, em, sizeof(em));
    walk_fail(w, ESCROW_E_FORMAT, "the regex of '%s' cannot be compiled: %s",
              w->path.p ? w->path.p : "", (const char *)em);
    return ESCROW_E_FORMAT;
  }
  if (c->nregex == w->cap) {
    size_t cap = w->cap ? w->cap * 2 : 8;
    cr_regex *r = escrow__realloc(c->regex, cap * sizeof(*r));
    if (!r) {
      pcre2_code_free(code);
      return escrow__err_nomem();
    }
    c->regex = r;
    w->cap = cap;
  }
  c->regex[c->nregex].node = node;
  c->regex[c->nregex].code = code;
  c->nregex++;
  return 0;
}

static void walk_rules(walk *w, const cv *rules, bool norm_forbidden, int depth) {
  if (rules->kind != CV_DICT || w->rc || depth > 200)
    return;
  size_t mark = w->path.len;
  for (uint32_t i = 0; i < rules->n && !w->rc; i++) {
    const cv_member *m = &rules->u.members[i];
    w->path.len = mark;
    if (w->path.p)
      w->path.p[mark] = 0;
    if (norm_forbidden && is_norm_rule(m->key, m->klen)) {
      walk_fail(w, ESCROW_E_FORMAT,
                "'%s': the normalization rule '%s' is not supported (escrow validates "
                "reports as they are; remove it)",
                w->path.p ? w->path.p : "", m->key);
      break;
    }
    const cv *v = &m->val;
#define K(name) (m->klen == sizeof(name) - 1 && !memcmp(m->key, name, m->klen))
    if (K("regex") && v->kind == CV_STR) {
      if (regex_add(w, v) && !w->rc)
        w->rc = ESCROW_E_NOMEM;
    } else if (K("schema") && v->kind == CV_DICT) {
      bool fields = all_values_dicts(v);
      if (fields)
        walk_fields(w, v, depth + 1);
      if (all_keys_rules(v))
        walk_rules(w, v, !fields, depth + 1);
    } else if ((K("keysrules") || K("valuesrules") || K("allow_unknown")) &&
               v->kind == CV_DICT) {
      walk_rules(w, v, true, depth + 1);
    } else if ((K("items") || K("allof") || K("anyof") || K("oneof") || K("noneof")) &&
               v->kind == CV_LIST) {
      for (uint32_t k = 0; k < v->n; k++)
        walk_rules(w, &v->u.items[k], true, depth + 1);
    }
#undef K
  }
  w->path.len = mark;
  if (w->path.p)
    w->path.p[mark] = 0;
}

static void walk_fields(walk *w, const cv *fields, int depth) {
  if (fields->kind != CV_DICT || depth > 200)
    return;
  size_t mark = w->path.len;
  for (uint32_t i = 0; i < fields->n && !w->rc; i++) {
    w->path.len = mark;
    if (mark)
      cr_buf_putc(&w->path, '.');
    cr_buf_put(&w->path, fields->u.members[i].key, fields->u.members[i].klen);
    walk_rules(w, &fields->u.members[i].val, true, depth + 1);
  }
  w->path.len = mark;
  if (w->path.p)
    w->path.p[mark] = 0;
}

static bool has_key(const cv *v, const char *key, int depth) {
  if (depth > 256)
    return true;
  if (v->kind == CV_LIST) {
    for (uint32_t i = 0; i < v->n; i++)
      if (has_key(&v->u.items[i], key, depth + 1))
        return true;
  } else if (v->kind == CV_DICT) {
    for (uint32_t i = 0; i < v->n; i++)
      if ((v->u.members[i].klen == strlen(key) && !memcmp(v->u.members[i].key, key, strlen(key))) ||
          has_key(&v->u.members[i].val, key, depth + 1))
        return true;
  }
  return false;
}

static int regex_cmp(const void *a, const void *b) {
  const cr_regex *x = a, *y = b;
  return (uintptr_t)x->node < (uintptr_t)y->node ? -1 : ((uintptr_t)x->node > (uintptr_t)y->node);
}

const pcre2_code *cr_regex_find(const escrow_criteria *c, const cv *node) {
  size_t lo = 0, hi = c->nregex;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if ((uintptr_t)c->regex[mid].node < (uintptr_t)node)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < c->nregex && c->regex[lo].node == node ? c->regex[lo].code : NULL;
}

/* ---- public API -------------------------------------------------------------------------------- */

static void opts_fill(escrow_criteria_options *o, const escrow_criteria_options *in) {
  escrow_criteria_options d = ESCROW_CRITERIA_OPTIONS_INIT;
  if (in)
    d = *in;
  if (!d.max_depth)
    d.max_depth = 64;
  if (!d.max_document_bytes)
    d.max_document_bytes = 64u << 20;
  if (!d.max_schema_bytes)
    d.max_schema_bytes = 1u << 20;
  if (!d.max_number_len)
    d.max_number_len = 4300;
  if (!d.regex_match_limit)
    d.regex_match_limit = 1000000;
  if (!d.regex_depth_limit)
    d.regex_depth_limit = 10000;
  if (!d.max_errors)
    d.max_errors = 100000;
  if (!d.max_work)
    d.max_work = 50000000;
  *o = d;
}

static char *json_message(const char *msg) {
  cr_buf b = {0};
  cr_buf_putc(&b, '[');
  cr_buf_json_str(&b, msg, strlen(msg));
  cr_buf_putc(&b, ']');
  return cr_buf_finish(&b);
}

void escrow_criteria_free(escrow_criteria *c) {
  if (!c)
    return;
  for (size_t i = 0; i < c->nregex; i++)
    pcre2_code_free(c->regex[i].code);
  escrow__free(c->regex);
  cr_arena_free(&c->arena);
  escrow__free(c);
}

int escrow_criteria_compile(escrow_criteria **out, const char *json, size_t len,
                            const escrow_criteria_options *opts, char **schema_errors) {
  if (schema_errors)
    *schema_errors = NULL;
  if (!out)
    return escrow__err(ESCROW_E_INVALID, "escrow_criteria_compile: out is NULL");
  *out = NULL;
  if (!json)
    return escrow__err(ESCROW_E_INVALID, "escrow_criteria_compile: json is NULL");
  if (opts && opts->version != ESCROW_CRITERIA_OPTIONS_VERSION)
    return escrow__err(ESCROW_E_INVALID, "escrow_criteria_options: unknown version %u",
                       opts->version);
  int rc = meta_get();
  if (rc)
    return rc;
  escrow_criteria *c = escrow__calloc(1, sizeof(*c));
  if (!c)
    return escrow__err_nomem();
  cr_arena_init(&c->arena);
  opts_fill(&c->opts, opts);
  cr_parse_limits lim = {c->opts.max_depth, c->opts.max_schema_bytes, c->opts.max_number_len};
  cv *root = NULL;
  rc = cr_parse(&c->arena, json, len, &lim, "criteria", &root);
  if (rc)
    goto fail;
  if (root->kind != CV_DICT) {
    cr_buf b = {0};
    cr_buf_puts(&b, "schema definition for field '");
    cr_py_str(&b, root);
    cr_buf_puts(&b, "' must be a dict");
    char *m = cr_buf_finish(&b);
    if (!m) {
      rc = ESCROW_E_NOMEM;
      goto fail;
    }
    rc = escrow__err(ESCROW_E_FORMAT, "criteria: %s", m);
    if (schema_errors)
      *schema_errors = json_message(m);
    escrow__free(m);
    goto fail;
  }
  rc = expand_fields(&c->arena, root, 0);
  if (rc == RAISED_BOTH_NAMES) {
    rc = escrow__err(ESCROW_E_FORMAT, "criteria: a rule is present with both its old and its "
                                      "new name (keyschema/keysrules, valueschema/valuesrules "
                                      "or validator/check_with)");
    goto fail;
  }
  if (rc < 0)
    goto fail;
  rc = 0; /* where Python raises a TypeError, the check below reports the bad rules */
  {
    cr_vopts vo = {0};
    vo.schema_mode = true;
    vo.max_errors = c->opts.max_errors;
    vo.max_work = c->opts.max_work;
    bool valid = false;
    char *errs = NULL;
    rc = cr_validate(&vo, NULL, &meta_allow_unknown, root, &valid, &errs);
    if (rc)
      goto fail;
    if (!valid) {
      rc = escrow__err(ESCROW_E_FORMAT, "criteria are not a valid Cerberus schema: %s", errs);
      if (schema_errors)
        *schema_errors = errs;
      else
        escrow__free(errs);
      goto fail;
    }
    escrow__free(errs);
  }
  {
    walk w = {0};
    w.c = c;
    walk_fields(&w, root, 0);
    if (w.path.failed && !w.rc) {
      w.rc = ESCROW_E_NOMEM;
      escrow__err_nomem();
    }
    escrow__free(w.path.p);
    if (w.rc) {
      rc = w.rc;
      if (rc == ESCROW_E_NOMEM) {
        escrow__free(w.msg);
        escrow__err_nomem();
        goto fail;
      }
      escrow__err(rc, "criteria: %s", w.msg ? w.msg : "refused");
      if (schema_errors && w.msg)
        *schema_errors = json_message(w.msg);
      escrow__free(w.msg);
      goto fail;
    }
    if (c->nregex > 1)
      qsort(c->regex, c->nregex, sizeof(cr_regex), regex_cmp);
  }
  c->schema = root;
  c->has_readonly = has_key(root, "readonly", 0);
  *out = c;
  return 0;
fail:
  escrow_criteria_free(c);
  return rc;
}

int escrow_criteria_doc_parse(escrow_criteria_doc **out, const char *json, size_t len,
                              const escrow_criteria_options *opts) {
  if (!out || !json)
    return escrow__err(ESCROW_E_INVALID, "escrow_criteria_doc_parse: NULL argument");
  *out = NULL;
  if (opts && opts->version != ESCROW_CRITERIA_OPTIONS_VERSION)
    return escrow__err(ESCROW_E_INVALID, "escrow_criteria_options: unknown version %u",
                       opts->version);
  escrow_criteria_options o;
  opts_fill(&o, opts);
  escrow_criteria_doc *d = escrow__calloc(1, sizeof(*d));
  if (!d)
    return escrow__err_nomem();
  cr_arena_init(&d->arena);
  cr_parse_limits lim = {o.max_depth, o.max_document_bytes, o.max_number_len};
  int rc = cr_parse(&d->arena, json, len, &lim, "document", &d->root);
  if (rc) {
    escrow_criteria_doc_free(d);
    return rc;
  }
  *out = d;
  return 0;
}

int escrow_criteria_doc_parse_file(escrow_criteria_doc **out, const char *path,
                                   const escrow_criteria_options *opts) {
  if (!out || !path)
    return escrow__err(ESCROW_E_INVALID, "escrow_criteria_doc_parse_file: NULL argument");
  *out = NULL;
  if (opts && opts->version != ESCROW_CRITERIA_OPTIONS_VERSION)
    return escrow__err(ESCROW_E_INVALID, "escrow_criteria_options: unknown version %u",
                       opts->version);
  escrow_criteria_options o;
  opts_fill(&o, opts);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return escrow__err_errno("cannot open the document", path);
  escrow_criteria_doc *d = escrow__calloc(1, sizeof(*d));
  if (!d) {
    close(fd);
    return escrow__err_nomem();
  }
  cr_arena_init(&d->arena);
  cr_parse_limits lim = {o.max_depth, o.max_document_bytes, o.max_number_len};
  int rc = cr_parse_fd(&d->arena, fd, &lim, "document", &d->root);
  close(fd);
  if (rc) {
    escrow_criteria_doc_free(d);
    return rc;
  }
  *out = d;
  return 0;
}

void escrow_criteria_doc_free(escrow_criteria_doc *d) {
  if (!d)
    return;
  cr_arena_free(&d->arena);
  escrow__free(d);
}

static int validate_root(const escrow_criteria *c, const cv *root, int *valid, char **errors) {
  if (root->kind != CV_DICT) {
    cr_buf b = {0};
    cr_buf_puts(&b, "'");
    cr_py_str(&b, root);
    cr_buf_puts(&b, "' is not a document, must be a dict");
    char *m = cr_buf_finish(&b);
    if (!m)
      return ESCROW_E_NOMEM;
    int rc = escrow__err(ESCROW_E_FORMAT, "%.300s", m);
    escrow__free(m);
    return rc;
  }
  pcre2_match_context *mctx = pcre2_match_context_create(NULL);
  if (!mctx)
    return escrow__err_nomem();
  pcre2_set_match_limit(mctx, c->opts.regex_match_limit);
  pcre2_set_depth_limit(mctx, c->opts.regex_depth_limit);
  pcre2_set_heap_limit(mctx, 65536);
  cr_vopts vo = {0};
  vo.crit = c;
  vo.allow_unknown = c->opts.allow_unknown != 0;
  vo.require_all = c->opts.require_all != 0;
  vo.normalize = c->has_readonly; /* the pass only reports readonly fields */
  vo.mctx = mctx;
  vo.max_errors = c->opts.max_errors;
  vo.max_work = c->opts.max_work;
  vo.redact_values = c->opts.redact_values != 0;
  bool ok = false;
  int rc = cr_validate(&vo, c->schema, NULL, root, &ok, errors);
  pcre2_match_context_free(mctx);
  if (rc == 0)
    *valid = ok ? 1 : 0;
  return rc;
}

int escrow_criteria_validate_doc(const escrow_criteria *c, const escrow_criteria_doc *d,
                                 int *valid, char **errors_json) {
  if (errors_json)
    *errors_json = NULL;
  if (!c || !d || !valid)
    return escrow__err(ESCROW_E_INVALID, "escrow_criteria_validate_doc: NULL argument");
  return validate_root(c, d->root, valid, errors_json);
}

int escrow_criteria_validate(const escrow_criteria *c, const char *json, size_t len, int *valid,
                             char **errors_json) {
  if (errors_json)
    *errors_json = NULL;
  if (!c || !json || !valid)
    return escrow__err(ESCROW_E_INVALID, "escrow_criteria_validate: NULL argument");
  cr_arena a;
  cr_arena_init(&a);
  cr_parse_limits lim = {c->opts.max_depth, c->opts.max_document_bytes, c->opts.max_number_len};
  cv *root = NULL;
  int rc = cr_parse(&a, json, len, &lim, "document", &root);
  if (rc == 0)
    rc = validate_root(c, root, valid, errors_json);
  cr_arena_free(&a);
  return rc;
}

/* base64, standard or URL-safe alphabet, whitespace ignored, padding optional. */
static int b64_decode(const char *s, size_t n, char **out, size_t *outlen) {
  char *o = escrow__malloc(n / 4 * 3 + 4);
  if (!o)
    return escrow__err_nomem();
  uint32_t acc = 0;
  int bits = 0;
  size_t k = 0;
  bool pad = false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    int v;
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
      continue;
    if (c == '=') {
      pad = true;
      continue;
    }
    if (pad)
      goto bad;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+' || c == '-')
      v = 62;
    else if (c == '/' || c == '_')
      v = 63;
    else
      goto bad;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      o[k++] = (char)((acc >> bits) & 0xFF);
    }
  }
  if (bits >= 6)
    goto bad;
  o[k] = 0;
  *out = o;
  *outlen = k;
  return 0;
bad:
  escrow__free(o);
  return escrow__err(ESCROW_E_FORMAT,
                     "json_data is neither a JSON object, a JSON string nor base64 of JSON");
}

static const char *skip_ws(const char *s, const char *end) {
  while (s < end && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t'))
    s++;
  return s;
}

int escrow_criteria_validate_report(const escrow_criteria *c, const char *json_data, size_t len,
                                    int *valid, char **answer) {
  if (answer)
    *answer = NULL;
  if (!c || !json_data || !valid || !answer)
    return escrow__err(ESCROW_E_INVALID, "escrow_criteria_validate_report: NULL argument");
  cr_arena a;
  cr_arena_init(&a);
  cr_parse_limits lim = {c->opts.max_depth, c->opts.max_document_bytes, c->opts.max_number_len};
  const char *end = json_data + len;
  const char *p = skip_ws(json_data, end);
  char *decoded = NULL;
  size_t dlen = 0;
  const char *text = json_data;
  size_t tlen = len;
  int rc = 0;
  if (p < end && *p == '"') {
    cv *s = NULL;
    rc = cr_parse(&a, json_data, len, &lim, "json_data", &s);
    if (rc == 0 && s->kind != CV_STR)
      rc = escrow__err(ESCROW_E_FORMAT, "json_data is not a JSON string");
    if (rc == 0) {
      const char *q = skip_ws(s->u.s, s->u.s + s->n);
      if (q < s->u.s + s->n && (*q == '{' || *q == '[')) {
        text = s->u.s;
        tlen = s->n;
      } else {
        rc = b64_decode(s->u.s, s->n, &decoded, &dlen);
        text = decoded;
        tlen = dlen;
      }
    }
  } else if (p < end && *p != '{' && *p != '[') {
    rc = b64_decode(json_data, len, &decoded, &dlen);
    text = decoded;
    tlen = dlen;
  }
  cv *root = NULL;
  char *errs = NULL;
  if (rc == 0)
    rc = cr_parse(&a, text, tlen, &lim, "report", &root);
  if (rc == 0)
    rc = validate_root(c, root, valid, &errs);
  if (rc == 0) {
    cr_buf b = {0};
    cr_buf_puts(&b, *valid ? "{\"status\":\"successful\",\"message\":"
                           : "{\"status\":\"failed\",\"message\":");
    cr_buf_puts(&b, errs);
    cr_buf_putc(&b, '}');
    *answer = cr_buf_finish(&b);
    if (!*answer)
      rc = ESCROW_E_NOMEM;
  }
  escrow__free(errs);
  escrow__free(decoded);
  cr_arena_free(&a);
  return rc;
}

int escrow_criteria_audit(const escrow_criteria *c, char **out_json) {
  if (out_json)
    *out_json = NULL;
  if (!c || !out_json)
    return escrow__err(ESCROW_E_INVALID, "escrow_criteria_audit: NULL argument");
  return cr_audit(c, out_json);
}

static void put_exception(cr_buf *b, const char *name, const char *message) {
  cr_buf_puts(b, "{\"valid\":null,\"exception\":");
  cr_buf_json_str(b, name, strlen(name));
  cr_buf_puts(b, ",\"message\":");
  cr_buf_json_str(b, message, strlen(message));
}

int escrow_criteria_check_pair(const char *line, size_t len, char **result_json) {
  if (!line || !result_json)
    return escrow__err(ESCROW_E_INVALID, "escrow_criteria_check_pair: NULL argument");
  *result_json = NULL;
  cr_arena a;
  cr_arena_init(&a);
  escrow_criteria_options o;
  opts_fill(&o, NULL);
  cr_parse_limits lim = {o.max_depth + 2, o.max_document_bytes + o.max_schema_bytes,
                         o.max_number_len};
  cv *root = NULL;
  cr_buf out = {0};
  cr_buf st = {0};
  escrow_criteria *c = NULL;
  char *schema_errors = NULL, *errs = NULL;
  int rc = cr_parse(&a, line, len, &lim, "line", &root);
  if (rc)
    goto done;
  const cv *schema = cr_dict_gets(root, "schema"), *doc = cr_dict_gets(root, "document");
  const cv *opt = cr_dict_gets(root, "options");
  if (root->kind != CV_DICT || !schema || !doc) {
    rc = escrow__err(ESCROW_E_FORMAT, "a line needs an object with \"schema\" and \"document\"");
    goto done;
  }
  escrow_criteria_options co = ESCROW_CRITERIA_OPTIONS_INIT;
  if (opt && opt->kind == CV_DICT) {
    const cv *au = cr_dict_gets(opt, "allow_unknown"), *ra = cr_dict_gets(opt, "require_all");
    co.allow_unknown = au && au->kind == CV_BOOL && au->u.i;
    co.require_all = ra && ra->kind == CV_BOOL && ra->u.i;
  }
  cr_buf_json_value(&st, schema);
  if (st.failed) {
    rc = escrow__err_nomem();
    goto done;
  }
  rc = escrow_criteria_compile(&c, st.p, st.len, &co, &schema_errors);
  if (rc == ESCROW_E_FORMAT && !schema_errors &&
      (strstr(escrow_error_last(), "is not a document, must be a dict") ||
       !strcmp(escrow_error_last(), "document is missing"))) {
    /* Cerberus raises DocumentError while checking such a schema */
    put_exception(&out, "DocumentError", escrow_error_last());
    cr_buf_putc(&out, '}');
    rc = 0;
    goto done;
  }
  if (rc == ESCROW_E_FORMAT) {
    cr_buf_puts(&out, "{\"valid\":null,\"exception\":\"SchemaError\",\"message\":");
    const char *m = escrow_error_last();
    cr_buf_json_str(&out, m, strlen(m));
    cr_buf_puts(&out, ",\"schema_errors\":");
    cr_buf_puts(&out, schema_errors ? schema_errors : "null");
    cr_buf_putc(&out, '}');
    rc = 0;
    goto done;
  }
  if (rc == ESCROW_E_NOMEM)
    goto done;
  if (rc) {
    put_exception(&out, "Error", escrow_error_last());
    cr_buf_putc(&out, '}');
    rc = 0;
    goto done;
  }
  int valid = 0;
  rc = validate_root(c, doc, &valid, &errs);
  if (rc == ESCROW_E_FORMAT && doc->kind != CV_DICT) {
    put_exception(&out, "DocumentError", escrow_error_last());
    cr_buf_putc(&out, '}');
    rc = 0;
  } else if (rc == ESCROW_E_NOMEM) {
    goto done;
  } else if (rc) {
    put_exception(&out, "Error", escrow_error_last());
    cr_buf_putc(&out, '}');
    rc = 0;
  } else {
    cr_buf_puts(&out, valid ? "{\"valid\":true,\"errors\":" : "{\"valid\":false,\"errors\":");
    cr_buf_puts(&out, errs);
    cr_buf_putc(&out, '}');
  }
done:
  escrow__free(st.p);
  escrow__free(schema_errors);
  escrow__free(errs);
  escrow_criteria_free(c);
  cr_arena_free(&a);
  if (rc) {
    escrow__free(out.p);
    return rc;
  }
  *result_json = cr_buf_finish(&out);
  return *result_json ? 0 : ESCROW_E_NOMEM;
}
