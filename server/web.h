/*
 * escrowd: the dashboard's static files (escrowd serve --web DIR) and the security headers
 * every answer carries. GET and HEAD only, no directory listing; a path is served only when
 * it resolves (symbolic links followed) to a regular file inside DIR; hidden names (a segment
 * starting with ".") are never served. A path that is not a file and whose last segment has
 * no "." is a page of the single-page app: index.html answers it.
 */
#ifndef ESCROWD_WEB_H
#define ESCROWD_WEB_H

#include <stddef.h>
#include <sys/types.h>

/* The Content-Security-Policy of every answer: no inline script, no framing. connect-src
 * allows https: (dataset uploads to blob storage by SAS URL) and loopback http (Azurite). */
#define SRV_WEB_CSP                                                                        \
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "       \
  "font-src 'self'; connect-src 'self' https: http://127.0.0.1:* http://localhost:*; "     \
  "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

typedef struct srv_web_file {
  int fd;               /* open for reading; the caller closes it */
  off_t size;
  const char *ctype;    /* static */
  const char *cache;    /* Cache-Control value, static */
} srv_web_file;

/* 1 when path is one the API owns (/api/..., /healthz): never a static file. */
int srv_web_is_api_path(const char *path);

/* Open the file for URL path (already percent-decoded) under root. 0 and *out, or the HTTP
 * status to answer: 404 (no such file, or a refused path), 500 (I/O error). */
int srv_web_open(const char *root, const char *path, srv_web_file *out);

/* The extension's Content-Type ("application/octet-stream" for unknown ones). */
const char *srv_web_content_type(const char *name);

#endif
