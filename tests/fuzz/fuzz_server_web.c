/* libFuzzer target: escrowd's static file resolution (server/web.c, compiled in). The input is
 * a URL path (as libmicrohttpd hands it over, already percent-decoded) tried against a small
 * web folder made once, with a file and a symbolic link outside it. Whatever the path, a file
 * is served only from inside the folder and never the outside ones. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../server/web.c"
#include "fuzz_common.h"

static char root[PATH_MAX];

static void put(const char *rel, const char *text) {
  char p[PATH_MAX + 64];
  snprintf(p, sizeof p, "%s%s", root, rel);
  FILE *f = fopen(p, "w");
  CHECK(f != NULL);
  fputs(text, f);
  fclose(f);
}

static void cleanup(void) {
  const char *rel[] = {"/assets/link.txt", "/assets/app.js", "/index.html", "/.env", "/../outside.txt"};
  char p[PATH_MAX + 64];
  for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
    snprintf(p, sizeof p, "%s%s", root, rel[i]);
    unlink(p);
  }
  snprintf(p, sizeof p, "%s/assets", root);
  rmdir(p);
  rmdir(root);
  snprintf(p, sizeof p, "%s/..", root);
  rmdir(p);
}

static void setup(void) {
  char tmpl[] = "/tmp/fuzz-web-XXXXXX";
  CHECK(mkdtemp(tmpl) != NULL);
  char p[PATH_MAX + 64];
  snprintf(p, sizeof p, "%s/dist", tmpl);
  CHECK(mkdir(p, 0700) == 0);
  CHECK(realpath(p, root) != NULL);
  snprintf(p, sizeof p, "%s/assets", root);
  CHECK(mkdir(p, 0700) == 0);
  put("/index.html", "<!doctype html>");
  put("/assets/app.js", "export {}");
  put("/.env", "SECRET");
  put("/../outside.txt", "OUTSIDE");
  char link[PATH_MAX + 64], target[PATH_MAX + 64];
  snprintf(link, sizeof link, "%s/assets/link.txt", root);
  snprintf(target, sizeof target, "%s/../outside.txt", root);
  CHECK(symlink(target, link) == 0);
  atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!root[0]) setup();
  if (size > 2048) return 0;
  char path[2049];
  memcpy(path, data, size);
  path[size] = 0; /* a NUL inside ends the path, as in C strings from libmicrohttpd */
  srv_web_file f;
  int rc = srv_web_open(root, path, &f);
  CHECK(rc == 0 || rc == 404 || rc == 500);
  if (rc == 0) {
    char buf[16] = {0};
    ssize_t n = pread(f.fd, buf, sizeof buf - 1, 0);
    close(f.fd);
    CHECK(n >= 0);
    CHECK(strcmp(buf, "OUTSIDE") != 0 && strcmp(buf, "SECRET") != 0);
    CHECK(f.ctype != NULL && f.cache != NULL);
  }
  return 0;
}
