/* escrowd: static files of the dashboard (see web.h). */
#include "web.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

int srv_web_is_api_path(const char *path) {
  return strncmp(path, "/api/", 5) == 0 || strcmp(path, "/api") == 0 ||
         strcmp(path, "/healthz") == 0 || strcmp(path, "/healthz/") == 0;
}

const char *srv_web_content_type(const char *name) {
  static const char *const map[][2] = {
      {"html", "text/html; charset=utf-8"},   {"js", "text/javascript; charset=utf-8"},
      {"mjs", "text/javascript; charset=utf-8"}, {"css", "text/css; charset=utf-8"},
      {"json", "application/json"},           {"map", "application/json"},
      {"webmanifest", "application/manifest+json"}, {"svg", "image/svg+xml"},
      {"png", "image/png"},                   {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},                 {"gif", "image/gif"},
      {"webp", "image/webp"},                 {"ico", "image/x-icon"},
      {"woff2", "font/woff2"},                {"woff", "font/woff"},
      {"txt", "text/plain; charset=utf-8"},   {"wasm", "application/wasm"},
  };
  const char *slash = strrchr(name, '/');
  const char *dot = strrchr(slash ? slash : name, '.');
  if (dot)
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
      if (strcasecmp(dot + 1, map[i][0]) == 0) return map[i][1];
  return "application/octet-stream";
}

/* Refuse what a URL path must not name: empty, relative or hidden segments, backslashes,
 * control characters. */
static int path_ok(const char *p) {
  if (p[0] != '/') return 0;
  for (const char *s = p; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c < 0x20 || c == 0x7f || c == '\\') return 0;
    if (c == '/' && s[1] == '.') return 0; /* ".", "..", ".git", ".env" */
    if (c == '/' && s[1] == '/') return 0;
  }
  return 1;
}

/* Open root/rel when it is a regular file inside root (real paths compared). */
static int open_inside(const char *root_real, const char *rel, srv_web_file *out) {
  char full[PATH_MAX], real[PATH_MAX];
  if (snprintf(full, sizeof full, "%s%s", root_real, rel) >= (int)sizeof full) return 404;
  if (!realpath(full, real)) return errno == ENOENT || errno == ENOTDIR ? 404 : 500;
  size_t rl = strlen(root_real);
  if (strncmp(real, root_real, rl) != 0 || real[rl] != '/') return 404;
  int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return errno == ENOENT ? 404 : 500;
  struct stat st;
  if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
    close(fd);
    return 404;
  }
  out->fd = fd;
  out->size = st.st_size;
  out->ctype = srv_web_content_type(real);
  return 0;
}

int srv_web_open(const char *root, const char *path, srv_web_file *out) {
  memset(out, 0, sizeof *out);
  out->fd = -1;
  char root_real[PATH_MAX];
  if (!root || !realpath(root, root_real)) return 404;
  if (!path_ok(path) || strlen(path) > 1024) return 404;
  size_t n = strlen(path);
  int rc = 404;
  if (path[n - 1] != '/') rc = open_inside(root_real, path, out);
  if (rc == 404) {
    /* a folder's index.html, then the app's page for extension-less paths */
    const char *last = strrchr(path, '/');
    if (strchr(last, '.')) return 404;
    char idx[1100];
    snprintf(idx, sizeof idx, "%s%sindex.html", path, path[n - 1] == '/' ? "" : "/");
    rc = open_inside(root_real, idx, out);
    if (rc == 404) rc = open_inside(root_real, "/index.html", out);
  }
  if (rc) return rc;
  if (strncmp(out->ctype, "text/html", 9) == 0)
    out->cache = "no-cache";
  else if (strncmp(path, "/assets/", 8) == 0)
    out->cache = "public, max-age=31536000, immutable"; /* Vite's content-hashed names */
  else
    out->cache = "public, max-age=300";
  return 0;
}
