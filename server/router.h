/*
 * escrowd: the routing table. Paths match with or without one trailing slash (the API sample
 * always sends one); a known path with another method answers 405, an unknown path 404.
 */
#ifndef ESCROWD_ROUTER_H
#define ESCROWD_ROUTER_H

#include <stddef.h>

struct srv_request;
struct srv_response;
typedef void (*srv_handler)(struct srv_request *req, struct srv_response *res);

typedef struct srv_route {
  const char *method; /* "GET", "POST" */
  const char *path;   /* without trailing slash, e.g. "/api/v1/dataset" */
  srv_handler handler;
  int checks_password; /* the handler runs Argon2id (escrowd's password workers serve it) */
} srv_route;

/* Find the route. Returns the route, or NULL with *status 404 (no such path) or 405 (path
 * known, method not; allow receives the methods, comma-separated). */
const srv_route *srv_route_find(const srv_route *table, size_t n, const char *method,
                                const char *path, int *status, char *allow, size_t allowsz);

#endif
