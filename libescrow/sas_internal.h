/* libescrow sas internals shared with the blob client. */
#ifndef ESCROW_SAS_INTERNAL_H
#define ESCROW_SAS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "internal.h"
#include "escrow/sas.h"

/* A growable string (NUL-terminated). On allocation failure oom is set and later appends do
 * nothing; the builder's owner checks oom once at the end. */
typedef struct escrow__sb {
  char *s;
  size_t len, cap;
  bool oom;
} escrow__sb;

void escrow__sb_add(escrow__sb *b, const char *s, size_t n);
void escrow__sb_adds(escrow__sb *b, const char *s);
void escrow__sb_addc(escrow__sb *b, char c);
/* Append s percent-encoded: everything but A-Z a-z 0-9 - _ . ~ (and '/' when keep_slash). */
void escrow__sb_add_pct(escrow__sb *b, const char *s, bool keep_slash);
void escrow__sb_free(escrow__sb *b);

/* Percent-decode s[0..n) (%XX only, '+' kept) into a fresh string (escrow__free). Returns 0,
 * ESCROW_E_FORMAT (bad escape; what names the part for the message) or ESCROW_E_NOMEM. */
int escrow__pct_decode(char **out, const char *s, size_t n, const char *what);

/* 1 if host (lowercase, IPv6 in brackets) is a loopback host: 127.0.0.0/8, [::1], localhost. */
bool escrow__host_is_loopback(const char *host);

#endif
