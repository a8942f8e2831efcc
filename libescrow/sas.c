/*
 * libescrow sas: parse, judge, sign and verify Azure Blob SAS URLs (include/escrow/sas.h,
 * DESIGN §6, shared reference azure-sas.md §2-§6).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "sas_internal.h"

#define SAS_URL_MAX (64u * 1024u)
#define SAS_PARAMS_MAX 256

/* ---- growable strings ------------------------------------------------------------------------ */

void escrow__sb_add(escrow__sb *b, const char *s, size_t n) {
  if (b->oom)
    return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n + 1)
      cap *= 2;
    char *p = escrow__realloc(b->s, cap);
    if (p == NULL) {
      b->oom = true;
      return;
    }
    b->s = p;
    b->cap = cap;
  }
  if (n)
    memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = '\0';
}

void escrow__sb_adds(escrow__sb *b, const char *s) { escrow__sb_add(b, s, strlen(s)); }

void escrow__sb_addc(escrow__sb *b, char c) { escrow__sb_add(b, &c, 1); }

static bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '_' || c == '.' || c == '~';
}

void escrow__sb_add_pct(escrow__sb *b, const char *s, bool keep_slash) {
  static const char hex[] = "0123456789ABCDEF";
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (is_unreserved(*p) || (keep_slash && *p == '/')) {
      escrow__sb_addc(b, (char)*p);
    } else {
      char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
      escrow__sb_add(b, e, 3);
    }
  }
}

void escrow__sb_free(escrow__sb *b) {
  escrow__free(b->s);
  b->s = NULL;
  b->len = b->cap = 0;
  b->oom = false;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int escrow__pct_decode(char **out, const char *s, size_t n, const char *what) {
  *out = NULL;
  char *d = escrow__malloc(n + 1);
  if (d == NULL)
    return escrow__err_nomem();
  size_t j = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%') {
      if (i + 2 >= n) {
        escrow__free(d);
        return escrow__err(ESCROW_E_FORMAT, "%s has a '%%' not followed by two hex digits", what);
      }
      int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
      if (h < 0 || l < 0) {
        escrow__free(d);
        return escrow__err(ESCROW_E_FORMAT, "%s has a '%%' not followed by two hex digits", what);
      }
      d[j++] = (char)(h * 16 + l);
      i += 2;
    } else {
      d[j++] = s[i];
    }
  }
  d[j] = '\0';
  if (memchr(d, '\0', j) != NULL) {
    escrow__free(d);
    return escrow__err(ESCROW_E_FORMAT, "%s holds a NUL character (%%00)", what);
  }
  *out = d;
  return 0;
}

/* ---- time ------------------------------------------------------------------------------------ */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = (unsigned)(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = (unsigned)(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t yy = (int64_t)yoe + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int)(yy + (*m <= 2));
}

static bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static unsigned days_in_month(int y, unsigned m) {
  static const unsigned dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : dm[m - 1];
}

/* Read exactly n digits. */
static bool digits(const char **p, int n, int *v) {
  int x = 0;
  for (int i = 0; i < n; i++) {
    char c = (*p)[i];
    if (c < '0' || c > '9')
      return false;
    x = x * 10 + (c - '0');
  }
  *p += n;
  *v = x;
  return true;
}

static int parse_date_only(const char **p, int *y, int *mo, int *d) {
  if (!digits(p, 4, y) || **p != '-')
    return -1;
  (*p)++;
  if (!digits(p, 2, mo) || **p != '-')
    return -1;
  (*p)++;
  if (!digits(p, 2, d))
    return -1;
  if (*y < 1000 || *mo < 1 || *mo > 12 || *d < 1 || (unsigned)*d > days_in_month(*y, (unsigned)*mo))
    return -1;
  return 0;
}

int escrow_time_parse(escrow_time *out, const char *text, int allow_offset) {
  if (out == NULL || text == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_time_parse: NULL argument");
  const char *p = text;
  int y, mo, d, h = 0, mi = 0, s = 0;
  uint32_t ns = 0;
  int64_t offset = 0;
  if (parse_date_only(&p, &y, &mo, &d) != 0)
    goto bad;
  if (*p == '\0')
    goto done;
  if (*p != 'T')
    goto bad;
  p++;
  if (!digits(&p, 2, &h) || *p != ':')
    goto bad;
  p++;
  if (!digits(&p, 2, &mi))
    goto bad;
  if (*p == ':') {
    p++;
    if (!digits(&p, 2, &s))
      goto bad;
    if (*p == '.') {
      p++;
      int nd = 0;
      uint32_t scale = 100000000;
      while (*p >= '0' && *p <= '9') {
        nd++;
        if (nd > (allow_offset ? 9 : 7))
          goto bad;
        ns += (uint32_t)(*p - '0') * scale;
        scale /= 10;
        p++;
      }
      if (nd == 0)
        goto bad;
    }
  }
  if (h > 23 || mi > 59 || s > 59)
    goto bad;
  if (*p == 'Z') {
    p++;
  } else if (allow_offset && (*p == '+' || *p == '-')) {
    int sign = *p == '-' ? -1 : 1, oh, om;
    p++;
    if (!digits(&p, 2, &oh) || *p != ':')
      goto bad;
    p++;
    if (!digits(&p, 2, &om) || oh > 23 || om > 59)
      goto bad;
    offset = sign * (int64_t)(oh * 3600 + om * 60);
  } else {
    goto bad;
  }
  if (*p != '\0')
    goto bad;
done:
  out->sec = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + s -
             offset;
  out->nsec = ns;
  return 0;
bad:
  return escrow__err(ESCROW_E_FORMAT,
                     "'%.64s' is not a UTC date (YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss[.fffffff]]Z%s)",
                     text, allow_offset ? ", or an RFC 3339 time with an offset" : "");
}

escrow_time escrow_time_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  escrow_time t = {(int64_t)ts.tv_sec, (uint32_t)ts.tv_nsec};
  return t;
}

void escrow_time_format(char out[21], escrow_time t) {
  int64_t days = t.sec >= 0 ? t.sec / 86400 : -((-t.sec + 86399) / 86400);
  int64_t rem = t.sec - days * 86400;
  int y;
  unsigned m, d;
  civil_from_days(days, &y, &m, &d);
  unsigned yy = (unsigned)(y < 0 ? 0 : y % 10000), hh = (unsigned)(rem / 3600) % 24,
           mi = (unsigned)(rem / 60 % 60), ss = (unsigned)(rem % 60);
  snprintf(out, 21, "%04u-%02u-%02uT%02u:%02u:%02uZ", yy, m % 13, d % 32, hh, mi, ss);
}

static int time_cmp(escrow_time a, escrow_time b) {
  if (a.sec != b.sec)
    return a.sec < b.sec ? -1 : 1;
  if (a.nsec != b.nsec)
    return a.nsec < b.nsec ? -1 : 1;
  return 0;
}

/* 1 if s is a well-formed YYYY-MM-DD date. */
static bool is_version(const char *s) {
  const char *p = s;
  int y, m, d;
  return parse_date_only(&p, &y, &m, &d) == 0 && *p == '\0';
}

/* ---- parsed URLs ----------------------------------------------------------------------------- */

typedef struct sas_param {
  char *name;
  char *raw;   /* as in the URL */
  char *value; /* decoded */
} sas_param;

struct escrow_sas {
  char *scheme;
  char *host;
  int port;
  bool path_style;
  char *account;
  char *container;
  char *blob;
  char *endpoint;
  char *token;
  sas_param *params;
  size_t nparams;
  escrow_sas_kind kind;
  bool sig_raw_plus; /* a raw '+' or a space (raw or %20) in sig */
  bool has_st, has_se;
  escrow_time st, se;
  /* where the query starts in the original URL (for staged checks) */
};

void escrow_sas_free(escrow_sas *sas) {
  if (sas == NULL)
    return;
  for (size_t i = 0; i < sas->nparams; i++) {
    escrow__free(sas->params[i].name);
    escrow__free(sas->params[i].raw);
    escrow__free(sas->params[i].value);
  }
  escrow__free(sas->params);
  escrow__free(sas->scheme);
  escrow__free(sas->host);
  escrow__free(sas->account);
  escrow__free(sas->container);
  escrow__free(sas->blob);
  escrow__free(sas->endpoint);
  escrow__free(sas->token);
  escrow__free(sas);
}

bool escrow__host_is_loopback(const char *host) {
  if (strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0)
    return true;
  if (strncmp(host, "127.", 4) != 0)
    return false;
  int dots = 0;
  for (const char *p = host; *p; p++) {
    if (*p == '.')
      dots++;
    else if (*p < '0' || *p > '9')
      return false;
  }
  return dots == 3;
}

static bool is_ipv4(const char *h) {
  int parts = 0;
  const char *p = h;
  while (*p) {
    int v = 0, nd = 0;
    while (*p >= '0' && *p <= '9') {
      v = v * 10 + (*p - '0');
      if (++nd > 3)
        return false;
      p++;
    }
    if (nd == 0 || v > 255)
      return false;
    parts++;
    if (*p == '.') {
      p++;
      if (*p == '\0')
        return false;
    } else if (*p) {
      return false;
    }
  }
  return parts == 4;
}

static bool valid_account_name(const char *a) {
  size_t n = strlen(a);
  if (n < 3 || n > 24)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!((a[i] >= 'a' && a[i] <= 'z') || (a[i] >= '0' && a[i] <= '9')))
      return false;
  return true;
}

static bool valid_container_name(const char *c) {
  size_t n = strlen(c);
  if (n < 3 || n > 63)
    return false;
  for (size_t i = 0; i < n; i++) {
    char ch = c[i];
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-';
    if (!ok)
      return false;
    if (ch == '-' && (i == 0 || i == n - 1 || c[i - 1] == '-'))
      return false;
  }
  return true;
}

/* Stage 1: scheme, authority, path. The query (after '?') is left in *query. */
static int parse_url_part(escrow_sas *s, const char *url, unsigned flags, const char **query) {
  size_t n = strlen(url);
  if (n > SAS_URL_MAX)
    return escrow__err(ESCROW_E_LIMIT, "the URL is longer than %u bytes", SAS_URL_MAX);
  const char *q = strchr(url, '?');
  size_t before_query = q ? (size_t)(q - url) : n;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)url[i];
    if (c < 0x20 || c == 0x7f)
      return escrow__err(ESCROW_E_FORMAT, "the URL holds a control character at byte %zu", i);
    if (c >= 0x80)
      return escrow__err(ESCROW_E_FORMAT,
                         "the URL holds a non-ASCII byte at byte %zu (it must be %%-encoded)", i);
    if (c == ' ' && i < before_query)
      return escrow__err(ESCROW_E_FORMAT, "the URL holds a space at byte %zu", i);
    if (c == '#')
      return escrow__err(ESCROW_E_FORMAT, "the URL has a fragment ('#')");
  }
  const char *p;
  if (strncasecmp(url, "https://", 8) == 0) {
    s->scheme = escrow__strdup("https");
    p = url + 8;
  } else if (strncasecmp(url, "http://", 7) == 0) {
    s->scheme = escrow__strdup("http");
    p = url + 7;
  } else {
    return escrow__err(ESCROW_E_FORMAT, "not an http(s) URL");
  }
  if (s->scheme == NULL)
    return escrow__err_nomem();
  const char *auth_end = p + strcspn(p, "/?");
  if (auth_end == p)
    return escrow__err(ESCROW_E_FORMAT, "the URL has no host");
  if (memchr(p, '@', (size_t)(auth_end - p)) != NULL)
    return escrow__err(ESCROW_E_FORMAT, "the URL has a user name ('@'), which SAS URLs never have");
  const char *host_end;
  if (*p == '[') {
    host_end = memchr(p, ']', (size_t)(auth_end - p));
    if (host_end == NULL)
      return escrow__err(ESCROW_E_FORMAT, "the URL's IPv6 host has no ']'");
    for (const char *c = p + 1; c < host_end; c++)
      if (!isxdigit((unsigned char)*c) && *c != ':' && *c != '.')
        return escrow__err(ESCROW_E_FORMAT, "the URL's IPv6 host is malformed");
    host_end++;
  } else {
    host_end = p + strcspn(p, ":/?");
    if (host_end > auth_end)
      host_end = auth_end;
  }
  if (host_end == p || (*p == '[' && host_end - p < 3))
    return escrow__err(ESCROW_E_FORMAT, "the URL has no host");
  s->host = escrow__strndup(p, (size_t)(host_end - p));
  if (s->host == NULL)
    return escrow__err_nomem();
  for (char *c = s->host; *c; c++) {
    *c = (char)tolower((unsigned char)*c);
    if (s->host[0] != '[' && !((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' ||
                               *c == '.'))
      return escrow__err(ESCROW_E_FORMAT, "the URL's host has a character that is not allowed");
  }
  s->port = -1;
  if (host_end < auth_end) {
    if (*host_end != ':' || host_end + 1 == auth_end)
      return escrow__err(ESCROW_E_FORMAT, "the URL's port is malformed");
    long port = 0;
    for (const char *c = host_end + 1; c < auth_end; c++) {
      if (*c < '0' || *c > '9' || port > 65535)
        return escrow__err(ESCROW_E_FORMAT, "the URL's port is malformed");
      port = port * 10 + (*c - '0');
    }
    if (port < 1 || port > 65535)
      return escrow__err(ESCROW_E_FORMAT, "the URL's port is out of range");
    s->port = (int)port;
  }
  const char *path = auth_end;
  const char *path_end = q ? q : url + n;
  s->path_style = (flags & ESCROW_SAS_PATH_STYLE) || is_ipv4(s->host) || s->host[0] == '[' ||
                  strcmp(s->host, "localhost") == 0;
  /* segments */
  const char *seg = path < path_end && *path == '/' ? path + 1 : path;
  if (s->path_style) {
    const char *e = memchr(seg, '/', (size_t)(path_end - seg));
    if (e == NULL)
      e = path_end;
    if (e == seg)
      return escrow__err(ESCROW_E_FORMAT, "the path-style URL has no account in its path");
    int rc = escrow__pct_decode(&s->account, seg, (size_t)(e - seg), "the account name");
    if (rc)
      return rc;
    seg = e < path_end ? e + 1 : path_end;
  } else {
    const char *dot = strchr(s->host, '.');
    s->account = escrow__strndup(s->host, dot ? (size_t)(dot - s->host) : strlen(s->host));
    if (s->account == NULL)
      return escrow__err_nomem();
  }
  if (seg < path_end) {
    const char *e = memchr(seg, '/', (size_t)(path_end - seg));
    if (e == NULL)
      e = path_end;
    if (e > seg) {
      int rc = escrow__pct_decode(&s->container, seg, (size_t)(e - seg), "the container name");
      if (rc)
        return rc;
    }
    if (e < path_end && e + 1 < path_end) {
      if (s->container == NULL)
        return escrow__err(ESCROW_E_FORMAT, "the URL's path has an empty container segment");
      int rc = escrow__pct_decode(&s->blob, e + 1, (size_t)(path_end - e - 1), "the blob name");
      if (rc)
        return rc;
      if (!escrow__utf8_valid((const uint8_t *)s->blob, strlen(s->blob)))
        return escrow__err(ESCROW_E_FORMAT, "the blob name is not valid UTF-8");
    }
  }
  /* endpoint */
  escrow__sb b = {0};
  escrow__sb_adds(&b, s->scheme);
  escrow__sb_adds(&b, "://");
  escrow__sb_adds(&b, s->host);
  if (s->port >= 0) {
    char pb[16];
    snprintf(pb, sizeof pb, ":%d", s->port);
    escrow__sb_adds(&b, pb);
  }
  if (s->path_style) {
    escrow__sb_addc(&b, '/');
    escrow__sb_add_pct(&b, s->account, false);
  }
  if (b.oom) {
    escrow__sb_free(&b);
    return escrow__err_nomem();
  }
  s->endpoint = b.s;
  *query = q ? q + 1 : NULL;
  return 0;
}

static const char *const sas_param_names[] = {
    "sv",    "ss",   "srt",  "sr",   "sp",   "st",    "se",    "sip",    "spr",  "si",
    "ses",   "sdd",  "skoid", "sktid", "skt", "ske",  "sks",   "skv",    "saoid", "suoid",
    "scid",  "skdutid", "sduoid", "srh", "srq", "rscc", "rscd", "rsce",  "rscl", "rsct", "sig"};

static bool is_sas_param(const char *name) {
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(sas_param_names); i++)
    if (strcmp(name, sas_param_names[i]) == 0)
      return true;
  return false;
}

/* Stage 2: the query. */
static int parse_query_part(escrow_sas *s, const char *query) {
  if (query == NULL || *query == '\0')
    return escrow__err(ESCROW_E_FORMAT, "the URL has no SAS token (no query after '?')");
  size_t cap = 8;
  s->params = escrow__calloc(cap, sizeof *s->params);
  if (s->params == NULL)
    return escrow__err_nomem();
  escrow__sb tok = {0};
  const char *p = query;
  int rc = 0;
  while (1) {
    const char *e = p + strcspn(p, "&");
    if (e == p) {
      rc = escrow__err(ESCROW_E_FORMAT, "the query has an empty parameter ('&&', or '&' at an end)");
      break;
    }
    const char *eq = memchr(p, '=', (size_t)(e - p));
    if (eq == NULL) {
      rc = escrow__err(ESCROW_E_FORMAT, "query parameter '%.*s' has no '=' and value",
                       (int)((e - p) > 32 ? 32 : (e - p)), p);
      break;
    }
    if (eq == p) {
      rc = escrow__err(ESCROW_E_FORMAT, "the query has a parameter with an empty name");
      break;
    }
    for (const char *c = p; c < eq; c++)
      if (!(isalnum((unsigned char)*c) || *c == '-' || *c == '_' || *c == '.')) {
        rc = escrow__err(ESCROW_E_FORMAT, "query parameter name '%.*s' has a character that is "
                                          "not allowed", (int)((eq - p) > 32 ? 32 : (eq - p)), p);
        goto out;
      }
    if (s->nparams == SAS_PARAMS_MAX) {
      rc = escrow__err(ESCROW_E_LIMIT, "the query has more than %d parameters", SAS_PARAMS_MAX);
      break;
    }
    if (s->nparams == cap) {
      sas_param *np = escrow__realloc(s->params, 2 * cap * sizeof *np);
      if (np == NULL) {
        rc = escrow__err_nomem();
        break;
      }
      memset(np + cap, 0, cap * sizeof *np);
      s->params = np;
      cap *= 2;
    }
    sas_param *sp = &s->params[s->nparams++];
    sp->name = escrow__strndup(p, (size_t)(eq - p));
    sp->raw = escrow__strndup(eq + 1, (size_t)(e - eq - 1));
    if (sp->name == NULL || sp->raw == NULL) {
      rc = escrow__err_nomem();
      break;
    }
    for (size_t i = 0; i + 1 < s->nparams; i++)
      if (strcmp(s->params[i].name, sp->name) == 0) {
        rc = escrow__err(ESCROW_E_FORMAT, "query parameter '%.32s' appears more than once",
                         sp->name);
        goto out;
      }
    bool is_sig = strcmp(sp->name, "sig") == 0;
    if (!is_sig && strchr(sp->raw, ' ') != NULL) {
      rc = escrow__err(ESCROW_E_FORMAT, "query parameter '%.32s' holds a raw space", sp->name);
      break;
    }
    char what[64];
    snprintf(what, sizeof what, "query parameter '%.32s'", sp->name);
    rc = escrow__pct_decode(&sp->value, sp->raw, strlen(sp->raw), what);
    if (rc)
      break;
    size_t vlen = strlen(sp->value);
    if (!escrow__utf8_valid((const uint8_t *)sp->value, vlen)) {
      rc = escrow__err(ESCROW_E_FORMAT, "%s is not valid UTF-8 once decoded", what);
      break;
    }
    for (size_t i = 0; i < vlen; i++) {
      unsigned char c = (unsigned char)sp->value[i];
      if (c < 0x20 || c == 0x7f) {
        rc = escrow__err(ESCROW_E_FORMAT, "%s holds a control character once decoded", what);
        goto out;
      }
    }
    if (is_sig && (strchr(sp->raw, '+') || strchr(sp->value, ' ')))
      s->sig_raw_plus = true;
    if (is_sas_param(sp->name)) {
      if (tok.len)
        escrow__sb_addc(&tok, '&');
      escrow__sb_add(&tok, p, (size_t)(e - p));
    }
    if (*e == '\0')
      break;
    p = e + 1;
  }
out:
  if (rc == 0 && tok.oom)
    rc = escrow__err_nomem();
  if (rc) {
    escrow__sb_free(&tok);
    return rc;
  }
  s->token = tok.s ? tok.s : escrow__strdup("");
  if (s->token == NULL)
    return escrow__err_nomem();
  /* dates and versions */
  const char *v;
  if ((v = escrow_sas_param(s, "st")) != NULL) {
    if (escrow_time_parse(&s->st, v, 0) != 0)
      return escrow__err(ESCROW_E_FORMAT, "st (start) '%.40s' is not a UTC date", v);
    s->has_st = true;
  }
  if ((v = escrow_sas_param(s, "se")) != NULL) {
    if (escrow_time_parse(&s->se, v, 0) != 0)
      return escrow__err(ESCROW_E_FORMAT, "se (expiry) '%.40s' is not a UTC date", v);
    s->has_se = true;
  }
  if ((v = escrow_sas_param(s, "sv")) != NULL && !is_version(v))
    return escrow__err(ESCROW_E_FORMAT, "sv (service version) '%.40s' is not a YYYY-MM-DD date",
                       v);
  bool acct = escrow_sas_param(s, "ss") || escrow_sas_param(s, "srt");
  if (acct && escrow_sas_param(s, "sr"))
    return escrow__err(ESCROW_E_FORMAT, "the query has both sr (service SAS) and ss/srt "
                                        "(account SAS)");
  s->kind = acct ? ESCROW_SAS_ACCOUNT
                 : escrow_sas_param(s, "skoid") ? ESCROW_SAS_USER_DELEGATION : ESCROW_SAS_SERVICE;
  return 0;
}

int escrow_sas_parse(escrow_sas **out, const char *url, unsigned flags) {
  if (out == NULL || url == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_sas_parse: NULL argument");
  *out = NULL;
  escrow_sas *s = escrow__calloc(1, sizeof *s);
  if (s == NULL)
    return escrow__err_nomem();
  const char *query = NULL;
  int rc = parse_url_part(s, url, flags, &query);
  if (rc == 0)
    rc = parse_query_part(s, query);
  if (rc) {
    escrow_sas_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

const char *escrow_sas_scheme(const escrow_sas *s) { return s ? s->scheme : NULL; }
const char *escrow_sas_host(const escrow_sas *s) { return s ? s->host : NULL; }
int escrow_sas_port(const escrow_sas *s) { return s ? s->port : -1; }
int escrow_sas_path_style(const escrow_sas *s) { return s ? s->path_style : 0; }
const char *escrow_sas_account(const escrow_sas *s) { return s ? s->account : NULL; }
const char *escrow_sas_container(const escrow_sas *s) { return s ? s->container : NULL; }
const char *escrow_sas_blob(const escrow_sas *s) { return s ? s->blob : NULL; }
escrow_sas_kind escrow_sas_get_kind(const escrow_sas *s) { return s ? s->kind : 0; }
const char *escrow_sas_endpoint(const escrow_sas *s) { return s ? s->endpoint : NULL; }
const char *escrow_sas_token(const escrow_sas *s) { return s ? s->token : NULL; }

const char *escrow_sas_param(const escrow_sas *s, const char *name) {
  if (s == NULL || name == NULL)
    return NULL;
  for (size_t i = 0; i < s->nparams; i++)
    if (strcmp(s->params[i].name, name) == 0)
      return s->params[i].value;
  return NULL;
}

/* ---- permissions ----------------------------------------------------------------------------- */

/* Canonical orders (JS SDK toString). */
#define PERMS_CONTAINER "racwdxltmeiyf"
#define PERMS_BLOB "racwdxtmeiy"
#define PERMS_ACCOUNT "rwdxftlacupiy"

/* The minimum sv of a permission letter for a service SAS (NULL: any). */
static const char *perm_min_version(char c, bool account) {
  switch (c) {
  case 'x':
  case 'y': return "2019-10-10";
  case 't': return "2019-12-12";
  case 'f': return account ? "2019-12-12" : "2021-04-10";
  case 'm':
  case 'e': return account ? NULL : "2020-02-10";
  case 'i': return "2020-08-04";
  default: return NULL;
  }
}

/* Check letters of perms against allowed (no duplicates) and write them in allowed's order. */
static int canonical_letters(char *out, size_t out_size, const char *in, const char *allowed,
                             const char *what) {
  size_t n = strlen(in);
  if (n == 0)
    return escrow__err(ESCROW_E_INVALID, "%s is empty", what);
  for (size_t i = 0; i < n; i++) {
    if (strchr(allowed, in[i]) == NULL || in[i] == '\0')
      return escrow__err(ESCROW_E_INVALID, "%s: '%c' is not one of \"%s\"", what,
                         isprint((unsigned char)in[i]) ? in[i] : '?', allowed);
    if (memchr(in, in[i], i) != NULL)
      return escrow__err(ESCROW_E_INVALID, "%s: '%c' appears twice", what, in[i]);
  }
  size_t j = 0;
  for (const char *a = allowed; *a && j + 1 < out_size; a++)
    if (strchr(in, *a))
      out[j++] = *a;
  out[j] = '\0';
  return 0;
}

/* ---- string-to-sign -------------------------------------------------------------------------- */

typedef struct sts_fields {
  const char *account, *sp, *st, *se, *cr, *si, *sip, *spr, *sv, *sr, *snapshot, *ses, *rscc,
      *rscd, *rsce, *rscl, *rsct, *ss, *srt;
} sts_fields;

static void sts_field(escrow__sb *b, const char *v, bool first) {
  if (!first)
    escrow__sb_addc(b, '\n');
  if (v)
    escrow__sb_adds(b, v);
}

/* Build the string-to-sign of kind (service or account) per sv (azure-sas.md §3.1, §3.2). */
static int build_sts(char **out, escrow_sas_kind kind, const sts_fields *f) {
  escrow__sb b = {0};
  const char *sv = f->sv;
  if (kind == ESCROW_SAS_ACCOUNT) {
    sts_field(&b, f->account, true);
    sts_field(&b, f->sp, false);
    sts_field(&b, f->ss, false);
    sts_field(&b, f->srt, false);
    sts_field(&b, f->st, false);
    sts_field(&b, f->se, false);
    sts_field(&b, f->sip, false);
    sts_field(&b, f->spr, false);
    sts_field(&b, f->sv, false);
    if (strcmp(sv, "2020-12-06") >= 0)
      sts_field(&b, f->ses, false);
    escrow__sb_addc(&b, '\n');
  } else {
    sts_field(&b, f->sp, true);
    sts_field(&b, f->st, false);
    sts_field(&b, f->se, false);
    sts_field(&b, f->cr, false);
    sts_field(&b, f->si, false);
    sts_field(&b, f->sip, false);
    sts_field(&b, f->spr, false);
    sts_field(&b, f->sv, false);
    if (strcmp(sv, "2018-11-09") >= 0) {
      sts_field(&b, f->sr, false);
      sts_field(&b, f->snapshot, false);
    }
    if (strcmp(sv, "2020-12-06") >= 0)
      sts_field(&b, f->ses, false);
    sts_field(&b, f->rscc, false);
    sts_field(&b, f->rscd, false);
    sts_field(&b, f->rsce, false);
    sts_field(&b, f->rscl, false);
    sts_field(&b, f->rsct, false);
  }
  if (b.oom) {
    escrow__sb_free(&b);
    return escrow__err_nomem();
  }
  *out = b.s;
  return 0;
}

static int canonical_resource(char **out, const char *account, const char *container,
                              const char *blob) {
  escrow__sb b = {0};
  escrow__sb_adds(&b, "/blob/");
  escrow__sb_adds(&b, account);
  escrow__sb_addc(&b, '/');
  escrow__sb_adds(&b, container);
  if (blob) {
    escrow__sb_addc(&b, '/');
    escrow__sb_adds(&b, blob);
  }
  if (b.oom) {
    escrow__sb_free(&b);
    return escrow__err_nomem();
  }
  *out = b.s;
  return 0;
}

/* Decode a Base64 account key into guarded memory. */
static int decode_key(uint8_t **key, size_t *key_len, const char *b64) {
  *key = NULL;
  if (b64 == NULL)
    return escrow__err(ESCROW_E_INVALID, "no account key given");
  size_t n = strlen(b64);
  while (n > 0 && (b64[n - 1] == '\n' || b64[n - 1] == '\r'))
    n--;
  if (n == 0 || n > 1024)
    return escrow__err(ESCROW_E_KEY, "the account key must be Base64 (of usually 64 bytes)");
  uint8_t *k = escrow__secure_malloc(n);
  if (k == NULL)
    return escrow__err_nomem();
  size_t got = 0;
  if (sodium_base642bin(k, n, b64, n, NULL, &got, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      got == 0) {
    escrow__secure_free(k);
    return escrow__err(ESCROW_E_KEY, "the account key is not valid Base64");
  }
  *key = k;
  *key_len = got;
  return 0;
}

static int hmac_sha256(uint8_t mac[32], const uint8_t *key, size_t key_len, const char *msg) {
  const escrow__algs *algs = escrow__get_algs();
  if (algs == NULL)
    return ESCROW_E_CRYPTO;
  EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(algs->hmac);
  if (ctx == NULL)
    return escrow__err_openssl(ESCROW_E_CRYPTO, "cannot create an HMAC context");
  OSSL_PARAM params[2] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
                          OSSL_PARAM_construct_end()};
  size_t outl = 0;
  int ok = EVP_MAC_init(ctx, key, key_len, params) == 1 &&
           EVP_MAC_update(ctx, (const unsigned char *)msg, strlen(msg)) == 1 &&
           EVP_MAC_final(ctx, mac, &outl, 32) == 1 && outl == 32;
  EVP_MAC_CTX_free(ctx);
  if (!ok)
    return escrow__err_openssl(ESCROW_E_CRYPTO, "HMAC-SHA256 failed");
  return 0;
}

static int sign_sts(char out_b64[45], const char *sts, const char *account_key) {
  uint8_t *key;
  size_t key_len;
  int rc = decode_key(&key, &key_len, account_key);
  if (rc)
    return rc;
  uint8_t mac[32];
  rc = hmac_sha256(mac, key, key_len, sts);
  escrow__secure_free(key);
  if (rc)
    return rc;
  sodium_bin2base64(out_b64, 45, mac, 32, sodium_base64_VARIANT_ORIGINAL);
  return 0;
}

/* ---- signing --------------------------------------------------------------------------------- */

static bool has_ctl(const char *s) {
  for (; s && *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f)
      return true;
  return false;
}

static bool valid_ip(const char *s) {
  const char *dash = strchr(s, '-');
  if (dash == NULL)
    return is_ipv4(s);
  char a[16];
  size_t n = (size_t)(dash - s);
  if (n >= sizeof a)
    return false;
  memcpy(a, s, n);
  a[n] = '\0';
  return is_ipv4(a) && is_ipv4(dash + 1);
}

typedef struct sign_ctx {
  sts_fields f;
  escrow_sas_kind kind;
  char sp[32], ss[8], srt[8];
  char *cr;
} sign_ctx;

static int prepare(sign_ctx *c, const escrow_sas_sign_options *o) {
  memset(c, 0, sizeof *c);
  if (o == NULL)
    return escrow__err(ESCROW_E_INVALID, "no signing options given");
  if (o->version != ESCROW_SAS_SIGN_OPTIONS_VERSION)
    return escrow__err(ESCROW_E_INVALID, "escrow_sas_sign_options.version must be %d",
                       ESCROW_SAS_SIGN_OPTIONS_VERSION);
  c->kind = o->kind ? o->kind : ESCROW_SAS_SERVICE;
  if (c->kind != ESCROW_SAS_SERVICE && c->kind != ESCROW_SAS_ACCOUNT)
    return escrow__err(ESCROW_E_UNSUPPORTED, "only service and account SAS can be signed with an "
                                             "account key");
  const char *all[] = {o->account, o->container, o->blob, o->resource, o->snapshot,
                       o->identifier, o->cache_control, o->content_disposition,
                       o->content_encoding, o->content_language, o->content_type, o->services,
                       o->resource_types, o->permissions, o->start, o->expiry, o->ip,
                       o->protocol, o->service_version, o->encryption_scope};
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(all); i++)
    if (has_ctl(all[i]) || (all[i] && !escrow__utf8_valid((const uint8_t *)all[i], strlen(all[i]))))
      return escrow__err(ESCROW_E_INVALID, "a signing option holds a control character or "
                                           "invalid UTF-8");
  if (o->account == NULL || !valid_account_name(o->account))
    return escrow__err(ESCROW_E_INVALID, "the account name must be 3 to 24 lowercase letters "
                                         "and digits");
  const char *sv = o->service_version ? o->service_version : ESCROW_SAS_VERSION_DEFAULT;
  if (!is_version(sv))
    return escrow__err(ESCROW_E_INVALID, "the service version '%.40s' is not YYYY-MM-DD", sv);
  if (strcmp(sv, ESCROW_SAS_VERSION_MIN) < 0 || strcmp(sv, ESCROW_SAS_VERSION_MAX_SIGN) > 0)
    return escrow__err(ESCROW_E_UNSUPPORTED, "service version %s is outside %s..%s, the "
                       "versions this library signs", sv, ESCROW_SAS_VERSION_MIN,
                       ESCROW_SAS_VERSION_MAX_SIGN);
  c->f.sv = sv;
  c->f.account = o->account;
  escrow_time ts, te;
  if (o->start && escrow_time_parse(&ts, o->start, 0) != 0)
    return escrow__err(ESCROW_E_INVALID, "the start '%.40s' is not a UTC date", o->start);
  if (o->expiry && escrow_time_parse(&te, o->expiry, 0) != 0)
    return escrow__err(ESCROW_E_INVALID, "the expiry '%.40s' is not a UTC date", o->expiry);
  if (o->start && o->expiry && time_cmp(ts, te) > 0)
    return escrow__err(ESCROW_E_INVALID, "the start is after the expiry");
  if (o->expiry == NULL && (c->kind == ESCROW_SAS_ACCOUNT || o->identifier == NULL))
    return escrow__err(ESCROW_E_INVALID, "an expiry time is required");
  if (o->permissions == NULL && (c->kind == ESCROW_SAS_ACCOUNT || o->identifier == NULL))
    return escrow__err(ESCROW_E_INVALID, "permissions are required");
  if (o->protocol && strcmp(o->protocol, "https") != 0 && strcmp(o->protocol, "https,http") != 0)
    return escrow__err(ESCROW_E_INVALID, "the protocol must be \"https\" or \"https,http\"");
  if (o->ip && !valid_ip(o->ip))
    return escrow__err(ESCROW_E_INVALID, "the IP range must be a.b.c.d or a.b.c.d-e.f.g.h");
  if (o->encryption_scope && strcmp(sv, "2020-12-06") < 0)
    return escrow__err(ESCROW_E_UNSUPPORTED, "an encryption scope needs sv 2020-12-06 or later");
  c->f.st = o->start;
  c->f.se = o->expiry;
  c->f.sip = o->ip;
  c->f.spr = o->protocol;
  c->f.ses = o->encryption_scope;
  const char *allowed;
  if (c->kind == ESCROW_SAS_ACCOUNT) {
    if (o->container || o->blob || o->resource || o->snapshot || o->identifier ||
        o->cache_control || o->content_disposition || o->content_encoding ||
        o->content_language || o->content_type)
      return escrow__err(ESCROW_E_INVALID, "an account SAS has no container, blob, resource, "
                                           "stored policy or response headers");
    if (o->services == NULL || o->resource_types == NULL)
      return escrow__err(ESCROW_E_INVALID, "an account SAS needs services (ss) and resource "
                                           "types (srt)");
    int rc = canonical_letters(c->ss, sizeof c->ss, o->services, "btqf", "services (ss)");
    if (rc == 0)
      rc = canonical_letters(c->srt, sizeof c->srt, o->resource_types, "sco",
                             "resource types (srt)");
    if (rc)
      return rc;
    c->f.ss = c->ss;
    c->f.srt = c->srt;
    allowed = PERMS_ACCOUNT;
  } else {
    if (o->services || o->resource_types)
      return escrow__err(ESCROW_E_INVALID, "services and resource types belong to an account "
                                           "SAS");
    if (o->container == NULL || o->container[0] == '\0' || strchr(o->container, '/'))
      return escrow__err(ESCROW_E_INVALID, "a service SAS needs a container name (without '/')");
    if (o->blob && o->blob[0] == '\0')
      return escrow__err(ESCROW_E_INVALID, "the blob name is empty");
    const char *sr = o->resource ? o->resource : o->blob ? "b" : "c";
    if (strcmp(sr, "c") == 0) {
      if (o->blob || o->snapshot)
        return escrow__err(ESCROW_E_INVALID, "a container SAS (sr=c) has no blob or snapshot");
    } else if (strcmp(sr, "b") == 0 || strcmp(sr, "bs") == 0 || strcmp(sr, "bv") == 0) {
      if (o->blob == NULL)
        return escrow__err(ESCROW_E_INVALID, "sr=%s needs a blob name", sr);
      if ((sr[1] != '\0') != (o->snapshot != NULL))
        return escrow__err(ESCROW_E_INVALID, "a snapshot time or version id goes with sr=bs or "
                                             "sr=bv, and only with them");
      if (strcmp(sr, "bs") == 0 && strcmp(sv, "2018-11-09") < 0)
        return escrow__err(ESCROW_E_UNSUPPORTED, "a snapshot SAS needs sv 2018-11-09 or later");
      if (strcmp(sr, "bv") == 0 && strcmp(sv, "2019-10-10") < 0)
        return escrow__err(ESCROW_E_UNSUPPORTED, "a version SAS needs sv 2019-10-10 or later");
    } else {
      return escrow__err(ESCROW_E_INVALID, "the resource must be c, b, bs or bv");
    }
    c->f.sr = sr;
    c->f.snapshot = o->snapshot;
    c->f.si = o->identifier;
    c->f.rscc = o->cache_control;
    c->f.rscd = o->content_disposition;
    c->f.rsce = o->content_encoding;
    c->f.rscl = o->content_language;
    c->f.rsct = o->content_type;
    allowed = strcmp(sr, "c") == 0 ? PERMS_CONTAINER : PERMS_BLOB;
    int rc = canonical_resource(&c->cr, o->account, o->container, o->blob);
    if (rc)
      return rc;
    c->f.cr = c->cr;
  }
  if (o->permissions) {
    int rc = canonical_letters(c->sp, sizeof c->sp, o->permissions, allowed, "permissions (sp)");
    if (rc)
      return rc;
    for (const char *p = c->sp; *p; p++) {
      const char *minv = perm_min_version(*p, c->kind == ESCROW_SAS_ACCOUNT);
      if (minv && strcmp(sv, minv) < 0)
        return escrow__err(ESCROW_E_UNSUPPORTED, "permission '%c' needs sv %s or later", *p,
                           minv);
    }
    c->f.sp = c->sp;
  }
  return 0;
}

int escrow_sas_string_to_sign(char **out, const escrow_sas_sign_options *opts) {
  if (out == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_sas_string_to_sign: NULL argument");
  *out = NULL;
  sign_ctx c;
  int rc = prepare(&c, opts);
  if (rc == 0)
    rc = build_sts(out, c.kind, &c.f);
  escrow__free(c.cr);
  return rc;
}

static void add_param(escrow__sb *b, const char *name, const char *value) {
  if (value == NULL)
    return;
  if (b->len)
    escrow__sb_addc(b, '&');
  escrow__sb_adds(b, name);
  escrow__sb_addc(b, '=');
  escrow__sb_add_pct(b, value, false);
}

static int sign_query(char **query, const escrow_sas_sign_options *opts, const char *key,
                      sign_ctx *c) {
  *query = NULL;
  int rc = prepare(c, opts);
  char *sts = NULL;
  if (rc == 0)
    rc = build_sts(&sts, c->kind, &c->f);
  char sig[45];
  if (rc == 0)
    rc = sign_sts(sig, sts, key);
  escrow__free(sts);
  if (rc)
    return rc;
  const sts_fields *f = &c->f;
  escrow__sb b = {0};
  add_param(&b, "sv", f->sv);
  add_param(&b, "ss", f->ss);
  add_param(&b, "srt", f->srt);
  add_param(&b, "spr", f->spr);
  add_param(&b, "st", f->st);
  add_param(&b, "se", f->se);
  add_param(&b, "sip", f->sip);
  add_param(&b, "si", f->si);
  add_param(&b, "ses", f->ses);
  add_param(&b, "sr", c->kind == ESCROW_SAS_ACCOUNT ? NULL : f->sr);
  add_param(&b, "sp", f->sp);
  add_param(&b, "rscc", f->rscc);
  add_param(&b, "rscd", f->rscd);
  add_param(&b, "rsce", f->rsce);
  add_param(&b, "rscl", f->rscl);
  add_param(&b, "rsct", f->rsct);
  add_param(&b, "sig", sig);
  sodium_memzero(sig, sizeof sig);
  if (b.oom) {
    escrow__sb_free(&b);
    return escrow__err_nomem();
  }
  *query = b.s;
  return 0;
}

int escrow_sas_sign(char **query, const escrow_sas_sign_options *opts, const char *account_key) {
  if (query == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_sas_sign: NULL argument");
  sign_ctx c;
  int rc = sign_query(query, opts, account_key, &c);
  escrow__free(c.cr);
  return rc;
}

int escrow_sas_sign_url(char **url, const char *endpoint, const escrow_sas_sign_options *opts,
                        const char *account_key) {
  if (url == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_sas_sign_url: NULL argument");
  *url = NULL;
  if (endpoint && (has_ctl(endpoint) || strchr(endpoint, '?') || strchr(endpoint, '#') ||
                   (strncmp(endpoint, "https://", 8) != 0 && strncmp(endpoint, "http://", 7) != 0)))
    return escrow__err(ESCROW_E_INVALID, "the endpoint must be an http(s) URL without a query");
  sign_ctx c;
  char *q = NULL;
  int rc = sign_query(&q, opts, account_key, &c);
  escrow__free(c.cr);
  if (rc)
    return rc;
  escrow__sb b = {0};
  if (endpoint) {
    size_t n = strlen(endpoint);
    while (n > 0 && endpoint[n - 1] == '/')
      n--;
    escrow__sb_add(&b, endpoint, n);
  } else {
    escrow__sb_adds(&b, "https://");
    escrow__sb_adds(&b, opts->account);
    escrow__sb_adds(&b, ".blob.core.windows.net");
  }
  escrow__sb_addc(&b, '/');
  if (c.kind == ESCROW_SAS_SERVICE) {
    escrow__sb_add_pct(&b, opts->container, false);
    if (opts->blob) {
      escrow__sb_addc(&b, '/');
      escrow__sb_add_pct(&b, opts->blob, true);
    }
  }
  escrow__sb_addc(&b, '?');
  escrow__sb_adds(&b, q);
  escrow__free(q);
  if (b.oom) {
    escrow__sb_free(&b);
    return escrow__err_nomem();
  }
  *url = b.s;
  return 0;
}

/* ---- verifying ------------------------------------------------------------------------------- */

int escrow_sas_verify(const escrow_sas *s, const char *account_key) {
  if (s == NULL || account_key == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_sas_verify: NULL argument");
  if (s->kind == ESCROW_SAS_USER_DELEGATION)
    return escrow__err(ESCROW_E_UNSUPPORTED, "a user-delegation SAS is signed with a Microsoft "
                       "Entra ID user-delegation key, not the account key: it cannot be verified "
                       "here");
  const char *sig = escrow_sas_param(s, "sig");
  const char *sv = escrow_sas_param(s, "sv");
  if (sig == NULL || sv == NULL)
    return escrow__err(ESCROW_E_FORMAT, "the SAS has no %s", sig == NULL ? "sig" : "sv");
  uint8_t want[32];
  size_t got = 0;
  if (sodium_base642bin(want, sizeof want, sig, strlen(sig), NULL, &got, NULL,
                        sodium_base64_VARIANT_ORIGINAL) != 0 || got != 32)
    return escrow__err(ESCROW_E_FORMAT, "sig is not the Base64 of 32 bytes%s",
                       s->sig_raw_plus ? " (a raw '+' or space: it must be written %2B)" : "");
  if (strcmp(sv, ESCROW_SAS_VERSION_MIN) < 0)
    return escrow__err(ESCROW_E_UNSUPPORTED, "service version %s is older than %s", sv,
                       ESCROW_SAS_VERSION_MIN);
  sts_fields f = {0};
  f.account = s->account;
  f.sv = sv;
  f.sp = escrow_sas_param(s, "sp");
  f.st = escrow_sas_param(s, "st");
  f.se = escrow_sas_param(s, "se");
  f.sip = escrow_sas_param(s, "sip");
  f.spr = escrow_sas_param(s, "spr");
  f.ses = escrow_sas_param(s, "ses");
  char *cr = NULL;
  if (s->kind == ESCROW_SAS_ACCOUNT) {
    f.ss = escrow_sas_param(s, "ss");
    f.srt = escrow_sas_param(s, "srt");
  } else {
    f.sr = escrow_sas_param(s, "sr");
    if (f.sr == NULL)
      return escrow__err(ESCROW_E_FORMAT, "the SAS has neither sr nor ss/srt");
    if (s->container == NULL)
      return escrow__err(ESCROW_E_FORMAT, "a service SAS URL needs a container in its path");
    bool blob_scope = strcmp(f.sr, "c") != 0 && strcmp(f.sr, "d") != 0;
    if (blob_scope && s->blob == NULL)
      return escrow__err(ESCROW_E_FORMAT, "sr=%.8s needs a blob in the URL's path", f.sr);
    int rc = canonical_resource(&cr, s->account, s->container, blob_scope ? s->blob : NULL);
    if (rc)
      return rc;
    f.cr = cr;
    f.si = escrow_sas_param(s, "si");
    if (strcmp(f.sr, "bs") == 0)
      f.snapshot = escrow_sas_param(s, "snapshot");
    else if (strcmp(f.sr, "bv") == 0)
      f.snapshot = escrow_sas_param(s, "versionid");
    f.rscc = escrow_sas_param(s, "rscc");
    f.rscd = escrow_sas_param(s, "rscd");
    f.rsce = escrow_sas_param(s, "rsce");
    f.rscl = escrow_sas_param(s, "rscl");
    f.rsct = escrow_sas_param(s, "rsct");
  }
  char *sts = NULL;
  int rc = build_sts(&sts, s->kind, &f);
  escrow__free(cr);
  if (rc)
    return rc;
  uint8_t *key;
  size_t key_len;
  rc = decode_key(&key, &key_len, account_key);
  uint8_t mac[32];
  if (rc == 0) {
    rc = hmac_sha256(mac, key, key_len, sts);
    escrow__secure_free(key);
  }
  escrow__free(sts);
  if (rc)
    return rc;
  int diff = CRYPTO_memcmp(mac, want, 32);
  sodium_memzero(mac, sizeof mac);
  if (diff != 0)
    return escrow__err(ESCROW_E_AUTH, "the signature does not match: wrong account key, or the "
                                      "URL was changed after signing");
  return 0;
}

/* ---- judging --------------------------------------------------------------------------------- */

static const char MSG_VALID[] = "Valid dataset URL link.";
static const char MSG_INVALID[] = "SAS Token Not Provided Or Invalid URI";
static const char MSG_EXPIRING[] = "provided sas token will expire in less than 24 hours";
static const char MSG_NOT_YET[] = "SAS token is not yet valid";

static void set_result(escrow_sas_result *r, escrow_sas_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_result(escrow_sas_result *r, escrow_sas_status st, const char *fmt, ...) {
  r->status = st;
  switch (st) {
  case ESCROW_SAS_VALID:
    r->status_name = "valid";
    r->message = MSG_VALID;
    break;
  case ESCROW_SAS_INVALID:
    r->status_name = "invalid";
    r->message = MSG_INVALID;
    break;
  case ESCROW_SAS_EXPIRING:
    r->status_name = "expiring";
    r->message = MSG_EXPIRING;
    break;
  case ESCROW_SAS_EXPIRED:
    r->status_name = "expired";
    r->message = MSG_EXPIRING;
    break;
  case ESCROW_SAS_NOT_YET_VALID:
    r->status_name = "not yet valid";
    r->message = MSG_NOT_YET;
    break;
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->reason, sizeof r->reason, fmt, ap);
  va_end(ap);
}

/* A host of Azure Blob storage: <account>.blob.<suffix of two or more labels>. */
static bool azure_blob_host(const char *host) {
  const char *dot = strchr(host, '.');
  if (dot == NULL || strncmp(dot, ".blob.", 6) != 0)
    return false;
  const char *suffix = dot + 6;
  const char *d2 = strchr(suffix, '.');
  return d2 != NULL && d2 > suffix && d2[1] != '\0' && suffix[strlen(suffix) - 1] != '.';
}

int escrow_sas_check(escrow_sas_result *r, const char *url, const escrow_time *now_in,
                     unsigned flags) {
  if (r == NULL)
    return escrow__err(ESCROW_E_INVALID, "escrow_sas_check: NULL argument");
  memset(r, 0, sizeof *r);
  escrow_time now = now_in ? *now_in : escrow_time_now();
  bool loopback_ok = (flags & ESCROW_SAS_ALLOW_LOOPBACK_HTTP) != 0;
  if (url == NULL || url[0] == '\0') {
    set_result(r, ESCROW_SAS_INVALID, "no URL was given");
    return 0;
  }
  /* 1. an https URL with a container path */
  bool is_http = strncasecmp(url, "http://", 7) == 0;
  if (strncasecmp(url, "https://", 8) != 0 && !(is_http && loopback_ok)) {
    set_result(r, ESCROW_SAS_INVALID, "not an https URL%s",
               is_http ? " (http:// is allowed only for a loopback emulator, with "
                         "--allow-loopback-http)" : "");
    return 0;
  }
  escrow_sas *s = escrow__calloc(1, sizeof *s);
  if (s == NULL)
    return escrow__err_nomem();
  const char *query = NULL;
  int rc = parse_url_part(s, url, flags, &query);
  if (rc == ESCROW_E_NOMEM)
    goto out;
  if (rc) {
    set_result(r, ESCROW_SAS_INVALID, "%s", escrow_error_last());
    rc = 0;
    goto out;
  }
  bool loop = escrow__host_is_loopback(s->host);
  if (is_http && !loop) {
    set_result(r, ESCROW_SAS_INVALID, "not an https URL (http:// is allowed only on a loopback "
                                      "host)");
    goto out;
  }
  if (!(loop && loopback_ok)) {
    if (!azure_blob_host(s->host) || s->path_style) {
      set_result(r, ESCROW_SAS_INVALID, "the host '%.80s' is not an Azure Blob Storage endpoint "
                 "(<account>.blob.core.windows.net)", s->host);
      goto out;
    }
  }
  if (!valid_account_name(s->account)) {
    set_result(r, ESCROW_SAS_INVALID, "'%.40s' is not a storage account name (3 to 24 lowercase "
               "letters and digits)", s->account);
    goto out;
  }
  if (s->container == NULL) {
    set_result(r, ESCROW_SAS_INVALID, "the URL has no container path");
    goto out;
  }
  if (!valid_container_name(s->container)) {
    set_result(r, ESCROW_SAS_INVALID, "'%.64s' is not a container name (3 to 63 lowercase "
               "letters, digits and single hyphens)", s->container);
    goto out;
  }
  if (s->blob != NULL) {
    set_result(r, ESCROW_SAS_INVALID, "the URL points at a blob inside the container, not at "
                                      "the container");
    goto out;
  }
  /* 2. the query: case-sensitive names, no duplicates, clean encodings */
  rc = parse_query_part(s, query);
  if (rc == ESCROW_E_NOMEM)
    goto out;
  if (rc) {
    set_result(r, ESCROW_SAS_INVALID, "%s", escrow_error_last());
    rc = 0;
    goto out;
  }
  /* 3. sig, se, sv present */
  static const char *const required[] = {"sig", "se", "sv"};
  for (size_t i = 0; i < 3; i++)
    if (escrow_sas_param(s, required[i]) == NULL) {
      set_result(r, ESCROW_SAS_INVALID, "the SAS token has no '%s' parameter (names are "
                 "case-sensitive)", required[i]);
      goto out;
    }
  /* 4. container scope */
  if (s->kind == ESCROW_SAS_ACCOUNT) {
    set_result(r, ESCROW_SAS_INVALID, "an account SAS (ss/srt); a container SAS (sr=c) is "
                                      "required");
    goto out;
  }
  const char *sr = escrow_sas_param(s, "sr");
  if (sr == NULL || strcmp(sr, "c") != 0) {
    set_result(r, ESCROW_SAS_INVALID, "not container-scoped: %s%.8s (sr=c is required)",
               sr ? "sr=" : "sr is missing", sr ? sr : "");
    goto out;
  }
  /* 5. permissions: r and l, known letters */
  const char *sp = escrow_sas_param(s, "sp");
  if (sp == NULL) {
    set_result(r, ESCROW_SAS_INVALID, "the SAS token has no permissions (sp); read and list "
                                      "(sp=rl) are required");
    goto out;
  }
  for (size_t i = 0; sp[i]; i++)
    if (strchr(PERMS_CONTAINER "op", sp[i]) == NULL || memchr(sp, sp[i], i) != NULL) {
      set_result(r, ESCROW_SAS_INVALID, "permissions sp=%.32s hold '%c', %s", sp, sp[i],
                 strchr(PERMS_CONTAINER "op", sp[i]) ? "twice" : "which is not a permission");
      goto out;
    }
  if (strchr(sp, 'r') == NULL || strchr(sp, 'l') == NULL) {
    set_result(r, ESCROW_SAS_INVALID, "permissions sp=%.32s lack %s: read and list (sp=rl) are "
               "required", sp, strchr(sp, 'r') == NULL ? "read (r)" : "list (l)");
    goto out;
  }
  /* 6. HTTPS only */
  const char *spr = escrow_sas_param(s, "spr");
  bool spr_https = spr && strcmp(spr, "https") == 0;
  bool spr_both = spr && strcmp(spr, "https,http") == 0;
  if (!spr_https && !(loopback_ok && loop && spr_both)) {
    set_result(r, ESCROW_SAS_INVALID, "not HTTPS-only: %s%.16s (spr=https is required)",
               spr ? "spr=" : "spr is missing", spr ? spr : "");
    goto out;
  }
  if (is_http && spr_https) {
    set_result(r, ESCROW_SAS_INVALID, "spr=https forbids this http:// URL");
    goto out;
  }
  /* 7. a raw '+' or space in sig */
  if (s->sig_raw_plus) {
    set_result(r, ESCROW_SAS_INVALID, "sig holds a raw '+' or a space: it must be "
                                      "percent-encoded (%%2B)");
    goto out;
  }
  uint8_t sigbin[32];
  size_t got = 0;
  const char *sig = escrow_sas_param(s, "sig");
  if (sodium_base642bin(sigbin, sizeof sigbin, sig, strlen(sig), NULL, &got, NULL,
                        sodium_base64_VARIANT_ORIGINAL) != 0 || got != 32) {
    set_result(r, ESCROW_SAS_INVALID, "sig is not the Base64 of a 32-byte signature");
    goto out;
  }
  const char *sv = escrow_sas_param(s, "sv");
  if (strcmp(sv, ESCROW_SAS_VERSION_MIN) < 0) {
    set_result(r, ESCROW_SAS_INVALID, "service version sv=%s is older than %s", sv,
               ESCROW_SAS_VERSION_MIN);
    goto out;
  }
  /* times */
  char se_txt[21];
  escrow_time_format(se_txt, s->se);
  if (time_cmp(s->se, now) <= 0) {
    set_result(r, ESCROW_SAS_EXPIRED, "the SAS token expired at %s", se_txt);
    goto out;
  }
  if (s->has_st && time_cmp(s->st, now) > 0) {
    char st_txt[21];
    escrow_time_format(st_txt, s->st);
    set_result(r, ESCROW_SAS_NOT_YET_VALID, "the SAS token is valid only from %s%s", st_txt,
               time_cmp(s->st, s->se) > 0 ? ", after it expires: it will never be valid" : "");
    goto out;
  }
  escrow_time limit = {now.sec + 86400, now.nsec};
  if (time_cmp(s->se, limit) <= 0) {
    set_result(r, ESCROW_SAS_EXPIRING, "the SAS token expires at %s, in 24 hours or less",
               se_txt);
    goto out;
  }
  set_result(r, ESCROW_SAS_VALID, "a container SAS with read and list, HTTPS only, valid "
             "until %s", se_txt);
out:
  escrow_sas_free(s);
  return rc;
}
