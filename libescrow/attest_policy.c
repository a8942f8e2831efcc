/*
 * attest: the release-policy engine, in Azure Key Vault's grammar (with Managed HSM's extra
 * operators), evaluated against normalised claims.
 *
 * A policy is checked completely before it is evaluated, so a malformed branch is an error
 * even when an earlier branch would already have decided. Comparisons use canonical text so
 * that Azure policies comparing boolean and integer claims with strings ("false", "0") keep
 * their meaning.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest_internal.h"
#include "internal.h"

#define POLICY_MAX_DEPTH 16
#define PATH_MAX_LEN 200
#define FAIL_MAX 600

static const char *const cmp_ops[] = {"equals", "notEquals",   "less",
                                      "lessOrEquals", "greater", "greaterOrEquals"};

/* ---- structure check --------------------------------------------------------------------- */

static bool is_op(const char *k) {
  if (strcmp(k, "exists") == 0)
    return true;
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(cmp_ops); i++)
    if (strcmp(k, cmp_ops[i]) == 0)
      return true;
  return false;
}

static bool claim_path_ok(const char *s) {
  size_t l = strlen(s);
  if (l == 0 || l > 255 || s[0] == '.' || s[l - 1] == '.' || strstr(s, "..") != NULL)
    return false;
  return true;
}

static int check_list(const escrow__json *arr, const char *path, const char *name, size_t depth,
                      bool allow_empty);

static int check_condition(const escrow__json *c, const char *path, size_t depth) {
  if (depth > POLICY_MAX_DEPTH)
    return escrow__err(ESCROW_E_LIMIT, "the policy nests conditions more than %d deep",
                       POLICY_MAX_DEPTH);
  if (c->type != ESCROW__J_OBJECT)
    return escrow__err(ESCROW_E_FORMAT, "policy %s: a condition is a JSON object", path);
  const escrow__json *claim = escrow__json_get(c, "claim");
  if (claim != NULL) {
    if (claim->type != ESCROW__J_STRING || !claim_path_ok(claim->s))
      return escrow__err(ESCROW_E_FORMAT, "policy %s: 'claim' must be a claim name in dot "
                                          "notation",
                         path);
    const char *op = NULL;
    for (size_t i = 0; i < c->n; i++) {
      const char *k = c->keys[i];
      if (strcmp(k, "claim") == 0)
        continue;
      if (!is_op(k))
        return escrow__err(ESCROW_E_FORMAT, "policy %s: unknown member '%.64s' (operators: "
                                            "equals, notEquals, less, lessOrEquals, greater, "
                                            "greaterOrEquals, exists)",
                           path, k);
      if (op != NULL)
        return escrow__err(ESCROW_E_FORMAT, "policy %s: one operator per claim condition "
                                            "('%s' and '%s')",
                           path, op, k);
      op = k;
      const escrow__json *v = c->items[i];
      if (strcmp(k, "exists") == 0) {
        if (v->type != ESCROW__J_BOOL)
          return escrow__err(ESCROW_E_FORMAT, "policy %s: 'exists' takes true or false", path);
      } else if (v->type != ESCROW__J_STRING && v->type != ESCROW__J_NUMBER &&
                 v->type != ESCROW__J_BOOL) {
        return escrow__err(ESCROW_E_FORMAT, "policy %s: '%s' takes a string, number or "
                                            "boolean",
                           path, k);
      }
    }
    if (op == NULL)
      return escrow__err(ESCROW_E_FORMAT, "policy %s: the claim condition has no operator",
                         path);
    return 0;
  }
  const escrow__json *all = escrow__json_get(c, "allOf");
  const escrow__json *any = escrow__json_get(c, "anyOf");
  if ((all == NULL) == (any == NULL) || c->n != 1)
    return escrow__err(ESCROW_E_FORMAT, "policy %s: a condition is {claim, operator}, "
                                        "{allOf:[..]} or {anyOf:[..]}",
                       path);
  return all != NULL ? check_list(all, path, "allOf", depth + 1, true)
                     : check_list(any, path, "anyOf", depth + 1, false);
}

static int check_list(const escrow__json *arr, const char *path, const char *name, size_t depth,
                      bool allow_empty) {
  if (arr->type != ESCROW__J_ARRAY)
    return escrow__err(ESCROW_E_FORMAT, "policy %s.%s is not an array", path, name);
  if (arr->n == 0 && !allow_empty)
    return escrow__err(ESCROW_E_FORMAT, "policy %s.%s is empty (it could never hold)", path,
                       name);
  for (size_t i = 0; i < arr->n; i++) {
    char sub[PATH_MAX_LEN];
    snprintf(sub, sizeof sub, "%s.%s[%zu]", path, name, i);
    int rc = check_condition(arr->items[i], sub, depth);
    if (rc != 0)
      return rc;
  }
  return 0;
}

static int check_policy(const escrow__json *p) {
  if (p->type != ESCROW__J_OBJECT)
    return escrow__err(ESCROW_E_FORMAT, "the policy is not a JSON object");
  for (size_t i = 0; i < p->n; i++)
    if (strcmp(p->keys[i], "version") != 0 && strcmp(p->keys[i], "anyOf") != 0)
      return escrow__err(ESCROW_E_FORMAT, "the policy has an unknown member '%.64s' (a policy "
                                          "is {version, anyOf})",
                         p->keys[i]);
  const char *version = escrow__json_get_str(p, "version");
  if (version == NULL)
    return escrow__err(ESCROW_E_FORMAT, "the policy has no 'version' string");
  if (strcmp(version, "1.0.0") != 0 && strcmp(version, "0.2") != 0)
    return escrow__err(ESCROW_E_UNSUPPORTED, "policy version '%.32s' is not supported (1.0.0 "
                                             "or 0.2)",
                       version);
  const escrow__json *auths = escrow__json_get(p, "anyOf");
  if (auths == NULL || auths->type != ESCROW__J_ARRAY || auths->n == 0)
    return escrow__err(ESCROW_E_FORMAT, "the policy needs a non-empty 'anyOf' array of "
                                        "authorities");
  for (size_t i = 0; i < auths->n; i++) {
    const escrow__json *a = auths->items[i];
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof path, "anyOf[%zu]", i);
    if (a->type != ESCROW__J_OBJECT)
      return escrow__err(ESCROW_E_FORMAT, "policy %s: an authority entry is a JSON object",
                         path);
    const char *auth = escrow__json_get_str(a, "authority");
    if (auth == NULL || *auth == '\0')
      return escrow__err(ESCROW_E_FORMAT, "policy %s has no 'authority'", path);
    const escrow__json *all = escrow__json_get(a, "allOf");
    const escrow__json *any = escrow__json_get(a, "anyOf");
    if ((all == NULL) == (any == NULL) || a->n != 2)
      return escrow__err(ESCROW_E_FORMAT, "policy %s: an authority has exactly one of 'allOf' "
                                          "and 'anyOf' besides 'authority'",
                         path);
    int rc = all != NULL ? check_list(all, path, "allOf", 1, true)
                         : check_list(any, path, "anyOf", 1, false);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* Parse a policy, unwrapping Key Vault's {"contentType","data":base64url,...} wire form. */
static int load_policy(escrow__json **out, const uint8_t *text, size_t len) {
  *out = NULL;
  escrow__json *p = NULL;
  int rc = escrow__json_parse(&p, text, len, "the policy");
  if (rc != 0)
    return rc;
  const char *data = escrow__json_get_str(p, "data");
  if (data != NULL && escrow__json_get(p, "anyOf") == NULL) {
    size_t dl = strlen(data);
    while (dl > 0 && data[dl - 1] == '=')
      dl--;
    uint8_t *raw = NULL;
    size_t rl = 0;
    rc = escrow__b64url_decode(data, dl, false, "the policy's 'data'", &raw, &rl);
    escrow__json *inner = NULL;
    if (rc == 0)
      rc = escrow__json_parse(&inner, raw, rl, "the policy (decoded from 'data')");
    escrow__free(raw);
    escrow__json_free(p);
    if (rc != 0)
      return rc;
    p = inner;
  }
  rc = check_policy(p);
  if (rc != 0) {
    escrow__json_free(p);
    return rc;
  }
  *out = p;
  return 0;
}

int escrow_attest_policy_check(const uint8_t *policy, size_t policy_len) {
  if (policy == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_policy_check: policy is NULL");
  escrow__json *p = NULL;
  int rc = load_policy(&p, policy, policy_len);
  escrow__json_free(p);
  return rc;
}

/* ---- evaluation ---------------------------------------------------------------------------- */

typedef struct failure {
  char msg[FAIL_MAX];
  bool set;
} failure;

__attribute__((format(printf, 2, 3))) static void fail(failure *f, const char *fmt, ...) {
  if (f->set)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(f->msg, sizeof f->msg, fmt, ap);
  va_end(ap);
  f->set = true;
}

/* Canonical text of a scalar, or NULL for null, arrays and objects. */
static const char *scalar_text(const escrow__json *v) {
  switch (v->type) {
  case ESCROW__J_BOOL:
    return v->b ? "true" : "false";
  case ESCROW__J_NUMBER:
  case ESCROW__J_STRING:
    return v->s;
  default:
    return NULL;
  }
}

/* A number (JSON number or a decimal string), into *out. */
static bool as_number(const escrow__json *v, long double *out) {
  if (v->type != ESCROW__J_NUMBER && v->type != ESCROW__J_STRING)
    return false;
  const char *s = v->s;
  if (*s == '\0' || strspn(s, "0123456789+-.eE") != strlen(s))
    return false;
  char *end = NULL;
  *out = strtold(s, &end);
  return end != s && *end == '\0';
}

static bool eval_claim(const escrow__json *c, const escrow__json *claims, const char *path,
                       failure *f) {
  const char *name = escrow__json_get_str(c, "claim");
  const char *op = NULL;
  const escrow__json *want = NULL;
  for (size_t i = 0; i < c->n; i++)
    if (strcmp(c->keys[i], "claim") != 0) {
      op = c->keys[i];
      want = c->items[i];
    }
  const escrow__json *got = escrow__json_path(claims, name);
  if (strcmp(op, "exists") == 0) {
    if ((got != NULL) == want->b)
      return true;
    fail(f, "%s: claim '%.100s' %s", path, name,
         want->b ? "is missing" : "is present but must not be");
    return false;
  }
  const char *wt = scalar_text(want);
  if (got == NULL) {
    fail(f, "%s: claim '%.100s' %s \"%.64s\": the token has no such claim", path, name, op, wt);
    return false;
  }
  const char *gt = scalar_text(got);
  if (gt == NULL) {
    fail(f, "%s: claim '%.100s' %s \"%.64s\": the claim is not a single value", path, name, op,
         wt);
    return false;
  }
  bool ok;
  if (strcmp(op, "equals") == 0) {
    ok = strcmp(gt, wt) == 0;
  } else if (strcmp(op, "notEquals") == 0) {
    ok = strcmp(gt, wt) != 0;
  } else {
    int cmp;
    long double a, b;
    if (as_number(got, &a) && as_number(want, &b)) {
      cmp = a < b ? -1 : a > b ? 1 : 0;
    } else if (got->type == ESCROW__J_STRING && want->type == ESCROW__J_STRING) {
      cmp = strcmp(gt, wt);
    } else {
      fail(f, "%s: claim '%.100s' %s \"%.64s\": the values cannot be ordered", path, name, op,
           wt);
      return false;
    }
    if (strcmp(op, "less") == 0)
      ok = cmp < 0;
    else if (strcmp(op, "lessOrEquals") == 0)
      ok = cmp <= 0;
    else if (strcmp(op, "greater") == 0)
      ok = cmp > 0;
    else
      ok = cmp >= 0;
  }
  if (!ok)
    fail(f, "%s: claim '%.100s' %s \"%.64s\" does not hold (the token has \"%.64s\")", path,
         name, op, wt, gt);
  return ok;
}

static bool eval_list(const escrow__json *arr, bool all, const escrow__json *claims,
                      const char *path, failure *f);

static bool eval_condition(const escrow__json *c, const escrow__json *claims, const char *path,
                           failure *f) {
  if (escrow__json_get(c, "claim") != NULL)
    return eval_claim(c, claims, path, f);
  const escrow__json *all = escrow__json_get(c, "allOf");
  char sub[PATH_MAX_LEN];
  /* a path longer than the buffer is cut short: it only names the condition in a message */
  if (snprintf(sub, sizeof sub, "%s.%s", path, all != NULL ? "allOf" : "anyOf") < 0)
    sub[0] = '\0';
  return all != NULL ? eval_list(all, true, claims, sub, f)
                     : eval_list(escrow__json_get(c, "anyOf"), false, claims, sub, f);
}

static bool eval_list(const escrow__json *arr, bool all, const escrow__json *claims,
                      const char *path, failure *f) {
  failure last;
  last.set = false;
  last.msg[0] = '\0';
  for (size_t i = 0; i < arr->n; i++) {
    char sub[PATH_MAX_LEN];
    snprintf(sub, sizeof sub, "%s[%zu]", path, i);
    failure one;
    one.set = false;
    bool ok = eval_condition(arr->items[i], claims, sub, &one);
    if (all && !ok) {
      fail(f, "%s", one.msg);
      return false;
    }
    if (!all && ok)
      return true;
    if (!all)
      last = one;
  }
  if (all)
    return true;
  fail(f, "%s: none of its %zu alternatives holds; the last: %.400s", path, arr->n, last.msg);
  return false;
}

int escrow_attest_policy_eval(const uint8_t *policy, size_t policy_len, const uint8_t *claims,
                              size_t claims_len) {
  if (policy == NULL || claims == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_attest_policy_eval: %s is NULL",
                       policy == NULL ? "policy" : "claims");
  escrow__json *p = NULL, *c = NULL;
  int rc = load_policy(&p, policy, policy_len);
  if (rc == 0)
    rc = escrow__json_parse(&c, claims, claims_len, "the claims");
  if (rc != 0)
    goto done;
  if (c->type != ESCROW__J_OBJECT) {
    rc = escrow__err(ESCROW_E_FORMAT, "the claims are not a JSON object");
    goto done;
  }
  const char *authority = escrow__json_get_str(c, ESCROW_ATTEST_CLAIM_AUTHORITY);
  if (authority == NULL)
    authority = escrow__json_get_str(c, "iss");
  if (authority == NULL) {
    rc = escrow__err(ESCROW_E_CHECK, "the claims name no authority (%s or iss)",
                     ESCROW_ATTEST_CLAIM_AUTHORITY);
    goto done;
  }
  const escrow__json *auths = escrow__json_get(p, "anyOf");
  failure f;
  f.set = false;
  bool matched = false;
  for (size_t i = 0; i < auths->n; i++) {
    const escrow__json *a = auths->items[i];
    if (!escrow__authority_equal(escrow__json_get_str(a, "authority"), authority))
      continue;
    matched = true;
    const escrow__json *all = escrow__json_get(a, "allOf");
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof path, "anyOf[%zu].%s", i, all != NULL ? "allOf" : "anyOf");
    bool ok = all != NULL ? eval_list(all, true, c, path, &f)
                          : eval_list(escrow__json_get(a, "anyOf"), false, c, path, &f);
    if (ok)
      goto done;
  }
  if (!matched)
    rc = escrow__err(ESCROW_E_CHECK, "the policy names no authority matching the token's "
                                     "authority '%.200s'",
                     authority);
  else
    rc = escrow__err(ESCROW_E_CHECK, "the release policy does not allow release: %s", f.msg);
done:
  escrow__json_free(p);
  escrow__json_free(c);
  return rc;
}
