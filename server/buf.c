/* escrowd: text buffer (see buf.h). */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void srv_buf_free(srv_buf *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

void srv_buf_add(srv_buf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

void srv_buf_puts(srv_buf *b, const char *s) { srv_buf_add(b, s, strlen(s)); }

void srv_buf_printf(srv_buf *b, const char *fmt, ...) {
  char tmp[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->oom = 1;
    return;
  }
  srv_buf_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Length of a valid UTF-8 sequence at s (0 if invalid). */
static size_t utf8_len(const unsigned char *s) {
  if (s[0] < 0x80) return 1;
  if (s[0] >= 0xc2 && s[0] <= 0xdf) return (s[1] & 0xc0) == 0x80 ? 2 : 0;
  if (s[0] >= 0xe0 && s[0] <= 0xef) {
    if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80) return 0;
    if (s[0] == 0xe0 && s[1] < 0xa0) return 0;
    if (s[0] == 0xed && s[1] > 0x9f) return 0;
    return 3;
  }
  if (s[0] >= 0xf0 && s[0] <= 0xf4) {
    if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80) return 0;
    if (s[0] == 0xf0 && s[1] < 0x90) return 0;
    if (s[0] == 0xf4 && s[1] > 0x8f) return 0;
    return 4;
  }
  return 0;
}

void srv_buf_json_str(srv_buf *b, const char *s) {
  if (!s) {
    srv_buf_puts(b, "null");
    return;
  }
  srv_buf_add(b, "\"", 1);
  const unsigned char *u = (const unsigned char *)s;
  while (*u) {
    /* a run of bytes that go out as they are: printable ASCII but " and \, and valid UTF-8 */
    const unsigned char *run = u;
    for (;;) {
      unsigned char c = *u;
      if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
        u++;
      } else if (c >= 0x80) {
        size_t n = utf8_len(u);
        if (!n) break;
        u += n;
      } else {
        break;
      }
    }
    if (u > run) srv_buf_add(b, (const char *)run, (size_t)(u - run));
    unsigned char c = *u;
    if (!c) break;
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      srv_buf_add(b, e, 2);
    } else if (c == '\n') {
      srv_buf_add(b, "\\n", 2);
    } else if (c == '\r') {
      srv_buf_add(b, "\\r", 2);
    } else if (c == '\t') {
      srv_buf_add(b, "\\t", 2);
    } else if (c < 0x20 || c == 0x7f) {
      srv_buf_printf(b, "\\u%04x", c);
    } else { /* a byte that does not start valid UTF-8 */
      srv_buf_puts(b, "\\ufffd");
    }
    u++;
  }
  srv_buf_add(b, "\"", 1);
}

void srv_buf_json_kv(srv_buf *b, int first, const char *key, const char *value) {
  if (!first) srv_buf_add(b, ",", 1);
  srv_buf_json_str(b, key);
  srv_buf_add(b, ":", 1);
  srv_buf_json_str(b, value);
}
