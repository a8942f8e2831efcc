/* escrowd: routing (see router.h). */
#include "router.h"

#include <string.h>

static int path_eq(const char *pattern, const char *path) {
  size_t pl = strlen(pattern), n = strlen(path);
  if (n > 1 && path[n - 1] == '/') n--; /* one trailing slash */
  return n == pl && memcmp(pattern, path, n) == 0;
}

const srv_route *srv_route_find(const srv_route *table, size_t n, const char *method,
                                const char *path, int *status, char *allow, size_t allowsz) {
  int known = 0;
  if (allow && allowsz) allow[0] = 0;
  for (size_t i = 0; i < n; i++) {
    if (!path_eq(table[i].path, path)) continue;
    if (strcmp(table[i].method, method) == 0) {
      *status = 200;
      return &table[i];
    }
    if (allow && allowsz && strlen(allow) + strlen(table[i].method) + 3 < allowsz) {
      if (known) strcat(allow, ", ");
      strcat(allow, table[i].method);
    }
    known = 1;
  }
  *status = known ? 405 : 404;
  return NULL;
}
