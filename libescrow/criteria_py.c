/* Validation criteria: Python semantics on JSON values (str, repr, ==, <). */
#include <locale.h>
#include <math.h>
#include <stdatomic.h>
#include <wctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "criteria_internal.h"

/* ---- numbers -------------------------------------------------------------------------------- */

void cr_py_float_repr(cr_buf *b, double d) {
  if (isnan(d)) {
    cr_buf_puts(b, "nan");
    return;
  }
  if (isinf(d)) {
    cr_buf_puts(b, d > 0 ? "inf" : "-inf");
    return;
  }
  /* The shortest decimal that reads back as d, and among those of that length the closest
   * (David Gay's algorithm, as Python's repr): printf rounds the exact binary value, so its
   * p-digit string may miss while a neighbour reads back. */
  char tmp[64];
  int prec;
  for (prec = 1; prec <= 17; prec++) {
    snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, d);
    if (strtod(tmp, NULL) == d)
      break;
    if (prec < 16 || prec == 17)
      continue;
    /* try the last digit one up and one down */
    char alt[2][64];
    bool ok[2] = {false, false};
    for (int dir = 0; dir < 2; dir++) {
      memcpy(alt[dir], tmp, sizeof(tmp));
      char *e = strchr(alt[dir], 'e');
      char *q = e - 1;
      int carry = dir == 0 ? 1 : -1;
      while (carry && q >= alt[dir]) {
        if (*q == '.' ) {
          q--;
          continue;
        }
        if (*q == '-')
          break;
        int v = *q - '0' + carry;
        carry = 0;
        if (v > 9) {
          v = 0;
          carry = 1;
        } else if (v < 0) {
          v = 9;
          carry = -1;
        }
        *q = (char)('0' + v);
        q--;
      }
      if (!carry && alt[dir][d < 0 ? 1 : 0] != '0')
        ok[dir] = strtod(alt[dir], NULL) == d;
    }
    if (ok[0] || ok[1]) {
      int pick = ok[0] ? 0 : 1;
      if (ok[0] && ok[1]) {
        double e0 = strtod(alt[0], NULL) - d, e1 = strtod(alt[1], NULL) - d;
        pick = (e0 < 0 ? -e0 : e0) <= (e1 < 0 ? -e1 : e1) ? 0 : 1;
      }
      memcpy(tmp, alt[pick], sizeof(tmp));
      break;
    }
  }
  /* tmp: [-]D[.DDD]e[+-]XX */
  const char *p = tmp;
  bool neg = false;
  if (*p == '-') {
    neg = true;
    p++;
  }
  char digits[32];
  size_t nd = 0;
  while (*p && *p != 'e') {
    if (*p != '.')
      digits[nd++] = *p;
    p++;
  }
  int e = atoi(p + 1);
  while (nd > 1 && digits[nd - 1] == '0')
    nd--;
  if (neg)
    cr_buf_putc(b, '-');
  int decpt = e + 1;
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      cr_buf_puts(b, "0.");
      for (int i = 0; i < -decpt; i++)
        cr_buf_putc(b, '0');
      cr_buf_put(b, digits, nd);
    } else if ((size_t)decpt < nd) {
      cr_buf_put(b, digits, (size_t)decpt);
      cr_buf_putc(b, '.');
      cr_buf_put(b, digits + decpt, nd - (size_t)decpt);
    } else {
      cr_buf_put(b, digits, nd);
      for (size_t i = nd; i < (size_t)decpt; i++)
        cr_buf_putc(b, '0');
      cr_buf_puts(b, ".0");
    }
  } else {
    cr_buf_putc(b, digits[0]);
    if (nd > 1) {
      cr_buf_putc(b, '.');
      cr_buf_put(b, digits + 1, nd - 1);
    }
    cr_buf_printf(b, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
  }
}

/* An integer as sign and decimal digits (no leading zeros; zero is "0", non-negative). */
typedef struct bigdec {
  bool neg;
  const char *d;
  size_t n;
  char buf[32];
} bigdec;

static void int_dec(const cv *v, bigdec *o) {
  if (v->kind == CV_INT && (v->flags & CVF_BIGINT)) {
    o->neg = v->u.s[0] == '-';
    o->d = v->u.s + o->neg;
    o->n = v->n - o->neg;
    return;
  }
  int64_t i = v->u.i;
  o->neg = i < 0;
  uint64_t m = o->neg ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
  int n = snprintf(o->buf, sizeof(o->buf), "%llu", (unsigned long long)m);
  o->d = o->buf;
  o->n = (size_t)n;
}

static int mag_cmp(const char *a, size_t an, const char *b, size_t bn) {
  if (an != bn)
    return an < bn ? -1 : 1;
  int c = memcmp(a, b, an);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

static int dec_cmp(const bigdec *a, const bigdec *b) {
  bool az = a->n == 1 && a->d[0] == '0', bz = b->n == 1 && b->d[0] == '0';
  bool an = a->neg && !az, bn = b->neg && !bz;
  if (an != bn)
    return an ? -1 : 1;
  int c = mag_cmp(a->d, a->n, b->d, b->n);
  return an ? -c : c;
}

/* int (bool included) vs double, exactly. */
static int int_float_cmp(const cv *i, double d) {
  if (isnan(d))
    return CR_CMP_FALSE;
  if (isinf(d))
    return d > 0 ? -1 : 1;
  if (!(i->kind == CV_INT && (i->flags & CVF_BIGINT)) && i->u.i > -(1LL << 53) &&
      i->u.i < (1LL << 53)) {
    double x = (double)i->u.i;
    return x < d ? -1 : (x > d ? 1 : 0);
  }
  double f = floor(d);
  char *tmp = NULL;
  char small[400];
  int n = snprintf(small, sizeof(small), "%.0f", f);
  if (n < 0)
    return CR_CMP_FALSE;
  tmp = small; /* |d| < 1.8e308: at most 309 digits */
  bigdec a, bd;
  int_dec(i, &a);
  bd.neg = tmp[0] == '-';
  bd.d = tmp + bd.neg;
  bd.n = strlen(bd.d);
  int c = dec_cmp(&a, &bd);
  if (c > 0)
    return 1;
  if (c < 0)
    return -1;
  return f == d ? 0 : -1;
}

static bool is_num(const cv *v) {
  return v->kind == CV_BOOL || v->kind == CV_INT || v->kind == CV_FLOAT;
}

static int num_cmp(const cv *a, const cv *b) {
  if (a->kind == CV_FLOAT && b->kind == CV_FLOAT) {
    double x = a->u.d, y = b->u.d;
    if (isnan(x) || isnan(y))
      return CR_CMP_FALSE;
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a->kind == CV_FLOAT) {
    int c = int_float_cmp(b, a->u.d);
    return (c == -1 || c == 1) ? -c : c;
  }
  if (b->kind == CV_FLOAT)
    return int_float_cmp(a, b->u.d);
  if (!(a->flags & CVF_BIGINT) && !(b->flags & CVF_BIGINT))
    return a->u.i < b->u.i ? -1 : (a->u.i > b->u.i ? 1 : 0);
  bigdec x, y;
  int_dec(a, &x);
  int_dec(b, &y);
  return dec_cmp(&x, &y);
}

bool cr_py_eq(const cv *a, const cv *b) {
  /* Python's json makes every NaN the same object (json.decoder.NaN), and containers compare
   * by identity first: for `in`, sets and list equality, NaN equals NaN */
  if (a->kind == CV_FLOAT && b->kind == CV_FLOAT && isnan(a->u.d) && isnan(b->u.d))
    return true;
  if (is_num(a) && is_num(b))
    return num_cmp(a, b) == 0;
  if (a->kind != b->kind)
    return false;
  switch (a->kind) {
  case CV_NULL: return true;
  case CV_STR: return a->n == b->n && memcmp(a->u.s, b->u.s, a->n) == 0;
  case CV_LIST:
    if (a->n != b->n)
      return false;
    for (uint32_t i = 0; i < a->n; i++)
      if (!cr_py_eq(&a->u.items[i], &b->u.items[i]))
        return false;
    return true;
  case CV_DICT:
    if (a->n != b->n)
      return false;
    for (uint32_t i = 0; i < a->n; i++) {
      const cv *o = cr_dict_get(b, a->u.members[i].key, a->u.members[i].klen);
      if (!o || !cr_py_eq(&a->u.members[i].val, o))
        return false;
    }
    return true;
  default: return false;
  }
}

int cr_py_cmp(const cv *a, const cv *b) {
  if (is_num(a) && is_num(b))
    return num_cmp(a, b);
  if (a->kind != b->kind)
    return CR_CMP_TYPEERROR;
  if (a->kind == CV_STR) {
    size_t n = a->n < b->n ? a->n : b->n;
    int c = n ? memcmp(a->u.s, b->u.s, n) : 0;
    if (c)
      return c < 0 ? -1 : 1;
    return a->n < b->n ? -1 : (a->n > b->n ? 1 : 0);
  }
  if (a->kind == CV_LIST) {
    uint32_t n = a->n < b->n ? a->n : b->n;
    for (uint32_t i = 0; i < n; i++)
      if (!cr_py_eq(&a->u.items[i], &b->u.items[i]))
        return cr_py_cmp(&a->u.items[i], &b->u.items[i]);
    return a->n < b->n ? -1 : (a->n > b->n ? 1 : 0);
  }
  return CR_CMP_TYPEERROR;
}

/* ---- str() and repr() ------------------------------------------------------------------------ */

static uint32_t utf8_next(const char *s, size_t n, size_t *i) {
  uint8_t c = (uint8_t)s[*i];
  uint32_t cp;
  size_t len;
  if (c < 0x80) {
    cp = c;
    len = 1;
  } else if ((c & 0xE0) == 0xC0) {
    cp = c & 0x1F;
    len = 2;
  } else if ((c & 0xF0) == 0xE0) {
    cp = c & 0x0F;
    len = 3;
  } else {
    cp = c & 0x07;
    len = 4;
  }
  if (*i + len > n)
    len = n - *i;
  for (size_t k = 1; k < len; k++)
    cp = (cp << 6) | ((uint8_t)s[*i + k] & 0x3F);
  *i += len;
  return cp;
}

static locale_t utf8_locale(void) {
  static _Atomic(locale_t) loc;
  locale_t l = atomic_load(&loc);
  if (!l) {
    l = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    locale_t expected = (locale_t)0;
    if (l && !atomic_compare_exchange_strong(&loc, &expected, l)) {
      freelocale(l);
      l = expected;
    }
  }
  return l;
}

/* Python's str.isprintable() for one code point (Unicode 14, as Python 3.11): not printable
 * are Cc, Cf, Cs, Co, Cn, Zl, Zp and Zs other than space. The classes glibc and Python see
 * differently (separators, format characters, private use) are listed here; unassigned code
 * points come from glibc's tables (iswprint). */
static bool py_printable(uint32_t c) {
  if (c < 0x20 || (c >= 0x7F && c <= 0xA0) || c == 0xAD)
    return false;
  if ((c >= 0x600 && c <= 0x605) || c == 0x6DD || c == 0x70F || c == 0x890 || c == 0x891 ||
      c == 0x8E2 || c == 0x110BD || c == 0x110CD || (c >= 0x13430 && c <= 0x13438) ||
      (c >= 0x1BCA0 && c <= 0x1BCA3) || (c >= 0x1D173 && c <= 0x1D17A))
    return false;
  if (c == 0x34F || c == 0x61C || c == 0x180E || (c >= 0x2000 && c <= 0x200F) ||
      (c >= 0x2028 && c <= 0x202F) || (c >= 0x205F && c <= 0x206F) || c == 0x3000 ||
      c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFB) || (c >= 0xE000 && c <= 0xF8FF) ||
      (c >= 0xD800 && c <= 0xDFFF) || c == 0x1680 || c == 0xFFFE || c == 0xFFFF ||
      (c >= 0xE0000 && c <= 0xE007F) || c >= 0xF0000)
    return false;
  locale_t l = utf8_locale();
  return l ? iswprint_l((wint_t)c, l) != 0 : true;
}

void cr_py_repr_str(cr_buf *b, const char *s, size_t n) {
  bool has_sq = memchr(s, '\'', n) != NULL, has_dq = memchr(s, '"', n) != NULL;
  char q = (has_sq && !has_dq) ? '"' : '\'';
  cr_buf_putc(b, q);
  size_t i = 0;
  while (i < n) {
    size_t start = i;
    uint32_t c = utf8_next(s, n, &i);
    if (c == (uint32_t)q || c == '\\') {
      cr_buf_putc(b, '\\');
      cr_buf_putc(b, (char)c);
    } else if (c == '\n') {
      cr_buf_puts(b, "\\n");
    } else if (c == '\r') {
      cr_buf_puts(b, "\\r");
    } else if (c == '\t') {
      cr_buf_puts(b, "\\t");
    } else if (!py_printable(c)) {
      if (c <= 0xFF)
        cr_buf_printf(b, "\\x%02x", c);
      else if (c <= 0xFFFF)
        cr_buf_printf(b, "\\u%04x", c);
      else
        cr_buf_printf(b, "\\U%08x", c);
    } else {
      cr_buf_put(b, s + start, i - start);
    }
  }
  cr_buf_putc(b, q);
}

static void py_int(cr_buf *b, const cv *v) {
  if (v->flags & CVF_BIGINT)
    cr_buf_put(b, v->u.s, v->n);
  else
    cr_buf_printf(b, "%lld", (long long)v->u.i);
}

void cr_py_repr(cr_buf *b, const cv *v) {
  switch (v->kind) {
  case CV_NULL: cr_buf_puts(b, "None"); break;
  case CV_BOOL: cr_buf_puts(b, v->u.i ? "True" : "False"); break;
  case CV_INT: py_int(b, v); break;
  case CV_FLOAT: cr_py_float_repr(b, v->u.d); break;
  case CV_STR: cr_py_repr_str(b, v->u.s, v->n); break;
  case CV_LIST:
    cr_buf_putc(b, (v->flags & CVF_TUPLE) ? '(' : '[');
    for (uint32_t i = 0; i < v->n; i++) {
      if (i)
        cr_buf_puts(b, ", ");
      cr_py_repr(b, &v->u.items[i]);
    }
    if ((v->flags & CVF_TUPLE) && v->n == 1)
      cr_buf_putc(b, ',');
    cr_buf_putc(b, (v->flags & CVF_TUPLE) ? ')' : ']');
    break;
  case CV_DICT:
    cr_buf_putc(b, '{');
    for (uint32_t i = 0; i < v->n; i++) {
      if (i)
        cr_buf_puts(b, ", ");
      cr_py_repr_str(b, v->u.members[i].key, v->u.members[i].klen);
      cr_buf_puts(b, ": ");
      cr_py_repr(b, &v->u.members[i].val);
    }
    cr_buf_putc(b, '}');
    break;
  }
}

void cr_py_str(cr_buf *b, const cv *v) {
  if (v->kind == CV_STR)
    cr_buf_put(b, v->u.s, v->n);
  else
    cr_py_repr(b, v);
}
