/* escrowd: form bodies (see form.h). */
#include "form.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yajl/yajl_tree.h>

/* memmem (a GNU extension) in portable C. */
static const char *find_bytes(const char *hay, size_t n, const char *needle, size_t m) {
  if (m == 0 || n < m) return NULL;
  for (size_t i = 0; i + m <= n; i++) {
    const char *p = memchr(hay + i, needle[0], n - m + 1 - i);
    if (!p) return NULL;
    if (memcmp(p, needle, m) == 0) return p;
    i = (size_t)(p - hay);
  }
  return NULL;
}

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t errsz, const char *fmt, ...) {
  if (err && errsz) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
  }
  return -1;
}

void srv_form_init(srv_form *f) { memset(f, 0, sizeof *f); }

void srv_form_clear(srv_form *f) {
  for (size_t i = 0; i < f->n; i++) {
    free(f->fields[i].name);
    free(f->fields[i].value);
    free(f->fields[i].filename);
    free(f->fields[i].content_type);
    free(f->fields[i].blob_hex);
    free(f->fields[i].blob_tmp);
  }
  memset(f, 0, sizeof *f);
}

static char *dupn(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (!d) return NULL;
  if (n) memcpy(d, s, n);
  d[n] = 0;
  return d;
}

int srv_form_add(srv_form *f, const char *name, size_t name_len, const char *value,
                 size_t value_len, const char *filename, const char *ctype) {
  if (f->n >= SRV_FORM_MAX_FIELDS || name_len > SRV_FORM_MAX_NAME) return -1;
  srv_field *fl = &f->fields[f->n];
  memset(fl, 0, sizeof *fl);
  fl->name = dupn(name, name_len);
  fl->value = dupn(value, value_len);
  fl->len = value_len;
  if (filename) fl->filename = strdup(filename);
  if (ctype) fl->content_type = strdup(ctype);
  if (!fl->name || !fl->value || (filename && !fl->filename) || (ctype && !fl->content_type)) {
    free(fl->name);
    free(fl->value);
    free(fl->filename);
    free(fl->content_type);
    memset(fl, 0, sizeof *fl);
    return -1;
  }
  f->n++;
  return 0;
}

const srv_field *srv_form_get(const srv_form *f, const char *name, size_t *count) {
  const srv_field *first = NULL;
  size_t c = 0;
  for (size_t i = 0; i < f->n; i++)
    if (strcmp(f->fields[i].name, name) == 0) {
      if (!first) first = &f->fields[i];
      c++;
    }
  if (count) *count = c;
  return first;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decode in place-ish into a new buffer; -1 on a bad escape. */
static char *url_decode(const char *s, size_t n, size_t *out_len) {
  char *d = malloc(n + 1);
  if (!d) return NULL;
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '+') {
      d[o++] = ' ';
    } else if (s[i] == '%') {
      int hi, lo;
      if (i + 2 >= n || (hi = hexval(s[i + 1])) < 0 || (lo = hexval(s[i + 2])) < 0) {
        free(d);
        return NULL;
      }
      d[o++] = (char)(hi * 16 + lo);
      i += 2;
    } else {
      d[o++] = s[i];
    }
  }
  d[o] = 0;
  *out_len = o;
  return d;
}

int srv_form_parse_urlencoded(srv_form *f, const char *data, size_t len, char *err, size_t errsz) {
  size_t i = 0;
  while (i < len) {
    const char *amp = memchr(data + i, '&', len - i);
    size_t end = amp ? (size_t)(amp - data) : len;
    if (end > i) {
      const char *eq = memchr(data + i, '=', end - i);
      size_t klen = eq ? (size_t)(eq - (data + i)) : end - i;
      size_t nl, vl;
      char *k = url_decode(data + i, klen, &nl);
      char *v = eq ? url_decode(eq + 1, end - (size_t)(eq + 1 - data), &vl) : (vl = 0, strdup(""));
      if (!k || !v) {
        free(k);
        free(v);
        return fail(err, errsz, "the form body has a malformed %%-escape");
      }
      int r = srv_form_add(f, k, nl, v, vl, NULL, NULL);
      free(k);
      free(v);
      if (r) return fail(err, errsz, "the form body has too many fields or a name too long");
    }
    i = end + 1;
  }
  return 0;
}

/* Find a parameter (name=value or name="value") in a header value; writes a copy to out. */
static int header_param(const char *hv, size_t hlen, const char *pname, char *out, size_t outsz,
                        int *present) {
  *present = 0;
  size_t pl = strlen(pname);
  size_t i = 0;
  /* skip the first token (the media type or disposition) */
  while (i < hlen && hv[i] != ';') {
    if (hv[i] == '"') return -1;
    i++;
  }
  while (i < hlen) {
    i++; /* ';' */
    while (i < hlen && (hv[i] == ' ' || hv[i] == '\t')) i++;
    size_t ks = i;
    while (i < hlen && hv[i] != '=' && hv[i] != ';') i++;
    size_t ke = i;
    while (ke > ks && (hv[ke - 1] == ' ' || hv[ke - 1] == '\t')) ke--;
    if (i >= hlen || hv[i] == ';') continue; /* a parameter without value */
    i++;                                      /* '=' */
    while (i < hlen && (hv[i] == ' ' || hv[i] == '\t')) i++;
    size_t o = 0;
    int match = ke - ks == pl && strncasecmp(hv + ks, pname, pl) == 0;
    if (i < hlen && hv[i] == '"') {
      i++;
      int closed = 0;
      while (i < hlen) {
        char c = hv[i++];
        if (c == '\\' && i < hlen) c = hv[i++];
        else if (c == '"') {
          closed = 1;
          break;
        }
        if (match) {
          if (o + 1 >= outsz) return -1;
          out[o++] = c;
        }
      }
      if (!closed) return -1;
      while (i < hlen && hv[i] != ';') i++;
    } else {
      while (i < hlen && hv[i] != ';') {
        if (match) {
          if (o + 1 >= outsz) return -1;
          out[o++] = hv[i];
        }
        i++;
      }
      if (match)
        while (o > 0 && (out[o - 1] == ' ' || out[o - 1] == '\t')) o--;
    }
    if (match) {
      if (*present) return -1; /* repeated parameter */
      out[o] = 0;
      *present = 1;
    }
  }
  return 0;
}

#define MAX_PART_HEADERS 4096

int srv_form_parse_multipart(srv_form *f, const char *content_type, const char *data, size_t len,
                             char *err, size_t errsz) {
  char boundary[80];
  int present;
  if (!content_type ||
      header_param(content_type, strlen(content_type), "boundary", boundary + 4,
                   sizeof boundary - 4, &present) ||
      !present || !boundary[4])
    return fail(err, errsz, "the multipart body has no usable boundary (1 to 70 characters)");
  memcpy(boundary, "\r\n--", 4);
  size_t bl = strlen(boundary);
  if (bl - 4 > 70) return fail(err, errsz, "the multipart boundary is longer than 70 characters");

  /* the first delimiter may start the body (without the leading CRLF) */
  size_t pos;
  if (len >= bl - 2 && memcmp(data, boundary + 2, bl - 2) == 0) {
    pos = bl - 2;
  } else {
    const char *b = find_bytes(data, len, boundary, bl);
    if (!b) return fail(err, errsz, "the multipart body does not contain its boundary");
    pos = (size_t)(b - data) + bl;
  }
  for (;;) {
    /* after a delimiter: "--" (end) or optional whitespace then CRLF */
    if (len - pos >= 2 && data[pos] == '-' && data[pos + 1] == '-') return 0;
    while (pos < len && (data[pos] == ' ' || data[pos] == '\t')) pos++;
    if (len - pos < 2 || data[pos] != '\r' || data[pos + 1] != '\n')
      return fail(err, errsz, "the multipart body is malformed after a boundary");
    pos += 2;
    /* part headers up to CRLFCRLF */
    size_t hend_lim = len - pos < MAX_PART_HEADERS ? len - pos : MAX_PART_HEADERS;
    const char *hend = find_bytes(data + pos, hend_lim, "\r\n\r\n", 4);
    const char *hstart = data + pos;
    size_t hlen;
    if (len - pos >= 2 && data[pos] == '\r' && data[pos + 1] == '\n') {
      hend = data + pos - 2; /* no headers at all */
      hlen = 0;
    } else {
      if (!hend) return fail(err, errsz, "a multipart part's headers are missing or too long");
      hlen = (size_t)(hend - hstart) + 2;
    }
    char name[SRV_FORM_MAX_NAME + 1] = "", filename[1024] = "", ctype[256] = "";
    int have_name = 0, have_file = 0, have_cd = 0;
    size_t i = 0;
    while (i < hlen) {
      const char *eol = find_bytes(hstart + i, hlen - i, "\r\n", 2);
      size_t le = eol ? (size_t)(eol - hstart) : hlen;
      const char *line = hstart + i;
      size_t ll = le - i;
      const char *colon = memchr(line, ':', ll);
      if (!colon) return fail(err, errsz, "a multipart part has a malformed header line");
      size_t nl = (size_t)(colon - line);
      const char *v = colon + 1;
      size_t vl = ll - nl - 1;
      while (vl && (*v == ' ' || *v == '\t')) v++, vl--;
      if (nl == 19 && strncasecmp(line, "Content-Disposition", 19) == 0) {
        if (have_cd) return fail(err, errsz, "a multipart part repeats Content-Disposition");
        have_cd = 1;
        if (vl < 9 || strncasecmp(v, "form-data", 9) != 0 ||
            (vl > 9 && v[9] != ';' && v[9] != ' '))
          return fail(err, errsz, "a multipart part is not form-data");
        if (header_param(v, vl, "name", name, sizeof name, &have_name))
          return fail(err, errsz, "a multipart part's name is malformed or too long");
        if (header_param(v, vl, "filename", filename, sizeof filename, &have_file))
          return fail(err, errsz, "a multipart part's filename is malformed or too long");
      } else if (nl == 12 && strncasecmp(line, "Content-Type", 12) == 0) {
        if (vl >= sizeof ctype) return fail(err, errsz, "a multipart part's type is too long");
        memcpy(ctype, v, vl);
        ctype[vl] = 0;
      }
      i = le + 2;
    }
    if (!have_cd || !have_name || !name[0])
      return fail(err, errsz, "a multipart part has no form-data name");
    size_t body = (size_t)(hend - data) + 4;
    if (body > len) return fail(err, errsz, "the multipart body ends inside a part");
    const char *b = find_bytes(data + body, len - body, boundary, bl);
    if (!b) return fail(err, errsz, "the multipart body ends without its closing boundary");
    if (srv_form_add(f, name, strlen(name), data + body, (size_t)(b - (data + body)),
                     have_file ? filename : NULL, ctype[0] ? ctype : NULL))
      return fail(err, errsz, "the multipart body has too many fields");
    pos = (size_t)(b - data) + bl;
  }
}

int srv_form_parse_json(srv_form *f, const char *data, size_t len, char *err, size_t errsz) {
  if (len > SRV_FORM_MAX_JSON) return fail(err, errsz, "the JSON body is too large");
  if (!srv_json_depth_ok(data, len, SRV_JSON_MAX_DEPTH))
    return fail(err, errsz, "the JSON body is nested more than %d deep", SRV_JSON_MAX_DEPTH);
  char *text = malloc(len + 1);
  if (!text) return fail(err, errsz, "out of memory");
  memcpy(text, data, len);
  text[len] = 0;
  char why[128] = "";
  yajl_val root = memchr(data, 0, len) ? NULL : yajl_tree_parse(text, why, sizeof why);
  free(text);
  if (!root || !YAJL_IS_OBJECT(root)) {
    yajl_tree_free(root);
    return fail(err, errsz, "the JSON body must be one object of names and text values");
  }
  int r = 0;
  for (size_t i = 0; i < root->u.object.len && !r; i++) {
    const char *k = root->u.object.keys[i];
    yajl_val v = root->u.object.values[i];
    const char *sv = YAJL_IS_STRING(v)  ? YAJL_GET_STRING(v)
                     : YAJL_IS_NUMBER(v) ? YAJL_GET_NUMBER(v)
                     : YAJL_IS_TRUE(v)   ? "true"
                     : YAJL_IS_FALSE(v)  ? "false"
                                         : NULL;
    if (YAJL_IS_NULL(v)) continue;
    if (!sv) {
      r = fail(err, errsz, "the JSON body's values must be text, numbers or booleans (\"%s\" is not)", k);
    } else if (strlen(k) == 0 || strlen(k) >= SRV_FORM_MAX_NAME) {
      r = fail(err, errsz, "a JSON member name is empty or too long");
    } else if (f->n >= SRV_FORM_MAX_FIELDS) {
      r = fail(err, errsz, "the JSON body has too many members");
    } else if (srv_form_add(f, k, strlen(k), sv, strlen(sv), NULL, NULL)) {
      r = fail(err, errsz, "out of memory");
    }
  }
  yajl_tree_free(root);
  return r;
}

int srv_form_parse_body(srv_form *f, const char *content_type, const char *data, size_t len,
                        char *err, size_t errsz) {
  if (len == 0) return 0;
  if (!content_type) return fail(err, errsz, "the request body has no Content-Type");
  if (strncasecmp(content_type, "multipart/form-data", 19) == 0)
    return srv_form_parse_multipart(f, content_type, data, len, err, errsz);
  if (strncasecmp(content_type, "application/x-www-form-urlencoded", 33) == 0)
    return srv_form_parse_urlencoded(f, data, len, err, errsz);
  if (strncasecmp(content_type, "application/json", 16) == 0 &&
      (content_type[16] == 0 || content_type[16] == ';'))
    return srv_form_parse_json(f, data, len, err, errsz);
  return fail(err, errsz,
              "the request body must be multipart/form-data, application/x-www-form-urlencoded "
              "or application/json");
}
