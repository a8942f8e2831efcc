/* escrowd: a growable text buffer and JSON string writing. */
#ifndef ESCROWD_BUF_H
#define ESCROWD_BUF_H

#include <stddef.h>

typedef struct srv_buf {
  char *p;
  size_t len, cap;
  int oom; /* set once an append failed; the content is then unusable */
} srv_buf;

void srv_buf_free(srv_buf *b);
void srv_buf_add(srv_buf *b, const char *s, size_t n);
void srv_buf_puts(srv_buf *b, const char *s);
void srv_buf_printf(srv_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string literal (quotes included); NULL writes null. Invalid UTF-8 bytes become
 * U+FFFD. */
void srv_buf_json_str(srv_buf *b, const char *s);
/* "key": "value" with a leading comma unless first. */
void srv_buf_json_kv(srv_buf *b, int first, const char *key, const char *value);

#endif
