/*
 * escrowd: request bodies as the API clients send them: application/x-www-form-urlencoded
 * and multipart/form-data (RFC 7578), and flat JSON objects (the web dashboard), parsed from a buffer (sans-I/O, fuzzable). Values point
 * into copies owned by the form.
 */
#ifndef ESCROWD_FORM_H
#define ESCROWD_FORM_H

#include <stddef.h>

#define SRV_FORM_MAX_FIELDS 64
#define SRV_FORM_MAX_NAME 256
#define SRV_STREAM_THRESHOLD (1024 * 1024)       /* multipart bodies above: streamed */
#define SRV_FILE_INMEM_MAX (64ull * 1024 * 1024) /* a streamed file also read into memory */

typedef struct srv_field {
  char *name;
  char *value;     /* NUL-terminated copy (the bytes may hold NULs for files) */
  size_t len;
  char *filename;  /* multipart file parts: the filename parameter, else NULL */
  char *content_type;
  /* A streamed file part over SRV_FILE_INMEM_MAX (http.c): value is "" and len 0; the file
   * is blob_tmp, a finished temporary file in the blob folder (removed after the request
   * unless a rule adopted it with srv_blob_adopt), with SHA-256 blob_hex and blob_size bytes.
   * Smaller streamed files are in value/len like any other. */
  char *blob_hex, *blob_tmp;
  unsigned long long blob_size;
} srv_field;

typedef struct srv_form {
  srv_field fields[SRV_FORM_MAX_FIELDS];
  size_t n;
} srv_form;

void srv_form_init(srv_form *f);
void srv_form_clear(srv_form *f);

/* Parse "a=b&c=d" (+ for space, %XX escapes; a bad escape is an error). 0 or -1 with err. */
int srv_form_parse_urlencoded(srv_form *f, const char *data, size_t len, char *err, size_t errsz);

/* Parse a multipart/form-data body; content_type is the request's Content-Type header, which
 * carries the boundary. Refuses: no or bad boundary, a missing closing delimiter, parts without
 * a form-data Content-Disposition and name, too many fields, oversized part headers. */
int srv_form_parse_multipart(srv_form *f, const char *content_type, const char *data, size_t len,
                             char *err, size_t errsz);

/* 1 when the JSON text nests arrays and objects at most max_depth deep (brackets inside
 * strings do not count). Check before yajl_tree_parse: its tree is built and freed
 * recursively, so text nested hundreds of thousands deep exhausts the stack. */
#define SRV_JSON_MAX_DEPTH 64
static inline int srv_json_depth_ok(const char *text, size_t len, unsigned max_depth) {
  unsigned depth = 0;
  int in_str = 0;
  for (size_t i = 0; i < len; i++) {
    char c = text[i];
    if (in_str) {
      if (c == '\\') i++; /* the escaped character is not a quote */
      else if (c == '"') in_str = 0;
    } else if (c == '"') {
      in_str = 1;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return 0;
    } else if ((c == ']' || c == '}') && depth) {
      depth--;
    }
  }
  return 1;
}

/* Parse a JSON object whose members are text, numbers or booleans (null members are skipped)
 * into fields, as if it were a form. At most SRV_FORM_MAX_JSON bytes, nested at most
 * SRV_JSON_MAX_DEPTH deep. */
#define SRV_FORM_MAX_JSON (1024 * 1024)
int srv_form_parse_json(srv_form *f, const char *data, size_t len, char *err, size_t errsz);

/* Parse by Content-Type (NULL or empty body: nothing to do). */
int srv_form_parse_body(srv_form *f, const char *content_type, const char *data, size_t len,
                        char *err, size_t errsz);

/* Add one field (copies). 0 or -1. */
int srv_form_add(srv_form *f, const char *name, size_t name_len, const char *value,
                 size_t value_len, const char *filename, const char *ctype);

/* The first field with this name, or NULL. *count (if not NULL) is how many there are. */
const srv_field *srv_form_get(const srv_form *f, const char *name, size_t *count);

#endif
