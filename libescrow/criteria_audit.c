/*
 * Validation criteria: the audit of free-form channels (`escrow criteria audit`).
 *
 * For every place where a conforming report holds a value, an upper bound on the information
 * the value can carry: log2 of the number of distinct JSON values the rules let through. Bounds
 * add up along a report (fields are independent choices). A bound is "unbounded" (null) when
 * the rules admit infinitely many values in practice: strings without maxlength or allowed,
 * lists without maxlength, integers without both min and max, dicts that accept unknown keys.
 * The method is written up in docs/CRITERIA.md.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "criteria_internal.h"

#define UNB INFINITY
#define STRING_CP_BITS 20.09 /* log2(0x110000 - 0x800): one Unicode scalar value */

typedef struct audit {
  cr_buf out;
  cr_buf path;
  int nchan;
  double total;
  int depth;
} audit;

static const cv *rg(const cv *rules, const char *k) {
  return rules && rules->kind == CV_DICT ? cr_dict_gets(rules, k) : NULL;
}

/* log2 and exp2 without libm (the library does not link it): a and b here are bit counts, a
 * few digits of precision are plenty. */
static double lg2(double x) {
  if (!(x > 0))
    return -UNB;
  if (isinf(x))
    return UNB;
  int e = 0;
  while (x >= 2) {
    x /= 2;
    e++;
  }
  while (x < 1) {
    x *= 2;
    e--;
  }
  double z = (x - 1) / (x + 1), z2 = z * z, t = z, sum = 0;
  for (int k = 1; k < 60; k += 2) {
    sum += t / k;
    t *= z2;
  }
  return e + 2 * sum / 0.6931471805599453;
}

static double ex2(double y) {
  if (y < -1000)
    return 0;
  double r = 1;
  while (y <= -1) {
    r /= 2;
    y += 1;
  }
  while (y >= 1) {
    r *= 2;
    y -= 1;
  }
  double f = y * 0.6931471805599453, term = 1, sum = 1;
  for (int k = 1; k < 30; k++) {
    term *= f / k;
    sum += term;
  }
  return r * sum;
}
#define log2 lg2
#define exp2 ex2
static double dmax(double a, double b) { return a > b ? a : b; }
#define fmax dmax

/* log2(2^a + 2^b) without overflow. */
static double lse(double a, double b) {
  if (isinf(a) || isinf(b))
    return UNB;
  double m = a > b ? a : b, n = a > b ? b : a;
  return m + log2(1.0 + exp2(n - m));
}

static bool num_of(const cv *c, double *d) {
  if (!c)
    return false;
  if (c->kind == CV_INT) {
    *d = (c->flags & CVF_BIGINT) ? strtod(c->u.s, NULL) : (double)c->u.i;
    return true;
  }
  if (c->kind == CV_FLOAT && !isnan(c->u.d)) {
    *d = c->u.d;
    return true;
  }
  if (c->kind == CV_BOOL) {
    *d = (double)c->u.i;
    return true;
  }
  return false;
}

/* Number of doubles in [lo, hi] (both finite), as log2. */
static double doubles_between(double lo, double hi) {
  if (lo > hi)
    return -UNB;
  /* order-preserving map from doubles to integers */
  int64_t ra, rb;
  memcpy(&ra, &lo, sizeof ra);
  memcpy(&rb, &hi, sizeof rb);
  int64_t ia = ra < 0 ? INT64_MIN - ra : ra;
  int64_t ib = rb < 0 ? INT64_MIN - rb : rb;
  double n = (double)ib - (double)ia + 1.0;
  return log2(n < 1 ? 1 : n);
}

static void channel(audit *a, const char *kind, double bits, const char *reason) {
  if (a->nchan++)
    cr_buf_putc(&a->out, ',');
  cr_buf_puts(&a->out, "{\"path\":");
  cr_buf_json_str(&a->out, a->path.p ? a->path.p : "", a->path.len);
  cr_buf_puts(&a->out, ",\"kind\":");
  cr_buf_json_str(&a->out, kind, strlen(kind));
  cr_buf_puts(&a->out, ",\"bits\":");
  if (isinf(bits))
    cr_buf_puts(&a->out, "null");
  else
    cr_buf_printf(&a->out, "%.1f", bits < 0 ? 0.0 : bits);
  cr_buf_puts(&a->out, ",\"free_form\":");
  cr_buf_puts(&a->out, isinf(bits) ? "true" : "false");
  cr_buf_puts(&a->out, ",\"reason\":");
  cr_buf_json_str(&a->out, reason, strlen(reason));
  cr_buf_putc(&a->out, '}');
}

static double rules_bits(audit *a, const cv *rules);
static bool all_rules_dict(const cv *d);

static double fields_bits(audit *a, const cv *fields, bool require_all) {
  double sum = 0;
  size_t mark = a->path.len;
  for (uint32_t i = 0; i < fields->n; i++) {
    const cv_member *m = &fields->u.members[i];
    a->path.len = mark;
    if (a->path.p)
      a->path.p[mark] = 0;
    if (mark)
      cr_buf_putc(&a->path, '.');
    cr_buf_put(&a->path, m->key, m->klen);
    double b = rules_bits(a, &m->val);
    const cv *req = rg(&m->val, "required");
    bool required = req ? (req->kind == CV_BOOL && req->u.i) : require_all;
    if (!required)
      b = lse(b, 0); /* absent is one more choice */
    sum += b;
  }
  a->path.len = mark;
  if (a->path.p)
    a->path.p[mark] = 0;
  return sum;
}

static bool type_is(const cv *t, const char *name) {
  if (!t)
    return false;
  if (t->kind == CV_STR)
    return t->n == strlen(name) && !memcmp(t->u.s, name, t->n);
  if (t->kind == CV_LIST)
    for (uint32_t i = 0; i < t->n; i++)
      if (type_is(&t->u.items[i], name))
        return true;
  return false;
}

static double length_bits(double per_item, const cv *maxlen) {
  double ml;
  if (!num_of(maxlen, &ml))
    return UNB;
  if (ml < 0)
    ml = 0;
  if (isinf(per_item))
    return ml == 0 ? 0 : UNB;
  return ml * per_item + log2(ml + 1);
}

/* Bits of one value of a given single type under rules (a leaf records its channel). */
static double type_bits(audit *a, const cv *rules, const char *t) {
  const cv *allowed = rg(rules, "allowed");
  const cv *maxlen = rg(rules, "maxlength");
  double lo, hi;
  bool has_lo = num_of(rg(rules, "min"), &lo), has_hi = num_of(rg(rules, "max"), &hi);
  if (!strcmp(t, "boolean")) {
    channel(a, "boolean", 1, "true or false");
    return 1;
  }
  if (!strcmp(t, "integer")) {
    if (has_lo && has_hi) {
      double b = log2(fmax(floor(hi) - ceil(lo) + 1, 1));
      channel(a, "integer", b, "integer between min and max");
      return b;
    }
    channel(a, "integer", UNB, "integer without both min and max: Python integers have no size "
                               "limit, so digits can encode anything");
    return UNB;
  }
  if (!strcmp(t, "float") || !strcmp(t, "number")) {
    if (has_lo && has_hi && isfinite(lo) && isfinite(hi)) {
      double b = lse(doubles_between(lo, hi), log2(fmax(floor(hi) - ceil(lo) + 1, 1)));
      channel(a, t, b, "every double (and integer) between min and max: the low-order bits of a "
                       "bounded float still carry data");
      return b;
    }
    channel(a, t, UNB, "number without both min and max: it also accepts integers of any size");
    return UNB;
  }
  if (!strcmp(t, "string")) {
    const cv *re = rg(rules, "regex");
    double b = length_bits(STRING_CP_BITS, maxlen);
    if (isinf(b)) {
      channel(a, "string", UNB,
              re ? "string matching a regex but without maxlength: the regex is not analysed, "
                   "add maxlength or allowed"
                 : "string without maxlength or allowed: free text");
      return UNB;
    }
    channel(a, "string", b, re ? "string with maxlength (regex not used to tighten the bound)"
                               : "string with maxlength: any Unicode text up to that length");
    return b;
  }
  if (!strcmp(t, "list")) {
    const cv *sc = rg(rules, "schema");
    const cv *items = rg(rules, "items");
    if (items && items->kind == CV_LIST) {
      double sum = 0;
      size_t mark = a->path.len;
      for (uint32_t i = 0; i < items->n; i++) {
        a->path.len = mark;
        cr_buf_printf(&a->path, "[%u]", i);
        sum += rules_bits(a, &items->u.items[i]);
      }
      a->path.len = mark;
      if (a->path.p)
        a->path.p[mark] = 0;
      return sum;
    }
    double per;
    size_t mark = a->path.len;
    cr_buf_puts(&a->path, "[]");
    if (allowed && allowed->kind == CV_LIST) {
      per = log2(fmax(allowed->n, 1));
      channel(a, "list item", per, "each item is one of the allowed values");
    } else if (sc && sc->kind == CV_DICT && all_rules_dict(sc)) {
      per = rules_bits(a, sc);
    } else {
      per = UNB;
      channel(a, "list item", UNB, "list items without rules: any JSON value");
    }
    a->path.len = mark;
    if (a->path.p)
      a->path.p[mark] = 0;
    double b = length_bits(per, maxlen);
    if (isinf(b) && !isinf(per))
      channel(a, "list", UNB, "list without maxlength: any number of items");
    return b;
  }
  if (!strcmp(t, "dict")) {
    const cv *sc = rg(rules, "schema");
    const cv *au = rg(rules, "allow_unknown");
    const cv *kr = rg(rules, "keysrules");
    double sum = 0;
    if (sc && sc->kind == CV_DICT) {
      const cv *ra = rg(rules, "require_all");
      sum = fields_bits(a, sc, ra && ra->kind == CV_BOOL && ra->u.i);
    }
    if ((au && (au->kind == CV_DICT || (au->kind == CV_BOOL && au->u.i))) || kr ||
        rg(rules, "valuesrules") || !sc) {
      double keys = UNB;
      if (kr) {
        const cv *ka = rg(kr, "allowed");
        if (ka && ka->kind == CV_LIST) {
          const cv *vr = rg(rules, "valuesrules");
          double per = vr ? rules_bits(a, vr) : UNB;
          keys = isinf(per) ? UNB : (double)ka->n * lse(per, 0);
        }
      }
      if (isinf(keys)) {
        channel(a, "dict keys", UNB, sc ? "dict accepting unknown keys (allow_unknown, "
                                          "keysrules or valuesrules): free-form keys and values"
                                        : "dict without a schema: any keys and values");
        return UNB;
      }
      sum += keys;
    }
    return sum;
  }
  channel(a, t, 0, "no JSON value has this type");
  return -UNB;
}

static bool all_rules_dict(const cv *d) {
  static const char *const names[] = {
      "allof", "allow_unknown", "allowed", "anyof", "check_with", "contains", "dependencies",
      "empty", "excludes", "forbidden", "items", "keysrules", "max", "maxlength", "meta", "min",
      "minlength", "noneof", "nullable", "oneof", "readonly", "regex", "require_all",
      "required", "schema", "type", "valuesrules"};
  for (uint32_t i = 0; i < d->n; i++) {
    bool ok = false;
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]) && !ok; k++)
      ok = strlen(names[k]) == d->u.members[i].klen &&
           !memcmp(names[k], d->u.members[i].key, d->u.members[i].klen);
    if (!ok)
      return false;
  }
  return true;
}

static double rules_bits(audit *a, const cv *rules) {
  if (++a->depth > 100) {
    a->depth--;
    channel(a, "nesting", UNB, "criteria nest too deeply to analyse");
    return UNB;
  }
  double b;
  const cv *t = rg(rules, "type");
  const cv *allowed = rg(rules, "allowed");
  if (allowed && allowed->kind == CV_LIST && !type_is(t, "list") && !type_is(t, "dict")) {
    b = log2(fmax(allowed->n, 1));
    channel(a, "enumeration", b, "one of the allowed values");
  } else if (!t || (t->kind == CV_LIST && t->n == 0)) {
    channel(a, "any", UNB, "no type rule: any JSON value, including free text");
    b = UNB;
  } else if (t->kind == CV_STR) {
    char name[32];
    size_t n = t->n < sizeof(name) - 1 ? t->n : sizeof(name) - 1;
    memcpy(name, t->u.s, n);
    name[n] = 0;
    b = type_bits(a, rules, name);
  } else {
    b = -UNB;
    for (uint32_t i = 0; i < t->n; i++) {
      const cv *ti = &t->u.items[i];
      char name[32];
      size_t n = ti->kind == CV_STR ? (ti->n < sizeof(name) - 1 ? ti->n : sizeof(name) - 1) : 0;
      memcpy(name, ti->kind == CV_STR ? ti->u.s : "", n);
      name[n] = 0;
      double bi = type_bits(a, rules, name);
      b = isinf(b) && b < 0 ? bi : lse(b, bi);
    }
  }
  const cv *nl = rg(rules, "nullable");
  if (nl && nl->kind == CV_BOOL && nl->u.i)
    b = isinf(b) && b < 0 ? 0 : lse(b, 0);
  a->depth--;
  return b;
}

int cr_audit(const escrow_criteria *c, char **out_json) {
  audit a;
  memset(&a, 0, sizeof(a));
  cr_buf_puts(&a.out, "{\"channels\":[");
  double total = fields_bits(&a, c->schema, c->opts.require_all != 0);
  if (c->opts.allow_unknown)
    total = UNB; /* unknown top-level fields: anything */
  cr_buf_puts(&a.out, "],\"bounded\":");
  cr_buf_puts(&a.out, isinf(total) ? "false" : "true");
  cr_buf_puts(&a.out, ",\"total_bits\":");
  if (isinf(total))
    cr_buf_puts(&a.out, "null");
  else
    cr_buf_printf(&a.out, "%.1f", total < 0 ? 0.0 : total);
  cr_buf_puts(&a.out, ",\"unknown_fields\":");
  cr_buf_puts(&a.out, c->opts.allow_unknown ? "\"allowed: unbounded\"" : "\"refused\"");
  cr_buf_putc(&a.out, '}');
  if (a.path.failed)
    a.out.failed = true;
  escrow__free(a.path.p);
  *out_json = cr_buf_finish(&a.out);
  return *out_json ? 0 : ESCROW_E_NOMEM;
}
